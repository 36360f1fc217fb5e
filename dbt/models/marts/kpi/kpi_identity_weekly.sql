-- One row per ISO week (Monday start) up to D: the health of the identity graph
-- (docs/identity.md), with identifiers grouped as the graph groups them today. An identifier
-- belongs to the week it was first seen in.
--   persons: the persons first seen by the week's end (before the calendar's first day: in
--     its first week); new_persons: first seen in it;
--   identifiers_per_person: the identifiers those persons hold, seen by the week's end, per
--     person;
--   orders, orders_resolved, orders_resolved_share: the orders created in the week, and the
--     share that resolved to a person (an account, or a usable email or phone);
--   refused_identifiers: identifiers first seen in the week that join nobody (a blocked or
--     shared address or phone, a browser of two persons or over the cap);
--   split_identifiers: identifiers first seen in the week in a group split over a cap.
with calendar as (
    select * from {{ ref('int_calendar_days') }}
),

identity_map as (
    select * from {{ ref('int_identity_map') }}
),

orders as (
    select * from {{ ref('int_orders_by_person') }}
),

weeks as (
    select
        iso_week_start,
        max(calendar_date) as week_end_date
    from calendar
    group by iso_week_start
),

first_week as (
    select min(iso_week_start) as iso_week_start from weeks
),

-- an identifier seen before the calendar's first day counts in its first week
identifiers as (
    select
        identity_map.person_id,
        identity_map.reason,
        greatest(
            {{ week_start(to_store_date('identity_map.first_seen_at')) }}, first_week.iso_week_start
        ) as iso_week_start
    from identity_map
    cross join first_week
),

person_weeks as (
    select
        person_id,
        min(iso_week_start) as iso_week_start
    from identifiers
    where person_id is not null
    group by person_id
),

new_persons as (
    select
        iso_week_start,
        count(*) as new_persons
    from person_weeks
    group by iso_week_start
),

new_identifiers as (
    select
        iso_week_start,
        count(person_id) as identifiers,
        sum(case when person_id is null then 1 else 0 end) as refused_identifiers,
        sum(case when person_id is not null and reason is not null then 1 else 0 end) as split_identifiers
    from identifiers
    group by iso_week_start
),

week_orders as (
    select
        {{ week_start('created_date') }} as iso_week_start,
        count(*) as orders,
        count(customer_id) as orders_resolved
    from orders
    group by {{ week_start('created_date') }}
),

counted as (
    select
        weeks.iso_week_start,
        weeks.week_end_date,
        coalesce(new_persons.new_persons, 0) as new_persons,
        coalesce(new_identifiers.identifiers, 0) as new_identifiers,
        coalesce(new_identifiers.refused_identifiers, 0) as refused_identifiers,
        coalesce(new_identifiers.split_identifiers, 0) as split_identifiers,
        coalesce(week_orders.orders, 0) as orders,
        coalesce(week_orders.orders_resolved, 0) as orders_resolved
    from weeks
    left join new_persons on weeks.iso_week_start = new_persons.iso_week_start
    left join new_identifiers on weeks.iso_week_start = new_identifiers.iso_week_start
    left join week_orders on weeks.iso_week_start = week_orders.iso_week_start
),

final as (
    select
        counted.iso_week_start,
        counted.week_end_date,
        sum(counted.new_persons) over running as persons,
        counted.new_persons,
        {{ safe_divide(
            'sum(counted.new_identifiers) over running',
            'sum(counted.new_persons) over running'
        ) }} as identifiers_per_person,
        counted.orders,
        counted.orders_resolved,
        {{ safe_divide('counted.orders_resolved', 'counted.orders') }} as orders_resolved_share,
        counted.refused_identifiers,
        counted.split_identifiers
    from counted
    window running as (order by counted.iso_week_start rows between unbounded preceding and current row)
)

select * from final
