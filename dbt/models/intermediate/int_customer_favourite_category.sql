{{
    config(
        materialized=incremental_materialization(),
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ empty_if_d_moved_back(this) }}",
        post_hook="{% if is_incremental() %}delete from {{ this }} where favourite_category is null{% endif %}",
    )
}}
-- depends_on: {{ ref('int_identity_map') }} (read by an incremental build: restated_persons)
-- Each customer's favourite category as of D (docs/metrics.md, "Customer facts"): the most units
-- bought; for a customer who bought nothing, the most viewed; ties alphabetically. One row
-- per customer with a bought or viewed category; favourite_is_bought tells which (the churn
-- features of D take the bought ones).
-- Incremental, because it reads every order line and every event: a build recomputes only
-- the customers with orders, order lines or events loaded since the last build (its rows
-- keep the newest load time of each source), or dated after the last build's D up to this
-- one, and the persons whose identifiers changed (int_identity_map). A D earlier than the
-- last build's starts again from scratch (the pre-hook empties the table). A customer whose
-- recomputed favourite is gone is deleted (the post-hook).
-- Every row needs favourite_is_bought (the churn features read it): a table built before
-- the column existed fails the build (on_schema_change) until it is rebuilt with --full-refresh.
-- The staging tables and the views by person are read by name, not through import CTEs: DuckDB copies a CTE read
-- more than once into a temporary table first, all 61M events of it.
with as_of as (
    select * from {{ ref('int_as_of_date') }}
),

loaded as (
    select
        (select max(_loaded_at) from {{ ref('stg_shop__orders') }}) as orders_loaded_through,
        (select max(_loaded_at) from {{ ref('stg_shop__order_items') }}) as order_items_loaded_through,
        (select max(_loaded_at) from {{ ref('stg_shop__events') }}) as events_loaded_through
),

{% if is_incremental() %}
    previous as (
        select
            max(as_of_date) as as_of_date,
            max(orders_loaded_through) as orders_loaded_through,
            max(order_items_loaded_through) as order_items_loaded_through,
            max(events_loaded_through) as events_loaded_through
        from {{ this }}
    ),

    -- an empty table (the first build, or after the pre-hook) has no D: everyone. A source
    -- that was empty at the last build has no watermark: all of its rows are new
    scope as (
        select orders.customer_id
        from {{ ref('int_orders_by_person') }} as orders
        cross join previous
        cross join as_of
        where
            orders.customer_id is not null
            and (
                previous.as_of_date is null
                or previous.orders_loaded_through is null
                or orders._loaded_at > previous.orders_loaded_through
                or (orders.paid_date > previous.as_of_date and orders.paid_date <= as_of.as_of_date)
            )

        union

        select orders.customer_id
        from {{ ref('stg_shop__order_items') }} as order_items
        cross join previous
        inner join {{ ref('int_orders_by_person') }} as orders on order_items.order_id = orders.order_id
        where
            orders.customer_id is not null
            and (
                previous.order_items_loaded_through is null
                or order_items._loaded_at > previous.order_items_loaded_through
            )

        union

        select events.customer_id
        from {{ ref('int_events_by_person') }} as events
        cross join previous
        cross join as_of
        where
            events.customer_id is not null
            and (
                previous.as_of_date is null
                or previous.events_loaded_through is null
                or events._loaded_at > previous.events_loaded_through
                or (events.occurred_date > previous.as_of_date and events.occurred_date <= as_of.as_of_date)
            )

        union

        -- the persons whose identifiers changed in this build: their orders and events are
        -- others now
        {{ restated_persons() }}
    ),

    scoped_orders as (
        select * from {{ ref('int_orders_by_person') }}
        where customer_id in (select scope.customer_id from scope)
    ),

    scoped_events as (
        select * from {{ ref('int_events_by_person') }}
        where customer_id in (select scope.customer_id from scope)
    ),
{% else %}
    scoped_orders as (
        select * from {{ ref('int_orders_by_person') }}
    ),

    scoped_events as (
        select * from {{ ref('int_events_by_person') }}
    ),
{% endif %}

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

purchased_categories as (
    select
        scoped_orders.customer_id,
        order_items.category,
        sum(order_items.quantity) as weight
    from order_items
    inner join scoped_orders on order_items.order_id = scoped_orders.order_id
    cross join as_of
    where
        scoped_orders.is_purchase
        and scoped_orders.customer_id is not null
        and scoped_orders.paid_date <= as_of.as_of_date
    group by scoped_orders.customer_id, order_items.category
),

category_buyers as (
    select distinct customer_id from purchased_categories
),

-- views count only for customers who bought nothing: left out before grouping
viewed_categories as (
    select
        scoped_events.customer_id,
        scoped_events.category,
        count(*) as weight
    from scoped_events
    cross join as_of
    left join category_buyers as buyers on scoped_events.customer_id = buyers.customer_id
    where
        buyers.customer_id is null
        and scoped_events.customer_id is not null
        and scoped_events.category is not null
        and scoped_events.occurred_date <= as_of.as_of_date
    group by scoped_events.customer_id, scoped_events.category
),

favourite as (
    select
        customer_id,
        category as favourite_category,
        is_bought as favourite_is_bought
    from (
        select
            customer_id,
            category,
            is_bought,
            row_number() over (
                partition by customer_id order by weight desc, category asc
            ) as interest_rank
        from (
            select
                *,
                true as is_bought
            from purchased_categories
            union all
            select
                *,
                false as is_bought
            from viewed_categories
        ) as category_interest
    ) as ranked
    where interest_rank = 1
),

final as (
    select
        {% if is_incremental() %}scope.customer_id{% else %}favourite.customer_id{% endif %},
        favourite.favourite_category,
        favourite.favourite_is_bought,
        as_of.as_of_date,
        loaded.orders_loaded_through,
        loaded.order_items_loaded_through,
        loaded.events_loaded_through
    {% if is_incremental() %}
        -- every recomputed customer gets a row, so that a favourite now gone replaces the old
        from scope
        left join favourite on scope.customer_id = favourite.customer_id
    {% else %}
        from favourite
    {% endif %}
    cross join as_of
    cross join loaded
)

select * from final
