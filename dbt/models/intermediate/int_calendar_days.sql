-- One row per day from the first day the shop knew anyone to D, with its ISO week
-- (Monday) and month. Any span: the earliest day is bounded by the data contract's
-- earliest_plausible_date, not by the calendar.
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

days as (
    {{ date_spine(
        'day',
        '(select first_date from bounds)',
        add_days('(select last_date from bounds)', 1),
    ) }}
),

final as (
    select
        date_day as calendar_date,
        {{ week_start('date_day') }} as iso_week_start,
        {{ month_start('date_day') }} as month_start
    from days
)

select * from final
