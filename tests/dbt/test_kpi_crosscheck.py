"""KPIs recomputed independently with pandas, straight from the raw orders, on a generated
shop, against the dbt KPI marts; and the incremental KPI marts across daily runs."""

from datetime import timedelta

import pandas as pd
import pytest

from dagster_project.sample_shop.generator import ShopConfig
from dagster_project.settings import load_settings
from tests.dbt.helpers import execute, load_shop, query, run_dbt

pytestmark = pytest.mark.slow  # whole-pipeline builds: make test, not make test-fast

SHOP = ShopConfig(customers=2500, days=300, seed=5)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    settings = load_settings(tmp_path_factory.mktemp("kpi") / "data")
    load_shop(settings, SHOP)
    run_dbt(settings, "build", "--exclude", "test_type:unit")
    return settings


@pytest.fixture(scope="module")
def purchase_days(shop):
    """metrics.md's purchase days, in pandas from raw.orders: newest version per order, paid,
    not cancelled, net > 0; the day is the paid day in Asia/Shanghai; one row per day."""
    orders = pd.DataFrame(
        query(
            shop,
            "select order_id, customer_id, status, paid_at, order_total, refund_total, "
            "updated_at, _loaded_at from raw.orders",
        ),
        columns=[
            "order_id",
            "customer_id",
            "status",
            "paid_at",
            "total",
            "refund",
            "updated_at",
            "loaded",
        ],
    )
    orders = orders.sort_values(["updated_at", "loaded"]).groupby("order_id").tail(1)
    net = orders["total"].astype(float) - orders["refund"].fillna(0).astype(float)
    paid = orders[
        orders["paid_at"].notna()
        & (orders["status"] != "cancelled")
        & (net > 0)
        & orders["customer_id"].notna()
    ].copy()
    paid["net"] = net
    paid["day"] = (
        pd.to_datetime(paid["paid_at"]).dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai").dt.date
    )
    return (
        paid.groupby(["customer_id", "day"])
        .agg(orders=("order_id", "size"), net=("net", "sum"))
        .reset_index()
    )


def test_repeat_rate_and_customer_quality_match(shop, purchase_days):
    firsts = purchase_days.groupby("customer_id")["day"].min()
    for day in (SHOP.end, SHOP.end - timedelta(days=60), SHOP.start + timedelta(days=120)):
        start = day - timedelta(days=44)
        window = purchase_days[(purchase_days["day"] >= start) & (purchase_days["day"] <= day)]
        per_customer = window.groupby("customer_id").agg(
            days=("day", "size"), orders=("orders", "sum"), net=("net", "sum")
        )
        per_customer["type"] = [
            "new" if firsts[c] >= start else "returning" for c in per_customer.index
        ]
        mart = {
            t: (customers, repeaters, orders, float(revenue))
            for t, customers, repeaters, orders, revenue in query(
                shop,
                "select customer_type, repeat_window_customers, repeat_window_repeaters, "
                f"quality_window_orders, quality_window_net_revenue from marts.kpi_daily where calendar_date = '{day}'",
            )
        }
        for t, group in (("all", per_customer), *per_customer.groupby("type")):
            expected = (
                len(group),
                int((group["days"] >= 2).sum()),
                int(group["orders"].sum()),
                group["net"].sum(),
            )
            assert mart[t][:3] == expected[:3], (day, t)
            assert mart[t][3] == pytest.approx(expected[3]), (day, t)


def test_retention_and_second_purchase_conversion_match(shop, purchase_days):
    days = purchase_days.sort_values(["customer_id", "day"]).copy()
    days["next"] = days.groupby("customer_id")["day"].shift(-1)
    for n in (30, 90):
        reported = days[days["day"] + timedelta(days=n) <= SHOP.end]
        retained = reported["next"].notna() & (
            reported["next"] <= reported["day"] + timedelta(days=n)
        )
        (customers, kept) = query(
            shop,
            "select sum(customers), sum(retained_customers) from marts.kpi_retention "
            f"where customer_type = 'all' and horizon_days = {n}",
        )[0]
        assert (customers, kept) == (len(reported), int(retained.sum()))
    firsts = days.groupby("customer_id").head(1)
    firsts = firsts[firsts["day"] + timedelta(days=45) <= SHOP.end]
    converted = firsts["next"].notna() & (firsts["next"] <= firsts["day"] + timedelta(days=45))
    assert query(
        shop,
        "select sum(cohort_customers), sum(converted_customers) from marts.kpi_second_purchase_conversion",
    )[0] == (len(firsts), int(converted.sum()))


