{#- numerator / denominator, null when the denominator is 0 (or null): every ratio of the
    marts is written with it. What dbt-utils calls safe_divide; as_double divides as a
    double (an engine may divide integers as integers). -#}
{% macro safe_divide(numerator, denominator, as_double=false) -%}
    {%- if as_double -%}
        cast({{ numerator }} as {{ type_double() }}) / nullif({{ denominator }}, 0)
    {%- else -%}
        ({{ numerator }}) / nullif({{ denominator }}, 0)
    {%- endif -%}
{%- endmacro %}
