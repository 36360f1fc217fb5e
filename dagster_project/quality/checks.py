"""The great-expectations suites as Dagster asset checks.

An ERROR check is blocking: when it fails, nothing downstream of its asset runs in that run
(no mart, no score, no audience file, no BI publication). A WARN check is recorded and shown.
Every validation is kept as an HTML page under $CRM_DATA_DIR/quality/<suite>/, linked from
the check's metadata. dbt's own tests appear as asset checks too (dagster-dbt).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dagster as dg
import duckdb

from dagster_project.ingest.assets import raw_key
from dagster_project.ingest.contract import ENTITIES, Entity
from dagster_project.ingest.loader import UNRECOGNISED_TABLE, ensure_tables
from dagster_project.quality.gx import Outcome, write_report
from dagster_project.quality.suites import (
    CONTRACT,
    MART_SUITES,
    PLAUSIBILITY,
    MartSuite,
    validate_mart,
    validate_raw,
)
from dagster_project.resources import Warehouse, retry_only_transient
from dagster_project.score import SCHEMA as SCORES
from dagster_project.settings import Settings, load_settings
from dagster_project.transform.assets import model_key

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def run_suite(
    warehouse: Warehouse,
    name: str,
    validate: Callable[[duckdb.DuckDBPyConnection, Settings], tuple[Outcome, dict[str, Any]]],
    severity: dg.AssetCheckSeverity,
    passed_text: str,
) -> dg.AssetCheckResult:
    """Validate, keep the HTML report under quality/<name>/, and say what was found.
    `passed_text` may name facts, e.g. '{rows_validated:,} rows'."""
    settings = warehouse.get_settings()
    with warehouse.connect() as conn:
        outcome, facts = validate(conn, settings)
    report = write_report(outcome, settings.data_dir / "quality" / name, name, facts)
    failures = outcome.failures
    return dg.AssetCheckResult(
        passed=outcome.success,
        severity=severity,
        description="; ".join(failures[:10]) + (f" (report: {report})" if failures else "")
        or passed_text.format(**facts),
        metadata={
            "report": dg.MetadataValue.path(str(report)),
            "expectations": len(outcome.results),
            "expectations_failed": len(failures),
            **{k: v if isinstance(v, int | float | bool) else str(v) for k, v in facts.items()},
        },
    )


def _raw_check(entity: Entity, suite: str) -> dg.AssetChecksDefinition:
    blocking = suite == CONTRACT
    text = {
        CONTRACT: "The data contract again on the rows loaded since this check last passed: "
        "required values, enums, ranges, currency, plausible timestamps, one row per key in a "
        "file; and the file ledger reconciles, with at most quarantine_error_share quarantined "
        "per file. Blocking: a failure stops everything downstream.",
        PLAUSIBILITY: "Warnings on the newly loaded rows: timestamps in order, order totals "
        "below order_total_warn_max, at most quarantine_warn_share quarantined per file, and "
        "no key delivered with different content in two files (the later delivery wins).",
    }[suite]

    @dg.asset_check(
        asset=raw_key(entity.name),
        name=f"{suite}_expectations",
        blocking=blocking,
        description=text,
    )
    @retry_only_transient
    def _check(warehouse: Warehouse) -> dg.AssetCheckResult:
        return run_suite(
            warehouse,
            f"raw_{entity.name}_{suite}",
            lambda conn, settings: validate_raw(conn, settings, entity, suite),
            ERROR if blocking else WARN,
            "{rows_validated:,} new row(s) and every file of the ledger pass",
        )

    return _check


def _landing_check(entity: Entity) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=raw_key(entity.name),
        name="landing_files_recognised",
        blocking=False,
        description=f"WARN when the landing zone holds files that are not loaded because they "
        f"are outside landing/<entity>/dt=YYYY-MM-DD/: those meant for {entity.name} (by "
        "their folder) and those that name no entity. raw.unrecognised_files lists them.",
    )
    @retry_only_transient
    def _check(warehouse: Warehouse) -> dg.AssetCheckResult:
        with warehouse.connect() as conn:
            ensure_tables(conn, entity)
            found = conn.execute(
                f"select source_file, reason from {UNRECOGNISED_TABLE} "
                "where entity = ? or entity is null order by 1",
                [entity.name],
            ).fetchall()
        listing = "\n".join(f"{path}: {reason}" for path, reason in found[:20])
        more = f"\n... and {len(found) - 20} more" if len(found) > 20 else ""
        return dg.AssetCheckResult(
            passed=not found,
            severity=WARN,
            description=f"{len(found)} landing file(s) not loaded:\n{listing}{more}"
            if found
            else "every landing file is in an entity's dt= folder",
            metadata={"unrecognised_files": len(found)},
        )

    return _check


def mart_key(table: str) -> dg.AssetKey:
    schema, name = table.split(".")
    if schema == SCORES:  # Python assets, not dbt models
        return dg.AssetKey([schema, name])
    return model_key(name)


def _mart_check(suite: MartSuite) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=mart_key(suite.table),
        name="mart_expectations",
        blocking=True,
        description="A row count that has not dropped by more than mart_max_row_drop_share "
        "since the last good run; for the tables Python writes, values in range "
        "(great-expectations). Blocking.",
    )
    @retry_only_transient
    def _check(warehouse: Warehouse) -> dg.AssetCheckResult:
        return run_suite(
            warehouse,
            suite.table,
            lambda conn, settings: validate_mart(conn, settings, suite),
            ERROR,
            "every expectation holds",
        )

    return _check


_settings = load_settings()
# Dagster's own freshness checks (WARN) on the entities every shop delivers: each raw asset's
# data time is the end of its newest landing day loaded, and it must not be more than
# freshness_max_days old. The sensor evaluates them as time passes, also when no run happens.
# Dagster marks these checks as superseded by FreshnessPolicy, but a policy judges the time of
# the last materialization, and the raw assets materialize on every run, files or not: only
# the checks read the data time. Their notice is silenced here, and only here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=dg.SupersessionWarning)
    freshness_checks = dg.build_last_update_freshness_checks(
        assets=[raw_key(e.name) for e in ENTITIES.values() if not e.optional],
        lower_bound_delta=timedelta(days=int(_settings.vars["freshness_max_days"])),
        timezone=_settings.store_timezone,
    )
    freshness_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=freshness_checks, name="raw_data_freshness"
    )


raw_checks = [
    *(_raw_check(e, s) for e in ENTITIES.values() for s in (CONTRACT, PLAUSIBILITY)),
    *(_landing_check(e) for e in ENTITIES.values()),
]
mart_checks = [_mart_check(s) for s in MART_SUITES.values()]


@dataclass(frozen=True)
class CheckOutcome:
    """A check whose latest result did not pass."""

    severity: str  # WARN or ERROR
    asset: str
    check: str
    message: str  # the first line of its description


def unpassed_checks(
    instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey]
) -> list[CheckOutcome]:
    """The checks among `check_keys` whose latest evaluation failed or warned, sorted by key."""
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(check_keys))
    outcomes = []
    for check_key, record in sorted(latest.items(), key=lambda item: str(item[0])):
        check_event = record.event.dagster_event if record.event else None
        evaluation = check_event.event_specific_data if check_event else None
        if not isinstance(evaluation, dg.AssetCheckEvaluation) or evaluation.passed:
            continue
        outcomes.append(
            CheckOutcome(
                severity=evaluation.severity.value,
                asset=check_key.asset_key.to_user_string(),
                check=check_key.name,
                message=(evaluation.description or "failed").splitlines()[0],
            )
        )
    return outcomes
