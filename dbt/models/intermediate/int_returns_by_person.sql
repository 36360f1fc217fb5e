-- One row per return document, as stg_shop__returns, with customer_id the person: the
-- person who placed the returned order when the return names one, else the person of the
-- return's own customer id. The shop's customer id stays in shop_customer_id.
{{ config(materialized=view_materialization()) }}
with returns as (
    select * from {{ ref('stg_shop__returns') }}
),

orders as (
    select * from {{ ref('int_orders_by_person') }}
),

identity_map as (
    select * from {{ ref('int_identity_map') }}
),

final as (
    select
        {{ star(ref('stg_shop__returns'), except=['customer_id'], relation_alias='returns') }},
        returns.customer_id as shop_customer_id,
        case when returns.is_linked then orders.customer_id else by_customer.person_id end as customer_id
    from returns
    left join orders on returns.order_id = orders.order_id
    left join identity_map as by_customer
        on by_customer.identifier_kind = 'customer_id' and returns.customer_id = by_customer.identifier
)

select * from final
