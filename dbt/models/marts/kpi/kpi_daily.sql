{{
    config(
        materialized='incremental',
        unique_key=['calendar_date', 'customer_type'],
        incremental_strategy='delete+insert',
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
    select * from {{ ref('int_purchase_days_sequenced') }}
),

report_days as (
    select calendar_date
    from calendar
    {% if is_incremental() %}
        where calendar_date > (
            select {{ add_days('max(calendar_date)', -var('restate_days')) }} from {{ this }}
        )
    {% endif %}
),

in_window as (
    select
        report_days.calendar_date,
        purchase_days.customer_id,
        count(*) as purchase_days,
        sum(purchase_days.orders) as orders,
        sum(purchase_days.net_revenue) as net_revenue,
        case
            when
                min(purchase_days.first_purchase_date)
                > {{ add_days('report_days.calendar_date', -var('kpi_repeat_window_days')) }}
                then 'new'
            else 'returning'
        end as customer_type
    from report_days
    inner join purchase_days
        on
            purchase_days.purchase_date between
            {{ add_days('report_days.calendar_date', 1 - var('kpi_repeat_window_days')) }}
            and report_days.calendar_date
    group by report_days.calendar_date, purchase_days.customer_id
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
    select
        calendar_date,
        customer_type,
        count(*) as repeat_window_customers,
        sum(case when purchase_days >= 2 then 1 else 0 end) as repeat_window_repeaters,
        sum(orders) as quality_window_orders,
        sum(net_revenue) as quality_window_net_revenue
    from in_window
    group by calendar_date, customer_type

    union all

    select
        calendar_date,
        'all' as customer_type,
        count(*) as repeat_window_customers,
        sum(case when purchase_days >= 2 then 1 else 0 end) as repeat_window_repeaters,
        sum(orders) as quality_window_orders,
        sum(net_revenue) as quality_window_net_revenue
    from in_window
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

customer_types as (
    select 'all' as customer_type
    union all
    select 'new' as customer_type
    union all
    select 'returning' as customer_type
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
        cast(window_by_type.repeat_window_repeaters as {{ type_double() }})
        / nullif(window_by_type.repeat_window_customers, 0) as repeat_window_rate,
        coalesce(window_by_type.quality_window_orders, 0) as quality_window_orders,
        coalesce(window_by_type.quality_window_net_revenue, 0) as quality_window_net_revenue,
        window_by_type.quality_window_net_revenue
        / nullif(window_by_type.quality_window_orders, 0) as quality_window_aov,
        coalesce(day_by_type.buyers, 0) as buyers,
        coalesce(day_by_type.orders, 0) as orders,
        coalesce(day_by_type.net_revenue, 0) as net_revenue,
        day_by_type.net_revenue / nullif(day_by_type.buyers, 0) as arpu,
        day_by_type.net_revenue / nullif(day_by_type.orders, 0) as aov
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
