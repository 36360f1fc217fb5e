"""Loading the definitions never runs dbt: `crm-mart prepare` parses the project first."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from dagster_project.settings import SHOP_CONFIG

CRM_MART = str(Path(sys.executable).parent / "crm-mart")
# loads the definitions with dbt's command line replaced by an error: any dbt call fails
LOAD_WITHOUT_DBT = textwrap.dedent(
    """
    import dagster_dbt

    def no_dbt(self, *args, **kwargs):
        raise AssertionError("the definitions ran dbt while loading")

    dagster_dbt.DbtCliResource.cli = no_dbt
    from dagster_project.definitions import defs
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    print("marts/campaign_evaluation" in keys and "activate/contact_log" in keys)
    """
)


def run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CRM_DATA_DIR": str(data_dir)}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)


def test_the_definitions_load_from_the_manifest_and_never_run_dbt(tmp_path):
    data = tmp_path / "shop"
    data.mkdir()
    load = [sys.executable, "-c", LOAD_WITHOUT_DBT]

    missing = run(load, data)  # no manifest yet: a clear message, not a dbt parse
    assert missing.returncode == 1
    assert "No dbt manifest at" in missing.stderr and "run `crm-mart prepare`" in missing.stderr

    prepared = run([CRM_MART, "prepare"], data)
    manifest = data / "dbt" / "target" / "manifest.json"
    assert prepared.stdout == f"Parsed the dbt project: {manifest}\n", prepared.stderr
    assert run([CRM_MART, "prepare"], data).stdout == f"Up to date: {manifest}\n"
    loaded = run(load, data)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == "True\n"

    # a dbt setting changed since the parse: the definitions still load, and say what to do
    (data / SHOP_CONFIG).write_text("attribution_window_days: 10\n", encoding="utf-8")
    stale = run(load, data)
    assert stale.returncode == 0, stale.stderr
    assert "run `crm-mart prepare` and reload the definitions" in stale.stderr
    again = run([CRM_MART, "prepare"], data)
    assert again.stdout == f"Parsed the dbt project: {manifest}\n"
