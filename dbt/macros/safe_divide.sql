{#- numerator / denominator as a double, null when the denominator is 0 (or null): every
    ratio of the marts is written with it. What dbt-utils calls safe_divide. A double on
    every engine: DuckDB divides decimals and integers as doubles, Spark keeps decimals
    decimal and would divide integers as integers. -#}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as {{ type_double() }}) / nullif({{ denominator }}, 0)
{%- endmacro %}
