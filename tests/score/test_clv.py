"""Predicted CLV on the sample shop: non-negative, zero without a purchase, heavy buyers first."""

from dataclasses import replace

import numpy as np
import pytest

from dagster_project.resources import open_warehouse
from dagster_project.score.btyd import BgNbd
from dagster_project.score.clv import score_customer_value

pytestmark = pytest.mark.slow  # whole-pipeline builds: make test, not make test-fast


@pytest.fixture(scope="module")
def shop(shop_warehouse):
    settings = shop_warehouse
    with open_warehouse(settings) as conn:
        fitted = score_customer_value(conn, settings)
        rows = conn.execute(
            """
            select f.purchase_days, f.days_since_last_purchase, f.shop_customer_ids, f.btyd_frequency,
                f.btyd_recency, f.btyd_t, v.*
            from scores.customer_value as v inner join marts.customer_facts as f using (customer_id)
            """
        ).df()
    return fitted, rows


def test_every_known_customer_gets_a_non_negative_value(shop):
    fitted, rows = shop
    # every person once: the shop's 5000 accounts, each in one person, and the guests with
    # an email or phone, customers of their own
    assert len(rows) == rows["customer_id"].nunique() > 5000
    assert rows["shop_customer_ids"].sum() == 5000
    value_columns = [c for c in rows if c.startswith(("expected_", "predicted_", "probability_"))]
    assert (rows[value_columns] >= 0).all().all()
    assert fitted["buyers"] == int((rows["purchase_days"] > 0).sum())


def test_customers_who_never_bought_are_worth_zero(shop):
    _, rows = shop
    never = rows[rows["purchase_days"] == 0]
    assert len(never) > 0
    assert (
        (never[["predicted_clv", "expected_purchases_365d", "probability_alive"]] == 0).all().all()
    )


def test_heavy_recent_buyers_rank_above_one_time_buyers(shop):
    _, rows = shop
    heavy = rows[(rows["purchase_days"] >= 5) & (rows["days_since_last_purchase"] <= 60)]
    once = rows[rows["purchase_days"] == 1]
    assert len(heavy) > 20 and len(once) > 100
    assert heavy["predicted_clv"].median() > once["predicted_clv"].quantile(0.9)
    assert heavy["expected_purchases_365d"].min() > once["expected_purchases_365d"].median()


def test_each_buyer_gets_the_predictions_of_their_own_history(shop):
    # histories are computed once each and shared: every buyer must still get their own
    fitted, rows = shop
    buyers = rows[rows["purchase_days"] > 0]
    history = [
        buyers[c].to_numpy(dtype=float) for c in ("btyd_frequency", "btyd_recency", "btyd_t")
    ]
    bg = BgNbd(**fitted["bg_nbd"])
    assert np.allclose(buyers["probability_alive"], bg.probability_alive(*history))
    assert np.allclose(buyers["expected_purchases_90d"], bg.expected_purchases(90, *history))
    assert buyers["expected_purchases_90d"].nunique() > 100  # the shop's histories differ


def test_a_fit_forced_to_fail_falls_back_and_says_why(shop_warehouse):
    # bounds no fitted parameter can meet: both models fall back
    settings = replace(
        shop_warehouse,
        vars={**shop_warehouse.vars, "btyd_parameter_bounds": [1000.0, 10000.0]},
    )
    try:
        with open_warehouse(settings) as conn:
            fitted = score_customer_value(conn, settings)
            buyers = conn.execute(
                "select sum(net_revenue) / sum(orders) from marts.customer_facts where orders > 0"
            ).fetchone()[0]
            values = conn.execute(
                """
                select count(*) filter (where v.probability_alive is null),
                    count(*) filter (where v.predicted_clv is null),
                    min(v.expected_spend_per_purchase), max(v.expected_spend_per_purchase),
                    count(*)
                from scores.customer_value as v inner join marts.customer_facts as f
                    using (customer_id)
                where f.purchase_days > 0
                """
            ).fetchone()
            fits = conn.execute("select model, fitted, fallback from scores.model_fits").fetchall()
    finally:
        with open_warehouse(shop_warehouse) as conn:
            score_customer_value(conn, shop_warehouse)  # the module's scores again
    assert fitted["bg_nbd"] is None and fitted["gamma_gamma"] is None
    mean_order_value = float(buyers)
    n = values[4]
    assert n == fitted["buyers"] > 0
    # every buyer: no prediction, and the buyers' mean order value as spend
    assert values[:2] == (n, n)
    assert values[2] == pytest.approx(mean_order_value) and values[3] == pytest.approx(
        mean_order_value
    )
    notes = dict((m, note) for m, fitted_, note in fits if not fitted_)
    assert notes["bg_nbd"].startswith("BG/NBD put parameters at the edge of their range (")
    assert notes["bg_nbd"].endswith(
        "btyd_parameter_bounds is 1000 to 10000): no purchase prediction (probability_alive, "
        "expected purchases and predicted_clv are null for buyers)"
    )
    assert notes["gamma_gamma"].endswith(
        f": expected spend is the buyers' mean order value, {mean_order_value:,.2f}"
    )
    assert fitted["fallbacks"] == [
        f"bg_nbd: {notes['bg_nbd']}",
        f"gamma_gamma: {notes['gamma_gamma']}",
    ]
