"""One daily-partitioned Dagster asset per raw entity, and the check that its ledger reconciles."""

import warnings
from datetime import date

import dagster as dg
import duckdb

from dagster_project.ingest.contract import ENTITIES, Entity
from dagster_project.ingest.loader import RAW_SCHEMA, LoadReport, ensure_tables, load_partitions
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
            )
        return dg.MaterializeResult(metadata=_report_metadata(report, total))

    _raw.__name__ = f"raw_{entity.name}"
    return _raw


def reconciliation_problems(conn: duckdb.DuckDBPyConnection, entity: Entity) -> list[str]:
    """Files whose ledger does not add up, or disagrees with the raw and quarantine tables."""
    ensure_tables(conn, entity)
    rows = conn.execute(
        f"""
        with in_raw as (
            select _source_file as source_file, count(*) as n
            from {RAW_SCHEMA}.{entity.name} group by 1
        ),
        in_quarantine as (
            select source_file, count(*) as n
            from {RAW_SCHEMA}.quarantine where entity = $entity group by 1
        ),
        ledger as (
            select * from {RAW_SCHEMA}.file_ledger where entity = $entity and status = 'loaded'
        )
        select coalesce(l.source_file, r.source_file, q.source_file), l.rows_read,
            l.rows_loaded, l.rows_quarantined, coalesce(r.n, 0), coalesce(q.n, 0)
        from ledger as l
        full join in_raw as r on r.source_file = l.source_file
        full join in_quarantine as q on q.source_file = coalesce(l.source_file, r.source_file)
        where l.source_file is null
            or l.rows_read <> l.rows_loaded + l.rows_quarantined
            or l.rows_loaded <> coalesce(r.n, 0)
            or l.rows_quarantined <> coalesce(q.n, 0)
        order by 1
        """,
        {"entity": entity.name},
    ).fetchall()
    return [
        f"{path}: ledger read {read}, loaded {loaded}, quarantined {quar}; "
        f"tables hold {raw_n} loaded and {quar_n} quarantined"
        for path, read, loaded, quar, raw_n, quar_n in rows
    ]


def build_reconciliation_check(entity: Entity) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=raw_key(entity.name),
        name="file_ledger_reconciles",
        blocking=True,
        description="For every file: rows read = rows loaded + rows quarantined, and the "
        "raw and quarantine tables hold exactly those rows.",
    )
    def _check(warehouse: Warehouse) -> dg.AssetCheckResult:
        with warehouse.connect() as conn:
            problems = reconciliation_problems(conn, entity)
            files = conn.execute(
                f"select count(*) from {RAW_SCHEMA}.file_ledger where entity = ?", [entity.name]
            ).fetchone()[0]
        return dg.AssetCheckResult(
            passed=not problems,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(problems[:20]) or f"all {files} file(s) reconcile",
            metadata={"files_checked": files, "files_not_reconciling": len(problems)},
        )

    _check.__name__ = f"raw_{entity.name}_reconciles"
    return _check


with warnings.catch_warnings():
    # backfill_policy is marked beta, but it is what loads a range of days in one run
    warnings.simplefilter("ignore", dg.BetaWarning)
    raw_assets = [build_raw_asset(e) for e in ENTITIES.values()]
raw_checks = [build_reconciliation_check(e) for e in ENTITIES.values()]
