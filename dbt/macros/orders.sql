{#- What an order is: the current state (stg_shop__orders), the state at a cutoff
    (int_churn_features), and its purchase days (purchase_day_ctes), one set of rules. -#}

{#- A sale (docs/metrics.md): paid and not cancelled (and, where amounts convert, with a
    rate for its day). -#}
{% macro is_sale() -%}
    (paid_at is not null and status != 'cancelled')
{%- endmacro %}

{#- An order that is a purchase on its own: a sale with a positive net amount;
    purchase_day_ctes also takes its return documents into account. -#}
{% macro is_purchase() -%}
    ({{ is_sale() }} and order_total - coalesce(refund_total, 0) > 0)
{%- endmacro %}

{#- Bought on a deal (var deal_promotion_types). -#}
{% macro is_deal() -%}
    coalesce(promotion_type, 'none') in ({{ sql_list(var('deal_promotion_types')) }})
{%- endmacro %}

{#- Purchase days from sales and return documents as seen on cutoff days (docs/metrics.md,
    "Money, returns and guests"): CTEs to put in a model's with-list, the last of them
    `pd_purchase_days`, one row per cutoff_date, customer_id and purchase_date with orders,
    gross_revenue, refunds, net_revenue and deal_orders. Used by int_purchase_days (one
    cutoff: D) and int_churn_features (the labelled cutoffs), so both apply the same rules.
    `sales`: one row per cutoff_date and sale of a known customer paid by then, with
    order_id, customer_id, paid_date, original_order_total, original_refund_total,
    order_total, refund_total (both in the reporting currency) and is_deal.
    `returns`: counted return documents, with stg_shop__returns' columns. A return counts on
    cutoffs on or after its day; an order's documents replace its refund_total; a sale
    returned in full, in its own currency, within return_window_days is no purchase; a
    return naming no known order goes against the customer's latest purchase day on or
    before it. -#}
{% macro purchase_day_ctes(sales, returns) -%}
pd_order_returns as (
    select
        sales.cutoff_date,
        sales.order_id,
        sum(case when returns.returned_date <= sales.cutoff_date then returns.amount else 0 end)
            as returned,
        sum(
            case
                when
                    returns.returned_date <= sales.cutoff_date
                    and returns.returned_date
                    <= {{ add_days('sales.paid_date', var('return_window_days')) }}
                    then returns.amount_in_order_currency
                else 0
            end
        ) as returned_in_window
    from {{ returns }} as returns
    inner join {{ sales }} as sales on returns.order_id = sales.order_id
    group by sales.cutoff_date, sales.order_id
),

pd_purchases as (
    select
        sales.cutoff_date,
        sales.customer_id,
        sales.paid_date,
        sales.order_total,
        sales.is_deal,
        case
            when pd_order_returns.order_id is null then sales.refund_total
            else pd_order_returns.returned
        end as refunds
    from {{ sales }} as sales
    left join pd_order_returns
        on
            sales.cutoff_date = pd_order_returns.cutoff_date
            and sales.order_id = pd_order_returns.order_id
    where
        sales.original_order_total
        - case
            when pd_order_returns.order_id is null then sales.original_refund_total
            else pd_order_returns.returned_in_window
        end > 0
),

pd_days as (
    select
        cutoff_date,
        customer_id,
        paid_date as purchase_date,
        count(*) as orders,
        sum(order_total) as gross_revenue,
        sum(refunds) as order_refunds,
        sum(case when is_deal then 1 else 0 end) as deal_orders
    from pd_purchases
    group by cutoff_date, customer_id, paid_date
),

-- each return naming no known order, against the latest purchase day on or before it
pd_unlinked as (
    select
        cutoff_date,
        customer_id,
        purchase_date,
        sum(amount) as returned
    from (
        select
            pd_days.cutoff_date,
            returns.return_id,
            returns.customer_id,
            returns.amount,
            max(pd_days.purchase_date) as purchase_date
        from {{ returns }} as returns
        inner join pd_days
            on
                returns.customer_id = pd_days.customer_id
                and returns.returned_date >= pd_days.purchase_date
                and returns.returned_date <= pd_days.cutoff_date
        where not returns.is_linked and not returns.is_guest
        group by pd_days.cutoff_date, returns.return_id, returns.customer_id, returns.amount
    ) as attributed
    group by cutoff_date, customer_id, purchase_date
),

pd_purchase_days as (
    select
        pd_days.cutoff_date,
        pd_days.customer_id,
        pd_days.purchase_date,
        pd_days.orders,
        pd_days.gross_revenue,
        pd_days.order_refunds + coalesce(pd_unlinked.returned, 0) as refunds,
        pd_days.gross_revenue - pd_days.order_refunds - coalesce(pd_unlinked.returned, 0)
            as net_revenue,
        pd_days.deal_orders
    from pd_days
    left join pd_unlinked
        on
            pd_days.cutoff_date = pd_unlinked.cutoff_date
            and pd_days.customer_id = pd_unlinked.customer_id
            and pd_days.purchase_date = pd_unlinked.purchase_date
)
{%- endmacro %}
