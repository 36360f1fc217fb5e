"""Raw ingestion on small hand-built landing files: types, time zones, quarantine, idempotency."""

import gzip
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.ingest.contract import ENTITIES
from dagster_project.ingest.loader import ensure_tables, load_partitions
from dagster_project.quality.suites import validate_ledger

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # fixed "now" for the future-timestamp rule
DAY = "2026-11-01"
ORDERS = ENTITIES["orders"]
HEADER = (
    "order_id,customer_id,status,created_at,paid_at,currency,order_total,discount_total,"
    "shipping_total,refund_total,channel,promotion_type,updated_at\n"
)


def load(conn, settings, entity="orders", days=(DAY,)):
    return load_partitions(
        conn, settings, ENTITIES[entity], [date.fromisoformat(d) for d in days], now_utc=NOW
    )


def test_good_rows_load_with_types_and_time_zones(conn, settings, land):
    # BOM, upper-case names in another order, an offset, no offset (store time), a 'Z'.
    land(
        "orders",
        DAY,
        "a.csv",
        "\ufeffSTATUS,Order_ID,customer_id,created_at,paid_at,currency,order_total,"
        "refund_total,updated_at,channel,promotion_type\n"
        "PAID,o1,c1,2026-11-01T10:00:00+02:00,2026-11-01 09:30:00,cny,120.50,0,"
        "2026-11-01T01:30:00Z,App,flash_sale\n"
        'paid,o2,,2026-11-01 23:30:00,,CNY,"1000",,2026-11-01 23:30:00,,\n',
    )
    report = load(conn, settings)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (2, 2, 0)
    rows = conn.execute(
        "select order_id, customer_id, status, created_at, paid_at, currency, order_total, "
        "refund_total, channel, promotion_type, updated_at, _row_number, _partition_date "
        "from raw.orders order by order_id"
    ).fetchall()
    # 10:00 at +02:00 is 08:00 UTC; 09:30 store time (UTC+8) is 01:30 UTC;
    # 23:30 store time on Nov 1 is 15:30 UTC the same day.
    assert rows[0] == (
        "o1", "c1", "paid", datetime(2026, 11, 1, 8, 0), datetime(2026, 11, 1, 1, 30), "CNY",
        Decimal("120.50"), Decimal("0.00"), "app", "flash_sale", datetime(2026, 11, 1, 1, 30),
        1, date(2026, 11, 1),
    )  # fmt: skip
    assert rows[1] == (
        "o2", None, "paid", datetime(2026, 11, 1, 15, 30), None, "CNY", Decimal("1000.00"),
        None, None, None, datetime(2026, 11, 1, 15, 30), 2, date(2026, 11, 1),
    )  # fmt: skip


