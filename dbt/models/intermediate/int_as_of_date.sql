-- One row: the as-of day D of this build. The var as_of_date (a scheduled run passes its
-- partition day), or else the last day with data. The last day is computed either way, so
-- the model's parents do not change with the var (Dagster orders assets by them).
with orders as (
    select max(greatest(created_date, {{ to_store_date('updated_at') }})) as last_day
    from {{ ref('stg_shop__orders') }}
),

sessions as (
    select max(started_date) as last_day from {{ ref('stg_shop__sessions') }}
),

events as (
    select max(occurred_date) as last_day from {{ ref('stg_shop__events') }}
),

final as (
    select
        coalesce(
            {{ "cast('" ~ var('as_of_date') ~ "' as date)" if var('as_of_date') else 'cast(null as date)' }},
            greatest(orders.last_day, sessions.last_day, events.last_day)
        ) as as_of_date
    from orders
    cross join sessions
    cross join events
)

select * from final
