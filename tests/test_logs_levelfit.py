"""The verdict's train level: all windows at once (levelfit.fit_rows) equals polyfit one window at a time."""

from __future__ import annotations

import numpy as np
import pytest

from dataaudit.logs import levelfit
from dataaudit.logs.verdict import VerdictConfig, _Curve


@pytest.mark.parametrize("n", [4, 60, 3000])
def test_levels_equal_one_window_polyfit(n):
    rng = np.random.default_rng(n)
    st = np.arange(n) * 3.0
    v = (2 + 5 * np.exp(-st / 900)) * np.exp(0.03 * rng.standard_normal(n))
    v[n // 2] *= 3   # an outlier the refit drops
    c = _Curve(st, v, VerdictConfig())
    at = np.r_[np.linspace(st[0], st[-1], 101), st[-1] + 50]
    w = min(c.w, n)
    ref = []
    for t in at:
        a = int(np.clip(int(np.searchsorted(c.s, t)) - w // 2, 0, n - w))
        ref.append(np.exp(levelfit.fit_one(c.s[a:a + w], c.x[a:a + w], t)))
    assert np.allclose(c.levels(at), ref, rtol=1e-12, atol=0)
    assert c.level(at[3]) == pytest.approx(ref[3], rel=1e-12)


def test_flat_steps_give_the_median():
    s = np.full((1, 5), 7.0)
    x = np.array([[1.0, 2.0, 3.0, 10.0, 4.0]])
    assert levelfit.fit_rows(s, x, np.array([7.0]))[0] == 3.0
