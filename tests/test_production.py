"""Production runs end to end on a tiny shop: the quality gate, backfills, the BI publication."""

import json
import shutil
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.definitions import defs
from dagster_project.ingest.assets import load_run_config
from dagster_project.ingest.loader import q
from dagster_project.publish import PUBLICATION_TABLE, published_path
from dagster_project.resources import open_warehouse
from dagster_project.sample_shop.generator import ShopConfig, generate
from dagster_project.settings import load_settings

pytestmark = pytest.mark.slow  # whole-pipeline builds: make test, not make test-fast

SHOP = ShopConfig(customers=300, days=60)
LAST = SHOP.end
HEADER = (
    "order_id,customer_id,status,created_at,paid_at,currency,order_total,discount_total,"
    "shipping_total,refund_total,channel,promotion_type,updated_at\n"
)
LOAD_TIMES = {"_loaded_at", "_built_at", "loaded_at", "logged_at", "published_at", "counted_at"}


def run(days, instance, job="daily_pipeline"):
    """A job loading the landing files up to the last of `days` not loaded yet (a daily run
    when they are one day's) and building as of the last day with data."""
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, run_config=load_run_config(days[-1]), raise_on_error=False
    )


def materialized(result):
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_an_error_check_stops_marts_and_exports_in_the_same_run_and_a_warn_does_not(
    tmp_path, monkeypatch
):
    data = tmp_path / "data"
    monkeypatch.setenv("CRM_DATA_DIR", str(data))
    monkeypatch.setenv("CRM_QUARANTINE_SHARE_MIN_ROWS", "2")  # judge even a two-row file
    generate(SHOP, data)
    late = data / "landing" / "orders" / f"dt={LAST}" / "zz_late.csv"
    row = "{o},{c},{s},{d}T10:00:00Z,{d}T{paid}:00Z,CNY,50,0,0,0,web,none,{d}T10:30:00Z\n"
    # half the file is quarantined (an unknown status), above quarantine_error_share (0.2)
    late.write_text(
        HEADER
        + row.format(o="z1", c="C0001", s="paid", d=LAST, paid="10:05")
        + row.format(o="z2", c="C0001", s="paid?", d=LAST, paid="10:05")
    )
    days = [SHOP.start + timedelta(days=n) for n in range((LAST - SHOP.start).days + 1)]
    with dg.instance_for_test() as instance:
        result = run(days, instance)
        assert not result.success
        built = materialized(result)
        assert "raw/orders" in built  # raw keeps what arrived ...
        assert not {a for a in built if a.startswith(("marts/", "exports/", "bi/", "activate/"))}
        check = next(
            c for c in result.get_asset_check_evaluations()
            if c.asset_key.to_user_string() == "raw/orders" and not c.passed
        )  # fmt: skip
        assert check.check_name == "contract_expectations"
        assert check.severity == dg.AssetCheckSeverity.ERROR
        file = f"landing/orders/dt={LAST}/zz_late.csv"
        assert check.description.startswith(
            "expect_column_values_to_be_between on quarantined_share: 1 row(s) break it, e.g. "
            f"[{{'source_file': '{file}', 'quarantined_share': '0.5'}}]"
        )
        report = check.metadata["report"].value
        assert "FAILED" in Path(report).read_text(encoding="utf-8")
        assert not published_path(load_settings(data)).exists()

        # the shop re-delivers the file: one row, paid five minutes before the order (a WARN)
        late.write_text(HEADER + row.format(o="z1", c="C0001", s="paid", d=LAST, paid="09:55"))
        result = run([LAST], instance)
        assert result.success
        assert {"marts/customer_lifecycle", "exports/repurchase_45d", "bi/marts"} <= materialized(
            result
        )
        warned = {
            (c.asset_key.to_user_string(), c.check_name)
            for c in result.get_asset_check_evaluations()
            if not c.passed
        }
        assert ("raw/orders", "plausibility_expectations") in warned
        # the evaluation of that one run already holds the day's own sends
        with open_warehouse(load_settings(data), read_only=True) as conn:
            logged = conn.execute(
                "select campaign_id, count(*) filter (where arm = 'treatment'), "
                "count(*) filter (where arm = 'control') from activate.contact_log "
                "where send_date = ? group by 1 order by 1",
                [LAST],
            ).fetchall()
            evaluated = conn.execute(
                "select campaign_id, treatment_customers, control_customers "
                "from marts.campaign_evaluation where send_date = ? order by 1",
                [LAST],
            ).fetchall()
        assert len(logged) >= 2 and evaluated == logged
        (log,) = [
            e.materialization for e in result.get_asset_materialization_events()
            if e.asset_key == dg.AssetKey(["activate", "contact_log"])
        ]  # fmt: skip
        assert log.metadata["sends"].value == len(logged)
        assert log.metadata["contacts"].value == sum(t + c for _, t, c in logged)


