-- The weekly KPI monitoring table of the seed playbooks: KPIs 1-10 per ISO week, one row per
-- week, customer type and KPI, with the change against the previous week. KPIs 1-5 are
-- shown for all and for new customers; KPIs 6-10 are KPIs 1-5 of returning customers.
--   1 repeat purchase rate over the window ending the week   4 sleeping purchase rate
--   2, 3 pre-churn purchase rates                             5 customer quality (AOV)
with weekly as (
    select * from {{ ref('kpi_weekly') }}
),

{% set kpis = [('repeat_rate', 'repeat_window_customers', 'repeat_window_repeaters', 'repeat_window_rate')] %}
{% for band in var('kpi_pre_churn_bands') %}
    {% do kpis.append((band.kpi ~ '_rate', band.kpi ~ '_customers', band.kpi ~ '_purchasers', band.kpi ~ '_rate')) %}
{% endfor %}
{% do kpis.append(('customer_quality_aov', 'quality_window_orders', 'quality_window_net_revenue', 'quality_window_aov')) %}

long as (
    {% for code, denominator, numerator, value in kpis %}
        select
            iso_week_start,
            week_end_date,
            is_complete,
            customer_type,
            '{{ code }}' as kpi_code,
            {{ 'false' if code == 'customer_quality_aov' else 'true' }} as is_rate,
            {{ loop.index }} + case when customer_type = 'returning' then 5 else 0 end as kpi_number,
            cast({{ numerator }} as {{ type_double() }}) as numerator,
            cast({{ denominator }} as {{ type_double() }}) as denominator,
            cast({{ value }} as {{ type_double() }}) as kpi_value
        from weekly
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        *,
        lag(kpi_value) over kpi_weeks as previous_week_value,
        kpi_value - lag(kpi_value) over kpi_weeks as change,
        {{ safe_divide('kpi_value - lag(kpi_value) over kpi_weeks', 'lag(kpi_value) over kpi_weeks') }} as relative_change
    from long
    window kpi_weeks as (partition by customer_type, kpi_code order by iso_week_start)
)

select * from final
