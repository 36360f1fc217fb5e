-- Current profile per customer: the newest snapshot wins (an opt-out in a later snapshot
-- is an unsubscribe); older snapshots stay in raw.customers. A quarantined snapshot at least
-- as new whose opt-in for a channel reads false withdraws that consent too: a row broken in
-- another field can take consent away, never give it.
{{
    config(
        materialized=incremental_materialization(),
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
-- A table, not a view: three models read it every day, and the snapshots are deduplicated
-- and the emails and phones checked once, as they arrive. Each build takes the customers
-- with a snapshot loaded since the last build and picks the newest among all theirs.
{%- set touched -%}
    ({{ touched_keys(source('raw', 'customers'), ['customer_id'], this) }}
    or customer_id in (
        select customer_id from {{ source('raw', 'quarantined_consent') }}
        where _loaded_at > (select max(_loaded_at) from {{ this }})
    ))
{%- endset %}
with newest as (
    {{ newest_version(
        source('raw', 'customers'), ['customer_id'], 'updated_at desc',
        where=touched if is_incremental() else none
    ) }}
),

withdrawn as (
    select
        newest.customer_id as withdrawn_customer_id,
        max(case when quarantined.email_opt_in = false then 1 else 0 end) as withdrawn_email,
        max(case when quarantined.sms_opt_in = false then 1 else 0 end) as withdrawn_sms,
        max(case when quarantined.push_opt_in = false then 1 else 0 end) as withdrawn_push
    from newest
    inner join {{ source('raw', 'quarantined_consent') }} as quarantined
        on
            newest.customer_id = quarantined.customer_id
            and newest.updated_at <= quarantined.updated_at
    group by newest.customer_id
),

consented as (
    select
        newest.*,
        coalesce(newest.email_opt_in and withdrawn.withdrawn_email is distinct from 1, false)
            as email_consent,
        coalesce(newest.sms_opt_in and withdrawn.withdrawn_sms is distinct from 1, false)
            as sms_consent,
        coalesce(newest.push_opt_in and withdrawn.withdrawn_push is distinct from 1, false)
            as push_consent
    from newest
    left join withdrawn on newest.customer_id = withdrawn.withdrawn_customer_id
),

final as (
    select
        customer_id,
        nullif(lower(trim(email)), '') as email,
        {{ is_valid_email('lower(trim(email))') }} as has_valid_email,
        {{ normalize_email('email') }} as email_key,
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
        email_consent as email_opt_in,
        sms_consent as sms_opt_in,
        push_consent as push_opt_in,
        updated_at,
        version_count as snapshot_count,
        _loaded_at,
        {{ build_started_at() }} as _built_at
    from consented
)

select * from final
