-- One row per customer per day with activity, up to D, with the strongest prospect signal
-- of the day: 4 unpaid order, 3 cart or checkout, 2 favourite/inquiry/search, 1 any visit.
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

signals as (
    select
        customer_id,
        created_date as activity_date,
        4 as activity_level
    from orders
    where paid_at is null and customer_id is not null

    union all

    select
        customer_id,
        occurred_date as activity_date,
        case
            when event_type in ('add_to_cart', 'checkout_start') then 3
            when event_type in ('favorite', 'inquiry', 'search') then 2
            else 1
        end as activity_level
    from events
    where customer_id is not null

    union all

    select
        customer_id,
        started_date as activity_date,
        1 as activity_level
    from sessions
    where customer_id is not null
),

final as (
    select
        signals.customer_id,
        signals.activity_date,
        max(signals.activity_level) as activity_level
    from signals
    cross join as_of
    where signals.activity_date <= as_of.as_of_date
    group by signals.customer_id, signals.activity_date
)

select * from final
