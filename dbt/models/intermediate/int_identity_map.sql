-- One row per identifier: the person it belongs to, or why it joins nobody (docs/identity.md).
-- Customer ids, emails and phones of one connected component (int_identity_components) are
-- one person, unless the component holds more customer ids, emails or phones than a person
-- may hold: then it is split, each customer id a person, an email or phone with the one
-- customer id (a phone: else the one email) it is linked to, or a person of its own.
-- Blocked and shared identifiers (int_identity_nodes) join nobody. An anonymous id joins the
-- one person who logged in or checked out on it, within identity_max_anonymous_ids per
-- person (the most logged-in visits first).
-- A person is named by their earliest identifier (first loaded, then first seen, then
-- customer id before email before phone): the customer id itself, else 'g-' and a hash, so
-- a person keeps their id when an identifier joins, and a merge keeps the older id.
{{
    config(
        materialized=incremental_materialization(),
        unique_key=['identifier_kind', 'identifier'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
{%- set caps = identity_caps() %}
{%- set kind_rank = "case {0} when 'customer_id' then 1 when 'email' then 2 when 'phone' then 3 else 4 end" %}
with nodes as (
    select * from {{ ref('int_identity_nodes') }}
),

components as (
    select * from {{ ref('int_identity_components') }}
),

edges as (
    select * from {{ ref('int_identity_edges') }}
),

labelled as (
    select
        nodes.*,
        components.label,
        components.is_unsettled,
        components.sole_customer_node,
        components.sole_email_node
    from nodes
    inner join components on nodes.node = components.node
    where nodes.withheld_reason is null
),

groups as (
    select
        labelled.label,
        {%- for kind in caps %}
            count(case when labelled.kind = '{{ kind }}' then 1 end) as {{ kind }}s,
        {%- endfor %}
        max(case when labelled.is_unsettled then 1 else 0 end) = 1 as is_unsettled
    from labelled
    group by labelled.label
),

split_groups as (
    select
        label,
        case
            {%- for kind, cap in caps.items() %}
                when {{ kind }}s > {{ cap }}
                    then
                        'split: ' || cast({{ kind }}s as {{ dbt.type_string() }})
                        || ' {{ kind }}s linked (identity_max_{{ kind }}s is {{ cap }})'
            {%- endfor %}
            else 'split: more linked identifiers than a person may hold'
        end as split_reason
    from groups
    where is_unsettled {%- for kind, cap in caps.items() %} or {{ kind }}s > {{ cap }}{% endfor %}
),

grouped as (
    select
        labelled.kind,
        labelled.id,
        labelled.node,
        labelled.first_loaded_at,
        labelled.first_seen_at,
        split_groups.split_reason,
        case
            when split_groups.label is null then labelled.label
            when labelled.kind = 'customer_id' then labelled.node
            when labelled.sole_customer_node is not null then labelled.sole_customer_node
            when labelled.kind = 'phone' and labelled.sole_email_node is not null
                then coalesce(email_links.sole_customer_node, labelled.sole_email_node)
            else labelled.node
        end as person_group
    from labelled
    left join split_groups on labelled.label = split_groups.label
    left join components as email_links on labelled.sole_email_node = email_links.node
),

-- each group's earliest identifier names the person
named as (
    select
        grouped.*,
        first_value(grouped.kind) over earliest as first_kind,
        first_value(grouped.id) over earliest as first_id
    from grouped
    window earliest as (
        partition by grouped.person_group
        order by grouped.first_loaded_at, grouped.first_seen_at, {{ kind_rank.format('grouped.kind') }}, grouped.id
        rows between unbounded preceding and unbounded following
    )
),

persons as (
    select
        kind,
        id,
        first_loaded_at,
        first_seen_at,
        case
            when first_kind = 'customer_id' then first_id
            else 'g-' || left(md5(first_kind || ':' || first_id), 16)
        end as person_id,
        split_reason as reason
    from named
),

-- anonymous ids: the persons who logged in or checked out on each
device_logins as (
    select
        edges.id_b as anonymous_id,
        persons.person_id,
        sum(edges.visit_rows) as logged_in_rows,
        min(edges.first_loaded_at) as first_loaded_at,
        min(edges.first_seen_at) as first_seen_at
    from edges
    inner join persons on edges.kind_a = persons.kind and edges.id_a = persons.id
    where edges.kind_b = 'anonymous_id' and edges.kind_a != 'anonymous_id'
    group by edges.id_b, persons.person_id
),

devices as (
    select
        anonymous_id,
        count(*) as persons,
        max(person_id) as person_id,
        sum(logged_in_rows) as logged_in_rows,
        min(first_loaded_at) as first_loaded_at,
        min(first_seen_at) as first_seen_at
    from device_logins
    group by anonymous_id
),

ranked_devices as (
    select
        devices.*,
        case when devices.persons = 1 then row_number() over (
            partition by case when devices.persons = 1 then devices.person_id end
            order by devices.logged_in_rows desc, devices.first_loaded_at asc, devices.anonymous_id asc
        ) end as device_rank
    from devices
),

device_persons as (
    select
        'anonymous_id' as kind,
        anonymous_id as id,
        first_loaded_at,
        first_seen_at,
        case when persons = 1 and device_rank <= {{ var('identity_max_anonymous_ids') }} then person_id end
            as person_id,
        case
            when persons > 1
                then 'shared: logged in by ' || cast(persons as {{ dbt.type_string() }}) || ' persons'
            when device_rank > {{ var('identity_max_anonymous_ids') }}
                then 'over identity_max_anonymous_ids ({{ var("identity_max_anonymous_ids") }}): fewer logged-in visits'
        end as reason
    from ranked_devices
),

current_map as (
    select * from persons

    union all

    select
        nodes.kind,
        nodes.id,
        nodes.first_loaded_at,
        nodes.first_seen_at,
        cast(null as {{ dbt.type_string() }}) as person_id,
        nodes.withheld_reason as reason
    from nodes
    where nodes.withheld_reason is not null

    union all

    select * from device_persons
),

final as (
    select
        current_map.kind as identifier_kind,
        current_map.id as identifier,
        current_map.person_id,
        current_map.reason,
        {%- if is_incremental() %}
        previous.person_id as previous_person_id,
        {%- else %}
            cast(null as {{ dbt.type_string() }}) as previous_person_id,
        {%- endif %}
        current_map.first_loaded_at,
        current_map.first_seen_at,
        {{ build_started_at() }} as _built_at
    from current_map
    {%- if is_incremental() %}
    -- only what changed is written: a new identifier, another person or another reason
    left join {{ this }} as previous
        on current_map.kind = previous.identifier_kind and current_map.id = previous.identifier
    where
        previous.identifier is null
        or current_map.person_id is distinct from previous.person_id
        or current_map.reason is distinct from previous.reason
    {%- endif %}
)

select * from final