def test_each_kind_of_bad_row_is_quarantined_with_its_reason(conn, settings, land):
    good = "o{n},c1,paid,2026-11-01T10:00:00Z,2026-11-01T10:05:00Z,CNY,100.00,0,0,{refund},web,none,2026-11-01T10:05:00Z"
    land(
        "orders",
        DAY,
        "mixed.csv",
        HEADER
        + "\n".join(
            [
                good.format(n=1, refund="0"),  # row 1: good
                good.format(n=2, refund="0").replace("o2,", ",", 1),  # missing order_id
                good.format(n=3, refund="0").replace("100.00", '"1,00.0x"'),  # unparsable total
                good.format(n=4, refund="0").replace("paid", "lost", 1),  # unknown status
                good.format(n=5, refund="0").replace(",0,0,", ",-3,0,", 1),  # negative discount
                good.format(n=6, refund="150"),  # refund above total
                good.format(n=7, refund="0").replace("2026-11-01T10:00", "2026-11-25T10:00"),
                good.format(n=8, refund="0").replace("100.00", "100.00005"),  # 5 decimals
                good.format(n=9, refund="0").replace("2026-11-01T10:05:00Z", "soon", 1),
                good.format(n=10, refund="0").replace("100.00", "-12.50"),  # a credit note
                # another currency and three decimals: loaded as delivered
                good.format(n=11, refund="0").replace("CNY", "usd").replace("100.00", "0.001"),
            ]
        )
        + "\n",
    )
    report = load(conn, settings)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (11, 2, 9)
    reasons = dict(
        conn.execute("select row_number, reason from raw.quarantine order by row_number").fetchall()
    )
    assert reasons == {
        2: "missing required value for order_id",
        3: "unparsable decimal in order_total: '1,00.0x'",
        4: "unknown status (expected one of: created, paid, shipped, completed, cancelled, "
        "refunded, partially_refunded): 'lost'",
        5: "discount_total is below 0: '-3'",
        6: "refund_total above order_total",
        7: "created_at is more than 24 hours in the future: '2026-11-25T10:00:00Z'",
        8: "order_total has more than 4 decimal places, which would be rounded: '100.00005'",
        9: "unparsable timestamp in paid_at: 'soon'",
        # one reason, which says where a credit note goes (not also "refund above total")
        10: "order_total is below 0: '-12.50' (a credit note or return: deliver it as a row of "
        "landing/returns/ (see 'returns' in docs/data-contract.md))",
    }
    assert conn.execute(
        "select order_id, currency, order_total from raw.orders where order_id = 'o11'"
    ).fetchall() == [("o11", "USD", Decimal("0.001"))]
    # the readable amount of a quarantined money row is kept for the reconciliation
    assert conn.execute(
        "select amount, currency from raw.quarantine where row_number in (8, 10) order by 1"
    ).fetchall() == [(Decimal("-12.5"), "CNY"), (Decimal("100.00005"), "CNY")]
    source, payload = conn.execute(
        "select source_file, payload from raw.quarantine where row_number = 4"
    ).fetchone()
    assert source == f"landing/orders/dt={DAY}/mixed.csv"
    assert json.loads(payload)["status"] == "lost"  # the raw row, as delivered
    orders = conn.execute("select order_id from raw.orders order by 1").fetchall()
    assert orders == [("o1",), ("o11",)]
    ledger = conn.execute(
        "select rows_read, rows_loaded, rows_quarantined from raw.file_ledger"
    ).fetchall()
    assert ledger == [(11, 2, 9)]
    assert validate_ledger(conn, settings, ORDERS, max_share=1.0).failures == []


def test_a_row_can_break_several_rules_and_all_are_named(conn, settings, land):
    land(
        "order_items",
        DAY,
        "items.csv",
        "order_id,line_number,sku,category,quantity,unit_price,line_total\no1,1,,shoes,0,abc,10\n",
    )
    report = load(conn, settings, "order_items")
    assert report.rows_quarantined == 1
    (reason,) = conn.execute("select reason from raw.quarantine").fetchone()
    assert reason == (
        "missing required value for sku; quantity is below 1: '0'; "
        "unparsable decimal in unit_price: 'abc'"
    )


def test_unreadable_files_fail_by_name_and_good_files_still_load(conn, settings, land):
    land(
        "orders",
        DAY,
        "good.csv",
        HEADER + "o1,c1,paid,2026-11-01T10:00:00Z,,CNY,10,0,0,0,web,none,2026-11-01T10:00:00Z\n",
    )
    land("orders", DAY, "truncated.parquet", b"PAR1\x00\x01garbage")
    land("orders", DAY, "semicolons.csv", "order_id;status;created_at\no2;paid;2026-11-01\n")
    land("orders", DAY, "no_status.csv", "order_id,created_at\no3,2026-11-01\n")
    land("orders", DAY, "binary.csv", b"\xff\xfe\x00\x01\x02")
    land("orders", DAY, "notes.txt", "hello")
    report = load(conn, settings)
    failures = dict(report.failures)
    base = f"landing/orders/dt={DAY}/"
    assert set(failures) == {
        base + n
        for n in ("truncated.parquet", "semicolons.csv", "no_status.csv", "binary.csv", "notes.txt")
    }
    assert failures[base + "semicolons.csv"].startswith("wrong delimiter")
    assert failures[base + "no_status.csv"] == (
        "missing required columns 'status', 'currency', 'order_total', 'updated_at'"
    )
    assert failures[base + "binary.csv"] == "not UTF-8 text (binary or another encoding)"
    assert "cannot be read as parquet" in failures[base + "truncated.parquet"]
    assert "unsupported file type" in failures[base + "notes.txt"]
    assert base + "truncated.parquet" in report.failure_message()
    assert conn.execute("select order_id from raw.orders").fetchall() == [("o1",)]
    # the next run retries only what failed: the good file is not loaded twice
    (settings.landing_dir / "orders" / f"dt={DAY}" / "no_status.csv").unlink()
    again = load(conn, settings)
    assert again.files_already_loaded == 1 and again.rows_loaded == 0
    assert conn.execute("select count(*) from raw.orders").fetchone() == (1,)


