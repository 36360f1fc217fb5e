"""Pulls from the systems where a shop's data lives (docs/sources.md), through dlt.

A database source is dlt's SQL-database source: each mapped table is read incrementally on
its cursor column (the shop's update timestamp), selected already in the contract's column
names and values, and written by dlt's filesystem destination as Parquet under
pulled/<source>/<entity>/dt=<day>/. The raw assets load those files like landing files:
the same contract check, quarantine and ledger. dlt keeps each table's cursor in its state,
which it commits with the files of a completed pull only, so a failed pull leaves the cursor
where it was and the next pull reads the same rows again.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
import dlt
import sqlalchemy as sa
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.extract.source import DltSource
from dlt.sources.sql_database import sql_table

from dagster_project.ingest.contract import ENTITIES
from dagster_project.resources import Warehouse, retry_only_transient
from dagster_project.settings import DatabaseSource, Settings, SourceTable

LAYOUT = "{table_name}/dt={day}/{load_id}.{file_id}.{ext}"


@dataclass(frozen=True)
class PullReport:
    source: str
    rows: dict[str, int]  # rows pulled per entity
    cursors: dict[str, tuple[Any, Any]]  # per entity: the cursor before and after the pull


def connection_url(source: DatabaseSource) -> str:
    """The source's URL with the password from its environment variable (never in a file)."""
    url = sa.make_url(source.url)
    if source.password_env:
        password = os.environ.get(source.password_env)
        if password is None:
            raise ValueError(
                f"the password of {url.render_as_string()} is read from the environment "
                f"variable {source.password_env}, which is not set"
            )
        url = url.set(password=password)
    return url.render_as_string(hide_password=False)


def mapped_table(mapping: SourceTable) -> Any:
    """A dlt table adapter: the shop's table as a subquery of the contract's columns and
    values (and the cursor column under its own name), which dlt reads like a table: its
    incremental filter and order apply to the subquery's cursor column."""

    def adapt(table: sa.Table) -> Any:
        columns = []
        for name, expression in mapping.columns.items():
            column: Any = (
                table.c[expression] if expression in table.c else sa.literal_column(expression)
            )
            if name in mapping.values:
                text = sa.cast(column, sa.String)
                column = sa.case(mapping.values[name], value=text, else_=text)
            columns.append(column.label(name))
        if mapping.cursor not in mapping.columns:
            columns.append(table.c[mapping.cursor])
        return sa.select(*columns).select_from(table).subquery(mapping.table)

    return adapt


def source_resources(source: DatabaseSource, url: str) -> list[Any]:
    """One dlt resource per mapped entity, named after it."""
    resources = []
    for entity, mapping in source.tables.items():
        key = list(ENTITIES[entity].key)
        resource = sql_table(
            credentials=url,
            table=mapping.table,
            schema=source.db_schema,
            chunk_size=source.chunk_size,
            backend="pyarrow",
            reflection_level="minimal",
            defer_table_reflect=True,
            # rows at the cursor's boundary are read again and dropped by the contract's key
            incremental=dlt.sources.incremental(mapping.cursor, primary_key=key),
            table_adapter_callback=mapped_table(mapping),
        )
        resource = resource.with_name(entity)
        resource.apply_hints(table_name=entity, write_disposition="append", primary_key=key)
        resources.append(resource)
    return resources


def pipeline(settings: Settings, name: str, day: date) -> dlt.Pipeline:
    """The dlt pipeline of a source: its state under $CRM_DATA_DIR/dlt, its files under
    pulled/<name>/<entity>/dt=<day>/."""
    destination = dlt.destinations.filesystem(
        bucket_url=settings.pulled_dir.as_uri(),
        layout=LAYOUT,
        extra_placeholders={"day": day.isoformat()},
    )
    return dlt.pipeline(
        pipeline_name=f"crm_mart_{name}",
        pipelines_dir=str(settings.data_dir / "dlt"),
        destination=destination,
        dataset_name=name,
    )


