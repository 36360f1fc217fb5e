"""The one Definitions object: assets, checks and resources of crm-mart."""

import dagster as dg

from dagster_project.activate.assets import build_campaign_assets, campaign_day_job
from dagster_project.activate.catalogue import load_catalogue
from dagster_project.ingest.assets import raw_assets
from dagster_project.orchestration import jobs, loggers, schedules, sensors
from dagster_project.publish import bi_marts
from dagster_project.quality.checks import (
    freshness_checks,
    freshness_sensor,
    mart_checks,
    raw_checks,
)
from dagster_project.report.assets import weekly_report
from dagster_project.resources import Warehouse
from dagster_project.score.assets import score_assets
from dagster_project.transform.assets import dbt_asset_defs, dbt_resource

# A mistake in the campaign catalogue stops here, before anything runs, with every mistake listed.
campaign_assets = build_campaign_assets(load_catalogue())

all_assets = [
    *raw_assets,
    *dbt_asset_defs,
    *score_assets,
    *campaign_assets,
    bi_marts,
    weekly_report,
]
all_checks = [*raw_checks, *freshness_checks, *mart_checks]

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    jobs=[campaign_day_job, *jobs],
    schedules=schedules,
    sensors=[*sensors, freshness_sensor],
    resources={"warehouse": Warehouse(), "dbt": dbt_resource},
    loggers=loggers,
    # DuckDB allows one writing process: steps of a run execute one after another.
    executor=dg.in_process_executor,
)
