{{
    config(
        **incremental_by_day('calendar_date', ['calendar_date', 'customer_type'])
    )
}}
-- One row per day and customer type (all, new, returning) up to D:
--   KPI 1, the repeat purchase rate over the kpi_repeat_window_days ending that day (of the
--     customers with a purchase day in the window, the share with two or more);
--   KPI 5, customer quality: net revenue / orders of the purchases in that window;
--   the day's buyers, orders, net revenue, active-customer ARPU and AOV.
-- In a window, 'new' customers made their first purchase inside it, 'returning' ones before.
-- Incremental: each build recomputes the last restate_days days up to D and replaces them.
with calendar as (
    select * from {{ ref('int_calendar_days') }}
),

purchase_days as (
    select * from {{ ref('int_purchase_days') }}
),

report_days as (
    select calendar_date
    from calendar
    {% if is_incremental() %}
        where calendar_date > {{ restate_boundary('calendar_date') }}
    {% endif %}
),

-- The window KPIs of every day, without joining each day to the purchase days in its window
-- (days x window: hundreds of millions of pairs over years of history). A purchase day p
-- of a customer stands for the days from p until the customer's next purchase day or the
-- window's end: the customer is in the window on those days, a repeater while the previous
-- purchase day is still in the window too, and 'new' until first_purchase_date + window - 1.
-- Its orders and revenue count on p and the window's days after it. Each such run of days
-- adds at its first day and subtracts the day after its last; a running sum over the change
-- days gives every day's numbers (macro running_totals).
purchase_day_ends as (
    select
        first_purchase_date,
        purchase_date,
        previous_purchase_date,
        orders,
        net_revenue,
        {{ add_days('purchase_date', var('kpi_repeat_window_days') - 1) }} as window_end_date,
        least(
            {{ add_days('purchase_date', var('kpi_repeat_window_days') - 1) }},
            coalesce(
                {{ add_days('next_purchase_date', -1) }},
                {{ add_days('purchase_date', var('kpi_repeat_window_days') - 1) }}
            )
        ) as owned_to_date
    from purchase_days
),

runs as (
    select
        first_purchase_date,
        purchase_date as from_date,
        owned_to_date as to_date,
        1 as customers,
        0 as repeaters,
        0 as orders,
        0 as net_revenue
    from purchase_day_ends

    union all

    select
        first_purchase_date,
        purchase_date as from_date,
        least(
            owned_to_date, {{ add_days('previous_purchase_date', var('kpi_repeat_window_days') - 1) }}
        ) as to_date,
        0 as customers,
        1 as repeaters,
        0 as orders,
        0 as net_revenue
    from purchase_day_ends
    where previous_purchase_date is not null

    union all

    select
        first_purchase_date,
        purchase_date as from_date,
        window_end_date as to_date,
        0 as customers,
        0 as repeaters,
        orders,
        net_revenue
    from purchase_day_ends
),

-- each run split where the customer stops being new
typed_runs as (
    select
        'new' as customer_type,
        from_date,
        least(to_date, {{ add_days('first_purchase_date', var('kpi_repeat_window_days') - 1) }}) as to_date,
        customers,
        repeaters,
        orders,
        net_revenue
    from runs

    union all

    select
        'returning' as customer_type,
        greatest(from_date, {{ add_days('first_purchase_date', var('kpi_repeat_window_days')) }}) as from_date,
        to_date,
        customers,
        repeaters,
        orders,
        net_revenue
    from runs
),

changes as (
    select
        customer_type,
        from_date as calendar_date,
        customers,
        repeaters,
        orders,
        net_revenue
    from typed_runs
    where from_date <= to_date

    union all

    select
        customer_type,
        {{ add_days('to_date', 1) }} as calendar_date,
        -customers as customers,
        -repeaters as repeaters,
        -orders as orders,
        -net_revenue as net_revenue
    from typed_runs
    where from_date <= to_date
),

