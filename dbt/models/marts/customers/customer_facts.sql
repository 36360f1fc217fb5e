-- One row per known customer as of D: value, recency, activity, profile, consent, tier and
-- the buy-till-you-die summary (docs/metrics.md, "Customer facts"). A customer is a person
-- (docs/identity.md): every account, guest checkout and browser of theirs counts here once;
-- the profile and contacts are their best ones (int_customer_profiles).
with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

-- the first day of each window ending on D (a window of n days is D - n + 1 to D)
windows as (
    select
        as_of_date,
        {{ add_days('as_of_date', -6) }} as last_7_days_from,
        {{ add_days('as_of_date', -29) }} as last_30_days_from,
        {{ add_days('as_of_date', -89) }} as last_90_days_from,
        {{ add_days('as_of_date', 1 - var('tier_window_days')) }} as tier_window_from,
        -- the days that leave the tier window within the downgrade horizon end here
        {{ add_days('as_of_date', var('downgrade_horizon_days') - var('tier_window_days')) }}
            as ageing_out_until
    from as_of
),

known as (
    select * from {{ ref('int_known_customers') }}
),

customers as (
    select * from {{ ref('int_customer_profiles') }}
),

purchase_days as (
    select * from {{ ref('int_purchase_days') }}
),

activity as (
    select * from {{ ref('int_customer_activity_days') }}
),

purchases as (
    select
        purchase_days.customer_id,
        min(purchase_days.purchase_date) as first_purchase_date,
        max(purchase_days.purchase_date) as last_purchase_date,
        count(*) as purchase_days,
        sum(purchase_days.orders) as orders,
        sum(purchase_days.gross_revenue) as gross_revenue,
        sum(purchase_days.net_revenue) as net_revenue,
        sum(purchase_days.refunds) as refunds,
        sum(purchase_days.deal_orders) as deal_orders,
        sum(
            case
                when purchase_days.purchase_date >= windows.tier_window_from
                    then purchase_days.net_revenue
                else 0
            end
        ) as tier_net_revenue,
        sum(
            case
                when purchase_days.purchase_date between windows.tier_window_from and windows.ageing_out_until
                    then purchase_days.net_revenue
                else 0
            end
        ) as ageing_out_net_revenue,
        -- the buy-till-you-die monetary value: mean net revenue of the repeat purchase days
        avg(
            case
                when purchase_days.purchase_day_number > 1
                    then cast(purchase_days.net_revenue as {{ type_double() }})
            end
        ) as monetary
    from purchase_days
    cross join windows
    group by purchase_days.customer_id
),

visits as (
    select
        activity.customer_id,
        max(case when activity.sessions > 0 then activity.activity_date end) as last_session_date,
        max(case when activity.events > 0 then activity.activity_date end) as last_event_date,
        sum(case when activity.activity_date >= windows.last_7_days_from then activity.sessions else 0 end)
            as sessions_7d,
        sum(case when activity.activity_date >= windows.last_30_days_from then activity.sessions else 0 end)
            as sessions_30d,
        sum(case when activity.activity_date >= windows.last_90_days_from then activity.sessions else 0 end)
            as sessions_90d,
        sum(case when activity.activity_date >= windows.last_7_days_from then activity.events else 0 end)
            as events_7d,
        sum(case when activity.activity_date >= windows.last_30_days_from then activity.events else 0 end)
            as events_30d,
        sum(case when activity.activity_date >= windows.last_90_days_from then activity.events else 0 end)
            as events_90d
    from activity
    cross join windows
    -- the activity days run to the newest build's D: a campaign day rebuilds these facts
    -- for an earlier D and must not see the days after it
    where activity.activity_date <= windows.as_of_date
    group by activity.customer_id
),

tiers as (
    select
        customer_id,
        {{ member_tier('tier_net_revenue') }} as member_tier,
        {{ member_tier('tier_net_revenue - ageing_out_net_revenue') }} as tier_after_ageing_out
    from purchases
),

profiles as (
    -- share of the optional profile fields filled (gender counts when F or M)
    select
        customer_id,
        {{ profile_completeness('phone_raw') }} as profile_completeness
    from customers
),

-- most units bought; for non-buyers, most viewed; ties alphabetically (built incrementally)
favourite as (
    select * from {{ ref('int_customer_favourite_category') }}
),

