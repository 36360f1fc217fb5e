"""The sample shop: deterministic for a seed, and shaped like a real shop."""

import hashlib
from datetime import date
from pathlib import Path

import duckdb
import pytest

from dagster_project.demo import ensure_sample_shop
from dagster_project.ingest.contract import ENTITIES
from dagster_project.ingest.loader import load_partitions
from dagster_project.sample_shop.generator import (
    SUMMARY_FILE,
    LandingInUse,
    ShopConfig,
    generate,
    generated_summary,
)
from dagster_project.settings import load_settings


def digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith("_")
    }


def test_same_seed_same_shop_other_seed_other_shop(tmp_path):
    cfg = ShopConfig(customers=300, days=60)
    generate(cfg, tmp_path / "a")
    generate(cfg, tmp_path / "b")
    generate(ShopConfig(customers=300, days=60, seed=7), tmp_path / "c")
    a, b, c = (digest(tmp_path / x / "landing") for x in "abc")
    assert a == b and len(a) > 100
    assert a != c


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """4,000 customers over two years, read straight from the landing files."""
    data = tmp_path_factory.mktemp("shop")
    summary = generate(ShopConfig(customers=4000), data)
    con = duckdb.connect()
    for entity in ("customers", "orders", "returns", "exchange_rates", "sessions", "events"):
        con.execute(
            f"create view {entity} as select * from read_csv('{data}/landing/{entity}/*/*.csv', "
            "all_varchar = true, hive_partitioning = true)"
        )
    con.execute(
        """
        create view current_orders as select * from orders
        qualify row_number() over (partition by order_id order by updated_at desc) = 1
        """
    )
    # purchases as metrics.md defines them; the store is UTC+8
    con.execute(
        """
        create view purchases as
        select *, cast(paid_at::timestamptz at time zone 'Asia/Shanghai' as date) as day
        from current_orders
        where paid_at is not null and status <> 'cancelled'
            and order_total::decimal(18, 2) - refund_total::decimal(18, 2) > 0
        """
    )
    return con, summary, data


def scalar(con, sql):
    return con.execute(sql).fetchone()[0]


def test_many_one_time_buyers_and_a_long_loyal_tail(shop):
    con, _, _ = shop
    con.execute(
        """
        create or replace temp view buyer_days as
        select customer_id, count(distinct day) as n from purchases
        where customer_id is not null group by 1
        """
    )
    one_time = scalar(con, "select avg((n = 1)::int) from buyer_days")
    assert 0.35 < one_time < 0.65
    assert scalar(con, "select avg((n >= 10)::int) from buyer_days") > 0.03
    never = scalar(
        con,
        "select 1 - count(distinct p.customer_id) / count(distinct c.customer_id) "
        "from customers as c left join purchases as p using (customer_id)",
    )
    assert 0.2 < never < 0.45  # registered prospects who never buy


def test_refunds_cancellations_unpaid_and_guests_occur_in_realistic_shares(shop):
    con, _, _ = shop
    shares = dict(
        con.execute(
            "select status, count(*) / sum(count(*)) over () from current_orders group by 1"
        ).fetchall()
    )
    assert 0.005 < shares["refunded"] < 0.025
    assert 0.005 < shares["partially_refunded"] < 0.025
    assert 0.005 < shares["cancelled"] < 0.04
    assert 0.02 < shares["created"] < 0.08  # never paid
    guests = scalar(con, "select avg((customer_id is null)::int) from current_orders")
    assert 0.12 < guests < 0.18
    # status updates arrive on later days: the same order in two partitions
    late = scalar(
        con,
        "select count(*) from (select order_id from orders group by 1 having count(distinct dt) > 1)",
    )
    assert late > 0.2 * scalar(con, "select count(*) from current_orders")


def test_seasonality_weekends_and_sale_peaks(shop):
    con, _, _ = shop
    by_day = "select day, count(*) as n from purchases group by 1"
    double11 = scalar(con, f"select avg(n) from ({by_day}) where strftime(day, '%m-%d') = '11-11'")
    november = scalar(
        con, f"select avg(n) from ({by_day}) where month(day) = 11 and day(day) between 14 and 30"
    )
    assert double11 > 2 * november
    weekend = scalar(con, f"select avg(n) from ({by_day}) where dayofweek(day) in (0, 6)")
    midweek = scalar(con, f"select avg(n) from ({by_day}) where dayofweek(day) in (1, 2)")
    assert weekend > 1.05 * midweek


def test_deal_buyers_come_back_less(shop):
    con, _, _ = shop
    rows = con.execute(
        """
        with firsts as (
            select customer_id, arg_min(promotion_type, paid_at) as first_promo,
                count(distinct day) as n
            from purchases where customer_id is not null group by 1
        )
        select first_promo in ('flash_sale', 'group_buy') as deal, avg((n > 1)::int)
        from firsts group by 1
        """
    ).fetchall()
    repeat = dict(rows)
    assert repeat[True] < repeat[False] - 0.05


