"""Audiences on hand-built marts: each condition type, consent, control arm, cooldown, caps."""

import hashlib
import math
from datetime import date, timedelta

import pytest

from dagster_project.activate.audience import ensure_tables, select_audiences
from dagster_project.activate.catalogue import Campaign
from tests.activate.marts import build_marts, customer

D = date(2026, 6, 10)  # a Wednesday; the store is in Asia/Shanghai (UTC+8)


def campaign(cid: str = "c", audience: dict | None = None, **overrides) -> Campaign:
    values = {
        "id": cid, "name": cid, "channel": "email",
        "audience": audience or {"lifecycle_stage": ["active"]}, "control_share": 0.0,
        "priority": 10, "cooldown_days": 0, "fields": ("customer_id", "email"), "schedule": "daily",
    }  # fmt: skip
    return Campaign(**{**values, **overrides})


def members(conn, cid: str = "c", arm: str | None = None) -> set[str]:
    rows = conn.execute(
        "select customer_id from activate.campaign_audience where send_date = ? and campaign_id = ?"
        + (" and arm = ?" if arm else ""),
        [D, cid, *([arm] if arm else [])],
    ).fetchall()
    return {r[0] for r in rows}


def select(conn, settings, customers, *campaigns, events=(), purchases=()):
    build_marts(conn, customers, D, events=events, purchases=purchases)
    return select_audiences(conn, settings, list(campaigns))


@pytest.mark.parametrize(
    ("audience", "attributes", "expected"),
    [
        ({"lifecycle_stage": ["silent", "sleeping"]},
         {"a": {"lifecycle_stage": "silent"}, "b": {"lifecycle_stage": "active"}}, {"a"}),
        ({"customer_type": ["prospect"]},
         {"a": {"customer_type": None}, "b": {"customer_type": "new"}}, {"a"}),
        ({"rfm_group": ["important_value"]},
         {"a": {"rfm_group": "important_value"}, "b": {}, "n": {"rfm_group": None}}, {"a"}),
        ({"member_tier": ["gold"]}, {"a": {"member_tier": "gold"}, "b": {}}, {"a"}),
        ({"favourite_category": ["bags"]}, {"a": {"favourite_category": "bags"}, "b": {}}, {"a"}),
        ({"days_since_last_purchase": {"min": 40, "max": 50}},
         {"a": {"days_since_last_purchase": 40}, "b": {"days_since_last_purchase": 50},
          "c": {"days_since_last_purchase": 39}, "d": {"days_since_last_purchase": 51},
          "e": {"days_since_last_purchase": None}}, {"a", "b"}),
        ({"days_since_registration": {"min": 7, "max": 7}},
         {"a": {"days_since_registration": 7}, "b": {"days_since_registration": 6}}, {"a"}),
        ({"amount_to_next_tier": {"min": 0.01, "max": 60}},
         {"a": {"amount_to_next_tier": 50}, "b": {"amount_to_next_tier": 10},
          "c": {"amount_to_next_tier": 100}, "d": {"amount_to_next_tier": None}}, {"a", "b"}),
        ({"has_downgrade_risk": True}, {"a": {"has_downgrade_risk": True}, "b": {}}, {"a"}),
        # D = 10 June: birthdays 10 June (0 days) and 17 June (7) are in, 18 June and 9 June are not
        ({"birthday_in_next_days": 7},
         {"a": {"birth_date": date(1990, 6, 10)}, "b": {"birth_date": date(1985, 6, 17)},
          "c": {"birth_date": date(1985, 6, 18)}, "d": {"birth_date": date(1985, 6, 9)},
          "e": {"birth_date": None}}, {"a", "b"}),
    ],
)  # fmt: skip
def test_each_condition_type(conn, settings, audience, attributes, expected):
    select(
        conn,
        settings,
        [customer(c, **a) for c, a in attributes.items()],
        campaign(audience=audience),
    )
    assert members(conn) == expected


