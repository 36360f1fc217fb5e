"""The whole pipeline with `engine: spark` (dbt-spark on a local SparkSession) gives what it
gives on DuckDB: two shops from the same landing files, each run by `crm-mart run` for the day
before the last and then for the last day (a daily run), have the same rows in every table
dbt builds, the same scores (BG/NBD and Gamma-Gamma parameters) and the same audience files.
Then the dbt unit tests pass on Spark."""

import filecmp
import math
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.publish import published_path
from dagster_project.resources import open_warehouse
from dagster_project.sample_shop.generator import ShopConfig, generate
from dagster_project.settings import load_settings
from tests.dbt.helpers import run_dbt

pytestmark = pytest.mark.slow

CRM_MART = str(Path(sys.executable).parent / "crm-mart")
RELATIVE = 1e-9  # numbers may differ this much: the engines add up doubles in other orders
SHOP = ShopConfig(customers=300, days=120, start=date(2024, 11, 1), bad_row_share=0.01)
# when each run happened, not what it computed: two runs never share them
RUN_TIMES = (
    "_loaded_at", "_built_at", "logged_at", "scored_at", "fitted_at", "first_loaded_at",
    "last_loaded_at",
)  # fmt: skip
# the identity audit logs each build's decisions from the map's changes; on Spark the map is
# rebuilt whole, so every build records the splits and refusals in force (docs/spark.md)
BUILD_LOGS = {("marts", "identity_audit")}
# the D of the build that last wrote each row: a daily run keeps older rows, a full build (and
# a Spark build, which rebuilds this model whole) writes every row with today's D
WRITTEN_AS_OF = {("intermediate", "int_customer_favourite_category"): "as_of_date"}
SCHEMAS = ("staging", "intermediate", "marts", "reference", "scores", "activate")


def same(a, b) -> bool:
    if isinstance(a, float | Decimal) and isinstance(b, float | Decimal):
        a, b = float(a), float(b)
        return math.isclose(a, b, rel_tol=RELATIVE, abs_tol=1e-12) or (
            math.isnan(a) and math.isnan(b)
        )
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return a == b


def comparable(row) -> tuple:
    """A row's sort key: numbers rounded so that 1e-9 differences sort alike."""
    return tuple(
        (0, "") if v is None
        else (1, round(float(v), 6)) if isinstance(v, float | Decimal | int) and not isinstance(v, bool)
        else (2, str(v))
        for v in row
    )  # fmt: skip


