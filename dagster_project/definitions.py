"""The one Definitions object: assets, checks and resources of crm-mart."""

import dagster as dg
from dagster_dlt import DagsterDltResource

from dagster_project.activate.assets import build_campaign_assets, campaign_day_job
from dagster_project.activate.catalogue import load_catalogue
from dagster_project.ingest.assets import build_raw_assets
from dagster_project.ingest.sources import build_pull_assets, pulled_keys
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
from dagster_project.settings import load_settings
from dagster_project.transform.assets import dbt_asset_defs, dbt_resource

shop = load_settings()
# A mistake in the campaign catalogue stops here, before anything runs, with every mistake listed.
campaign_assets = build_campaign_assets(load_catalogue(settings=shop))

all_assets = [
    *build_pull_assets(shop),
    *build_raw_assets(pulled_keys(shop)),
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
    resources={"warehouse": Warehouse(), "dbt": dbt_resource, "dlt": DagsterDltResource()},
    loggers=loggers,
    # DuckDB allows one writing process: steps of a run execute one after another.
    executor=dg.in_process_executor,
)
