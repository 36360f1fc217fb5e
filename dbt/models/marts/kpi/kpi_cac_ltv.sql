-- One row per acquisition channel and cohort month (the month of the first purchase):
-- marketing spend of the channel in the month, new buyers acquired through it, CAC =
-- spend / new buyers, and LTV = net revenue per new buyer over their first ltv_days days
-- (historic). LTV and LTV/CAC are reported once every buyer of the cohort has had
-- ltv_days days; net_revenue_to_date_per_buyer shows the curve before that.
with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

spend as (
    select * from {{ ref('stg_shop__marketing_spend') }}
),

facts as (
    select * from {{ ref('customer_facts') }}
),

purchase_days as (
    select * from {{ ref('int_purchase_days') }}
),

monthly_spend as (
    select
        spend.channel,
        {{ month_start('spend.spend_date') }} as cohort_month,
        sum(spend.spend) as spend
    from spend
    cross join as_of
    where spend.spend_date <= as_of.as_of_date
    group by spend.channel, {{ month_start('spend.spend_date') }}
),

new_buyers as (
    select
        facts.customer_id,
        facts.acquisition_channel as channel,
        facts.first_purchase_date,
        {{ month_start('facts.first_purchase_date') }} as cohort_month
    from facts
    where facts.purchase_days >= 1 and facts.acquisition_channel is not null
),

cohorts as (
    select
        new_buyers.channel,
        new_buyers.cohort_month,
        count(distinct new_buyers.customer_id) as new_buyers,
        sum(
            case
                when
                    purchase_days.purchase_date
                    < {{ add_days('new_buyers.first_purchase_date', var('ltv_days')) }}
                    then purchase_days.net_revenue
                else 0
            end
        ) as ltv_net_revenue,
        max({{ add_days('new_buyers.first_purchase_date', var('ltv_days') - 1) }})
        <= max(as_of.as_of_date) as is_ltv_complete
    from new_buyers
    inner join purchase_days on new_buyers.customer_id = purchase_days.customer_id
    cross join as_of
    group by new_buyers.channel, new_buyers.cohort_month
),

final as (
    select
        coalesce(monthly_spend.channel, cohorts.channel) as channel,
        coalesce(monthly_spend.cohort_month, cohorts.cohort_month) as cohort_month,
        coalesce(monthly_spend.spend, 0) as spend,
        coalesce(cohorts.new_buyers, 0) as new_buyers,
        {{ safe_divide('monthly_spend.spend', 'cohorts.new_buyers') }} as cac,
        {{ safe_divide('cohorts.ltv_net_revenue', 'cohorts.new_buyers') }} as net_revenue_to_date_per_buyer,
        coalesce(cohorts.is_ltv_complete, false) as is_ltv_complete,
        case
            when cohorts.is_ltv_complete then {{ safe_divide('cohorts.ltv_net_revenue', 'cohorts.new_buyers') }}
        end as ltv,
        case
            when cohorts.is_ltv_complete
                then
                    {{ safe_divide(
                        safe_divide('cohorts.ltv_net_revenue', 'cohorts.new_buyers'),
                        safe_divide('monthly_spend.spend', 'cohorts.new_buyers')
                    ) }}
        end as ltv_to_cac
    from monthly_spend
    full outer join cohorts
        on monthly_spend.channel = cohorts.channel and monthly_spend.cohort_month = cohorts.cohort_month
)

select * from final
