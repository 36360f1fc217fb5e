-- Spend per acquisition channel and day; a day delivered again keeps its newest load. The
-- spend is in the reporting currency at the day's rate (null with no rate: not counted).
with newest as (
    {{ newest_version(source('raw', 'marketing_spend'), ['date', 'channel']) }}
),

converted as (
    {{ with_fx_rate('newest', 'fx_source.date') }}
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
