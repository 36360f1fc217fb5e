-- int_purchase_days with each customer's sequence: which purchase day this is, the first
-- one, the previous one and the next one (null when none). The KPI marts all start here.
with purchase_days as (
    select * from {{ ref('int_purchase_days') }}
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
