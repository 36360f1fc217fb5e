-- Wake-up rate (sleeping customers) and reactivation rate (churned customers) of campaign
-- sends, from the campaign contact log: one row per send day, campaign, arm and stage at
-- send. A contacted customer responded when they purchased within attribution_window_days
-- from the send day (the send day counts as day 1). The rates of the treatment arm are the
-- KPIs; the control arm shows what would have happened anyway. Empty, not failing, until
-- the campaign exports have written a contact log.
-- The refs below sit inside an if, which dbt does not see when it parses: declare them.
-- depends_on: {{ ref('int_as_of_date') }}
-- depends_on: {{ ref('customer_stage_history') }}
-- depends_on: {{ ref('int_purchase_days') }}
{%- set contact_log = source('activate', 'contact_log') %}
{%- set contact_log_exists = execute and adapter.get_relation(
    database=contact_log.database, schema=contact_log.schema, identifier=contact_log.identifier
) is not none %}

{% if contact_log_exists %}

    with as_of as (
        select * from {{ ref('int_as_of_date') }}
    ),

    contacts as (
        select * from {{ contact_log }}
    ),

    history as (
        select * from {{ ref('customer_stage_history') }}
    ),

    purchase_days as (
        select * from {{ ref('int_purchase_days') }}
    ),

    sent as (
        select
            contacts.send_date,
            contacts.campaign_id,
            contacts.arm,
            contacts.customer_id,
            history.lifecycle_stage
        from contacts
        inner join history
            on
                contacts.customer_id = history.customer_id
                and contacts.send_date between history.valid_from and history.valid_to
        where history.lifecycle_stage in ('sleeping', 'churned')
    ),

    responses as (
        select
            sent.*,
            max(case when purchase_days.customer_id is not null then 1 else 0 end) as responded
        from sent
        left join purchase_days
            on
                sent.customer_id = purchase_days.customer_id
                and purchase_days.purchase_date between sent.send_date
                and {{ add_days('sent.send_date', var('attribution_window_days') - 1) }}
        group by sent.send_date, sent.campaign_id, sent.arm, sent.customer_id, sent.lifecycle_stage
    ),

    final as (
        select
            responses.send_date,
            responses.campaign_id,
            responses.arm,
            responses.lifecycle_stage,
            case when responses.lifecycle_stage = 'sleeping' then 'wake_up' else 'reactivation' end as kpi_code,
            {{ add_days('responses.send_date', var('attribution_window_days') - 1) }}
            <= max(as_of.as_of_date) as is_window_complete,
            count(*) as contacted_customers,
            sum(responses.responded) as responding_customers,
            cast(sum(responses.responded) as {{ type_double() }}) / count(*) as response_rate
        from responses
        cross join as_of
        group by responses.send_date, responses.campaign_id, responses.arm, responses.lifecycle_stage
    )

    select * from final

{% else %}

    select
        cast(null as date) as send_date,
        cast(null as {{ dbt.type_string() }}) as campaign_id,
        cast(null as {{ dbt.type_string() }}) as arm,
        cast(null as {{ dbt.type_string() }}) as lifecycle_stage,
        cast(null as {{ dbt.type_string() }}) as kpi_code,
        cast(null as boolean) as is_window_complete,
        cast(null as {{ dbt.type_bigint() }}) as contacted_customers,
        cast(null as {{ dbt.type_bigint() }}) as responding_customers,
        cast(null as {{ type_double() }}) as response_rate
    where 1 = 0

{% endif %}
