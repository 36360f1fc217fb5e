-- One row per person the shop knows as of D (docs/identity.md): a person with an account, or
-- seen in orders (a guest with an email or phone is a person of their own), sessions or
-- events (a profile may arrive later: such orphans are kept, not dropped).
-- Visits and events are read from the activity days, one row per customer and day.
with customers as (
    select * from {{ ref('int_customer_profiles') }}
),

orders as (
    select * from {{ ref('int_orders_by_person') }}
),

activity as (
    select * from {{ ref('int_customer_activity_days') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

-- each source is reduced to one row per customer before the union: events are many
sightings as (
    select
        customer_id,
        min(registered_date) as seen_date,
        1 as is_profile
    from customers
    group by customer_id

    union all

    select
        customer_id,
        min(created_date) as seen_date,
        0 as is_profile
    from orders
    where customer_id is not null
    group by customer_id

    union all

    select
        customer_id,
        min(activity_date) as seen_date,
        0 as is_profile
    from activity
    group by customer_id
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
