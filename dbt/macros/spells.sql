{#- Restating the last days of a table of spells (customer_id, valid_from, valid_to,
    days_in_stage) before an incremental build adds the days after its last one: spells that
    start in those days are forgotten and the spell that crosses into them ends the day before.
    The build then recomputes the days from there, so late data within them is taken in. -#}
{% macro rewind_spells(relation, days) -%}
    {%- if is_incremental() -%}
        create or replace temporary table spells_rewind as
        select {{ add_days('max(valid_to)', -days) }} as rewind_to from {{ relation }};
        delete from {{ relation }} where valid_from > (select rewind_to from spells_rewind);
        update {{ relation }}
        set
            valid_to = (select rewind_to from spells_rewind),
            days_in_stage = {{ days_between('valid_from', '(select rewind_to from spells_rewind)') }} + 1
        where valid_to > (select rewind_to from spells_rewind);
        drop table spells_rewind
    {%- endif -%}
{%- endmacro %}

{#- The days a table of transitions (transition_date) restates before an incremental build
    adds the days after its last one: the last restate_days days, as the spells it is made
    from (macro restate_boundary). When every spell was written by one build (a full refresh
    of the spells, which takes in data older than those days), all of it. For a pre-hook. -#}
{% macro rewind_transitions(spells) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where
            transition_date > {{ restate_boundary('transition_date') }}
            or (select min(_built_at) = max(_built_at) from {{ spells }})
    {%- endif -%}
{%- endmacro %}
