"""The weekly report as a Dagster asset, built by the weekly schedule after the weekly KPIs."""

import dagster as dg

from dagster_project.report.build import write_report
from dagster_project.resources import Warehouse, retry_only_transient
from dagster_project.transform.assets import model_key

REPORT_KEY = dg.AssetKey(["reports", "weekly"])


@dg.asset(
    key=REPORT_KEY,
    group_name="reports",
    kinds={"html"},
    deps=[model_key("kpi_weekly_monitor"), model_key("kpi_stage_counts")],
    description=(
        "The weekly report: $CRM_DATA_DIR/reports/<iso-week>.html and latest.html, one "
        "self-contained page (charts as inline SVG) of the newest complete week's KPIs and "
        "lifecycle stages, in the setting report_language."
    ),
)
@retry_only_transient
def weekly_report(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        path = write_report(conn, warehouse.get_settings())
    context.log.info(f"Weekly report written to {path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "bytes": path.stat().st_size,
            "week": path.stem,
        }
    )
