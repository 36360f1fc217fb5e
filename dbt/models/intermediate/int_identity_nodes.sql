-- One row per customer id, email and phone of the identity graph (docs/identity.md): when it
-- was first loaded and first seen, how many identifiers of each kind it is linked to, and
-- why it joins nobody: a blocked address (identity_blocked_emails), or an email or phone
-- linked to more customer ids, emails or phones than a person may hold (shared).
-- On DuckDB a build recounts only the identifiers at either end of the links that
-- int_identity_edges wrote since (touched); the others' counts cannot have changed.
{{ config(**identity_graph_config('node')) }}
{%- set caps = identity_caps() %}
with edges as (
    select * from {{ ref('int_identity_edges') }}
),

strong_edges as (
    select * from edges
    where kind_a != 'anonymous_id' and kind_b != 'anonymous_id'
),

{%- if is_incremental() %}

    touched as (
        select
            kind_a as kind,
            id_a as id
        from strong_edges
        where {{ later_than_latest('_built_at', this) }}

        union

        select
            kind_b as kind,
            id_b as id
        from strong_edges
        where {{ later_than_latest('_built_at', this) }}
    ),
{%- endif %}

{%- set of_touched = 'inner join touched on {0}.kind_{1} = touched.kind and {0}.id_{1} = touched.id' if is_incremental() else '' %}

nodes as (
    select
        strong_edges.kind_b as kind,
        strong_edges.id_b as id,
        strong_edges.kind_b || ':' || strong_edges.id_b as node,
        strong_edges.first_loaded_at,
        strong_edges.first_seen_at
    from strong_edges
    {{ of_touched.format('strong_edges', 'b') }}
    where strong_edges.kind_a = strong_edges.kind_b and strong_edges.id_a = strong_edges.id_b
),

-- the other end of each link, both ways
linked as (
    select
        strong_edges.kind_a as kind,
        strong_edges.id_a as id,
        strong_edges.kind_b as linked_kind,
        strong_edges.id_b as linked_id
    from strong_edges
    {{ of_touched.format('strong_edges', 'a') }}
    where strong_edges.kind_a != strong_edges.kind_b or strong_edges.id_a != strong_edges.id_b

    union all

    select
        strong_edges.kind_b as kind,
        strong_edges.id_b as id,
        strong_edges.kind_a as linked_kind,
        strong_edges.id_a as linked_id
    from strong_edges
    {{ of_touched.format('strong_edges', 'b') }}
    where strong_edges.kind_a != strong_edges.kind_b or strong_edges.id_a != strong_edges.id_b
),

linked_counts as (
    select
        kind,
        id,
        count(distinct case when linked_kind = 'customer_id' then linked_id end) as linked_customer_ids,
        count(distinct case when linked_kind = 'email' then linked_id end) as linked_emails,
        count(distinct case when linked_kind = 'phone' then linked_id end) as linked_phones
    from linked
    group by kind, id
),

final as (
    select
        nodes.kind,
        nodes.id,
        nodes.node,
        nodes.first_loaded_at,
        nodes.first_seen_at,
        coalesce(linked_counts.linked_customer_ids, 0) as linked_customer_ids,
        coalesce(linked_counts.linked_emails, 0) as linked_emails,
        coalesce(linked_counts.linked_phones, 0) as linked_phones,
        case
            when nodes.kind = 'email' and {{ is_blocked_email('nodes.id') }}
                then 'blocked address (identity_blocked_emails)'
            {%- for kind, cap in caps.items() %}
                when nodes.kind != 'customer_id' and linked_counts.linked_{{ kind }}s > {{ cap }}
                    then
                        'shared: linked to ' || cast(linked_counts.linked_{{ kind }}s as {{ dbt.type_string() }})
                        || ' {{ kind }}s (identity_max_{{ kind }}s is {{ cap }})'
            {%- endfor %}
        end as withheld_reason,
        '{{ identity_settings_key() }}' as _identity_settings,
        {{ build_started_at() }} as _built_at
    from nodes
    left join linked_counts on nodes.kind = linked_counts.kind and nodes.id = linked_counts.id
)

select * from final
