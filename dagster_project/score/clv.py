"""Predicted customer value: BG/NBD and Gamma-Gamma fitted on the customer facts' summary.

Reads the buy-till-you-die columns of marts.customer_facts (in days), fits both models on
the buyers (a random sample of `btyd_fit_sample` at most), scores every known customer and
writes scores.customer_value. Customers who never bought get zeros: the models describe
customers after their first purchase.
"""

from __future__ import annotations

from dataclasses import asdict

import duckdb
import numpy as np
import pyarrow as pa

from dagster_project.score import VALUE_TABLE
from dagster_project.settings import Settings

HORIZONS_DAYS = (30, 90, 365)


def score_customer_value(conn: duckdb.DuckDBPyConnection, settings: Settings) -> dict:
    """Fit, score and write scores.customer_value; returns the parameters and counts."""
    from dagster_project.score.btyd import BgNbd, GammaGamma  # SciPy: imported when it fits

    # customers with one history (x, t_x, T) share its BG/NBD predictions: the histories are
    # numbered here and each is computed once (a fifth as many as customers in a 2-year shop)
    facts = conn.execute(
        """
        with facts as (
            select customer_id, coalesce(btyd_frequency, -1) as x,
                coalesce(btyd_recency, 0) as t_x, coalesce(btyd_t, 0) as t,
                coalesce(btyd_monetary, 0) as m_x
            from marts.customer_facts
        )
        select *, dense_rank() over (order by x, t_x, t) - 1 as history
        from facts order by customer_id
        """
    ).fetchnumpy()
    ids = facts["customer_id"]
    x, t_x, T, m_x = (np.asarray(facts[c], dtype=float) for c in ("x", "t_x", "t", "m_x"))
    buyer = x >= 0
    if not buyer.any():
        raise RuntimeError(
            "marts.customer_facts has no buyer yet: nothing to fit the CLV models on."
        )
    sample = np.flatnonzero(buyer)
    limit = int(settings.vars["btyd_fit_sample"])
    if len(sample) > limit:
        sample = np.random.default_rng(0).choice(sample, size=limit, replace=False)
    bg = BgNbd.fit(x[sample], t_x[sample], T[sample])
    gg = GammaGamma.fit(x[sample], m_x[sample])
    horizon = int(settings.vars["clv_horizon_days"])

    def on_buyers(values: np.ndarray) -> np.ndarray:
        return np.where(buyer, values, 0.0)

    xb, tb, Tb = np.where(buyer, x, 0), np.where(buyer, t_x, 0), np.where(buyer, T, 0)
    history = np.asarray(facts["history"])
    hx, ht, hT = (np.zeros(history.max() + 1) for _ in range(3))
    hx[history], ht[history], hT[history] = xb, tb, Tb
    purchases = {
        d: bg.expected_purchases(d, hx, ht, hT)[history] for d in {*HORIZONS_DAYS, horizon}
    }
    columns = {
        "customer_id": ids,
        "probability_alive": on_buyers(bg.probability_alive(hx, ht, hT)[history]),
        **{f"expected_purchases_{d}d": on_buyers(purchases[d]) for d in HORIZONS_DAYS},
        "expected_spend_per_purchase": on_buyers(gg.expected_spend(xb, m_x)),
    }
    columns["predicted_clv"] = on_buyers(
        purchases[horizon] * columns["expected_spend_per_purchase"]
    )
    values = pa.table({k: pa.array(v) for k, v in columns.items()})
    conn.register("customer_value_rows", values)
    conn.execute(f"create or replace table {VALUE_TABLE} as select * from customer_value_rows")
    conn.unregister("customer_value_rows")
    return {
        "bg_nbd": asdict(bg),
        "gamma_gamma": asdict(gg),
        "buyers": int(buyer.sum()),
        "fitted_on": len(sample),
        "horizon_days": horizon,
    }
