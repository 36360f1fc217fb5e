"""The one Definitions object: assets, checks and resources of crm-mart."""

import dagster as dg

from dagster_project.ingest.assets import raw_assets, raw_checks
from dagster_project.resources import Warehouse
from dagster_project.transform.assets import crm_dbt_models, dbt_resource

all_assets = [*raw_assets, crm_dbt_models]
all_checks = [*raw_checks]

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    resources={"warehouse": Warehouse(), "dbt": dbt_resource},
    # DuckDB allows one writing process: steps of a run execute one after another.
    executor=dg.in_process_executor,
)
