-- Current state per order: the newest version wins. Amounts are in the reporting currency,
-- converted at the rate of the order's day (the paid day, else the created day); the
-- delivered currency and total are kept. An order with no rate for its day has null amounts
-- and is_converted false: it counts nowhere until its rate arrives (a late rate converts it
-- at the next build). A sale is a paid, converted, not cancelled order; is_purchase says
-- whether the order alone makes a purchase (docs/metrics.md): int_purchase_days also
-- takes its return documents into account.
{{
    config(
        materialized=incremental_materialization(),
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
-- depends_on: {{ source('raw', 'exchange_rates') }} (read by an incremental build)
-- A table, not a view: deduplicated once, as rows arrive, instead of by every model that
-- reads it. Each build takes the orders with a version loaded since the last build and picks
-- the newest again among all their versions (a late delivery may be an older version).
with newest as (
    {{ newest_version(
        source('raw', 'orders'), ['order_id'], 'updated_at desc',
        where=(
            touched_keys(source('raw', 'orders'), ['order_id'], this) ~ ' or '
            ~ touched_by_rates(
                source('raw', 'orders'), ['order_id'], to_store_date('coalesce(paid_at, created_at)'), this
            )
        ) if is_incremental() else none
    ) }}
),

converted as (
    {{ with_fx_rate('newest', to_store_date('coalesce(fx_source.paid_at, fx_source.created_at)')) }}
),

final as (
    select
        order_id,
        customer_id,
        customer_id is null as is_guest,
        {{ normalize_email('email') }} as email_key,
        {{ normalize_phone('phone') }} as phone_e164,
        status,
        created_at,
        {{ to_store_date('created_at') }} as created_date,
        paid_at,
        {{ to_store_date('paid_at') }} as paid_date,
        currency,
        order_total as original_order_total,
        coalesce(refund_total, 0) as original_refund_total,
        fx_rate,
        fx_rate is not null as is_converted,
        {{ to_reporting('order_total', 'fx_rate') }} as order_total,
        {{ to_reporting('coalesce(discount_total, 0)', 'fx_rate') }} as discount_total,
        {{ to_reporting('coalesce(shipping_total, 0)', 'fx_rate') }} as shipping_total,
        {{ to_reporting('coalesce(refund_total, 0)', 'fx_rate') }} as refund_total,
        {{ to_reporting('order_total', 'fx_rate') }}
        - {{ to_reporting('coalesce(refund_total, 0)', 'fx_rate') }} as net_revenue,
        channel,
        coalesce(promotion_type, 'none') as promotion_type,
        {{ is_deal() }} as is_deal,
        fx_rate is not null and {{ is_sale() }} as is_sale,
        fx_rate is not null and {{ is_purchase() }} as is_purchase,
        updated_at,
        version_count,
        _loaded_at,
        {{ build_started_at() }} as _built_at
    from converted
)

select * from final
