{#- An incremental build restates the last restate_days days it holds (late visits, orders
    and refunds within them are taken in): this is the day before them, restate_days before
    the newest `date_column` of the model being built (of its rows matching `where`). -#}
{% macro restate_boundary(date_column, where=none) -%}
    (
        select {{ add_days('max(' ~ date_column ~ ')', -var('restate_days')) }}
        from {{ this }}{% if where %} where {{ where }}{% endif %}
    )
{%- endmacro %}
