-- One row per customer per purchase day, up to D, with the customer's sequence: which purchase
-- day this is, the first one, the previous one and the next one (null when none). Several
-- purchases on one day are one purchase day; revenue counts every order. Customers are
-- persons (int_orders_by_person): a guest checkout counts for the person it resolves to.
-- The KPI marts, the customer facts and the stage history all start here.
-- Returns as seen on D (macro purchase_day_ctes): a sale returned in full within
-- return_window_days is no purchase, the others lower the net revenue of the day they return.
with orders as (
    select * from {{ ref('int_orders_by_person') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

returns as (
    select * from {{ ref('int_returns_by_person') }}
    where is_counted
),

sales as (
    select
        as_of.as_of_date as cutoff_date,
        orders.order_id,
        orders.customer_id,
        orders.paid_date,
        orders.original_order_total,
        orders.original_refund_total,
        orders.order_total,
        orders.refund_total,
        orders.is_deal
    from orders
    cross join as_of
    where
        orders.is_sale
        and orders.customer_id is not null
        and orders.paid_date <= as_of.as_of_date
),

{{ purchase_day_ctes('sales', 'returns') }},

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
    from pd_purchase_days
)

select * from final
