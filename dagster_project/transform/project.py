"""The dbt project and its parse (the manifest the asset definitions are built from).

Importing the definitions never runs dbt: `crm-mart` (run, status, demo, prepare) and
`make dagster` parse first, here, when the project or the shop's dbt settings changed since
the last parse; `dagster dev` parses on every reload (dagster-dbt's prepare_if_dev).
"""

import json
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from dagster_project.settings import DBT_PROJECT_DIR, Settings, load_settings


def dbt_project_for(settings: Settings) -> DbtProject:
    """The dbt project, with its target (manifest, compiled SQL) in the shop's data folder."""
    return DbtProject(project_dir=DBT_PROJECT_DIR, target_path=settings.data_dir / "dbt" / "target")


def dbt_resource_for(settings: Settings) -> DbtCliResource:
    return DbtCliResource(
        project_dir=dbt_project_for(settings),
        # dbt writes its logs under CRM_DATA_DIR too, never into the repo
        global_config_flags=["--log-path", str(settings.data_dir / "dbt" / "logs")],
        # the dbt of this environment, whether or not the venv is activated
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
        target=settings.engine,  # profiles.yml names its outputs after the engines
    )


def vars_arg(settings: Settings) -> list[str]:
    """The settings dbt reads, as dbt's --vars: every dbt invocation passes them."""
    return ["--vars", json.dumps(settings.dbt_vars, sort_keys=True)]


def parsed_vars_path(settings: Settings) -> Path:
    """The last parse's target and vars."""
    return dbt_project_for(settings).target_path / "parsed_vars.json"


def parse_inputs(settings: Settings) -> str:
    """What a parse depends on besides the project's files: the target (the engine) and the
    vars."""
    return json.dumps({"target": settings.engine, "vars": settings.dbt_vars}, sort_keys=True)


def manifest_is_stale(settings: Settings) -> bool:
    """No manifest yet, a file of the dbt project changed after it was written, or the shop's
    engine or settings for dbt changed (then the partial parse that runs copy would be of no
    use)."""
    manifest, parsed = dbt_project_for(settings).manifest_path, parsed_vars_path(settings)
    if not manifest.exists() or not parsed.exists():
        return True
    if parsed.read_text(encoding="utf-8") != parse_inputs(settings):
        return True
    written = manifest.stat().st_mtime
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        sources += (DBT_PROJECT_DIR / folder).rglob("*")
    return any(p.is_file() and p.stat().st_mtime > written for p in sources)


def prepare(settings: Settings | None = None) -> bool:
    """Parse the dbt project when its manifest is stale; returns whether it parsed."""
    settings = settings or load_settings()
    if not manifest_is_stale(settings):
        return False
    project = dbt_project_for(settings)
    dbt_resource_for(settings).cli(
        ["parse", "--quiet", *vars_arg(settings)], target_path=project.target_path
    ).wait()
    parsed_vars_path(settings).write_text(parse_inputs(settings), encoding="utf-8")
    return True


if __name__ == "__main__":
    prepare()
