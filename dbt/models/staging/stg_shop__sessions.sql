-- One row per visit; customer_id is set when the visitor was logged in.
{{
    config(
        materialized=incremental_materialization(),
        unique_key='session_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
-- A table, not a view: the largest raw table is deduplicated once, as rows arrive, instead
-- of by every model that reads it. Each build takes the rows loaded since the last one; a
-- row delivered again replaces its earlier copy.
with newest as (
    {{ newest_version(
        source('raw', 'sessions'), ['session_id'],
        where="_loaded_at > (select max(_loaded_at) from " ~ this ~ ")" if is_incremental() else none
    ) }}
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
        landing_page,
        _loaded_at,
        {{ build_started_at() }} as _built_at
    from newest
)

select * from final
