"""Wake-up and reactivation rates and campaign evaluation from a hand-made contact log;
empty marts without one."""

import pytest

from dagster_project.resources import open_warehouse
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
    with open_warehouse(settings) as conn:
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


@pytest.fixture(scope="module")
def with_log(tmp_path_factory):
    return build(tmp_path_factory.mktemp("with_log"), with_contact_log=True)


@pytest.fixture(scope="module")
def without_log(tmp_path_factory):
    return build(tmp_path_factory.mktemp("without_log"), with_contact_log=False)


def test_wake_up_and_reactivation_rates_per_arm(with_log):
    settings = with_log
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


def test_the_marts_are_empty_not_failing_before_any_campaign_ran(without_log):
    settings = without_log
    assert query(settings, "select count(*) from marts.kpi_campaign_response") == [(0,)]
    assert query(settings, "select count(*) from marts.campaign_evaluation") == [(0,)]


def test_campaign_evaluation_uplift_and_its_confidence_interval(with_log):
    settings = with_log
    ((row),) = query(
        settings,
        "select campaign_id, send_date, is_window_complete, treatment_customers, control_customers, "
        "treatment_converted, control_converted, treatment_rate, control_rate, uplift, uplift_ci_low, "
        "uplift_ci_high, is_uplift_significant, treatment_net_revenue, control_net_revenue, "
        "incremental_net_revenue, wake_up_rate, reactivation_rate from marts.campaign_evaluation",
    )
    (campaign, day, complete, nt, nc, ct, cc, rt, rc, uplift, low, high, significant,
     revenue_t, revenue_c, incremental, wake_up, reactivation) = row  # fmt: skip
    # treatment s1 s2 c1 a1: only s1 buys in the window; control s3 buys on the window's last day
    assert (campaign, str(day), complete, nt, nc, ct, cc) == (
        "winback",
        "2026-01-15",
        True,
        4,
        1,
        1,
        1,
    )
    assert (rt, rc, uplift) == (0.25, 1.0, -0.75)
    # 1.96 * sqrt(0.25 * 0.75 / 4 + 1.0 * 0.0 / 1) = 1.96 * 0.2165064 = 0.4243524
    assert low == pytest.approx(-0.75 - 0.4243524, abs=1e-6)
    assert high == pytest.approx(-0.75 + 0.4243524, abs=1e-6)
    assert significant is True
    # 100 CNY per purchase: treatment 100, control 100 for 1 customer -> 100 - 100 / 1 * 4
    assert (float(revenue_t), float(revenue_c), float(incremental)) == (100.0, 100.0, -300.0)
    # treatment members sleeping at the send: s1 (bought), s2; churned: c1 (too late)
    assert (wake_up, reactivation) == (0.5, 0.0)
