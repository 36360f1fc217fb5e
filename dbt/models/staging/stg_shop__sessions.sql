-- One row per visit; customer_id is set when the visitor was logged in.
with newest as (
    {{ newest_version(source('raw', 'sessions'), ['session_id']) }}
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
    from newest
)

select * from final
