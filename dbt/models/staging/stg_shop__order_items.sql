-- One row per order line (order_id, line_number); a line delivered again keeps its newest load.
{{
    config(
        materialized=incremental_materialization(),
        unique_key=['order_id', 'line_number'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
-- A table, not a view: deduplicated once, as rows arrive, instead of by every model that
-- reads it. Each build takes the orders with a version loaded since the last build and picks
-- the newest again among all their versions (a late delivery may be an older version).
with newest as (
    {{ newest_version(
        source('raw', 'order_items'), ['order_id', 'line_number'],
        where=touched_keys(source('raw', 'order_items'), ['order_id'], this) if is_incremental() else none
    ) }}
),

final as (
    select
        order_id,
        line_number,
        sku,
        category,
        product_name,
        quantity,
        unit_price,
        line_total,
        _loaded_at,
        {{ build_started_at() }} as _built_at
    from newest
)

select * from final
