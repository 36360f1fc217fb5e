{#- An incremental build restates the last restate_days days it holds (late visits, orders
    and refunds within them are taken in): this is the day before them, restate_days before
    the newest `date_column` of the model being built (of its rows matching `where`). -#}
{% macro restate_boundary(date_column, where=none) -%}
    (
        select {{ add_days('max(' ~ date_column ~ ')', -var('restate_days')) }}
        from {{ this }}{% if where %} where {{ where }}{% endif %}
    )
{%- endmacro %}

{#- A build for a D earlier than the one an incremental table was last built for (its
    as_of_date column) cannot keep the rows built for that later D: it empties the table,
    and the model recomputes everyone. For a pre-hook. -#}
{% macro empty_if_d_moved_back(relation) -%}
    {%- if is_incremental() -%}
        delete from {{ relation }}
        where (select max(as_of_date) from {{ relation }}) > (select as_of_date from {{ ref('int_as_of_date') }})
    {%- endif -%}
{%- endmacro %}
