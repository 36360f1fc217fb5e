-- One row per customer per purchase day, up to D, with the customer's sequence: which purchase
-- day this is, the first one, the previous one and the next one (null when none). Several
-- purchases on one day are one purchase day; revenue counts every order. Guests are not
-- customers. The KPI marts, the customer facts and the stage history all start here.
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

purchase_days as (
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
),

final as (
    select
        customer_id,
        purchase_date,
        orders,
        gross_revenue,
        refunds,
        net_revenue,
        deal_orders,
        row_number() over (partition by customer_id order by purchase_date) as purchase_day_number,
        min(purchase_date) over (partition by customer_id) as first_purchase_date,
        lag(purchase_date) over (partition by customer_id order by purchase_date) as previous_purchase_date,
        lead(purchase_date) over (partition by customer_id order by purchase_date) as next_purchase_date
    from purchase_days
)

select * from final
