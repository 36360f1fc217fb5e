"""Pulling from a shop's own database (docs/sources.md): a real PostgreSQL server, started in
a temporary folder, holds the sample shop as a shop's tables would look (its own table and
column names, a table of status codes); the pull assets read it through dlt and the raw
assets load what they wrote."""

import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import sqlalchemy as sa
import yaml
from dagster_dlt import DagsterDltResource

from dagster_project.ingest.assets import build_raw_assets
from dagster_project.ingest.contract import ENTITIES, TIMESTAMP
from dagster_project.ingest.sources import build_pull_assets, pulled_keys
from dagster_project.resources import Warehouse, open_warehouse
from dagster_project.sample_shop.generator import ShopConfig
from dagster_project.settings import load_settings
from tests.dbt.helpers import load_shop
from tests.postgres import postgres_server

pytestmark = pytest.mark.slow

PASSWORD = "s3cret"
SHOP = ShopConfig(customers=150, days=30)
# the shop's words for an order's status, by code, and the contract's for them
STATUS_CODES = {
    "created": (10, "NEW"),
    "paid": (20, "PAID"),
    "shipped": (30, "SENT"),
    "completed": (40, "DONE"),
    "cancelled": (50, "VOID"),
    "refunded": (60, "REFUND"),
    "partially_refunded": (61, "PART_REFUND"),
}
TABLES = {
    "customers": {
        "table": "members",
        "cursor": "changed",
        "columns": {
            "customer_id": "member_no", "email": "mail", "phone": "mobile", "gender": "sex",
            "birth_date": "birthday", "country": "country", "province": "province",
            "city": "city", "city_tier": "city_tier", "registered_at": "signup",
            "acquisition_channel": "source", "email_opt_in": "email_ok", "sms_opt_in": "sms_ok",
            "push_opt_in": "push_ok", "updated_at": "changed",
        },
    },
    "orders": {
        "table": "shop_orders",
        "cursor": "modified",
        "columns": {
            "order_id": "id", "customer_id": "buyer", "email": "buyer_mail",
            "phone": "buyer_mobile",
            "status": "(select s.label from order_status as s where s.code = shop_orders.status_code)",
            "created_at": "created", "paid_at": "paid", "currency": "currency",
            "order_total": "total", "discount_total": "discount", "shipping_total": "shipping",
            "refund_total": "refunded", "channel": "channel", "promotion_type": "promotion",
            "updated_at": "modified",
        },
        "values": {"status": {label: status for status, (_, label) in STATUS_CODES.items()}},
    },
    "order_items": {
        "table": "order_lines",
        "cursor": "inserted",
        "columns": {
            "order_id": "order_id", "line_number": "line_no", "sku": "sku",
            "category": "category", "product_name": "title", "quantity": "qty",
            "unit_price": "price", "line_total": "amount",
        },
    },
}  # fmt: skip
RENAMES = {
    entity: {contract: shop for contract, shop in mapping["columns"].items() if shop.isidentifier()}
    for entity, mapping in TABLES.items()
}


def newest_rows(conn: duckdb.DuckDBPyConnection, entity: str) -> str:
    """SQL: the newest version of each of the entity's rows in raw, as the shop's database
    holds it."""
    keys = {"customers": "customer_id", "orders": "order_id"}
    if entity not in keys:
        return f"select * from raw.{entity}"
    return (
        f"select * from raw.{entity} qualify row_number() over "
        f"(partition by {keys[entity]} order by updated_at desc, _loaded_at desc) = 1"
    )


def contract_rows(conn, entity: str, where: str = "true") -> list[tuple]:
    columns = [c for c in TABLES[entity]["columns"]]
    return sorted(
        conn.execute(
            f"select {', '.join(columns)} from ({newest_rows(conn, entity)}) where {where}"
        ).fetchall(),
        key=repr,
    )


def fill_database(engine: sa.Engine, files_warehouse: Path) -> None:
    """The shop's tables: the newest version of every customer and order, every order line."""
    with duckdb.connect(str(files_warehouse), read_only=True) as conn:
        frames = {
            entity: conn.execute(newest_rows(conn, entity)).df()[list(TABLES[entity]["columns"])]
            for entity in TABLES
        }
    orders = frames["orders"]
    orders["status"] = orders["status"].map({s: code for s, (code, _) in STATUS_CODES.items()})
    frames["orders"] = orders.rename(columns={"status": "status_code"})
    frames["order_items"]["inserted"] = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as db:
        db.execute(sa.text("create table order_status (code int primary key, label text)"))
        for code, label in STATUS_CODES.values():
            db.execute(sa.text(f"insert into order_status values ({code}, '{label}')"))
    for entity, frame in frames.items():
        for column in ENTITIES[entity].columns:  # timestamps as a database keeps them: with zone
            if column.kind == TIMESTAMP and column.name in frame:
                frame[column.name] = frame[column.name].dt.tz_localize("UTC")
        frame = frame.rename(columns=RENAMES[entity])
        frame.to_sql(TABLES[entity]["table"], engine, index=False)


def pull_and_load(settings) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*build_pull_assets(settings), *build_raw_assets(pulled_keys(settings))],
        resources={"warehouse": Warehouse(data_dir=str(settings.data_dir)), "dlt": DagsterDltResource()},
        selection=dg.AssetSelection.groups("ingest"),
        raise_on_error=False,
    )  # fmt: skip


def test_a_shop_database_is_pulled_incrementally_into_the_raw_tables(tmp_path, monkeypatch):
    files = load_settings(tmp_path / "files")
    load_shop(files, SHOP)
    data = tmp_path / "pulled"
    data.mkdir()
    monkeypatch.setenv("SHOP_DB_PASSWORD", PASSWORD)
    with postgres_server(PASSWORD) as server:
        engine = sa.create_engine(server.url.replace("crm@", f"crm:{PASSWORD}@"))
        fill_database(engine, files.warehouse_path)
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
        result = pull_and_load(settings)
        assert result.success
        (pulled_orders,) = [
            e.materialization.metadata for e in result.get_asset_materialization_events()
            if e.asset_key == dg.AssetKey(["pulled", "shop_db", "orders"])
        ]  # fmt: skip
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
        engine = sa.create_engine(server.url.replace("crm@", f"crm:{PASSWORD}@"))
        with engine.begin() as db:
            db.execute(sa.text(
                "create table shop_orders as select 'O' || n as id, 'paid' as state, "
                "timestamptz '2026-11-01 10:00+00' + n * interval '1 second' as modified "
                "from generate_series(1, 3000) as n"))  # fmt: skip
        slow = "id || left(pg_sleep(0.001)::text, 0)"  # a millisecond per row: a pull of 3 s
        tables = {
            "orders": {
                "table": "shop_orders", "cursor": "modified",
                "columns": {
                    "order_id": slow, "status": "state", "created_at": "modified",
                    "currency": "'CNY'", "order_total": "1", "updated_at": "modified",
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
            assert pulled.execute(
                "select count(*), count(distinct order_id) from raw.orders"
            ).fetchone() == (3000, 3000)


def test_crm_mart_run_pulls_before_loading_and_status_shows_each_sources_cursor(
    tmp_path, monkeypatch
):
    files = load_settings(tmp_path / "files")
    load_shop(files, SHOP)
    shop = tmp_path / "shop"
    for entity in ("sessions", "events"):  # the rest comes from the database
        shutil.copytree(files.landing_dir / entity, shop / "landing" / entity)
    with postgres_server(PASSWORD) as server:
        engine = sa.create_engine(server.url.replace("crm@", f"crm:{PASSWORD}@"))
        fill_database(engine, files.warehouse_path)
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
