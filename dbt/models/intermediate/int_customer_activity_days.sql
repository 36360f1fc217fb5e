{{
    config(
        on_schema_change='append_new_columns',
        **incremental_by_day('activity_date', ['customer_id', 'activity_date'])
    )
}}
-- One row per customer per day with activity, up to D: the day's sessions and events, and
-- the strongest prospect signal of the day: 4 unpaid order, 3 cart or checkout,
-- 2 favourite/inquiry/search, 1 any visit. Incremental: each build recomputes the days
-- from restate_days before its last day on (an order paid later stops being unpaid).
with orders as (
    select * from {{ ref('stg_shop__orders') }}
),

events as (
    select * from {{ ref('stg_shop__events') }}
),

sessions as (
    select * from {{ ref('stg_shop__sessions') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

since as (
    {% if is_incremental() %}
        select {{ restate_boundary('activity_date') }} as from_date
    {% else %}
        select cast(null as date) as from_date
    {% endif %}
),

signals as (
    select
        orders.customer_id,
        orders.created_date as activity_date,
        4 as activity_level,
        0 as sessions,
        0 as events
    from orders
    cross join since
    where
        orders.paid_at is null and orders.customer_id is not null
        and (since.from_date is null or orders.created_date >= since.from_date)

    union all

    select
        events.customer_id,
        events.occurred_date as activity_date,
        max(
            case
                when events.event_type in ('add_to_cart', 'checkout_start') then 3
                when events.event_type in ('favorite', 'inquiry', 'search') then 2
                else 1
            end
        ) as activity_level,
        0 as sessions,
        count(*) as events
    from events
    cross join since
    -- filter before grouping: a daily build reads only the recent events
    where
        events.customer_id is not null
        and (since.from_date is null or events.occurred_date >= since.from_date)
    group by events.customer_id, events.occurred_date

    union all

    select
        sessions.customer_id,
        sessions.started_date as activity_date,
        1 as activity_level,
        count(*) as sessions,
        0 as events
    from sessions
    cross join since
    where
        sessions.customer_id is not null
        and (since.from_date is null or sessions.started_date >= since.from_date)
    group by sessions.customer_id, sessions.started_date
),

final as (
    select
        signals.customer_id,
        signals.activity_date,
        max(signals.activity_level) as activity_level,
        sum(signals.sessions) as sessions,
        sum(signals.events) as events,
        {{ build_started_at() }} as _built_at
    from signals
    cross join as_of
    where signals.activity_date <= as_of.as_of_date
    group by signals.customer_id, signals.activity_date
)

select * from final
