-- One row per visit; customer_id is set when the visitor was logged in.
with source as (
    select * from {{ source('raw', 'sessions') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by session_id
            order by _loaded_at desc, _source_file desc, _row_number desc
        ) as version_rank
    from source
),

final as (
    select
        session_id,
        anonymous_id,
        customer_id,
        started_at,
        {{ to_store_date('started_at') }} as started_date,
        ended_at,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        device_type,
        landing_page
    from ranked
    where version_rank = 1
)

select * from final
