-- One row per campaign send (campaign, send day): treatment and control sizes, customers who
-- bought within the attribution window in each arm, conversion rates, the absolute uplift
-- (treatment rate - control rate) with its confidence interval (two proportions, normal
-- approximation, z = var uplift_confidence_z), the incremental net revenue, and the wake-up
-- and reactivation rates of the treatment arm (docs/metrics.md, "Campaign evaluation").
with outcomes as (
    select * from {{ ref('int_campaign_contact_outcomes') }}
),

arms as (
    select
        campaign_id,
        send_date,
        min(case when is_window_complete then 1 else 0 end) = 1 as is_window_complete,
        sum(case when arm = 'treatment' then 1 else 0 end) as treatment_customers,
        sum(case when arm = 'control' then 1 else 0 end) as control_customers,
        sum(case when arm = 'treatment' then converted else 0 end) as treatment_converted,
        sum(case when arm = 'control' then converted else 0 end) as control_converted,
        sum(case when arm = 'treatment' then window_net_revenue else 0 end) as treatment_net_revenue,
        sum(case when arm = 'control' then window_net_revenue else 0 end) as control_net_revenue,
        sum(case when arm = 'treatment' and lifecycle_stage = {{ stage('sleeping') }} then 1 else 0 end)
            as sleeping_contacted,
        sum(case when arm = 'treatment' and lifecycle_stage = {{ stage('sleeping') }} then converted else 0 end)
            as sleeping_converted,
        sum(case when arm = 'treatment' and lifecycle_stage = {{ stage('churned') }} then 1 else 0 end)
            as churned_contacted,
        sum(case when arm = 'treatment' and lifecycle_stage = {{ stage('churned') }} then converted else 0 end)
            as churned_converted
    from outcomes
    group by campaign_id, send_date
),

rates as (
    select
        *,
        {{ safe_divide('treatment_converted', 'treatment_customers') }} as treatment_rate,
        {{ safe_divide('control_converted', 'control_customers') }} as control_rate
    from arms
),

uplift as (
    select
        *,
        treatment_rate - control_rate as uplift,
        {{ var('uplift_confidence_z') }} * sqrt(
            {{ safe_divide('treatment_rate * (1 - treatment_rate)', 'treatment_customers') }}
            + {{ safe_divide('control_rate * (1 - control_rate)', 'control_customers') }}
        ) as uplift_margin
    from rates
),

final as (
    select
        campaign_id,
        send_date,
        is_window_complete,
        treatment_customers,
        control_customers,
        treatment_converted,
        control_converted,
        treatment_rate,
        control_rate,
        uplift,
        uplift - uplift_margin as uplift_ci_low,
        uplift + uplift_margin as uplift_ci_high,
        uplift - uplift_margin > 0 or uplift + uplift_margin < 0 as is_uplift_significant,
        treatment_net_revenue,
        control_net_revenue,
        treatment_net_revenue
        - {{ safe_divide('control_net_revenue', 'control_customers') }} * treatment_customers as incremental_net_revenue,
        {{ safe_divide('sleeping_converted', 'sleeping_contacted') }} as wake_up_rate,
        {{ safe_divide('churned_converted', 'churned_contacted') }} as reactivation_rate
    from uplift
)

select * from final