def test_birthdays_across_the_new_year_and_on_29_february(conn, settings):
    customers = [
        customer("jan2", birth_date=date(1990, 1, 2)),  # 5 days after 28 December
        customer("jan9", birth_date=date(1990, 1, 9)),  # 12 days
        customer("leap", birth_date=date(2000, 2, 29)),
    ]
    build_marts(conn, customers, date(2026, 12, 28))
    select_audiences(conn, settings, [campaign(audience={"birthday_in_next_days": 7})])
    rows = conn.execute("select customer_id from activate.campaign_audience").fetchall()
    assert rows == [("jan2",)]
    # in 2027 (no 29 February) the leap-day birthday is on 28 February: 1 day after the 27th
    build_marts(conn, customers, date(2027, 2, 27))
    select_audiences(conn, settings, [campaign(audience={"birthday_in_next_days": 1})])
    rows = conn.execute(
        "select customer_id from activate.campaign_audience where send_date = '2027-02-27'"
    ).fetchall()
    assert rows == [("leap",)]


def test_abandoned_cart_in_the_last_24_hours_without_a_purchase_after_it(conn, settings):
    # store day D ends at D+1 00:00 Shanghai = D 16:00 UTC; the window is (D-1 16:00, D 16:00] UTC
    cart = {"type": "add_to_cart", "hours": 24, "without_purchase": True}
    events = [
        ("in", "add_to_cart", "2026-06-09 16:30:00"),
        ("edge", "add_to_cart", "2026-06-10 16:00:00"),
        ("early", "add_to_cart", "2026-06-09 15:59:00"),
        ("bought", "add_to_cart", "2026-06-10 01:00:00"),
        ("bought_before", "add_to_cart", "2026-06-10 02:00:00"),
        ("viewed", "product_view", "2026-06-10 02:00:00"),
    ]
    purchases = [("bought", "2026-06-10 03:00:00"), ("bought_before", "2026-06-10 01:00:00")]
    ids = ["in", "edge", "early", "bought", "bought_before", "viewed"]
    select(conn, settings, [customer(c) for c in ids], campaign(audience={"event_in_last_hours": cart}),
           events=events, purchases=purchases)  # fmt: skip
    assert members(conn) == {"in", "edge", "bought_before"}


@pytest.mark.parametrize(
    ("channel", "customers", "expected"),
    [
        ("email", [customer("ok"), customer("out", is_reachable_by_email=False)], {"ok"}),
        ("sms", [customer("ok"), customer("out", is_reachable_by_sms=False)], {"ok"}),
        ("push", [customer("ok"), customer("out", is_reachable_by_push=False)], {"ok"}),
        ("customer_match", [customer("ok"), customer("out", is_reachable_by_email=False,
                                                    is_reachable_by_sms=True)], {"ok"}),
    ],
)  # fmt: skip
def test_consent_per_channel(conn, settings, channel, customers, expected):
    funnel = select(conn, settings, customers, campaign(channel=channel))[1]
    assert members(conn) == expected
    (_, _, _, _, qualified, consented, *_) = funnel[0]
    assert (qualified, consented) == (len(customers), len(expected))


def test_control_arm_is_stable_and_close_to_the_share(conn, settings):
    n, share = 20_000, 0.2
    customers = [customer(f"k{i:05d}") for i in range(n)]
    select(conn, settings, customers, campaign(cid="winback", control_share=share))
    control = members(conn, "winback", "control")
    # the arm is md5("winback:<customer>") as a fraction of 2**32, below the share
    by_hand = {
        c["customer_id"]
        for c in customers
        if int(hashlib.md5(f"winback:{c['customer_id']}".encode()).hexdigest()[:8], 16) / 2**32
        < share
    }
    assert control == by_hand
    assert abs(len(control) / n - share) <= 3 * math.sqrt(
        share * (1 - share) / n
    )  # 3 sigma: 0.0085
    select_audiences(conn, settings, [campaign(cid="winback", control_share=share)])
    assert members(conn, "winback", "control") == control  # a second run: the same arms


def log_contacts(conn, rows):
    ensure_tables(conn)
    for campaign_id, customer_id, days_ago, channel in rows:
        conn.execute(
            "insert into activate.contact_log values (?, ?, 'treatment', ?, ?, now())",
            [campaign_id, customer_id, D - timedelta(days=days_ago), channel],
        )


