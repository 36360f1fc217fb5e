"""The hand-over between the pipeline's DuckDB and dbt on Spark (the `engine: spark` setting).

Ingestion, the campaign sends and the scores keep writing DuckDB: the contract, the
quarantine and the ledger are one code path for both engines. Before each dbt build on Spark,
`write_sources` writes every dbt source table (raw.*, activate.contact_log) as Parquet files
under $CRM_DATA_DIR/spark/sources/<schema>/<table>/, which the dbt hook
`start_run` turns into Spark tables. After the build, `link_spark_tables` makes
each table dbt built on Spark a DuckDB view over its Parquet files, under the name the
Python steps already read (`marts.customer_facts`, `staging.stg_shop__orders`). DuckDB reads
those files as a stream of row groups, so nothing collects a table into memory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

from dagster_project.ingest.loader import lit, one, q
from dagster_project.settings import MARTS_CATALOG, Settings

# the dbt hook start_run reads which source tables have files: "schema.table,..."
SOURCES_ENV = "CRM_SPARK_SOURCES"
PARTITION_COLUMN = "_partition_date"  # the landing day: raw tables are written one file a day
LINKED = ("table", "incremental", "seed")  # what Spark stores as files (a view has none)


def _manifest(manifest_path: Path) -> dict:
    return json.loads(manifest_path.read_text(encoding="utf-8"))


def source_tables(manifest_path: Path) -> list[tuple[str, str]]:
    """Every dbt source as (schema, table)."""
    sources = _manifest(manifest_path)["sources"].values()
    return sorted({(s["schema"], s["name"]) for s in sources})


def _columns(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    query = (
        "select column_name from information_schema.columns "
        "where table_catalog = current_database() and table_schema = ? and table_name = ? "
        "order by ordinal_position"
    )
    return [name for (name,) in conn.execute(query, [schema, table]).fetchall()]


def _copy(conn: duckdb.DuckDBPyConnection, select: str, path: Path) -> None:
    """Write a query's rows to path as Parquet, whole or not at all: Spark skips names that
    start with a dot, so the file is invisible until its rename."""
    partial = path.with_name(f".{path.name}.partial")
    conn.execute(f"copy ({select}) to {lit(str(partial))} (format parquet)")
    os.replace(partial, path)


def write_sources(
    conn: duckdb.DuckDBPyConnection, settings: Settings, sources: list[tuple[str, str]]
) -> list[str]:
    """Write the source tables that exist in DuckDB as Parquet for Spark; returns them as
    "schema.table". A table with a landing day has one file per day, named by its row count
    and newest load time, and only the days whose rows changed are written again; the others
    are written whole."""
    written = []
    for schema, table in sources:
        columns = _columns(conn, schema, table)
        if not columns:
            continue  # not created yet (the contact log before the first send): absent on Spark
        folder = settings.spark_dir / "sources" / schema / table
        folder.mkdir(parents=True, exist_ok=True)
        relation = f"{q(schema)}.{q(table)}"
        if PARTITION_COLUMN in columns:
            _write_days(conn, relation, folder)
        else:
            _copy(conn, f"select * from {relation}", folder / "all.parquet")
        written.append(f"{schema}.{table}")
    return written


def _write_days(conn: duckdb.DuckDBPyConnection, relation: str, folder: Path) -> None:
    days = conn.execute(
        f"select {PARTITION_COLUMN}, count(*), "
        f"coalesce(epoch_us(max(_loaded_at)), 0) from {relation} group by all"
    ).fetchall()
    wanted = {f"{day}_{rows}_{loaded}.parquet": day for day, rows, loaded in days}
    if not wanted:  # an empty table still needs a file: Spark reads its columns from one
        wanted = {"empty.parquet": None}
    for name, day in wanted.items():
        if (folder / name).exists():
            continue
        where = f"where {PARTITION_COLUMN} = {lit(str(day))}" if day else "where false"
        _copy(conn, f"select * from {relation} {where}", folder / name)
    for stale in folder.glob("*.parquet"):  # days replaced or gone, after the new files
        if stale.name not in wanted:
            stale.unlink()


def link_spark_tables(
    conn: duckdb.DuckDBPyConnection, settings: Settings, manifest_path: Path
) -> int:
    """Make every table dbt built on Spark a view of the same name in DuckDB (the marts in
    the marts' file), reading the table's Parquet files. A DuckDB table of that name, left by
    a build on DuckDB, gives way to the view."""
    (warehouse,) = one(conn, "select current_database()")
    linked = 0
    for node in _manifest(manifest_path)["nodes"].values():
        if node["resource_type"] not in ("model", "seed"):
            continue
        if node["config"]["materialized"] not in LINKED:
            continue
        schema, name = node["schema"], node["alias"]
        folder = settings.spark_dir / "warehouse" / f"{schema}.db" / name
        if not any(folder.rglob("*.parquet")):
            continue  # not built yet (the campaign evaluation before the first send)
        catalog = MARTS_CATALOG if schema == "marts" else warehouse
        target = f"{q(catalog)}.{q(schema)}.{q(name)}"
        conn.execute(f"create schema if not exists {q(catalog)}.{q(schema)}")
        kind = one(
            conn,
            "select coalesce(max(table_type), '') from information_schema.tables "
            "where table_catalog = ? and table_schema = ? and table_name = ?",
            [catalog, schema, name],
        )[0]
        if kind == "BASE TABLE":
            conn.execute(f"drop table {target}")
        files = lit(str(folder / "**" / "*.parquet"))
        conn.execute(
            f"create or replace view {target} as "
            f"select * from read_parquet({files}, hive_partitioning = true)"
        )
        linked += 1
    return linked
