-- One row per known customer as of D: exactly one lifecycle stage (the stage history's spell
-- covering D), how long they have been in it, new or returning, member tier and downgrade risk.
with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

history as (
    select * from {{ ref('customer_stage_history') }}
),

facts as (
    select * from {{ ref('customer_facts') }}
),

stages as (
    select * from {{ ref('lifecycle_stages') }}
),

current_spells as (
    select history.*
    from history
    cross join as_of
    where as_of.as_of_date between history.valid_from and history.valid_to
),

final as (
    select
        facts.customer_id,
        facts.as_of_date,
        current_spells.lifecycle_stage,
        stages.name_zh as lifecycle_stage_zh,
        stages.is_buyer_stage as is_buyer,
        case
            when facts.purchase_days >= 2 then 'returning'
            when facts.purchase_days = 1 then 'new'
        end as customer_type,
        current_spells.valid_from as stage_since_date,
        {{ days_between('current_spells.valid_from', 'facts.as_of_date') }} + 1 as days_in_stage,
        facts.days_since_last_purchase,
        facts.purchase_days,
        facts.tier_net_revenue,
        facts.member_tier,
        facts.has_downgrade_risk
    from facts
    inner join current_spells on facts.customer_id = current_spells.customer_id
    inner join stages on current_spells.lifecycle_stage = stages.lifecycle_stage
)

select * from final