def crm_mart(data: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CRM_DATA_DIR", "DAGSTER_HOME")}
    done = subprocess.run(
        [CRM_MART, "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def run_shop(data: Path, landing: Path, engine: str) -> None:
    crm_mart(data.parent, "init", str(data), "--first-day", SHOP.start.isoformat())
    with (data / "crm-mart.yml").open("a") as config:
        config.write(f"engine: {engine}\n")
    shutil.copytree(landing, data / "landing", dirs_exist_ok=True)
    crm_mart(data, "run", "--day", (SHOP.end - timedelta(days=1)).isoformat())
    crm_mart(data, "run", "--day", SHOP.end.isoformat())  # a daily run


def tables(conn) -> dict[tuple[str, str], tuple[list[str], list[tuple]]]:
    """Every table and view of the schemas, as (columns, rows), run times left out."""
    found = {}
    names = conn.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where table_schema in {SCHEMAS}"
    ).fetchall()
    for schema, table in names:
        if (schema, table) in BUILD_LOGS:
            continue
        query = conn.execute(f"select * from {schema}.{table}")
        columns = [d[0] for d in query.description]
        skip = {*RUN_TIMES, WRITTEN_AS_OF.get((schema, table))}
        keep = [i for i, c in enumerate(columns) if c not in skip and not c.endswith("_through")]
        rows = [tuple(row[i] for i in keep) for row in query.fetchall()]
        found[schema, table] = ([columns[i] for i in keep], rows)
    return found


def differences(duckdb_tables: dict, spark_tables: dict) -> list[str]:
    found = []
    for key, (columns, duckdb_rows) in sorted(duckdb_tables.items()):
        spark_columns, spark_rows = spark_tables[key]
        assert sorted(spark_columns) == sorted(columns), key
        spark_rows = [tuple(r[spark_columns.index(c)] for c in columns) for r in spark_rows]
        if len(spark_rows) != len(duckdb_rows):
            found.append(f"{key}: {len(spark_rows)} rows on Spark, {len(duckdb_rows)} on DuckDB")
            continue
        pairs = zip(
            sorted(spark_rows, key=comparable), sorted(duckdb_rows, key=comparable), strict=True
        )
        for spark_row, duckdb_row in pairs:
            wrong = [
                f"{c}: Spark {s!r}, DuckDB {d!r}"
                for c, s, d in zip(columns, spark_row, duckdb_row, strict=True) if not same(s, d)
            ]  # fmt: skip
            if wrong:
                found.append(f"{key}: " + "; ".join(wrong))
                break
    return found


def checks_without_a_result(data: Path) -> list[tuple[str, str]]:
    """The asset checks a run planned and never evaluated: dbt ran the test, but Dagster did
    not read its result from dbt's output (one JSON event per line)."""
    planned, evaluated = (
        dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    )
    missing = []
    with dg.DagsterInstance.from_config(str(data / "dagster_home")) as instance:
        for run in instance.get_runs():
            found = {}
            for kind in (planned, evaluated):
                records = instance.get_records_for_run(run.run_id, of_type=kind, limit=10**6)
                found[kind] = {
                    (event.asset_key.to_user_string(), event.check_name)
                    for event in (
                        r.event_log_entry.dagster_event.event_specific_data for r in records.records
                    )
                }
            missing += sorted(found[planned] - found[evaluated])
    return missing


def test_the_pipeline_on_spark_equals_the_pipeline_on_duckdb(tmp_path):
    generate(SHOP, tmp_path / "generated")
    shops = {engine: tmp_path / engine for engine in ("duckdb", "spark")}
    for engine, data in shops.items():
        run_shop(data, tmp_path / "generated" / "landing", engine)

    # every dbt test's result reached Dagster: Spark wrote nothing into dbt's event lines
    for data in shops.values():
        assert checks_without_a_result(data) == []

    built = {}
    for engine, data in shops.items():
        with open_warehouse(load_settings(data), read_only=True) as conn:
            built[engine] = tables(conn)
    # Spark's staging views are views on Spark only: DuckDB reads the tables Spark wrote
    spark_views = {key for key in built["duckdb"] if key not in built["spark"]}
    assert {schema for schema, _ in spark_views} == {"staging"}
    for key in spark_views:
        del built["duckdb"][key]
    assert set(built["spark"]) == set(built["duckdb"])
    assert len(built["spark"]) > 40
    assert differences(built["duckdb"], built["spark"]) == []
    # the scores are fitted on the marts DuckDB read from Spark's files: same parameters
    fits = built["spark"]["scores", "model_fits"]
    assert [row[fits[0].index("fitted")] for row in fits[1]] == [True, True]
    # the marts on Spark are views over its Parquet files, not copies
    with open_warehouse(load_settings(shops["spark"]), read_only=True) as conn:
        (kind,) = conn.execute(
            "select table_type from information_schema.tables "
            "where table_schema = 'marts' and table_name = 'customer_facts'"
        ).fetchone()
    assert kind == "VIEW"
    # the BI copy holds the rows themselves: the next build on Spark rewrites those files
    with duckdb.connect(str(published_path(load_settings(shops["spark"]))), read_only=True) as bi:
        kinds = bi.execute(
            "select distinct table_type from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
        facts = bi.execute("select * from marts.customer_facts").fetchall()
    assert kinds == [("BASE TABLE",)]
    columns, spark_facts = built["spark"]["marts", "customer_facts"]
    assert len(facts) == len(spark_facts)
    # one row per person: every account with a profile in one of them, and the guests
    profiles = len(built["spark"]["staging", "stg_shop__customers"][1])
    assert sum(row[columns.index("shop_customer_ids")] for row in spark_facts) == profiles
    assert len(facts) > SHOP.customers > profiles
    # every audience file of both days, byte for byte
    exports = {
        engine: sorted(p.relative_to(data) for p in (data / "exports").rglob("*.csv"))
        for engine, data in shops.items()
    }
    assert exports["spark"] == exports["duckdb"]
    assert len({p.parts[2] for p in exports["spark"]}) == 2  # two days of sends
    for path in exports["duckdb"]:
        assert filecmp.cmp(shops["duckdb"] / path, shops["spark"] / path, shallow=False), path

    # dbt's unit tests on Spark (those of incremental models read the built tables' columns)
    run_dbt(
        load_settings(shops["spark"]), "test", "--target", "spark", "--select", "test_type:unit"
    )
