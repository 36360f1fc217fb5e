-- One row per order line (order_id, line_number); a line delivered again keeps its newest load.
with newest as (
    {{ newest_version(source('raw', 'order_items'), ['order_id', 'line_number']) }}
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
        line_total
    from newest
)

select * from final
