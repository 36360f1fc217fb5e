-- One row per day, from-stage and to-stage: how many customers moved between the stages
-- from the day before to that day. '(none)' is a customer the shop did not know the day
-- before. A move from churned to after_sale is a reactivation. Time in stage is in
-- customer_stage_history.days_in_stage.
with history as (
    select * from {{ ref('customer_stage_history') }}
),

moves as (
    select
        customer_id,
        valid_from as transition_date,
        coalesce(
            lag(lifecycle_stage) over (partition by customer_id order by valid_from), '(none)'
        ) as from_stage,
        lifecycle_stage as to_stage
    from history
),

final as (
    select
        transition_date,
        from_stage,
        to_stage,
        from_stage = 'churned' and to_stage = 'after_sale' as is_reactivation,
        count(*) as customers
    from moves
    group by transition_date, from_stage, to_stage
)

select * from final
