"""One verdict per run from its train and eval curves, as the standard diagnosis table reads them.

``judge_run(train_steps, train_values, eval_steps, eval_values, ...)`` returns a JSON-able dict:
``verdict`` (one of ``VERDICTS``), ``also`` (the other patterns that apply), ``evidence`` (steps, values,
slopes, the gap), ``fix`` (the usual fix in words), ``caveat`` and ``cannot_tell`` (the patterns the data
cannot support, and why). Every threshold is a ``VerdictConfig`` field; ``RULES`` gives each pattern's
rule, fix and source. Data only: the prose of the report is written by ``report/sections/diagnosis.py``.

Curves are read as losses in nats (cross-entropy), on the log scale where every value is > 0. The train
level at a step is a robust local linear fit of log train loss over a window of points centred on the
step (one-sided at the ends): unlike a trailing median it does not lag a falling curve, so the gap
(eval minus train level) is not inflated by the smoothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from .levelfit import fit_rows as _fit_rows

VERDICTS = ("healthy", "overfitting", "severe_overfitting", "underfitting", "oscillating", "val_spikes",
            "early_plateau", "fast_collapse", "val_below_train", "spikes", "divergence", "cannot_judge")

#: Order in which patterns take the verdict (the first that applies wins; the others go to ``also``).
PRIORITY = ("divergence", "severe_overfitting", "fast_collapse", "overfitting", "oscillating", "val_spikes",
            "underfitting", "early_plateau", "val_below_train", "spikes")

#: Patterns that need an eval curve.
NEEDS_EVAL = ("overfitting", "severe_overfitting", "val_spikes", "val_below_train", "healthy")

_GBC = "Goodfellow, Bengio & Courville, Deep Learning (2016)"
_KARPATHY = "Karpathy, 'A Recipe for Training Neural Networks' (2019)"
RULES: dict[str, dict[str, str]] = {
    "healthy": {
        "rule": "train and eval both falling (or both converged), the eval level within the rise tolerance "
                "(overfit_rise, or noise_z standard errors if larger) of its best, the gap changing by less than "
                "gap_growth; a gap above gap_small of the train loss is named in the caveat",
        "fix": "nothing to fix: keep training while eval still falls",
        "source": f"{_GBC} ch. 11.4 and 7.8 (the validation curve tracks training); {_KARPATHY}"},
    "overfitting": {
        "rule": "train still falling while the eval level rises more than the rise tolerance (overfit_rise, or "
                "noise_z standard errors) above its best at two evals in a row, or stays flat (under flat_tol over the last third) while the gap widens by gap_growth",
        "fix": "stop at the best eval step (early stopping), add regularization (weight decay, dropout), "
               "or more data",
        "source": f"{_GBC} ch. 7.8 (early stopping), 5.2 and 11.4.1 (capacity); {_KARPATHY} step 4 'regularize'"},
    "severe_overfitting": {
        "rule": "train level below near_zero_loss while eval stays severe_gap_ratio times above it",
        "fix": "the model memorizes the training set: a smaller model or stronger regularization, or much "
               "more data; stop at the best eval step",
        "source": f"{_GBC} ch. 5.2 (capacity and overfitting); Zhang et al., 'Understanding deep learning "
                  f"requires rethinking generalization' (ICLR 2017)"},
    "underfitting": {
        "rule": "train flat over the last third (change under flat_tol) after falling less than "
                "underfit_max_drop of its initial value, eval flat as well",
        "fix": "a bigger model, training longer, or a larger learning rate; check the loss at init",
        "source": f"{_GBC} ch. 11.4.1 (increase capacity when training error is high); {_KARPATHY}"},
    "oscillating": {
        "rule": "train point-to-point noise (robust, successive differences of log loss) above osc_noise, and "
                "eval rising by osc_eval_rise or more at osc_eval_fraction of its steps",
        "fix": "the learning rate is too high or the batch too small: lower the learning rate, warm up "
               "longer, or use a larger batch",
        "source": f"{_GBC} ch. 8.1.3 (minibatch noise) and 11.4.1 (too large a learning rate); {_KARPATHY}"},
    "val_spikes": {
        "rule": "an eval point val_spike_rise above both neighbours (it comes back down) while train has no "
                "spike within one eval interval and train noise stays under osc_noise",
        "fix": "a distribution shift between the splits, or the model not in eval mode (dropout, batch norm, "
               "model.eval()): audit the splits with `dataaudit split`",
        "source": "PyTorch docs, Module.eval(); the split-shift reading of the diagnosis tables "
                  f"({_KARPATHY}, 'become one with the data')"},
    "early_plateau": {
        "rule": "a stretch of plateau_min_fraction of the run, within its first early_fraction, where the "
                "train level changes by less than plateau_tol, above the midpoint of the total drop, followed "
                "by a further drop of plateau_drop_after",
        "fix": "a learning rate too small, a saddle, or unshuffled data presenting the same easy examples "
               "first: raise the learning rate or warm up less, shuffle the data",
        "source": f"{_GBC} ch. 8.2.3 (plateaus, saddle points) and 8.1.3 (shuffle minibatches); Dauphin et al., "
                  f"'Identifying and attacking the saddle point problem' (NeurIPS 2014)"},
    "fast_collapse": {
        "rule": "the train level falls below near_zero_loss within the first collapse_fraction of the run",
        "fix": "memorization or leakage (duplicated or trivially predictable data, eval data in train): "
               "run `dataaudit split` and look at duplicates",
        "source": "Zhang et al. (ICLR 2017): memorization drives train loss to zero; Kaufman et al., "
                  "'Leakage in data mining' (TKDD 2012)"},
    "val_below_train": {
        "rule": "eval below the train level at leak_fraction or more of the eval points after warm-up; an "
                "alarm (the verdict) when the median gap is leak_margin or more of the train loss, otherwise "
                "reported with its size under `also`",
        "fix": "the leakage signal: eval data seen in training, or an easier eval set: run `dataaudit split` "
               "on the train and eval data",
        "source": "Keras FAQ, 'Why is my training loss much higher than my testing loss?' (dropout and "
                  "regularization act only in training); Kaufman et al. (TKDD 2012) on leakage"},
    "spikes": {
        "rule": "loss spikes of the detector (see SpikeConfig); the verdict when one did not recover within "
                "spike_recover_steps or the run has more than spike_verdict_per_1k per 1,000 judged points, "
                "otherwise under `also`",
        "fix": "restart from a checkpoint about 100 steps before the spike and skip the 200-500 batches "
               "around it; look at the data at that step (`dataaudit spikes --data ... --order ...`)",
        "source": "Chowdhery et al., PaLM (2022) section 5.1 'Training instability'"},
    "divergence": {
        "rule": "a NaN/inf loss, or the trailing median climbing for good (DiagnoseConfig.divergence_*)",
        "fix": "lower the learning rate, warm up longer, clip gradients; restart from the last good "
               "checkpoint",
        "source": f"{_GBC} ch. 8.2.4 and 10.11.1 (exploding gradients, clipping); PaLM (2022) section 5.1"},
    "cannot_judge": {
        "rule": "fewer than min_train_points train points after warm-up; or no pattern found on the train "
                "curve and no eval curve (or fewer than min_eval_points evals) to judge the rest",
        "fix": "log more points, log an eval loss (pass --eval-metric NAME if it has another name), "
               "evaluate more often",
        "source": "a verdict the data cannot support is not 'healthy'"},
}


@dataclass(frozen=True, kw_only=True)
class VerdictConfig:
    """Thresholds of the per-run verdict (rules and sources in ``RULES``); every report carries them."""

    min_train_points: int = 20        # fewer train points after warm-up: no verdict (a slope of 10 noisy points is noise)
    min_eval_points: int = 3          # fewer evals after warm-up: the eval patterns cannot be judged (a turn needs 3)
    smooth_divisor: int = 15          # train level window = points / this, clipped below: 100-500 steps on 1.5k-20k-step logs
    smooth_min: int = 5               # smallest window of the train level (points)
    smooth_max: int = 500             # largest window (points): longer windows blur the turn of an overfitting run
    flat_tol: float = 0.02            # a curve changing by less than this fraction over its last third is flat
    gap_small: float = 0.10           # |eval - train| under this fraction of the train loss is a small gap
    gap_growth: float = 0.02          # the relative gap changing by more than this between halves is not stable
    overfit_rise: float = 0.02        # eval this fraction above its best, twice in a row, while train falls: overfitting
    near_zero_loss: float = 0.1       # train loss (nats) below this is 'near zero': natural text is >= ~1 nat/token held out
    severe_gap_ratio: float = 5.0     # eval this many times above a near-zero train loss: severe overfitting
    collapse_fraction: float = 0.25   # near zero within this fraction of the run: a fast collapse
    underfit_max_drop: float = 0.5    # train that fell by less than this fraction of its initial loss is still high
    osc_noise: float = 0.10           # train noise (log units, ~10%) above this oscillates widely; LM batches are ~1-3%
    osc_eval_rise: float = 0.05       # an eval step rising this fraction counts as an eval oscillation
    osc_eval_fraction: float = 0.3    # ...at this fraction of the eval steps (and at least twice)
    val_spike_rise: float = 0.10      # an eval point this fraction above both neighbours is a val spike
    plateau_tol: float = 0.01         # train level changing less than this over the stretch: a plateau
    plateau_min_fraction: float = 0.1  # ...for this fraction of the run
    early_fraction: float = 0.3       # ...starting within this fraction of the run
    plateau_drop_after: float = 0.10  # ...and followed by a further drop of this fraction (else: underfitting)
    leak_margin: float = 0.02         # eval this fraction below train is the alarm (per-batch noise is ~1-2%)
    leak_fraction: float = 0.5        # ...at this fraction of the evals after warm-up
    spike_recover_steps: int = 100    # a spike not back within this many steps makes spikes the verdict (PaLM rewinds)
    spike_verdict_per_1k: float = 10.0  # more spikes than this per 1,000 judged points: spikes is the verdict
    eval_max_interval: int = 1000     # evals further apart (steps) are too sparse to see a spike or a turn
    eval_min_count: int = 10          # fewer evals over the run: too sparse to see the turn of an overfitting run
    noise_z: float = 3.0              # eval tolerances widen to this many standard errors of the eval level (noisy evals)
    curve_points: int = 200           # points of the gap curve kept in the evidence (the report's size stays fixed)

    def __post_init__(self) -> None:
        if self.min_train_points < 3 or self.min_eval_points < 2:
            raise ConfigError("min_train_points must be >= 3 and min_eval_points >= 2")
        if not 1 <= self.smooth_min <= self.smooth_max:
            raise ConfigError(f"smooth_min={self.smooth_min} must be between 1 and smooth_max={self.smooth_max}")
        for k in ("collapse_fraction", "underfit_max_drop", "osc_eval_fraction", "plateau_min_fraction",
                  "early_fraction", "leak_fraction"):
            if not 0 < getattr(self, k) <= 1:
                raise ConfigError(f"{k}={getattr(self, k)} must be in (0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rules() -> dict[str, dict[str, str]]:
    """{pattern: {rule, fix, source}} for the report."""
    return {k: dict(v) for k, v in RULES.items()}


# --- curve helpers ---------------------------------------------------------------------------------

class _Curve:
    """One series (finite points, sorted by step) with a lag-free level at any step."""

    def __init__(self, steps: np.ndarray, values: np.ndarray, cfg: VerdictConfig) -> None:
        o = np.argsort(steps, kind="stable")
        self.s = np.asarray(steps, dtype=float)[o]
        self.v = np.asarray(values, dtype=float)[o]
        self.log = bool(self.v.size) and bool((self.v > 0).all())
        self.x = np.log(self.v) if self.log else self.v
        self.w = int(np.clip(self.v.size // cfg.smooth_divisor, cfg.smooth_min, cfg.smooth_max))

    def level(self, at: float) -> float:
        return float(self.levels([at])[0])

    def levels(self, at: Sequence[float], rows: int = 2048) -> np.ndarray:
        """The level at each step of ``at``: ``_fit`` over the window of each, all windows at once (numpy)."""
        at = np.asarray(at, dtype=float)
        n, w = self.s.size, min(self.w, self.s.size)
        p = np.searchsorted(self.s, at)
        a = np.clip(p - w // 2, 0, n - w)
        out = np.empty(at.size)
        for k in range(0, at.size, rows):
            idx = a[k:k + rows, None] + np.arange(w)
            out[k:k + rows] = _fit_rows(self.s[idx], self.x[idx], at[k:k + rows])
        return np.exp(out) if self.log else out

    def noise(self) -> float:
        """Robust point-to-point noise (von Neumann successive differences, median form) in log units."""
        if self.x.size < 3:
            return float("nan")
        return float(1.4826 * np.median(np.abs(np.diff(self.x))) / np.sqrt(2))


def _rel(a: float, b: float) -> float:
    """Relative change from a to b (negative = fell)."""
    return float((b - a) / abs(a)) if a else float("nan")


def _r(x: float, d: int = 5) -> float | None:
    return None if x is None or not np.isfinite(x) else float(round(float(x), d))


# --- the verdict ----------------------------------------------------------------------------------

def judge_run(train_steps, train_values, eval_steps=None, eval_values=None, *,
              spikes: Sequence[dict[str, Any]] = (), events: Sequence[dict[str, Any]] = (), judged: int | None = None,
              cfg: VerdictConfig = VerdictConfig(), warmup_steps: int = 0, train_metric: str = "loss",
              eval_metric: str | None = None) -> dict[str, Any]:
    """The verdict of one run (see the module docstring). ``spikes`` and ``events`` are the run's detector
    findings (spike dicts with ``recovered``/``steps_to_recover``; events with ``kind``)."""
    ts, tv = np.asarray(train_steps, dtype=float), np.asarray(train_values, dtype=float)
    ok = np.isfinite(tv)
    found: dict[str, dict[str, Any]] = {}
    cannot: dict[str, str] = {}
    caveats: list[str] = []
    div = [e for e in events if e.get("kind") in ("nan", "inf") or e.get("kind") == "climb"]
    if div:
        found["divergence"] = {"kind": div[0]["kind"], "step": div[0].get("step"), "detail": div[0].get("detail", "")}
        if div[0]["kind"] == "climb":
            found["divergence"].update(points=div[0].get("points"), to_end=div[0].get("to_end"))
    post = ok & (ts >= warmup_steps)
    if post.sum() < cfg.min_train_points and ok.sum() >= cfg.min_train_points:
        post = ok                                   # a short log: judge it from the first step
    evidence: dict[str, Any] = {"train_metric": train_metric, "eval_metric": eval_metric,
                                "train_points": int(ok.sum())}
    if post.sum() < cfg.min_train_points:
        why = (f"only {int(post.sum())} finite train point(s) after warm-up; a verdict needs "
               f"{cfg.min_train_points} (VerdictConfig.min_train_points)")
        if "divergence" not in found:
            return _result(found, {"all": why}, evidence, caveats, spikes, judged, cfg, forced="cannot_judge")
        # a NaN or a climb needs no history, so it is the verdict; the caveat says what the short log limits
        caveats.append(_short_divergence(found["divergence"], int(post.sum()), cfg))
        others = {p: why for p in (*PRIORITY, "healthy") if p != "divergence"}
        return _result(found, others, evidence, caveats, spikes, judged, cfg, forced="divergence",
                       cannot_caveat=False)
    tr = _Curve(ts[post], tv[post], cfg)
    init = float(tv[ok][0])                     # the loss at init (Karpathy: verify the loss @ init)
    first, last = float(tr.s[0]), float(tr.s[-1])
    span = max(last - first, 1.0)
    s_a = first + 2 * span / 3
    t_end, t_a = tr.level(last), tr.level(s_a)
    recent = _rel(t_a, t_end)
    drop_total = -_rel(init, t_end)
    noise = tr.noise()
    t_falling, t_flat = recent < -cfg.flat_tol, abs(recent) <= cfg.flat_tol
    evidence["train"] = {"first_step": int(first), "last_step": int(last), "initial": _r(init), "end": _r(t_end),
                         "at_two_thirds": _r(t_a), "change_last_third": _r(recent), "drop_from_initial": _r(drop_total),
                         "noise": _r(noise), "window_points": tr.w,
                         "trend": "falling" if t_falling else ("flat" if t_flat else "rising")}
    # fast collapse / near zero
    grid = np.linspace(first, last, 201)
    lv = tr.levels(grid)
    below = np.flatnonzero(lv < cfg.near_zero_loss)
    if below.size and (grid[below[0]] - first) / span <= cfg.collapse_fraction:
        found["fast_collapse"] = {"step": int(grid[below[0]]), "fraction_of_run": _r((grid[below[0]] - first) / span, 3),
                                  "train_end": _r(t_end)}
    # oscillation of train
    t_osc = bool(np.isfinite(noise) and noise > cfg.osc_noise)
    # early plateau (on the level curve over the first early_fraction of the run)
    L = max(2, int(round(cfg.plateau_min_fraction * 200)))
    mid = t_end + 0.5 * (init - t_end)
    for i in range(0, int(cfg.early_fraction * 200) + 1):
        if i + L > 200:
            break
        a, b = lv[i], lv[i + L]
        if abs(_rel(a, b)) <= cfg.plateau_tol and a >= mid and -_rel(b, t_end) >= cfg.plateau_drop_after:
            found["early_plateau"] = {"from_step": int(grid[i]), "to_step": int(grid[i + L]), "level": _r(a),
                                      "then_falls_to": _r(t_end)}
            break
    # spikes
    mine = list(spikes)
    slow = [s for s in mine if not s.get("recovered") or (s.get("steps_to_recover") or 0) > cfg.spike_recover_steps]
    rate = 1000 * len(mine) / judged if judged else None
    if mine:
        found["spikes"] = {"count": len(mine), "per_1k_judged": _r(rate, 3), "not_recovered_fast": len(slow),
                           "steps": [int(s["step"]) for s in sorted(mine, key=lambda s: -s.get("score", 0))[:10]],
                           "significant": bool(slow) or (rate is not None and rate > cfg.spike_verdict_per_1k)}
    # eval
    es = np.asarray(eval_steps if eval_steps is not None else [], dtype=float)
    ev = np.asarray(eval_values if eval_values is not None else [], dtype=float)
    keep = np.isfinite(ev) & (es >= warmup_steps) & (es >= first) & (es <= last + tr.w)
    if eval_metric is None and not es.size:
        cannot.update({p: "no eval metric in this run (pass --eval-metric NAME if it has another name)"
                       for p in NEEDS_EVAL})
    elif keep.sum() < cfg.min_eval_points:
        cannot.update({p: f"only {int(keep.sum())} eval point(s) after warm-up; needs {cfg.min_eval_points} "
                          f"(VerdictConfig.min_eval_points)" for p in NEEDS_EVAL})
    else:
        o = np.argsort(es[keep], kind="stable")
        es, ev = es[keep][o], ev[keep][o]
        _judge_eval(es, ev, tr, mine, cfg, found, evidence, caveats, t_falling=t_falling, t_flat=t_flat,
                    t_end=t_end, s_a=s_a, span=span, noise=noise, t_osc=t_osc)
    if t_osc and ("eval" not in evidence or evidence["eval"].get("oscillates")):
        found["oscillating"] = {"train_noise": _r(noise), "eval_oscillates": evidence.get("eval", {}).get("oscillates")}
    if t_flat and drop_total < cfg.underfit_max_drop and evidence.get("eval", {}).get("flat", True):
        found["underfitting"] = {"train_end": _r(t_end), "drop_from_initial": _r(drop_total),
                                 "change_last_third": _r(recent)}
    healthy = evidence.get("eval", {}).get("healthy", False) and not (t_osc or "underfitting" in found)
    return _result(found, cannot, evidence, caveats, spikes, judged, cfg, healthy=healthy)


def _judge_eval(es, ev, tr: _Curve, spikes, cfg: VerdictConfig, found, evidence, caveats, *, t_falling, t_flat,
                t_end, s_a, span, noise, t_osc) -> None:
    trl = tr.levels(es)
    gap = ev - trl
    rel = gap / np.abs(trl)
    n = es.size
    half = n // 2
    g_change = float(np.median(rel[half:]) - np.median(rel[:max(half, 1)])) if n >= 4 else 0.0
    g_med, g_rel = float(np.median(gap)), float(np.median(rel))
    frac_below = float((gap < 0).mean())
    clean = ev.copy()
    # val spikes: an eval point above both neighbours while train is smooth there
    tsteps = {int(s["step"]) for s in spikes}
    for i in range(1, n - 1):
        ref = max(ev[i - 1], ev[i + 1])
        if ev[i] > ref * (1 + cfg.val_spike_rise) and not t_osc:
            lo, hi = es[i - 1], es[i + 1]
            if not any(lo <= s <= hi for s in tsteps):
                found.setdefault("val_spikes", {"steps": [], "values": [], "neighbours": []})
                v = found["val_spikes"]
                v["steps"].append(int(es[i]))
                v["values"].append(_r(float(ev[i])))
                v["neighbours"].append(_r(float(ref)))
                clean[i] = ref
    ec = _Curve(es, clean, cfg)
    ec.w = int(np.clip(n // 6, 3, 9))               # eval level: a few evals, so one noisy eval does not turn it
    el = ec.levels(es)
    best_i = int(np.argmin(el))
    e_end = float(el[-1])
    e_a = ec.level(s_a)
    e_recent = _rel(e_a, e_end)
    e_noise = ec.noise()
    # a local-fit level at the end of a window of w evals has a standard error of about 2 sigma / sqrt(w)
    rise_tol = max(cfg.overfit_rise, cfg.noise_z * 2 * (e_noise if np.isfinite(e_noise) else 0) / np.sqrt(ec.w))
    d = np.diff(np.log(ev)) if (ev > 0).all() else np.diff(ev) / np.abs(ev[:-1])
    rises = int((d >= cfg.osc_eval_rise).sum())
    e_osc = rises >= 2 and rises >= cfg.osc_eval_fraction * d.size
    step_k = max(1, int(np.ceil(n / cfg.curve_points)))
    interval = float(np.median(np.diff(es))) if n > 1 else float("nan")
    evidence["eval"] = {"points": n, "first_step": int(es[0]), "last_step": int(es[-1]), "end": _r(e_end),
                        "last": _r(float(ev[-1])), "lowest": _r(float(ev.min())), "best": _r(float(el[best_i])),
                        "best_step": int(es[best_i]), "change_last_third": _r(e_recent),
                        "interval_steps": _r(interval, 1), "oscillates": bool(e_osc), "rises": rises,
                        "noise": _r(e_noise), "rise_tolerance": _r(rise_tol),
                        "flat": abs(e_recent) <= cfg.flat_tol}
    evidence["gap"] = {"median": _r(g_med), "median_relative": _r(g_rel), "end": _r(float(gap[-1])),
                       "end_relative": _r(float(rel[-1])), "change_relative": _r(g_change),
                       "fraction_eval_below_train": _r(frac_below, 4), "eval_below_train": int((gap < 0).sum()),
                       "of": n, "curve": {"step": [int(s) for s in es[::step_k]],
                                          "gap": [_r(float(g)) for g in gap[::step_k]]}}
    if interval > cfg.eval_max_interval or n < cfg.eval_min_count:
        caveats.append(f"evals are sparse ({n} evals, every {interval:.0f} steps): a val spike or the turn of an "
                       f"overfitting run between two evals is not seen; evaluate every <= {cfg.eval_max_interval} "
                       f"steps and at least {cfg.eval_min_count} times")
    # severe overfitting: train near zero, eval high
    if t_end < cfg.near_zero_loss and e_end >= cfg.severe_gap_ratio * max(t_end, cfg.near_zero_loss):
        found["severe_overfitting"] = {"train_end": _r(t_end), "eval_end": _r(e_end), "best_eval_step": int(es[best_i])}
    # overfitting: eval rising above its best twice in a row while train keeps falling; or flat with a widening gap
    best = np.minimum.accumulate(el)
    best_at = np.maximum.accumulate(np.where(el <= best, np.arange(n), 0))
    up = el > best * (1 + rise_tol)
    for i in range(1, n):
        if up[i] and up[i - 1] and trl[i] <= trl[best_at[i]]:
            found["overfitting"] = {"how": "eval rising", "best_eval_step": int(es[best_at[i]]),
                                    "best_eval": _r(float(best[i])), "turn_step": int(es[i - 1]),
                                    "eval_end": _r(e_end), "train_at_best": _r(float(trl[best_at[i]])),
                                    "train_end": _r(t_end)}
            break
    if "overfitting" not in found and t_falling and e_recent > -cfg.flat_tol and g_change > cfg.gap_growth:
        found["overfitting"] = {"how": "eval flat while the gap widens", "best_eval_step": int(es[best_i]),
                                "best_eval": _r(float(el[best_i])), "eval_end": _r(e_end), "train_end": _r(t_end),
                                "gap_change_relative": _r(g_change)}
    # validation below train: reported with its size whenever eval sits below train at most evals
    if frac_below >= cfg.leak_fraction and g_rel < 0:
        found["val_below_train"] = {"median_gap": _r(g_med), "median_relative": _r(g_rel),
                                    "eval_below_train": int((gap < 0).sum()), "of": n,
                                    "alarm": bool(-g_rel >= cfg.leak_margin), "margin": cfg.leak_margin}
    e_ok = e_end <= float(el[best_i]) * (1 + rise_tol)
    falling_or_done = (t_falling or t_flat) and e_recent <= max(cfg.flat_tol, rise_tol)
    small = abs(float(np.median(rel[half:]))) <= cfg.gap_small
    stable = abs(g_change) <= cfg.gap_growth
    evidence["eval"]["healthy"] = bool(e_ok and falling_or_done and stable)
    evidence["gap"]["small"], evidence["gap"]["stable"] = bool(small), bool(stable)
    if e_ok and falling_or_done and stable and not small:
        caveats.append(f"a stable generalization gap of {float(np.median(rel[half:])):+.1%} of the train loss, "
                       f"above the {cfg.gap_small:.0%} called small: more data or regularization would narrow it")
    if t_flat and abs(e_recent) <= cfg.flat_tol:
        caveats.append("both curves are flat over the last third: converged (more steps will not help at this "
                       "learning rate)")


def _short_divergence(div: dict[str, Any], points: int, cfg: VerdictConfig) -> str:
    """The caveat of a divergence found on a log too short for the other patterns."""
    text = (f"divergence is judged on only {points} finite train point(s) after warm-up: a NaN/inf or a climb "
            f"needs no longer history, but the other patterns need {cfg.min_train_points} "
            f"(VerdictConfig.min_train_points) and cannot be told")
    if div.get("kind") == "climb" and div.get("to_end"):
        text += (f"; the climb from step {div['step']} lasts to the end of the log ({div.get('points')} point(s)), "
                 f"so whether it comes back is not in the log")
    return text


def _result(found, cannot, evidence, caveats, spikes, judged, cfg, *, forced=None, healthy=False,
            cannot_caveat=True) -> dict[str, Any]:
    also = []
    order = [p for p in PRIORITY if p in found]
    verdict = forced
    if verdict is None:
        for p in order:
            if p == "val_below_train" and not found[p]["alarm"]:
                continue
            if p == "spikes" and not found[p]["significant"]:
                continue
            verdict = p
            break
    if verdict is None:
        verdict = "healthy" if healthy else "cannot_judge"
    also = [p for p in order if p != verdict]
    why = list(caveats)               # for "cannot judge": the caveats, the "cannot tell any pattern:" lead-in
    if verdict == "cannot_judge" and not forced:   # left out (it would only repeat the verdict)
        tell = sorted(set(cannot))
        evidence["train_only"] = ("the train curve shows no problem (falling, no divergence or lasting spikes), "
                                  "but " + "; ".join(sorted(set(cannot.values()))) if cannot else
                                  "no pattern of the table fits these curves")
        if tell:
            caveats.insert(0, _cannot(tell, cannot))
            why.insert(0, _cannot(tell, cannot, lead_in=tell != ["all"]))
    elif cannot and cannot_caveat:
        caveats.append(_cannot(sorted(cannot), cannot))
        why.append(_cannot(sorted(cannot), cannot, lead_in=sorted(cannot) != ["all"]))
    if "val_below_train" in found:
        v = found["val_below_train"]
        size = f"{v['median_gap']:+.4g} nats ({v['median_relative']:+.1%})"
        caveats.append(f"eval sits below train at {v['eval_below_train']} of {v['of']} evals, median {size}"
                       + ("" if v["alarm"] else f", under the {cfg.leak_margin:.0%} alarm margin") +
                       ": the leakage signal (run `dataaudit split`), but dropout, other regularization or "
                       "train-time augmentation (active only in training) also put eval below train")
        why.append(caveats[-1])
    fix = RULES[verdict]["fix"]
    if verdict in ("overfitting", "severe_overfitting"):
        fix += f" (best eval at step {found[verdict]['best_eval_step']})"
    evidence["patterns"] = found
    out = {"verdict": verdict, "also": also, "evidence": evidence, "fix": fix,
           "caveat": "; ".join(caveats) if caveats else None, "cannot_tell": cannot}
    if verdict == "cannot_judge":
        out["why"] = "; ".join(why) if why else None
    return out


def _cannot(patterns: list[str], cannot: dict[str, str], *, lead_in: bool = True) -> str:
    """The caveat of the patterns that cannot be told: "cannot tell P: why" (or only why)."""
    reason = next(iter(cannot.values()))
    return f"cannot tell {_which(patterns)}: {reason}" if lead_in else reason


def _which(patterns: list[str]) -> str:
    return "any pattern" if patterns == ["all"] else ", ".join(patterns)


def diagnosis_line(diag: dict[str, dict[str, Any]]) -> str:
    """One line across runs: verdict counts, then the patterns under ``also``."""
    if not diag:
        return "diagnosis: no run"
    n = len(diag)
    counts: dict[str, int] = {}
    also: dict[str, int] = {}
    for d in diag.values():
        counts[d["verdict"]] = counts.get(d["verdict"], 0) + 1
        for p in d["also"]:
            also[p] = also.get(p, 0) + 1
    head = ", ".join(f"{v} {c} of {n}" for v, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    line = f"diagnosis: {head}"
    if also:
        line += "; also " + ", ".join(f"{p} in {c}" for p, c in sorted(also.items(), key=lambda kv: (-kv[1], kv[0])))
    gaps = [d["evidence"]["patterns"]["val_below_train"]["median_relative"] for d in diag.values()
            if "val_below_train" in d["evidence"].get("patterns", {})]
    if gaps:
        line += f" (eval below train by a median {float(np.median(gaps)):+.1%})"
    return line
