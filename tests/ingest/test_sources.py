"""Pulling from a shop's own database (docs/sources.md): a real PostgreSQL server, started in
a temporary folder, holds the sample shop as a shop's tables would look (its own table and
column names, a table of status codes); the pull assets read it through dlt and the raw
assets load what they wrote."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster_dlt import DagsterDltResource

from dagster_project.ingest.assets import build_raw_assets
from dagster_project.ingest.sources import build_pull_assets, pulled_keys
from dagster_project.resources import Warehouse, open_warehouse
from dagster_project.sample_shop.database import TABLES, fill_database, newest_rows, postgres_server
from dagster_project.sample_shop.generator import ShopConfig
from dagster_project.settings import load_settings
from tests.dbt.helpers import load_shop

pytestmark = pytest.mark.slow

PASSWORD = "p@ss%w/rd:x?#"  # what a URL must quote
SHOP = ShopConfig(customers=150, days=30)


def contract_rows(conn, entity: str) -> list[tuple]:
    columns = ", ".join(TABLES[entity]["columns"])
    return sorted(
        conn.execute(f"select {columns} from ({newest_rows(entity)})").fetchall(), key=repr
    )


def pull_and_load(settings) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*build_pull_assets(settings), *build_raw_assets(pulled_keys(settings))],
        resources={"warehouse": Warehouse(data_dir=str(settings.data_dir)), "dlt": DagsterDltResource()},
        selection=dg.AssetSelection.groups("ingest"),
        raise_on_error=False,
    )  # fmt: skip


def pulled_metadata(result: dg.ExecuteInProcessResult, *name: str) -> dict:
    """The metadata of a successful run's materialization of pulled/<source>/<asset>."""
    assert result.success
    (metadata,) = [
        e.materialization.metadata for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["pulled", *name])
    ]  # fmt: skip
    return metadata


def test_a_shop_database_is_pulled_incrementally_into_the_raw_tables(tmp_path, monkeypatch):
    files = load_settings(tmp_path / "files")
    load_shop(files, SHOP)
    data = tmp_path / "pulled"
    data.mkdir()
    monkeypatch.setenv("SHOP_DB_PASSWORD", PASSWORD)
    with postgres_server(PASSWORD) as server:
        engine = sa.create_engine(server.login(PASSWORD))
        fill_database(server.login(PASSWORD), files.warehouse_path)
        config = {
            "first_partition_date": SHOP.start.isoformat(),
            "sources": {
                "shop_db": {
                    "kind": "database", "url": server.url, "password_env": "SHOP_DB_PASSWORD",
                    "chunk_size": 200, "tables": TABLES,
                },
            },
        }  # fmt: skip
        (data / "crm-mart.yml").write_text(yaml.safe_dump(config))
        settings = load_settings(data)

        # the first pull takes every row, in batches; the raw tables then hold what a load of
        # the shop's files holds (its newest versions: a database keeps no older ones)
        assert pull_and_load(settings).success
        with open_warehouse(files, read_only=True) as by_files, open_warehouse(settings) as pulled:
            for entity in TABLES:
                expected = contract_rows(by_files, entity)
                assert len(expected) > 100 and contract_rows(pulled, entity) == expected, entity
            files_written = pulled.execute(
                "select count(*) from raw.file_ledger where source_file like 'pulled/shop_db/orders/%'"
            ).fetchone()  # fmt: skip
        assert files_written[0] >= 1

        # 10 orders updated, 3 new, one of the new updated twice before the next pull
        later = datetime.now(UTC)
        with engine.begin() as db:
            db.execute(sa.text(
                "update shop_orders set status_code = 50, modified = :t where id in "
                "(select id from shop_orders order by id limit 10)"), {"t": later})  # fmt: skip
            for n in range(3):
                db.execute(sa.text(
                    "insert into shop_orders (id, buyer, status_code, created, currency, total, "
                    "modified) values (:id, null, 10, :t, 'CNY', 99.5, :t)"),
                    {"id": f"NEW-{n}", "t": later})  # fmt: skip
            db.execute(sa.text(
                "update shop_orders set status_code = 20, total = 101, modified = :t "
                "where id = 'NEW-0'"), {"t": later + timedelta(seconds=1)})  # fmt: skip
        pulled_orders = pulled_metadata(pull_and_load(settings), "shop_db", "orders")
        assert pulled_orders["rows_pulled"].value == 13
        assert pulled_orders["cursor_to"].value == str(later + timedelta(seconds=1))
        with open_warehouse(settings, read_only=True) as pulled:
            newest_load = pulled.execute(
                "select order_id, status, order_total from raw.orders where _loaded_at = "
                "(select max(_loaded_at) from raw.orders) order by order_id"
            ).fetchall()
        assert len(newest_load) == 13
        assert ("NEW-0", "paid", 101) in [(o, s, float(t)) for o, s, t in newest_load]
        assert sum(1 for _, status, _ in newest_load if status == "cancelled") == 10

        # nothing changed: the next pull reads nothing new
        assert pull_and_load(settings).success
        with open_warehouse(settings, read_only=True) as pulled:
            assert (
                pulled.execute("select count(*) from raw.orders").fetchone()[0]
                == len(contract_rows(pulled, "orders")) + 10
            )  # the 10 updated orders keep their first version too


