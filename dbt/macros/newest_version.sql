{#- Every column of `relation` for the newest version of each key: the row first in
    `newest_first` order, ties broken by the latest delivery (the later load, then among
    files loaded together the later modified file; name and row only when those tie too), plus
    version_count, how many versions of the key were delivered (among the rows read:
    `where` limits them, as an incremental model does to the rows loaded since its last run). What dbt-utils calls
    deduplicate; hub packages cannot be installed here.
    Most keys have one version: those pass straight through, and only the keys delivered
    more than once are sorted (a window over every row of a 60M-row table spills and takes
    minutes). Key columns are never null (the data contract requires them). -#}
{% macro newest_version(relation, key_columns, newest_first='', where=none) -%}
    {%- set keys = key_columns | join(', ') -%}
    {%- set partition %}
        {%- for k in key_columns %}{{ ', ' if not loop.first }}versions.{{ k }}{% endfor -%}
    {%- endset -%}
    {%- set on_keys %}
        {%- for k in key_columns %}{{ ' and ' if not loop.first }}versions.{{ k }} = repeated.{{ k }}{% endfor -%}
    {%- endset -%}
    {%- set versions %}
        (select * from {{ relation }}{% if where %} where {{ where }}{% endif %}) as versions
    {%- endset -%}
    {#- the relation is read by each branch, not through a shared CTE: DuckDB would copy
        a CTE read twice into a temporary table first, which doubles the work -#}
    with repeated as (
        select {{ keys }}
        from {{ relation }}
        {% if where %}where {{ where }}{% endif %}
        group by {{ keys }}
        having count(*) > 1
    )

    select
        versions.*,
        1 as version_rank,
        1 as version_count
    from {{ versions }}
    left join repeated on {{ on_keys }}
    where repeated.{{ key_columns[0] }} is null

    union all

    select *
    from (
        select
            versions.*,
            row_number() over (
                partition by {{ partition }}
                order by {{ newest_first ~ ', ' if newest_first }}_loaded_at desc,
                    _delivered_at desc nulls last, _source_file desc, _row_number desc
            ) as version_rank,
            count(*) over (partition by {{ partition }}) as version_count
        from {{ versions }}
        inner join repeated on {{ on_keys }}
    ) as newest
    where version_rank = 1
{%- endmacro %}

{#- A where clause for newest_version in an incremental model: the rows of every key with a
    row loaded after the newest load the model `this` has taken, all versions of them. -#}
{% macro touched_keys(relation, key_columns, this) -%}
    ({{ key_columns | join(', ') }}) in (
        select {{ key_columns | join(', ') }} from {{ relation }}
        where _loaded_at > (select max(_loaded_at) from {{ this }})
    )
{%- endmacro %}
