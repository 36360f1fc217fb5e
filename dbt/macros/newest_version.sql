{#- Every column of `relation` for the newest version of each key: the row first in
    `newest_first` order (ties broken by the latest load, file and row), plus
    version_count, how many versions of the key were delivered (among the rows read:
    `where` limits them, as an incremental model does to the rows loaded since its last run). What dbt-utils calls
    deduplicate; hub packages cannot be installed here. -#}
{% macro newest_version(relation, key_columns, newest_first='', where=none) -%}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by {{ newest_first ~ ', ' if newest_first }}_loaded_at desc, _source_file desc, _row_number desc
            ) as version_rank,
            count(*) over (partition by {{ key_columns | join(', ') }}) as version_count
        from {{ relation }}
        {% if where %}where {{ where }}{% endif %}
    ) as versions
    where version_rank = 1
{%- endmacro %}
