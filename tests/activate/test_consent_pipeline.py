"""Consent end to end: an unsubscribe that arrives after an opt-in wins in the audience."""

from datetime import date

from dagster_project.activate.audience import select_audiences
from dagster_project.resources import open_warehouse
from tests.activate.test_audience import campaign
from tests.dbt.helpers import empty_raw_tables, run_dbt

# (customer, email_opt_in, updated_at UTC): 'late' opted in, then unsubscribed a month later;
# 'back' unsubscribed, then opted in again; 'stays' opted in once
SNAPSHOTS = [
    ("late", True, "2026-01-01 00:00:00"), ("late", False, "2026-02-01 00:00:00"),
    ("back", False, "2026-01-01 00:00:00"), ("back", True, "2026-02-01 00:00:00"),
    ("stays", True, "2026-01-01 00:00:00"),
]  # fmt: skip


def test_a_later_unsubscribe_removes_an_earlier_opt_in(settings):
    empty_raw_tables(settings)
    with open_warehouse(settings) as conn:
        for n, (customer_id, opt_in, updated_at) in enumerate(SNAPSHOTS):
            conn.execute(
                "insert into raw.customers (customer_id, email, registered_at, email_opt_in, updated_at, "
                "_source_file, _row_number, _loaded_at) values (?, ?, '2025-12-01', ?, ?, 'hand', ?, ?)",
                [customer_id, f"{customer_id}@example.com", opt_in, updated_at, n, updated_at],
            )
    run_dbt(settings, "build", "--exclude", "test_type:unit", as_of="2026-03-01")
    with open_warehouse(settings) as conn:
        day, funnel = select_audiences(
            conn, settings, [campaign(audience={"customer_type": ["prospect"]})]
        )
        chosen = conn.execute(
            "select customer_id from activate.campaign_audience order by 1"
        ).fetchall()
    assert day == date(2026, 3, 1)
    assert chosen == [("back",), ("stays",)]
    assert funnel[0][4:6] == (3, 2)  # qualified, consented
