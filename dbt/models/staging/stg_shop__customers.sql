-- Current profile per customer: the newest snapshot wins (an opt-out in a later snapshot
-- is an unsubscribe); older snapshots stay in raw.customers.
{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
-- A table, not a view: three models read it every day, and the snapshots are deduplicated
-- and the emails and phones checked once, as they arrive. Each build takes the customers
-- with a snapshot loaded since the last build and picks the newest among all theirs.
with newest as (
    {{ newest_version(
        source('raw', 'customers'), ['customer_id'], 'updated_at desc',
        where=touched_keys(source('raw', 'customers'), ['customer_id'], this) if is_incremental() else none
    ) }}
),

final as (
    select
        customer_id,
        nullif(lower(trim(email)), '') as email,
        {{ is_valid_email('lower(trim(email))') }} as has_valid_email,
        phone as phone_raw,
        {{ normalize_phone('phone', 'country') }} as phone_e164,
        gender,
        birth_date,
        country,
        province,
        city,
        city_tier,
        registered_at,
        {{ to_store_date('registered_at') }} as registered_date,
        acquisition_channel,
        coalesce(email_opt_in, false) as email_opt_in,
        coalesce(sms_opt_in, false) as sms_opt_in,
        coalesce(push_opt_in, false) as push_opt_in,
        updated_at,
        version_count as snapshot_count,
        _loaded_at,
        {{ build_started_at() }} as _built_at
    from newest
)

select * from final
