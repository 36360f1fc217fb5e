-- Churn model features of every buyer at three cutoff days (macro churn_cutoffs): D, to
-- score, and two labelled cutoffs L = var churn_label_days apart, the newer the Monday on or
-- before D - L. Every feature of a labelled cutoff reads only data as it was known at the end
-- of its cutoff day: order versions updated by then, returns dated by then, profile
-- snapshots updated by then, activity up to then. The label is the one column that looks after the cutoff: no purchase
-- in the L days that follow, read from the purchase days of D.
-- D's purchases and favourite category come from the models of D (int_purchase_days and the
-- bought favourites of int_customer_favourite_category), built anyway: they read the orders
-- as they stand now, which on the daily run is what was known at the end of D. Going back
-- to each order's versions for D as well read every order and order line a second time.
-- Incremental: a build computes D, and a labelled cutoff only when it is not stored yet (they
-- move once a week); the post-hook keeps the three cutoffs of this D and no others (a full
-- build computes only those).
{{
    config(
        materialized=incremental_materialization(),
        unique_key='cutoff_date',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{% if is_incremental() %}delete from {{ this }} where cutoff_date not in (select cutoff_date from ({{ churn_cutoffs(ref('int_as_of_date')) }}) as current_cutoffs){% endif %}",
    )
}}

with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

purchase_days_at_d as (
    select * from {{ ref('int_purchase_days') }}
),

favourite_at_d as (
    select * from {{ ref('int_customer_favourite_category') }}
),

order_versions as (
    select * from {{ ref('int_order_versions_by_person') }}
),

customer_snapshots as (
    select * from {{ ref('int_customer_snapshots_by_person') }}
),

orders as (
    select * from {{ ref('int_orders_by_person') }}
),

returns as (
    select * from {{ ref('int_returns_by_person') }}
    where is_counted
),


order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

activity as (
    select * from {{ ref('int_customer_activity_days') }}
),

cutoffs as (
    select * from ({{ churn_cutoffs(ref('int_as_of_date')) }}) as all_cutoffs
    {% if is_incremental() %}
        -- a labelled cutoff already stored keeps its features and label until it moves on
        where
            cutoff_number = 0
            or cutoff_date not in (select cutoff_date from {{ this }} where churned is not null)
    {% endif %}
),

-- Each order as it stood at the end of each cutoff day. An order whose newest version was
-- updated by the cutoff stood then as it stands now (stg_shop__orders): every version of it
-- is that old. Only the orders updated since go back to their versions known at the cutoff.
current_orders as (
    select
        order_id,
        customer_id,
        paid_date,
        original_order_total,
        original_refund_total,
        order_total,
        refund_total,
        is_deal,
        is_sale,
        {{ to_store_date('updated_at') }} as updated_date
    from orders
    where customer_id is not null
),

updated_since as (
    select
        cutoffs.cutoff_date,
        current_orders.order_id
    from current_orders
    inner join cutoffs on current_orders.updated_date > cutoffs.cutoff_date
    where cutoffs.is_labelled
),

-- the raw versions of just those orders, picked out first: joined to the cutoffs directly,
-- every raw version of every order would be paired with them before the order ids matched
updated_order_versions as (
    select * from order_versions
    where customer_id is not null and order_id in (select updated_since.order_id from updated_since)
),

earlier_versions as (
    select
        updated_since.cutoff_date,
        updated_order_versions.*
    from updated_order_versions
    inner join updated_since on updated_order_versions.order_id = updated_since.order_id
    where {{ to_store_date('updated_order_versions.updated_at') }} <= updated_since.cutoff_date
),

versions_at_cutoff as (
    {{ newest_version('earlier_versions', ['cutoff_date', 'order_id'], 'updated_at desc') }}
),

-- the earlier versions in the reporting currency, at the rate of their own day
converted_versions as (
    {{ with_fx_rate('versions_at_cutoff', to_store_date('coalesce(fx_source.paid_at, fx_source.created_at)')) }}
),

