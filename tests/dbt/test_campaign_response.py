"""Wake-up and reactivation rates from a hand-made contact log, and an empty mart without one."""

import duckdb

from dagster_project.settings import load_settings
from tests.dbt.helpers import empty_raw_tables, query, run_dbt

# (customer, paid day in store time): one order each, 100 CNY, paid at noon Shanghai time
PURCHASES = [
    ("s1", "2025-10-01"), ("s1", "2026-01-20"),  # sleeping at the send, buys on day 6
    ("s2", "2025-10-01"),                        # sleeping, does not buy
    ("s3", "2025-10-02"), ("s3", "2026-01-28"),  # sleeping, control arm, buys on day 14 (last day)
    ("c1", "2024-10-01"), ("c1", "2026-01-29"),  # churned, buys on day 15: too late
    ("a1", "2026-01-10"),                        # after-sale at the send: neither KPI
]  # fmt: skip
CONTACTS = [
    ("winback", "s1", "treatment"),
    ("winback", "s2", "treatment"),
    ("winback", "s3", "control"),
    ("winback", "c1", "treatment"),
    ("winback", "a1", "treatment"),
]


def build(tmp_path, with_contact_log: bool):
    settings = load_settings(tmp_path / "data")
    empty_raw_tables(settings)
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        for n, (customer, day) in enumerate(PURCHASES):
            paid = f"{day} 04:00:00"  # UTC; noon in Shanghai
            conn.execute(
                "insert into raw.orders (order_id, customer_id, status, created_at, paid_at, currency, "
                "order_total, refund_total, updated_at, _source_file, _row_number, _loaded_at) "
                "values (?, ?, 'paid', ?, ?, 'CNY', 100, 0, ?, 'hand', ?, ?)",
                [f"o{n}", customer, paid, paid, paid, n, paid],
            )
        if with_contact_log:
            conn.execute("create schema activate")
            conn.execute(
                "create table activate.contact_log (campaign_id varchar, customer_id varchar, "
                "arm varchar, send_date date)"
            )
            for campaign, customer, arm in CONTACTS:
                conn.execute(
                    "insert into activate.contact_log values (?, ?, ?, date '2026-01-15')",
                    [campaign, customer, arm],
                )
    run_dbt(settings, "build", "--exclude", "test_type:unit", as_of="2026-03-31")
    return settings


def test_wake_up_and_reactivation_rates_per_arm(tmp_path):
    settings = build(tmp_path, with_contact_log=True)
    rows = query(
        settings,
        "select arm, lifecycle_stage, kpi_code, is_window_complete, contacted_customers, "
        "responding_customers, response_rate from marts.kpi_campaign_response order by 1, 2",
    )
    assert rows == [
        ("control", "sleeping", "wake_up", True, 1, 1, 1.0),
        ("treatment", "churned", "reactivation", True, 1, 0, 0.0),
        ("treatment", "sleeping", "wake_up", True, 2, 1, 0.5),
    ]


def test_the_mart_is_empty_not_failing_before_any_campaign_ran(tmp_path):
    settings = build(tmp_path, with_contact_log=False)
    assert query(settings, "select count(*) from marts.kpi_campaign_response") == [(0,)]
