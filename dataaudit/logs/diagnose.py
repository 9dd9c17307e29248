"""Curve diagnoses beyond single spikes: divergence, plateaus, restarts and rewinds, grad-norm vs loss,
overfitting and the generalization gap, averaged/sampled logging, and spikes shared across runs.

All functions take plain numpy arrays in log order and return lists of JSON-able dicts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from .spikes import Scored
from .verdict import VerdictConfig


@dataclass(frozen=True, kw_only=True)
class DiagnoseConfig:
    """Settings of the curve diagnoses; every report carries them."""

    divergence_rise: float = 0.25     # trailing median this fraction above its best so far = climbing
    divergence_points: int = 50       # ...for this many points in a row (or to the end of the log) = divergence
    plateau_points: int = 20          # this many points in a row with the same value = a frozen curve
    plateau_tol: float = 1e-6         # relative change under which two values count as the same
    restart_gap: float = 20.0         # a wall-time gap this many times the median interval = a restart
    grad_window: int = 5              # a grad-norm spike this many steps before a loss spike "precedes" it
    group_tolerance: int = 0          # spikes of different runs this many steps apart (or fewer) are grouped
    overfit_rise: float = 0.02        # eval loss this fraction above its best, twice in a row, while train falls
    leak_margin: float = 0.02         # eval this fraction below train (smoothed) flags the leakage signal (per-batch noise is ~1-2%)
    leak_fraction: float = 0.5        # ...at this fraction of eval points after warm-up
    verdict: VerdictConfig = field(default_factory=VerdictConfig)   # the per-run verdict (logs/verdict.py)

    def __post_init__(self) -> None:
        for k in ("divergence_points", "plateau_points"):
            if getattr(self, k) < 2:
                raise ConfigError(f"{k}={getattr(self, k)} must be >= 2")
        if not 0 < self.leak_fraction <= 1:
            raise ConfigError(f"leak_fraction={self.leak_fraction} must be in (0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _runs_of_true(mask: np.ndarray) -> list[tuple[int, int]]:
    """[(start, end_inclusive)] of the runs of True in ``mask``."""
    if mask.size == 0:
        return []
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def divergence(sc: Scored, cfg: DiagnoseConfig) -> list[dict[str, Any]]:
    """NaN/inf values, and sustained climbs of the trailing median above its best value so far."""
    out: list[dict[str, Any]] = []
    bad = ~np.isfinite(sc.values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        kind = "nan" if np.isnan(sc.values[i]) else "inf"
        out.append({"kind": kind, "step": int(sc.steps[i]), "count": int(bad.sum()),
                    "value": float(sc.values[i]),
                    "detail": f"first non-finite value at step {int(sc.steps[i])}; {int(bad.sum())} in all"})
    med = sc.median
    ok = np.isfinite(med) & sc.judged
    if ok.sum() < 2:
        return out
    best = np.where(ok, med, np.inf)
    best = np.minimum.accumulate(best)
    rise = np.log1p(cfg.divergence_rise) if sc.log else None
    with np.errstate(invalid="ignore"):
        above = (med - best > rise) if sc.log else (med - best > cfg.divergence_rise * np.abs(best))
    above &= ok
    n = sc.values.size
    for s, e in _runs_of_true(above):
        long_enough = (e - s + 1) >= cfg.divergence_points or (e == n - 1 and e - s + 1 >= 3)
        if not long_enough:
            continue
        to_end = e == n - 1
        out.append({"kind": "climb", "step": int(sc.steps[s]), "end_step": int(sc.steps[e]),
                    "points": int(e - s + 1), "baseline": float(np.exp(best[s]) if sc.log else best[s]),
                    "value": float(sc.values[e]), "to_end": bool(to_end),
                    "detail": ("the loss climbs and does not come back before the log ends" if to_end else
                               f"the loss stayed high for {e - s + 1} points, then came back")})
    return out


def plateaus(steps: np.ndarray, values: np.ndarray, cfg: DiagnoseConfig) -> list[dict[str, Any]]:
    """Stretches of ``plateau_points`` or more values that do not change (frozen training or logging)."""
    v = np.asarray(values, dtype=float)
    if v.size < cfg.plateau_points:
        return []
    with np.errstate(invalid="ignore", divide="ignore"):
        same = np.abs(np.diff(v)) <= cfg.plateau_tol * np.maximum(np.abs(v[:-1]), 1e-12)
    out = []
    for s, e in _runs_of_true(same):
        npts = e - s + 2  # diff index e compares points e and e+1
        if npts >= cfg.plateau_points:
            out.append({"kind": "plateau", "step": int(steps[s]), "end_step": int(steps[e + 1]),
                        "points": int(npts), "value": float(v[s]),
                        "detail": f"the value stays at {v[s]:.6g} for {npts} points"})
    return out


def restarts(steps: np.ndarray, wall: np.ndarray, cfg: DiagnoseConfig,
             markers: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Rewinds (steps going backwards), repeated steps, wall-time gaps and reader markers."""
    out: list[dict[str, Any]] = []
    d = np.diff(steps)
    for i in np.flatnonzero(d < 0):
        out.append({"kind": "rewind", "step": int(steps[i + 1]), "from_step": int(steps[i]),
                    "replayed_steps": int(steps[i] - steps[i + 1] + 1),
                    "detail": f"steps go back from {int(steps[i])} to {int(steps[i + 1])}: a restart "
                              f"from an earlier checkpoint; the points after it replay those steps"})
    rep = np.flatnonzero(d == 0)
    if rep.size:
        out.append({"kind": "repeated_step", "step": int(steps[rep[0] + 1]), "count": int(rep.size),
                    "detail": f"{rep.size} point(s) repeat the previous step (a restart at the same "
                              f"step, or two writers)"})
    w = np.asarray(wall, dtype=float)
    fw = np.isfinite(w)
    if fw.sum() > 10:
        idx = np.flatnonzero(fw)
        dt = np.diff(w[idx])
        pos = dt[dt > 0]
        if pos.size:
            med = float(np.median(pos))
            for j in np.flatnonzero(dt > cfg.restart_gap * med):
                i = idx[j + 1]
                out.append({"kind": "restart", "step": int(steps[i]), "gap_seconds": float(dt[j]),
                            "detail": f"{dt[j]:.0f} s without a point before step {int(steps[i])} "
                                      f"(median interval {med:.3g} s): the job probably stopped and resumed"})
    for m in markers or []:
        out.append({"kind": m.get("kind", "marker"), "step": m.get("step"), "detail": m.get("detail", "")})
    return out


