"""dbt models as Dagster assets (dagster-dbt). No SQL lives here: it is all in dbt/."""

import json
import os
import shutil
import sys
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
    DbtProject,
    dbt_assets,
)

from dagster_project.resources import Warehouse
from dagster_project.settings import (
    AS_OF_ENV,
    DATA_DIR_ENV,
    DBT_PROJECT_DIR,
    Settings,
    load_settings,
)

_settings = load_settings()
dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    target_path=_settings.data_dir / "dbt" / "target",
)
dbt_resource = DbtCliResource(
    project_dir=dbt_project,
    # dbt writes its logs under CRM_DATA_DIR too, never into the repo
    global_config_flags=["--log-path", str(_settings.data_dir / "dbt" / "logs")],
    # the dbt of this environment, whether or not the venv is activated
    dbt_executable=str(Path(sys.executable).parent / "dbt"),
)


def vars_arg(settings: Settings) -> list[str]:
    """The settings dbt reads, as dbt's --vars: every dbt invocation passes them."""
    return ["--vars", json.dumps(settings.dbt_vars, sort_keys=True)]


PARSED_VARS = dbt_project.target_path / "parsed_vars.json"  # the vars of the last parse


def manifest_is_stale() -> bool:
    """No manifest yet, a file of the dbt project changed after it was written, or the shop's
    settings for dbt changed (then the partial parse that runs copy would be of no use)."""
    if not dbt_project.manifest_path.exists() or not PARSED_VARS.exists():
        return True
    if PARSED_VARS.read_text(encoding="utf-8") != vars_arg(_settings)[1]:
        return True
    written = dbt_project.manifest_path.stat().st_mtime
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        sources += (DBT_PROJECT_DIR / folder).rglob("*")
    return any(p.is_file() and p.stat().st_mtime > written for p in sources)


dbt_project.prepare_if_dev()  # under `dagster dev`: parse again on every reload
if manifest_is_stale():  # elsewhere: parse when the project changed, for the asset definitions
    dbt_resource.cli(
        ["parse", "--quiet", *vars_arg(_settings)], target_path=dbt_project.target_path
    ).wait()
    PARSED_VARS.write_text(vars_arg(_settings)[1], encoding="utf-8")


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


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=CrmDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    ),
    # dbt unit tests prove the SQL in CI (tests/dbt); production builds skip them
    exclude="test_type:unit",
)
def crm_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    config: DbtBuildConfig,
) -> Iterator[Any]:
    settings = warehouse.get_settings()
    yield from start_build(context, dbt, config, settings).stream()
    prune_runs(RUNS_DIR, keep=int(settings.vars["dbt_runs_kept"]))


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
