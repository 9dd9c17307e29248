"""The robust local line behind the verdict's train level (``verdict._Curve.levels``), one window or many at once.

A least-squares line over a window of points, refitted once without the points past 4 robust sigmas
(1.4826 * MAD of the residuals), evaluated at the query step: a lag-free local level (a trailing median lags a
falling curve by half its window).
"""

from __future__ import annotations

import numpy as np


def fit_one(s: np.ndarray, x: np.ndarray, at: float) -> float:
    """Robust linear fit of x over s, evaluated at ``at`` (one refit without points past 4 robust sigmas)."""
    if s.size < 3 or np.ptp(s) == 0:
        return float(np.median(x))
    c = s - at
    b, a = np.polyfit(c, x, 1)
    r = x - (a + b * c)
    mad = 1.4826 * np.median(np.abs(r - np.median(r)))
    keep = np.abs(r) <= 4 * mad + 1e-12
    if 3 <= keep.sum() < s.size:
        b, a = np.polyfit(c[keep], x[keep], 1)
    return float(a)


def ols_rows(c: np.ndarray, x: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line (slope, intercept at c=0) of each row over the points where ``m`` is True."""
    cnt = m.sum(axis=1)
    cm = (c * m).sum(axis=1) / cnt
    xm = (x * m).sum(axis=1) / cnt
    dc = (c - cm[:, None]) * m
    sxx = (dc * dc).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = (dc * (x - xm[:, None])).sum(axis=1) / sxx
    return b, xm - b * cm


def fit_rows(s: np.ndarray, x: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``fit_one`` of each row (window) of ``s``/``x`` at ``at``, vectorised over rows (the same fit in closed
    form: centred sums instead of polyfit's least squares, equal to rounding)."""
    q, w = s.shape
    if w < 3:
        return np.median(x, axis=1)
    c = s - at[:, None]
    flat = np.ptp(s, axis=1) == 0
    full = np.ones((q, w), bool)
    b, a = ols_rows(c, x, full)
    r = x - (a[:, None] + b[:, None] * c)
    mad = 1.4826 * np.median(np.abs(r - np.median(r, axis=1)[:, None]), axis=1)
    keep = np.abs(r) <= 4 * mad[:, None] + 1e-12
    k = keep.sum(axis=1)
    refit = (k >= 3) & (k < w)
    if refit.any():
        b2, a2 = ols_rows(c[refit], x[refit], keep[refit])
        a[refit] = a2
    return np.where(flat, np.median(x, axis=1), a)
