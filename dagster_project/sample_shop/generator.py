"""Generates a realistic online shop into the landing zone, deterministic for a seed.

Customers follow a buy-till-you-die process (BG/NBD): each has a purchase rate drawn
from a Gamma distribution and, after every purchase, drops out with a probability drawn
from a Beta distribution; deal lovers drop out faster. Purchases run on a seasonal clock
(weekends, 6.18, 11.11, 12.12, year end). Around the purchases come failed and refunded
orders, late status updates, returns and credit notes (about 7.5% of sales, some the same
day, some weeks later, some naming no order), guest checkouts (about 15% of orders), orders
in a second currency (USD, about 10%, with daily rates), browsing sessions, prospects who
never buy, anonymous visitors, profile updates (unsubscribes among them) and marketing spend.

numpy generates customers in fixed-size chunks into staging Parquet files; DuckDB then
formats ids and timestamps and writes the hive-partitioned landing files (dt=YYYY-MM-DD),
so memory stays bounded at any scale.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.ingest.contract import (
    EVENT_TYPES,
    ORDER_CHANNELS,
    ORDER_STATUSES,
    PROMOTION_TYPES,
)
from dagster_project.ingest.loader import lit, one
from dagster_project.settings import load_settings

# the summary generate() writes next to the landing files: what shop is there, how it was made
SUMMARY_FILE = "_sample_shop.json"
TRUTH_FILE = "_sample_shop_truth.parquet"  # the true person of every order and visit
CHUNK_CUSTOMERS = 100_000  # fixed, so the output depends only on the seed and the size
ID_BLOCK = 10**8  # ids are chunk * ID_BLOCK + running number
SCALES = {  # customers; each brings about 3.7 order rows and 22 events
    "tiny": 800,
    "demo": 20_000,
    "small": 27_000,  # about 100k order rows
    "medium": 270_000,  # about 1M order rows, 6M events
    "large": 2_700_000,  # about 10M order rows, 60M events
}
CATEGORIES = (
    "apparel",
    "beauty",
    "electronics",
    "home",
    "food",
    "baby",
    "sports",
    "books",
)
CATEGORY_PRICE = np.array([1.0, 0.8, 2.2, 1.2, 0.5, 0.9, 1.1, 0.4])
ORDER_CHANNEL_P = np.array([0.28, 0.37, 0.2, 0.05, 0.1])
ACQ_CHANNELS = ("search", "social", "referral", "marketplace", "organic")
ACQ_CHANNEL_P = np.array([0.3, 0.25, 0.1, 0.15, 0.2])
ACQ_CAC = np.array([120.0, 90.0, 40.0, 70.0, 0.0])  # spend per acquired customer
PROVINCES = (  # (province, city, tier)
    ("Beijing", "Beijing", 1),
    ("Shanghai", "Shanghai", 1),
    ("Guangdong", "Guangzhou", 1),
    ("Guangdong", "Shenzhen", 1),
    ("Zhejiang", "Hangzhou", 2),
    ("Sichuan", "Chengdu", 2),
    ("Hubei", "Wuhan", 2),
    ("Jiangsu", "Suzhou", 2),
    ("Shandong", "Weifang", 3),
    ("Hunan", "Yueyang", 3),
    ("Henan", "Luoyang", 3),
    ("Guangxi", "Guilin", 4),
    ("Yunnan", "Dali", 4),
    ("Gansu", "Tianshui", 5),
)
HOUR_P = np.array(
    [2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 7, 6, 5, 5, 5, 6, 7, 9, 11, 12, 10, 5], dtype=float
)
HOUR_P /= HOUR_P.sum()
CURRENCIES = "['CNY', 'USD']"  # orders' currency codes 0 and 1, as a DuckDB list
RETURN_REASONS = ("cancelled", "changed mind", "damaged", "wrong size", "not as described")
# event types, statuses etc. are stored as codes in the staging files: indexes into these
EV = {name: i for i, name in enumerate(EVENT_TYPES)}
ST = {name: i for i, name in enumerate(ORDER_STATUSES)}


@dataclass(frozen=True)
class ShopConfig:
    customers: int = SCALES["demo"]
    # the shop starts on the first daily partition and keeps the store's clock (settings)
    start: date = field(default_factory=lambda: load_settings().first_partition_date)
    days: int = 730
    seed: int = 42
    fmt: str = "csv"  # csv | parquet
    bad_row_share: float = 0.0  # share of rows broken against the contract, per entity
    bad_files: bool = False  # also write unreadable files on the last day
    store_timezone: str = field(default_factory=lambda: load_settings().store_timezone)

    @property
    def end(self) -> date:
        """The last day with data."""
        return self.start + timedelta(days=self.days - 1)


# --- the calendar -----------------------------------------------------------


def day_weights(start: date, days: int) -> np.ndarray:
    """Relative shopping intensity of each day: weekdays, sale peaks, year end."""
    weekday = np.array([0.93, 0.95, 0.97, 1.0, 1.06, 1.13, 1.1])
    w = np.empty(days)
    for i in range(days):
        d = start + timedelta(days=i)
        f = weekday[d.weekday()]
        md = (d.month, d.day)
        if md == (11, 11):
            f *= 4.5
        elif md in ((11, 10), (11, 12)):
            f *= 1.7
        elif d.month == 11 and d.day < 10:
            f *= 1.2
        elif md == (6, 18):
            f *= 3.0
        elif md in ((6, 17), (6, 19)):
            f *= 1.4
        elif md == (12, 12):
            f *= 2.0
        elif d.month == 12 and d.day >= 20:
            f *= 1.25
        w[i] = f
    return w


class Clock:
    """Maps calendar days to 'operational time', in which purchases arrive at a constant rate."""

    def __init__(self, weights: np.ndarray):
        self.w = weights / weights.mean()
        self.cum = np.concatenate([[0.0], np.cumsum(self.w)])

    def to_ops(self, t: np.ndarray) -> np.ndarray:
        day = np.clip(np.floor(t).astype(np.int64), 0, len(self.w) - 1)
        return self.cum[day] + (t - day) * self.w[day]

    def from_ops(self, o: np.ndarray) -> np.ndarray:
        day = np.clip(np.searchsorted(self.cum, o, side="right") - 1, 0, len(self.w) - 1)
        return day + (o - self.cum[day]) / self.w[day]


def with_hour(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Keep each time's day, give it a realistic time of day (evenings peak)."""
    hours = rng.choice(24, size=len(t), p=HOUR_P)
    return np.floor(t) + (hours + rng.random(len(t))) / 24.0


