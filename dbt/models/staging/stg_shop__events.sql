-- One row per event.
with source as (
    select * from {{ source('raw', 'events') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by event_id
            order by _loaded_at desc, _source_file desc, _row_number desc
        ) as version_rank
    from source
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
    from ranked
    where version_rank = 1
)

select * from final
