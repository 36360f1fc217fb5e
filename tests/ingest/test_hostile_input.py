"""Hostile landing zones: impossible dates, stray files, conflicting and repeated deliveries,
an opt-out in a broken row, a CSV that cannot be parsed. The files are in tests/data/hostile."""

import os
from datetime import date, datetime
from pathlib import Path

from dagster_project.ingest.contract import ENTITIES
from dagster_project.ingest.loader import load_partitions, unrecognised_files
from dagster_project.quality.suites import PLAUSIBILITY, validate_ledger, validate_raw
from tests.ingest.test_loader import NOW, load

HOSTILE = Path(__file__).resolve().parents[1] / "data" / "hostile"
DAY = "2026-11-01"


def fixture(name: str) -> str:
    return (HOSTILE / name).read_text(encoding="utf-8")


def test_a_timestamp_before_the_earliest_plausible_date_is_quarantined(conn, settings, land):
    # first_partition_date 2024-11-01 by default: the earliest plausible day is 2004-11-01
    assert settings.earliest_plausible_date == date(2004, 11, 1)
    land("orders", DAY, "a.csv", fixture("orders_dated_1900.csv"))
    land(
        "customers",
        DAY,
        "a.csv",
        "customer_id,birth_date,registered_at,updated_at\n"
        "c1,1950-05-01,2026-01-01 10:00:00,2026-01-01 10:00:00\n",
    )
    report = load(conn, settings)
    assert (report.rows_loaded, report.rows_quarantined) == (1, 1)
    (reason,) = conn.execute("select reason from raw.quarantine").fetchone()
    assert reason == (
        "created_at is before earliest_plausible_date 2004-11-01: '1900-01-01 10:00:00'; "
        "paid_at is before earliest_plausible_date 2004-11-01: '1900-01-01 10:05:00'; "
        "updated_at is before earliest_plausible_date 2004-11-01: '1900-01-01 10:05:00'"
    )
    # a birth date is not bound by it
    assert load(conn, settings, "customers").rows_loaded == 1


def test_files_outside_entity_day_folders_are_listed_with_the_folder_meant(settings, conn, land):
    good = fixture("orders_repeated_key.csv")
    land("orders", DAY, "a.csv", good)
    strays = {
        "landing/Orders/dt=2026-11-01/a.csv": "orders",
        "landing/order/dt=2026-11-01/a.csv": "orders",
        "landing/orders/2026-11-01/a.csv": "orders",
        "landing/orders/dt=2026-11-01/late/a.csv": "orders",
        "landing/orders/a.csv": "orders",
        "landing/orders/dt=2026-13-01/a.csv": "orders",
        "landing/orders/dt=2023-01-01/a.csv": "orders",  # before first_partition_date
        "landing/refunds/a.csv": None,
    }
    for rel in strays:
        path = settings.data_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(good, encoding="utf-8")
    (settings.landing_dir / "Orders" / ".DS_Store").write_text("")  # hidden: not reported
    found = {path: (entity, reason) for path, entity, reason, _ in unrecognised_files(settings)}
    assert {path: entity for path, (entity, _) in found.items()} == strays
    assert found["landing/Orders/dt=2026-11-01/a.csv"][1] == (
        "'Orders' is not an entity folder: did you mean 'orders'? Move the files to "
        "landing/orders/dt=YYYY-MM-DD/"
    )
    assert found["landing/orders/2026-11-01/a.csv"][1] == (
        "folder '2026-11-01' is not named dt=YYYY-MM-DD (rename it dt=2026-11-01)"
    )
    assert found["landing/orders/dt=2026-11-01/late/a.csv"][1] == (
        "in a subfolder of dt=2026-11-01: files go directly in the dt= folder"
    )
    assert found["landing/orders/dt=2023-01-01/a.csv"][1] == (
        "day 2023-01-01 is before first_partition_date 2024-11-01: change that setting to load it"
    )
    assert found["landing/refunds/a.csv"][1].startswith("'refunds' is not an entity folder (")
    # a load records them in the warehouse, beside the ledger, and loads only the good file
    report = load(conn, settings)
    assert report.files_loaded == 1
    listed = conn.execute("select source_file, entity from raw.unrecognised_files").fetchall()
    assert dict(listed) == strays