# --- one chunk of customers ---------------------------------------------------


def _table(**cols: np.ndarray) -> pa.Table:
    return pa.table({k: pa.array(v) for k, v in cols.items()})


def generate_chunk(cfg: ShopConfig, chunk: int, n: int, clock: Clock) -> dict[str, pa.Table]:
    """All rows for customers [chunk*CHUNK, chunk*CHUNK+n); times are float days since start."""
    rng = np.random.default_rng([cfg.seed, chunk])
    days = float(cfg.days)
    base = chunk * ID_BLOCK

    def glob(local: np.ndarray) -> np.ndarray:
        """The chunk's customer index as the shop-wide customer number (-1 stays: none)."""
        return np.where(local >= 0, local + chunk * CHUNK_CUSTOMERS, -1)

    # who they are
    growth = (0.6 + 0.8 * np.arange(cfg.days) / cfg.days) * np.sqrt(clock.w)
    reg = with_hour(rng, rng.choice(cfg.days, size=n, p=growth / growth.sum()).astype(float))
    dealer = rng.random(n) < 0.3
    will_buy = rng.random(n) < 0.72
    lam = rng.gamma(0.75, 1 / 26.0, size=n)  # purchases per (operational) day while alive
    p_drop = np.where(dealer, rng.beta(1.4, 1.6, n), rng.beta(0.9, 2.8, n))
    spend = rng.lognormal(np.log(150), 0.55, n) * np.where(dealer, 0.8, 1.0)
    fav_cat = rng.integers(0, len(CATEGORIES), n)
    pref_channel = rng.choice(len(ORDER_CHANNELS), size=n, p=ORDER_CHANNEL_P)
    acq = rng.choice(len(ACQ_CHANNELS), size=n, p=ACQ_CHANNEL_P)

    # purchases: the buy-till-you-die process on the seasonal clock
    delay = np.where(rng.random(n) < 0.55, 0.0, rng.exponential(12.0, n))
    t = np.where(will_buy, reg + delay, np.inf)
    p_cust, p_time = [], []
    alive = t < days
    idx = np.flatnonzero(alive)
    tt = t[idx]
    while idx.size:
        p_cust.append(idx)
        p_time.append(tt)
        stays = rng.random(idx.size) >= p_drop[idx]
        dropped_idx, dropped_t = idx[~stays], tt[~stays]
        # a few dropped customers come back after a long silence (reactivations)
        back = rng.random(dropped_idx.size) < 0.06
        bt = dropped_t[back] + rng.uniform(370, 520, back.sum())
        keep = bt < days
        p_cust.append(dropped_idx[back][keep])
        p_time.append(with_hour(rng, bt[keep]))
        idx, tt = idx[stays], tt[stays]
        nxt = clock.from_ops(clock.to_ops(tt) + rng.exponential(1.0 / lam[idx]))
        ok = nxt < days
        idx, tt = idx[ok], with_hour(rng, nxt[ok])
    pc = np.concatenate(p_cust) if p_cust else np.empty(0, np.int64)
    pt = np.concatenate(p_time) if p_time else np.empty(0)

    # failed checkouts: unpaid and cancelled orders, from buyers and from prospects
    unpaid_c = np.concatenate(
        [pc[rng.random(pc.size) < 0.07], np.flatnonzero(~will_buy & (rng.random(n) < 0.15))]
    )
    base_t = np.where(
        will_buy[unpaid_c], np.nan, reg[unpaid_c] + rng.exponential(20.0, unpaid_c.size)
    )
    # an unpaid attempt of a buyer happens some days around one of their purchases
    buyer_attempt = will_buy[unpaid_c]
    first_t = np.full(n, np.inf)
    np.minimum.at(first_t, pc, pt)
    base_t[buyer_attempt] = first_t[unpaid_c[buyer_attempt]] + rng.uniform(
        -3, 60, buyer_attempt.sum()
    )
    unpaid_t = with_hour(rng, np.clip(base_t, reg[unpaid_c], None))
    keep = unpaid_t < days
    unpaid_c, unpaid_t = unpaid_c[keep], unpaid_t[keep]
    cancel = rng.random(unpaid_c.size) < 0.3  # the rest stay 'created', never paid

    n_purch = pc.size
    n_guest = round(n_purch * 0.21)  # about 15% of all orders
    guest_t = with_hour(rng, rng.choice(cfg.days, n_guest, p=clock.w / clock.w.sum()).astype(float))

    # orders: customers' purchases, then failed attempts, then guest checkouts
    o_cust = np.concatenate([pc, unpaid_c, np.full(n_guest, -1)])
    o_time = np.concatenate([pt, unpaid_t, guest_t])
    n_ord = o_cust.size
    o_id = base + np.arange(n_ord)
    kind = np.concatenate([np.zeros(n_purch), np.where(cancel, 2, 1), np.zeros(n_guest)])
    o_spend = np.where(o_cust >= 0, spend[np.maximum(o_cust, 0)], 150.0)
    o_dealer = np.where(o_cust >= 0, dealer[np.maximum(o_cust, 0)], False)
    peak = clock.w[np.clip(o_time.astype(int), 0, cfg.days - 1)] > 2
    promo_p = np.where(o_dealer[:, None], [[0.25, 0.15, 0.35, 0.25]], [[0.77, 0.15, 0.05, 0.03]])
    promo_p = np.where(peak[:, None], [[0.35, 0.15, 0.4, 0.1]], promo_p)
    promo = (rng.random(n_ord)[:, None] > np.cumsum(promo_p, axis=1)).sum(axis=1)
    channel = np.where(
        rng.random(n_ord) < 0.7,
        pref_channel[np.maximum(o_cust, 0)],
        rng.choice(len(ORDER_CHANNELS), size=n_ord, p=ORDER_CHANNEL_P),
    )

    # order items: 1-6 lines splitting the subtotal
    n_items = 1 + np.minimum(rng.poisson(0.7, n_ord), 5)
    it_order = np.repeat(np.arange(n_ord), n_items)
    it_line = np.arange(it_order.size) - np.repeat(np.cumsum(n_items) - n_items, n_items) + 1
    it_cat = np.where(
        rng.random(it_order.size) < 0.6,
        fav_cat[np.maximum(o_cust[it_order], 0)],
        rng.integers(0, len(CATEGORIES), it_order.size),
    )
    share = rng.gamma(1.0, 1.0, it_order.size)
    share /= np.bincount(it_order, weights=share, minlength=n_ord)[it_order]
    target = o_spend * rng.gamma(6.0, 1 / 6.0, n_ord)
    qty = rng.choice([1, 2, 3], size=it_order.size, p=[0.75, 0.2, 0.05])
    unit = np.maximum(np.round(target[it_order] * share * CATEGORY_PRICE[it_cat] / qty, 2), 1.0)
    line_total = np.round(unit * qty, 2)
    subtotal = np.bincount(it_order, weights=line_total, minlength=n_ord)
    disc_rate = np.select(
        [promo == 1, promo == 2, promo == 3],
        [
            rng.uniform(0.05, 0.15, n_ord),
            rng.uniform(0.2, 0.4, n_ord),
            rng.uniform(0.15, 0.3, n_ord),
        ],
        0.0,
    )
    discount = np.round(subtotal * disc_rate, 2)
    shipping = np.where(subtotal - discount >= 99, 0.0, 8.0)
    total = np.round(subtotal - discount + shipping, 2)

    # order versions: first version, then later status updates delivered on later days
    is_purchase = kind == 0
    paid_lag = rng.uniform(1, 15, n_ord) / 1440.0
    r = rng.random(n_ord)
    refund_kind = np.where(is_purchase & (r < 0.015), 1, np.where(is_purchase & (r < 0.03), 2, 0))

    # a second currency: about 10% of orders are in USD, at the rate of the order's day (the
    # paid day, else the created day); its own random stream
    xr = np.random.default_rng([cfg.seed, chunk, 1])
    in_usd = xr.random(n_ord) < 0.1
    day_of = np.minimum(np.where(is_purchase, o_time + paid_lag, o_time).astype(int), cfg.days - 1)
    fx = np.where(in_usd, usd_rates(cfg.days)[day_of], 1.0)
    total, discount = np.round(total / fx, 2), np.round(discount / fx, 2)
    shipping = np.round(shipping / fx, 2)
    unit = np.round(unit / fx[it_order], 2)
    line_total = np.round(unit * qty, 2)
    v_order, v_status, v_upd, v_refund = [], [], [], []

    def version(mask: np.ndarray, status: int, at: np.ndarray, refund: np.ndarray) -> None:
        ok = mask & (at < days)
        v_order.append(np.flatnonzero(ok))
        v_status.append(np.full(ok.sum(), status))
        v_upd.append(at[ok])
        v_refund.append(refund[ok])

    zero = np.zeros(n_ord)
    version(is_purchase, ST["paid"], o_time + paid_lag, zero)
    version(kind > 0, ST["created"], o_time, zero)
    version(kind == 2, ST["cancelled"], o_time + rng.uniform(0.01, 1.0, n_ord), zero)
    done = o_time + rng.uniform(4, 8, n_ord)
    version(
        is_purchase & (refund_kind == 0) & (rng.random(n_ord) < 0.35), ST["completed"], done, zero
    )
    refund_at = o_time + rng.uniform(3, 15, n_ord)
    version(refund_kind == 1, ST["refunded"], refund_at, total)
    partial = np.round(total * rng.uniform(0.2, 0.6, n_ord), 2)
    version(refund_kind == 2, ST["partially_refunded"], refund_at, partial)
    vo = np.concatenate(v_order)
    returns = _returns(xr, cfg, is_purchase & (refund_kind == 0), o_id, glob(o_cust),
                       o_time + paid_lag, total, in_usd, base)  # fmt: skip
    # who placed each order and the email and phone given at checkout, from a stream of its
    # own (the rest of the shop does not change with it). A guest checkout is an account
    # holder's (25%), a guest's who may come back (60%), a buyer's at a shared role address
    # (10%) or one with a phone only (5%). Forms: 0 none, 1 as the person writes it, 2 and 3
    # spelt otherwise (case, spaces; dots and a plus-tag at gmail.com); phone 1 national, 2 +86.
    ir = np.random.default_rng([cfg.seed, chunk, 2])
    guest = o_cust < 0
    g_kind = np.where(guest, ir.choice(4, size=n_ord, p=[0.25, 0.6, 0.1, 0.05]), -1)
    account = np.where(g_kind == 0, ir.integers(0, n, n_ord), o_cust)
    n_guests = max(1, int(guest.sum() * 0.75))  # fewer guests than guest orders: some return
    guest_person = np.select(
        [g_kind == 1, g_kind >= 2],
        [ir.integers(0, n_guests, n_ord), n_guests + np.arange(n_ord)],
        -1,
    )
    email_form = ir.choice(4, size=n_ord, p=[0.15, 0.65, 0.1, 0.1])
    email_form = np.select([g_kind == 3, g_kind >= 0], [0, np.maximum(email_form, 1)], email_form)
    phone_form = ir.choice(3, size=n_ord, p=[0.5, 0.25, 0.25])
    phone_form = np.where(g_kind >= 2, 1 + ir.integers(0, 2, n_ord), phone_form)
    phone_form = np.where((g_kind == 2) & (ir.random(n_ord) < 0.3), 0, phone_form)
    email_kind = np.select([g_kind == 2, account >= 0, guest_person >= 0], [3, 1, 2], 0)
    guest_no = np.where(guest_person >= 0, base + guest_person, -1)
    orders = _table(
        order_no=o_id[vo],
        customer_no=glob(o_cust[vo]),
        buyer_no=glob(account[vo]),
        guest_no=guest_no[vo],
        email_kind=email_kind[vo].astype(np.int8),
        email_form=email_form[vo].astype(np.int8),
        phone_form=phone_form[vo].astype(np.int8),
        status=np.concatenate(v_status).astype(np.int8),
        created_at=o_time[vo],
        paid_at=np.where(is_purchase[vo], o_time[vo] + paid_lag[vo], np.nan),
        order_total=total[vo],
        currency=in_usd[vo].astype(np.int8),
        discount_total=discount[vo],
        shipping_total=shipping[vo],
        refund_total=np.concatenate(v_refund),
        channel=channel[vo].astype(np.int8),
        promotion_type=promo[vo].astype(np.int8),
        updated_at=np.concatenate(v_upd),
    )
    items = _table(
        order_no=o_id[it_order],
        line_number=it_line,
        category=it_cat.astype(np.int8),
        sku_no=rng.integers(1000, 1400, it_order.size),
        quantity=qty,
        unit_price=unit,
        line_total=line_total,
        created_at=o_time[it_order],
    )

    # sessions: one per order, browsing around purchases, prospects, anonymous visitors
    # whose visit each is: the order's buyer (a guest's: -1, see guest_of_order)
    buyer_of_order, guest_of_order = glob(account), guest_no
    s_cust, s_start, s_kind = (
        [o_cust],
        [o_time - rng.uniform(2, 25, n_ord) / 1440.0],
        [np.zeros(n_ord, np.int8)],
    )
    last_t = np.full(n, -np.inf)
    np.maximum.at(last_t, pc, pt)
    buyer = np.isfinite(last_t)
    n_browse = rng.poisson(np.where(buyer, 0.3 * np.bincount(pc, minlength=n) + 0.3, 2.5))
    bc = np.repeat(np.arange(n), n_browse)
    lo = reg[bc]
    hi = np.where(buyer[bc], np.minimum(last_t[bc] + 90, days), np.minimum(lo + 120, days))
    bt = lo + rng.random(bc.size) * np.maximum(hi - lo, 0.01)
    # prospects come back a while after registering: some are recent, some long gone
    bt = np.where(buyer[bc], bt, lo + rng.exponential(35.0, bc.size))
    s_cust.append(bc)
    s_start.append(with_hour(rng, bt))
    s_kind.append(np.where(buyer[bc], 1, np.where(rng.random(bc.size) < 0.3, 2, 1)).astype(np.int8))
    # the visit in which they signed up
    s_cust.append(np.arange(n))
    s_start.append(reg - 5 / 1440.0)
    s_kind.append(np.full(n, 3, np.int8))
    # reviews a week or two after some purchases
    rv = rng.random(n_purch) < 0.05
    s_cust.append(pc[rv])
    s_start.append(with_hour(rng, pt[rv] + rng.uniform(7, 14, rv.sum())))
    s_kind.append(np.full(rv.sum(), 4, np.int8))
    # anonymous visitors, some of whom later register (same device id, logged out)
    n_anon = int(n * 0.6)
    anon_t = with_hour(rng, rng.choice(cfg.days, n_anon, p=clock.w / clock.w.sum()).astype(float))
    s_cust.append(np.full(n_anon, -1))
    s_start.append(anon_t)
    s_kind.append(np.full(n_anon, 5, np.int8))
    pre = rng.random(n) < 0.25
    s_cust.append(np.flatnonzero(pre))
    s_start.append(np.maximum(reg[pre] - rng.uniform(1, 20, pre.sum()), 0.0))
    s_kind.append(np.full(pre.sum(), 6, np.int8))
    sc = np.concatenate(s_cust)
    st = np.concatenate(s_start)
    sk = np.concatenate(s_kind)
    s_true = np.concatenate([buyer_of_order, glob(sc[n_ord:])])
    s_guest = np.concatenate([guest_of_order, np.full(sc.size - n_ord, -1)])
    keep = (st >= 0) & (st < days)
    sc, st, sk, s_true, s_guest = sc[keep], st[keep], sk[keep], s_true[keep], s_guest[keep]
    order_of_session = np.where(np.arange(keep.size) < n_ord, np.arange(keep.size), -1)[keep]
    ns = sc.size
    s_id = base + np.arange(ns)
    # a customer's device id is their number; a visitor who never logs in gets a negative one
    anon_no = np.where(sc >= 0, glob(sc), -(base + np.arange(ns) + 1))
    logged_in = (sc >= 0) & (sk != 6)
    # families: every 40th customer's next one logs in on their device for half their visits
    family = logged_in & (sc % 40 == 1) & (ir.random(ns) < 0.5)
    anon_no = np.where(family, glob(sc - 1), anon_no)

    # events of each session
    n_views = 1 + rng.poisson(np.where(sk == 5, 0.4, 0.6))
    plan = []  # (session index, event type code) pairs, in time order per session
    first = np.where(
        sk == 3,
        EV["signup"],
        np.where(logged_in & (rng.random(ns) < 0.25), EV["login"], EV["page_view"]),
    )
    plan.append((np.arange(ns), first))
    vs = np.repeat(np.arange(ns), n_views)
    plan.append((vs, np.full(vs.size, EV["product_view"])))
    browse = sk == 1
    for code, share_ in ((EV["search"], 0.3), (EV["favorite"], 0.12), (EV["inquiry"], 0.03)):
        m = np.flatnonzero(browse & (rng.random(ns) < share_))
        plan.append((m, np.full(m.size, code)))
    carts = (sk == 0) | (sk == 2) | (browse & (rng.random(ns) < 0.1))
    m = np.flatnonzero(carts)
    plan.append((m, np.full(m.size, EV["add_to_cart"])))
    m = np.flatnonzero(carts & (sk != 0) & (rng.random(ns) < 0.15))
    plan.append((m, np.full(m.size, EV["remove_from_cart"])))
    m = np.flatnonzero((sk == 0) | ((sk == 2) & (rng.random(ns) < 0.4)))
    plan.append((m, np.full(m.size, EV["checkout_start"])))
    m = np.flatnonzero(sk == 4)
    plan.append((m, np.full(m.size, EV["review"])))
    e_sess = np.concatenate([p[0] for p in plan])
    e_type = np.concatenate([p[1] for p in plan]).astype(np.int8)
    order_ = np.lexsort((np.arange(e_sess.size), e_sess))
    e_sess, e_type = e_sess[order_], e_type[order_]
    pos = np.arange(e_sess.size) - np.searchsorted(e_sess, e_sess)
    gaps = rng.uniform(15, 120, e_sess.size) / 86400.0
    e_time = st[e_sess] + gaps * (pos + 1)
    e_cat = np.where(
        rng.random(e_sess.size) < 0.6,
        fav_cat[np.maximum(sc[e_sess], 0)],
        rng.integers(0, len(CATEGORIES), e_sess.size),
    )
    has_product = np.isin(
        e_type,
        [
            EV["product_view"],
            EV["favorite"],
            EV["add_to_cart"],
            EV["remove_from_cart"],
            EV["review"],
        ],
    )
    is_checkout = e_type == EV["checkout_start"]
    e_order = np.where(is_checkout, order_of_session[e_sess], -1)
    keep = e_time < days
    n_ev = int(keep.sum())
    events = _table(
        event_no=base + np.arange(n_ev),
        session_no=s_id[e_sess[keep]],
        anon_no=anon_no[e_sess[keep]],
        customer_no=np.where(logged_in[e_sess[keep]], glob(sc[e_sess[keep]]), -1),
        event_type=e_type[keep],
        occurred_at=e_time[keep],
        category=np.where(has_product[keep], e_cat[keep], -1).astype(np.int8),
        sku_no=np.where(has_product[keep], rng.integers(1000, 1400, e_sess.size)[keep], -1),
        is_search=(e_type[keep] == EV["search"]),
        order_no=np.where(e_order[keep] >= 0, o_id[np.maximum(e_order[keep], 0)], -1),
    )
    last_ev = np.full(ns, -np.inf)
    np.maximum.at(last_ev, e_sess[keep], e_time[keep])
    device = rng.choice(3, size=ns, p=[0.7, 0.25, 0.05])
    sessions = _table(
        session_no=s_id,
        true_customer_no=s_true,
        true_guest_no=s_guest,
        anon_no=anon_no,
        customer_no=np.where(logged_in, glob(sc), -1),
        started_at=st,
        ended_at=np.where(np.isfinite(last_ev), last_ev + 30 / 86400.0, st + 60 / 86400.0),
        channel=rng.choice(3, size=ns, p=[0.45, 0.4, 0.15]).astype(np.int8),
        source=rng.choice(6, size=ns, p=[0.35, 0.2, 0.15, 0.1, 0.1, 0.1]).astype(np.int8),
        device=device.astype(np.int8),
        landing=rng.integers(0, 4, ns).astype(np.int8),
        category=fav_cat[np.maximum(sc, 0)].astype(np.int8),
    )

    # customer profile snapshots: registration, then some updates (unsubscribes among them)
    region = rng.integers(0, len(PROVINCES), n)
    email_in = rng.random(n) < 0.72
    sms_in = rng.random(n) < 0.5
    push_in = rng.random(n) < 0.45
    upd = rng.random(n) < 0.1
    upd_t = reg + rng.uniform(10, 400, n)
    upd = upd & (upd_t < days)
    unsub = upd & email_in & (rng.random(n) < 0.5)
    moved = upd & ~unsub
    snap_c = np.concatenate([np.arange(n), np.flatnonzero(upd)])
    snap_t = np.concatenate([reg, upd_t[upd]])
    snap_region = np.concatenate(
        [region, np.where(moved, rng.integers(0, len(PROVINCES), n), region)[upd]]
    )
    snap_email = np.concatenate([email_in, (email_in & ~unsub)[upd]])
    customers = _table(
        customer_no=glob(snap_c),
        gender=rng.choice(3, size=n, p=[0.58, 0.38, 0.04])[snap_c].astype(np.int8),
        birth_days=np.where(rng.random(n) < 0.85, rng.integers(18 * 365, 60 * 365, n), -1)[snap_c],
        region=snap_region.astype(np.int8),
        registered_at=reg[snap_c],
        acquisition=acq[snap_c].astype(np.int8),
        email_opt_in=snap_email,
        sms_opt_in=sms_in[snap_c],
        push_opt_in=push_in[snap_c],
        updated_at=snap_t,
        phone_style=rng.integers(0, 3, n)[snap_c].astype(np.int8),
        email_style=rng.choice(3, size=n, p=[0.96, 0.03, 0.01])[snap_c].astype(np.int8),
    )
    acquired = np.zeros((len(ACQ_CHANNELS), cfg.days))
    np.add.at(acquired, (acq, np.minimum(reg.astype(int), cfg.days - 1)), 1)
    return {
        "customers": customers,
        "orders": orders,
        "order_items": items,
        "returns": returns,
        "sessions": sessions,
        "events": events,
        "_acquired": _table(acquired=acquired.ravel()),
    }


