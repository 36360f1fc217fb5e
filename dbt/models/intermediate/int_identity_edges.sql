-- One row per pair of identifiers seen together on a row, and one per identifier seen at all
-- (id_b = id_a): the identity graph's edges and nodes (docs/identity.md). Identifiers are
-- shop customer ids, normalised emails and phones, and anonymous ids (browsers, devices).
-- A profile snapshot links its customer id to its email and phone; an order its customer
-- id, email and phone to one another (every version of it); a logged-in visit or event its
-- anonymous id to its customer id, and a checkout event its anonymous id to the order's
-- buyer. Pairs are ordered by kind (customer_id, email, phone, anonymous_id), then id.
with snapshots as (
    select * from {{ ref('stg_shop__customer_snapshots') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

-- every version, so that an identifier once seen stays in the graph
order_versions as (
    select * from {{ ref('stg_shop__order_versions') }}
),

sessions as (
    select * from {{ ref('stg_shop__sessions') }}
),

events as (
    select * from {{ ref('stg_shop__events') }}
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
    from order_versions

    union all

    select
        'visit' as source,
        customer_id,
        cast(null as {{ dbt.type_string() }}) as email,
        cast(null as {{ dbt.type_string() }}) as phone,
        anonymous_id,
        started_at as seen_at,
        _loaded_at
    from sessions
    where customer_id is not null

    union all

    -- a checkout event names its order: the browser is linked to the order's buyer
    select
        'visit' as source,
        coalesce(events.customer_id, orders.customer_id) as customer_id,
        orders.email_key as email,
        orders.phone_e164 as phone,
        events.anonymous_id,
        events.occurred_at as seen_at,
        events._loaded_at
    from events
    left join orders on events.order_id = orders.order_id
    where events.customer_id is not null or orders.order_id is not null
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

final as (
    select
        kind_a,
        id_a,
        kind_b,
        id_b,
        sum(case when source = 'profile' then 1 else 0 end) as profile_rows,
        sum(case when source = 'order' then 1 else 0 end) as order_rows,
        sum(case when source = 'visit' then 1 else 0 end) as visit_rows,
        min(seen_at) as first_seen_at,
        min(_loaded_at) as first_loaded_at
    from pairs
    group by kind_a, id_a, kind_b, id_b
)

select * from final
