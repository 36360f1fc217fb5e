-- Per month (store time), what a finance person needs to tie the marts to the books
-- (docs/metrics.md, "Monthly reconciliation"): gross sales, returns and net sales, for known
-- customers and guests (from kpi_revenue); the order and return rows delivered, loaded and
-- quarantined, by the month of their landing folder (dt=), with the quarantined amounts in
-- the reporting currency at the rate of that day; and the rows held back for want of an
-- exchange rate, by the month of their own day.
with revenue as (
    select * from {{ ref('kpi_revenue') }}
    where period = 'month'
),

ledger as (
    select * from {{ source('raw', 'file_ledger') }}
    where status = 'loaded' and replaced_at is null and entity in ('orders', 'returns')
),

quarantine as (
    select * from {{ source('raw', 'quarantine') }}
    where entity in ('orders', 'returns')
),

without_rate as (
    select * from {{ ref('stg_shop__amounts_without_rate') }}
    where entity in ('orders', 'returns')
),

sales as (
    select
        period_start as month_start,
        sum(case when segment = 'all' then gross_sales else 0 end) as gross_sales,
        sum(case when segment = 'all' then returns else 0 end) as returns,
        sum(case when segment = 'all' then net_sales else 0 end) as net_sales,
        sum(case when segment = 'known' then orders else 0 end) as orders_known,
        sum(case when segment = 'known' then gross_sales else 0 end) as gross_sales_known,
        sum(case when segment = 'known' then returns else 0 end) as returns_known,
        sum(case when segment = 'known' then net_sales else 0 end) as net_sales_known,
        sum(case when segment = 'guest' then orders else 0 end) as orders_guest,
        sum(case when segment = 'guest' then gross_sales else 0 end) as gross_sales_guest,
        sum(case when segment = 'guest' then returns else 0 end) as returns_guest,
        sum(case when segment = 'guest' then net_sales else 0 end) as net_sales_guest
    from revenue
    group by period_start
),

delivered as (
    select
        {{ month_start('partition_date') }} as month_start,
        sum(case when entity = 'orders' then rows_read else 0 end) as order_rows_read,
        sum(case when entity = 'orders' then rows_loaded else 0 end) as order_rows_loaded,
        sum(case when entity = 'orders' then rows_quarantined else 0 end) as order_rows_quarantined,
        sum(case when entity = 'returns' then rows_read else 0 end) as return_rows_read,
        sum(case when entity = 'returns' then rows_loaded else 0 end) as return_rows_loaded,
        sum(case when entity = 'returns' then rows_quarantined else 0 end)
            as return_rows_quarantined
    from ledger
    group by {{ month_start('partition_date') }}
),

quarantined_amounts as (
    select
        {{ month_start('partition_date') }} as month_start,
        fx_rate,
        entity,
        amount
    from ({{ with_fx_rate('quarantine', 'fx_source.partition_date') }}) as converted
),

quarantined as (
    select
        month_start,
        sum(
            case
                when entity = 'orders' and fx_rate is not null
                    then {{ to_reporting('amount', 'fx_rate') }}
                else 0
            end
        ) as quarantined_order_amount,
        sum(
            case
                when entity = 'returns' and fx_rate is not null
                    then {{ to_reporting('amount', 'fx_rate') }}
                else 0
            end
        ) as quarantined_return_amount,
        sum(case when amount is null or fx_rate is null then 1 else 0 end)
            as quarantined_rows_without_amount
    from quarantined_amounts
    group by month_start
),

held_back as (
    select
        {{ month_start('amount_date') }} as month_start,
        count(*) as rows_without_rate
    from without_rate
    group by {{ month_start('amount_date') }}
),

months as (
    select month_start from sales
    union
    select month_start from delivered
    union
    select month_start from held_back
),

final as (
    select
        months.month_start,
        coalesce(sales.gross_sales, 0) as gross_sales,
        coalesce(sales.returns, 0) as returns,
        coalesce(sales.net_sales, 0) as net_sales,
        coalesce(sales.orders_known, 0) as orders_known,
        coalesce(sales.gross_sales_known, 0) as gross_sales_known,
        coalesce(sales.returns_known, 0) as returns_known,
        coalesce(sales.net_sales_known, 0) as net_sales_known,
        coalesce(sales.orders_guest, 0) as orders_guest,
        coalesce(sales.gross_sales_guest, 0) as gross_sales_guest,
        coalesce(sales.returns_guest, 0) as returns_guest,
        coalesce(sales.net_sales_guest, 0) as net_sales_guest,
        coalesce(delivered.order_rows_read, 0) as order_rows_read,
        coalesce(delivered.order_rows_loaded, 0) as order_rows_loaded,
        coalesce(delivered.order_rows_quarantined, 0) as order_rows_quarantined,
        coalesce(quarantined.quarantined_order_amount, 0) as quarantined_order_amount,
        coalesce(delivered.return_rows_read, 0) as return_rows_read,
        coalesce(delivered.return_rows_loaded, 0) as return_rows_loaded,
        coalesce(delivered.return_rows_quarantined, 0) as return_rows_quarantined,
        coalesce(quarantined.quarantined_return_amount, 0) as quarantined_return_amount,
        coalesce(quarantined.quarantined_rows_without_amount, 0)
            as quarantined_rows_without_amount,
        coalesce(held_back.rows_without_rate, 0) as rows_without_rate
    from months
    left join sales on months.month_start = sales.month_start
    left join delivered on months.month_start = delivered.month_start
    left join quarantined on months.month_start = quarantined.month_start
    left join held_back on months.month_start = held_back.month_start
)

select * from final