def test_a_row_with_too_many_fields_fails_its_file_with_the_line(conn, settings, land):
    row = "o{n},c1,paid,2026-11-01T10:00:00Z,,CNY,{total},0,0,0,web,none,2026-11-01T10:00:00Z\n"
    land(
        "orders", DAY, "a.csv", HEADER + row.format(n=1, total="10") + row.format(n=2, total="1,00")
    )
    report = load(conn, settings)
    assert report.failures == [
        (
            f"landing/orders/dt={DAY}/a.csv",
            "cannot be read: CSV Error on Line: 3; Expected Number of Columns: 13 Found: 14",
        )
    ]
    assert report.rows_read == 0  # nothing of a broken file is loaded, nothing is lost
    assert conn.execute("select count(*) from raw.file_ledger").fetchone() == (0,)


def test_reloading_a_partition_or_redelivering_a_file_changes_nothing(conn, settings, land):
    body = HEADER + "o1,c1,paid,2026-11-01T10:00:00Z,,CNY,10,0,0,0,web,none,2026-11-01T10:00:00Z\n"
    land("orders", DAY, "a.csv", body)
    assert load(conn, settings).rows_loaded == 1
    second = load(conn, settings)
    assert (second.files_loaded, second.files_already_loaded, second.rows_loaded) == (0, 1, 0)
    # the same content again, under another name and on another day
    land("orders", "2026-11-02", "copy-of-a.csv", body)
    third = load(conn, settings, days=(DAY, "2026-11-02"))
    assert (third.files_duplicate, third.rows_loaded) == (1, 0)
    assert conn.execute("select count(*) from raw.orders").fetchone() == (1,)
    ledger = conn.execute(
        "select source_file, status, duplicate_of from raw.file_ledger order by 1"
    ).fetchall()
    assert ledger == [
        ("landing/orders/dt=2026-11-01/a.csv", "loaded", None),
        ("landing/orders/dt=2026-11-02/copy-of-a.csv", "duplicate", "landing/orders/dt=2026-11-01/a.csv"),
    ]  # fmt: skip
    assert load(conn, settings, days=(DAY, "2026-11-02")).files_duplicate == 0
    assert validate_ledger(conn, settings, ORDERS, max_share=1.0).failures == []


def test_a_file_replaced_in_place_replaces_its_rows(conn, settings, land):
    row = "o{n},c1,paid,2026-11-01T10:00:00Z,,CNY,10,0,0,0,web,none,2026-11-01T10:00:00Z\n"
    land("orders", DAY, "a.csv", HEADER + row.format(n=1) + row.format(n=2).replace("paid", "x"))
    load(conn, settings)
    land("orders", DAY, "a.csv", HEADER + row.format(n=1) + row.format(n=2))  # corrected
    report = load(conn, settings)
    assert (report.rows_loaded, report.rows_quarantined) == (2, 0)
    assert conn.execute("select count(*) from raw.orders").fetchone() == (2,)
    assert conn.execute("select count(*) from raw.quarantine").fetchone() == (0,)
    assert validate_ledger(conn, settings, ORDERS, max_share=1.0).failures == []


