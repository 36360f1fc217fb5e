"""Run the real dbt project against a test warehouse."""

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from dagster_project.ingest.contract import ENTITIES
from dagster_project.ingest.loader import ensure_tables, load_partitions
from dagster_project.resources import open_warehouse
from dagster_project.sample_shop.generator import ShopConfig, generate
from dagster_project.settings import AS_OF_ENV, DBT_PROJECT_DIR, Settings

DBT = str(Path(sys.executable).parent / "dbt")


def run_dbt(
    settings: Settings,
    *args: str,
    as_of: str | None = None,
    check: bool = True,
    extra_vars: dict | None = None,
    project: Path = DBT_PROJECT_DIR,
) -> str:
    """dbt <args> on settings' warehouse, with settings' vars (and extra_vars) as Dagster
    passes them, in project (the repo's dbt project unless given); fails the test with dbt's
    output when dbt fails (unless check is False: then dbt's output is returned either way)."""
    command = [DBT, *args, "--target-path", str(settings.data_dir / "dbt" / "target")]
    command += ["--vars", json.dumps({**settings.dbt_vars, **(extra_vars or {})})]
    command += ["--log-path", str(settings.data_dir / "dbt" / "logs")]
    env = {**os.environ, "CRM_DATA_DIR": str(settings.data_dir)}
    env.pop(AS_OF_ENV, None)
    if as_of:  # as Dagster passes D
        env[AS_OF_ENV] = as_of
    result = subprocess.run(
        command,
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 or not check, result.stdout[-6000:] + result.stderr[-2000:]
    return result.stdout


def empty_raw_tables(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open_warehouse(settings) as conn:
        for entity in ENTITIES.values():
            ensure_tables(conn, entity)


def load_shop(settings: Settings, cfg: ShopConfig) -> None:
    """Generate a sample shop into settings' landing zone and load every day of it."""
    generate(cfg, settings.data_dir)
    days = [cfg.start + timedelta(days=i) for i in range(cfg.days)]
    with open_warehouse(settings) as conn:
        for entity in ENTITIES.values():
            report = load_partitions(conn, settings, entity, days)
            assert not report.failures, report.failure_message()


def execute(settings: Settings, *statements: str) -> None:
    with open_warehouse(settings) as conn:
        for statement in statements:
            conn.execute(statement)


def query(settings: Settings, sql: str) -> list[tuple]:
    with open_warehouse(settings, read_only=True) as conn:
        return conn.execute(sql).fetchall()


def day(iso: str, plus: int = 0) -> date:
    return date.fromisoformat(iso) + timedelta(days=plus)
