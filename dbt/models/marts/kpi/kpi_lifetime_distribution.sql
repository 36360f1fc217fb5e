-- The lifetime distribution of churned customers as of D: how many churned customers had a
-- lifetime (last purchase day - first purchase day, in days) in each bin of
-- lifetime_bins_days (lower bounds; the last bin is open).
with lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

facts as (
    select * from {{ ref('customer_facts') }}
),

bins as (
    {% set bounds = var('lifetime_bins_days') %}
    {% for lower in bounds %}
        select
            {{ lower }} as lifetime_from_days,
            {{ bounds[loop.index] - 1 if not loop.last else 'cast(null as integer)' }} as lifetime_to_days
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

churned as (
    select {{ days_between('facts.first_purchase_date', 'facts.last_purchase_date') }} as lifetime_days
    from lifecycle
    inner join facts on lifecycle.customer_id = facts.customer_id
    where lifecycle.lifecycle_stage = {{ stage('churned') }}
),

final as (
    select
        bins.lifetime_from_days,
        bins.lifetime_to_days,
        count(churned.lifetime_days) as churned_customers,
        {{ safe_divide(
            'count(churned.lifetime_days)', 'sum(count(churned.lifetime_days)) over ()'
        ) }} as share
    from bins
    left join churned
        on
            bins.lifetime_from_days <= churned.lifetime_days
            and (bins.lifetime_to_days is null or bins.lifetime_to_days >= churned.lifetime_days)
    group by bins.lifetime_from_days, bins.lifetime_to_days
)

select * from final