final as (
    select
        known.customer_id,
        known.has_profile,
        known.known_from_date,
        customers.registered_date,
        {{ days_between('customers.registered_date', 'as_of.as_of_date') }} as days_since_registration,
        as_of.as_of_date,
        purchases.first_purchase_date,
        purchases.last_purchase_date,
        coalesce(purchases.purchase_days, 0) as purchase_days,
        cast(coalesce(purchases.orders, 0) as {{ dbt.type_bigint() }}) as orders,
        coalesce(purchases.gross_revenue, 0) as gross_revenue,
        coalesce(purchases.net_revenue, 0) as net_revenue,
        coalesce(purchases.refunds, 0) as refunds,
        {{ safe_divide('purchases.net_revenue', 'purchases.orders') }} as aov,
        {{ days_between('purchases.last_purchase_date', 'as_of.as_of_date') }} as days_since_last_purchase,
        {{ days_between('purchases.first_purchase_date', 'as_of.as_of_date') }} as tenure_days,
        {{ safe_divide(
            days_between('purchases.first_purchase_date', 'purchases.last_purchase_date'),
            'purchases.purchase_days - 1'
        ) }} as mean_days_between_purchases,
        visits.last_session_date,
        visits.last_event_date,
        cast(coalesce(visits.sessions_7d, 0) as {{ dbt.type_bigint() }}) as sessions_7d,
        cast(coalesce(visits.sessions_30d, 0) as {{ dbt.type_bigint() }}) as sessions_30d,
        cast(coalesce(visits.sessions_90d, 0) as {{ dbt.type_bigint() }}) as sessions_90d,
        cast(coalesce(visits.events_7d, 0) as {{ dbt.type_bigint() }}) as events_7d,
        cast(coalesce(visits.events_30d, 0) as {{ dbt.type_bigint() }}) as events_30d,
        cast(coalesce(visits.events_90d, 0) as {{ dbt.type_bigint() }}) as events_90d,
        favourite.favourite_category,
        {{ safe_divide('purchases.deal_orders', 'purchases.orders') }} as deal_order_share,
        coalesce(profiles.profile_completeness, 0) as profile_completeness,
        customers.shop_customer_id,
        coalesce(customers.shop_customer_ids, 0) as shop_customer_ids,
        customers.push_customer_id,
        customers.email,
        customers.email_key,
        customers.has_valid_email,
        customers.phone_e164,
        customers.gender,
        customers.birth_date,
        customers.city_tier,
        customers.acquisition_channel,
        coalesce(customers.email_opt_in, false) as email_opt_in,
        coalesce(customers.sms_opt_in, false) as sms_opt_in,
        coalesce(customers.push_opt_in, false) as push_opt_in,
        -- who can be contacted on which channel: consent and a usable address
        coalesce(customers.email_opt_in and customers.has_valid_email, false) as is_reachable_by_email,
        coalesce(customers.sms_opt_in and customers.phone_e164 is not null, false) as is_reachable_by_sms,
        coalesce(customers.push_opt_in, false) as is_reachable_by_push,
        coalesce(purchases.tier_net_revenue, 0) as tier_net_revenue,
        coalesce(tiers.member_tier, {{ member_tier(0) }}) as member_tier,
        {{ amount_to_next_tier('coalesce(purchases.tier_net_revenue, 0)') }} as amount_to_next_tier,
        coalesce(
            {{ tier_rank('tiers.tier_after_ageing_out') }} < {{ tier_rank('tiers.member_tier') }}, false
        ) as has_downgrade_risk,
        -- buy-till-you-die summary, in days
        purchases.purchase_days - 1 as btyd_frequency,
        {{ days_between('purchases.first_purchase_date', 'purchases.last_purchase_date') }} as btyd_recency,
        {{ days_between('purchases.first_purchase_date', 'as_of.as_of_date') }} as btyd_t,
        purchases.monetary as btyd_monetary
    from known
    cross join as_of
    left join customers on known.customer_id = customers.customer_id
    left join purchases on known.customer_id = purchases.customer_id
    left join visits on known.customer_id = visits.customer_id
    left join favourite on known.customer_id = favourite.customer_id
    left join tiers on known.customer_id = tiers.customer_id
    left join profiles on known.customer_id = profiles.customer_id
)

select * from final
