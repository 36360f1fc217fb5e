"""Predicted customer value: BG/NBD and Gamma-Gamma fitted on the customer facts' summary.

Reads the buy-till-you-die columns of marts.customer_facts (in days), fits both models on
the buyers (a random sample of `btyd_fit_sample` at most), scores every known customer and
writes scores.customer_value. Customers who never bought get zeros: the models describe
customers after their first purchase.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import duckdb
import numpy as np
import pyarrow as pa

from dagster_project.score import FITS_TABLE, VALUE_TABLE
from dagster_project.settings import Settings

HORIZONS_DAYS = (30, 90, 365)


def score_customer_value(conn: duckdb.DuckDBPyConnection, settings: Settings) -> dict:
    """Fit, score and write scores.customer_value and scores.model_fits; returns the
    parameters, counts and the notes of any model that fell back (too little data, no
    convergence, parameters at the edge of their range)."""
    from dagster_project.score.btyd import BgNbd, FitFailed, GammaGamma  # SciPy: when it fits

    # customers with one history (x, t_x, T) share its BG/NBD predictions: the histories are
    # numbered here and each is computed once (a fifth as many as customers in a 2-year shop)
    facts = conn.execute(
        """
        with facts as (
            select customer_id, coalesce(btyd_frequency, -1) as x,
                coalesce(btyd_recency, 0) as t_x, coalesce(btyd_t, 0) as t,
                coalesce(btyd_monetary, 0) as m_x, net_revenue, orders
            from marts.customer_facts
        )
        select *, dense_rank() over (order by x, t_x, t) - 1 as history
        from facts order by customer_id
        """
    ).fetchnumpy()
    ids = facts["customer_id"]
    x, t_x, T, m_x = (np.asarray(facts[c], dtype=float) for c in ("x", "t_x", "t", "m_x"))
    buyer = x >= 0
    sample = np.flatnonzero(buyer)
    limit = int(settings.vars["btyd_fit_sample"])
    if len(sample) > limit:
        sample = np.random.default_rng(0).choice(sample, size=limit, replace=False)
    minimum = int(settings.vars["btyd_min_buyers"])
    low, high = (float(v) for v in settings.vars["btyd_parameter_bounds"])
    notes: dict[str, str] = {}

    bg: BgNbd | None = None
    if len(sample) < minimum:
        notes["bg_nbd"] = f"{len(sample):,} buyers, fewer than btyd_min_buyers ({minimum})"
    elif not np.any(x[sample] > 0):
        notes["bg_nbd"] = "no buyer has a repeat purchase day yet: no purchase rate to learn"
    else:
        try:
            bg = BgNbd.fit(x[sample], t_x[sample], T[sample], (low, high))
        except FitFailed as reason:
            notes["bg_nbd"] = str(reason)
    repeat_buyers = int(np.sum((x[sample] > 0) & (m_x[sample] > 0)))
    gg: GammaGamma | None = None
    if repeat_buyers < minimum:
        notes["gamma_gamma"] = (
            f"{repeat_buyers:,} repeat buyers with a positive spend, fewer than "
            f"btyd_min_buyers ({minimum})"
        )
    else:
        try:
            gg = GammaGamma.fit(x[sample], m_x[sample], (low, high))
        except FitFailed as reason:
            notes["gamma_gamma"] = str(reason)
    # the fallback spend: the buyers' mean order value (net revenue per order), never below 0
    orders = float(np.sum(np.asarray(facts["orders"], dtype=float)[buyer]))
    revenue = float(np.sum(np.asarray(facts["net_revenue"], dtype=float)[buyer]))
    mean_order_value = max(revenue / orders, 0.0) if orders else 0.0
    if "bg_nbd" in notes:
        notes["bg_nbd"] += ": no purchase prediction (probability_alive, expected purchases "
        notes["bg_nbd"] += "and predicted_clv are null for buyers)"
    if "gamma_gamma" in notes:
        notes["gamma_gamma"] += (
            f": expected spend is the buyers' mean order value, {mean_order_value:,.2f}"
        )
    horizon = int(settings.vars["clv_horizon_days"])

    def on_buyers(values: np.ndarray | float) -> np.ndarray:
        return np.where(buyer, values, 0.0)

    xb, tb, Tb = np.where(buyer, x, 0), np.where(buyer, t_x, 0), np.where(buyer, T, 0)
    spend = on_buyers(gg.expected_spend(xb, m_x) if gg else mean_order_value)
    if bg:
        history = np.asarray(facts["history"])
        hx, ht, hT = (np.zeros(history.max() + 1) for _ in range(3))
        hx[history], ht[history], hT[history] = xb, tb, Tb
        purchases = {
            d: bg.expected_purchases(d, hx, ht, hT)[history] for d in {*HORIZONS_DAYS, horizon}
        }
        alive = on_buyers(bg.probability_alive(hx, ht, hT)[history])
    else:  # no prediction for buyers (null); non-buyers keep their zeros
        purchases = {d: on_buyers(np.nan) for d in {*HORIZONS_DAYS, horizon}}
        alive = on_buyers(np.nan)
    columns = {
        "customer_id": ids,
        "probability_alive": alive,
        **{f"expected_purchases_{d}d": on_buyers(purchases[d]) for d in HORIZONS_DAYS},
        "expected_spend_per_purchase": spend,
    }
    columns["predicted_clv"] = on_buyers(purchases[horizon] * spend)
    # NaN (no prediction) is written as null
    values = pa.table({k: pa.array(v, from_pandas=True) for k, v in columns.items()})
    conn.register("customer_value_rows", values)
    conn.execute(f"create or replace table {VALUE_TABLE} as select * from customer_value_rows")
    conn.unregister("customer_value_rows")
    fits = [
        ("bg_nbd", bg is not None, json.dumps(asdict(bg)) if bg else None, notes.get("bg_nbd")),
        ("gamma_gamma", gg is not None, json.dumps(asdict(gg)) if gg else None,
         notes.get("gamma_gamma")),
    ]  # fmt: skip
    conn.execute(
        f"create or replace table {FITS_TABLE} (model varchar, fitted boolean, "
        "parameters varchar, fallback varchar, fitted_on bigint)"
    )
    conn.executemany(
        f"insert into {FITS_TABLE} values (?, ?, ?, ?, ?)",
        [(*fit, len(sample)) for fit in fits],
    )
    return {
        "bg_nbd": asdict(bg) if bg else None,
        "gamma_gamma": asdict(gg) if gg else None,
        "fallbacks": [f"{model}: {note}" for model, note in notes.items()],
        "buyers": int(buyer.sum()),
        "fitted_on": len(sample),
        "horizon_days": horizon,
    }
