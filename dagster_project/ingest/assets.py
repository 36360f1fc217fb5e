"""One daily-partitioned Dagster asset per raw entity (their checks: quality/checks.py)."""

import warnings
from datetime import date

import dagster as dg

from dagster_project.ingest.contract import ENTITIES, Entity
from dagster_project.ingest.loader import RAW_SCHEMA, LoadReport, load_partitions
from dagster_project.resources import Warehouse
from dagster_project.settings import load_settings

_settings = load_settings()
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=_settings.first_partition_date.isoformat(),
    timezone=_settings.store_timezone,
    end_offset=1,  # today's partition exists: files extracted today may already be there
)


def raw_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey([RAW_SCHEMA, entity])


def _report_metadata(report: LoadReport, total_rows: int) -> dict[str, object]:
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
        "quarantine_reasons": dg.MetadataValue.md(
            "| reason | rows |\n|---|---|\n" + reasons if reasons else "nothing quarantined"
        ),
    }


def build_raw_asset(entity: Entity) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(entity.name),
        group_name="ingest",
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"duckdb"},
        owners=["team:data-engineering"],
        description=(
            f"{entity.description} Loaded from landing/{entity.name}/dt=YYYY-MM-DD/; rows that "
            "break the data contract go to raw.quarantine with their reason."
        ),
        metadata={"table": f"{RAW_SCHEMA}.{entity.name}"},
    )
    def _raw(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        days = [date.fromisoformat(key) for key in context.partition_keys]
        with warehouse.connect() as conn:
            report = load_partitions(conn, warehouse.get_settings(), entity, days)
            total = conn.execute(f"select count(*) from {RAW_SCHEMA}.{entity.name}").fetchone()[0]
        context.log.info(
            f"{entity.name}: {report.files_loaded} file(s) loaded, {report.rows_loaded:,} rows "
            f"loaded, {report.rows_quarantined:,} quarantined, "
            f"{report.files_already_loaded} already loaded, {report.files_duplicate} duplicate(s)"
        )
        if report.failures:
            raise dg.Failure(
                description=report.failure_message(),
                metadata=_report_metadata(report, total),
                allow_retries=False,  # a broken file stays broken: retrying cannot help
            )
        return dg.MaterializeResult(metadata=_report_metadata(report, total))

    _raw.__name__ = f"raw_{entity.name}"
    return _raw


with warnings.catch_warnings():
    # backfill_policy is marked beta, but it is what loads a range of days in one run
    warnings.simplefilter("ignore", dg.BetaWarning)
    raw_assets = [build_raw_asset(e) for e in ENTITIES.values()]
