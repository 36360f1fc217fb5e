"""Predicted CLV on the sample shop: non-negative, zero without a purchase, heavy buyers first."""

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
            select f.purchase_days, f.days_since_last_purchase, f.btyd_frequency,
                f.btyd_recency, f.btyd_t, v.*
            from scores.customer_value as v inner join marts.customer_facts as f using (customer_id)
            """
        ).df()
    return fitted, rows


def test_every_known_customer_gets_a_non_negative_value(shop):
    fitted, rows = shop
    assert len(rows) == rows["customer_id"].nunique() == 5000  # every customer of the shop
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
