-- One row per customer with at least one purchase as of D: R, F and M values, 1-5 scores,
-- the 125-cell code and the eight RFM groups (docs/metrics.md, "RFM").
-- R is days since the last purchase over all history; F (purchase days) and M (net revenue)
-- are over the RFM window. A buyer with no purchase in the window has F = M = 0 and F score 1.
with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

facts as (
    select * from {{ ref('customer_facts') }}
),

purchase_days as (
    select * from {{ ref('int_purchase_days') }}
),

groups as (
    select * from {{ ref('rfm_groups') }}
),

in_window as (
    select
        purchase_days.customer_id,
        count(*) as frequency_days,
        sum(purchase_days.net_revenue) as monetary
    from purchase_days
    cross join as_of
    where purchase_days.purchase_date > {{ add_days('as_of.as_of_date', -var('rfm_window_days')) }}
    group by purchase_days.customer_id
),

rfm_values as (
    select
        facts.customer_id,
        facts.as_of_date,
        facts.days_since_last_purchase as recency_days,
        coalesce(in_window.frequency_days, 0) as frequency_days,
        coalesce(in_window.monetary, 0) as monetary
    from facts
    left join in_window on facts.customer_id = in_window.customer_id
    where facts.purchase_days >= 1
),

scored as (
    select
        *,
        {{ quintile_score('recency_days desc') }} as r_score,
        {{ f_score('frequency_days') }} as f_score,
        {{ quintile_score('monetary asc') }} as m_score
    from rfm_values
),

centers as (
    select
        {{ center_of('recency_days') }} as recency_center,
        {{ center_of('frequency_days') }} as frequency_center,
        {{ center_of('monetary') }} as monetary_center
    from rfm_values
),

flagged as (
    select
        scored.*,
        scored.r_score * 100 + scored.f_score * 10 + scored.m_score as rfm_cell,
        scored.recency_days < centers.recency_center as is_r_high,
        scored.frequency_days > centers.frequency_center as is_f_high,
        scored.monetary > centers.monetary_center as is_m_high
    from scored
    cross join centers
),

final as (
    select
        flagged.customer_id,
        flagged.as_of_date,
        flagged.recency_days,
        flagged.frequency_days,
        flagged.monetary,
        flagged.r_score,
        flagged.f_score,
        flagged.m_score,
        flagged.rfm_cell,
        flagged.is_r_high,
        flagged.is_f_high,
        flagged.is_m_high,
        groups.rfm_group,
        groups.name_zh as rfm_group_zh
    from flagged
    inner join groups
        on
            flagged.is_r_high = groups.is_r_high
            and flagged.is_f_high = groups.is_f_high
            and flagged.is_m_high = groups.is_m_high
)

select * from final