def usd_rates(days: int) -> np.ndarray:
    """CNY per USD on each day of the shop: a slow swing and a weekly wobble, 4 decimals."""
    d = np.arange(days)
    return np.round(7.1 + 0.12 * np.sin(2 * np.pi * d / 91) + 0.03 * np.sin(2 * np.pi * d / 7), 4)


def _returns(
    xr: np.random.Generator,
    cfg: ShopConfig,
    sold: np.ndarray,
    o_id: np.ndarray,
    o_customer: np.ndarray,
    paid_t: np.ndarray,
    total: np.ndarray,
    in_usd: np.ndarray,
    base: int,
) -> pa.Table:
    """Return documents for about 7.5% of the sales: 2% returned in full within two days
    (half of them the same day), 3.5% in part 3-20 days later, 2% as credit notes that
    name the customer but not the order (a guest's always names the order)."""
    r = xr.random(sold.size)
    kinds = (
        (sold & (r < 0.02), 0.0, 2.0, 1.0, 1.0),
        (sold & (r >= 0.02) & (r < 0.055), 3.0, 20.0, 0.2, 0.6),
        (sold & (r >= 0.055) & (r < 0.075), 1.0, 30.0, 0.3, 1.0),
    )
    parts = []
    for k, (mask, lag_lo, lag_hi, share_lo, share_hi) in enumerate(kinds):
        idx = np.flatnonzero(mask)
        lag = xr.uniform(lag_lo, lag_hi, idx.size)
        if k == 0:  # half of the full returns on the day of the sale
            lag = np.where(xr.random(idx.size) < 0.5, 0.0, lag)
        at = paid_t[idx] + lag
        if k == 0:  # stay within the sale's day when the lag is 0
            at = np.where(lag == 0, paid_t[idx] + 1 / 1440.0, at)
        share = xr.uniform(share_lo, share_hi, idx.size)
        amount = np.where(share >= 1, total[idx], np.round(total[idx] * share, 2))
        keep = at < cfg.days
        idx, at, amount = idx[keep], at[keep], amount[keep]
        unlinked = (k == 2) & (o_customer[idx] >= 0)
        parts.append((idx, at, amount, np.where(unlinked, -1, o_id[idx]), k))
    idx = np.concatenate([p[0] for p in parts])
    return _table(
        return_no=base + np.arange(idx.size),
        order_no=np.concatenate([p[3] for p in parts]),
        customer_no=o_customer[idx],
        returned_at=np.concatenate([p[1] for p in parts]),
        amount=np.concatenate([p[2] for p in parts]),
        currency=in_usd[idx].astype(np.int8),
        reason=np.concatenate([np.full(p[0].size, p[4]) for p in parts]).astype(np.int8),
    )


