-- One row per order line (order_id, line_number); a line delivered again keeps its newest load.
with source as (
    select * from {{ source('raw', 'order_items') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by order_id, line_number
            order by _loaded_at desc, _source_file desc, _row_number desc
        ) as version_rank
    from source
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
    from ranked
    where version_rank = 1
)

select * from final
