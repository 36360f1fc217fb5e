"""Every setting of the pipeline: thresholds from dbt/dbt_project.yml vars, paths from env."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
# the as-of day D given to dbt (int_as_of_date reads it): an environment variable, not a dbt
# var, because dbt parses the whole project again when a var changes (3-4 s a run), and only
# the files that read an environment variable when it changes
AS_OF_ENV = "CRM_AS_OF_DATE"
# the marts' file is attached to the warehouse under this name (dbt/profiles.yml attaches it
# for dbt), and its schema marts is on the search path: `marts.x` reads it
MARTS_CATALOG = "marts_db"
DEFAULT_DATA_DIR = REPO_ROOT / "data"


@cache
def dbt_vars() -> dict[str, Any]:
    """The `vars:` block of dbt_project.yml: the one place every threshold is set."""
    with (DBT_PROJECT_DIR / "dbt_project.yml").open(encoding="utf-8") as f:
        return dict(yaml.safe_load(f)["vars"])


def data_dir_from_env() -> Path:
    """CRM_DATA_DIR, or data/ in the repo: every file the project writes lives below it."""
    return Path(os.environ.get("CRM_DATA_DIR") or DEFAULT_DATA_DIR).resolve()


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    vars: dict[str, Any] = field(default_factory=dbt_vars)

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def marts_path(self) -> Path:
        """The marts' own DuckDB file, attached to the warehouse as MARTS_CATALOG."""
        return self.data_dir / "marts.duckdb"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def store_timezone(self) -> str:
        return str(self.vars["store_timezone"])

    @property
    def reporting_currency(self) -> str:
        return str(self.vars["reporting_currency"])

    @property
    def first_partition_date(self) -> date:
        return date.fromisoformat(str(self.vars["first_partition_date"]))

    @property
    def future_tolerance_hours(self) -> int:
        return int(self.vars["future_tolerance_hours"])

    @property
    def duckdb_memory_limit(self) -> str:
        return str(self.vars["duckdb_memory_limit"])

    @property
    def ingest_batch_bytes(self) -> int:
        return int(self.vars["ingest_batch_mb"]) * 1024 * 1024


def load_settings(data_dir: str | Path | None = None) -> Settings:
    return Settings(data_dir=Path(data_dir).resolve() if data_dir else data_dir_from_env())