# --- landing files ----------------------------------------------------------


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    """Names as a DuckDB list literal: code c (0-based) is list[c + 1]."""
    return "[" + ", ".join(lit(v) for v in values) + "]"


def _entity_sql(cfg: ShopConfig) -> dict[str, tuple[str, str, list[tuple[str, str]]]]:
    """Per entity: (select of the landing columns and dt, row key, [(column, bad value)])."""
    utc = "'%Y-%m-%dT%H:%M:%SZ'"
    local = "'%Y-%m-%d %H:%M:%S'"

    def z(col: str) -> str:  # shop database exports: UTC with a Z
        return (
            f"case when isfinite({col}) then strftime(timezone('UTC', "
            f"timezone('{cfg.store_timezone}', ts({col}))), {utc}) end"
        )

    def loc(col: str) -> str:  # tracking tools: store-local time without an offset
        return f"case when isfinite({col}) then strftime(ts({col}), {local}) end"

    def dt(col: str) -> str:
        return f"strftime(ts({col}), '%Y-%m-%d')"

    def money(col: str) -> str:
        return f"printf('%.2f', {col})"

    cust_id = "'C' || lpad(customer_no::varchar, 8, '0')"
    opt_cust = f"case when customer_no >= 0 then {cust_id} end"
    anon = (
        "case when anon_no >= 0 then 'D' || lpad(anon_no::varchar, 8, '0') "
        "else 'V' || lpad((-anon_no)::varchar, 11, '0') end"
    )
    cats = _sql_list(CATEGORIES)
    sku = f"upper(left({cats}[category + 1], 3)) || '-' || sku_no"
    provinces = _sql_list([p for p, _, _ in PROVINCES])
    cities = _sql_list([c for _, c, _ in PROVINCES])
    tiers = "[" + ", ".join(str(t) for _, _, t in PROVINCES) + "]"
    start = cfg.start.isoformat()
    # a person's own address: every third customer and every other guest at gmail.com
    account_email = (
        "case when customer_no % 3 = 0 then 'c.' || customer_no || '@gmail.com' "
        "else 'c' || customer_no || '@example.com' end"
    )
    guest_local = "case when guest_no % 2 = 0 then 'g.' || guest_no else 'g' || guest_no end"
    guest_domain = "case when guest_no % 2 = 0 then 'gmail.com' else 'example.net' end"
    buyer_email = account_email.replace("customer_no", "buyer_no")
    e_local = (
        f"case email_kind when 1 then split_part({buyer_email}, '@', 1) else {guest_local} end"
    )
    e_domain = (
        f"case email_kind when 1 then split_part({buyer_email}, '@', 2) else {guest_domain} end"
    )
    order_email = f"""case when email_form = 0 or email_kind = 0 then null
        when email_kind = 3 then ['info@acme-trading.cn', ' INFO@acme-trading.cn',
            'Info@Acme-Trading.cn'][email_form]
        when email_form = 1 then {e_local} || '@' || {e_domain}
        when email_form = 2 then ' ' || upper({e_local}) || '@' || upper({e_domain}) || ' '
        when {e_domain} = 'gmail.com' then replace({e_local}, '.', '') || '+shop@gmail.com'
        else upper(left({e_local}, 1)) || substr({e_local}, 2) || '@' || {e_domain} end"""
    # an account holder's 13x number, a guest's 15x: the same person, the same number
    national = (
        "case when buyer_no >= 0 then '13' || (buyer_no % 10) "
        "|| lpad(((buyer_no * 7919) % 100000000)::varchar, 8, '0') "
        "else '15' || lpad(((guest_no * 7919) % 1000000000)::varchar, 9, '0') end"
    )
    order_phone = f"""case phone_form
        when 1 then left({national}, 3) || ' ' || substr({national}, 4, 4) || ' '
            || substr({national}, 8)
        when 2 then '+86' || {national} end"""
    return {
        "customers": (
            f"""select {cust_id} as customer_id,
                case email_style when 0 then {account_email}
                    when 2 then 'not-an-email' end as email,
                case phone_style
                    when 0 then '+86 13' || (customer_no % 10) || ' '
                        || lpad(((customer_no * 7919) % 10000)::varchar, 4, '0') || ' '
                        || lpad(((customer_no * 104729) % 10000)::varchar, 4, '0')
                    when 1 then '13' || (customer_no % 10)
                        || lpad(((customer_no * 7919) % 100000000)::varchar, 8, '0')
                    else '+8613' || (customer_no % 10)
                        || lpad(((customer_no * 7919) % 100000000)::varchar, 8, '0') end as phone,
                ['F', 'M', 'U'][gender + 1] as gender,
                case when birth_days >= 0
                    then strftime(date '{start}' - cast(birth_days as integer), '%Y-%m-%d')
                end as birth_date,
                'CN' as country, {provinces}[region + 1] as province,
                {cities}[region + 1] as city, {tiers}[region + 1]::varchar as city_tier,
                {z("registered_at")} as registered_at,
                {_sql_list(ACQ_CHANNELS)}[acquisition + 1] as acquisition_channel,
                email_opt_in::varchar as email_opt_in, sms_opt_in::varchar as sms_opt_in,
                push_opt_in::varchar as push_opt_in, {z("updated_at")} as updated_at,
                {dt("updated_at")} as dt
            from src""",
            "customer_id || updated_at",
            [
                ("customer_id", "null"),
                ("registered_at", "'yesterday'"),
                ("gender", "'X'"),
                ("city_tier", "'9'"),
            ],
        ),
        "orders": (
            f"""select 'O' || lpad(order_no::varchar, 11, '0') as order_id,
                {opt_cust} as customer_id, {order_email} as email, {order_phone} as phone,
                {_sql_list(ORDER_STATUSES)}[status + 1] as status,
                {z("created_at")} as created_at, {z("paid_at")} as paid_at,
                {CURRENCIES}[currency + 1] as currency, {money("order_total")} as order_total,
                {money("discount_total")} as discount_total,
                {money("shipping_total")} as shipping_total,
                {money("refund_total")} as refund_total,
                {_sql_list(ORDER_CHANNELS)}[channel + 1] as channel,
                {_sql_list(PROMOTION_TYPES)}[promotion_type + 1] as promotion_type,
                {z("updated_at")} as updated_at, {dt("updated_at")} as dt
            from src""",
            "order_id || status",
            [
                ("order_id", "null"),
                ("order_total", "'12,5o'"),
                ("status", "'lost'"),
                ("discount_total", "'-5.00'"),
                ("refund_total", "printf('%.2f', order_total::double + 10)"),
                ("created_at", "'2099-01-01T00:00:00Z'"),
                ("currency", "'US$'"),
            ],
        ),
        "returns": (
            f"""select 'R' || lpad(return_no::varchar, 11, '0') as return_id,
                case when order_no >= 0 then 'O' || lpad(order_no::varchar, 11, '0') end
                    as order_id,
                {opt_cust} as customer_id, {z("returned_at")} as returned_at,
                {money("amount")} as amount, {CURRENCIES}[currency + 1] as currency,
                {_sql_list(RETURN_REASONS)}[reason + 1] as reason, {dt("returned_at")} as dt
            from src""",
            "return_id",
            [("amount", "'-5.00'"), ("returned_at", "null")],
        ),
        "order_items": (
            f"""select 'O' || lpad(order_no::varchar, 11, '0') as order_id,
                line_number::varchar as line_number, {sku} as sku,
                {cats}[category + 1] as category,
                {cats}[category + 1] || ' item ' || sku_no as product_name,
                quantity::varchar as quantity, {money("unit_price")} as unit_price,
                {money("line_total")} as line_total, {dt("created_at")} as dt
            from src""",
            "order_id || line_number",
            [("quantity", "'0'"), ("unit_price", "'abc'"), ("sku", "null")],
        ),
        "sessions": (
            f"""select 'S' || lpad(session_no::varchar, 11, '0') as session_id,
                {anon} as anonymous_id, {opt_cust} as customer_id,
                {loc("started_at")} as started_at, {loc("ended_at")} as ended_at,
                ['web', 'app', 'mini_program'][channel + 1] as channel,
                ['direct', 'baidu', 'wechat', 'douyin', 'email', 'xiaohongshu'][source + 1]
                    as utm_source,
                [null, 'cpc', 'social', 'social', 'email', 'social'][source + 1] as utm_medium,
                case when source = 4 then 'newsletter' end as utm_campaign,
                ['mobile', 'desktop', 'tablet'][device + 1] as device_type,
                ['/', '/category/' || {cats}[category + 1], '/product/' || {cats}[category + 1],
                    '/search'][landing + 1] as landing_page,
                {dt("started_at")} as dt
            from src""",
            "session_id",
            [("anonymous_id", "null"), ("started_at", "'soon'")],
        ),
        "events": (
            f"""select 'E' || lpad(event_no::varchar, 11, '0') as event_id,
                'S' || lpad(session_no::varchar, 11, '0') as session_id,
                {anon} as anonymous_id, {opt_cust} as customer_id,
                {_sql_list(EVENT_TYPES)}[event_type + 1] as event_type,
                {loc("occurred_at")} as occurred_at,
                case when category >= 0 then {sku} end as sku,
                case when category >= 0 then {cats}[category + 1] end as category,
                case when is_search then {cats}[(event_no % 8) + 1] || ' '
                    || ['deal', 'new', 'best', 'gift'][(event_no % 4) + 1] end as search_query,
                case when order_no >= 0 then 'O' || lpad(order_no::varchar, 11, '0') end
                    as order_id,
                {dt("occurred_at")} as dt
            from src""",
            "event_id",
            [("event_type", "'teleport'"), ("occurred_at", "null")],
        ),
    }


