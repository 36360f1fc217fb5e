-- The cohort retention matrix: one row per first-purchase month (cohort) and months since
-- (0 = the first month) up to D's month: the share of the cohort with a purchase in that
-- month, and the cumulative net revenue per cohort member to the end of it (the historic
-- LTV curve). is_complete is false for the month that D is still in.
with calendar as (
    select * from {{ ref('int_calendar_days') }}
),

purchase_days as (
    select * from {{ ref('int_purchase_days') }}
),

months as (
    select
        month_start,
        max(calendar_date) = {{ add_days("cast(" ~ dbt.dateadd('month', 1, 'month_start') ~ " as date)", -1) }}
            as is_complete
    from calendar
    group by month_start
),

members as (
    select
        purchase_days.customer_id,
        {{ month_start('purchase_days.first_purchase_date') }} as cohort_month
    from purchase_days
    where purchase_days.purchase_day_number = 1
),

cohort_sizes as (
    select
        cohort_month,
        count(*) as cohort_customers
    from members
    group by cohort_month
),

purchases_by_month as (
    select
        members.cohort_month,
        {{ month_start('purchase_days.purchase_date') }} as activity_month,
        count(distinct purchase_days.customer_id) as active_customers,
        sum(purchase_days.net_revenue) as net_revenue
    from purchase_days
    inner join members on purchase_days.customer_id = members.customer_id
    group by members.cohort_month, {{ month_start('purchase_days.purchase_date') }}
),

grid as (
    select
        cohort_sizes.cohort_month,
        cohort_sizes.cohort_customers,
        months.month_start as activity_month,
        months.is_complete,
        {{ dbt.datediff('cohort_sizes.cohort_month', 'months.month_start', 'month') }} as months_since_first
    from cohort_sizes
    inner join months on cohort_sizes.cohort_month <= months.month_start
),

final as (
    select
        grid.cohort_month,
        grid.months_since_first,
        grid.activity_month,
        grid.is_complete,
        grid.cohort_customers,
        coalesce(purchases_by_month.active_customers, 0) as active_customers,
        {{ safe_divide('coalesce(purchases_by_month.active_customers, 0)', 'grid.cohort_customers') }}
            as active_share,
        {{ safe_divide(
            'sum(coalesce(purchases_by_month.net_revenue, 0)) over (
                partition by grid.cohort_month order by grid.activity_month rows unbounded preceding
            )',
            'grid.cohort_customers'
        ) }} as cumulative_net_revenue_per_customer
    from grid
    left join purchases_by_month
        on
            grid.cohort_month = purchases_by_month.cohort_month
            and grid.activity_month = purchases_by_month.activity_month
)

select * from final
