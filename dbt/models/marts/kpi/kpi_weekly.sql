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
    select * from {{ ref('int_purchase_days_sequenced') }}
),

weeks as (
    select
        iso_week_start,
        max(calendar_date) as week_end_date,
        count(*) = 7 as is_complete
    from calendar
    group by iso_week_start
),

band_members as (
    {% for band in var('kpi_pre_churn_bands') %}
        select
            weeks.iso_week_start,
            '{{ band.kpi }}' as kpi,
            case when purchase_days.purchase_day_number >= 2 then 'returning' else 'new' end as customer_type,
            case when purchase_days.next_purchase_date <= weeks.week_end_date then 1 else 0 end as purchased
        from purchase_days
        inner join weeks
            on
                weeks.iso_week_start >= {{ add_days('purchase_days.purchase_date', band.min_days) }}
                {% if band.max_days is not none %}
                    and weeks.iso_week_start <= {{ add_days('purchase_days.purchase_date', band.max_days) }}
                {% endif %}
                and (
                    purchase_days.next_purchase_date is null
                    or purchase_days.next_purchase_date >= weeks.iso_week_start
                )
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

bands_by_type as (
    select
        iso_week_start,
        customer_type,
        kpi,
        count(*) as customers,
        sum(purchased) as purchasers
    from band_members
    group by iso_week_start, customer_type, kpi

    union all

    select
        iso_week_start,
        'all' as customer_type,
        kpi,
        count(*) as customers,
        sum(purchased) as purchasers
    from band_members
    group by iso_week_start, kpi
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
        on purchase_days.purchase_date between weeks.iso_week_start and weeks.week_end_date
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
            coalesce(max(case when bands_by_type.kpi = '{{ band.kpi }}' then bands_by_type.customers end), 0)
                as {{ band.kpi }}_customers,
            coalesce(max(case when bands_by_type.kpi = '{{ band.kpi }}' then bands_by_type.purchasers end), 0)
                as {{ band.kpi }}_purchasers,
            cast(
                max(case when bands_by_type.kpi = '{{ band.kpi }}' then bands_by_type.purchasers end)
                as {{ type_double() }}
            )
            / nullif(max(case when bands_by_type.kpi = '{{ band.kpi }}' then bands_by_type.customers end), 0)
                as {{ band.kpi }}_rate,
        {% endfor %}
        daily.quality_window_orders,
        daily.quality_window_net_revenue,
        daily.quality_window_aov,
        coalesce(week_by_type.buyers, 0) as buyers,
        coalesce(week_by_type.orders, 0) as orders,
        coalesce(week_by_type.net_revenue, 0) as net_revenue,
        week_by_type.net_revenue / nullif(week_by_type.buyers, 0) as arpu,
        week_by_type.net_revenue / nullif(week_by_type.orders, 0) as aov
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
