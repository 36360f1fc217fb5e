"""dbt models as Dagster assets (dagster-dbt). No SQL lives here: it is all in dbt/."""

import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping
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

from dagster_project.settings import AS_OF_ENV, DBT_PROJECT_DIR, load_settings

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


def manifest_is_stale() -> bool:
    """No manifest yet, or a file of the dbt project changed after it was written."""
    if not dbt_project.manifest_path.exists():
        return True
    written = dbt_project.manifest_path.stat().st_mtime
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        sources += (DBT_PROJECT_DIR / folder).rglob("*")
    return any(p.is_file() and p.stat().st_mtime > written for p in sources)


dbt_project.prepare_if_dev()  # under `dagster dev`: parse again on every reload
if manifest_is_stale():  # elsewhere: parse when the project changed, for the asset definitions
    dbt_resource.cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()


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


def dbt_build_args(config: DbtBuildConfig) -> list[str]:
    # unit tests prove the SQL in CI (tests/dbt). dagster-dbt drops the exclude of
    # @dbt_assets when it runs a subset, so every run states it again
    args = ["build", "--exclude", "test_type:unit"]
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
    context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig
) -> Iterator[Any]:
    yield from start_build(context, dbt, config).stream()
    prune_runs(RUNS_DIR, keep=int(_settings.vars["dbt_runs_kept"]))


def start_build(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig
) -> DbtCliInvocation:
    """Start `dbt build` for config's D in its own folder under RUNS_DIR (not in the repo),
    beside a copy of the project's parse, so that dbt only parses what changed since."""
    target = RUNS_DIR / f"{context.run.run_id[:8]}-{uuid.uuid4().hex[:7]}"
    target.mkdir(parents=True)
    parsed = dbt_project.target_path / "partial_parse.msgpack"
    if parsed.exists():
        shutil.copy(parsed, target / parsed.name)
    previous = os.environ.pop(AS_OF_ENV, None)
    if config.as_of_date:
        os.environ[AS_OF_ENV] = config.as_of_date
    try:  # dbt's process takes the environment as it starts, inside cli()
        return dbt.cli(dbt_build_args(config), context=context, target_path=target)
    finally:
        os.environ.pop(AS_OF_ENV, None)
        if previous is not None:
            os.environ[AS_OF_ENV] = previous


def prune_runs(folder: Path, keep: int) -> None:
    """Delete the folders of all but the newest `keep` dbt runs."""
    runs = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime)
    for old in runs[:-keep] if keep > 0 else runs:
        shutil.rmtree(old, ignore_errors=True)
