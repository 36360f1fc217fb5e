"""Buy-till-you-die models on SciPy: BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma.

Each customer is summarised as x (repeat purchase days), t_x (time from the first to the last
purchase day), T (time from the first purchase day to the end of the observation) and, for
Gamma-Gamma, m_x (mean spend of the repeat purchase days). Time is in any unit; alpha (BG/NBD)
scales with it. The likelihoods are the closed forms of the papers, maximised over the log
of the parameters; tests/score/test_btyd.py reproduces the published CDNOW estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1


class FitFailed(ValueError):
    """A model this data cannot fit (too few buyers, no convergence, parameters at the edge
    of their range): the reason, for the fallback's message."""


def _checked(
    model: str, names: tuple[str, ...], params: np.ndarray, result, bounds: tuple[float, float]
) -> None:
    """Raise FitFailed unless the first search converged and every parameter (in the fit's
    own units) is finite and within bounds."""
    if result.status != 0:
        raise FitFailed(f"{model} did not converge ({result.message})")
    if not np.all(np.isfinite(params)):
        raise FitFailed(f"{model} gave parameters that are not numbers")
    low, high = bounds
    edge = [f"{n} = {v:.3g}" for n, v in zip(names, params, strict=True) if not low <= v <= high]
    if edge:
        raise FitFailed(
            f"{model} put parameters at the edge of their range ({', '.join(edge)}; "
            f"btyd_parameter_bounds is {low:g} to {high:g})"
        )


