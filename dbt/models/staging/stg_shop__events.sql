-- One row per event.
{{
    config(
        materialized=incremental_materialization(),
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
-- A table, not a view: the largest raw table is deduplicated once, as rows arrive, instead
-- of by every model that reads it. Each build takes the rows loaded since the last one; a
-- row delivered again replaces its earlier copy.
with newest as (
    {{ newest_version(
        source('raw', 'events'), ['event_id'],
        where="_loaded_at > (select max(_loaded_at) from " ~ this ~ ")" if is_incremental() else none
    ) }}
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
        order_id,
        _loaded_at,
        {{ build_started_at() }} as _built_at
    from newest
)

select * from final
