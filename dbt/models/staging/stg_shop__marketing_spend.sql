-- Spend per acquisition channel and day; a day delivered again keeps its newest load. The
-- spend is in the reporting currency at the day's rate (null with no rate: not counted).
with newest as (
    {{ newest_version(source('raw', 'marketing_spend'), ['date', 'channel']) }}
),

rates as (
    select * from {{ ref('stg_shop__exchange_rates') }}
),

converted as (
    select
        newest.*,
        {{ fx_rate('newest.currency', 'rates.rate') }} as fx_rate
    from newest
    left join rates on newest.currency = rates.currency and newest.date = rates.rate_date
),

final as (
    select
        date as spend_date,
        channel,
        {{ to_reporting('spend', 'fx_rate') }} as spend,
        currency,
        spend as original_spend,
        fx_rate is not null as is_converted
    from converted
)

select * from final
