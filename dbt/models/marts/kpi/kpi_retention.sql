{{
    config(
        materialized=incremental_materialization(),
        unique_key=['purchase_date', 'customer_type', 'horizon_days'],
        incremental_strategy='delete+insert',
    )
}}
-- One row per purchase day X, customer type and horizon N (retention_horizons_days): of the
-- customers who purchased on X, how many had another purchase day in (X, X + N]. Reported
-- once X + N <= D. 'new': X was their first purchase day. Additive over days.
-- Incremental: each build adds the days that became reportable, recomputing the last
-- restate_days of them.
with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

purchase_days as (
    select * from {{ ref('int_purchase_days') }}
),

horizons as (
    {% for n in var('retention_horizons_days') %}
        select {{ n }} as horizon_days{% if not loop.last %}
            union all{% endif %}
    {% endfor %}
),

{% if is_incremental() %}
    reported as (
        select horizon_days, max(purchase_date) as last_reported
        from {{ this }}
        group by horizon_days
    ),
{% endif %}

cohort_members as (
    select
        purchase_days.purchase_date,
        horizons.horizon_days,
        case when purchase_days.purchase_day_number = 1 then 'new' else 'returning' end as customer_type,
        case
            when
                purchase_days.next_purchase_date
                <= {{ add_days('purchase_days.purchase_date', 'horizons.horizon_days') }}
                then 1
            else 0
        end as is_retained
    from purchase_days
    cross join horizons
    cross join as_of
    {% if is_incremental() %}
        left join reported on horizons.horizon_days = reported.horizon_days
    {% endif %}
    where
        {{ add_days('purchase_days.purchase_date', 'horizons.horizon_days') }} <= as_of.as_of_date
    {% if is_incremental() %}
            and (
                reported.last_reported is null
                or purchase_days.purchase_date
                > {{ add_days('reported.last_reported', -var('restate_days')) }}
            )
        {% endif %}
),

by_type as (
    select
        purchase_date,
        horizon_days,
        customer_type,
        count(*) as customers,
        sum(is_retained) as retained_customers
    from cohort_members
    group by purchase_date, horizon_days, customer_type

    union all

    select
        purchase_date,
        horizon_days,
        'all' as customer_type,
        count(*) as customers,
        sum(is_retained) as retained_customers
    from cohort_members
    group by purchase_date, horizon_days
),

final as (
    select
        by_type.purchase_date,
        calendar.iso_week_start,
        calendar.month_start,
        by_type.customer_type,
        by_type.horizon_days,
        by_type.customers,
        by_type.retained_customers,
        cast(by_type.retained_customers as {{ type_double() }}) / by_type.customers as retention_rate
    from by_type
    inner join calendar on by_type.purchase_date = calendar.calendar_date
)

select * from final
