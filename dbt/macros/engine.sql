{#- How a model that DuckDB builds incrementally is built on another engine. On DuckDB:
    incremental, with the model's own strategy. On Spark the tables are plain Parquet (Delta
    Lake and Iceberg need jars from Maven), which cannot delete or update rows by key: the
    model is rebuilt whole on every run, which equals a full build by construction. -#}
{% macro incremental_materialization() -%}
    {{ return('incremental' if target.type == 'duckdb' else 'table') }}
{%- endmacro %}

{#- How a view of the project is built: a view on DuckDB; on Spark a table, whose Parquet
    files the pipeline's Python steps read (they cannot read a Spark view). -#}
{% macro view_materialization() -%}
    {{ return('view' if target.type == 'duckdb' else 'table') }}
{%- endmacro %}

{#- The config of an incremental model whose every build rewrites whole days: all of its
    rows of each day from the restate boundary on. On DuckDB those rows are replaced by
    `unique_key` (delete+insert); on Spark the table is partitioned by the day and the days
    the build wrote replace theirs (insert_overwrite: Parquet can replace a partition, not
    a row), the other days are kept. Both end as a full build would. -#}
{% macro incremental_by_day(day_column, unique_key) -%}
    {%- if target.type == 'duckdb' -%}
        {{ return({
            'materialized': 'incremental',
            'incremental_strategy': 'delete+insert',
            'unique_key': unique_key,
        }) }}
    {%- else -%}
        {{ return({
            'materialized': 'incremental',
            'incremental_strategy': 'insert_overwrite',
            'partition_by': [day_column],
            'file_format': 'parquet',
        }) }}
    {%- endif -%}
{%- endmacro %}

{#- What each engine needs before a run (the project's one on-run-start hook).
    DuckDB: its memory ceiling from the var duckdb_memory_limit (it spills to disk beyond it),
    and no insertion order kept for the tables dbt builds: no model reads rows in the order
    they were written, and keeping it makes DuckDB hold more in memory on large builds.
    Spark: the source tables. The pipeline writes them from DuckDB as Parquet under
    $CRM_DATA_DIR/spark/sources/<schema>/<table>/ before each build and names those that exist
    in CRM_SPARK_SOURCES ("raw.orders,raw.events,..."): each becomes an external Spark table
    over its folder, made again on every run so that its columns follow the files (dropping
    an external table keeps its files). Spark manages its own memory. -#}
{% macro start_run() -%}
    {{ return(adapter.dispatch('start_run', 'crm_mart')()) }}
{%- endmacro %}

{% macro default__start_run() -%}
{%- endmacro %}

{% macro duckdb__start_run() -%}
    set memory_limit = '{{ var("duckdb_memory_limit") }}';
    set preserve_insertion_order = false
{%- endmacro %}

{% macro spark__start_run() -%}
    {%- if execute -%}
        {%- set root = env_var('CRM_DATA_DIR', '../data') ~ '/spark/sources' -%}
        {%- for relation in env_var('CRM_SPARK_SOURCES', '').split(',') if relation -%}
            {%- set schema, table = relation.split('.') -%}
            {%- do run_query('create database if not exists ' ~ schema) -%}
            {%- do run_query('drop table if exists ' ~ relation) -%}
            {%- do run_query(
                'create table ' ~ relation ~ " using parquet options (mergeSchema 'true') "
                ~ "location '" ~ root ~ '/' ~ schema ~ '/' ~ table ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
