-- One row per day, from-stage and to-stage: how many customers moved between the stages
-- from the day before to that day. '(none)' is a customer the shop did not know the day
-- before. A move from churned to after_sale is a reactivation. Time in stage is in
-- customer_stage_history.days_in_stage.
-- Rebuilt whole from the spells on every build: a person whose identifiers changed
-- (docs/identity.md) has their whole history rewritten in the spells, and the days they
-- moved on, however old, are counted again here.
with history as (
    select * from {{ ref('customer_stage_history') }}
),

moves as (
    select
        history.customer_id,
        history.valid_from as transition_date,
        coalesce(
            lag(history.lifecycle_stage) over (partition by history.customer_id order by history.valid_from),
            '(none)'
        ) as from_stage,
        history.lifecycle_stage as to_stage
    from history
),

final as (
    select
        moves.transition_date,
        moves.from_stage,
        moves.to_stage,
        moves.from_stage = {{ stage('churned') }} and moves.to_stage = {{ stage('after_sale') }} as is_reactivation,
        count(*) as customers
    from moves
    group by moves.transition_date, moves.from_stage, moves.to_stage
)

select * from final
