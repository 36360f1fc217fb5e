"""Schedules, the landing sensor and the run-failure report, with Dagster's testing helpers."""

import json
import os
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from dagster_project.activate.assets import CUSTOMER_MART_MODELS
from dagster_project.definitions import defs
from dagster_project.ingest.contract import ENTITIES
from dagster_project.orchestration import (
    daily_schedule,
    failure_log,
    landing_files,
    report_run_failure,
    weekly_kpi_schedule,
)
from dagster_project.settings import load_settings
from dagster_project.transform.assets import dbt_project

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_daily_schedule_loads_through_yesterday_at_six_in_store_time():
    assert daily_schedule.cron_schedule == "0 6 * * *"
    assert daily_schedule.execution_timezone == "Asia/Shanghai"
    # 06:00 in Shanghai on 22 November is 22:00 UTC on the 21st: the store's yesterday is the 21st
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 22, 6, 0, tzinfo=SHANGHAI)
    )
    request = daily_schedule(context)
    assert request.run_key == "daily-2026-11-21"
    assert request.run_config["ops"]["raw__orders"] == {"config": {"through": "2026-11-21"}}
    assert set(request.run_config["ops"]) == {f"raw__{e}" for e in ENTITIES}
    assert defs.resolve_job_def("daily_pipeline").partitions_def is None  # the ledger decides


def test_the_weekly_schedule_rebuilds_the_weekly_kpi_tables_then_the_report_on_monday():
    assert weekly_kpi_schedule.cron_schedule == "0 7 * * 1"
    job = defs.resolve_job_def("weekly_kpi")
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert keys == {"marts/kpi_weekly", "marts/kpi_weekly_monitor", "reports/weekly"}
    graph = defs.resolve_asset_graph()
    report = graph.get(dg.AssetKey(["reports", "weekly"]))
    assert dg.AssetKey(["marts", "kpi_weekly_monitor"]) in report.parent_keys
    daily = defs.resolve_job_def("daily_pipeline").asset_layer.selected_asset_keys
    assert dg.AssetKey(["reports", "weekly"]) not in daily  # weekly, not every day


def test_the_sensor_requests_one_load_when_files_arrive_or_change(tmp_path, monkeypatch, land):
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "data"))
    land("orders", "2026-11-19", "a.csv", "order_id\n1\n")
    with dg.instance_for_test() as instance:

        def tick(cursor):
            ctx = dg.build_sensor_context(instance=instance, cursor=cursor)
            return landing_files(ctx)

        first = tick(None)  # turned on: what is there already is left to backfills
        assert not first.run_requests
        assert "Started watching 1 landing day" in first.skip_reason.skip_message
        assert not tick(first.cursor).run_requests
        land("orders", "2026-11-20", "a.csv", "order_id\n2\n")
        land("events", "2026-11-20", "a.csv", "event_id\n3\n")
        late = land("customers", "2026-11-18", "late.csv", "customer_id\n4\n")  # a late file
        land("orders", "2020-01-01", "a.csv", "order_id\n5\n")  # before the first partition
        land("orders", "2026-11-21", "_SUCCESS", "")  # marker files are not data
        second = tick(first.cursor)
        assert len(second.run_requests) == 1  # one run loads every new file, of any day
        assert second.run_requests[0].partition_key is None
        assert not tick(second.cursor).run_requests  # nothing new
        land("orders", "2020-01-02", "b.csv", "order_id\n7\n")  # loads nothing: no run
        assert not tick(second.cursor).run_requests
        late.write_text("customer_id\n4\n6\n")  # the file is delivered again, corrected
        os.utime(late, ns=(1, 1))
        third = tick(second.cursor)
        assert len(third.run_requests) == 1
        assert third.run_requests[0].run_key != second.run_requests[0].run_key


def test_a_failed_run_is_reported_with_the_message_that_names_the_cause(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "data"))

    @dg.op
    def load_orders():
        raise dg.Failure(description="landing/orders/dt=2026-11-20/a.csv: wrong delimiter")

    @dg.job
    def broken():
        load_orders()

    with dg.instance_for_test() as instance:
        result = broken.execute_in_process(instance=instance, raise_on_error=False)
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        context = dg.build_run_status_sensor_context(
            sensor_name="report_run_failure",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure,
        ).for_run_failure()
        report_run_failure(context)
    (line,) = failure_log(load_settings(tmp_path / "data")).read_text().splitlines()
    entry = json.loads(line)
    assert entry["job"] == "broken" and entry["run_id"] == result.run_id
    assert entry["cause"] == ["load_orders: landing/orders/dt=2026-11-20/a.csv: wrong delimiter"]


def test_a_campaign_day_rebuilds_every_model_between_d_and_the_marts_it_reads():
    """A campaign day rebuilds the customer marts for a past D. A model they read that
    depends on D but is not rebuilt would give them the newest D's data (a look-ahead).
    Only the two day-by-day histories may stay, and their readers take the days up to D."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    parents = {
        node["name"]: [p.split(".")[-1] for p in node["depends_on"]["nodes"]]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }

    def ancestors(model: str) -> set[str]:
        found: set[str] = set()
        todo = [model]
        while todo:
            for parent in parents.get(todo.pop(), []):
                if parent not in found:
                    found.add(parent)
                    todo.append(parent)
        return found

    marts = ("customer_facts", "customer_rfm", "customer_lifecycle")
    read = set(marts).union(*(ancestors(m) for m in marts))
    as_of_d = {m for m in read if m == "int_as_of_date" or "int_as_of_date" in ancestors(m)}
    histories = {"customer_stage_history", "int_customer_activity_days"}
    assert as_of_d - histories == set(CUSTOMER_MART_MODELS) - histories
