"""Revenue that matches the books, on a shop small enough to work out by hand.

Store time is Asia/Shanghai (UTC+8); every timestamp below is 02:00 UTC, 10:00 in the store,
so its store day is its UTC day. D = 2026-11-30. Member tiers: 0 / 500 / 2,000 / 8,000.

- c1 buys o1 (100 CNY) on 11-10 and o2 (300 CNY) on 11-20; o2 is cancelled by return r1 the
  same day for its full 300: one purchase day (11-10), R = 20, net revenue 100.
- c2 buys o3 (1,000 CNY) on 11-05: silver. Return r2 gives back 600 on 11-15 (10 days later)
  and credit note r3, which names no order, 50 on 11-25: still one purchase day, but
  M = net revenue = 1,000 - 600 - 50 = 350, and the tier drops to basic.
- o4 is a guest order of 200 CNY on 11-12: in the revenue KPIs, in no customer mart.
- c3 buys o5 for 50.00 USD on 11-18; USD is 7.0 on 11-17 and 7.2 on 11-18: 360 CNY.
- c3's o6 of 10 EUR on 11-19 has no EUR rate: held back with its reason, until the rate
  (7.5) arrives; then it converts to 75 CNY at the next build.

The month of November: gross sales 100 + 300 + 1,000 + 200 + 360 = 1,960; returns
300 + 600 + 50 = 950; net 1,010, of which guests 200 and known customers 810.
"""

from datetime import date
from decimal import Decimal

from dagster_project.ingest.contract import ENTITIES
from dagster_project.ingest.loader import landing_days, load_partitions
from dagster_project.resources import open_warehouse
from tests.dbt.helpers import query, run_dbt

D = "2026-11-30"
ORDERS = "order_id,customer_id,status,created_at,paid_at,currency,order_total,updated_at\n"
RETURNS = "return_id,order_id,customer_id,returned_at,amount,currency,reason\n"


def order(oid, customer, day, total, currency="CNY"):
    t = f"{day}T02:00:00Z"
    return f"{oid},{customer},paid,{t},{t},{currency},{total},{t}\n"


def load_all(settings):
    with open_warehouse(settings) as conn:
        for entity in ENTITIES.values():
            report = load_partitions(conn, settings, entity, landing_days(settings, entity.name))
            assert not report.failures and report.rows_quarantined == 0


def build(settings):
    run_dbt(settings, "build", "--exclude", "test_type:unit", as_of=D)


def facts(settings):
    return {
        row[0]: row[1:]
        for row in query(
            settings,
            "select customer_id, purchase_days, last_purchase_date, net_revenue, member_tier "
            "from marts.customer_facts order by 1",
        )
    }


def test_returns_guests_and_currencies_by_hand(settings, land):
    land("customers", "2026-11-01", "c.csv", "customer_id,registered_at,updated_at\n" + "".join(
        f"{c},2026-11-01T02:00:00Z,2026-11-01T02:00:00Z\n" for c in ("c1", "c2", "c3")
    ))  # fmt: skip
    land("orders", "2026-11-20", "o.csv", ORDERS
         + order("o1", "c1", "2026-11-10", "100.00") + order("o2", "c1", "2026-11-20", "300.00")
         + order("o3", "c2", "2026-11-05", "1000.00") + order("o4", "", "2026-11-12", "200.00")
         + order("o5", "c3", "2026-11-18", "50.00", "USD")
         + order("o6", "c3", "2026-11-19", "10.00", "EUR"))  # fmt: skip
    land("returns", "2026-11-25", "r.csv", RETURNS
         + "r1,o2,,2026-11-20T03:00:00Z,300.00,CNY,cancelled\n"
         + "r2,o3,c2,2026-11-15T02:00:00Z,600.00,CNY,wrong size\n"
         + "r3,,c2,2026-11-25T02:00:00Z,50.00,CNY,damaged\n")  # fmt: skip
    land("exchange_rates", "2026-11-18", "x.csv",
         "date,currency,rate\n2026-11-17,USD,7.0\n2026-11-18,USD,7.2\n")  # fmt: skip
    load_all(settings)
    build(settings)

    assert facts(settings) == {
        # the same-day full return removed 11-20: the last purchase day is 11-10
        "c1": (1, date(2026, 11, 10), Decimal("100"), "basic"),
        # the partial return and the credit note lower M and the tier, not F
        "c2": (1, date(2026, 11, 5), Decimal("350"), "basic"),
        "c3": (1, date(2026, 11, 18), Decimal("360"), "basic"),  # 50 USD at 7.2; o6 held back
    }
    assert query(settings, "select customer_id, frequency_days, monetary from marts.customer_rfm "
                 "order by 1") == [("c1", 1, Decimal("100")), ("c2", 1, Decimal("350")),
                                   ("c3", 1, Decimal("360"))]  # fmt: skip
    assert query(
        settings,
        "select segment, orders, gross_sales, returns, net_sales, round(return_rate, 6), "
        "round(share_of_net_sales, 6) from marts.kpi_revenue "
        "where period = 'month' and period_start = '2026-11-01' order by segment",
    ) == [
        ("all", 5, Decimal("1960"), Decimal("950"), Decimal("1010"), round(950 / 1960, 6), 1.0),
        ("guest", 1, Decimal("200"), Decimal("0"), Decimal("200"), 0.0, round(200 / 1010, 6)),
        ("known", 4, Decimal("1760"), Decimal("950"), Decimal("810"), round(950 / 1760, 6),
         round(810 / 1010, 6)),
    ]  # fmt: skip
    # returns count on the day they happen: 11-15 has r2's 600 and no sale
    assert query(
        settings,
        "select gross_sales, returns from marts.kpi_revenue "
        "where period = 'day' and period_start = '2026-11-15' and segment = 'known'",
    ) == [(Decimal("0"), Decimal("600"))]
    assert query(
        settings,
        "select entity, row_id, original_amount, reason from staging.stg_shop__amounts_without_rate",
    ) == [("orders", "o6", Decimal("10"),
           "no exchange rate for EUR on 2026-11-19 in landing/exchange_rates/")]  # fmt: skip
    assert query(
        settings,
        "select gross_sales, returns, net_sales, net_sales_known, net_sales_guest, orders_known, "
        "orders_guest, order_rows_read, order_rows_loaded, rows_without_rate "
        "from marts.reconciliation_monthly where month_start = '2026-11-01'",
    ) == [(Decimal("1960"), Decimal("950"), Decimal("1010"), Decimal("810"), Decimal("200"),
           4, 1, 6, 6, 1)]  # fmt: skip

    # the EUR rate arrives late: the next (incremental) build converts o6
    land("exchange_rates", "2026-11-26", "x.csv", "date,currency,rate\n2026-11-19,EUR,7.5\n")
    load_all(settings)
    build(settings)
    assert facts(settings)["c3"] == (2, date(2026, 11, 19), Decimal("435"), "basic")  # 360 + 75
    assert query(settings, "select count(*) from staging.stg_shop__amounts_without_rate") == [(0,)]