def _corrupt(select: str, key: str, bad: list[tuple[str, str]], share: float, seed: int) -> str:
    """Wrap a select so that a deterministic `share` of rows breaks the contract, one way each."""
    if share <= 0:
        return select
    scale = 1_000_003
    picked = f"(hash({key}, {seed}) % {scale}) < {int(share * scale)}"
    kind = f"(hash({key}, {seed + 1}) % {len(bad)})"
    cols = ", ".join(
        f"case when {picked} and {kind} = {i} then {value} else {col} end as {col}"
        for i, (col, value) in enumerate(bad)
    )
    return f"select * replace ({cols}) from ({select}) as good"


def _write_bad_files(cfg: ShopConfig, landing: Path) -> list[str]:
    day = f"dt={cfg.end.isoformat()}"
    written = []
    good = next((landing / "orders" / day).glob("*"), None)
    target = landing / "orders" / day / "zz_truncated.parquet"
    if good is not None and good.suffix == ".parquet":
        target.write_bytes(good.read_bytes()[:200])
    else:
        target.write_bytes(b"PAR1\x00\x00garbage")
    written.append(str(target))
    semi = landing / "events" / day / "zz_semicolon.csv"
    semi.write_text(
        "event_id;session_id;anonymous_id;event_type;occurred_at\n"
        f"Ex1;Sx1;Vx1;page_view;{cfg.end.isoformat()} 10:00:00\n",
        encoding="utf-8",
    )
    written.append(str(semi))
    no_id = landing / "customers" / day / "zz_no_customer_id.csv"
    no_id.write_text(
        f"email,registered_at,updated_at\nx@example.com,{cfg.end}T10:00:00Z,{cfg.end}T10:00:00Z\n",
        encoding="utf-8",
    )
    written.append(str(no_id))
    return written


