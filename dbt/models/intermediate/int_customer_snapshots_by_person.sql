-- Every delivered profile snapshot, as stg_shop__customer_snapshots, with customer_id the
-- person whose account it is; the account's id stays in shop_customer_id.
{{ config(materialized=view_materialization()) }}
with snapshots as (
    select * from {{ ref('stg_shop__customer_snapshots') }}
),

identity_map as (
    select * from {{ ref('int_identity_map') }}
),

final as (
    select
        {{ star(ref('stg_shop__customer_snapshots'), except=['customer_id'], relation_alias='snapshots') }},
        snapshots.customer_id as shop_customer_id,
        persons.person_id as customer_id
    from snapshots
    left join identity_map as persons
        on persons.identifier_kind = 'customer_id' and snapshots.customer_id = persons.identifier
)

select * from final
