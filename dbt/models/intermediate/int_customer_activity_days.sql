{{
    config(
        materialized=incremental_materialization(),
        unique_key=['customer_id', 'activity_date'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook="{{ forget_restated_persons(this) }}",
    )
}}
-- depends_on: {{ ref('int_identity_map') }} (read by an incremental build: restated_persons)
-- One row per customer per day with activity, up to D: the day's sessions and events, and
-- the strongest prospect signal of the day: 4 unpaid order, 3 cart or checkout,
-- 2 favourite/inquiry/search, 1 any visit. Customers are persons: a browser joined to a
-- person brings the visits made before they logged in. Incremental: each build recomputes
-- the days from restate_days before its last day on (an order paid later stops being
-- unpaid), and every day of the persons whose identifiers changed (macro restated_persons);
-- on Spark, where a row cannot be deleted, it is rebuilt whole.
with orders as (
    select * from {{ ref('int_orders_by_person') }}
),

events as (
    select * from {{ ref('int_events_by_person') }}
),

sessions as (
    select * from {{ ref('int_sessions_by_person') }}
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

restated as (
    {{ restated_persons(this) }}
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
        and (
            since.from_date is null or orders.created_date >= since.from_date
            or orders.customer_id in (select restated.customer_id from restated)
        )

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
        and (
            since.from_date is null or events.occurred_date >= since.from_date
            or events.customer_id in (select restated.customer_id from restated)
        )
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
        and (
            since.from_date is null or sessions.started_date >= since.from_date
            or sessions.customer_id in (select restated.customer_id from restated)
        )
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
