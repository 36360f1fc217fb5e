"""The whole pipeline through Dagster, as `make demo` runs it, on a tiny shop."""

import os
from datetime import date, timedelta

import dagster as dg
import pytest

from dagster_project.activate.catalogue import load_catalogue
from dagster_project.definitions import defs
from dagster_project.demo import materialize_with_campaign_history, summary
from dagster_project.sample_shop.generator import ShopConfig, generate
from dagster_project.settings import DBT_PROJECT_DIR, SHOP_CONFIG, load_settings
from dagster_project.transform.assets import RUNS_DIR, prune_runs


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


def test_the_graph_shows_marts_audiences_exports_contact_log_and_evaluation_in_order():
    graph = defs.resolve_asset_graph()

    def parents(key: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey(key.split("/"))).parent_keys}

    exports = {k.to_user_string() for k in graph.get_all_asset_keys() if k.path[0] == "exports"}
    assert len(exports) == len(load_catalogue())
    assert {"marts/customer_facts", "marts/customer_lifecycle", "marts/customer_rfm",
            "scores/customer_churn_risk"} <= parents("activate/campaign_audience")  # fmt: skip
    assert all(parents(e) == {"activate/campaign_audience"} for e in exports)
    assert parents("activate/contact_log") == exports
    assert "activate/contact_log" in parents("intermediate/int_campaign_contact_outcomes")
    assert "intermediate/int_campaign_contact_outcomes" in parents("marts/campaign_evaluation")
    assert "intermediate/int_campaign_contact_outcomes" in parents("marts/kpi_campaign_response")
    # the scores are assets with tables of their own, the churn tree's leaves included
    assert parents("scores/churn_tree_leaves") == {"intermediate/int_churn_features"}
    assert "scores/churn_tree_leaves" in parents("scores/customer_churn_risk")
    assert parents("scores/customer_value") == {"marts/customer_facts"}
    # the daily job builds the evaluation in a dbt step of its own, after the contact log
    job = defs.resolve_job_def("daily_pipeline")
    upstream = job.graph.dependency_structure.input_to_upstream_outputs_for_node(
        "crm_dbt_evaluation"
    )
    assert "activate__contact_log" in {o.node_name for outs in upstream.values() for o in outs}


@pytest.mark.slow
def test_the_demo_run_builds_every_asset_and_summarises_stages_and_groups(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("CRM_DATA_DIR", str(data))  # dbt reads it from the environment
    data.mkdir()
    (data / SHOP_CONFIG).write_text(
        "demo_campaign_history_days: 5\ndemo_campaign_history_step_days: 2\n", encoding="utf-8"
    )
    settings = load_settings(data)
    shop = ShopConfig(customers=300, days=60, bad_row_share=0.01)
    generate(shop, data)
    in_repo = set((DBT_PROJECT_DIR / "target").glob("*"))
    earlier_runs = set(RUNS_DIR.glob("*"))
    results = materialize_with_campaign_history(settings, dg.DagsterInstance.ephemeral())
    # ingest and dbt, every second of the 5 past days (5, 3 and 1 days back), D
    assert [r.success for r in results] == [True] * 5
    result = results[0]
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"raw/orders", "marts/customer_facts", "marts/customer_rfm", "marts/customer_lifecycle",
            "marts/customer_stage_history", "marts/customer_stage_transitions"} <= materialized  # fmt: skip
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    # the shop's 1% bad rows and its old dates only warn: ERROR checks all pass
    assert {(c.check_name, c.severity) for c in failed} <= {
        ("plausibility_expectations", dg.AssetCheckSeverity.WARN),
        ("freshness_check", dg.AssetCheckSeverity.WARN),
    }
    text = summary(settings)
    assert f"Customers per lifecycle stage on {shop.end}" in text  # D: the last day with data
    assert "important_value" in text and "registered_dormant" in text
    assert "KPI 1/6   repeat_rate" in text  # the last complete week's KPIs 1-10
    # the campaigns ran for 3 past days and for D, each with a file per due campaign
    final = {e.asset_key.to_user_string() for e in results[-1].get_asset_materialization_events()}
    assert {
        "activate/campaign_audience",
        "exports/repurchase_45d",
        "marts/campaign_evaluation",
    } <= final
    days = sorted(p.name for p in (settings.exports_dir / "repurchase_45d").iterdir())
    assert [date.fromisoformat(d) for d in days] == [
        shop.end - timedelta(days=n) for n in (5, 3, 1, 0)
    ]
    assert "repurchase_45d              email" in text
    # each dbt run's compiled SQL and results go to the data folder, none into the repo
    runs = set(RUNS_DIR.glob("*")) - earlier_runs
    dbt_steps = [
        e for r in results for e in r.all_events
        if e.is_step_success and e.step_key.startswith("crm_dbt_")
    ]  # fmt: skip
    assert len(runs) == len(dbt_steps) and all((run / "run_results.json").exists() for run in runs)
    assert set((DBT_PROJECT_DIR / "target").glob("*")) <= in_repo
    assert str(settings.exports_dir / "repurchase_45d" / str(shop.end) / "audience.csv") in text
    report = settings.data_dir / "reports" / "latest.html"  # the weekly report, built too
    assert report.exists() and f"Report:      {report}" in text


def test_only_the_newest_dbt_runs_are_kept(tmp_path):
    for n in range(5):
        run = tmp_path / f"run{n}"
        (run / "compiled").mkdir(parents=True)
        os.utime(run, (1_000 + n, 1_000 + n))
    prune_runs(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run3", "run4"]
