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

