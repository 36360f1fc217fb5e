"""The benchmark runs end to end at a tiny scale and reports every figure."""

import json
from datetime import timedelta

import duckdb
import pytest

from dagster_project.benchmark import (
    PHASES,
    SLOWEST_STEPS,
    _hold_back_day,
    _reusable_shop,
    format_report,
    run_benchmark,
    scaling_lines,
)
from dagster_project.sample_shop.generator import ShopConfig, generate
from dagster_project.settings import load_settings


@pytest.mark.slow
def test_benchmark_reports_every_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path))
    report = run_benchmark("300", tmp_path / "bench" / "300", days=40)
    report = json.loads(json.dumps(report))  # what the JSON file holds
    assert report["engine"] == "duckdb"
    assert set(report["rows"]) == {
        "customers", "orders", "order_items", "returns", "sessions", "events",
        "marketing_spend", "exchange_rates",
    }  # fmt: skip
    assert all(n > 0 for n in report["rows"].values())
    # two daily runs, each loading exactly its held-back day: the shop's last two days
    end = ShopConfig(days=41).end
    assert [run["day"] for run in report["daily_runs"]] == [
        (end - timedelta(days=1)).isoformat(), end.isoformat()
    ]  # fmt: skip
    for run in report["daily_runs"]:
        assert 0 < sum(run["rows"].values()) < sum(report["rows"].values()) / 10
        assert run["input_rows"] == sum(run["rows"].values())
        assert run["share_of_full"] > 0  # a figure, not a target: timings are not tested
        # 40 days of history are too short for labelled churn cutoffs (they lie 90 days back)
        assert run["new_labelled_churn_cutoffs"] == []
    # every raw row was loaded by the full build or by one of the daily runs
    assert report["full_build"]["input_rows"] + sum(
        run["input_rows"] for run in report["daily_runs"]
    ) == sum(report["rows"].values())
    for run in [report["full_build"], *report["daily_runs"]]:
        phases = run["phases"]
        assert set(phases) == set(PHASES)
        for phase in ("ingest", "dbt"):
            assert phases[phase]["seconds"] > 0 and phases[phase]["rows_per_second"] > 0
        # where the time went: the steps of each phase, slowest first, within its wall time
        # the dbt build is one step, then the mart checks
        assert phases["dbt"]["slowest_steps"][0][0] == "crm_dbt_models"
        assert {s for s, _ in phases["dbt"]["slowest_steps"]} >= {"crm_dbt_evaluation"}
        ingest_steps = dict(phases["ingest"]["slowest_steps"])
        # 6 raw assets and their 18 checks: the 10 slowest are listed
        assert len(ingest_steps) == SLOWEST_STEPS
        assert all(step.startswith("raw_") for step in ingest_steps)
        assert list(ingest_steps.values()) == sorted(ingest_steps.values(), reverse=True)
        assert 0 < sum(ingest_steps.values()) <= phases["ingest"]["seconds"]
        # the wall time is the steps' work plus Dagster's overhead around them
        work = sum(p["seconds"] for p in phases.values())
        assert abs(run["work_seconds"] - work) < 0.05
        assert (
            abs(run["total_seconds"] - run["work_seconds"] - run["dagster_overhead_seconds"]) < 0.05
        )
        assert 0 <= run["dagster_overhead_share"] < 1
    assert report["peak_memory_mb"] > 50  # at least a Python process with DuckDB loaded
    assert report["warehouse_mb"] > 0
    assert 0 < report["definitions_load_seconds"] < 60
    # the weekly report of the newest complete week, timed and sized
    page = tmp_path / "bench" / "300" / "reports" / f"{report['weekly_report']['week']}.html"
    assert report["weekly_report"]["bytes"] == page.stat().st_size
    assert report["weekly_report"]["seconds"] > 0
    # a first pull from PostgreSQL of what a shop's database holds: the newest version of
    # each customer and order, every order line; beside the first load of their files
    with duckdb.connect(str(tmp_path / "bench" / "300" / "warehouse.duckdb"), read_only=True) as c:
        counts = {
            "customers": "count(distinct customer_id)",
            "orders": "count(distinct order_id)",
            "order_items": "count(*)",
        }
        newest = {e: c.execute(f"select {n} from raw.{e}").fetchone()[0] for e, n in counts.items()}
    pull = report["database_pull"]
    assert pull["rows"] == newest and newest["orders"] < report["rows"]["orders"]
    rows = sum(newest.values())
    assert pull["pull_seconds"] > 0 and pull["load_seconds"] > 0
    assert pull["pull_rows_per_second"] == round(rows / pull["pull_seconds"])
    assert pull["pull_and_load_rows_per_second"] == round(
        rows / (pull["pull_seconds"] + pull["load_seconds"])
    )
    first_load = {
        e: report["rows"][e] - sum(run["rows"][e] for run in report["daily_runs"]) for e in newest
    }
    assert pull["files"]["rows"] == sum(first_load.values())
    assert 0 < pull["files"]["seconds"] <= report["full_build"]["phases"]["ingest"]["seconds"]
    printed = format_report(report)
    assert f"weekly report {report['weekly_report']['week']}: " in printed
    assert f"first pull from PostgreSQL of customers, orders, order_items: {rows:,} rows" in printed
    for run in report["daily_runs"]:
        assert f"daily run {run['day']} / full build: " in printed


def test_scaling_ratio_compares_time_growth_with_row_growth():
    def run(scale, rows, seconds):
        return {"scale": scale, "full_build": {"input_rows": rows, "total_seconds": seconds}}

    large = run("large", 10_000_000, 600.0)
    lines = scaling_lines(large, [run("small", 100_000, 12.0), large])
    # 100x the rows in 50x the time: half of linear
    assert lines == [
        "vs small: 100.0x the rows in 50.0x the time (ratio 0.50; at most 1 is no worse than linear)"
    ]


def test_a_shop_generated_with_the_same_settings_is_reused_with_its_held_back_day(tmp_path):
    cfg = ShopConfig(customers=50, days=4, fmt="parquet")
    generate(cfg, tmp_path)
    last_day = f"dt={cfg.end.isoformat()}"
    # an earlier run stopped while the last day was held back
    _hold_back_day(tmp_path / "landing", cfg.end.isoformat(), tmp_path / "held_back")
    assert not (tmp_path / "landing" / "orders" / last_day).exists()
    settings = load_settings(tmp_path)
    summary = _reusable_shop(settings, cfg)
    assert summary is not None and summary["config"]["customers"] == 50
    assert (tmp_path / "landing" / "orders" / last_day).is_dir()
    assert not (tmp_path / "held_back").exists()
    assert _reusable_shop(settings, ShopConfig(customers=51, days=4, fmt="parquet")) is None
    assert _reusable_shop(settings, ShopConfig(customers=50, days=4, fmt="csv")) is None
