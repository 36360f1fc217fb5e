"""The weekly report as a Dagster asset, built by the weekly schedule after the weekly KPIs."""

import dagster as dg

from dagster_project.activate.assets import CONTACT_LOG_KEY
from dagster_project.ingest.assets import raw_key
from dagster_project.ingest.contract import ENTITIES
from dagster_project.quality.checks import unpassed_checks
from dagster_project.report.build import write_report
from dagster_project.resources import Warehouse, retry_only_transient
from dagster_project.score.assets import VALUE_KEY
from dagster_project.transform.assets import model_key

REPORT_KEY = dg.AssetKey(["reports", "weekly"])


REPORT_MODELS = [
    "kpi_weekly_monitor", "kpi_stage_counts", "customer_stage_transitions", "customer_rfm",
    "customer_lifecycle", "kpi_cohort_retention", "kpi_cac_ltv", "campaign_evaluation",
]  # fmt: skip


@dg.asset(
    key=REPORT_KEY,
    group_name="reports",
    kinds={"html"},
    deps=[
        *(model_key(m) for m in REPORT_MODELS),
        VALUE_KEY,
        CONTACT_LOG_KEY,
        *(raw_key(entity) for entity in ENTITIES),
    ],
    description=(
        "The weekly report: $CRM_DATA_DIR/reports/<iso-week>.html and latest.html, one "
        "self-contained page (charts as inline SVG) of the newest complete week: KPIs, "
        "lifecycle stages and moves, value, retention, campaigns and data health, in the "
        "setting report_language."
    ),
)
@retry_only_transient
def weekly_report(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        from dagster_project.definitions import defs  # every check of the project

        check_keys = defs.resolve_asset_graph().asset_check_keys
        checks = unpassed_checks(context.instance, check_keys)
        path = write_report(conn, warehouse.get_settings(), checks=checks)
    context.log.info(f"Weekly report written to {path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "bytes": path.stat().st_size,
            "week": path.stem,
        }
    )
