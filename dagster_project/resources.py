"""The one resource every asset shares: the data folder and the DuckDB warehouse inside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from pydantic import Field

from dagster_project.ingest.loader import lit, one, q
from dagster_project.score import FORMER_TABLES
from dagster_project.score import SCHEMA as SCORES
from dagster_project.settings import MARTS_CATALOG, Settings, load_settings


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether `schema.table` exists in the warehouse."""
    schema, name = table.split(".")
    query = (
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    )
    return conn.execute(query, [schema, name]).fetchall() == [(1,)]


def open_warehouse(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The warehouse with the marts' file attached, as dbt sees them: `marts.x` is a mart.

    A read-only connection attaches the marts' file only once a build has written it."""
    conn = duckdb.connect(
        str(settings.warehouse_path),
        read_only=read_only,
        config={"memory_limit": settings.duckdb_memory_limit},
    )
    if read_only and not settings.marts_path.exists():
        return conn
    mode = " (read_only)" if read_only else ""
    conn.execute(f"attach {lit(str(settings.marts_path))} as {MARTS_CATALOG}{mode}")
    (warehouse,) = one(conn, "select current_database()")
    if not read_only:
        conn.execute(f"create schema if not exists {MARTS_CATALOG}.marts")
        conn.execute(f"create schema if not exists {MARTS_CATALOG}.{SCORES}")
        for table in FORMER_TABLES:  # the scores were in dbt's schema before they had their own
            conn.execute(f"drop table if exists {MARTS_CATALOG}.marts.{table}")
        # the marts were a schema of the warehouse before they had a file: that schema would
        # hide the file's (the warehouse comes first), and the next build rebuilds them all
        conn.execute(f"drop schema if exists {q(warehouse)}.marts cascade")
    path = f"{warehouse}.main,{MARTS_CATALOG}.marts,{MARTS_CATALOG}.{SCORES}"
    conn.execute(f"set search_path = {lit(path)}")
    return conn


class Warehouse(dg.ConfigurableResource):
    """CRM_DATA_DIR and the warehouse file in it (DuckDB: one writing process at a time)."""

    data_dir: str = Field(
        default="", description="Folder for everything the pipeline writes; empty: $CRM_DATA_DIR"
    )

    def get_settings(self) -> Settings:
        return load_settings(self.data_dir or None)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        settings = self.get_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        conn = open_warehouse(settings)
        try:
            yield conn
        finally:
            conn.close()
