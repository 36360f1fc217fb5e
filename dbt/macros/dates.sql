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

{#- Whole days from start_date to end_date, a bigint on every engine (Spark's is an int). -#}
{% macro days_between(start_date, end_date) -%}
    cast({{ dbt.datediff(start_date, end_date, 'day') }} as {{ dbt.type_bigint() }})
{%- endmacro %}

{#- The first day of a day's month. -#}
{% macro month_start(date_expr) -%}
    cast({{ dbt.date_trunc('month', date_expr) }} as date)
{%- endmacro %}

{#- The Monday (ISO week start) on or before a day. -#}
{% macro week_start(date_expr) -%}
    cast({{ dbt.date_trunc('week', date_expr) }} as date)
{%- endmacro %}

{#- One row per `datepart` from start_date up to, not including, end_date, in a column
    date_<datepart>: what dbt-utils calls date_spine (hub packages cannot be installed here).
    The bounds are SQL expressions (a scalar subquery will do); the span has no limit. -#}
{% macro date_spine(datepart, start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine', 'crm_mart')(datepart, start_date, end_date)) }}
{%- endmacro %}

{% macro default__date_spine(datepart, start_date, end_date) -%}
    select
        cast(unnest(range(
            cast({{ start_date }} as timestamp),
            cast({{ end_date }} as timestamp),
            interval 1 {{ datepart }}
        )) as date) as date_{{ datepart }}
{%- endmacro %}

{% macro spark__date_spine(datepart, start_date, end_date) -%}
    select explode(
        case when {{ start_date }} < {{ end_date }} then sequence(
            to_date({{ start_date }}),
            to_date({{ end_date }}) - interval 1 {{ datepart }},
            interval 1 {{ datepart }}
        ) end
    ) as date_{{ datepart }}
{%- endmacro %}
