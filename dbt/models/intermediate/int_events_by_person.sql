-- One row per event, as stg_shop__events, with customer_id the person: of the logged-in
-- customer id, else of the anonymous id (a browser joined to a person carries the browsing
-- they did before they logged in); null for a browser that joined nobody. The shop's
-- customer id stays in shop_customer_id.
{{ config(materialized=view_materialization()) }}
{{ visits_by_person('stg_shop__events') }}