def grad_relation(loss_spikes: list[dict[str, Any]], grad_spikes: list[dict[str, Any]],
                  cfg: DiagnoseConfig, stride: int = 1) -> None:
    """Annotate each loss spike (in place) with the nearest grad-norm spike and whether it precedes,
    coincides with or follows it (within ``grad_window`` steps, or one logging ``stride`` if longer)."""
    window = max(cfg.grad_window, int(stride))
    gsteps = np.array(sorted(g["step"] for g in grad_spikes), dtype=np.int64)
    for s in loss_spikes:
        s["grad_norm_spike"] = None
        s["grad_relation"] = "none" if gsteps.size else "no grad-norm metric or spikes"
        if not gsteps.size:
            continue
        j = np.searchsorted(gsteps, s["step"])
        cands = [gsteps[k] for k in (j - 1, j) if 0 <= k < gsteps.size]
        near = min(cands, key=lambda g: abs(int(g) - s["step"]))
        delta = int(near) - s["step"]
        if abs(delta) <= window:
            s["grad_norm_spike"] = int(near)
            s["grad_relation"] = "coincides" if delta == 0 else ("precedes" if delta < 0 else "follows")


def group_across_runs(spikes: list[dict[str, Any]], n_runs: int, cfg: DiagnoseConfig) -> list[dict[str, Any]]:
    """Group spikes of different runs at the same step (within ``group_tolerance``). ``spikes`` carry
    ``run`` and ``step``; each gets a ``group`` id (or None). Returns groups with two or more runs."""
    order = sorted(range(len(spikes)), key=lambda i: spikes[i]["step"])
    groups: list[list[int]] = []
    for i in order:
        if groups and spikes[i]["step"] - spikes[groups[-1][0]]["step"] <= cfg.group_tolerance:
            groups[-1].append(i)
        else:
            groups.append([i])
    out = []
    for s in spikes:
        s["group"] = None
    for g in groups:
        runs = sorted({spikes[i]["run"] for i in g})
        if len(runs) < 2:
            continue
        gid = len(out)
        for i in g:
            spikes[i]["group"] = gid
        out.append({"group": gid, "step": int(min(spikes[i]["step"] for i in g)), "runs": runs,
                    "n_runs": len(runs), "of_runs": n_runs,
                    "median_peak_ratio": float(np.median([spikes[i]["peak"] / spikes[i]["baseline"]
                                                          for i in g])),
                    "max_score": float(max(spikes[i]["score"] for i in g))})
    return out


