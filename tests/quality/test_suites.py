"""The great-expectations suites on small hand-built raw files and marts."""

from datetime import date

import pytest

from dagster_project.ingest.contract import ENTITIES
from dagster_project.ingest.loader import load_partitions
from dagster_project.quality.suites import (
    CONTRACT,
    MART_SUITES,
    PLAUSIBILITY,
    validate_mart,
    validate_raw,
)
from dagster_project.settings import Settings

ORDERS = ENTITIES["orders"]
DAY = "2026-11-01"
HEADER = (
    "order_id,customer_id,status,created_at,paid_at,currency,order_total,discount_total,"
    "shipping_total,refund_total,channel,promotion_type,updated_at\n"
)
ROW = "o{n},c1,paid,2026-11-01T10:00:00Z,{paid},CNY,{total},0,0,0,web,none,2026-11-01T10:0{v}:00Z\n"


def row(n, v=0, total=10, paid="2026-11-01T10:05:00Z"):
    return ROW.format(n=n, v=v, total=total, paid=paid)


def load(conn, settings):
    return load_partitions(conn, settings, ORDERS, [date.fromisoformat(DAY)])


def repeat_order(conn, order_id, as_order_id):
    """Rows the loader would never write (it quarantines a repeated key): one order version
    twice in a file, made by hand for the contract check's safety net."""
    conn.execute("update raw.orders set order_id = ? where order_id = ?", [order_id, as_order_id])


def test_two_rows_of_one_order_version_in_a_file_break_the_contract_naming_file_and_rows(
    conn, settings, land
):
    # o1 has two versions (fine) and one of them twice (ambiguous)
    land("orders", DAY, "a.csv", HEADER + row(1) + row(1, v=1) + row(2))
    load(conn, settings)
    repeat_order(conn, "o1", "o2")
    outcome, facts = validate_raw(conn, settings, ORDERS, CONTRACT)
    assert not outcome.success and facts["rows_validated"] == 3
    (failure,) = outcome.failures
    file = f"landing/orders/dt={DAY}/a.csv"
    assert failure.startswith(
        "expect_compound_columns_to_be_unique on _source_file, order_id, updated_at: "
        f"2 row(s) break it, e.g. [{{'_source_file': '{file}', '_row_number': '1'"
    )
    assert f"'_source_file': '{file}', '_row_number': '3'" in failure


def test_files_are_validated_in_frames_and_the_counts_of_every_frame_add_up(conn, settings, land):
    # frames of at most 2 rows, files whole: a.csv, then b.csv, then c.csv (3 rows, alone)
    settings = Settings(settings.data_dir, {**settings.vars, "gx_chunk_rows": 2})
    land("orders", DAY, "a.csv", HEADER + row(1) + row(6))
    land("orders", DAY, "b.csv", HEADER + row(2) + row(3))
    land("orders", DAY, "c.csv", HEADER + row(4) + row(7) + row(5))
    load(conn, settings)
    repeat_order(conn, "o1", "o6")
    repeat_order(conn, "o4", "o7")
    outcome, facts = validate_raw(conn, settings, ORDERS, CONTRACT)
    assert facts["rows_validated"] == 7 and not facts["sampled"]
    (unique,) = [r for r in outcome.results if r["expectation"].endswith("_to_be_unique")]
    assert unique["unexpected_count"] == 4  # the two rows of o1 in a.csv, of o4 in c.csv
    assert conn.execute(
        "select count(*) from duckdb_tables() where table_name = '__gx_new_rows'"
    ).fetchone() == (0,)  # the rows picked out for the frames are dropped after


def test_failing_rows_fail_every_run_until_their_file_is_corrected(conn, settings, land):
    land("orders", DAY, "a.csv", HEADER + row(1) + row(3))
    load(conn, settings)
    repeat_order(conn, "o1", "o3")
    assert not validate_raw(conn, settings, ORDERS, CONTRACT)[0].success
    outcome, facts = validate_raw(conn, settings, ORDERS, CONTRACT)  # the next run
    assert not outcome.success and facts["rows_validated"] == 2
    land("orders", DAY, "a.csv", HEADER + row(1) + row(2))  # the shop re-delivers the file
    load(conn, settings)
    outcome, facts = validate_raw(conn, settings, ORDERS, CONTRACT)
    assert outcome.success and facts["rows_validated"] == 2
    outcome, facts = validate_raw(conn, settings, ORDERS, CONTRACT)
    assert outcome.success and facts["rows_validated"] == 0  # nothing new since it passed


def test_plausibility_warns_once_about_a_payment_before_the_order_and_a_huge_total(
    conn, settings, land
):
    land(
        "orders",
        DAY,
        "a.csv",
        HEADER + row(1) + row(2, paid="2026-11-01T09:00:00Z") + row(3, total=250000) + row(4),
    )
    load(conn, settings)
    assert validate_raw(conn, settings, ORDERS, CONTRACT)[0].success
    outcome, _ = validate_raw(conn, settings, ORDERS, PLAUSIBILITY)
    failed = {r["expectation"]: r["unexpected_count"] for r in outcome.results if not r["success"]}
    assert failed == {
        "expect_column_pair_values_a_to_be_greater_than_b": 1,  # o2: paid before created
        "expect_column_values_to_be_between": 1,  # o3 above order_total_warn_max 100000
    }
    outcome, facts = validate_raw(conn, settings, ORDERS, PLAUSIBILITY)  # shown once
    assert outcome.success and facts["rows_validated"] == 0


