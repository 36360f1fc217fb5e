{#- The lifecycle stages (docs/metrics.md), named once. The seed lifecycle_stages lists the
    same names in the same order, with their Chinese names (a test checks they agree). -#}

{#- The buyer stages in order, each with the last day of its band of days since the last
    purchase, from the settings (the last band has no end). -#}
{% macro buyer_stage_bands() -%}
    {{ return([
        ('after_sale', var('stage_after_sale_max_days')),
        ('active', var('stage_active_max_days')),
        ('silent', var('stage_silent_max_days')),
        ('sleeping', var('stage_sleeping_max_days')),
        ('churned', none),
    ]) }}
{%- endmacro %}

{#- The prospect stages, strongest activity level first (int_customer_activity_days: 4 an
    unpaid order, 3 cart or checkout, 2 engaged, 1 any visit); the last has no activity. -#}
{% macro prospect_stages() -%}
    {{ return([
        ('prospect_unpaid', 4),
        ('prospect_cart', 3),
        ('prospect_engaged', 2),
        ('prospect_browsing', 1),
        ('registered_dormant', none),
    ]) }}
{%- endmacro %}

{% macro stage_names() -%}
    {%- set names = [] -%}
    {%- for name, _ in buyer_stage_bands() + prospect_stages() -%}
        {%- do names.append(name) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}

{#- A stage name as a SQL literal; a name that is no stage fails the compilation. -#}
{% macro stage(name) -%}
    {%- if name not in stage_names() -%}
        {{ exceptions.raise_compiler_error("'" ~ name ~ "' is not a lifecycle stage: " ~ stage_names() | join(', ')) }}
    {%- endif -%}
    '{{ name }}'
{%- endmacro %}

{#- The buyer stages before `name`, as a SQL list: stages_before('churned') is every buyer
    stage but churned. -#}
{% macro stages_before(name) -%}
    {%- set before = [] -%}
    {%- for stage_name, _ in buyer_stage_bands() -%}
        {%- if stage_name == name -%}{{ return(sql_list(before)) }}{%- endif -%}
        {%- do before.append(stage_name) -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("'" ~ name ~ "' is not a buyer stage") }}
{%- endmacro %}

{#- One row per buyer stage: lifecycle_stage, min_days and max_days (null: no end) of days
    since the last purchase, from the settings. -#}
{% macro stage_bands() -%}
    {%- set ns = namespace(min_days=0) -%}
    {%- for name, max_days in buyer_stage_bands() %}
    {{ 'union all' if not loop.first }}
    select
        '{{ name }}' as lifecycle_stage,
        {{ ns.min_days }} as min_days,
        {{ max_days if max_days is not none else 'null' }} as max_days
        {%- if max_days is not none %}{% set ns.min_days = max_days + 1 %}{% endif %}
    {%- endfor %}
{%- endmacro %}

{#- The prospect stage of an activity level (null: no activity in the window). -#}
{% macro prospect_stage(activity_level) -%}
    case {{ activity_level }}
        {%- for name, level in prospect_stages() %}
        {% if level is not none %}when {{ level }} then '{{ name }}'{% else %}else '{{ name }}'{% endif %}
        {%- endfor %}
    end
{%- endmacro %}
