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


def store_day(utc: pd.Series) -> pd.Series:
    return pd.to_datetime(utc).dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai").dt.date


@pytest.fixture(scope="module")
def purchase_days(shop):
    """metrics.md's purchase days, in pandas from the raw tables: the newest version per
    order, in CNY at the rate of its day; a sale is paid and not cancelled; its return
    documents replace its refund_total; a sale returned in full within 14 days is no
    purchase; a credit note naming no order goes against the customer's latest purchase day
    on or before it. The day is the paid day in Asia/Shanghai; one row per day."""
    rates = {
        (d, c): float(r)
        for d, c, r in query(shop, "select date, currency, rate from raw.exchange_rates")
    }
    orders = pd.DataFrame(
        query(
            shop,
            "select order_id, customer_id, status, created_at, paid_at, currency, order_total, "
            "refund_total, updated_at, _loaded_at from raw.orders",
        ),
        columns=["order_id", "customer_id", "status", "created_at", "paid_at", "currency",
                 "total", "refund", "updated_at", "loaded"],
    )  # fmt: skip
    orders = orders.sort_values(["updated_at", "loaded"]).groupby("order_id").tail(1)
    # each order's person, as the identity graph resolves it (tested in test_identity.py):
    # these KPIs count persons
    person_of_order = dict(
        query(shop, "select order_id, customer_id from intermediate.int_orders_by_person")
    )
    orders["customer_id"] = orders["order_id"].map(person_of_order)
    orders["refund"] = orders["refund"].fillna(0).astype(float)
    orders["total"] = orders["total"].astype(float)
    orders["day"] = store_day(orders["paid_at"].fillna(orders["created_at"]))
    orders["rate"] = [
        1.0 if c == "CNY" else rates[(d, c)]
        for d, c in zip(orders["day"], orders["currency"], strict=True)
    ]
    sales = orders[
        orders["paid_at"].notna()
        & (orders["status"] != "cancelled")
        & orders["customer_id"].notna()
    ].copy()
    returns = pd.DataFrame(
        query(shop, "select order_id, customer_id, returned_at, amount, currency from raw.returns"),
        columns=["order_id", "customer_id", "returned_at", "amount", "currency"],
    )
    person_of_account = dict(
        query(
            shop,
            "select identifier, person_id from intermediate.int_identity_map "
            "where identifier_kind = 'customer_id'",
        )
    )
    returns["customer_id"] = returns["customer_id"].map(person_of_account)
    returns["amount"] = returns["amount"].astype(float)
    returns["day"] = store_day(returns["returned_at"])
    returns["cny"] = [
        a * (1.0 if c == "CNY" else rates[(d, c)])
        for a, c, d in zip(returns["amount"], returns["currency"], returns["day"], strict=True)
    ]
    linked = returns.merge(sales[["order_id", "day"]], on="order_id", suffixes=("", "_paid"))
    in_window = linked[linked["day"] <= linked["day_paid"] + timedelta(days=14)]
    docs = linked.groupby("order_id")["cny"].sum()
    sales["returned_in_window"] = sales["order_id"].map(
        in_window.groupby("order_id")["amount"].sum()
    )
    sales["documented"] = sales["order_id"].isin(docs.index)
    left = sales["total"] - sales["returned_in_window"].where(sales["documented"], sales["refund"])
    paid = sales[left.fillna(sales["total"]) > 0].copy()
    refunds = paid["order_id"].map(docs).where(paid["documented"], paid["refund"] * paid["rate"])
    paid["net"] = (paid["total"] * paid["rate"]).round(4) - refunds
    days = (
        paid.groupby(["customer_id", "day"])
        .agg(orders=("order_id", "size"), net=("net", "sum"))
        .reset_index()
    )
    unlinked = returns[returns["order_id"].isna() & returns["customer_id"].notna()]
    for customer, day, cny in zip(
        unlinked["customer_id"], unlinked["day"], unlinked["cny"], strict=True
    ):
        before = days[(days["customer_id"] == customer) & (days["day"] <= day)]
        if len(before):
            days.loc[before["day"].idxmax(), "net"] -= cny
    return days


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

    # the transitions are counted again from the spells on every build: a row lost is back
    first_day = "(select min(transition_date) from marts.customer_stage_transitions)"
    execute(
        settings,
        f"delete from marts.customer_stage_transitions where transition_date = {first_day}",
    )
    assert (
        set(query(settings, "select * from marts.customer_stage_transitions"))
        < full["customer_stage_transitions"]
    )
    run_dbt(settings, "build", "--select", "customer_stage_transitions",
            "--exclude", "test_type:unit")  # fmt: skip
    assert (
        set(query(settings, "select * from marts.customer_stage_transitions"))
        == full["customer_stage_transitions"]
    )