@dataclass(frozen=True)
class Levels:
    """An array as its distinct values and where each element's value is. The likelihoods
    are evaluated hundreds of times in a fit; their terms in one variable are then computed
    once per distinct value (a shop's x has about a hundred, its t_x and T a few hundred
    days) instead of once per customer."""

    values: np.ndarray
    index: np.ndarray
    array: np.ndarray

    @classmethod
    def of(cls, array) -> Levels:
        array = np.asarray(array, dtype=float)
        values, index = np.unique(array, return_inverse=True)
        return cls(values=values, index=index, array=array)

    def map(self, function) -> np.ndarray:
        """function(array), element by element, computed on the distinct values."""
        return function(self.values)[self.index]


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float

    @staticmethod
    def log_likelihood(
        params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weights=1.0
    ) -> float:
        """Summed over the customers; `weights` counts customers who share one (x, t_x, T)."""
        return BgNbd._log_likelihood(params, Levels.of(x), Levels.of(t_x), Levels.of(T), weights)

    @staticmethod
    def _log_likelihood(params: np.ndarray, x: Levels, t_x: Levels, T: Levels, weights) -> float:
        r, alpha, a, b = params
        # the terms in x alone (a1 and a2 of the paper, and a4's), per distinct x
        in_x = x.map(lambda v: gammaln(r + v) + gammaln(b + v) - gammaln(a + b + v))
        a4_x = x.map(lambda v: np.log(a) - np.log(np.maximum(b + v - 1, 1e-12)))
        constant = -gammaln(r) + r * np.log(alpha) + gammaln(a + b) - gammaln(b)
        a3 = -(r + x.array) * T.map(lambda v: np.log(alpha + v))
        a4 = np.where(
            x.array > 0, a4_x - (r + x.array) * t_x.map(lambda v: np.log(alpha + v)), -np.inf
        )
        return float(np.sum(weights * (constant + in_x + np.logaddexp(a3, a4))))

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        t_x: np.ndarray,
        T: np.ndarray,
        bounds: tuple[float, float] = (0, np.inf),
    ) -> BgNbd:
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        n = len(x)
        scale = float(np.mean(T)) or 1.0  # fit in units where T is about 1: better conditioned
        # customers with the same history share one likelihood term: in whole days, half of
        # a large sample are repeats, and each evaluation is then half as long
        (x, t_x, T), weights = np.unique(np.stack([x, t_x, T]), axis=1, return_counts=True)
        lx, lt_x, lT = Levels.of(x), Levels.of(t_x / scale), Levels.of(T / scale)

        def loss(log_params: np.ndarray) -> float:
            return -cls._log_likelihood(np.exp(log_params), lx, lt_x, lT, weights) / n

        result = minimize(
            loss,
            np.zeros(4),
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 20_000, "maxfev": 40_000},
        )
        searched = result
        result = minimize(loss, result.x, method="L-BFGS-B")
        _checked("BG/NBD", ("r", "alpha", "a", "b"), np.exp(result.x), searched, bounds)
        r, alpha, a, b = np.exp(result.x)
        return cls(r=float(r), alpha=float(alpha) * scale, a=float(a), b=float(b))

    def _odds_dead(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = (
                self.a
                / np.maximum(self.b + x - 1, 1e-12)
                * ((self.alpha + T) / (self.alpha + t_x)) ** (self.r + x)
            )
        return np.where(x > 0, odds, 0.0)

    def probability_alive(self, x, t_x, T) -> np.ndarray:
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        return 1.0 / (1.0 + self._odds_dead(x, t_x, T))

    def expected_purchases(self, t: float, x, t_x, T) -> np.ndarray:
        """Expected purchases in (T, T + t] of a customer with history (x, t_x, T)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(
            r + x, b + x, a + b + x - 1, z
        )
        return head * tail / (1.0 + self._odds_dead(x, t_x, T))

    def expected_purchases_new(self, t: np.ndarray) -> np.ndarray:
        """Expected repeat purchases by time t of a customer who just made a first purchase."""
        t = np.asarray(t, dtype=float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        return (
            (a + b - 1)
            / (a - 1)
            * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
        )


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float

    @staticmethod
    def log_likelihood(
        params: np.ndarray, x: Levels, log_m_x: np.ndarray, spend: np.ndarray
    ) -> float:
        """Summed over the customers, from x as Levels, log(m_x) and the repeat purchases'
        spend x * m_x (the parts of the data that do not change during a fit)."""
        p, q, g = params
        in_x = x.map(lambda v: gammaln(p * v + q) - gammaln(p * v) + p * v * np.log(v))
        return float(
            np.sum(
                in_x
                - gammaln(q)
                + q * np.log(g)
                + (p * x.array - 1) * log_m_x
                - (p * x.array + q) * np.log(g + spend)
            )
        )

    @classmethod
    def fit(
        cls, x: np.ndarray, m_x: np.ndarray, bounds: tuple[float, float] = (0, np.inf)
    ) -> GammaGamma:
        """Fit on customers with x > 0 repeat purchases and a positive mean spend m_x."""
        x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
        keep = (x > 0) & (m_x > 0)
        x, m_x = x[keep], m_x[keep]
        if not len(x):
            raise FitFailed("Gamma-Gamma has no repeat buyer with a positive spend to learn from")
        levels, log_m_x, spend = Levels.of(x), np.log(m_x), x * m_x

        def loss(log_params: np.ndarray) -> float:
            return -cls.log_likelihood(np.exp(log_params), levels, log_m_x, spend) / len(x)

        result = minimize(
            loss,
            np.log([1.0, 1.0, float(np.mean(m_x))]),
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 20_000},
        )
        searched = result
        result = minimize(loss, result.x, method="L-BFGS-B")
        p, q, g = np.exp(result.x)
        # gamma in units of the mean spend: the bounds then mean the same in any currency
        _checked(
            "Gamma-Gamma", ("p", "q", "gamma"), np.array([p, q, g / np.mean(m_x)]), searched, bounds
        )
        if q <= 1:
            raise FitFailed(f"Gamma-Gamma gave q = {q:.3g}, at most 1: no finite mean spend")
        return cls(p=float(p), q=float(q), gamma=float(g))

    def expected_spend(self, x, m_x) -> np.ndarray:
        """Expected mean spend per purchase; the population mean for customers without repeats.
        A mean spend below 0 (returns that outweigh the repeat purchases) counts as 0: what the
        customer spends is never expected to be negative."""
        x = np.asarray(x, dtype=float)
        m_x = np.maximum(np.nan_to_num(np.asarray(m_x, dtype=float)), 0.0)
        p, q, g = self.p, self.q, self.gamma
        population = g * p / (q - 1)
        weight = p * x / (p * x + q - 1)
        return (1 - weight) * population + weight * m_x
