-- One row per month up to D's month (all customers):
--   churn rate: customers who crossed into 'churned' during the month / buyers not churned
--     at its start (in after_sale, active, silent or sleeping on its first day);
--   month-over-month retention r of active buyers (buyers of the month who buy again the
--     next month) and the average lifetime 1 / (1 - r), in months: reported once the next
--     month is complete;
--   the month's buyers, orders, net revenue, ARPU and AOV.
with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

history as (
    select * from {{ ref('customer_stage_history') }}
),

purchase_days as (
    select * from {{ ref('int_purchase_days') }}
),

months as (
    select
        month_start,
        max(calendar_date) as last_date,
        cast({{ dbt.dateadd('month', 1, 'month_start') }} as date) as next_month_start,
        {{ add_days("cast(" ~ dbt.dateadd('month', 2, 'month_start') ~ " as date)", -1) }} as next_month_end
    from calendar
    group by month_start
),

-- buyers not churned at each month's start: spells in after_sale, active, silent or sleeping
-- as runs of days (+1 from valid_from, -1 from the day after valid_to), summed per day, then
-- running totals at the month starts (macro running_totals): never months x spells
not_churned_spells as (
    select
        history.valid_from,
        history.valid_to
    from history
    where history.lifecycle_stage in ({{ stages_before('churned') }})
),

not_churned_runs as (
    select
        valid_from as on_date,
        1 as buyers
    from not_churned_spells

    union all

    select
        {{ add_days('valid_to', 1) }} as on_date,
        -1 as buyers
    from not_churned_spells
),

not_churned_changes as (
    select
        'shop' as scope,
        on_date,
        sum(buyers) as buyers
    from not_churned_runs
    group by on_date
),

month_points as (
    select
        'shop' as scope,
        month_start as on_date
    from months
),

at_risk as (
    select
        on_date as month_start,
        cast(buyers as {{ dbt.type_bigint() }}) as buyers_not_churned_at_start
    from (
        {{ running_totals('not_churned_changes', 'month_points', ['scope'], 'on_date', ['buyers']) }}
    ) as month_start_totals
),

churned as (
    select
        calendar.month_start,
        count(*) as newly_churned
    from history
    inner join calendar on history.valid_from = calendar.calendar_date
    where history.lifecycle_stage = {{ stage('churned') }}
    group by calendar.month_start
),

month_buyers as (
    select
        calendar.month_start,
        purchase_days.customer_id,
        sum(purchase_days.orders) as orders,
        sum(purchase_days.net_revenue) as net_revenue
    from purchase_days
    inner join calendar on purchase_days.purchase_date = calendar.calendar_date
    group by calendar.month_start, purchase_days.customer_id
),

activity as (
    select
        month_start,
        count(*) as buyers,
        sum(orders) as orders,
        sum(net_revenue) as net_revenue
    from month_buyers
    group by month_start
),

kept as (
    select
        this_month.month_start,
        count(*) as buyers_again_next_month
    from month_buyers as this_month
    inner join months on this_month.month_start = months.month_start
    inner join month_buyers as next_month
        on
            this_month.customer_id = next_month.customer_id
            and months.next_month_start = next_month.month_start
    group by this_month.month_start
),

final as (
    select
        months.month_start,
        months.last_date as month_end_date,
        months.last_date = {{ add_days('months.next_month_start', -1) }} as is_complete,
        coalesce(at_risk.buyers_not_churned_at_start, 0) as buyers_not_churned_at_start,
        coalesce(churned.newly_churned, 0) as newly_churned,
        {{ safe_divide(
            'coalesce(churned.newly_churned, 0)', 'at_risk.buyers_not_churned_at_start'
        ) }} as churn_rate,
        coalesce(activity.buyers, 0) as buyers,
        -- the next month must be complete before the month's retention is known
        case
            when months.next_month_end <= as_of.as_of_date then coalesce(kept.buyers_again_next_month, 0)
        end as buyers_again_next_month,
        case
            when months.next_month_end <= as_of.as_of_date
                then
                    {{ safe_divide(
                        'coalesce(kept.buyers_again_next_month, 0)', 'activity.buyers'
                    ) }}
        end as month_over_month_retention,
        coalesce(activity.orders, 0) as orders,
        coalesce(activity.net_revenue, 0) as net_revenue,
        {{ safe_divide('activity.net_revenue', 'activity.buyers') }} as arpu,
        {{ safe_divide('activity.net_revenue', 'activity.orders') }} as aov
    from months
    cross join as_of
    left join at_risk on months.month_start = at_risk.month_start
    left join churned on months.month_start = churned.month_start
    left join activity on months.month_start = activity.month_start
    left join kept on months.month_start = kept.month_start
),

with_lifetime as (
    select
        *,
        {{ safe_divide('1.0', '1.0 - month_over_month_retention') }} as average_lifetime_months
    from final
)

select * from with_lifetime
