-- One row per customer id, email and phone (int_identity_nodes): for one that may join a
-- person (no withheld_reason), its connected component's label, the smallest node among
-- those it is linked to through open nodes, directly or not (docs/identity.md); null for a
-- withheld one. Labels spread one link per round; a group within the caps holds at most
-- identity_max_customer_ids + identity_max_emails + identity_max_phones nodes, so its
-- labels settle within one round fewer. A node still linked to another label after them
-- (is_unsettled) is in a group larger than the caps allow: int_identity_map splits it.
-- For that split, the one customer id and the one email each node is linked to, if one.
-- On DuckDB a build labels again only the groups that a node rewritten by int_identity_nodes
-- since belonged to (touched), the touched nodes, and the groups over the caps: under
-- unchanged identity settings links are only added and identifiers only withheld, so every
-- other group is what it was, and labels are computed within a group alone.
{{ config(**identity_graph_config('node')) }}
{%- set rounds = identity_caps().values() | sum - 1 %}
with all_nodes as (
    select * from {{ ref('int_identity_nodes') }}
),

{%- if is_incremental() %}

    touched as (
        select node from all_nodes
        where {{ later_than_latest('_built_at', this) }}
    ),

    -- the groups to label again: of the touched nodes, and those over the caps (whose nodes
    -- need not share one label)
    relabelled as (
        select previous.label
        from {{ this }} as previous
        inner join touched on previous.node = touched.node
        where previous.label is not null

        union

        select label from {{ this }}
        where is_unsettled
    ),

    in_scope as (
        select node from touched

        union

        select previous.node
        from {{ this }} as previous
        inner join relabelled on previous.label = relabelled.label
    ),

    scoped_nodes as (
        select all_nodes.*
        from all_nodes
        inner join in_scope on all_nodes.node = in_scope.node
    ),
{%- else %}

    scoped_nodes as (
        select * from all_nodes
    ),
{%- endif %}

nodes as (
    select * from scoped_nodes
    where withheld_reason is null
),

edges as (
    select * from {{ ref('int_identity_edges') }}
    where kind_b != 'anonymous_id'
),

linked as (
    select
        a.node as node_a,
        a.kind as kind_a,
        b.node as node_b,
        b.kind as kind_b
    from edges
    inner join nodes as a on edges.kind_a = a.kind and edges.id_a = a.id
    inner join nodes as b on edges.kind_b = b.kind and edges.id_b = b.id
    where a.node != b.node
),

-- links between two open nodes, both ways
open_links as (
    select
        node_a,
        node_b,
        kind_b
    from linked
    union all
    select
        node_b as node_a,
        node_a as node_b,
        kind_a as kind_b
    from linked
),

-- each node and its neighbours, itself included
neighbours as (
    select
        node_a as node,
        node_b as neighbour
    from open_links
    union all
    select
        node,
        node as neighbour
    from nodes
),

-- every round, a node takes the smallest label among its neighbours
labels_0 as (
    select
        node,
        node as label
    from nodes
),
{%- for i in range(1, rounds + 1) %}

    labels_{{ i }} as (
        select
            neighbours.node,
            min(previous.label) as label
        from neighbours
        inner join labels_{{ i - 1 }} as previous on neighbours.neighbour = previous.node
        group by neighbours.node
    ),
{%- endfor %}

link_summary as (
    select
        open_links.node_a as node,
        max(case when labels.label != neighbour_labels.label then 1 else 0 end) = 1 as is_unsettled,
        case
            when count(distinct case when open_links.kind_b = 'customer_id' then open_links.node_b end) = 1
                then max(case when open_links.kind_b = 'customer_id' then open_links.node_b end)
        end as sole_customer_node,
        case
            when count(distinct case when open_links.kind_b = 'email' then open_links.node_b end) = 1
                then max(case when open_links.kind_b = 'email' then open_links.node_b end)
        end as sole_email_node
    from open_links
    inner join labels_{{ rounds }} as labels on open_links.node_a = labels.node
    inner join labels_{{ rounds }} as neighbour_labels on open_links.node_b = neighbour_labels.node
    group by open_links.node_a
),

final as (
    select
        scoped_nodes.node,
        labels.label,
        coalesce(link_summary.is_unsettled, false) as is_unsettled,
        link_summary.sole_customer_node,
        link_summary.sole_email_node,
        '{{ identity_settings_key() }}' as _identity_settings,
        {{ build_started_at() }} as _built_at
    from scoped_nodes
    left join labels_{{ rounds }} as labels on scoped_nodes.node = labels.node
    left join link_summary on scoped_nodes.node = link_summary.node
)

select * from final