READER = textwrap.dedent(
    """
    import json, sys, pathlib, duckdb
    path, stop = sys.argv[1], pathlib.Path(sys.argv[2])

    def consistent(conn):
        rows = conn.execute("select table_name, row_count, run_id from {table}").fetchall()
        for name, count, _ in rows:
            assert conn.execute(f"select count(*) from {{name}}").fetchone()[0] == count, name
        return rows[0][2]

    def fresh_read():  # a new session, as a BI tool's next query (its own database instance)
        with duckdb.connect() as fresh:
            fresh.execute(f"attach '{{path}}' as published (read_only)")
            fresh.execute("use published")
            return consistent(fresh)

    held = duckdb.connect(path, read_only=True)  # open from before the run to after it
    held_run = consistent(held)
    reads, seen = 0, set()
    while not stop.exists():
        assert consistent(held) == held_run
        seen.add(fresh_read())
        reads += 1
    seen.add(fresh_read())  # after the last run
    print(json.dumps({{"reads": reads, "held_run": held_run, "seen": sorted(seen)}}))
    """
).format(table=PUBLICATION_TABLE)


def table_rows(conn, schemas):
    """Every table of the schemas, sorted, without the load-time columns."""
    tables = conn.execute(
        "select table_catalog, table_schema, table_name from information_schema.tables "
        "where list_contains(?, table_schema) and table_type = 'BASE TABLE'",
        [list(schemas)],
    ).fetchall()
    out = {}
    for catalog, schema, table in tables:
        columns = [
            c for (c,) in conn.execute(
                "select column_name from information_schema.columns "
                "where table_catalog = ? and table_schema = ? and table_name = ?",
                [catalog, schema, table],
            ).fetchall() if c not in LOAD_TIMES
        ]  # fmt: skip
        select = ", ".join(q(c) for c in columns)
        out[f"{schema}.{table}"] = conn.execute(
            f"select {select} from {q(catalog)}.{q(schema)}.{q(table)} order by all"
        ).fetchall()
    return out


def warehouse_rows(data_dir, schemas):
    """table_rows of a warehouse, with the marts' file attached."""
    with open_warehouse(load_settings(data_dir), read_only=True) as conn:
        return table_rows(conn, schemas)


