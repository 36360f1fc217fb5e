{{
    config(
        **incremental_by_day('registered_date', 'registered_date')
    )
}}
-- One row per registration day X: of the users who registered that day, how many had no
-- visit and no purchase in (X, X + new_user_churn_days]. Reported once that window has
-- passed (X + window <= D). Additive over days.
-- Incremental: each build recomputes the last restate_days registration days it reported
-- (late visits and purchases within them are taken in) and adds the days after, up to D.
with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

customers as (
    select * from {{ ref('int_customer_profiles') }}
),

sessions as (
    select * from {{ ref('int_sessions_by_person') }}
),

purchase_days as (
    select * from {{ ref('int_purchase_days') }}
),

registered as (
    select
        customers.customer_id,
        customers.registered_date
    from customers
    cross join as_of
    where
        {{ add_days('customers.registered_date', var('new_user_churn_days')) }} <= as_of.as_of_date
    {% if is_incremental() %}
            and customers.registered_date > {{ restate_boundary('registered_date') }}
        {% endif %}
),

came_back as (
    select distinct registered.customer_id
    from registered
    inner join sessions
        on
            registered.customer_id = sessions.customer_id
            and registered.registered_date < sessions.started_date
            and sessions.started_date <= {{ add_days('registered.registered_date', var('new_user_churn_days')) }}

    union

    select distinct registered.customer_id
    from registered
    inner join purchase_days
        on
            registered.customer_id = purchase_days.customer_id
            and registered.registered_date < purchase_days.purchase_date
            and purchase_days.purchase_date
            <= {{ add_days('registered.registered_date', var('new_user_churn_days')) }}
),

final as (
    select
        registered.registered_date,
        calendar.iso_week_start,
        calendar.month_start,
        count(*) as registered_users,
        sum(case when came_back.customer_id is null then 1 else 0 end) as churned_users,
        cast(sum(case when came_back.customer_id is null then 1 else 0 end) as {{ type_double() }})
        / count(*) as new_user_churn_rate
    from registered
    inner join calendar on registered.registered_date = calendar.calendar_date
    left join came_back on registered.customer_id = came_back.customer_id
    group by registered.registered_date, calendar.iso_week_start, calendar.month_start
)

select * from final
