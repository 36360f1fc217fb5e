-- One row per person the shop knows as of D: a profile, or a customer_id seen in orders,
-- sessions or events (a profile may arrive later: such orphans are kept, not dropped).
with customers as (
    select * from {{ ref('stg_shop__customers') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

sessions as (
    select * from {{ ref('stg_shop__sessions') }}
),

events as (
    select * from {{ ref('stg_shop__events') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

sightings as (
    select
        customer_id,
        registered_date as seen_date,
        1 as is_profile
    from customers

    union all

    select
        customer_id,
        created_date as seen_date,
        0 as is_profile
    from orders
    where customer_id is not null

    union all

    select
        customer_id,
        started_date as seen_date,
        0 as is_profile
    from sessions
    where customer_id is not null

    union all

    select
        customer_id,
        occurred_date as seen_date,
        0 as is_profile
    from events
    where customer_id is not null
),

final as (
    select
        sightings.customer_id,
        min(sightings.seen_date) as known_from_date,
        max(sightings.is_profile) = 1 as has_profile
    from sightings
    cross join as_of
    where sightings.seen_date <= as_of.as_of_date
    group by sightings.customer_id
)

select * from final
