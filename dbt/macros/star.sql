{#- The columns of a relation as a select list, leaving out those in `except`, each prefixed
    with `relation_alias.` when given (dbt_utils.star). Before the relation exists (parsing,
    linting a fresh project) it is `*`. -#}
{% macro star(from, except=[], relation_alias=none) -%}
    {%- set prefix = relation_alias ~ '.' if relation_alias else '' -%}
    {%- set columns = adapter.get_columns_in_relation(from) if execute else [] -%}
    {%- set left_out = except | map('lower') | list -%}
    {%- set names = [] -%}
    {%- for column in columns if column.name | lower not in left_out -%}
        {%- do names.append(prefix ~ adapter.quote(column.name)) -%}
    {%- endfor -%}
    {{- names | join(',\n        ') if names else prefix ~ '*' -}}
{%- endmacro %}
