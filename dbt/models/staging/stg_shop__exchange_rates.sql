-- Daily rates: one unit of `currency` is worth `rate` units of the reporting currency on
-- rate_date (a day in store time). A day delivered again keeps its newest load; rows for the
-- reporting currency itself are left out (it always converts at 1).
with newest as (
    {{ newest_version(source('raw', 'exchange_rates'), ['date', 'currency']) }}
),

final as (
    select
        date as rate_date,
        currency,
        rate
    from newest
    where currency != '{{ var("reporting_currency") }}'
)

select * from final
