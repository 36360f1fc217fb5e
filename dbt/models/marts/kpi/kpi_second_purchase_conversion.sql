-- One row per first-purchase day (cohort): of the customers whose first purchase day it was,
-- how many had a second purchase day within second_purchase_window_days. A cohort is
-- reported once that window has passed (first day + window <= D). Additive: sum by
-- iso_week_start or month_start for weekly or monthly cohorts.
with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

firsts as (
    select * from {{ ref('int_purchase_days') }}
    where purchase_day_number = 1
),

cohorts as (
    select
        firsts.first_purchase_date,
        count(*) as cohort_customers,
        sum(
            case
                when
                    firsts.next_purchase_date
                    <= {{ add_days('firsts.first_purchase_date', var('second_purchase_window_days')) }}
                    then 1
                else 0
            end
        ) as converted_customers
    from firsts
    cross join as_of
    where {{ add_days('firsts.first_purchase_date', var('second_purchase_window_days')) }} <= as_of.as_of_date
    group by firsts.first_purchase_date
),

final as (
    select
        cohorts.first_purchase_date,
        calendar.iso_week_start,
        calendar.month_start,
        cohorts.cohort_customers,
        cohorts.converted_customers,
        cast(cohorts.converted_customers as {{ type_double() }}) / cohorts.cohort_customers
            as conversion_rate
    from cohorts
    inner join calendar on cohorts.first_purchase_date = calendar.calendar_date
)

select * from final