def test_visitors_prospects_consent_and_unsubscribes(shop):
    con, _, _ = shop
    # visitors who never log in, and visitors who browse anonymously before registering
    assert scalar(con, "select count(*) from sessions where anonymous_id like 'V%'") > 1000
    before = scalar(
        con,
        """
        select count(distinct s.anonymous_id) from sessions as s
        join sessions as later on later.anonymous_id = s.anonymous_id
            and later.customer_id is not null and later.started_at > s.started_at
        where s.customer_id is null and s.anonymous_id like 'D%'
        """,
    )
    assert before > 300
    funnel = dict(con.execute("select event_type, count(*) from events group by 1").fetchall())
    # every type but "other", which only an event stream's unmapped names produce
    assert set(funnel) == set(ENTITIES["events"].columns[4].values) - {"other"}
    assert funnel["product_view"] > funnel["add_to_cart"] > funnel["checkout_start"]
    unsubscribed = scalar(
        con,
        """
        select count(*) from (
            select customer_id from customers group by 1
            having bool_or(email_opt_in = 'true') and arg_max(email_opt_in, updated_at) = 'false'
        )
        """,
    )
    assert unsubscribed > 50
    assert 0.6 < scalar(con, "select avg((email_opt_in = 'true')::int) from customers") < 0.8


def test_injected_bad_rows_and_files_are_caught_by_ingestion(tmp_path):
    cfg = ShopConfig(customers=400, days=40, bad_row_share=0.05, bad_files=True)
    summary = generate(cfg, tmp_path)
    settings = load_settings(tmp_path)
    conn = duckdb.connect()
    days = [date.fromordinal(cfg.start.toordinal() + i) for i in range(cfg.days)]
    orders = load_partitions(conn, settings, ENTITIES["orders"], days)
    assert orders.rows_read == summary["rows"]["orders"]
    assert 0.03 < orders.rows_quarantined / orders.rows_read < 0.07
    assert len(orders.quarantine_reasons) == 7  # each way of breaking an order shows up
    assert [path for path, _ in orders.failures] == [
        f"landing/orders/dt={cfg.end}/zz_truncated.parquet"
    ]
    events = load_partitions(conn, settings, ENTITIES["events"], days)
    assert events.failures[0][1].startswith("wrong delimiter")


def test_make_demo_reuses_the_same_shop_and_regenerates_another(tmp_path, capsys):
    settings = load_settings(tmp_path)
    small, other = ShopConfig(customers=200, days=5), ShopConfig(customers=201, days=5)
    assert generated_summary(settings.landing_dir, small) is None  # nothing there yet
    ensure_sample_shop(settings, small)
    files = digest(settings.landing_dir)
    written = (settings.landing_dir / SUMMARY_FILE).stat().st_mtime_ns
    assert generated_summary(settings.landing_dir, small)["rows"]["customers"] == 200
    assert generated_summary(settings.landing_dir, other) is None

    ensure_sample_shop(settings, small)
    assert "Sample shop already in" in capsys.readouterr().out.splitlines()[-1]
    assert (settings.landing_dir / SUMMARY_FILE).stat().st_mtime_ns == written  # not again
    assert digest(settings.landing_dir) == files

    ensure_sample_shop(settings, other)
    assert generated_summary(settings.landing_dir, other)["rows"]["customers"] == 201
    assert generated_summary(settings.landing_dir, small) is None


def test_the_generator_replaces_only_its_own_files_never_a_users(tmp_path):
    cfg = ShopConfig(customers=50, days=10)
    generate(cfg, tmp_path)
    landing = load_settings(tmp_path).landing_dir
    mine = landing / "orders" / "dt=2099-01-01" / "mine.csv"
    mine.parent.mkdir()
    mine.write_text("order_id\nmine\n", encoding="utf-8")
    before = sorted(p for p in landing.rglob("*") if p.is_file())
    with pytest.raises(
        LandingInUse, match=r"holds 1 file\(s\) .* \(e.g. orders/dt=2099-01-01/mine.csv\)"
    ):
        generate(cfg, tmp_path)
    assert sorted(p for p in landing.rglob("*") if p.is_file()) == before
    assert mine.read_text(encoding="utf-8") == "order_id\nmine\n"
    mine.unlink()
    generate(ShopConfig(customers=60, days=10), tmp_path)  # over its own shop: allowed
    assert generated_summary(landing, ShopConfig(customers=60, days=10)) is not None


def test_returns_credit_notes_and_a_second_currency_occur(shop):
    con, _, _ = shop
    sales = scalar(
        con,
        "select count(*) from current_orders where paid_at is not null and status <> 'cancelled'",
    )
    returns = con.execute(
        """
        select count(*), count(*) filter (where order_id is null),
            count(*) filter (where r.returned_at[:10] = o.paid_at[:10]
                and r.amount = o.order_total)
        from returns as r left join current_orders as o using (order_id)
        """
    ).fetchone()
    assert 0.06 < returns[0] / sales < 0.09  # about 7.5% of sales have a return document
    assert 0.15 < returns[1] / returns[0] < 0.35  # credit notes that name no order
    assert returns[2] > 0  # cancelled in full on the day of the sale
    usd = scalar(con, "select avg((currency = 'USD')::int) from current_orders")
    assert 0.07 < usd < 0.13
    # a USD rate for every day of the shop
    assert con.execute(
        "select count(distinct date), min(currency), max(currency) from exchange_rates"
    ).fetchone() == (730, "USD", "USD")
