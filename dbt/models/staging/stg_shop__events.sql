-- One row per event.
with newest as (
    {{ newest_version(source('raw', 'events'), ['event_id']) }}
),

final as (
    select
        event_id,
        session_id,
        anonymous_id,
        customer_id,
        event_type,
        occurred_at,
        {{ to_store_date('occurred_at') }} as occurred_date,
        sku,
        category,
        search_query,
        order_id
    from newest
)

select * from final