-- the sales of each labelled cutoff, paid by then, as they stood then
sales as (
    select
        cutoffs.cutoff_date,
        current_orders.order_id,
        current_orders.customer_id,
        current_orders.paid_date,
        current_orders.original_order_total,
        current_orders.original_refund_total,
        current_orders.order_total,
        current_orders.refund_total,
        current_orders.is_deal
    from current_orders
    inner join cutoffs on current_orders.updated_date <= cutoffs.cutoff_date
    where
        cutoffs.is_labelled
        and current_orders.is_sale
        and current_orders.paid_date <= cutoffs.cutoff_date

    union all

    select
        cutoff_date,
        order_id,
        customer_id,
        {{ to_store_date('paid_at') }} as paid_date,
        order_total as original_order_total,
        coalesce(refund_total, 0) as original_refund_total,
        {{ to_reporting('order_total', 'fx_rate') }} as order_total,
        {{ to_reporting('coalesce(refund_total, 0)', 'fx_rate') }} as refund_total,
        {{ is_deal() }} as is_deal
    from converted_versions
    where
        {{ is_sale() }}
        and fx_rate is not null
        and {{ to_store_date('paid_at') }} <= cutoff_date
),

-- purchases and returns as seen on each labelled cutoff, by the rules of int_purchase_days
{{ purchase_day_ctes('sales', 'returns') }},

-- one row per cutoff, customer and purchase day first: the counts of days below are then
-- plain counts (count distinct over every order kept a set of days per customer)
purchase_days as (
    select
        cutoff_date,
        customer_id,
        purchase_date as paid_date,
        orders,
        deal_orders,
        net_revenue
    from pd_purchase_days

    union all

    select
        as_of.as_of_date as cutoff_date,
        purchase_days_at_d.customer_id,
        purchase_days_at_d.purchase_date as paid_date,
        purchase_days_at_d.orders,
        purchase_days_at_d.deal_orders,
        purchase_days_at_d.net_revenue
    from purchase_days_at_d
    cross join as_of
),

buyers as (
    select
        cutoff_date,
        customer_id,
        min(paid_date) as first_purchase_date,
        max(paid_date) as last_purchase_date,
        count(*) as purchase_days,
        count(case when paid_date > {{ add_days('cutoff_date', -365) }} then 1 end) as purchase_days_365d,
        sum(case when paid_date > {{ add_days('cutoff_date', -365) }} then net_revenue else 0 end)
            as net_revenue_365d,
        count(case when paid_date > {{ add_days('cutoff_date', -7) }} then 1 end) as purchase_days_7d,
        count(
            case
                when paid_date > {{ add_days('cutoff_date', -14) }} and paid_date <= {{ add_days('cutoff_date', -7) }}
                    then 1
            end
        ) as purchase_days_prev_7d,
        -- the share of orders bought on a deal
        cast(sum(deal_orders) as {{ type_double() }}) / sum(orders) as deal_order_share
    from purchase_days
    group by cutoff_date, customer_id
),

-- the last session day by each cutoff, in one pass over the activity (a column per cutoff)
cutoff_days as (
    select
        max(case when cutoff_number = 0 then cutoff_date end) as cutoff_0,
        max(case when cutoff_number = 1 then cutoff_date end) as cutoff_1,
        max(case when cutoff_number = 2 then cutoff_date end) as cutoff_2
    from cutoffs
),

last_sessions as (
    select
        activity.customer_id,
        max(case when activity.activity_date <= cutoff_days.cutoff_0 then activity.activity_date end)
            as last_session_0,
        max(case when activity.activity_date <= cutoff_days.cutoff_1 then activity.activity_date end)
            as last_session_1,
        max(case when activity.activity_date <= cutoff_days.cutoff_2 then activity.activity_date end)
            as last_session_2
    from activity
    cross join cutoff_days
    where activity.sessions > 0
    group by activity.customer_id
),

-- sessions in the 7 days up to each cutoff and in the 7 before
recent_sessions as (
    select
        cutoffs.cutoff_date,
        activity.customer_id,
        sum(case
            when activity.activity_date > {{ add_days('cutoffs.cutoff_date', -7) }} then activity.sessions
            else 0
        end) as sessions_7d,
        sum(case
            when activity.activity_date <= {{ add_days('cutoffs.cutoff_date', -7) }} then activity.sessions
            else 0
        end) as sessions_prev_7d
    from activity
    inner join cutoffs
        on
            activity.activity_date > {{ add_days('cutoffs.cutoff_date', -14) }}
            and activity.activity_date <= cutoffs.cutoff_date
    group by cutoffs.cutoff_date, activity.customer_id
),

visits as (
    select
        cutoffs.cutoff_date,
        last_sessions.customer_id,
        case cutoffs.cutoff_number
            when 0 then last_sessions.last_session_0
            when 1 then last_sessions.last_session_1
            else last_sessions.last_session_2
        end as last_session_date,
        coalesce(recent_sessions.sessions_7d, 0) as sessions_7d,
        coalesce(recent_sessions.sessions_prev_7d, 0) as sessions_prev_7d
    from last_sessions
    cross join cutoffs
    left join recent_sessions
        on
            cutoffs.cutoff_date = recent_sessions.cutoff_date
            and last_sessions.customer_id = recent_sessions.customer_id
),

