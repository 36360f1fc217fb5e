-- One row per customer per purchase day, up to D, with the customer's sequence: which purchase
-- day this is, the first one, the previous one and the next one (null when none). Several
-- purchases on one day are one purchase day; revenue counts every order. Guests are not
-- customers. The KPI marts, the customer facts and the stage history all start here.
--
-- Returns (docs/metrics.md, "Returns"), as seen on D (a return dated after D is not seen yet):
-- an order's return documents replace its refund_total; a sale returned in full (in its own
-- currency) by documents dated within return_window_days of its paid day is not a purchase;
-- the rest reduce the net revenue of the purchase day they return. A return that names no
-- known order goes against the customer's latest purchase day on or before it.
with orders as (
    select * from {{ ref('stg_shop__orders') }}
),

returns as (
    select * from {{ ref('stg_shop__returns') }}
    where is_counted
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

sales as (
    select orders.*
    from orders
    cross join as_of
    where
        orders.is_sale
        and not orders.is_guest
        and orders.paid_date <= as_of.as_of_date
),

order_returns as (
    select
        returns.order_id,
        sum(
            case when returns.returned_date <= as_of.as_of_date then returns.amount else 0 end
        ) as returned,
        sum(
            case
                when
                    returns.returned_date <= as_of.as_of_date
                    and returns.returned_date
                    <= {{ add_days('sales.paid_date', var('return_window_days')) }}
                    then returns.amount_in_order_currency
                else 0
            end
        ) as returned_in_window
    from returns
    inner join sales on returns.order_id = sales.order_id
    cross join as_of
    group by returns.order_id
),

purchases as (
    select
        sales.customer_id,
        sales.order_id,
        sales.paid_date,
        sales.order_total,
        sales.is_deal,
        case
            when order_returns.order_id is null then sales.refund_total else order_returns.returned
        end as refunds
    from sales
    left join order_returns on sales.order_id = order_returns.order_id
    where
        sales.original_order_total
        - case
            when order_returns.order_id is null then sales.original_refund_total
            else order_returns.returned_in_window
        end > 0
),

purchase_days as (
    select
        customer_id,
        paid_date as purchase_date,
        count(*) as orders,
        sum(order_total) as gross_revenue,
        sum(refunds) as order_refunds,
        sum(case when is_deal then 1 else 0 end) as deal_orders
    from purchases
    group by customer_id, paid_date
),

unlinked_returns as (
    select
        returns.return_id,
        returns.customer_id,
        returns.returned_date,
        returns.amount
    from returns
    cross join as_of
    where
        not returns.is_linked
        and not returns.is_guest
        and returns.returned_date <= as_of.as_of_date
),

-- each return that names no known order, against the latest purchase day on or before it
unlinked_by_day as (
    select
        customer_id,
        purchase_date,
        sum(amount) as returned
    from (
        select
            unlinked_returns.return_id,
            unlinked_returns.customer_id,
            unlinked_returns.amount,
            max(purchase_days.purchase_date) as purchase_date
        from unlinked_returns
        inner join purchase_days
            on
                unlinked_returns.customer_id = purchase_days.customer_id
                and purchase_days.purchase_date <= unlinked_returns.returned_date
        group by unlinked_returns.return_id, unlinked_returns.customer_id, unlinked_returns.amount
    ) as attributed
    group by customer_id, purchase_date
),

final as (
    select
        purchase_days.customer_id,
        purchase_days.purchase_date,
        purchase_days.orders,
        purchase_days.gross_revenue,
        purchase_days.order_refunds + coalesce(unlinked_by_day.returned, 0) as refunds,
        purchase_days.gross_revenue - purchase_days.order_refunds
        - coalesce(unlinked_by_day.returned, 0) as net_revenue,
        purchase_days.deal_orders,
        row_number() over (
            partition by purchase_days.customer_id order by purchase_days.purchase_date
        ) as purchase_day_number,
        min(purchase_days.purchase_date) over (partition by purchase_days.customer_id)
            as first_purchase_date,
        lag(purchase_days.purchase_date) over (
            partition by purchase_days.customer_id order by purchase_days.purchase_date
        ) as previous_purchase_date,
        lead(purchase_days.purchase_date) over (
            partition by purchase_days.customer_id order by purchase_days.purchase_date
        ) as next_purchase_date
    from purchase_days
    left join unlinked_by_day
        on
            purchase_days.customer_id = unlinked_by_day.customer_id
            and purchase_days.purchase_date = unlinked_by_day.purchase_date
)

select * from final
