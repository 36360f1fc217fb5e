"""The monthly reconciliation ties the marts to the landing files to the cent: pandas reads
the sample shop's landing CSVs (orders in two currencies with their versions, returns and
credit notes, guest orders, daily rates) and recomputes every month's gross sales, returns
and net sales, known and guest, and the order rows delivered, from the definitions in
docs/metrics.md, without the warehouse."""

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest

from dagster_project.sample_shop.generator import ShopConfig
from tests.dbt.helpers import load_shop, query, run_dbt

SHOP = ShopConfig(customers=1500, days=150, seed=11)
NO_SALES = pd.Series({"orders": 0, "gross": Decimal(0), "returns": Decimal(0)})
TZ = "Asia/Shanghai"


def landing(settings, entity: str) -> pd.DataFrame:
    files = sorted((settings.landing_dir / entity).glob("dt=*/*.csv"))
    return pd.concat(
        [pd.read_csv(f, dtype=str, keep_default_na=False).assign(_file=str(f)) for f in files],
        ignore_index=True,
    )


def store_day(utc: pd.Series) -> pd.Series:
    return pd.to_datetime(utc, utc=True).dt.tz_convert(TZ).dt.date


def to_cny(amount: str, currency: str, day, rates: dict) -> Decimal:
    rate = Decimal(1) if currency == "CNY" else rates[(day, currency)]
    return (Decimal(amount) * rate).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def books(settings) -> pd.DataFrame:
    """Per month and segment: orders, gross sales, returns, from the landing files."""
    x = landing(settings, "exchange_rates")
    rates = {
        (pd.Timestamp(d).date(), c): Decimal(r)
        for d, c, r in zip(x["date"], x["currency"], x["rate"], strict=True)
    }
    o = landing(settings, "orders").sort_values(["order_id", "updated_at"])
    o = o.groupby("order_id").tail(1)  # the newest version wins
    o["paid_day"] = store_day(o["paid_at"].replace("", None))
    o["day"] = o["paid_day"].fillna(pd.Series(store_day(o["created_at"]), index=o.index))
    o["sale"] = (o["paid_at"] != "") & (o["status"] != "cancelled")
    # a guest sale resolves to no person: the pipeline's resolution (tested in test_identity)
    resolved = query(
        settings,
        "select order_id from intermediate.int_orders_by_person where customer_id is not null",
    )
    o["guest"] = ~o["order_id"].isin({order_id for (order_id,) in resolved})
    r = landing(settings, "returns").groupby("return_id").tail(1)
    r["day"] = store_day(r["returned_at"])
    linked = r.merge(o[["order_id", "guest", "sale"]], on="order_id", how="left")
    linked = linked[linked["sale"].fillna(True).astype(bool)]  # returns of sold orders only
    linked["guest"] = linked["guest"].fillna(linked["customer_id"] == "").astype(bool)
    documented = set(linked.loc[linked["order_id"] != "", "order_id"])
    rows = []
    for s in o[o["sale"]].itertuples():
        cny = to_cny(s.order_total, s.currency, s.day, rates)
        refund = s.refund_total if s.order_id not in documented and s.refund_total else "0"
        rows.append((s.day, s.guest, 1, cny, to_cny(refund, s.currency, s.day, rates)))
    for t in linked.itertuples():
        rows.append((t.day, t.guest, 0, Decimal(0), to_cny(t.amount, t.currency, t.day, rates)))
    frame = pd.DataFrame(rows, columns=["day", "guest", "orders", "gross", "returns"])
    frame["month"] = frame["day"].map(lambda d: d.replace(day=1))
    return frame.groupby(["month", "guest"]).agg(
        orders=("orders", "sum"), gross=("gross", "sum"), returns=("returns", "sum")
    )


@pytest.mark.slow
def test_the_monthly_reconciliation_equals_a_recomputation_from_the_landing_files(settings):
    load_shop(settings, SHOP)
    run_dbt(settings, "build", "--exclude", "test_type:unit", as_of=SHOP.end.isoformat())
    expected = books(settings)
    order_rows = landing(settings, "orders")
    order_rows["month"] = order_rows["_file"].map(lambda f: Path(f).parent.name[3:10])
    rows_per_month = order_rows.groupby("month").size()
    marts = query(
        settings,
        "select month_start, gross_sales, returns, net_sales, orders_known, net_sales_known, "
        "orders_guest, net_sales_guest, order_rows_read, order_rows_loaded "
        "from marts.reconciliation_monthly order by 1",
    )
    assert len(marts) == 5  # 150 days from 1 November: November to March
    seen_guests = seen_returns = 0
    for month, gross, returns, net, o_known, n_known, o_guest, n_guest, read, loaded in marts:
        known = expected.loc[(month, False)]
        guest = expected.loc[(month, True)] if (month, True) in expected.index else NO_SALES
        assert gross == known.gross + guest.gross, month
        assert returns == known.returns + guest.returns, month
        assert net == gross - returns
        assert (o_known, n_known) == (known.orders, known.gross - known.returns), month
        assert (o_guest, n_guest) == (guest.orders, guest.gross - guest.returns), month
        assert read == loaded == rows_per_month[month.isoformat()[:7]]
        seen_guests += o_guest
        seen_returns += returns
    # the shop exercised every rule: guest sales (few: most guests give an email or phone
    # and count for their person), guest checkouts that did resolve, returns, a currency
    (guest_checkouts,) = query(
        settings,
        "select count(*) from intermediate.int_orders_by_person "
        "where is_sale and shop_customer_id is null and customer_id is not null",
    )[0]
    assert seen_guests > 0 and guest_checkouts > 100 and seen_returns > 0
    assert (
        query(settings, "select count(*) from staging.stg_shop__orders where currency = 'USD'")[0][
            0
        ]
        > 100
    )
