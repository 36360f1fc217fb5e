-- One row per ISO week (Monday start) and customer type up to D:
--   KPIs 1 and 5 as of the week's last day (the current week: as of D), from kpi_daily;
--   KPIs 2-4 (kpi_pre_churn_bands): of the customers whose days since the last purchase at
--     the start of the week fall in the band, the share who purchased during the week
--     ('new': one purchase day before the week, 'returning': two or more);
--   the week's buyers, orders, net revenue, ARPU and AOV ('new': first purchase in the week).
with calendar as (
    select * from {{ ref('int_calendar_days') }}
),

daily as (
    select * from {{ ref('kpi_daily') }}
),

purchase_days as (
    select * from {{ ref('int_purchase_days') }}
),

weeks as (
    select
        iso_week_start,
        max(calendar_date) as week_end_date,
        count(*) = 7 as is_complete
    from calendar
    group by iso_week_start
),

-- KPIs 2-4 without joining each purchase day to every week after it (an open band, like
-- 141+ days, would pair it with every week until the next purchase). A purchase day p is in
-- a band for a run of weeks: from the first week starting at least min_days after p to the
-- last week starting at most max_days after p and no later than the next purchase day n.
-- The customer purchased in the run's last week when n falls in it. Each run adds one
-- member at its first week and removes it after its last, and a purchaser is a run of that
-- one week; running sums over the weeks (macro running_totals) give every week's numbers.
band_runs as (
    {% for band in var('kpi_pre_churn_bands') %}
        select
            '{{ band.kpi }}' as kpi,
            case when purchase_day_number >= 2 then 'returning' else 'new' end as customer_type,
            {{ week_start(add_days('purchase_date', band.min_days + 6)) }} as first_week,
            {#- max_days absent or null: the band is open-ended #}
            {% if band.get('max_days') is not none %}
                least(
                    {{ week_start(add_days('purchase_date', band.max_days)) }},
                    coalesce({{ week_start('next_purchase_date') }}, {{ week_start(add_days('purchase_date', band.max_days)) }})
                )
            {% else %}
                {{ week_start('next_purchase_date') }}
            {% endif %} as last_week,
            {{ week_start('next_purchase_date') }} as purchase_week
        from purchase_days
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

band_changes as (
    select
        kpi,
        customer_type,
        first_week as iso_week_start,
        1 as members,
        0 as purchasers
    from band_runs
    where last_week is null or first_week <= last_week

    union all

    select
        kpi,
        customer_type,
        {{ add_days('last_week', 7) }} as iso_week_start,
        -1 as members,
        case when purchase_week = last_week then -1 else 0 end as purchasers
    from band_runs
    where first_week <= last_week

    union all

    select
        kpi,
        customer_type,
        last_week as iso_week_start,
        0 as members,
        1 as purchasers
    from band_runs
    where first_week <= last_week and purchase_week = last_week
),

band_changes_by_type as (
    select
        iso_week_start,
        kpi,
        customer_type,
        sum(members) as members,
        sum(purchasers) as purchasers
    from band_changes
    group by iso_week_start, kpi, customer_type
),

band_changes_by_week as (
    select * from band_changes_by_type

    union all

    select
        iso_week_start,
        kpi,
        'all' as customer_type,
        sum(members) as members,
        sum(purchasers) as purchasers
    from band_changes_by_type
    group by iso_week_start, kpi
),

band_types as (
    select distinct
        kpi,
        customer_type
    from band_changes_by_week
),

band_report_points as (
    select
        weeks.iso_week_start,
        band_types.kpi,
        band_types.customer_type
    from weeks
    cross join band_types
),

-- the change weeks may come before the first reported week
bands_by_type as (
    {{ running_totals(
        'band_changes_by_week', 'band_report_points', ['kpi', 'customer_type'], 'iso_week_start',
        ['members', 'purchasers']
    ) }}
),

week_buyers as (
    select
        weeks.iso_week_start,
        purchase_days.customer_id,
        case
            when min(purchase_days.first_purchase_date) >= weeks.iso_week_start then 'new'
            else 'returning'
        end as customer_type,
        sum(purchase_days.orders) as orders,
        sum(purchase_days.net_revenue) as net_revenue
    from purchase_days
    inner join weeks
        on
            {{ week_start('purchase_days.purchase_date') }} = weeks.iso_week_start
            and purchase_days.purchase_date <= weeks.week_end_date
    group by weeks.iso_week_start, purchase_days.customer_id
),

week_by_type as (
    select
        iso_week_start,
        customer_type,
        count(*) as buyers,
        sum(orders) as orders,
        sum(net_revenue) as net_revenue
    from week_buyers
    group by iso_week_start, customer_type

    union all

    select
        iso_week_start,
        'all' as customer_type,
        count(*) as buyers,
        sum(orders) as orders,
        sum(net_revenue) as net_revenue
    from week_buyers
    group by iso_week_start
),

final as (
    select
        weeks.iso_week_start,
        weeks.week_end_date,
        weeks.is_complete,
        daily.customer_type,
        daily.repeat_window_customers,
        daily.repeat_window_repeaters,
        daily.repeat_window_rate,
        {% for band in var('kpi_pre_churn_bands') %}
            coalesce(max(case when bands_by_type.kpi = '{{ band.kpi }}' then bands_by_type.members end), 0)
                as {{ band.kpi }}_customers,
            coalesce(max(case when bands_by_type.kpi = '{{ band.kpi }}' then bands_by_type.purchasers end), 0)
                as {{ band.kpi }}_purchasers,
            {{ safe_divide(
                "max(case when bands_by_type.kpi = '" ~ band.kpi ~ "' then bands_by_type.purchasers end)",
                "max(case when bands_by_type.kpi = '" ~ band.kpi ~ "' then bands_by_type.members end)"
            ) }} as {{ band.kpi }}_rate,
        {% endfor %}
        daily.quality_window_orders,
        daily.quality_window_net_revenue,
        daily.quality_window_aov,
        coalesce(week_by_type.buyers, 0) as buyers,
        coalesce(week_by_type.orders, 0) as orders,
        coalesce(week_by_type.net_revenue, 0) as net_revenue,
        {{ safe_divide('week_by_type.net_revenue', 'week_by_type.buyers') }} as arpu,
        {{ safe_divide('week_by_type.net_revenue', 'week_by_type.orders') }} as aov
    from weeks
    inner join daily on weeks.week_end_date = daily.calendar_date
    left join bands_by_type
        on
            weeks.iso_week_start = bands_by_type.iso_week_start
            and daily.customer_type = bands_by_type.customer_type
    left join week_by_type
        on
            weeks.iso_week_start = week_by_type.iso_week_start
            and daily.customer_type = week_by_type.customer_type
    group by
        weeks.iso_week_start, weeks.week_end_date, weeks.is_complete, daily.customer_type,
        daily.repeat_window_customers, daily.repeat_window_repeaters, daily.repeat_window_rate,
        daily.quality_window_orders, daily.quality_window_net_revenue, daily.quality_window_aov,
        week_by_type.buyers, week_by_type.orders, week_by_type.net_revenue
)

select * from final
