"""Small statistics the explanation needs, without SciPy: a document-level bootstrap of token-weighted
means and the two-sample Kolmogorov-Smirnov test."""

from __future__ import annotations

import math

import numpy as np


def boot_weights(n: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``reps x n`` multinomial resampling counts: each row is one bootstrap resample of ``n`` documents."""
    if n == 0:
        return np.zeros((reps, 0))
    return rng.multinomial(n, np.full(n, 1.0 / n), size=reps).astype(np.float64)


def weighted_rate(nll: np.ndarray, tok: np.ndarray, w: np.ndarray | None = None) -> np.ndarray | float:
    """Token-weighted nats per token ``sum(w nll) / sum(w tok)``, per bootstrap row when ``w`` is 2-D.

    >>> float(weighted_rate(np.array([2.0, 6.0]), np.array([1.0, 3.0])))
    2.0
    """
    if w is None:
        t = tok.sum()
        return float(nll.sum() / t) if t else math.nan
    t = w @ tok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(t > 0, (w @ nll) / np.where(t > 0, t, 1), np.nan)


def interval(samples: np.ndarray, level: float = 0.95) -> list[float] | None:
    """Percentile interval of bootstrap replicates (Efron & Tibshirani 1993, ch. 13); None when undefined."""
    s = samples[np.isfinite(samples)]
    if s.size < 10:
        return None
    a = (1 - level) / 2
    return [float(np.quantile(s, a)), float(np.quantile(s, 1 - a))]


def ks_2samp(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic D and its asymptotic p-value (Smirnov's limit law with the
    Stephens small-sample correction, as in Numerical Recipes 14.3).

    >>> d, p = ks_2samp(np.arange(100.0), np.arange(100.0) + 50)
    >>> round(d, 2), p < 1e-6
    (0.5, True)
    """
    a = np.sort(a[np.isfinite(a)])
    b = np.sort(b[np.isfinite(b)])
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan
    allv = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, allv, side="right") / a.size
    cdf_b = np.searchsorted(b, allv, side="right") / b.size
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    en = math.sqrt(a.size * b.size / (a.size + b.size))
    lam = (en + 0.12 + 0.11 / en) * d
    p = 0.0
    for j in range(1, 101):
        term = 2 * (-1) ** (j - 1) * math.exp(-2 * j * j * lam * lam)
        p += term
        if abs(term) < 1e-10:
            break
    return d, float(min(max(p, 0.0), 1.0)) if d > 0 else 1.0