def test_a_pull_whose_server_dies_fails_naming_the_host_and_the_retry_duplicates_nothing(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("SHOP_DB_PASSWORD", PASSWORD)
    with postgres_server(PASSWORD) as server:
        engine = sa.create_engine(server.login(PASSWORD))
        with engine.begin() as db:
            db.execute(sa.text(
                "create table shop_orders as select 'O' || n as id, 'paid' as state, "
                "timestamptz '2026-11-01 10:00+00' + n * interval '1 second' as modified, "
                "cast(n * 1.25 as numeric(12, 2)) as total "
                "from generate_series(1, 3000) as n"))  # fmt: skip
        slow = "id || left(pg_sleep(0.001)::text, 0)"  # a millisecond per row: a pull of 3 s
        tables = {
            "orders": {
                "table": "shop_orders", "cursor": "modified",
                "columns": {
                    "order_id": slow, "status": "state", "created_at": "modified",
                    "currency": "'CNY'", "order_total": "total", "updated_at": "modified",
                },
            },
        }  # fmt: skip
        config = {
            "first_partition_date": "2026-11-01",
            "sources": {"shop_db": {
                "kind": "database", "url": server.url, "password_env": "SHOP_DB_PASSWORD",
                "chunk_size": 100, "tables": tables,
            }},
        }  # fmt: skip
        data = tmp_path / "data"
        data.mkdir()
        (data / "crm-mart.yml").write_text(yaml.safe_dump(config))
        settings = load_settings(data)

        killer = threading.Timer(1.0, server.kill)
        killer.start()
        result = pull_and_load(settings)
        killer.join()
        assert not result.success
        (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert f"127.0.0.1:{server.port}" in str(failure.event_specific_data.error)
        assert not (settings.pulled_dir / "shop_db" / "orders").exists()  # nothing half-written

        server.start()
        time.sleep(0.5)
        assert pull_and_load(settings).success
        with open_warehouse(settings, read_only=True) as pulled:
            # totals of 1.25 to 3,750.00: their digits grow from batch to batch of 100 rows,
            # and each keeps its value; 1.25 x (1 + ... + 3000) = 1.25 x 4,501,500
            assert pulled.execute(
                "select count(*), count(distinct order_id), sum(order_total) from raw.orders"
            ).fetchone() == (3000, 3000, Decimal("5626875.00"))


def test_a_database_connectorx_does_not_read_is_pulled_through_its_sqlalchemy_driver(tmp_path):
    """PostgreSQL is read by ConnectorX; any other database row by row through SQLAlchemy:
    here SQLite, in batches of 100 rows whose amounts gain digits from batch to batch."""
    shop_db = tmp_path / "shop.sqlite"
    with sa.create_engine(f"sqlite:///{shop_db}").begin() as db:
        db.execute(sa.text("create table shop_orders (id text, total numeric, modified text)"))
        for n in range(1, 251):
            db.execute(
                sa.text("insert into shop_orders values (:id, :total, :modified)"),
                {"id": f"O{n}", "total": n * 1.25, "modified": f"2026-11-01 10:{n // 60:02}:{n % 60:02}"},
            )  # fmt: skip
    tables = {
        "orders": {
            "table": "shop_orders", "cursor": "modified",
            "columns": {
                "order_id": "id", "status": "'paid'", "created_at": "modified",
                "currency": "'CNY'", "order_total": "total", "updated_at": "modified",
            },
        },
    }  # fmt: skip
    config = {
        "first_partition_date": "2026-11-01",
        "sources": {"shop_db": {
            "kind": "database", "url": f"sqlite:///{shop_db}", "chunk_size": 100, "tables": tables,
        }},
    }  # fmt: skip
    data = tmp_path / "data"
    data.mkdir()
    (data / "crm-mart.yml").write_text(yaml.safe_dump(config))
    settings = load_settings(data)
    assert pulled_metadata(pull_and_load(settings), "shop_db", "orders")["rows_pulled"].value == 250
    with open_warehouse(settings, read_only=True) as pulled:
        # 1.25 x (1 + ... + 250) = 1.25 x 31,375; a time without an offset is store time,
        # Asia/Shanghai's by default: 10:04:10 there is 02:04:10 UTC
        assert pulled.execute(
            "select count(distinct order_id), sum(order_total), max(updated_at) from raw.orders"
        ).fetchone() == (250, Decimal("39218.75"), datetime(2026, 11, 1, 2, 4, 10))


def test_crm_mart_run_pulls_before_loading_and_status_shows_each_sources_cursor(
    tmp_path, monkeypatch
):
    files = load_settings(tmp_path / "files")
    load_shop(files, SHOP)
    shop = tmp_path / "shop"
    for entity in ("sessions", "events"):  # the rest comes from the database
        shutil.copytree(files.landing_dir / entity, shop / "landing" / entity)
    with postgres_server(PASSWORD) as server:
        fill_database(server.login(PASSWORD), files.warehouse_path)
        config = {
            "first_partition_date": SHOP.start.isoformat(),
            "step_max_retries": 0,
            "sources": {"shop_db": {
                "kind": "database", "url": server.url, "password_env": "SHOP_DB_PASSWORD",
                "tables": TABLES,
            }},
        }  # fmt: skip
        (shop / "crm-mart.yml").write_text(yaml.safe_dump(config))
        env = {k: v for k, v in os.environ.items() if k not in ("CRM_DATA_DIR", "DAGSTER_HOME")}
        env["SHOP_DB_PASSWORD"] = PASSWORD
        command = [str(Path(sys.executable).parent / "crm-mart"), "--data-dir", str(shop)]
        run = subprocess.run([*command, "run"], capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "  done    pull__shop_db (" in run.stdout
        status = subprocess.run([*command, "status"], capture_output=True, text=True, env=env)
    settings = load_settings(shop)
    with open_warehouse(settings, read_only=True) as conn:
        (orders, newest) = conn.execute(
            "select count(*), max(updated_at) from raw.orders"
        ).fetchone()  # fmt: skip
        (persons,) = conn.execute("select count(*) from marts.customer_facts").fetchone()
    with open_warehouse(files, read_only=True) as conn:
        assert orders == len(contract_rows(conn, "orders")) and persons > 100
    (line,) = [s for s in status.stdout.splitlines() if s.startswith("  shop_db/orders ")]
    assert line.endswith(f", {orders:,} rows, cursor {newest}+00:00")


def call(kind: str, anonymous_id: str, at: str, **fields) -> dict:
    return {"type": kind, "anonymousId": anonymous_id, "timestamp": f"2026-11-02T{at}:00Z",
            "messageId": f"m-{anonymous_id}-{at}", **fields}  # fmt: skip


GOOGLE = {"campaign": {"source": "google", "medium": "cpc", "name": "winter"}}
STREAM_FILES = [
    [  # the first hour: a1 browses anonymously; an event name no type is mapped to
        call("page", "a1", "10:00", context={**GOOGLE, "page": {"path": "/home"},
                                              "device": {"type": "mobile"}}),
        call("track", "a1", "10:05", event="Product Viewed", properties={"sku": "S1"}),
        call("track", "a1", "10:10", event="Wishlist Shared"),
    ],
    [  # the next: a1 logs in and goes on (15 minutes later), then comes back after 65
        call("identify", "a1", "10:20", userId="C1"),
        call("track", "a1", "10:25", event="Product Added", userId="C1",
             properties={"sku": "S1", "category": "shoes"}),
        call("page", "a1", "11:30", userId="C1", context={"page": {"path": "/cart"}}),
        call("page", "a2", "10:50"),
    ],
]  # fmt: skip


def session_id(anonymous_id: str, start: str) -> str:
    """As documented: s- and 16 hex digits of md5('<anonymous id>:<start, ISO 8601 UTC>')."""
    text = f"{anonymous_id}:2026-11-02T{start}:00+00:00"
    return "s-" + hashlib.md5(text.encode()).hexdigest()[:16]


def test_an_event_stream_is_sessionised_across_pulls_as_worked_out_by_hand(tmp_path):
    stream = tmp_path / "stream"
    stream.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    config = {"sources": {"web": {
        "kind": "event_stream", "path": str(stream),
        "event_types": {"Product Viewed": "product_view", "Product Added": "add_to_cart"},
    }}}  # fmt: skip
    (data / "crm-mart.yml").write_text(yaml.safe_dump(config))
    settings = load_settings(data)
    for n, calls in enumerate(STREAM_FILES):
        path = stream / f"2026-11-02-{n:02}.jsonl"
        path.write_text("".join(json.dumps(c) + "\n" for c in calls))
        time.sleep(0.05)  # the files' modification times follow each other
        stream_pull = pulled_metadata(pull_and_load(settings), "web", "event_stream")
    assert stream_pull["other_event_names"].value == {"Wishlist Shared": 1}
    assert stream_pull["rows_pulled_events"].value == 4  # the second file's calls only
    s1, s2, s3 = session_id("a1", "10:00"), session_id("a1", "11:30"), session_id("a2", "10:50")
    at = lambda hm: datetime(2026, 11, 2, int(hm[:2]), int(hm[3:]))  # noqa: E731
    with open_warehouse(settings, read_only=True) as conn:
        sessions = conn.execute(
            "select session_id, anonymous_id, customer_id, started_at, ended_at, channel, "
            "utm_source, utm_campaign, device_type, landing_page from raw.sessions "
            "qualify row_number() over (partition by session_id order by _loaded_at desc) = 1 "
            "order by started_at"
        ).fetchall()
        versions = conn.execute("select count(*) from raw.sessions").fetchone()
        events = conn.execute(
            "select event_id, session_id, customer_id, event_type, sku, category "
            "from raw.events order by occurred_at"
        ).fetchall()
    # s1 went on into the second pull: written again with its new end and its customer
    assert sessions == [
        (s1, "a1", "C1", at("10:00"), at("10:25"), "cpc", "google", "winter", "mobile", "/home"),
        (s3, "a2", None, at("10:50"), at("10:50"), "direct", None, None, None, None),
        (s2, "a1", "C1", at("11:30"), at("11:30"), "direct", None, None, None, "/cart"),
    ]
    assert versions == (4,)
    assert events == [
        ("m-a1-10:00", s1, None, "page_view", None, None),
        ("m-a1-10:05", s1, None, "product_view", "S1", None),
        ("m-a1-10:10", s1, None, "other", None, None),
        ("m-a1-10:20", s1, "C1", "login", None, None),
        ("m-a1-10:25", s1, "C1", "add_to_cart", "S1", "shoes"),
        ("m-a2-10:50", s3, None, "page_view", None, None),
        ("m-a1-11:30", s2, "C1", "page_view", None, None),
    ]


SHOPIFY_EXPORT = """\
Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Lineitem discount,Billing Phone,Cancelled at,Refunded Amount,Vendor,Phone,Source
#1001,Ann@Example.com,paid,2026-11-02 10:05:00 +0100,fulfilled,2026-11-03 09:00:00 +0100,CNY,45.00,5.00,0.00,45.00,WELCOME10,5.00,2026-11-02 10:00:00 +0100,2,Red Shoe,15.00,SHOE-R,0.00,+33 6 12 34 56 78,,0.00,Acme,,web
#1001,,,,,,,,,,,,,,1,Blue Sock,10.00,SOCK-B,5.00,,,,Acme,,
#1002,bob@example.com,voided,,unfulfilled,,CNY,20.00,0.00,0.00,20.00,,0.00,2026-11-04 18:30:00 -0500,1,Hat,20.00,,0.00,,2026-11-04 19:00:00 -0500,0.00,,+1 555 0100,pos
"""


def test_a_shopify_order_export_becomes_orders_and_order_lines(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "orders_export_1.csv").write_text(SHOPIFY_EXPORT)
    data = tmp_path / "data"
    data.mkdir()
    config = {"sources": {"shopify": {"kind": "shopify_export", "path": str(exports)}}}
    (data / "crm-mart.yml").write_text(yaml.safe_dump(config))
    settings = load_settings(data)
    pulled = pulled_metadata(pull_and_load(settings), "shopify", "shopify_export")
    assert (pulled["rows_pulled_orders"].value, pulled["rows_pulled_order_items"].value) == (2, 3)
    at = lambda day, hm: datetime(2026, 11, day, int(hm[:2]), int(hm[3:]))  # noqa: E731
    with open_warehouse(settings, read_only=True) as conn:
        orders = conn.execute(
            "select order_id, customer_id, email, phone, status, created_at, paid_at, currency, "
            "order_total, discount_total, shipping_total, refund_total, channel, promotion_type, "
            "updated_at from raw.orders order by order_id"
        ).fetchall()
        lines = conn.execute(
            "select order_id, line_number, sku, category, product_name, quantity, unit_price, "
            "line_total from raw.order_items order by order_id, line_number"
        ).fetchall()
        (quarantined,) = conn.execute("select count(*) from raw.quarantine").fetchone()
    assert quarantined == 0
    # times in UTC; the order's fields from its first line; a fulfilled paid order is shipped
    assert [tuple(float(v) if isinstance(v, Decimal) else v for v in o) for o in orders] == [
        ("#1001", None, "Ann@Example.com", "+33 6 12 34 56 78", "shipped", at(2, "09:00"),
         at(2, "09:05"), "CNY", 45.0, 5.0, 5.0, 0.0, "web", "coupon", at(3, "08:00")),
        ("#1002", None, "bob@example.com", "+1 555 0100", "cancelled", at(4, "23:30"), None,
         "CNY", 20.0, 0.0, 0.0, 0.0, "store", "none", at(5, "00:00")),
    ]  # fmt: skip
    # each line numbered in the file's order; quantity x price less the line's discount
    assert [tuple(float(v) if isinstance(v, Decimal) else v for v in line) for line in lines] == [
        ("#1001", 1, "SHOE-R", "Acme", "Red Shoe", 2, 15.0, 30.0),
        ("#1001", 2, "SOCK-B", "Acme", "Blue Sock", 1, 10.0, 5.0),
        ("#1002", 1, "Hat", "uncategorised", "Hat", 1, 20.0, 20.0),
    ]
