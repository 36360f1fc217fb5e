"""The whole pipeline through Dagster, as `make demo` runs it, on a tiny shop."""

import dagster as dg

from dagster_project.definitions import defs
from dagster_project.demo import materialize_all, summary
from dagster_project.sample_shop.generator import ShopConfig, generate
from dagster_project.settings import load_settings


def test_dbt_models_are_assets_downstream_of_the_raw_assets_grouped_by_folder():
    graph = defs.resolve_asset_graph()
    stg_orders = dg.AssetKey(["staging", "stg_shop__orders"])  # keys mirror schema.table
    assert dg.AssetKey(["raw", "orders"]) in graph.get(stg_orders).parent_keys
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups["raw/orders"] == "ingest"
    assert groups["staging/stg_shop__orders"] == "staging"
    assert groups["intermediate/int_purchase_days"] == "intermediate"
    assert groups["marts/customer_lifecycle"] == "customers"
    assert groups["reference/lifecycle_stages"] == "reference"
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert "unique_customer_lifecycle_customer_id" in checks  # dbt tests are asset checks


def test_the_demo_run_builds_every_asset_and_summarises_stages_and_groups(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("CRM_DATA_DIR", str(data))  # dbt reads it from the environment
    settings = load_settings(data)
    shop = ShopConfig(customers=300, days=60, bad_row_share=0.01)
    generate(shop, data)
    result = materialize_all(settings, dg.DagsterInstance.ephemeral())
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"raw/orders", "marts/customer_facts", "marts/customer_rfm", "marts/customer_lifecycle",
            "marts/customer_stage_history", "marts/customer_stage_transitions"} <= materialized  # fmt: skip
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert failed == []
    text = summary(settings)
    assert f"Customers per lifecycle stage on {shop.end}" in text  # D: the last day with data
    assert "important_value" in text and "registered_dormant" in text
    assert "KPI 1/6   repeat_rate" in text  # the last complete week's KPIs 1-10