def cursors(pipe: dlt.Pipeline, source: DatabaseSource) -> dict[str, Any]:
    """Each entity's cursor as dlt's state holds it (None before the first pull)."""
    sources = pipe.state.get("sources", {})
    resources = next(iter(sources.values()), {}).get("resources", {}) if sources else {}
    found = {}
    for entity, mapping in source.tables.items():
        state = resources.get(entity, {}).get("incremental", {}).get(mapping.cursor, {})
        found[entity] = state.get("last_value")
    return found


def database_source(name: str, source: DatabaseSource, url: str) -> DltSource:
    """The source's mapped tables as one dlt source named after it."""

    @dlt.source(name=name)
    def shop_database() -> list[Any]:
        return source_resources(source, url)

    return shop_database()


def pulled_key(name: str, entity: str) -> dg.AssetKey:
    return dg.AssetKey(["pulled", name, entity])


def pulled_keys(settings: Settings) -> dict[str, list[dg.AssetKey]]:
    """Per entity, the pulls that deliver it: the raw asset loads after them."""
    keys: dict[str, list[dg.AssetKey]] = {}
    for name, source in settings.sources.items():
        for entity in source.tables:
            keys.setdefault(entity, []).append(pulled_key(name, entity))
    return keys


@dataclass
class PullTranslator(DagsterDltTranslator):
    """Asset pulled/<source>/<entity> for each mapped table, in the ingest group."""

    name: str = ""
    host: str = ""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        entity = data.resource.name
        return dg.AssetSpec(
            key=pulled_key(self.name, entity),
            group_name="ingest",
            kinds={"dlt", "parquet"},
            owners=["team:data-engineering"],
            description=(
                f"The {entity} rows changed in {self.host} since the last pull, in the "
                f"contract's columns, written to pulled/{self.name}/{entity}/dt=<day of the "
                "pull>/ for the raw asset to load (docs/sources.md)."
            ),
        )


def pull_day(settings: Settings) -> date:
    """A pull is a delivery of the day it runs (store time)."""
    return settings.store_today()


def build_pull_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """One multi-asset per source of the shop config, run by dagster-dlt."""
    return [build_pull_asset(settings, name, source) for name, source in settings.sources.items()]


def build_pull_asset(settings: Settings, name: str, source: DatabaseSource) -> dg.AssetsDefinition:
    host = sa.make_url(source.url).render_as_string(hide_password=True)

    @dlt_assets(
        dlt_source=database_source(name, source, source.url),
        dlt_pipeline=pipeline(settings, name, pull_day(settings)),
        name=f"pull__{name}",
        dagster_dlt_translator=PullTranslator(name=name, host=host),
    )
    @retry_only_transient
    def _pull(
        context: dg.AssetExecutionContext, dlt: DagsterDltResource, warehouse: Warehouse
    ) -> Iterator[Any]:
        current = warehouse.get_settings()
        pipe = pipeline(current, name, pull_day(current))
        try:
            pipe.sync_destination()  # the state of the last completed pull
            before = cursors(pipe, source)
            results = list(
                dlt.run(
                    context,
                    dlt_source=database_source(name, source, connection_url(source)),
                    dlt_pipeline=pipe,
                )
            )
        except Exception as exc:
            raise pull_error(host, exc) from exc
        after = cursors(pipe, source)
        for result in results:
            key = dg.AssetKey.from_coercible(result.asset_key)  # type: ignore[arg-type]
            entity = key.path[-1]
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "rows_pulled": (result.metadata or {}).get("rows_loaded", 0),
                    "cursor_from": str(before[entity]),
                    "cursor_to": str(after[entity]),
                    "host": host,
                },
            )

    return _pull


def pull_error(host: str, exc: BaseException) -> Exception:
    """The error of a failed pull, naming the source's host and the first cause: a connection
    that failed or broke is a ConnectionError, which the retry policy tries again."""
    chain = [exc]
    while chain[-1].__cause__ is not None or chain[-1].__context__ is not None:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)  # type: ignore[arg-type]
    cause = chain[-1]
    message = f"{host}: {type(cause).__name__}: {str(cause).strip()}"
    if any(isinstance(e, sa.exc.OperationalError | ConnectionError | TimeoutError) for e in chain):
        return ConnectionError(message)
    return RuntimeError(message)
