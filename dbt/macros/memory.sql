{#- DuckDB's memory ceiling from the var duckdb_memory_limit (it spills to disk beyond it), and
    no insertion order kept for the tables dbt builds: no model reads rows in the order they
    were written, and keeping it makes DuckDB hold more in memory on large builds.
    Other engines manage their own memory: nothing to do. -#}
{% macro set_memory_limit() -%}
    {{ return(adapter.dispatch('set_memory_limit', 'crm_mart')()) }}
{%- endmacro %}

{% macro default__set_memory_limit() -%}
{%- endmacro %}

{% macro duckdb__set_memory_limit() -%}
    set memory_limit = '{{ var("duckdb_memory_limit") }}';
    set preserve_insertion_order = false
{%- endmacro %}