def overfitting(train: Scored, eval_steps: np.ndarray, eval_values: np.ndarray,
                cfg: DiagnoseConfig, warmup_steps: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(findings, gap curve, warnings) from a train series (scored) and an eval series of one run."""
    order = np.argsort(eval_steps, kind="stable")
    es, ev = np.asarray(eval_steps)[order], np.asarray(eval_values, dtype=float)[order]
    keep = np.isfinite(ev)
    es, ev = es[keep], ev[keep]
    findings: list[dict[str, Any]] = []
    warnings: list[str] = []
    if es.size == 0:
        return findings, [], warnings
    # smoothed train at each eval step: trailing median at the last train point at or before it
    tsteps = train.steps
    tord = np.argsort(tsteps, kind="stable")
    ts = tsteps[tord]
    tm = train.median[tord]
    tx = train.x[tord]
    smooth = np.where(np.isfinite(tm), tm, tx)
    pos = np.searchsorted(ts, es, side="right") - 1
    valid = pos >= 0
    tr = np.full(es.size, np.nan)
    tr[valid] = smooth[pos[valid]]
    if train.log:
        tr = np.exp(tr)
    gap = [{"step": int(s), "train": float(t), "eval": float(e), "gap": float(e - t)}
           for s, t, e in zip(es, tr, ev) if np.isfinite(t)]
    after = (es >= warmup_steps) & np.isfinite(tr)
    if after.sum() >= 2:
        below = ev[after] < tr[after] * (1 - cfg.leak_margin)
        frac = float(below.mean())
        if frac >= cfg.leak_fraction:
            warnings.append(f"eval loss sits below the (smoothed) train loss at {below.sum()} of {after.sum()} "
                            f"eval points after warm-up: a leakage signal (eval data seen in training, or an "
                            f"easier eval set); run `dataaudit split` on the train and eval data")
    best = np.minimum.accumulate(ev)
    best_at = np.maximum.accumulate(np.where(ev <= best, np.arange(ev.size), 0))  # where the best was set
    rising = ev > best * (1 + cfg.overfit_rise)
    for i in range(1, ev.size):
        if rising[i] and rising[i - 1] and np.isfinite(tr[i]) and np.isfinite(tr[best_at[i]]) \
                and tr[i] <= tr[best_at[i]]:
            findings.append({"kind": "overfitting", "step": int(es[i - 1]), "best_eval_step": int(es[best_at[i]]),
                             "best_eval": float(best[i]), "eval": float(ev[i]), "train": float(tr[i]),
                             "detail": f"eval loss rose from {best[i]:.4g} (step {int(es[best_at[i]])}) to "
                                       f"{ev[i]:.4g} while the train loss kept falling"})
            break
    return findings, gap, warnings


def unique_steps(steps: np.ndarray) -> np.ndarray:
    """``np.unique(steps)`` by one sort (numpy 2's hash-based unique takes ~0.3 s on 1M steps; a log's steps
    are mostly sorted already, which a sort handles fast)."""
    s = np.sort(np.asarray(steps))
    if s.size < 2:
        return s
    return s[np.concatenate(([True], s[1:] != s[:-1]))]


def logging_warnings(run: str, steps: np.ndarray, averaged_over: int | None, fmt: str) -> list[str]:
    """Warn when the curve is averaged over windows or sampled: both hide one-step spikes."""
    out = []
    if averaged_over and averaged_over > 1:
        out.append(f"run {run}: each logged loss is a mean over {averaged_over} steps (logging_steps="
                   f"{averaged_over}); a one-step spike is divided by about {averaged_over}: log every step "
                   f"(logging_steps=1) to see spikes")
        return out
    u = unique_steps(steps)
    if u.size > 2:
        stride = int(np.median(np.diff(u)))
        if stride > 1:
            what = ("averaged over the log interval (Megatron prints the mean loss since the last line)"
                    if fmt == "megatron" else "sampled")
            out.append(f"run {run}: the loss is logged every {stride} steps and {what}; spikes shorter "
                       f"than {stride} steps can be hidden")
    return out
