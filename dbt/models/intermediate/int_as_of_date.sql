-- One row: the as-of day D of this build. The var as_of_date, or else the environment variable
-- CRM_AS_OF_DATE (Dagster passes a run's day so: a var that changes makes dbt parse the whole
-- project again, while a changed environment variable re-parses only this file), or else the
-- last day with data. The last day is computed either way, so the model's parents do not
-- change with D (Dagster orders assets by them).
{%- set as_of_date = var('as_of_date', none) or env_var('CRM_AS_OF_DATE', '') %}
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
            {{ "cast('" ~ as_of_date ~ "' as date)" if as_of_date else 'cast(null as date)' }},
            greatest(orders.last_day, sessions.last_day, events.last_day)
        ) as as_of_date
    from orders
    cross join sessions
    cross join events
)

select * from final
