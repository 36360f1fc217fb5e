-- The rows whose currency has no exchange rate for their day: held back from every revenue
-- figure until the rate arrives in landing/exchange_rates/ (the next build converts them).
-- A warning check lists them; the monthly reconciliation counts them.
with orders as (
    select * from {{ ref('stg_shop__orders') }}
),

returns as (
    select * from {{ ref('stg_shop__returns') }}
),

spend as (
    select * from {{ ref('stg_shop__marketing_spend') }}
),

final as (
    select
        'orders' as entity,
        order_id as row_id,
        currency,
        coalesce(paid_date, created_date) as amount_date,
        original_order_total as original_amount
    from orders
    where not is_converted

    union all

    select
        'returns' as entity,
        return_id as row_id,
        currency,
        returned_date as amount_date,
        original_amount
    from returns
    where not is_converted

    union all

    select
        'marketing_spend' as entity,
        channel as row_id,
        currency,
        spend_date as amount_date,
        original_spend as original_amount
    from spend
    where not is_converted
)

select
    *,
    'no exchange rate for ' || currency || ' on ' || cast(amount_date as {{ dbt.type_string() }})
    || ' in landing/exchange_rates/' as reason
from final
