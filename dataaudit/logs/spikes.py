"""Causal loss-spike detection on one series, vectorized with numpy.

Method. Work on ``x = log(value)`` (a spike is a *relative* jump; log also tames the early, fast-falling
part of a loss curve). For each point ``i`` the baseline is the median of the previous ``window`` finite
points and the scale is a robust sigma of the noise in those points, floored at ``scale_floor``:
by default ``1.4826 * median|x[j+1] - x[j]| / sqrt(2)`` over the window, a median version of von
Neumann's successive-difference estimator (von Neumann et al., "The mean square successive difference",
Ann. Math. Stat. 1941), which a falling trend does not inflate; ``scale='mad'`` uses the plain
``1.4826 * MAD`` (a steep early decay then hides spikes). The score is the robust z ``(x[i] - median) / scale``: Iglewicz & Hoaglin's modified
z-score (*How to Detect and Handle Outliers*, ASQC 1993; they use 0.6745 = 1/1.4826 and flag |z| > 3.5)
applied over a trailing window, so each point is judged only by what came before it (causal: a detector
that looks ahead would not work online and would let the spike lower its own score). A point is a spike
point when ``z > threshold`` and the value is at least ``min_rise`` above the baseline; points before
``warmup_steps`` or with fewer than ``min_history`` points behind them are not judged. Spike points a
``merge_gap`` or fewer points apart form one spike.

Each spike reports: start step, value, baseline (the median, back in value units), score, peak value /
step / score, duration (points flagged, and steps until the first unflagged point), and steps to
recover (first later point back within ``recover_z`` scales of the baseline frozen at the spike start).

Per-step training loss is heavier-tailed than a normal, so the default threshold is 6, not 3.5: on the
three modded-nanogpt window-warmup logs 3.5 flags 9.7 spikes per 1,000 judged steps, 6 flags 3.0, and
at 6 all but one of them recur at the same step in another run of the same data order (docs/spikes.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ConfigError

_MAD_TO_SIGMA = 1.4826  # 1 / Phi^-1(3/4): MAD of a normal sample times this estimates sigma


@dataclass(frozen=True, kw_only=True)
class SpikeConfig:
    """Settings of the spike detector; every report carries them."""

    window: int = 50                 # trailing points in the baseline: long enough for a stable MAD, short enough to follow the decay
    min_history: int = 20            # a point with fewer finite points behind it is not judged (MAD of 3 points is noise)
    warmup_steps: int = 100          # steps before this are not judged: early loss falls fast and noisily
    threshold: float = 6.0           # robust z above which a point is a spike point (3.5 in Iglewicz-Hoaglin; logs are heavy-tailed)
    min_rise: float = 0.05           # and the value must be this fraction above the baseline: a 1% bump on a flat curve is no spike
    recover_z: float = 2.0           # back within this many scales of the pre-spike baseline = recovered
    merge_gap: int = 1               # spike points this many points apart (or fewer) are one spike
    scale_floor: float = 0.002       # floor on the scale (log units, ~0.2%): a flat curve must not make every wiggle a spike
    transform: Literal["auto", "log", "none"] = "auto"   # auto = log when every finite value is > 0
    scale: Literal["diff", "mad"] = "diff"   # noise from successive differences (trend-proof) or the plain MAD
    chunk: int = 65536               # points per vectorized block (memory: chunk * window * 8 bytes)

    def __post_init__(self) -> None:
        if self.window < 3:
            raise ConfigError(f"window={self.window}: needs at least 3 points for a median and a MAD")
        if not 1 <= self.min_history <= self.window:
            raise ConfigError(f"min_history={self.min_history} must be between 1 and window={self.window}")
        if self.threshold <= 0:
            raise ConfigError(f"threshold={self.threshold} must be > 0 (robust z; try 6)")
        if self.min_rise < 0:
            raise ConfigError(f"min_rise={self.min_rise} must be >= 0")
        if self.scale not in ("diff", "mad"):
            raise ConfigError(f"scale={self.scale!r}; choose diff or mad")
        if self.transform not in ("auto", "log", "none"):
            raise ConfigError(f"transform={self.transform!r}; choose auto, log or none")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Scored:
    """Per-point detector output for one series (arrays aligned with the input)."""

    steps: np.ndarray
    values: np.ndarray
    x: np.ndarray            # transformed values (NaN where not finite)
    median: np.ndarray       # trailing median of x (NaN where not judged)
    scale: np.ndarray        # trailing robust scale of x
    z: np.ndarray            # robust z (NaN where not judged)
    judged: np.ndarray       # bool
    flagged: np.ndarray      # bool: spike point
    log: bool
    spikes: list[dict[str, Any]] = field(default_factory=list)


def _trailing_stats(x: np.ndarray, window: int, min_history: int, chunk: int,
                    scale: str) -> tuple[np.ndarray, np.ndarray]:
    """Median and raw spread of the ``window`` values strictly before each position of ``x``.

    ``x`` holds only finite values. Spread is the MAD (``scale='mad'``) or the median absolute
    successive difference of the window (``scale='diff'``). The first ``window`` positions (shorter
    history) are done one by one; the rest in blocks of ``chunk`` with a sliding-window view
    (np.median partitions: O(window) per point).
    """
    n = x.size
    med = np.full(n, np.nan)
    spread = np.full(n, np.nan)
    d = np.abs(np.diff(x)) if scale == "diff" else None
    for i in range(min_history, min(n, window)):
        h = x[:i]
        m = np.median(h)
        med[i] = m
        if d is None:
            spread[i] = np.median(np.abs(h - m))
        else:
            spread[i] = np.median(d[: i - 1]) if i >= 2 else 0.0
    if n > window:
        views = sliding_window_view(x[:-1], window)   # views[k] = x[k : k+window], judged point k+window
        dviews = sliding_window_view(d, window - 1) if d is not None else None  # d[k : k+window-1]
        for a in range(0, views.shape[0], chunk):
            blk = views[a:a + chunk]
            m = np.median(blk, axis=1)
            sl = slice(window + a, window + a + blk.shape[0])
            med[sl] = m
            if dviews is None:
                spread[sl] = np.median(np.abs(blk - m[:, None]), axis=1)
            else:
                spread[sl] = np.median(dviews[a:a + blk.shape[0]], axis=1)
    return med, spread


def score_series(steps: np.ndarray, values: np.ndarray, cfg: SpikeConfig = SpikeConfig()) -> Scored:
    """Score every point of one series (log order) and collect its spikes. Non-finite points are skipped
    by the baseline and never judged (divergence reports them)."""
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    finite = np.isfinite(values)
    use_log = cfg.transform == "log" or (cfg.transform == "auto" and bool(np.all(values[finite] > 0)))
    if use_log and np.any(values[finite] <= 0):
        raise ConfigError("transform='log' needs positive values; this metric has values <= 0: use "
                          "transform='none'")
    x = np.full(n, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        x[finite] = np.log(values[finite]) if use_log else values[finite]
    idx = np.flatnonzero(finite)
    xf = x[idx]
    med_f, spread_f = _trailing_stats(xf, cfg.window, cfg.min_history, cfg.chunk, cfg.scale)
    # spread -> sigma: MAD * 1.4826; median |successive difference| * 1.4826 / sqrt(2) (a difference of
    # two independent N(0, s^2) has sd s*sqrt(2))
    sigma = _MAD_TO_SIGMA * spread_f / (np.sqrt(2.0) if cfg.scale == "diff" else 1.0)
    med = np.full(n, np.nan)
    scale = np.full(n, np.nan)
    med[idx] = med_f
    scale[idx] = np.maximum(sigma, cfg.scale_floor if use_log else
                            cfg.scale_floor * np.maximum(np.abs(med_f), 1e-12))
    judged = np.isfinite(med) & (steps >= cfg.warmup_steps)
    z = np.where(judged, (x - med) / scale, np.nan)
    with np.errstate(invalid="ignore"):
        rise = (x - med) if use_log else (x - med) / np.abs(med)
        min_rise = np.log1p(cfg.min_rise) if use_log else cfg.min_rise
        flagged = judged & (z > cfg.threshold) & (rise >= min_rise)
    sc = Scored(steps=steps, values=values, x=x, median=med, scale=scale, z=z, judged=judged,
                flagged=flagged, log=use_log)
    sc.spikes = _events(sc, cfg)
    return sc


def _back(v: float, log: bool) -> float:
    return float(np.exp(v)) if log else float(v)


def _events(sc: Scored, cfg: SpikeConfig) -> list[dict[str, Any]]:
    """Merge spike points into spikes and measure each one."""
    pts = np.flatnonzero(sc.flagged)
    if pts.size == 0:
        return []
    # positions among finite points, so a NaN between two spike points does not split a spike
    fin = np.flatnonzero(np.isfinite(sc.x))
    rank = np.searchsorted(fin, pts)
    breaks = np.flatnonzero(np.diff(rank) > cfg.merge_gap + 1) + 1
    groups = np.split(pts, breaks)
    out = []
    for g in groups:
        s, e = int(g[0]), int(g[-1])
        base, sd = sc.median[s], sc.scale[s]
        seg = sc.x[s:e + 1]
        k = s + int(np.nanargmax(seg))
        # first finite point after the last spike point: end of the spike
        after = fin[np.searchsorted(fin, e, side="right"):]
        end_step = int(sc.steps[after[0]]) if after.size else None
        # recovery: first later finite point back within recover_z scales of the frozen baseline
        limit = base + cfg.recover_z * sd
        rec = None
        lo = 0
        step_len = 1024
        while lo < after.size:
            blk = after[lo:lo + step_len]
            hit = np.flatnonzero(sc.x[blk] <= limit)
            if hit.size:
                rec = int(blk[hit[0]])
                break
            lo += step_len
            step_len *= 4
        out.append({
            "step": int(sc.steps[s]),
            "value": float(sc.values[s]),
            "baseline": _back(base, sc.log),
            "score": float(sc.z[s]),
            "peak": float(sc.values[k]),
            "peak_step": int(sc.steps[k]),
            "peak_score": float(np.nanmax(sc.z[s:e + 1])),
            "points": int(g.size),
            "duration_steps": (end_step - int(sc.steps[s])) if end_step is not None else None,
            "steps_to_recover": (int(sc.steps[rec]) - int(sc.steps[s])) if rec is not None else None,
            "recovered": rec is not None,
            "index": s,
            "last_index": e,
        })
    return out


def detect_spikes(steps, values, config: SpikeConfig | None = None, **overrides) -> list[dict[str, Any]]:
    """Spikes of one series (steps and values in log order); see the module docstring for the method.

    >>> import numpy as np
    >>> v = np.full(300, 2.0) * (1 + 0.01 * np.sin(np.arange(300)))
    >>> v[200] = 3.0
    >>> [s["step"] for s in detect_spikes(np.arange(300), v)]
    [200]
    """
    cfg = config or SpikeConfig()
    if overrides:
        cfg = SpikeConfig(**{**cfg.to_dict(), **overrides})
    return score_series(steps, values, cfg).spikes


def history_hint(series, cfg: SpikeConfig) -> dict[str, Any]:
    """Settings that judge the runs of ``series`` (each run's ``Scored``, or (steps, values)), from the data.

    A point is judged when at least ``min_history`` finite points come before it and its step is at or past
    ``warmup_steps``, so in a run of n finite points the most history that still judges one of them is
    n - 1 (its last point past the warm-up). Returned: ``warmup_steps`` (kept when every run with 2+
    finite points has a point past it after its first, else 0), ``min_history`` (the largest value, up to
    ``cfg.min_history``, that judges a point in every such run: the history of the shortest), ``judged`` (the
    points it judges), ``judged_min1`` (the points ``min_history=1`` judges: every point after a run's first
    past the warm-up), ``runs`` and ``single`` (runs with fewer than 2 finite points: no setting judges them).
    On the BigScience chronicles (excerpts of 1-11 points) this gives ``min_history=1, warmup_steps=0``,
    which judges 7010 of tr8-104B, the second point of its excerpt (docs/spikes.md).
    """
    runs = []
    for s in series:
        steps, values = (s.steps, s.values) if isinstance(s, Scored) else s
        steps, values = np.asarray(steps), np.asarray(values, dtype=np.float64)
        runs.append(steps[np.isfinite(values)])
    multi = [st for st in runs if st.size >= 2]

    def deepest(st: np.ndarray, warm: int) -> int:      # the largest index k >= 1 whose step is past warm-up
        k = np.flatnonzero(st[1:] >= warm)
        return int(k[-1]) + 1 if k.size else 0

    warm = cfg.warmup_steps if all(deepest(st, cfg.warmup_steps) for st in multi) else 0
    hist = min([cfg.min_history] + [deepest(st, warm) for st in multi]) if multi else cfg.min_history
    hist = max(hist, 1)

    def judged(h: int) -> int:
        return int(sum(int((st[h:] >= warm).sum()) for st in runs))

    return {"min_history": hist, "warmup_steps": int(warm), "judged": judged(hist), "judged_min1": judged(1),
            "runs": len(runs), "single": len(runs) - len(multi)}
