"""Consent end to end: an unsubscribe that arrives after an opt-in wins in the audience."""

from datetime import date
from pathlib import Path

from dagster_project.activate.audience import select_audiences
from dagster_project.ingest.contract import ENTITIES
from dagster_project.ingest.loader import load_partitions
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


def test_an_opt_out_in_a_quarantined_profile_row_removes_the_customer_from_that_channel(
    settings, land
):
    """c1 and c2 opted in to email and SMS. A later profile row of c1 says email no and is
    quarantined for its gender code 'X': c1 must leave every email audience, and stay in SMS
    ones (that row does not say anything readable about SMS)."""
    hostile = Path(__file__).resolve().parents[1] / "data" / "hostile"
    land("customers", "2026-11-01", "a.csv", (hostile / "customers_opted_in.csv").read_text())
    land(
        "customers",
        "2026-11-02",
        "a.csv",
        (hostile / "customers_opt_out_with_unknown_gender.csv").read_text(),
    )
    empty_raw_tables(settings)
    with open_warehouse(settings) as conn:
        days = [date(2026, 11, 1), date(2026, 11, 2)]
        report = load_partitions(conn, settings, ENTITIES["customers"], days)
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1)
    run_dbt(settings, "build", "--exclude", "test_type:unit", as_of="2026-11-03")
    prospects = {"customer_type": ["prospect"]}
    sms = {"channel": "sms", "fields": ("customer_id", "phone")}
    with open_warehouse(settings) as conn:
        select_audiences(
            conn,
            settings,
            [
                campaign("welcome", audience=prospects, priority=1),
                campaign("sms_welcome", audience=prospects, priority=2, **sms),
            ],
        )
        chosen = conn.execute(
            "select campaign_id, customer_id from activate.campaign_audience order by 1, 2"
        ).fetchall()
    assert chosen == [("sms_welcome", "c1"), ("sms_welcome", "c2"), ("welcome", "c2")]
