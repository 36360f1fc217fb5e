"""Pulls from the systems where a shop's data lives (docs/sources.md), through dlt, run by
dagster-dlt: one multi-asset per source of the shop config.

- A database: dlt's SQL-database source reads each mapped table incrementally on its cursor
  column (the shop's update timestamp), selected already in the contract's columns and values.
- An event stream: dlt's filesystem source reads the new JSON-lines files of Segment- or
  RudderStack-style calls; a transformer sessionises them into sessions and events.
- A Shopify order export: the new export files, turned into orders and order lines by SQL.

dlt's filesystem destination writes each pull as Parquet under
pulled/<source>/<entity>/dt=<day of the pull>/, which the raw assets load like landing files:
the same contract check, quarantine and ledger. dlt keeps the cursors in its state, committed
with the files of a completed pull only, so a failed pull leaves the cursor where it was and
the next pull reads the same rows again.
"""

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeAlias

import dagster as dg
import dlt
import duckdb
import sqlalchemy as sa
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.common.schema.typing import TColumnSchema
from dlt.extract.source import DltSource
from dlt.sources.filesystem import filesystem, read_jsonl
from dlt.sources.sql_database import sql_table

from dagster_project.ingest.contract import DECIMAL, ENTITIES
from dagster_project.ingest.loader import lit
from dagster_project.resources import Warehouse, retry_only_transient
from dagster_project.settings import (
    DatabaseSource,
    EventStreamSource,
    Settings,
    ShopifyExportSource,
    SourceTable,
)

LAYOUT = "{table_name}/dt={day}/{load_id}.{file_id}.{ext}"
Source: TypeAlias = DatabaseSource | EventStreamSource | ShopifyExportSource
STREAM = "event_stream"  # the one resource (and asset) of an event stream
SHOPIFY = "shopify_export"  # the one resource (and asset) of a Shopify export folder
FILE_SOURCES = {STREAM: ("sessions", "events"), SHOPIFY: ("orders", "order_items")}


def file_resource(source: EventStreamSource | ShopifyExportSource) -> str:
    """The one resource (and asset) of a source of files, and the entities in FILE_SOURCES."""
    return STREAM if isinstance(source, EventStreamSource) else SHOPIFY


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


CONNECTORX_DATABASES = {"postgresql"}
# how ConnectorX's PostgreSQL driver words a connection that failed, broke or closed
CONNECTORX_LOST = re.compile(r"PostgresError\(Error \{ kind: (Io|Connect|Closed)\b")


def source_resources(source: DatabaseSource, url: str) -> list[Any]:
    """One dlt resource per mapped entity, named after it."""
    resources = []
    # PostgreSQL is read by ConnectorX, straight into Arrow batches of chunk_size rows; other
    # databases row by row through their SQLAlchemy driver (about five times slower)
    fast = sa.make_url(url).get_backend_name() in CONNECTORX_DATABASES
    for entity, mapping in source.tables.items():
        key = list(ENTITIES[entity].key)
        resource = sql_table(
            credentials=url,
            table=mapping.table,
            schema=source.db_schema,
            chunk_size=source.chunk_size,
            backend="connectorx" if fast else "pyarrow",
            backend_kwargs={"return_type": "arrow_stream"} if fast else {},
            reflection_level="minimal",
            defer_table_reflect=True,
            # rows at the cursor's boundary are read again and dropped by the contract's key
            incremental=dlt.sources.incremental(mapping.cursor, primary_key=key),
            table_adapter_callback=mapped_table(mapping),
        )
        resource = resource.with_name(entity)
        # a decimal's type is fixed, not guessed from each batch's values (whose digits vary
        # from batch to batch, and one file cannot hold two types)
        decimals: dict[str, TColumnSchema] = {
            c.name: {"data_type": "decimal"}
            for c in ENTITIES[entity].columns
            if c.kind == DECIMAL and c.name in mapping.columns
        }
        resource.apply_hints(
            table_name=entity, write_disposition="append", primary_key=key, columns=decimals
        )
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


def _resources_state(pipe: dlt.Pipeline) -> dict[str, Any]:
    sources = pipe.state.get("sources", {})
    return next(iter(sources.values()), {}).get("resources", {}) if sources else {}


def stream_state(pipe: dlt.Pipeline) -> dict[str, Any]:
    """An event stream's sessioniser state: open sessions, names counted as "other"."""
    return _resources_state(pipe).get(STREAM, {})