change_totals as (
    select
        customer_type,
        calendar_date,
        sum(customers) as customers,
        sum(repeaters) as repeaters,
        sum(orders) as orders,
        sum(net_revenue) as net_revenue
    from changes
    group by customer_type, calendar_date
),

customer_types as (
    select 'all' as customer_type
    union all
    select 'new' as customer_type
    union all
    select 'returning' as customer_type
),

report_points as (
    select
        report_days.calendar_date,
        customer_types.customer_type
    from report_days
    cross join customer_types
    where customer_types.customer_type != 'all'
),

window_totals as (
    {{ running_totals(
        'change_totals', 'report_points', ['customer_type'], 'calendar_date',
        ['customers', 'repeaters', 'orders', 'net_revenue']
    ) }}
),

running_report_days as (
    select
        calendar_date,
        customer_type,
        cast(customers as {{ dbt.type_bigint() }}) as repeat_window_customers,
        cast(repeaters as {{ dbt.type_bigint() }}) as repeat_window_repeaters,
        cast(orders as {{ dbt.type_bigint() }}) as quality_window_orders,
        net_revenue as quality_window_net_revenue
    from window_totals
),

on_the_day as (
    select
        purchase_days.purchase_date as calendar_date,
        purchase_days.customer_id,
        purchase_days.orders,
        purchase_days.net_revenue,
        case
            when purchase_days.purchase_day_number = 1 then 'new' else 'returning'
        end as customer_type
    from purchase_days
    inner join report_days on purchase_days.purchase_date = report_days.calendar_date
),

window_by_type as (
    select * from running_report_days

    union all

    select
        calendar_date,
        'all' as customer_type,
        sum(repeat_window_customers) as repeat_window_customers,
        sum(repeat_window_repeaters) as repeat_window_repeaters,
        sum(quality_window_orders) as quality_window_orders,
        sum(quality_window_net_revenue) as quality_window_net_revenue
    from running_report_days
    group by calendar_date
),

day_by_type as (
    select
        calendar_date,
        customer_type,
        count(*) as buyers,
        sum(orders) as orders,
        sum(net_revenue) as net_revenue
    from on_the_day
    group by calendar_date, customer_type

    union all

    select
        calendar_date,
        'all' as customer_type,
        count(*) as buyers,
        sum(orders) as orders,
        sum(net_revenue) as net_revenue
    from on_the_day
    group by calendar_date
),

grid as (
    select
        report_days.calendar_date,
        customer_types.customer_type
    from report_days
    cross join customer_types
),

final as (
    select
        grid.calendar_date,
        grid.customer_type,
        coalesce(window_by_type.repeat_window_customers, 0) as repeat_window_customers,
        coalesce(window_by_type.repeat_window_repeaters, 0) as repeat_window_repeaters,
        {{ safe_divide(
            'window_by_type.repeat_window_repeaters', 'window_by_type.repeat_window_customers'
        ) }} as repeat_window_rate,
        coalesce(window_by_type.quality_window_orders, 0) as quality_window_orders,
        coalesce(window_by_type.quality_window_net_revenue, 0) as quality_window_net_revenue,
        {{ safe_divide(
            'window_by_type.quality_window_net_revenue', 'window_by_type.quality_window_orders'
        ) }} as quality_window_aov,
        coalesce(day_by_type.buyers, 0) as buyers,
        coalesce(day_by_type.orders, 0) as orders,
        coalesce(day_by_type.net_revenue, 0) as net_revenue,
        {{ safe_divide('day_by_type.net_revenue', 'day_by_type.buyers') }} as arpu,
        {{ safe_divide('day_by_type.net_revenue', 'day_by_type.orders') }} as aov
    from grid
    left join window_by_type
        on
            grid.calendar_date = window_by_type.calendar_date
            and grid.customer_type = window_by_type.customer_type
    left join day_by_type
        on
            grid.calendar_date = day_by_type.calendar_date
            and grid.customer_type = day_by_type.customer_type
)

select * from final
