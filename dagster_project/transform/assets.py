"""dbt models as Dagster assets (dagster-dbt). No SQL lives here: it is all in dbt/."""

import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliInvocation,
    DbtCliResource,
    dbt_assets,
    get_asset_key_for_model,
)

from dagster_project.resources import Warehouse, retry_only_transient
from dagster_project.settings import AS_OF_ENV, DATA_DIR_ENV, Settings, load_settings
from dagster_project.transform.project import (
    dbt_project_for,
    dbt_resource_for,
    manifest_is_stale,
    vars_arg,
)
from dagster_project.transform.spark import (
    SOURCES_ENV,
    link_spark_tables,
    source_tables,
    write_sources,
)

_settings = load_settings()
dbt_project = dbt_project_for(_settings)
dbt_resource = dbt_resource_for(_settings)

dbt_project.prepare_if_dev()  # under `dagster dev`: parse again on every reload
if not dbt_project.manifest_path.exists():
    raise FileNotFoundError(
        f"No dbt manifest at {dbt_project.manifest_path}: run `crm-mart prepare` (crm-mart run, "
        "status and demo, and make dagster, do it for you) before loading the definitions."
    )
if manifest_is_stale(_settings):
    dg.get_dagster_logger().warning(
        "The dbt project or the shop's dbt settings changed since the manifest was written: "
        "run `crm-mart prepare` and reload the definitions."
    )

# the models that read the contact log: built after the day's sends are logged
EVALUATION_SELECTION = "int_campaign_contact_outcomes+"


class CrmDbtTranslator(DagsterDbtTranslator):
    """Groups models by their dbt folder: staging, intermediate, customers, kpi, campaigns."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        if len(fqn) >= 3 and fqn[1] == "marts":
            return fqn[2]
        return fqn[1] if len(fqn) >= 3 else "transform"


class DbtBuildConfig(dg.Config):
    as_of_date: str | None = None  # YYYY-MM-DD; empty: the last day with data
    full_refresh: bool = False  # rebuild incremental models (stage history) from scratch


RUNS_DIR = dbt_project.target_path / "runs"  # each dbt run's compiled SQL and results


def dbt_build_args(config: DbtBuildConfig, settings: Settings) -> list[str]:
    # unit tests prove the SQL in CI (tests/dbt). dagster-dbt drops the exclude of
    # @dbt_assets when it runs a subset, so every run states it again
    args = ["build", "--exclude", "test_type:unit", *vars_arg(settings)]
    if config.as_of_date:
        # a day in the past rebuilds some models only (the campaign_day job): a test that
        # also reads a model left as of the newest day would compare two different days
        args += ["--indirect-selection", "cautious"]
    if config.full_refresh:
        args.append("--full-refresh")
    return args


_TRANSLATOR = CrmDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def _dbt_step(name: str, select: str = "fqn:*", exclude: str = "") -> dg.AssetsDefinition:
    """One dbt build step over the selected models, seeds and their tests. dbt unit tests prove
    the SQL in CI (tests/dbt); production builds skip them."""

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        dagster_dbt_translator=_TRANSLATOR,
        name=name,
        select=select,
        exclude=f"test_type:unit {exclude}".strip(),
    )
    @retry_only_transient
    def _step(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: Warehouse,
        config: DbtBuildConfig,
    ) -> Iterator[Any]:
        settings = warehouse.get_settings()
        if settings.engine == "spark":
            with warehouse.connect() as conn:
                sources = write_sources(conn, settings, source_tables(dbt_project.manifest_path))
            with _environment({SOURCES_ENV: ",".join(sources)}):
                yield from start_build(context, dbt, config, settings).stream()
            with warehouse.connect() as conn:
                link_spark_tables(conn, settings, dbt_project.manifest_path)
        else:
            yield from start_build(context, dbt, config, settings).stream()
        prune_runs(RUNS_DIR, keep=int(settings.vars["dbt_runs_kept"]))

    return _step


# staging, intermediate, customer and KPI models and the seeds; then, after the day's sends
# are logged, campaign evaluation (the models that read the contact log)
crm_dbt_models = _dbt_step("crm_dbt_models", exclude=EVALUATION_SELECTION)
crm_dbt_evaluation = _dbt_step("crm_dbt_evaluation", select=EVALUATION_SELECTION)
dbt_asset_defs = [crm_dbt_models, crm_dbt_evaluation]


def model_key(name: str) -> dg.AssetKey:
    """The asset key of a dbt model (or seed) by its name, in whichever definition holds it."""
    for definition in dbt_asset_defs:
        try:
            return get_asset_key_for_model([definition], name)
        except KeyError:
            continue
    raise KeyError(f"no dbt model or seed is called {name}")


def start_build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    config: DbtBuildConfig,
    settings: Settings,
) -> DbtCliInvocation:
    """Start `dbt build` for config's D on the warehouse of settings, with its settings as
    vars, in its own folder under RUNS_DIR (not in the repo) beside a copy of the project's
    parse, so that dbt only parses what changed since."""
    target = RUNS_DIR / f"{context.run.run_id[:8]}-{uuid.uuid4().hex[:7]}"
    target.mkdir(parents=True)
    parsed = dbt_project.target_path / "partial_parse.msgpack"
    if parsed.exists():
        shutil.copy(parsed, target / parsed.name)
    # dbt's process takes the environment as it starts, inside cli(): D, and the data folder
    # that profiles.yml reads the warehouse's path from
    with _environment({AS_OF_ENV: config.as_of_date, DATA_DIR_ENV: str(settings.data_dir)}):
        return dbt.cli(dbt_build_args(config, settings), context=context, target_path=target)


@contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set (or, for None, unset) environment variables for the block, then restore them."""
    previous = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value
        yield
    finally:
        for name, value in previous.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


def prune_runs(folder: Path, keep: int) -> None:
    """Delete the folders of all but the newest `keep` dbt runs."""
    runs = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime)
    for old in runs[:-keep] if keep > 0 else runs:
        shutil.rmtree(old, ignore_errors=True)
