{#- How a model that DuckDB builds incrementally is built on another engine. On DuckDB:
    incremental, with the model's own strategy. On Spark the tables are plain Parquet (Delta
    Lake and Iceberg need jars from Maven), which cannot delete or update rows: the model is
    rebuilt whole on every run, which equals a full build by construction. -#}
{% macro incremental_materialization() -%}
    {{ return('incremental' if target.type == 'duckdb' else 'table') }}
{%- endmacro %}
