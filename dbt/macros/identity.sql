{#- Identifiers: how emails and phones are normalised, once, for the identity graph and for
    the customer-match hashes alike (docs/identity.md). -#}

{#- The matching key of an email: trimmed and lower-cased; at gmail.com and googlemail.com
    (one mailbox) dots in the local part and a plus-tag dropped, at the other providers
    above a plus-tag dropped; null when it is not a plausible address. -#}
{% macro normalize_email(email) -%}
    {#- providers that deliver a+tag@ to a@: a plus-tag is dropped there and kept elsewhere -#}
    {%- set plus_tag_domains = [
        'outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'icloud.com', 'me.com', 'mac.com',
        'fastmail.com', 'protonmail.com', 'proton.me',
    ] -%}
    {%- set e = 'lower(trim(' ~ email ~ '))' -%}
    {#- instr and substr, not split_part: DuckDB 2.0 fails to bind split_part after a
        pattern match on a column that is null throughout (an empty table) -#}
    {%- set local = 'substr(' ~ e ~ ', 1, instr(' ~ e ~ ", '@') - 1)" -%}
    {%- set domain = 'substr(' ~ e ~ ', instr(' ~ e ~ ", '@') + 1)" -%}
    {%- set untagged = 'case when instr(' ~ local ~ ", '+') > 1 then substr(" ~ local ~ ', 1, instr('
        ~ local ~ ", '+') - 1) else " ~ local ~ ' end' -%}
    case
        when not {{ is_valid_email(e) }} then null
        when {{ domain }} in ('gmail.com', 'googlemail.com')
            then replace({{ untagged }}, '.', '') || '@gmail.com'
        when {{ domain }} in ('{{ plus_tag_domains | join("', '") }}')
            then {{ untagged }} || '@' || {{ domain }}
        else {{ e }}
    end
{%- endmacro %}

{#- The most customer ids, emails and phones a person may hold (the identity_max_* vars):
    an identifier linked to more of a kind is shared, a group with more is split. -#}
{% macro identity_caps() -%}
    {{ return({
        'customer_id': var('identity_max_customer_ids'),
        'email': var('identity_max_emails'),
        'phone': var('identity_max_phones'),
    }) }}
{%- endmacro %}

{#- Whether a normalised email is a shared or role address (var identity_blocked_emails):
    'info@' is a local part at any domain, '@shop.com' a domain, else one address. -#}
{% macro is_blocked_email(email_key) -%}
    {%- set rules = var('identity_blocked_emails') -%}
    {%- if not rules %}false{% else -%}
    (
        {%- for rule in rules %}
        {% if not loop.first %}or {% endif -%}
        {%- set rule = rule | lower -%}
        {%- if rule.endswith('@') -%}
            {{ email_key }} like '{{ rule }}%'
        {%- elif rule.startswith('@') -%}
            {{ email_key }} like '%{{ rule }}'
        {%- else -%}
            {{ email_key }} = '{{ rule }}'
        {%- endif -%}
        {%- endfor %}
    )
    {%- endif %}
{%- endmacro %}

{#- E.164 for a phone number: numbers written with a leading + keep their own country code;
    others take the calling code of their row's country, else of var phone_default_country
    (codes for the countries a shop is likely to see; extend the map as needed); null when
    neither is known. -#}
{% macro normalize_phone(phone, country=none) -%}
    {%- set calling_codes = {'CN': '86', 'HK': '852', 'TW': '886', 'SG': '65', 'US': '1', 'GB': '44', 'JP': '81', 'KR': '82'} -%}
    {%- set country_of_row = "upper(coalesce(" ~ country ~ ", '" ~ var('phone_default_country') ~ "'))"
        if country else "'" ~ var('phone_default_country') ~ "'" -%}
    case
        when {{ phone }} is null or {{ digits_only(phone) }} = '' then null
        when trim({{ phone }}) like '+%'
            then '+' || {{ digits_only(phone) }}
        {%- for country_code, calling_code in calling_codes.items() %}
        when {{ country_of_row }} = '{{ country_code }}'
            then '+{{ calling_code }}' || trim(leading '0' from {{ digits_only(phone) }})
        {%- endfor %}
    end
{%- endmacro %}

{#- The persons whose identifiers changed since `relation` was last built (rows int_identity_map
    wrote since, and the persons those identifiers left): an incremental model kept per
    person rebuilds them whole. Without a relation (a table that keeps no build time), those
    of this dbt invocation. A subquery of one column, customer_id; empty in a full build. -#}
{% macro restated_persons(relation=none) -%}
    {%- if not is_incremental() -%}
        select cast(null as {{ dbt.type_string() }}) as customer_id where 1 = 0
    {%- else -%}
    {%- set changes -%}
        (select * from {{ ref('int_identity_map') }}
        where {% if relation -%}
            {{ later_than_latest('_built_at', relation) }}
        {%- else -%}
            _built_at = {{ build_started_at() }}
        {%- endif %})
    {%- endset -%}
    select changed.person_id as customer_id from {{ changes }} as changed
    where changed.person_id is not null
    union
    select changed.previous_person_id as customer_id from {{ changes }} as changed
    where changed.previous_person_id is not null
    {%- endif -%}
{%- endmacro %}

{#- A pre-hook: forget the rows of the restated persons; the build writes them again. -#}
{% macro forget_restated_persons(relation) -%}
    {%- if is_incremental() -%}
        delete from {{ relation }} where customer_id in ({{ restated_persons(relation) }})
    {%- endif -%}
{%- endmacro %}

{#- The rows of a staging model of visits or events (sessions, events) with customer_id the
    person: of the logged-in customer id, else of the anonymous id; the shop's customer id
    stays in shop_customer_id. The body of int_sessions_by_person and int_events_by_person. -#}
{% macro visits_by_person(staging_model) -%}
with visits as (
    select * from {{ ref(staging_model) }}
),

identity_map as (
    select * from {{ ref('int_identity_map') }}
),

final as (
    select
        {{ star(ref(staging_model), except=['customer_id'], relation_alias='visits') }},
        visits.customer_id as shop_customer_id,
        coalesce(by_customer.person_id, by_browser.person_id) as customer_id
    from visits
    left join identity_map as by_customer
        on by_customer.identifier_kind = 'customer_id' and visits.customer_id = by_customer.identifier
    left join identity_map as by_browser
        on by_browser.identifier_kind = 'anonymous_id' and visits.anonymous_id = by_browser.identifier
)

select * from final
{%- endmacro %}

{#- Whether `column` is later than the latest `latest_column` of `relation` (any time when
    the relation is empty): the rows an incremental model has not taken in yet. -#}
{% macro later_than_latest(column, relation, latest_column='_built_at') -%}
    {{ column }} > (
        select coalesce(max({{ latest_column }}), cast('1900-01-01' as {{ dbt.type_timestamp() }}))
        from {{ relation }}
    )
{%- endmacro %}

{#- The settings the identity graph's tables are built with, as one key that each of their
    rows keeps (_identity_settings): a day's new links can only join or withhold identifiers
    while these stay the same, so the tables are built again from all links when they change. -#}
{% macro identity_settings_key() -%}
    {{ return(local_md5(tojson({
        'phone_default_country': var('phone_default_country'),
        'identity_blocked_emails': var('identity_blocked_emails'),
        'caps': identity_caps(),
    }))) }}
{%- endmacro %}

{#- The config of the graph's tables (edges, nodes, components), keyed by `unique_key`: on
    DuckDB incremental, each build writing its touched rows again (delete+insert), and first
    forgetting the rows built with other identity settings (all of them, when a setting
    changed), so that the build takes in every link again; on Spark rebuilt whole. -#}
{% macro identity_graph_config(unique_key) -%}
    {{ return({
        'materialized': incremental_materialization(),
        'unique_key': unique_key,
        'incremental_strategy': 'delete+insert',
        'on_schema_change': 'append_new_columns',
        'pre_hook': '{{ forget_rows_of_other_identity_settings(this) }}',
    }) }}
{%- endmacro %}

{% macro forget_rows_of_other_identity_settings(relation) -%}
    {%- if is_incremental() -%}
        delete from {{ relation }} where _identity_settings != '{{ identity_settings_key() }}'
    {%- endif -%}
{%- endmacro %}