def test_cooldown_counts_days_since_the_last_contact_of_the_same_campaign(conn, settings):
    log_contacts(conn, [("c", "recent", 13, "email"), ("c", "due", 14, "email"), ("other", "x", 1, "email")])  # fmt: skip
    customers = [customer("recent"), customer("due"), customer("x")]
    funnel = select(conn, settings, customers, campaign(cooldown_days=14, channel="sms"))[1]
    assert members(conn) == {"due", "x"}
    assert funnel[0][4:8] == (3, 3, 2, 2)  # qualified, consented, after cooldown, within caps


def test_priorities_and_frequency_caps_across_campaigns(conn, settings):
    # caps (settings): 1 a day and 4 in 7 days per channel; churned customers 1 in 7 days
    log_contacts(conn, [
        *[("old", "busy", d, "email") for d in (1, 2, 3, 4)],     # 4 email contacts in 6 days
        *[("old", "three", d, "email") for d in (1, 2, 3)],       # 3: one more is allowed
        ("old", "stale", 7, "email"), ("old", "stale", 8, "email"),  # outside the 7 days
        *[("old", "smsbusy", d, "sms") for d in (1, 2, 3, 4)],    # busy on sms, free on email
        ("old", "churn", 3, "email"),                             # churned: 1 in 7 days
    ])  # fmt: skip
    ids = ["free", "busy", "three", "stale", "smsbusy", "churn"]
    customers = [customer(c, lifecycle_stage="churned" if c == "churn" else "active") for c in ids]
    everyone = {"lifecycle_stage": ["active", "churned"]}
    campaigns = [
        campaign("low", everyone, priority=30),
        campaign("high", everyone, priority=10),
        campaign("sms", everyone, priority=50, channel="sms", fields=("customer_id", "phone")),
    ]
    funnel = select(conn, settings, customers, *campaigns)[1]
    assert members(conn, "high") == {"free", "three", "stale", "smsbusy"}
    assert members(conn, "low") == set()  # everyone it wanted got the higher priority first
    assert members(conn, "sms") == {"free", "busy", "three", "stale", "churn"}
    by_campaign = {row[1]: row[4:] for row in funnel}
    # qualified, consented, after cooldown, within caps, selected, treatment, control
    assert by_campaign["high"] == (6, 6, 6, 4, 4, 4, 0)
    assert by_campaign["low"] == (6, 6, 6, 4, 0, 0, 0)


def test_weekly_campaigns_run_on_the_weekday_of_the_settings(conn, settings):
    weekly = campaign(schedule="weekly")
    funnel = select(conn, settings, [customer("a")], weekly)[1]  # D is a Wednesday
    assert funnel[0][3] is False and members(conn) == set()
    build_marts(conn, [customer("a")], date(2026, 6, 8))  # a Monday
    assert select_audiences(conn, settings, [weekly])[1][0][3] is True


def test_rerunning_a_day_replaces_its_audience(conn, settings):
    customers = [customer("a"), customer("b")]
    select(conn, settings, customers, campaign())
    select_audiences(conn, settings, [campaign()])
    assert conn.execute("select count(*) from activate.campaign_audience").fetchone() == (2,)
    assert conn.execute("select count(*) from activate.campaign_funnel").fetchone() == (1,)


def test_churn_risk_filters_once_the_churn_model_exists_and_says_so_before(conn, settings):
    risky = campaign(audience={"churn_risk": {"min": 0.6}})
    build_marts(conn, [customer("hi"), customer("edge"), customer("lo")], D)
    with pytest.raises(
        RuntimeError, match=r"filter on churn_risk, but scores\.customer_churn_risk"
    ):
        select_audiences(conn, settings, [risky])
    conn.execute(
        "create table scores.customer_churn_risk (customer_id varchar, churn_probability double)"
    )
    conn.execute(
        "insert into scores.customer_churn_risk values ('hi', 0.9), ('edge', 0.6), ('lo', 0.2)"
    )
    select_audiences(conn, settings, [risky])
    assert members(conn) == {"hi", "edge"}
