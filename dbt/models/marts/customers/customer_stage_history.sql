{{
    config(
        materialized=incremental_materialization(),
        unique_key=['customer_id', 'valid_from'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook=[
            "{{ rewind_spells(this, var('restate_days')) }}",
            "{{ forget_restated_persons(this) }}",
        ],
    )
}}
-- depends_on: {{ ref('int_identity_map') }} (read by an incremental build: restated_persons)
-- The lifecycle stage of every known customer on every day, stored as spells: one row per
-- customer per unbroken run of days in one stage, valid_from to valid_to (both inclusive).
-- The first build covers all history; each later build first restates the last
-- restate_days days it covered (late orders, refunds and events within them are taken
-- in: macro rewind_spells), then adds the days after, up to D, and extends the spells that go
-- on. A person whose identifiers changed (docs/identity.md) is built again from their first
-- day. Data later than that reaches the history with a full refresh
-- (dbt build --full-refresh --select customer_stage_history).
--
-- Stages (docs/metrics.md): a buyer's stage on day d follows the days since the last purchase on
-- or before d; before the first purchase a person is a prospect, by the strongest activity
-- in the prospect window ending on d.

with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

known as (
    select * from {{ ref('int_known_customers') }}
),

purchase_days as (
    select
        customer_id,
        purchase_date,
        next_purchase_date
    from {{ ref('int_purchase_days') }}
),

activity as (
    select * from {{ ref('int_customer_activity_days') }}
),

covered as (
    {% if is_incremental() %}
        select max(valid_to) as through_date from {{ this }}
    {% else %}
        select cast(null as date) as through_date
    {% endif %}
),

-- the days this build adds: after the last covered day, up to D
bounds as (
    select
        {{ add_days('covered.through_date', 1) }} as from_date,
        as_of.as_of_date as to_date
    from as_of
    cross join covered
),

-- the persons whose identifiers changed (a merge, a browser that joined) start again from
-- their first day: the pre-hook forgot their spells
restated as (
    {{ restated_persons(this) }}
),

person_bounds as (
    select
        known.customer_id,
        case when restated.customer_id is null then bounds.from_date end as from_date,
        bounds.to_date
    from known
    cross join bounds
    left join restated on known.customer_id = restated.customer_id
),

bands as (
    {{ stage_bands() }}
),

-- buyers: after each purchase day, the recency bands until the next purchase day
buyer_segments as (
    select
        purchase_days.customer_id,
        bands.lifecycle_stage,
        {{ add_days('purchase_days.purchase_date', 'bands.min_days') }} as valid_from,
        least(
            coalesce(
                {{ add_days('purchase_days.purchase_date', 'bands.max_days') }}, bounds.to_date
            ),
            coalesce({{ add_days('purchase_days.next_purchase_date', -1) }}, bounds.to_date),
            bounds.to_date
        ) as valid_to
    from purchase_days
    cross join bands
    inner join person_bounds as bounds on purchase_days.customer_id = bounds.customer_id
    -- an incremental build needs only the purchase days whose bands reach its days
    where
        bounds.from_date is null
        or purchase_days.next_purchase_date is null
        or purchase_days.next_purchase_date > bounds.from_date
),

first_purchase as (
    select
        customer_id,
        min(purchase_date) as first_purchase_date
    from purchase_days
    group by customer_id
),

-- prospects: from the day a person is known until the day before the first purchase
prospect_range as (
    select
        known.customer_id,
        known.known_from_date as from_day,
        least(
            coalesce({{ add_days('first_purchase.first_purchase_date', -1) }}, bounds.to_date),
            bounds.to_date
        ) as to_day
    from known
    left join first_purchase on known.customer_id = first_purchase.customer_id
    inner join person_bounds as bounds on known.customer_id = bounds.customer_id
    where
        bounds.from_date is null
        or first_purchase.first_purchase_date is null
        or first_purchase.first_purchase_date > bounds.from_date
),

-- an incremental build's days see no further back than one prospect window before them
prospect_activity as (
    select activity.*
    from activity
    inner join prospect_range
        on
            activity.customer_id = prospect_range.customer_id
            and activity.activity_date <= prospect_range.to_day
    inner join person_bounds as bounds on activity.customer_id = bounds.customer_id
    where
        bounds.from_date is null
        or activity.activity_date > {{ add_days('bounds.from_date', -var('prospect_window_days')) }}
),

-- the stage can only change on the first known day (or an incremental build's first day),
-- on an activity day, or the day an activity leaves the window
change_days as (
    select
        prospect_range.customer_id,
        case
            when bounds.from_date > prospect_range.from_day then bounds.from_date
            else prospect_range.from_day
        end as change_date
    from prospect_range
    inner join person_bounds as bounds on prospect_range.customer_id = bounds.customer_id
    union
    select
        customer_id,
        activity_date
    from prospect_activity
    union
    select
        customer_id,
        {{ add_days('activity_date', var('prospect_window_days')) }}
    from prospect_activity
),

change_levels as (
    select
        change_days.customer_id,
        change_days.change_date,
        max(prospect_activity.activity_level) as activity_level
    from change_days
    inner join prospect_range
        on
            change_days.customer_id = prospect_range.customer_id
            and change_days.change_date between prospect_range.from_day and prospect_range.to_day
    inner join person_bounds as bounds on change_days.customer_id = bounds.customer_id
    left join prospect_activity
        on
            change_days.customer_id = prospect_activity.customer_id
            and prospect_activity.activity_date
            between {{ add_days('change_days.change_date', 1 - var('prospect_window_days')) }}
            and change_days.change_date
    where bounds.from_date is null or change_days.change_date >= bounds.from_date
    group by change_days.customer_id, change_days.change_date
),

prospect_segments as (
    select
        change_levels.customer_id,
        {{ prospect_stage('change_levels.activity_level') }} as lifecycle_stage,
        change_levels.change_date as valid_from,
        coalesce(
            {{ add_days(
                'lead(change_levels.change_date) over (
                    partition by change_levels.customer_id order by change_levels.change_date
                )', -1) }},
            prospect_range.to_day
        ) as valid_to
    from change_levels
    inner join prospect_range on change_levels.customer_id = prospect_range.customer_id
),

-- only the days this build adds
segments as (
    select
        all_segments.customer_id,
        all_segments.lifecycle_stage,
        case
            when bounds.from_date > all_segments.valid_from then bounds.from_date
            else all_segments.valid_from
        end as valid_from,
        all_segments.valid_to
    from (
        select * from buyer_segments
        union all
        select * from prospect_segments
    ) as all_segments
    inner join person_bounds as bounds on all_segments.customer_id = bounds.customer_id
    where
        all_segments.valid_from <= all_segments.valid_to
        and (bounds.from_date is null or all_segments.valid_to >= bounds.from_date)
),

-- consecutive segments in the same stage make one spell
flagged as (
    select
        *,
        case
            when
                lag(lifecycle_stage) over customer_days = lifecycle_stage
                and {{ add_days('lag(valid_to) over customer_days', 1) }} = valid_from
                then 0
            else 1
        end as starts_spell
    from segments
    window customer_days as (partition by customer_id order by valid_from)
),

numbered as (
    select
        *,
        sum(starts_spell) over (
            partition by customer_id order by valid_from rows unbounded preceding
        ) as spell_number
    from flagged
),

new_spells as (
    select
        customer_id,
        lifecycle_stage,
        min(valid_from) as valid_from,
        max(valid_to) as valid_to
    from numbered
    group by customer_id, spell_number, lifecycle_stage
),

{% if is_incremental() %}

    -- a spell that goes on across the boundary keeps its valid_from and gets a new valid_to
    open_spells as (
        select existing.*
        from {{ this }} as existing
        cross join covered
        where existing.valid_to = covered.through_date
    ),

    continued as (
        select
            open_spells.customer_id,
            open_spells.lifecycle_stage,
            open_spells.valid_from,
            new_spells.valid_to,
            new_spells.valid_from as continued_from
        from open_spells
        inner join new_spells
            on
                open_spells.customer_id = new_spells.customer_id
                and open_spells.lifecycle_stage = new_spells.lifecycle_stage
                and {{ add_days('open_spells.valid_to', 1) }} = new_spells.valid_from
    ),

    spells as (
        select customer_id, lifecycle_stage, valid_from, valid_to
        from continued

        union all

        select new_spells.customer_id, new_spells.lifecycle_stage, new_spells.valid_from, new_spells.valid_to
        from new_spells
        left join continued
            on
                new_spells.customer_id = continued.customer_id
                and new_spells.valid_from = continued.continued_from
        where continued.customer_id is null
    ),

{% else %}

    spells as (
        select * from new_spells
    ),

{% endif %}

final as (
    select
        customer_id,
        lifecycle_stage,
        valid_from,
        valid_to,
        {{ days_between('valid_from', 'valid_to') }} + 1 as days_in_stage,
        {{ build_started_at() }} as _built_at
    from spells
)

select * from final
