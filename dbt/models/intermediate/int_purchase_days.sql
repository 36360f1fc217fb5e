-- One row per customer per purchase day, up to D. Several purchases on one day are one
-- purchase day; revenue counts every order. Guests are not customers.
with orders as (
    select * from {{ ref('stg_shop__orders') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

purchases as (
    select orders.*
    from orders
    cross join as_of
    where
        orders.is_purchase
        and not orders.is_guest
        and orders.paid_date <= as_of.as_of_date
),

final as (
    select
        customer_id,
        paid_date as purchase_date,
        count(*) as orders,
        sum(order_total) as gross_revenue,
        sum(refund_total) as refunds,
        sum(net_revenue) as net_revenue,
        sum(case when is_deal then 1 else 0 end) as deal_orders
    from purchases
    group by customer_id, paid_date
)

select * from final
