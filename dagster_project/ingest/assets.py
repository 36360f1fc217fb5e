"""One Dagster asset per raw entity (their checks: quality/checks.py).

The file ledger decides what is new: a run loads every landing file not loaded yet, from any
number of days, and records one materialization per entity. No daily partitions: a year of
history costs Dagster the same bookkeeping as one day.
"""

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb

from dagster_project.ingest.contract import ENTITIES, Entity
from dagster_project.ingest.loader import (
    RAW_SCHEMA,
    LoadReport,
    landing_days,
    load_partitions,
    one,
)
from dagster_project.resources import Warehouse, retry_only_transient
from dagster_project.settings import Settings


class LoadConfig(dg.Config):
    through: str | None = None  # YYYY-MM-DD: load landing days up to this one; empty: up to
    # tomorrow in store time (files extracted today may already be there)


def load_through(config: LoadConfig, settings: Settings) -> date:
    if config.through:
        return date.fromisoformat(config.through)
    return settings.store_today() + timedelta(days=1)


def load_run_config(through: date | None) -> dict:
    """Run config for every raw asset of a run: load the landing days up to `through`."""
    config = {"config": {"through": through.isoformat() if through else None}}
    return {"ops": {f"raw__{entity}": config for entity in ENTITIES}}


LAST_UPDATED = "dagster/last_updated_timestamp"  # the data time of a materialization


def raw_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey([RAW_SCHEMA, entity])


def newest_data_time(
    conn: duckdb.DuckDBPyConnection, settings: Settings, entity: str
) -> float | None:
    """The end (store time) of the newest landing day loaded for the entity: the data time
    Dagster's freshness checks read (metadata dagster/last_updated_timestamp)."""
    (day,) = one(
        conn,
        f"select max(partition_date) from {RAW_SCHEMA}.file_ledger "
        "where entity = ? and status = 'loaded'",
        [entity],
    )
    if day is None:
        return None
    next_day = datetime.combine(
        day + timedelta(days=1), time.min, ZoneInfo(settings.store_timezone)
    )
    return next_day.timestamp()


def _report_metadata(report: LoadReport, total_rows: int) -> dict[str, Any]:
    reasons = "\n".join(
        f"| {reason} | {n:,} |" for reason, n in report.quarantine_reasons.most_common(15)
    )
    return {
        "dagster/row_count": total_rows,
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "rows_quarantined": report.rows_quarantined,
        "files_loaded": report.files_loaded,
        "files_already_loaded": report.files_already_loaded,
        "files_duplicate_deliveries": report.files_duplicate,
        "days_loaded": report.days_text,
        "quarantine_reasons": dg.MetadataValue.md(
            "| reason | rows |\n|---|---|\n" + reasons if reasons else "nothing quarantined"
        ),
    }


def build_raw_asset(entity: Entity, pulls: list[dg.AssetKey] | None = None) -> dg.AssetsDefinition:
    """The raw asset of an entity; `pulls` are the pulls that deliver it (it loads after them)."""

    @dg.asset(
        key=raw_key(entity.name),
        deps=pulls or [],
        group_name="ingest",
        kinds={"duckdb"},
        owners=["team:data-engineering"],
        description=(
            f"{entity.description} Loaded from landing/{entity.name}/dt=YYYY-MM-DD/ (and "
            f"pulled/<source>/{entity.name}/dt=YYYY-MM-DD/): every file not in the file ledger "
            "yet; rows that break the data contract go to raw.quarantine with their reason."
        ),
        metadata={"table": f"{RAW_SCHEMA}.{entity.name}"},
    )
    @retry_only_transient
    def _raw(
        context: dg.AssetExecutionContext, warehouse: Warehouse, config: LoadConfig
    ) -> dg.MaterializeResult:
        settings = warehouse.get_settings()
        days = landing_days(settings, entity.name, load_through(config, settings))
        with warehouse.connect() as conn:
            report = load_partitions(conn, settings, entity, days)
            (total,) = one(conn, f"select count(*) from {RAW_SCHEMA}.{entity.name}")
            data_time = newest_data_time(conn, settings, entity.name)
        context.log.info(
            f"{entity.name}: {report.files_loaded} file(s) loaded ({report.days_text}), "
            f"{report.rows_loaded:,} rows loaded, {report.rows_quarantined:,} quarantined, "
            f"{report.files_already_loaded} already loaded, {report.files_duplicate} duplicate(s)"
        )
        if report.failures:
            raise dg.Failure(
                description=report.failure_message(),
                metadata=_report_metadata(report, total),
                allow_retries=False,  # a broken file stays broken: retrying cannot help
            )
        metadata = _report_metadata(report, total)
        if data_time is not None:
            metadata[LAST_UPDATED] = dg.MetadataValue.timestamp(data_time)
        return dg.MaterializeResult(metadata=metadata)

    return _raw


def build_raw_assets(
    pulls: dict[str, list[dg.AssetKey]] | None = None,
) -> list[dg.AssetsDefinition]:
    return [build_raw_asset(e, (pulls or {}).get(e.name)) for e in ENTITIES.values()]


raw_assets = build_raw_assets()  # a shop without sources
