"""The one resource every asset shares: the data folder and the DuckDB warehouse inside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from pydantic import Field

from dagster_project.settings import Settings, load_settings


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether `schema.table` exists in the warehouse."""
    schema, name = table.split(".")
    query = (
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    )
    return conn.execute(query, [schema, name]).fetchall() == [(1,)]


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
        conn = duckdb.connect(
            str(settings.warehouse_path), config={"memory_limit": settings.duckdb_memory_limit}
        )
        try:
            yield conn
        finally:
            conn.close()
