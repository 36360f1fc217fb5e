-- One row per order, as stg_shop__orders, with customer_id the person who placed it
-- (docs/identity.md): the person of the order's customer id, else of its email, else of
-- its phone; null when none of them names a person (a guest checkout with no usable email
-- or phone). The shop's own customer id stays in shop_customer_id, is_guest says whether
-- the checkout was a guest's.
{{ config(materialized=view_materialization()) }}
with orders as (
    select * from {{ ref('stg_shop__orders') }}
),

identity_map as (
    select * from {{ ref('int_identity_map') }}
),

final as (
    select
        {{ star(ref('stg_shop__orders'), except=['customer_id'], relation_alias='orders') }},
        orders.customer_id as shop_customer_id,
        coalesce(by_customer.person_id, by_email.person_id, by_phone.person_id) as customer_id
    from orders
    left join identity_map as by_customer
        on by_customer.identifier_kind = 'customer_id' and orders.customer_id = by_customer.identifier
    left join identity_map as by_email
        on by_email.identifier_kind = 'email' and orders.email_key = by_email.identifier
    left join identity_map as by_phone
        on by_phone.identifier_kind = 'phone' and orders.phone_e164 = by_phone.identifier
)

select * from final
