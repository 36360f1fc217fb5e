-- One row per pair of identifiers seen together on a row, and one per identifier seen at all
-- (id_b = id_a): the identity graph's edges and nodes (docs/identity.md). Identifiers are
-- shop customer ids, normalised emails and phones, and anonymous ids (browsers, devices).
-- A profile snapshot links its customer id to its email and phone; an order its customer
-- id, email and phone to one another (every version of it); a logged-in visit or event its
-- anonymous id to its customer id, and a checkout event its anonymous id to the order's
-- buyer (every version of the order). Pairs are ordered by kind (customer_id, email, phone,
-- anonymous_id), then id.
-- Read from the raw tables, every delivered row, so that a link once seen stays. On DuckDB a
-- build takes in the rows loaded since the latest it has taken (last_loaded_at) and adds
-- them to the pairs they carry: a daily build rewrites only the day's pairs, and equals a
-- full build. A row that carries no identifier leaves no trace and is read again, harmlessly:
-- it carries none again, and a checkout event whose order arrives later is paired with it
-- once (rows loaded before the latest taken in are read only for the pairs with new orders).
{{ config(**identity_graph_config(['kind_a', 'id_a', 'kind_b', 'id_b'])) }}
{%- set is_new = later_than_latest('_loaded_at', this, 'last_loaded_at') if is_incremental() else 'true' %}
with snapshots as (
    select * from {{ source('raw', 'customers') }}
    where {{ is_new }}
),

order_versions as (
    select * from {{ source('raw', 'orders') }}
),

new_order_versions as (
    select * from order_versions
    where {{ is_new }}
),

sessions as (
    select * from {{ source('raw', 'sessions') }}
    where {{ is_new }}
),

events as (
    select * from {{ source('raw', 'events') }}
),

new_events as (
    select * from events
    where {{ is_new }}
),

-- a checkout event and each version of its order; in a daily build, the new events with any
-- version, and the events taken in before with a new version
checkouts as (
    select
        new_events.anonymous_id,
        new_events.occurred_at,
        new_events._loaded_at as event_loaded_at,
        order_versions.customer_id,
        order_versions.email,
        order_versions.phone,
        order_versions._loaded_at as order_loaded_at
    from new_events
    inner join order_versions on new_events.order_id = order_versions.order_id
    {%- if is_incremental() %}

    union all

    select
        events.anonymous_id,
        events.occurred_at,
        events._loaded_at as event_loaded_at,
        new_order_versions.customer_id,
        new_order_versions.email,
        new_order_versions.phone,
        new_order_versions._loaded_at as order_loaded_at
    from events
    inner join new_order_versions on events.order_id = new_order_versions.order_id
    where not {{ later_than_latest('events._loaded_at', this, 'last_loaded_at') }}
    {%- endif %}
),

-- each row's identifiers, one column per kind
identified_rows as (
    select
        'profile' as source,
        customer_id,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone', 'country') }} as phone,
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        coalesce(registered_at, updated_at) as seen_at,
        _loaded_at
    from snapshots

    union all

    select
        'order' as source,
        customer_id,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        created_at as seen_at,
        _loaded_at
    from new_order_versions

    union all

    {%- for visits, seen_at in [('sessions', 'started_at'), ('new_events', 'occurred_at')] %}

        select
            'visit' as source,
            customer_id,
            cast(null as {{ dbt.type_string() }}) as email,
            cast(null as {{ dbt.type_string() }}) as phone,
            anonymous_id,
            {{ seen_at }} as seen_at,
            _loaded_at
        from {{ visits }}
        where customer_id is not null

        union all
    {%- endfor %}

    -- linked when both the event and the order version are loaded
    select
        'visit' as source,
        customer_id,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        anonymous_id,
        occurred_at as seen_at,
        greatest(event_loaded_at, order_loaded_at) as _loaded_at
    from checkouts
),

{%- set kinds = ['customer_id', 'email', 'phone', 'anonymous_id'] %}
{%- set kind_pairs = [] %}
{%- for a in kinds %}{% for b in kinds[loop.index0:] %}{% do kind_pairs.append((a, b)) %}{% endfor %}{% endfor %}

-- every pair of a row's identifiers in kind order, and every identifier with itself
pairs as (
    {%- for a, b in kind_pairs %}
        select
            source,
            '{{ a }}' as kind_a,
            {{ a }} as id_a,
            '{{ b }}' as kind_b,
            {{ b }} as id_b,
            seen_at,
            _loaded_at
        from identified_rows
        where
            {{ a }} is not null and {{ b }} is not null
            {%- if b == 'anonymous_id' %} and source = 'visit'
        {%- elif a != b %} and source != 'visit'{% endif %}
        {%- if not loop.last %}

            union all
        {% endif %}
    {%- endfor %}
),

new_pairs as (
    select
        kind_a,
        id_a,
        kind_b,
        id_b,
        sum(case when source = 'profile' then 1 else 0 end) as profile_rows,
        sum(case when source = 'order' then 1 else 0 end) as order_rows,
        sum(case when source = 'visit' then 1 else 0 end) as visit_rows,
        min(seen_at) as first_seen_at,
        min(_loaded_at) as first_loaded_at,
        max(_loaded_at) as last_loaded_at
    from pairs
    group by kind_a, id_a, kind_b, id_b
),

{%- set keys = ['kind_a', 'id_a', 'kind_b', 'id_b'] %}
{%- set measures = ['profile_rows', 'order_rows', 'visit_rows', 'first_seen_at', 'first_loaded_at', 'last_loaded_at'] %}

-- in a daily build, the new rows added to what the pairs already had
summed as (
    {%- if is_incremental() %}
        select
            {%- for key in keys %}
                {{ key }},
            {%- endfor %}
            sum(profile_rows) as profile_rows,
            sum(order_rows) as order_rows,
            sum(visit_rows) as visit_rows,
            min(first_seen_at) as first_seen_at,
            min(first_loaded_at) as first_loaded_at,
            max(last_loaded_at) as last_loaded_at
        from (
            select * from new_pairs

            union all

            select
                {%- for column in keys + measures %}
                    previous.{{ column }}{{ ',' if not loop.last }}
                {%- endfor %}
            from {{ this }} as previous
            inner join new_pairs
                on
                    {%- for key in keys %}
                        {{ 'and ' if not loop.first }}previous.{{ key }} = new_pairs.{{ key }}
                    {%- endfor %}
        ) as both_builds
        group by {{ keys | join(', ') }}
    {%- else %}
        select * from new_pairs
    {%- endif %}
),

final as (
    select
        summed.*,
        '{{ identity_settings_key() }}' as _identity_settings,
        {{ build_started_at() }} as _built_at
    from summed
)

select * from final
