-- Wake-up rate (sleeping customers) and reactivation rate (churned customers) of campaign
-- sends, from the campaign contact log: one row per send day, campaign, arm and stage at
-- send. A contacted customer responded when they purchased within the attribution window
-- (int_campaign_contact_outcomes). The rates of the treatment arm are the KPIs; the control
-- arm shows what would have happened anyway. Empty until a contact log exists.
with outcomes as (
    select * from {{ ref('int_campaign_contact_outcomes') }}
),

final as (
    select
        send_date,
        campaign_id,
        arm,
        lifecycle_stage,
        case when lifecycle_stage = {{ stage('sleeping') }} then 'wake_up' else 'reactivation' end as kpi_code,
        min(case when is_window_complete then 1 else 0 end) = 1 as is_window_complete,
        count(*) as contacted_customers,
        sum(converted) as responding_customers,
        cast(sum(converted) as {{ type_double() }}) / count(*) as response_rate
    from outcomes
    where lifecycle_stage in ({{ stage('sleeping') }}, {{ stage('churned') }})
    group by send_date, campaign_id, arm, lifecycle_stage
)

select * from final
