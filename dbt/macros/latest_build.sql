{#- When a row was written: the start of the dbt invocation that built it. The incremental
    tables carry it as `_built_at`, so that their tests can check what the latest build wrote
    instead of the whole history (see get_where_subquery below). -#}
{% macro build_started_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- dbt's get_where_subquery (it applies a test's `where` config), with one placeholder more:
    `__latest_build__` is the newest `_built_at` of the model tested, so
    `where: "_built_at = __latest_build__"` tests the rows the latest build wrote.

    This is the whole table's test for an incremental model with the delete+insert strategy:
    a build deletes every stored row whose key it writes again, so a key can repeat only among
    the rows of one build, and rows kept from earlier builds were tested when they were
    written. A full refresh writes every row in one build. The daily tests then cost what the
    day's rows cost, not what the history costs. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- set where = where | replace('__latest_build__', '(select max(_built_at) from ' ~ relation ~ ')') -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
