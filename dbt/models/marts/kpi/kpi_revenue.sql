-- Revenue as the shop's books see it, up to D (docs/metrics.md, "Revenue and returns"): one
-- row per period (day, ISO week, month), per segment (known customers, guests, all).
--   gross sales: the order_total of sales (paid, not cancelled) on their paid day;
--   returns: return documents on the day they happen, plus the refund_total of sales that
--     have no return document, on the sale's paid day (refund_total carries no day);
--   net sales = gross sales - returns; return rate = returns / gross sales; the segment's
--   share of the period's net sales.
-- Guests (sales that resolve to no person, docs/identity.md: a guest checkout without a
-- usable email or phone, on the order or through it on the return) are a segment of their
-- own, so known + guest = all = the shop's total.
with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

orders as (
    select * from {{ ref('int_orders_by_person') }}
),

returns as (
    select * from {{ ref('int_returns_by_person') }}
    where is_counted
),

documented as (
    select distinct order_id
    from returns
    where is_linked
),

amounts as (
    select
        orders.paid_date as amount_date,
        orders.customer_id is null as is_guest,
        1 as orders,
        orders.order_total as gross_sales,
        case when documented.order_id is null then orders.refund_total else 0 end as returns
    from orders
    left join documented on orders.order_id = documented.order_id
    cross join as_of
    where orders.is_sale and orders.paid_date <= as_of.as_of_date

    union all

    select
        returns.returned_date as amount_date,
        returns.customer_id is null as is_guest,
        0 as orders,
        0 as gross_sales,
        returns.amount as returns
    from returns
    cross join as_of
    where returns.returned_date <= as_of.as_of_date
),

by_day as (
    select
        amount_date,
        case when is_guest then 'guest' else 'known' end as segment,
        sum(orders) as orders,
        sum(gross_sales) as gross_sales,
        sum(returns) as returns
    from amounts
    group by amount_date, case when is_guest then 'guest' else 'known' end
),

periods as (
    select
        'day' as period,
        amount_date as period_start,
        segment,
        orders,
        gross_sales,
        returns
    from by_day

    union all

    select
        'week' as period,
        {{ week_start('amount_date') }} as period_start,
        segment,
        orders,
        gross_sales,
        returns
    from by_day

    union all

    select
        'month' as period,
        {{ month_start('amount_date') }} as period_start,
        segment,
        orders,
        gross_sales,
        returns
    from by_day
),

by_segment as (
    select
        period,
        period_start,
        segment,
        sum(orders) as orders,
        sum(gross_sales) as gross_sales,
        sum(returns) as returns
    from periods
    group by period, period_start, segment
),

with_all as (
    select * from by_segment

    union all

    select
        period,
        period_start,
        'all' as segment,
        sum(orders) as orders,
        sum(gross_sales) as gross_sales,
        sum(returns) as returns
    from by_segment
    group by period, period_start
),

final as (
    select
        period,
        period_start,
        segment,
        orders,
        gross_sales,
        returns,
        gross_sales - returns as net_sales,
        {{ safe_divide('returns', 'gross_sales') }} as return_rate,
        {{ safe_divide(
            'gross_sales - returns',
            "sum(case when segment = 'all' then gross_sales - returns end)"
            ~ ' over (partition by period, period_start)'
        ) }} as share_of_net_sales
    from with_all
)

select * from final