def cursors(pipe: dlt.Pipeline, source: Source) -> dict[str, Any]:
    """Each asset's cursor as dlt's state holds it (None before the first pull): a table's
    last update time; a stream's newest file read (its modification time)."""
    resources = _resources_state(pipe)
    if not isinstance(source, DatabaseSource):
        found = [
            state.get("incremental", {}).get("modification_date", {}).get("last_value")
            for state in resources.values()
        ]
        return {file_resource(source): next((f for f in found if f is not None), None)}
    return {
        entity: resources.get(entity, {})
        .get("incremental", {})
        .get(mapping.cursor, {})
        .get("last_value")
        for entity, mapping in source.tables.items()
    }


def dlt_source(name: str, source: Source, run: bool) -> DltSource:
    """The source as one dlt source named after it; `run`: with the database's password (read
    when the pull runs, never when the definitions load)."""

    @dlt.source(name=name)
    def shop_source() -> list[Any]:
        if isinstance(source, EventStreamSource):
            return stream_resources(source)
        if isinstance(source, ShopifyExportSource):
            return shopify_resources(source)
        return source_resources(source, connection_url(source) if run else source.url)

    return shop_source()


def where(source: Source) -> str:
    """The source's place, as messages name it: its URL without a password, or its path."""
    if not isinstance(source, DatabaseSource):
        return source.path
    return sa.make_url(source.url).render_as_string(hide_password=True)


def pulled_key(name: str, entity: str) -> dg.AssetKey:
    return dg.AssetKey(["pulled", name, entity])


def pulled_keys(settings: Settings) -> dict[str, list[dg.AssetKey]]:
    """Per entity, the pulls that deliver it: the raw asset loads after them."""
    keys: dict[str, list[dg.AssetKey]] = {}
    for name, source in settings.sources.items():
        if not isinstance(source, DatabaseSource):
            resource = file_resource(source)
            for entity in FILE_SOURCES[resource]:
                keys.setdefault(entity, []).append(pulled_key(name, resource))
        else:
            for entity in source.tables:
                keys.setdefault(entity, []).append(pulled_key(name, entity))
    return keys


@dataclass
class PullTranslator(DagsterDltTranslator):
    """Asset pulled/<source>/<entity> per mapped table (a source of files: its one resource,
    pulled/<source>/event_stream or shopify_export), in the ingest group."""

    name: str = ""
    host: str = ""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        entity = data.resource.name
        what = " and ".join(FILE_SOURCES.get(entity, (entity,))) + " rows"
        return dg.AssetSpec(
            key=pulled_key(self.name, entity),
            group_name="ingest",
            kinds={"dlt", "parquet"},
            owners=["team:data-engineering"],
            description=(
                f"The {what} new in {self.host} since the last pull, in the contract's "
                f"columns, written to pulled/{self.name}/ for the raw assets to load "
                "(docs/sources.md)."
            ),
        )


def pull_day(settings: Settings) -> date:
    """A pull is a delivery of the day it runs (store time)."""
    return settings.store_today()


def build_pull_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """One multi-asset per source of the shop config, run by dagster-dlt."""
    return [build_pull_asset(settings, name, source) for name, source in settings.sources.items()]


def build_pull_asset(settings: Settings, name: str, source: Source) -> dg.AssetsDefinition:
    host = where(source)

    @dlt_assets(
        dlt_source=dlt_source(name, source, run=False),
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
                dlt.run(context, dlt_source=dlt_source(name, source, run=True), dlt_pipeline=pipe)
            )
        except BaseException as exc:  # an error, or a panic of ConnectorX (a BaseException)
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise  # an interrupt or an exit
            raise pull_error(host, exc) from exc
        after = cursors(pipe, source)
        info = pipe.last_trace.last_normalize_info if pipe.last_trace else None
        rows = info.row_counts if info else {}
        for result in results:
            key = dg.AssetKey.from_coercible(result.asset_key)  # type: ignore[arg-type]
            entity = key.path[-1]
            tables = FILE_SOURCES.get(entity, (entity,))
            metadata: dict[str, Any] = {
                f"rows_pulled{'_' + t if entity in FILE_SOURCES else ''}": rows.get(t, 0)
                for t in tables
            }
            metadata |= {"cursor_from": str(before[entity]), "cursor_to": str(after[entity])}
            if entity == STREAM:
                names = stream_state(pipe).get("other_event_names", {})
                metadata["other_event_names"] = dg.MetadataValue.json(names)
            yield dg.MaterializeResult(asset_key=key, metadata={**metadata, "source": host})

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
    if CONNECTORX_LOST.search(message):  # ConnectorX has no error classes, only their text
        return ConnectionError(message)
    return RuntimeError(message)


