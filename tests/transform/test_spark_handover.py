"""The hand-over to dbt on Spark, without Spark: the source tables written as Parquet, one file
per landing day and only the changed days again; the tables Spark wrote read back as views."""

import json
from datetime import date

import duckdb

from dagster_project.resources import open_warehouse
from dagster_project.settings import load_settings
from dagster_project.transform.spark import link_spark_tables, write_sources

SOURCES = [("activate", "contact_log"), ("raw", "file_ledger"), ("raw", "orders")]
LOADED = "timestamp '2024-11-05 10:00:00'"  # epoch 1730800800 s


def test_each_landing_day_is_one_file_written_again_only_when_its_rows_change(tmp_path):
    settings = load_settings(tmp_path)
    folder = settings.spark_dir / "sources" / "raw" / "orders"
    with open_warehouse(settings) as conn:
        conn.execute("create schema raw")
        conn.execute(
            "create table raw.orders (order_id varchar, _partition_date date, _loaded_at timestamp)"
        )
        conn.execute("create table raw.file_ledger (path varchar)")
        # empty: one file with the columns, for Spark to read them from
        assert write_sources(conn, settings, SOURCES) == ["raw.file_ledger", "raw.orders"]
        assert sorted(p.name for p in folder.iterdir()) == ["empty.parquet"]
        conn.execute(
            f"insert into raw.orders values ('o1', '2024-11-03', {LOADED}), "
            f"('o2', '2024-11-03', {LOADED}), ('o3', '2024-11-04', {LOADED})"
        )
        write_sources(conn, settings, SOURCES)
        first = "2024-11-03_2_1730800800000000.parquet"
        second = "2024-11-04_1_1730800800000000.parquet"
        assert sorted(p.name for p in folder.iterdir()) == [first, second]
        written = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
        # a redelivery of 4 November replaces its rows: that day alone is written again
        conn.execute("delete from raw.orders where _partition_date = '2024-11-04'")
        conn.execute(
            "insert into raw.orders values ('o3', '2024-11-04', timestamp '2024-11-06 00:00:00'),"
            " ('o4', '2024-11-04', timestamp '2024-11-06 00:00:00')"
        )
        write_sources(conn, settings, SOURCES)
        third = "2024-11-04_2_1730851200000000.parquet"
        assert sorted(p.name for p in folder.iterdir()) == [first, third]
        assert folder.joinpath(first).stat().st_mtime_ns == written[first]
        rows = conn.execute(
            f"select order_id from read_parquet('{folder}/*.parquet') order by 1"
        ).fetchall()
        assert rows == [("o1",), ("o2",), ("o3",), ("o4",)]
    # no partial file is left behind, and a table without a landing day is one file
    assert not list(settings.spark_dir.rglob(".*"))
    assert [p.name for p in (settings.spark_dir / "sources" / "raw" / "file_ledger").iterdir()] == [
        "all.parquet"
    ]


def test_the_tables_spark_built_become_views_and_replace_duckdb_tables(tmp_path):
    settings = load_settings(tmp_path)
    spark_tables = settings.spark_dir / "warehouse"
    for schema, table, day in (("marts", "kpi_daily", "calendar_date=2024-11-03"),
                               ("staging", "stg_shop__orders", "")):  # fmt: skip
        part = spark_tables / f"{schema}.db" / table / day
        part.mkdir(parents=True)
        with duckdb.connect() as conn:
            conn.execute(
                f"copy (select 7 as customers) to '{part}/part-0.parquet' (format parquet)"
            )
    nodes = {
        f"model.crm_mart.{name}": {
            "resource_type": "model",
            "schema": schema,
            "alias": name,
            "config": {"materialized": materialized},
        }
        for schema, name, materialized in (
            ("marts", "kpi_daily", "incremental"),
            ("staging", "stg_shop__orders", "table"),
            ("staging", "stg_shop__order_versions", "view"),  # no files on Spark: not linked
            ("marts", "campaign_evaluation", "table"),  # not built yet: not linked
        )
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": nodes}))
    with open_warehouse(settings) as conn:
        conn.execute("create schema staging")
        conn.execute("create table staging.stg_shop__orders as select 1 as customers")
        assert link_spark_tables(conn, settings, manifest) == 2
        # the day of a partitioned table comes back from its folder's name
        assert conn.execute("select * from marts.kpi_daily").fetchall() == [(7, date(2024, 11, 3))]
        assert conn.execute("select customers from staging.stg_shop__orders").fetchall() == [(7,)]
        kinds = conn.execute(
            "select table_catalog, table_name, table_type from information_schema.tables "
            "where table_schema in ('marts', 'staging') order by 2"
        ).fetchall()
    assert kinds == [("marts_db", "kpi_daily", "VIEW"), ("warehouse", "stg_shop__orders", "VIEW")]
