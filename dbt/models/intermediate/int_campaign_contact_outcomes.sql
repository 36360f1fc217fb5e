-- One row per contact of the campaign contact log (both arms): the customer's lifecycle stage
-- on the send day, and whether and how much they bought within attribution_window_days from
-- the send day (the send day counts as day 1). Empty, not failing, until the campaign exports
-- have written a contact log.
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
            history.lifecycle_stage,
            {{ add_days('contacts.send_date', var('attribution_window_days') - 1) }} as window_end_date
        from contacts
        left join history
            on
                contacts.customer_id = history.customer_id
                and contacts.send_date between history.valid_from and history.valid_to
        where contacts.send_date <= (select max(as_of_date) from as_of)
    ),

    final as (
        select
            sent.send_date,
            sent.campaign_id,
            sent.arm,
            sent.customer_id,
            sent.lifecycle_stage,
            sent.window_end_date <= max(as_of.as_of_date) as is_window_complete,
            max(case when purchase_days.customer_id is not null then 1 else 0 end) as converted,
            coalesce(sum(purchase_days.net_revenue), 0) as window_net_revenue
        from sent
        cross join as_of
        left join purchase_days
            on
                sent.customer_id = purchase_days.customer_id
                and purchase_days.purchase_date between sent.send_date and sent.window_end_date
        group by
            sent.send_date, sent.campaign_id, sent.arm, sent.customer_id, sent.lifecycle_stage,
            sent.window_end_date
    )

    select * from final

{% else %}

    select
        cast(null as date) as send_date,
        cast(null as {{ dbt.type_string() }}) as campaign_id,
        cast(null as {{ dbt.type_string() }}) as arm,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_string() }}) as lifecycle_stage,
        cast(null as boolean) as is_window_complete,
        cast(null as {{ dbt.type_int() }}) as converted,
        cast(null as {{ dbt.type_numeric() }}) as window_net_revenue
    where 1 = 0

{% endif %}
