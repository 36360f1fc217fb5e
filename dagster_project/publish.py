"""The marts, published for BI tools: a read-only DuckDB file that never blocks a run.

DuckDB lets one process write the warehouse and locks the file while it does. The marts
have a file of their own (attached to the warehouse), so after each good build that file is
copied beside the published one, which is then replaced by the copy (an atomic rename): a
BI connection opened before the swap keeps reading the previous publication, one opened
after sees the new one, and none sees half of either.
"""

import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project.ingest.loader import lit, one, q
from dagster_project.resources import Warehouse, retry_only_transient
from dagster_project.score.assets import score_assets
from dagster_project.settings import MARTS_CATALOG, Settings
from dagster_project.transform.assets import dbt_asset_defs

PUBLICATION_TABLE = "_publication"  # in the published file: what it holds, from which run


def published_path(settings: Settings) -> Path:
    return settings.data_dir / "bi" / "crm_mart.duckdb"


def _views_to_tables(conn: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """With dbt on Spark the marts are views over Spark's files, which the next build
    rewrites: the copy holds their rows instead, so that it stays as it was published."""
    views = conn.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = ? and table_type = 'VIEW'",
        [catalog],
    ).fetchall()
    for schema, name in views:
        view, table = f"{catalog}.{q(schema)}.{q(name)}", q(f"{name}__rows")
        conn.execute(f"create table {catalog}.{q(schema)}.{table} as select * from {view}")
        conn.execute(f"drop view {view}")
        conn.execute(f"alter table {catalog}.{q(schema)}.{table} rename to {q(name)}")


def publish_marts(conn: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> dict:
    """Copy the marts' file (conn has it attached) and swap the copy into place."""
    final = published_path(settings)
    final.parent.mkdir(parents=True, exist_ok=True)
    building = final.parent / f".marts-{uuid.uuid4().hex}.duckdb"
    conn.execute(f"checkpoint {MARTS_CATALOG}")  # everything in the file, nothing in its log
    published_at = datetime.now(UTC).replace(tzinfo=None)
    try:
        shutil.copyfile(settings.marts_path, building)
        conn.execute(f"attach {lit(str(building))} as bi_building")
        _views_to_tables(conn, "bi_building")
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = 'bi_building' and table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        counts = [
            (
                f"{schema}.{table}",
                *one(conn, f"select count(*) from bi_building.{q(schema)}.{q(table)}"),
            )
            for schema, table in tables
        ]
        conn.execute(
            f"create table bi_building.main.{PUBLICATION_TABLE} "
            "(table_name varchar, row_count bigint, run_id varchar, published_at timestamp)"
        )
        conn.executemany(
            f"insert into bi_building.main.{PUBLICATION_TABLE} values (?, ?, ?, ?)",
            [(name, rows, run_id, published_at) for name, rows in counts],
        )
        conn.execute("checkpoint bi_building")
        conn.execute("detach bi_building")
        os.replace(building, final)  # atomic: readers see the old file or the new one
    except BaseException:
        if "bi_building" in {r[0] for r in conn.execute("show databases").fetchall()}:
            conn.execute("detach bi_building")
        building.unlink(missing_ok=True)
        raise
    return {"path": str(final), "tables": len(counts), "rows": sum(n for _, n in counts)}


_mart_keys = [k for a in dbt_asset_defs for k in a.keys if k.path[0] == "marts"]
_score_keys = [k for a in score_assets for k in a.keys]


@dg.asset(
    key=dg.AssetKey(["bi", "marts"]),
    group_name="bi",
    kinds={"duckdb"},
    deps=[*_mart_keys, *_score_keys],
    description=(
        "Every mart in a read-only DuckDB file for BI tools ($CRM_DATA_DIR/bi/crm_mart.duckdb), "
        "swapped in atomically after a good build. A failed check upstream leaves the last "
        "good publication in place."
    ),
)
@retry_only_transient
def bi_marts(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        published = publish_marts(conn, warehouse.get_settings(), context.run_id)
    context.log.info(
        f"Published {published['tables']} tables ({published['rows']:,} rows) to "
        f"{published['path']}"
    )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(published["path"]),
            "tables": published["tables"],
            "rows": published["rows"],
        }
    )
