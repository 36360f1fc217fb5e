{#- Scoring helpers, every threshold read from the vars in dbt_project.yml. -#}

{#- 1-5 by tie-safe quintiles: equal values always get the same score; 5 = best.
    `order_by` must sort the worst first. -#}
{% macro quintile_score(order_by) -%}
    cast(ceil(5 * cume_dist() over (order by {{ order_by }})) as integer)
{%- endmacro %}

{#- F score from the fixed breakpoints (purchase days at which scores 2..5 start). -#}
{% macro f_score(purchase_days) -%}
    {%- set breakpoints = var('rfm_f_breakpoints') -%}
    case
    {%- for score in range(5, 1, -1) %}
        when {{ purchase_days }} >= {{ breakpoints[score - 1] }} then {{ score }}
    {%- endfor %}
        else 1
    end
{%- endmacro %}

{#- The member tier reached by a net revenue over the tier window. -#}
{% macro member_tier(net_revenue) -%}
    case
    {%- for t in var('member_tiers') | reverse %}
        when {{ net_revenue }} >= {{ t.min_net_revenue }} then '{{ t.tier }}'
    {%- endfor %}
    end
{%- endmacro %}

{#- The rank of a tier (basic = 1), to compare tiers. -#}
{% macro tier_rank(tier) -%}
    case {{ tier }}
    {%- for t in var('member_tiers') %}
        when '{{ t.tier }}' then {{ loop.index }}
    {%- endfor %}
    end
{%- endmacro %}

{% macro sql_list(values) -%}
    {%- for v in values %}'{{ v }}'{{ ", " if not loop.last }}{% endfor -%}
{%- endmacro %}

{#- The center that splits high from low in the eight RFM groups: mean or median (var). -#}
{% macro center_of(column) -%}
    {%- if var('rfm_group_center') not in ('mean', 'median') -%}
        {{ exceptions.raise_compiler_error("var rfm_group_center must be 'mean' or 'median', not '" ~ var('rfm_group_center') ~ "'") }}
    {%- elif var('rfm_group_center') == 'median' -%}
        {{ return(adapter.dispatch('median_of', 'crm_mart')(column)) }}
    {%- else -%}
        avg({{ column }})
    {%- endif -%}
{%- endmacro %}

{% macro default__median_of(column) -%}
    median({{ column }})
{%- endmacro %}

{% macro spark__median_of(column) -%}
    percentile_approx({{ column }}, 0.5)
{%- endmacro %}

{#- Rates and shares are doubles: dbt.type_float() is a 4-byte float on DuckDB and Spark. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'crm_mart')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double
{%- endmacro %}

{#- Share of the nine optional profile fields filled (gender counts when F or M). -#}
{% macro profile_completeness(phone_column='phone') -%}
    cast(
        case when email is not null then 1 else 0 end
        + case when {{ phone_column }} is not null then 1 else 0 end
        + case when gender in ('F', 'M') then 1 else 0 end
        + case when birth_date is not null then 1 else 0 end
        + case when country is not null then 1 else 0 end
        + case when province is not null then 1 else 0 end
        + case when city is not null then 1 else 0 end
        + case when city_tier is not null then 1 else 0 end
        + case when acquisition_channel is not null then 1 else 0 end
        as {{ type_double() }}
    ) / 9
{%- endmacro %}

{#- The churn model's cutoff days as of D (the day in `as_of`): D itself, to score, and two
    labelled cutoffs L = churn_label_days apart: the Monday on or before D - L (to test out of
    time, and to train the tree that scores D) and L days before that (to train the tested
    tree). The labelled ones move once a week, so their features are computed once a week
    (int_churn_features is incremental), and each has its whole L-day label window by D. -#}
{% macro churn_cutoffs(as_of) -%}
    {%- set label_days = var('churn_label_days') -%}
    {%- set test_cutoff = week_start(add_days('as_of_date', -label_days)) -%}
    select 0 as cutoff_number, as_of_date as cutoff_date, false as is_labelled from {{ as_of }}
    union all
    select 1 as cutoff_number, {{ test_cutoff }} as cutoff_date, true as is_labelled from {{ as_of }}
    union all
    select
        2 as cutoff_number, {{ add_days(test_cutoff, -label_days) }} as cutoff_date, true as is_labelled
    from {{ as_of }}
{%- endmacro %}

{#- The net revenue still missing to reach the next member tier (null at the top tier). -#}
{% macro amount_to_next_tier(net_revenue) -%}
    case
    {%- for t in var('member_tiers') %}
        when {{ net_revenue }} < {{ t.min_net_revenue }} then {{ t.min_net_revenue }} - {{ net_revenue }}
    {%- endfor %}
    end
{%- endmacro %}