profile_versions as (
    select
        cutoffs.cutoff_date,
        customer_snapshots.*
    from customer_snapshots
    inner join cutoffs on {{ to_store_date('customer_snapshots.updated_at') }} <= cutoffs.cutoff_date
),

-- each profile as it stood at the end of each cutoff day
profiles_at_cutoff as (
    {{ newest_version('profile_versions', ['cutoff_date', 'customer_id'], 'updated_at desc') }}
),

profiles as (
    select
        cutoff_date,
        customer_id,
        {{ profile_completeness() }} as profile_completeness,
        coalesce(email_opt_in, false) as email_opt_in,
        coalesce(sms_opt_in, false) as sms_opt_in
    from profiles_at_cutoff
),

-- bought: as D's favourite (int_customer_favourite_category), by the order alone
categories as (
    select
        sales.cutoff_date,
        sales.customer_id,
        order_items.category,
        row_number() over (
            partition by sales.cutoff_date, sales.customer_id
            order by sum(order_items.quantity) desc, order_items.category asc
        ) as category_rank
    from sales
    inner join order_items on sales.order_id = order_items.order_id
    where
        sales.original_order_total - sales.original_refund_total > 0
        and order_items.category is not null
    group by sales.cutoff_date, sales.customer_id, order_items.category
),

-- the most units bought by each labelled cutoff (ties alphabetically), and D's
favourite_categories as (
    select
        cutoff_date,
        customer_id,
        category
    from categories
    where category_rank = 1

    union all

    select
        as_of.as_of_date as cutoff_date,
        favourite_at_d.customer_id,
        favourite_at_d.favourite_category as category
    from favourite_at_d
    cross join as_of
    where favourite_at_d.favourite_is_bought
),

-- the label reads the purchase days of D: the orders as they stand at D
later_purchases as (
    select
        cutoffs.cutoff_date,
        purchase_days_at_d.customer_id
    from cutoffs
    inner join purchase_days_at_d
        on
            cutoffs.cutoff_date < purchase_days_at_d.purchase_date
            and {{ add_days('cutoffs.cutoff_date', var('churn_label_days')) }} >= purchase_days_at_d.purchase_date
    where cutoffs.is_labelled
    group by cutoffs.cutoff_date, purchase_days_at_d.customer_id
),

final as (
    select
        buyers.cutoff_date,
        buyers.customer_id,
        {{ days_between('buyers.last_purchase_date', 'buyers.cutoff_date') }} as recency_days,
        buyers.purchase_days,
        buyers.purchase_days_365d,
        buyers.net_revenue_365d,
        {{ days_between('buyers.first_purchase_date', 'buyers.cutoff_date') }} as tenure_days,
        buyers.purchase_days_7d - buyers.purchase_days_prev_7d as purchase_days_trend_7d,
        cast(coalesce(visits.sessions_7d, 0) - coalesce(visits.sessions_prev_7d, 0) as {{ dbt.type_bigint() }})
            as sessions_trend_7d,
        cast(coalesce(visits.sessions_7d, 0) as {{ dbt.type_bigint() }}) as sessions_7d,
        {{ days_between('visits.last_session_date', 'buyers.cutoff_date') }} as days_since_last_session,
        buyers.deal_order_share,
        coalesce(profiles.profile_completeness, 0) as profile_completeness,
        coalesce(profiles.email_opt_in, false) as email_opt_in,
        coalesce(profiles.sms_opt_in, false) as sms_opt_in,
        {{ tier_rank(member_tier('buyers.net_revenue_365d')) }} as tier_rank,
        favourite_categories.category as favourite_category,
        case
            when cutoffs.is_labelled then case when later_purchases.customer_id is null then 1 else 0 end
        end as churned,
        {{ build_started_at() }} as _built_at
    from buyers
    inner join cutoffs on buyers.cutoff_date = cutoffs.cutoff_date
    left join visits on buyers.cutoff_date = visits.cutoff_date and buyers.customer_id = visits.customer_id
    left join profiles on buyers.cutoff_date = profiles.cutoff_date and buyers.customer_id = profiles.customer_id
    left join favourite_categories
        on buyers.cutoff_date = favourite_categories.cutoff_date and buyers.customer_id = favourite_categories.customer_id
    left join later_purchases
        on buyers.cutoff_date = later_purchases.cutoff_date and buyers.customer_id = later_purchases.customer_id
)

select * from final