def test_a_newer_order_version_is_kept_beside_the_older(conn, settings, land):
    v1 = "o1,c1,paid,2026-11-01T10:00:00Z,2026-11-01T10:01:00Z,CNY,10,0,0,0,web,none,2026-11-01T10:01:00Z\n"
    v2 = v1.replace("paid,", "refunded,").replace(",0,web", ",10,web")
    v2 = v2[: v2.rindex(",") + 1] + "2026-11-03T08:00:00Z\n"
    land("orders", DAY, "a.csv", HEADER + v1)
    land("orders", "2026-11-03", "a.csv", HEADER + v2)
    load(conn, settings, days=(DAY, "2026-11-03"))
    versions = conn.execute(
        "select status, refund_total, _partition_date from raw.orders order by updated_at"
    ).fetchall()
    assert versions == [
        ("paid", Decimal("0.00"), date(2026, 11, 1)),
        ("refunded", Decimal("10.00"), date(2026, 11, 3)),
    ]


def test_parquet_and_gzipped_jsonl_load_like_csv(conn, settings, land):
    path = settings.landing_dir / "sessions" / f"dt={DAY}"
    path.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "session_id": ["s1", "s2"],
                "Anonymous_ID": ["a1", None],  # s2 breaks the contract
                "started_at": [datetime(2026, 11, 1, 9, 0), datetime(2026, 11, 1, 9, 5)],
            }
        ),
        path / "part.parquet",
    )
    lines = [
        {"event_id": "e1", "session_id": "s1", "anonymous_id": "a1", "event_type": "Search",
         "occurred_at": "2026-11-01T09:01:00+08:00", "search_query": "red shoes"},
        {"event_id": "e2", "session_id": "s1", "anonymous_id": "a1", "event_type": "dance",
         "occurred_at": "2026-11-01T09:02:00+08:00"},
    ]  # fmt: skip
    land(
        "events",
        DAY,
        "e.jsonl.gz",
        gzip.compress("\n".join(json.dumps(x) for x in lines).encode()),
    )
    sessions = load(conn, settings, "sessions")
    events = load(conn, settings, "events")
    assert (sessions.rows_loaded, sessions.rows_quarantined) == (1, 1)
    assert (events.rows_loaded, events.rows_quarantined) == (1, 1)
    # a naive Parquet timestamp is store time: 09:00 in Shanghai is 01:00 UTC
    assert conn.execute("select started_at from raw.sessions").fetchone() == (
        datetime(2026, 11, 1, 1, 0),
    )
    assert conn.execute("select event_type, occurred_at, search_query from raw.events").fetchone() == (
        "search", datetime(2026, 11, 1, 1, 1), "red shoes",
    )  # fmt: skip
    assert conn.execute(
        "select row_number from raw.quarantine where entity = 'sessions'"
    ).fetchone() == (2,)


def test_reconciliation_check_finds_rows_that_went_missing(conn, settings, land):
    row = "o{n},c1,paid,2026-11-01T10:00:00Z,,CNY,10,0,0,0,web,none,2026-11-01T10:00:00Z\n"
    land("orders", DAY, "a.csv", HEADER + row.format(n=1) + row.format(n=2))
    load(conn, settings)
    conn.execute("delete from raw.orders where order_id = 'o2'")
    file = f"landing/orders/dt={DAY}/a.csv"
    assert validate_ledger(conn, settings, ORDERS, max_share=1.0).failures == [
        "expect_column_pair_values_to_be_equal on rows_loaded and rows_in_raw_table: "
        f"1 row(s) break it, e.g. [{{'source_file': '{file}', 'rows_loaded': '2', "
        "'rows_in_raw_table': '1'}]"
    ]


def test_a_warehouse_with_two_decimal_amounts_is_widened_and_keeps_its_values(conn, settings):
    conn.execute("create schema raw")
    conn.execute("create table raw.orders (order_id varchar, order_total decimal(18, 2))")
    conn.execute("insert into raw.orders values ('o1', 1.25)")
    ensure_tables(conn, ENTITIES["orders"])
    ensure_tables(conn, ENTITIES["orders"])  # up to date: nothing to change
    assert conn.execute(
        "select data_type from information_schema.columns "
        "where table_name = 'orders' and column_name = 'order_total'"
    ).fetchall() == [("DECIMAL(18,4)",)]
    assert conn.execute("select order_total from raw.orders").fetchall() == [(Decimal("1.25"),)]
