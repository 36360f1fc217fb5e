{#- Schemas are named as configured (staging, intermediate, marts, reference), not prefixed
    with the target schema, so analysts find marts.customer_facts. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