def test_the_later_of_two_conflicting_deliveries_is_kept_and_both_files_named(conn, settings, land):
    # total 300 delivered first, total 100 an hour later: both rows stay in raw
    first = land("orders", DAY, "b.csv", fixture("orders_conflict_total_300.csv"))
    later = land("orders", DAY, "a.csv", fixture("orders_conflict_total_100.csv"))
    os.utime(first, (1_700_000_000, 1_700_000_000))
    os.utime(later, (1_700_003_600, 1_700_003_600))
    load(conn, settings)
    rows = conn.execute(
        "select _source_file, order_total, _delivered_at from raw.orders order by 1"
    ).fetchall()
    assert [(r[0][-5:], float(r[1]), r[2]) for r in rows] == [
        ("a.csv", 100.0, datetime(2023, 11, 14, 23, 13, 20)),
        ("b.csv", 300.0, datetime(2023, 11, 14, 22, 13, 20)),
    ]
    outcome, _ = validate_raw(conn, settings, ENTITIES["orders"], PLAUSIBILITY)
    assert not outcome.success
    (conflict,) = [f for f in outcome.failures if "order_id, updated_at" in f]
    folder = f"landing/orders/dt={DAY}"
    assert conflict.startswith(
        "expect_compound_columns_to_be_unique on order_id, updated_at: 2 row(s) break it"
    )
    assert f"'files': '{folder}/a.csv'" in conflict and f"'files': '{folder}/b.csv'" in conflict


def test_a_file_overwritten_with_another_files_content_drops_its_old_rows(conn, settings, land):
    a = fixture("orders_conflict_total_100.csv")
    b = fixture("orders_repeated_key.csv")
    land("orders", DAY, "a.csv", a)
    land("orders", DAY, "b.csv", b)
    load(conn, settings)
    land("orders", DAY, "a.csv", b)  # a.csv now says what b.csv says
    report = load(conn, settings)
    assert report.files_duplicate == 1
    assert conn.execute("select distinct order_id from raw.orders order by 1").fetchall() == [
        ("o8",),
        ("o9",),
    ]  # o7, a.csv's old row, is gone
    history = conn.execute(
        "select source_file, status, duplicate_of, replaced_at is not null "
        "from raw.file_ledger order by source_file, loaded_at"
    ).fetchall()
    folder = f"landing/orders/dt={DAY}"
    assert history == [
        (f"{folder}/a.csv", "loaded", None, True),  # the first delivery, kept as history
        (f"{folder}/a.csv", "duplicate", f"{folder}/b.csv", False),
        (f"{folder}/b.csv", "loaded", None, False),
    ]
    assert validate_ledger(conn, settings, ENTITIES["orders"], max_share=1.0).failures == []
    # and back to its own content: it loads again, the duplicate record is history too
    land("orders", DAY, "a.csv", a)
    assert load(conn, settings).rows_loaded == 1
    assert conn.execute("select count(*) from raw.orders").fetchone() == (3,)
    assert conn.execute(
        "select count(*) from raw.file_ledger where replaced_at is null"
    ).fetchone() == (2,)


def test_a_repeated_key_in_one_file_loads_the_first_row_and_quarantines_the_second(
    conn, settings, land
):
    # o8's second row has the same updated_at, written in UTC: the same version
    land("orders", DAY, "a.csv", fixture("orders_repeated_key.csv"))
    report = load(conn, settings)
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1)
    assert conn.execute("select order_id, order_total from raw.orders order by 1").fetchall() == [
        ("o8", 50),
        ("o9", 20),
    ]
    assert conn.execute("select row_number, reason from raw.quarantine").fetchall() == [
        (2, "repeats the key (order_id, updated_at) of row 1 of this file")
    ]
    outcome, _ = validate_raw(conn, settings, ENTITIES["orders"], "contract")
    assert outcome.success  # nothing left for the blocking check to stop on


def test_an_opt_out_in_a_quarantined_row_is_kept(conn, settings, land):
    land("customers", DAY, "a.csv", fixture("customers_opted_in.csv"))
    load(conn, settings, "customers")
    land("customers", "2026-11-02", "a.csv", fixture("customers_opt_out_with_unknown_gender.csv"))
    report = load(conn, settings, "customers", days=("2026-11-02",))
    assert report.rows_quarantined == 1
    assert conn.execute(
        "select customer_id, updated_at, email_opt_in, sms_opt_in, push_opt_in, _row_number "
        "from raw.quarantined_consent"
    ).fetchall() == [("c1", datetime(2026, 11, 1, 1, 0), False, None, None, 1)]


def test_an_unparsable_csv_is_named_with_the_cause_and_not_the_row(conn, settings, land):
    land("orders", DAY, "a.csv", fixture("orders_unterminated_quote.csv"))
    report = load_partitions(
        conn, settings, ENTITIES["orders"], [date.fromisoformat(DAY)], now_utc=NOW
    )
    assert report.failures == [
        (
            f"landing/orders/dt={DAY}/a.csv",
            "cannot be read: CSV Error on Line: 3; Value with unterminated quote found.",
        )
    ]
