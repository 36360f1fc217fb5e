"""Shared fixtures: a throw-away CRM_DATA_DIR with a landing zone and a warehouse."""

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

# Before dagster_project is imported: whatever the project writes at import time (the dbt
# manifest and logs) goes to a throw-away folder, never into the repo's data/.
os.environ["CRM_DATA_DIR"] = tempfile.mkdtemp(prefix="crm-mart-tests-")

import duckdb
import pytest

from dagster_project.resources import open_warehouse
from dagster_project.settings import Settings, load_settings
from dagster_project.transform.project import prepare

# the folder goes when the process ends (each pytest-xdist worker has one of its own)
atexit.register(shutil.rmtree, os.environ["CRM_DATA_DIR"], ignore_errors=True)
prepare()  # the dbt manifest the definitions are built from, as crm-mart does before loading them


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(tmp_path / "data")


@pytest.fixture
def land(settings: Settings) -> Callable[[str, str, str, str | bytes], Path]:
    """Write one landing file: land('orders', '2026-11-01', 'a.csv', text)."""

    def write(entity: str, day: str, name: str, content: str | bytes) -> Path:
        folder = settings.landing_dir / entity / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def conn(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    c = open_warehouse(settings)
    yield c
    c.close()
