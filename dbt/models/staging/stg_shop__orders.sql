-- Current state per order: the newest version wins. A purchase (docs/metrics.md) is a paid,
-- not cancelled order with a positive net amount; its day is the paid day in store time.
{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
-- A table, not a view: deduplicated once, as rows arrive, instead of by every model that
-- reads it. Each build takes the orders with a version loaded since the last build and picks
-- the newest again among all their versions (a late delivery may be an older version).
with newest as (
    {{ newest_version(
        source('raw', 'orders'), ['order_id'], 'updated_at desc',
        where=touched_keys(source('raw', 'orders'), ['order_id'], this) if is_incremental() else none
    ) }}
),

final as (
    select
        order_id,
        customer_id,
        customer_id is null as is_guest,
        status,
        created_at,
        {{ to_store_date('created_at') }} as created_date,
        paid_at,
        {{ to_store_date('paid_at') }} as paid_date,
        currency,
        order_total,
        coalesce(discount_total, 0) as discount_total,
        coalesce(shipping_total, 0) as shipping_total,
        coalesce(refund_total, 0) as refund_total,
        order_total - coalesce(refund_total, 0) as net_revenue,
        channel,
        coalesce(promotion_type, 'none') as promotion_type,
        {{ is_deal() }} as is_deal,
        {{ is_purchase() }} as is_purchase,
        updated_at,
        version_count,
        _loaded_at,
        {{ build_started_at() }} as _built_at
    from newest
)

select * from final