@pytest.mark.parametrize(
    ("bad_rows", "contract_passes", "plausibility_passes"),
    [(0, True, True), (1, True, False), (3, False, False)],  # of 10: 0%, 10%, 30%
)
def test_quarantined_share_per_file_warns_above_1_percent_and_fails_above_20(
    conn, settings, land, bad_rows, contract_passes, plausibility_passes
):
    settings = Settings(settings.data_dir, {**settings.vars, "quarantine_share_min_rows": 10})
    rows = [row(n) if n >= bad_rows else row(n).replace("CNY", "US$") for n in range(10)]
    land("orders", DAY, "a.csv", HEADER + "".join(rows))
    assert load(conn, settings).rows_quarantined == bad_rows
    assert validate_raw(conn, settings, ORDERS, CONTRACT)[0].success is contract_passes
    assert validate_raw(conn, settings, ORDERS, PLAUSIBILITY)[0].success is plausibility_passes


def test_credit_notes_in_the_orders_file_warn_but_do_not_block(conn, settings, land):
    """3 of 10 rows are credit notes (negative totals): quarantined with a reason that says
    where they belong, shown by the warning, but 0 of 10 rows are broken: the load goes on."""
    settings = Settings(settings.data_dir, {**settings.vars, "quarantine_share_min_rows": 10})
    rows = [row(n, total=-5 if n < 3 else 10) for n in range(10)]
    land("orders", DAY, "a.csv", HEADER + "".join(rows))
    assert load(conn, settings).rows_quarantined == 3
    assert validate_raw(conn, settings, ORDERS, CONTRACT)[0].success
    assert not validate_raw(conn, settings, ORDERS, PLAUSIBILITY)[0].success


def test_a_file_below_the_minimum_rows_is_not_judged_on_its_share(conn, settings, land):
    land("orders", DAY, "a.csv", HEADER + row(1) + row(2).replace("CNY", "US$"))  # 50%
    load(conn, settings)
    assert validate_raw(conn, settings, ORDERS, CONTRACT)[0].success  # 2 rows < 100


def rfm(conn, scores):
    conn.execute(
        "create or replace table marts.customer_rfm "
        "(r_score int, f_score int, m_score int, rfm_group varchar)"
    )
    conn.executemany(
        "insert into marts.customer_rfm values (?, ?, ?, 'important_value')",
        [(r, 3, 3) for r in scores],
    )


def test_a_mart_fails_on_losing_more_than_half_its_rows(conn, settings):
    suite = MART_SUITES["marts.customer_rfm"]
    rfm(conn, [1, 2, 3, 4, 5] * 2)
    outcome, facts = validate_mart(conn, settings, suite)
    assert outcome.success and facts["rows"] == 10 and facts["previous_good_rows"] is None
    rfm(conn, [1, 2, 3, 4, 5])  # 5 of 10 rows: exactly half, still accepted
    outcome, facts = validate_mart(conn, settings, suite)
    assert outcome.success and facts["min_rows_accepted"] == 5
    rfm(conn, [1, 2])  # 2 of 5: lost 60% since the last good run
    outcome, facts = validate_mart(conn, settings, suite)
    assert not outcome.success and facts["min_rows_accepted"] == 3
    assert outcome.failures == [
        "row count at least min_rows_accepted: observed 2 rows, at least 3 accepted"
    ]
    # a score of 6 is dbt's test to catch (accepted_values), not this check's
    rfm(conn, [1, 2, 6, 4])  # the baseline is still the last good run's 5 rows
    outcome, facts = validate_mart(conn, settings, suite)
    assert outcome.success and facts["min_rows_accepted"] == 3


def test_a_table_python_writes_is_checked_for_its_values_too(conn, settings):
    conn.execute("create schema if not exists marts")
    conn.execute(
        "create table scores.customer_value as select * from (values (0.5, 10.0), (1.5, 3.0)) "
        "as t(probability_alive, predicted_clv)"
    )
    outcome, _ = validate_mart(conn, settings, MART_SUITES["scores.customer_value"])
    assert outcome.failures == [
        "expect_column_values_to_be_between on probability_alive: 1 row(s) break it, e.g. ['1.5']"
    ]


def test_a_rebuild_as_of_an_earlier_day_is_not_held_to_the_newest_days_row_count(conn, settings):
    suite = MART_SUITES["marts.customer_rfm"]
    conn.execute("create schema intermediate")
    conn.execute(
        "create table intermediate.int_as_of_date as select date '2026-11-20' as as_of_date"
    )
    rfm(conn, [1, 2, 3, 4, 5] * 2)
    assert validate_mart(conn, settings, suite)[0].success  # baseline: 10 rows as of the 20th
    conn.execute("update intermediate.int_as_of_date set as_of_date = date '2025-11-20'")
    rfm(conn, [1, 2])  # a year earlier, far fewer buyers
    outcome, facts = validate_mart(conn, settings, suite)
    assert outcome.success and facts["min_rows_accepted"] == 0
    conn.execute("update intermediate.int_as_of_date set as_of_date = date '2026-11-21'")
    outcome, facts = validate_mart(conn, settings, suite)  # the next day, still 2 rows
    assert not outcome.success and facts["min_rows_accepted"] == 5  # against the 20th's 10
