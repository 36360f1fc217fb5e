{#- Date helpers. Raw timestamps are UTC; every day boundary is a day in the store's zone. -#}

{% macro to_store_date(utc_timestamp) -%}
    {{ return(adapter.dispatch('to_store_date', 'crm_mart')(utc_timestamp)) }}
{%- endmacro %}

{% macro default__to_store_date(utc_timestamp) -%}
    cast(timezone('{{ var("store_timezone") }}', timezone('UTC', {{ utc_timestamp }})) as date)
{%- endmacro %}

{% macro spark__to_store_date(utc_timestamp) -%}
    to_date(from_utc_timestamp({{ utc_timestamp }}, '{{ var("store_timezone") }}'))
{%- endmacro %}

{% macro add_days(date_expr, days) -%}
    cast({{ dbt.dateadd('day', days, date_expr) }} as date)
{%- endmacro %}

{% macro days_between(start_date, end_date) -%}
    {{ dbt.datediff(start_date, end_date, 'day') }}
{%- endmacro %}

{#- The Monday (ISO week start) on or before a day. -#}
{% macro week_start(date_expr) -%}
    cast({{ dbt.date_trunc('week', date_expr) }} as date)
{%- endmacro %}
