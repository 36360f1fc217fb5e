{{
    config(
        **incremental_by_day('calendar_date', ['calendar_date', 'dimension', 'dimension_value'])
    )
}}
-- Customers per lifecycle stage per day (from the stage history, every day) and per RFM
-- group (as of D, one day per build): the trend lines. One row per day, dimension
-- ('lifecycle_stage' or 'rfm_group') and value. Incremental: each build adds the days
-- after the last one it holds, recomputing the last restate_days. The RFM counts of past
-- days cannot be computed again: a build carries those of the days it rewrites forward, so
-- that each day it writes is whole (Spark replaces whole days).
with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

history as (
    select * from {{ ref('customer_stage_history') }}
),

stages as (
    select * from {{ ref('lifecycle_stages') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
),

-- a spell adds one to its stage on valid_from and takes it away the day after valid_to
changes as (
    select
        valid_from as change_date,
        lifecycle_stage,
        1 as delta
    from history
    union all
    select
        {{ add_days('valid_to', 1) }} as change_date,
        lifecycle_stage,
        -1 as delta
    from history
),

daily_changes as (
    select
        change_date,
        lifecycle_stage,
        sum(delta) as delta
    from changes
    group by change_date, lifecycle_stage
),

stage_days as (
    select
        calendar.calendar_date,
        stages.lifecycle_stage,
        sum(coalesce(daily_changes.delta, 0)) over (
            partition by stages.lifecycle_stage order by calendar.calendar_date rows unbounded preceding
        ) as customers
    from calendar
    cross join stages
    left join daily_changes
        on
            calendar.calendar_date = daily_changes.change_date
            and stages.lifecycle_stage = daily_changes.lifecycle_stage
),

final as (
    select
        calendar_date,
        'lifecycle_stage' as dimension,
        lifecycle_stage as dimension_value,
        customers
    from stage_days
    {% if is_incremental() %}
        where calendar_date > {{ restate_boundary('calendar_date', "dimension = 'lifecycle_stage'") }}
    {% endif %}

    union all

    select
        as_of.as_of_date as calendar_date,
        'rfm_group' as dimension,
        rfm.rfm_group as dimension_value,
        count(*) as customers
    from rfm
    cross join as_of
    group by as_of.as_of_date, rfm.rfm_group

    {% if is_incremental() %}
        union all

        select
            kept.calendar_date,
            kept.dimension,
            kept.dimension_value,
            kept.customers
        from {{ this }} as kept
        cross join as_of
        where
            kept.dimension = 'rfm_group'
            and kept.calendar_date > {{ restate_boundary('calendar_date', "dimension = 'lifecycle_stage'") }}
            and kept.calendar_date < as_of.as_of_date
    {% endif %}
)

select * from final
