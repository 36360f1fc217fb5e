"""The one resource every asset shares: the data folder and the DuckDB warehouse inside it."""

from __future__ import annotations

import errno
import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import duckdb
from pydantic import Field

from dagster_project.ingest.loader import lit, one, q
from dagster_project.score import FORMER_TABLES
from dagster_project.score import SCHEMA as SCORES
from dagster_project.settings import MARTS_CATALOG, Settings, load_settings

# What trying again later can cure: the jobs' retry policy (step_max_retries) is for these only
TRANSIENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EAGAIN, errno.EBUSY, errno.EIO, errno.ETIMEDOUT}
)
TRANSIENT_MESSAGES = (  # as DuckDB (and dbt, passing DuckDB's message on) words them
    "Could not set lock on file",
    "Conflicting lock is held",
    "No space left on device",
)


def is_transient(error: BaseException) -> bool:
    """A locked warehouse file, a full disk, a lost connection: worth another try. An error of
    the code or the data (ZeroDivisionError, a broken contract, a failed check) is not."""
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    if isinstance(error, OSError) and error.errno in TRANSIENT_ERRNOS:
        return True
    return any(message in str(error) for message in TRANSIENT_MESSAGES)


def _fail_at_once(error: Exception) -> Exception:
    if isinstance(error, dg.Failure):
        if not error.allow_retries:
            return error
        return dg.Failure(
            description=error.description, metadata=error.metadata, allow_retries=False
        )
    return dg.Failure(description=f"{type(error).__name__}: {error}", allow_retries=False)


def retry_only_transient(fn: Callable[..., Any]) -> Callable[..., Any]:
    """For the function of an asset or a check: a transient error (is_transient) goes to the
    job's retry policy; any other error fails the step at once, with its message."""

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except Exception as error:
                if is_transient(error):
                    raise
                raise _fail_at_once(error) from error

        return generator

    @functools.wraps(fn)
    def function(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as error:
            if is_transient(error):
                raise
            raise _fail_at_once(error) from error

    return function


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether `schema.table` exists in the warehouse."""
    schema, name = table.split(".")
    query = (
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    )
    return conn.execute(query, [schema, name]).fetchall() == [(1,)]


def open_warehouse(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The warehouse with the marts' file attached, as dbt sees them: `marts.x` is a mart.

    A read-only connection attaches the marts' file only once a build has written it."""
    conn = duckdb.connect(
        str(settings.warehouse_path),
        read_only=read_only,
        config={"memory_limit": settings.duckdb_memory_limit},
    )
    if read_only and not settings.marts_path.exists():
        return conn
    mode = " (read_only)" if read_only else ""
    conn.execute(f"attach {lit(str(settings.marts_path))} as {MARTS_CATALOG}{mode}")
    (warehouse,) = one(conn, "select current_database()")
    if not read_only:
        conn.execute(f"create schema if not exists {MARTS_CATALOG}.marts")
        conn.execute(f"create schema if not exists {MARTS_CATALOG}.{SCORES}")
        for table in FORMER_TABLES:  # the scores were in dbt's schema before they had their own
            conn.execute(f"drop table if exists {MARTS_CATALOG}.marts.{table}")
        # the marts were a schema of the warehouse before they had a file: that schema would
        # hide the file's (the warehouse comes first), and the next build rebuilds them all
        conn.execute(f"drop schema if exists {q(warehouse)}.marts cascade")
    path = f"{warehouse}.main,{MARTS_CATALOG}.marts,{MARTS_CATALOG}.{SCORES}"
    conn.execute(f"set search_path = {lit(path)}")
    return conn


class Warehouse(dg.ConfigurableResource):
    """CRM_DATA_DIR and the warehouse file in it (DuckDB: one writing process at a time)."""

    data_dir: str = Field(
        default="", description="Folder for everything the pipeline writes; empty: $CRM_DATA_DIR"
    )

    def get_settings(self) -> Settings:
        return load_settings(self.data_dir or None)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        settings = self.get_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        conn = open_warehouse(settings)
        try:
            yield conn
        finally:
            conn.close()
