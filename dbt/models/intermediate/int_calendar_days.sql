-- One row per day from the first day the shop knew anyone to D, with its ISO week
-- (Monday) and month. Numbers come from a cross join of digits: portable to any engine.
with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

known as (
    select * from {{ ref('int_known_customers') }}
),

bounds as (
    select
        min(known.known_from_date) as first_date,
        max(as_of.as_of_date) as last_date
    from known
    cross join as_of
),

digits as (
    select 0 as digit
    union all
    select 1 as digit
    union all
    select 2 as digit
    union all
    select 3 as digit
    union all
    select 4 as digit
    union all
    select 5 as digit
    union all
    select 6 as digit
    union all
    select 7 as digit
    union all
    select 8 as digit
    union all
    select 9 as digit
),

numbers as (
    select ones.digit + 10 * tens.digit + 100 * hundreds.digit + 1000 * thousands.digit as day_number
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
    cross join digits as thousands
),

days as (
    select {{ add_days('bounds.first_date', 'numbers.day_number') }} as calendar_date
    from numbers
    cross join bounds
    where numbers.day_number <= {{ days_between('bounds.first_date', 'bounds.last_date') }}
),

final as (
    select
        calendar_date,
        {{ week_start('calendar_date') }} as iso_week_start,
        cast({{ dbt.date_trunc('month', 'calendar_date') }} as date) as month_start
    from days
)

select * from final