# --- event streams ---------------------------------------------------------------------------


def _when(value: Any) -> datetime:
    """An event's timestamp as aware UTC (ISO 8601 text, as the collectors write it)."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def _path(*keys: str) -> Callable[[dict], Any]:
    def get(record: dict) -> Any:
        for key in keys:
            record = record.get(key) if isinstance(record, dict) else None  # type: ignore[assignment]
        return record

    return get


CAMPAIGN = {k: _path("context", "campaign", k) for k in ("source", "medium", "name")}
PAGE_PATH = _path("context", "page", "path")
DEVICE = _path("context", "device", "type")


def event_row(record: dict, stream: EventStreamSource, session_id: str) -> dict:
    """A track, page or identify call as a row of the contract's events."""
    call = record.get("type", "track")
    name = "page" if call == "page" else "identify" if call == "identify" else record.get("event")
    if call == "page":
        event_type = stream.event_types.get("page", "page_view")
    else:
        event_type = stream.event_types.get(str(name), "login" if call == "identify" else "other")
    props = record.get("properties") or {}
    return {
        "event_id": record.get("messageId"),
        "session_id": session_id,
        "anonymous_id": record.get("anonymousId"),
        "customer_id": record.get("userId"),
        "event_type": event_type,
        "occurred_at": _when(record["timestamp"]),
        "sku": props.get("sku") or props.get("product_id"),
        "category": props.get("category"),
        "search_query": props.get("query"),
        "order_id": props.get("order_id"),
    }


def sessionise(stream: EventStreamSource) -> Any:
    """A dlt transformer: the calls of each file, in time order, as events and sessions. A
    browser's session goes on while its calls are at most session_gap_minutes apart (a call
    that names its own sessionId keeps it). Open sessions are kept in the resource's state,
    committed with the pull: a session that goes on in a later pull is written again, with
    the same id and its new end, and the newest version counts."""
    gap = timedelta(minutes=stream.session_gap_minutes)

    @dlt.transformer(name="event_stream")
    def _sessionise(records: list[dict]) -> Iterator[Any]:
        state = dlt.current.resource_state()
        open_sessions: dict[str, dict] = state.setdefault("open_sessions", {})
        unknown: dict[str, int] = state.setdefault("other_event_names", {})  # counted, all pulls
        touched: dict[str, dict] = {}
        events = []
        for record in sorted(
            (r for r in records if r.get("anonymousId") and r.get("timestamp")),
            key=lambda r: _when(r["timestamp"]),
        ):
            anonymous_id, when = record["anonymousId"], _when(record["timestamp"])
            session = open_sessions.get(anonymous_id)
            own_id = record.get("sessionId") or _path("context", "sessionId")(record)
            if (
                session is None
                or (own_id and own_id != session["session_id"])
                or when - datetime.fromisoformat(session["ended_at"]) > gap
            ):
                start = when.isoformat()
                session = {
                    "session_id": own_id
                    or "s-" + hashlib.md5(f"{anonymous_id}:{start}".encode()).hexdigest()[:16],
                    "anonymous_id": anonymous_id,
                    "customer_id": None,
                    "started_at": start,
                    "ended_at": start,
                    "utm_source": CAMPAIGN["source"](record),
                    "utm_medium": CAMPAIGN["medium"](record),
                    "utm_campaign": CAMPAIGN["name"](record),
                    "channel": CAMPAIGN["medium"](record) or "direct",
                    "device_type": DEVICE(record),
                    "landing_page": PAGE_PATH(record)
                    or (record.get("properties") or {}).get("path"),
                }
                open_sessions[anonymous_id] = session
            session["ended_at"] = max(session["ended_at"], when.isoformat())
            session["customer_id"] = record.get("userId") or session["customer_id"]
            touched[session["session_id"]] = session
            event = event_row(record, stream, session["session_id"])
            if event["event_type"] == "other":
                name = str(record.get("event"))
                unknown[name] = unknown.get(name, 0) + 1
            events.append(event)
        # sessions that can no longer go on leave the state
        newest = max((s["ended_at"] for s in open_sessions.values()), default=None)
        if newest:
            cutoff = (datetime.fromisoformat(newest) - gap).isoformat()
            for anonymous_id in [a for a, s in open_sessions.items() if s["ended_at"] < cutoff]:
                del open_sessions[anonymous_id]
        if events:
            yield dlt.mark.with_table_name(events, "events")
        if touched:
            sessions = [
                {**s, "started_at": _when(s["started_at"]), "ended_at": _when(s["ended_at"])}
                for s in touched.values()
            ]
            yield dlt.mark.with_table_name(sessions, "sessions")

    return _sessionise


