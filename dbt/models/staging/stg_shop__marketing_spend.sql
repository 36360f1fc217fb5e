-- Spend per acquisition channel and day; a day delivered again keeps its newest load.
with newest as (
    {{ newest_version(source('raw', 'marketing_spend'), ['date', 'channel']) }}
),

final as (
    select
        date as spend_date,
        channel,
        spend,
        currency
    from newest
)

select * from final
