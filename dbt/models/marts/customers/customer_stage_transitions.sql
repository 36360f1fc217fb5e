{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='append',
        pre_hook="{{ rewind_transitions(ref('customer_stage_history')) }}",
    )
}}
-- One row per day, from-stage and to-stage: how many customers moved between the stages
-- from the day before to that day. '(none)' is a customer the shop did not know the day
-- before. A move from churned to after_sale is a reactivation. Time in stage is in
-- customer_stage_history.days_in_stage.
-- Incremental: the pre-hook forgets the last restate_days days (the stage history restates
-- them), and the build adds the days after the last day left, reading only the spells that
-- reach that day: the spells starting after it, and the spell each of them follows (spells
-- are consecutive, so it ends on that day or later).
with history as (
    select * from {{ ref('customer_stage_history') }}
),

stored as (
    {% if is_incremental() %}
        select max(transition_date) as through_date from {{ this }}
    {% else %}
        select cast(null as date) as through_date
    {% endif %}
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
    cross join stored
    where stored.through_date is null or history.valid_to >= stored.through_date
),

final as (
    select
        moves.transition_date,
        moves.from_stage,
        moves.to_stage,
        moves.from_stage = {{ stage('churned') }} and moves.to_stage = {{ stage('after_sale') }} as is_reactivation,
        count(*) as customers
    from moves
    cross join stored
    where stored.through_date is null or moves.transition_date > stored.through_date
    group by moves.transition_date, moves.from_stage, moves.to_stage
)

select * from final