class LandingInUse(RuntimeError):
    """The landing zone holds files the generator did not write: it is left as it is."""


def foreign_files(landing: Path) -> list[Path]:
    """The files in landing that the generator did not write (all of them, when it has not
    written there): a sample shop replaces only its own files, never a user's."""
    if not landing.is_dir():
        return []
    summary = landing / SUMMARY_FILE
    own: set[str] = set()
    if summary.exists():
        own = set(json.loads(summary.read_text(encoding="utf-8")).get("files", []))
    return [
        path
        for path in sorted(landing.rglob("*"))
        if path.is_file() and path != summary and path.relative_to(landing).as_posix() not in own
    ]


def refuse_foreign_files(landing: Path) -> None:
    """Raise LandingInUse when landing holds a file the generator did not write."""
    foreign = foreign_files(landing)
    if foreign:
        raise LandingInUse(
            f"{landing} holds {len(foreign):,} file(s) the sample-shop generator did not write "
            f"(e.g. {foreign[0].relative_to(landing)}): the sample shop is only written into an "
            "empty landing zone or over an earlier sample shop. Nothing was changed; choose an "
            "empty data folder (--data-dir or CRM_DATA_DIR) for the sample shop."
        )


def generate(cfg: ShopConfig, data_dir: Path) -> dict[str, Any]:
    """Write the sample shop into data_dir's landing zone, replacing an earlier sample shop
    there. Raises LandingInUse, and changes nothing, when the landing zone holds any file the
    generator did not write."""
    landing = load_settings(data_dir).landing_dir
    refuse_foreign_files(landing)
    staging = data_dir / "_sample_shop_staging"
    for path in [staging, *(landing / e for e in ENTITY_NAMES)]:
        shutil.rmtree(path, ignore_errors=True)
    clock = Clock(day_weights(cfg.start, cfg.days))
    acquired = np.zeros(len(ACQ_CHANNELS) * cfg.days)
    n_chunks = -(-cfg.customers // CHUNK_CUSTOMERS)
    for chunk in range(n_chunks):
        n = min(CHUNK_CUSTOMERS, cfg.customers - chunk * CHUNK_CUSTOMERS)
        for name, table in generate_chunk(cfg, chunk, n, clock).items():
            if name == "_acquired":
                acquired += table["acquired"].to_numpy()
                continue
            (staging / name).mkdir(parents=True, exist_ok=True)
            pq.write_table(table, staging / name / f"chunk-{chunk:05d}.parquet")
    spend = _marketing_spend(cfg, acquired.reshape(len(ACQ_CHANNELS), cfg.days))
    rates = pa.table(
        {
            "date": [(cfg.start + timedelta(days=d)).isoformat() for d in range(cfg.days)],
            "rate": usd_rates(cfg.days),
        }
    )
    for name, table in (("marketing_spend", spend), ("exchange_rates", rates)):
        (staging / name).mkdir(parents=True, exist_ok=True)
        pq.write_table(table, staging / name / "chunk-00000.parquet")

    counts: dict[str, int] = {}
    con = duckdb.connect()
    try:
        con.execute(f"set TimeZone = '{cfg.store_timezone}'")
        con.execute(
            f"create macro ts(x) as timestamp '{cfg.start.isoformat()} 00:00:00' "
            "+ to_seconds(cast(floor(x * 86400) as bigint))"
        )
        queries = _entity_sql(cfg)
        queries["marketing_spend"] = (
            "select date, channel, printf('%.2f', spend) as spend, 'CNY' as currency, "
            "date as dt from src",
            "date",
            [],
        )
        queries["exchange_rates"] = (
            "select date, 'USD' as currency, printf('%.4f', rate) as rate, date as dt from src",
            "date",
            [],
        )
        fmt = "parquet" if cfg.fmt == "parquet" else "csv, header true"
        for name, (select, key, bad) in queries.items():
            con.execute(
                "create or replace temp view src as select * from "
                f"read_parquet('{(staging / name).as_posix()}/*.parquet')"
            )
            body = _corrupt(select, key, bad, cfg.bad_row_share if bad else 0.0, cfg.seed)
            (landing / name).mkdir(parents=True, exist_ok=True)
            con.execute(
                f"copy ({body}) to '{(landing / name).as_posix()}' (format {fmt}, "
                "partition_by (dt), filename_pattern 'part_{i}', overwrite_or_ignore true)"
            )
            (counts[name],) = one(con, "select count(*) from src")
        _write_truth(con, staging, landing / TRUTH_FILE)
    finally:
        con.close()
    shutil.rmtree(staging, ignore_errors=True)
    bad_files = _write_bad_files(cfg, landing) if cfg.bad_files else []
    summary = {
        "config": config_summary(cfg),
        "rows": counts,
        "bad_files": bad_files,
        # every file written: a later run may replace these, and nothing else
        "files": sorted(
            [
                TRUTH_FILE,
                *(
                    p.relative_to(landing).as_posix()
                    for name in ENTITY_NAMES
                    for p in (landing / name).rglob("*")
                    if p.is_file()
                ),
            ]
        ),
        "generated_at": datetime.now().isoformat(timespec="seconds"),
    }
    (landing / SUMMARY_FILE).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _write_truth(con: duckdb.DuckDBPyConnection, staging: Path, path: Path) -> None:
    """Who really placed each order and made each visit (entity, row_id, person): C... a
    customer, G... a guest, V... a visitor never identified. The identity tests measure the
    stitching against it; the pipeline never reads it."""
    person = (
        "case when {c} >= 0 then 'C' || lpad({c}::varchar, 8, '0') "
        "when {g} >= 0 then 'G' || lpad({g}::varchar, 11, '0') end"
    )
    order_person = person.format(c="buyer_no", g="guest_no")
    visit_person = person.format(c="true_customer_no", g="true_guest_no")
    visitor = "'V' || lpad((-anon_no)::varchar, 11, '0')"
    con.execute(
        f"""copy (
            select distinct 'orders' as entity, 'O' || lpad(order_no::varchar, 11, '0') as row_id,
                {order_person} as person
            from read_parquet('{(staging / "orders").as_posix()}/*.parquet')
            union all
            select 'sessions', 'S' || lpad(session_no::varchar, 11, '0'),
                coalesce({visit_person}, {visitor})
            from read_parquet('{(staging / "sessions").as_posix()}/*.parquet')
            order by entity, row_id
        ) to '{path.as_posix()}' (format parquet)"""
    )


def config_summary(cfg: ShopConfig) -> dict[str, object]:
    """The shop's settings as SUMMARY_FILE records them: the same settings, the same shop."""
    return {**asdict(cfg), "start": cfg.start.isoformat(), "end": cfg.end.isoformat()}


def generated_summary(landing: Path, cfg: ShopConfig) -> dict[str, Any] | None:
    """The summary of the sample shop in landing if it was generated with cfg's settings."""
    path = landing / SUMMARY_FILE
    if not path.exists():
        return None
    summary = json.loads(path.read_text(encoding="utf-8"))
    return summary if summary["config"] == config_summary(cfg) else None


def _marketing_spend(cfg: ShopConfig, acquired: np.ndarray) -> pa.Table:
    """Spend per paid channel and day: customers acquired times the channel's cost, with noise."""
    rng = np.random.default_rng([cfg.seed, 10**6])
    rows_date, rows_channel, rows_spend = [], [], []
    for c, name in enumerate(ACQ_CHANNELS):
        if ACQ_CAC[c] == 0:
            continue
        spend = acquired[c] * ACQ_CAC[c] * rng.lognormal(0, 0.2, cfg.days) + rng.uniform(
            50, 150, cfg.days
        )
        rows_date += [(cfg.start + timedelta(days=d)).isoformat() for d in range(cfg.days)]
        rows_channel += [name] * cfg.days
        rows_spend.append(np.round(spend, 2))
    return pa.table(
        {"date": rows_date, "channel": rows_channel, "spend": np.concatenate(rows_spend)}
    )


ENTITY_NAMES = (
    "customers",
    "orders",
    "order_items",
    "returns",
    "sessions",
    "events",
    "marketing_spend",
    "exchange_rates",
)
