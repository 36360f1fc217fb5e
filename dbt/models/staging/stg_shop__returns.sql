{{ config(materialized='table') }}

-- Returns, cancellations after payment and credit notes (docs/metrics.md, "Returns"): one
-- row per return_id, its newest delivery. The amount is in the reporting currency at the
-- rate of the return's own day; the delivered currency and amount are kept. The customer is
-- the returned order's when the order is known (a guest order's return is a guest return),
-- else the return's own customer_id. A return of an order that was never sold (unpaid,
-- cancelled) is not counted: the order never counted either. A return with no rate for its
-- day is not converted and counts nowhere until its rate arrives.
with newest as (
    {{ newest_version(source('raw', 'returns'), ['return_id']) }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

converted as (
    {{ with_fx_rate('newest', to_store_date('fx_source.returned_at')) }}
),

final as (
    select
        converted.return_id,
        converted.order_id,
        orders.order_id is not null as is_linked,
        case
            when orders.order_id is not null then orders.customer_id else converted.customer_id
        end as customer_id,
        case
            when orders.order_id is not null then orders.customer_id is null
            else converted.customer_id is null
        end as is_guest,
        converted.returned_at,
        {{ to_store_date('converted.returned_at') }} as returned_date,
        converted.currency,
        converted.amount as original_amount,
        converted.fx_rate,
        converted.fx_rate is not null as is_converted,
        {{ to_reporting('converted.amount', 'converted.fx_rate') }} as amount,
        -- the amount in the returned order's currency, to judge a full return
        case
            when converted.currency = orders.currency then converted.amount
            else converted.amount * converted.fx_rate / orders.fx_rate
        end as amount_in_order_currency,
        converted.fx_rate is not null and (orders.order_id is null or orders.is_sale) as is_counted,
        converted.reason,
        converted._loaded_at
    from converted
    left join orders on converted.order_id = orders.order_id
)

select * from final
