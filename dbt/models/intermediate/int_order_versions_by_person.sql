-- Every delivered version of every order, as stg_shop__order_versions, with customer_id the
-- person who placed the order (int_orders_by_person); the version's own customer id stays in
-- shop_customer_id.
{{ config(materialized=view_materialization()) }}
with order_versions as (
    select * from {{ ref('stg_shop__order_versions') }}
),

orders as (
    select * from {{ ref('int_orders_by_person') }}
),

final as (
    select
        {{ star(ref('stg_shop__order_versions'), except=['customer_id'], relation_alias='order_versions') }},
        order_versions.customer_id as shop_customer_id,
        orders.customer_id
    from order_versions
    left join orders on order_versions.order_id = orders.order_id
)

select * from final