def stream_resources(stream: EventStreamSource) -> list[Any]:
    """The stream's files not read yet (by modification time), read in that order."""
    files = filesystem(
        bucket_url=stream.path,
        file_glob=stream.file_glob,
        incremental=dlt.sources.incremental("modification_date"),
    )
    return [files | read_jsonl() | sessionise(stream)]


# --- Shopify's order export ------------------------------------------------------------------

# an export file as the temp table `lines`, each row numbered in the file's order
SHOPIFY_READ = """
create or replace temp table lines as
select *, row_number() over () as file_row
from read_csv({path}, header = true, all_varchar = true)
"""
SHOPIFY_ORDERS = """
-- the order's fields are on its first line only
with orders as (
    select * from lines
    where nullif(trim("Financial Status"), '') is not null
    qualify row_number() over (partition by "Name" order by file_row) = 1
),
times as (
    select
        *,
        strptime(nullif("Created at", ''), '%Y-%m-%d %H:%M:%S %z') as created,
        strptime(nullif("Paid at", ''), '%Y-%m-%d %H:%M:%S %z') as paid,
        strptime(nullif("Fulfilled at", ''), '%Y-%m-%d %H:%M:%S %z') as fulfilled,
        strptime(nullif("Cancelled at", ''), '%Y-%m-%d %H:%M:%S %z') as cancelled
    from orders
)
select
    "Name" as order_id,
    cast(null as varchar) as customer_id,
    nullif("Email", '') as email,
    coalesce(nullif("Phone", ''), nullif("Billing Phone", '')) as phone,
    case
        when cancelled is not null or "Financial Status" = 'voided' then 'cancelled'
        when "Financial Status" = 'refunded' then 'refunded'
        when "Financial Status" = 'partially_refunded' then 'partially_refunded'
        when "Financial Status" in ('pending', 'authorized') then 'created'
        when "Fulfillment Status" = 'fulfilled' then 'shipped'
        else 'paid'
    end as status,
    created as created_at,
    paid as paid_at,
    "Currency" as currency,
    "Total" as order_total,
    nullif("Discount Amount", '') as discount_total,
    nullif("Shipping", '') as shipping_total,
    nullif("Refunded Amount", '') as refund_total,
    case lower("Source") when 'pos' then 'store' when 'android' then 'app'
        when 'iphone' then 'app' else 'web' end as channel,
    case when nullif("Discount Code", '') is null then 'none' else 'coupon' end
        as promotion_type,
    greatest(created, paid, fulfilled, cancelled) as updated_at
from times
"""
SHOPIFY_LINES = """
select
    "Name" as order_id,
    row_number() over (partition by "Name" order by file_row) as line_number,
    coalesce(nullif("Lineitem sku", ''), "Lineitem name") as sku,
    coalesce(nullif("Vendor", ''), 'uncategorised') as category,
    "Lineitem name" as product_name,
    "Lineitem quantity" as quantity,
    "Lineitem price" as unit_price,
    cast(cast("Lineitem quantity" as decimal(18, 4)) * cast("Lineitem price" as decimal(18, 4))
        - coalesce(cast(nullif("Lineitem discount", '') as decimal(18, 4)), 0) as varchar)
        as line_total
from lines
"""


def shopify_orders(files: Iterator[Any]) -> Iterator[Any]:
    """A dlt transformer's body: each export file as the contract's orders and order lines."""
    with duckdb.connect() as conn:
        for item in files:
            with item.open() as handle:
                content = handle.read()
            with tempfile.NamedTemporaryFile(suffix=".csv") as copy:
                copy.write(content)
                copy.flush()
                conn.execute(SHOPIFY_READ.format(path=lit(copy.name)))
                for table, sql in (("orders", SHOPIFY_ORDERS), ("order_items", SHOPIFY_LINES)):
                    rows = conn.sql(sql).to_arrow_table()
                    if rows is not None and rows.num_rows:
                        yield dlt.mark.with_table_name(rows, table)


def shopify_resources(export: ShopifyExportSource) -> list[Any]:
    """The export files not read yet (by modification time), converted in that order."""
    files = filesystem(
        bucket_url=export.path,
        file_glob=export.file_glob,
        incremental=dlt.sources.incremental("modification_date"),
    )

    @dlt.transformer(name=SHOPIFY)
    def convert(items: list[Any]) -> Iterator[Any]:
        yield from shopify_orders(iter(items))

    return [files | convert]
