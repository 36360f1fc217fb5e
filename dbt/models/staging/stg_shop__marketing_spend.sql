-- Spend per acquisition channel and day; a day delivered again keeps its newest load.
with source as (
    select * from {{ source('raw', 'marketing_spend') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by date, channel
            order by _loaded_at desc, _source_file desc, _row_number desc
        ) as version_rank
    from source
),

final as (
    select
        date as spend_date,
        channel,
        spend,
        currency
    from ranked
    where version_rank = 1
)

select * from final