@pytest.mark.parametrize("backfill_days", [2])
def test_a_backfill_equals_daily_runs_and_a_bi_reader_never_blocks_nor_sees_half(
    tmp_path, monkeypatch, backfill_days
):
    daily, backfill = tmp_path / "daily", tmp_path / "backfill"
    generate(SHOP, daily)
    new_days = [LAST - timedelta(days=n) for n in range(backfill_days - 1, -1, -1)]
    history = [SHOP.start, new_days[0] - timedelta(days=1)]
    monkeypatch.setenv("CRM_DATA_DIR", str(daily))
    with dg.instance_for_test() as instance:
        assert run(history, instance, job="ingest").success  # the history before the new days
    shutil.copytree(daily, backfill)

    with dg.instance_for_test() as instance:
        assert run(new_days[:1], instance).success  # first daily run, and a first publication
        bi = published_path(load_settings(daily))
        stop = tmp_path / "stop-reading"
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(bi), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            results = [run([day], instance) for day in new_days[1:]]
        finally:
            stop.touch()
            out, err = reader.communicate(timeout=120)
        assert [r.success for r in results] == [True] * (backfill_days - 1)
        assert reader.returncode == 0, err
        seen = json.loads(out)
        assert seen["reads"] > 0 and seen["held_run"] not in {r.run_id for r in results}
        assert results[-1].run_id in seen["seen"]  # new sessions see the newest publication

    monkeypatch.setenv("CRM_DATA_DIR", str(backfill))
    with dg.instance_for_test() as instance:
        result = run(new_days, instance)  # the new days in one run
        assert result.success
        (orders,) = [
            e.materialization for e in result.get_asset_materialization_events()
            if e.asset_key == dg.AssetKey(["raw", "orders"])
        ]  # fmt: skip
        assert orders.metadata["days_loaded"].value == f"days {new_days[0]} to {new_days[-1]}"

    # three things differ by design: daily runs sent each day's campaigns where the backfill
    # sends D's (past sends are replayed with the campaign_day job), the RFM groups per day
    # are a snapshot taken on each run's day (RFM is not historised), and the identity audit
    # logs each build's decisions (daily runs decide day by day, the backfill once)
    by_design = {
        "marts.campaign_evaluation",
        "marts.kpi_campaign_response",
        "marts.identity_audit",
    }
    by_daily = warehouse_rows(daily, ["raw", "marts"])
    by_backfill = warehouse_rows(backfill, ["raw", "marts"])
    assert set(by_daily) == set(by_backfill) and len(by_daily) > 20
    for rows in (by_daily, by_backfill):
        counts = rows["marts.kpi_stage_counts"]  # (calendar_date, dimension, value, customers)
        rows["marts.kpi_stage_counts"] = [r for r in counts if r[1] != "rfm_group" or r[0] == LAST]
    for table in sorted(set(by_daily) - by_design):
        assert by_daily[table] == by_backfill[table], table
    with duckdb.connect(str(bi), read_only=True) as conn:
        published = table_rows(conn, ["marts"])
    assert published.keys() == {t for t in by_daily if t.startswith("marts.")}


def test_the_marts_live_in_their_own_file_and_an_older_warehouses_marts_schema_goes(tmp_path):
    settings = load_settings(tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    # a warehouse from before the marts had a file: its marts schema would hide the file's
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        conn.execute("create schema marts")
        conn.execute("create table marts.customer_facts as select 'stale' as customer_id")
    with open_warehouse(settings) as conn:
        conn.execute("create table marts.customer_facts as select 'built' as customer_id")
    with open_warehouse(settings, read_only=True) as conn:
        assert conn.execute("select customer_id from marts.customer_facts").fetchall() == [
            ("built",)
        ]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        schemas = {s for (s,) in conn.execute("select schema_name from information_schema.schemata").fetchall()}  # fmt: skip
        assert "marts" not in schemas
    with duckdb.connect(str(settings.marts_path), read_only=True) as conn:
        assert conn.execute("select * from marts.marts.customer_facts").fetchall() == [("built",)]


def test_a_shops_first_day_builds_every_asset_and_publishes_bi(tmp_path, monkeypatch):
    """One day of data: buyers, none of them a repeat buyer yet. The CLV models fall back,
    the churn tree waits for history, and every other asset is built and published."""
    data = tmp_path / "data"
    monkeypatch.setenv("CRM_DATA_DIR", str(data))
    shop = ShopConfig(customers=300, days=1)
    generate(shop, data)
    with dg.instance_for_test() as instance:
        result = run([shop.end], instance)
        assert result.success, [e.message for e in result.all_events if e.is_step_failure]
        built = materialized(result)
        assert {"scores/customer_value", "activate/contact_log", "bi/marts"} <= built
    with open_warehouse(load_settings(data), read_only=True) as conn:
        (repeat,) = conn.execute(
            "select count(*) from marts.customer_facts where purchase_days > 1"
        ).fetchone()
        (buyers,) = conn.execute(
            "select count(*) from marts.customer_facts where purchase_days > 0"
        ).fetchone()
        fits = dict(conn.execute("select model, fitted from scores.model_fits").fetchall())
    assert repeat == 0 and buyers > 0
    assert fits == {"bg_nbd": False, "gamma_gamma": False}
    assert published_path(load_settings(data)).exists()