def test_stage_counts_add_up_to_the_known_customers_every_day(shop):
    rows = query(
        shop,
        """
        with counts as (
            select calendar_date, sum(customers) as staged from marts.kpi_stage_counts
            where dimension = 'lifecycle_stage' group by 1
        ),
        known as (
            select c.calendar_date, count(k.customer_id) as known
            from intermediate.int_calendar_days as c
            left join intermediate.int_known_customers as k on k.known_from_date <= c.calendar_date
            group by 1
        )
        select count(*), count(*) filter (where counts.staged <> known.known)
        from known join counts using (calendar_date)
        """,
    )
    assert rows == [(SHOP.days, 0)]
    on_d = dict(
        query(shop, "select lifecycle_stage, count(*) from marts.customer_lifecycle group by 1")
    )
    counted = dict(
        query(
            shop,
            "select dimension_value, customers from marts.kpi_stage_counts where dimension = 'lifecycle_stage' "
            f"and calendar_date = '{SHOP.end}' and customers > 0",
        )
    )
    assert counted == on_d


def test_daily_runs_replace_their_days_and_match_a_full_build(tmp_path):
    settings = load_settings(tmp_path / "data")
    small = ShopConfig(customers=600, days=120, seed=3)
    load_shop(settings, small)
    incremental = (
        "kpi_daily",
        "kpi_retention",
        "kpi_stage_counts",
        "kpi_new_user_churn",
        "customer_stage_transitions",
    )
    keys = {
        "customer_stage_transitions": "transition_date, from_stage, to_stage",
        "kpi_daily": "calendar_date, customer_type",
        "kpi_new_user_churn": "registered_date",
        "kpi_retention": "purchase_date, customer_type, horizon_days",
        "kpi_stage_counts": "calendar_date, dimension, dimension_value",
    }
    for offset in (3, 2, 2, 1, 0):  # daily runs, one of them repeated
        run_dbt(settings, "build", "--exclude", "test_type:unit",
                as_of=str(small.end - timedelta(days=offset)))  # fmt: skip
    daily = {m: set(query(settings, f"select * from marts.{m}")) for m in incremental}
    for model in incremental:
        (dupes,) = query(
            settings,
            f"select count(*) from (select {keys[model]} from marts.{model} group by all having count(*) > 1)",
        )[0]
        assert dupes == 0, model
    run_dbt(settings, "build", "--exclude", "test_type:unit", "--full-refresh")
    full = {m: set(query(settings, f"select * from marts.{m}")) for m in incremental}
    assert daily["kpi_daily"] == full["kpi_daily"]
    assert daily["kpi_retention"] == full["kpi_retention"]
    assert daily["kpi_new_user_churn"] == full["kpi_new_user_churn"]
    assert daily["customer_stage_transitions"] == full["customer_stage_transitions"]
    # stage counts: the history is identical; RFM group counts exist only for the days a run saw
    stage_rows = lambda rows: {r for r in rows if r[1] == "lifecycle_stage"}  # noqa: E731
    assert stage_rows(daily["kpi_stage_counts"]) == stage_rows(full["kpi_stage_counts"])

    # a daily build of the transitions restates the last restate_days days only: a row
    # before them, lost, stays lost; after a full refresh of the stage history (data older
    # than those days), the next build restates every day
    first_day = "(select min(transition_date) from marts.customer_stage_transitions)"
    execute(
        settings,
        f"delete from marts.customer_stage_transitions where transition_date = {first_day}",
    )
    transitions = ["build", "--select", "customer_stage_transitions", "--exclude", "test_type:unit"]
    # a daily build of both (the full build above wrote every spell in one build)
    run_dbt(settings, "build", "--select", "customer_stage_history", "customer_stage_transitions",
            "--exclude", "test_type:unit")  # fmt: skip
    restated = set(query(settings, "select * from marts.customer_stage_transitions"))
    assert restated < full["customer_stage_transitions"]
    run_dbt(
        settings,
        "build",
        "--select",
        "customer_stage_history",
        "--full-refresh",
        "--exclude",
        "test_type:unit",
    )
    run_dbt(settings, *transitions)
    assert (
        set(query(settings, "select * from marts.customer_stage_transitions"))
        == full["customer_stage_transitions"]
    )
