{#- Text helpers whose SQL differs between engines. -#}

{% macro digits_only(text) -%}
    {{ return(adapter.dispatch('digits_only', 'crm_mart')(text)) }}
{%- endmacro %}

{% macro default__digits_only(text) -%}
    regexp_replace({{ text }}, '[^0-9]', '', 'g')
{%- endmacro %}

{% macro spark__digits_only(text) -%}
    regexp_replace({{ text }}, '[^0-9]', '')
{%- endmacro %}

{% macro matches_fully(text, pattern) -%}
    {{ return(adapter.dispatch('matches_fully', 'crm_mart')(text, pattern)) }}
{%- endmacro %}

{% macro default__matches_fully(text, pattern) -%}
    coalesce(regexp_full_match({{ text }}, '{{ pattern }}'), false)
{%- endmacro %}

{#- Spark reads escapes in string literals: '\s' would reach the regex as 's' -#}
{% macro spark__matches_fully(text, pattern) -%}
    coalesce({{ text }} rlike '^{{ pattern | replace("\\", "\\\\") }}$', false)
{%- endmacro %}

{#- A plausible email address: something@domain.tld -#}
{% macro is_valid_email(email) -%}
    {{ matches_fully(email, '[^@\\s]+@[^@\\s]+\\.[a-z]{2,}') }}
{%- endmacro %}

{#- The values of a group as one text, sorted, comma-separated (an aggregate). -#}
{% macro sorted_list(value) -%}
    {{ return(adapter.dispatch('sorted_list', 'crm_mart')(value)) }}
{%- endmacro %}

{% macro default__sorted_list(value) -%}
    string_agg({{ value }}, ', ' order by {{ value }})
{%- endmacro %}

{% macro spark__sorted_list(value) -%}
    array_join(array_sort(collect_list({{ value }})), ', ')
{%- endmacro %}
