"""Rank the documents of the spiking batches against a control set from the same run.

"Unusual" is measured against this run's own data: the documents of control batches away from any spike.
Per feature, a robust z (median and MAD of the control documents, with a floor on the scale); a
document's suspicion is the root sum of squares of its positive z's (two-sided features count either tail);
the reasons are the features past ``reason_z``, in words. The batch-level question (PaLM, section 5.1: the
spiking batches did not spike when replayed from another checkpoint, so a spike is data *and* optimizer
state) is answered by comparing each spiking batch's mean features and its top suspicion against the same
statistics of the control batches: a batch that is not unusual points to optimizer state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .features import FEATURES, transform

MAD_SCALE = 1.4826      # MAD -> standard deviation of a normal distribution
Z_CAP = 50.0            # one absurd feature should not drown every other signal

#: score columns (from score_fn) compared like features: name -> (direction, scale floor)
SCORE_FEATURES = {"bits_per_byte": ("high", 0.05), "worst_bpb": ("high", 0.1)}


@dataclass(frozen=True, kw_only=True)
class SuspectConfig:
    """How suspicion is measured."""

    reason_z: float = 3.0         # a feature this many robust SDs out of the control becomes a reason
    batch_z: float = 4.0          # a batch statistic this far out of the control batches makes the batch unusual
                                  # (4, not 3: about ten statistics per batch are tested at once)
    min_control_docs: int = 8     # fewer control documents than this: z scores are not trusted (summary says so)


def _robust(ref: np.ndarray, floor: float) -> tuple[float, float]:
    ref = ref[np.isfinite(ref)]
    if ref.size == 0:
        return math.nan, math.nan
    med = float(np.median(ref))
    mad = float(np.median(np.abs(ref - med))) * MAD_SCALE
    if mad == 0.0 and ref.size > 1:   # more than half the control share one value: fall back to the SD
        mad = float(np.std(ref))
    return med, max(mad, floor)


def _columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, float, bool]]:
    cols = [(n, d, f, False) for n, (_, d, f) in FEATURES.items()]
    if rows and any(r.get("bits_per_byte") is not None for r in rows):
        cols += [(n, d, f, True) for n, (d, f) in SCORE_FEATURES.items()]
    return cols


def zscores(rows: Sequence[dict[str, Any]], control: Sequence[dict[str, Any]]) -> tuple[np.ndarray, list[str],
                                                                                        dict[str, float]]:
    """(z matrix [rows x columns], column names, control medians on the original scale)."""
    cols = _columns(list(rows) + list(control))
    z = np.zeros((len(rows), len(cols)))
    medians: dict[str, float] = {}
    for j, (name, direction, floor, _) in enumerate(cols):
        ref = transform(name, np.array([_num(c.get(name)) for c in control], dtype=np.float64))
        vals = transform(name, np.array([_num(r.get(name)) for r in rows], dtype=np.float64))
        med, scale = _robust(ref, floor)
        raw = np.array([_num(c.get(name)) for c in control], dtype=np.float64)
        medians[name] = float(np.nanmedian(raw)) if np.isfinite(raw).any() else math.nan
        if not math.isfinite(med):
            continue
        d = (vals - med) / scale
        d = np.where(np.isfinite(d), d, 0.0)
        z[:, j] = np.clip(np.abs(d) if direction == "both" else d, -Z_CAP, Z_CAP)
    return z, [c[0] for c in cols], medians


def _num(v: Any) -> float:
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def suspicion(z: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(np.maximum(z, 0.0) ** 2, axis=1)) if z.size else np.zeros(z.shape[0])


def _fmt(x: float) -> str:
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}" if abs(x) < 1 else f"{x:.1f}"


def _char_name(c: str) -> str:
    names = {"\\": "backslashes", " ": "spaces", "\n": "newlines", "\t": "tabs", "-": "dashes", "=": "'='",
             ".": "dots", "*": "asterisks", "#": "'#'", "_": "underscores", "0": "zeros"}
    return names.get(c, repr(c))


# How each feature reads in words; ``v`` is the document's value, ``med`` the control median.
_SHARE_PHRASES = {
    "top_ngram_share": "most repeated 3-gram covers {v:.0%} of the text (control median {med:.0%})",
    "nonalnum_share": "{v:.0%} of characters are not letters, digits or spaces (control median {med:.0%})",
    "b64hex_share": "{v:.0%} of the text is base64/hex-like (control median {med:.0%})",
    "zlib_ratio": "zlib ratio {v:.2f} vs control median {med:.2f}",
}
_VALUE_PHRASES = {
    "bits_per_byte": "bits/byte {v} vs control median {med}",
    "worst_bpb": "worst window {v} bits/byte vs control median {med}",
}


def reason(name: str, row: dict[str, Any], med: float) -> str:
    """One feature of one document, in words, against the control median."""
    v = row.get(name)
    m = f"control median {_fmt(med)}" if math.isfinite(med) else "no control"
    if name == "longest_run":
        return f"run of {int(v):,} {_char_name(row.get('longest_run_char', ''))} ({m})"
    if name == "repeat_count":
        return f"a {int(row.get('repeat_period') or 0)}-unit pattern repeated {int(v):,} times in a row ({m})"
    if name == "length":
        return f"{int(v):,} characters vs control median {int(med) if math.isfinite(med) else 0:,}"
    if name in _SHARE_PHRASES:
        return _SHARE_PHRASES[name].format(v=v, med=med)
    if name in _VALUE_PHRASES:
        return _VALUE_PHRASES[name].format(v=_fmt(v), med=_fmt(med))
    return f"{name} {_fmt(float(v))} ({m})"


def rank_documents(rows: list[dict[str, Any]], control: list[dict[str, Any]],
                   cfg: SuspectConfig = SuspectConfig()) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Add suspicion, reasons, z_<feature> and rank (within each step, 1 = most suspicious) to ``rows``."""
    z, names, medians = zscores(rows, control)
    sus = suspicion(z)
    out = []
    for i, r in enumerate(rows):
        d = dict(r)
        d["suspicion"] = float(sus[i])
        order = np.argsort(-z[i]) if z.size else []
        d["reasons"] = [reason(names[j], r, medians[names[j]]) for j in order if z[i, j] >= cfg.reason_z]
        for j, n in enumerate(names):
            d[f"z_{n}"] = float(z[i, j])
        out.append(d)
    by_step: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for d in out:
        by_step.setdefault((d["run"], d["step"]), []).append(d)
    for group in by_step.values():
        group.sort(key=lambda d: (-d["suspicion"], d["position"]))
        for k, d in enumerate(group, 1):
            d["rank"] = k
    out.sort(key=lambda d: (d["run"], d["step"], d["rank"]))
    return out, medians


def batch_verdicts(window: list[dict[str, Any]], control: list[dict[str, Any]],
                   cfg: SuspectConfig = SuspectConfig()) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (run, step) of ``window``: how unusual the batch is as a whole against the control batches."""
    ctrl_z, names, _ = zscores(control, control)
    ctrl_sus = suspicion(ctrl_z)
    win_z, _, _ = zscores(window, control)
    win_sus = suspicion(win_z)

    def stats(rows, z, sus):
        groups: dict[tuple[str, int], list[int]] = {}
        for i, r in enumerate(rows):
            groups.setdefault((r["run"], r["step"]), []).append(i)
        return {k: (z[v].mean(axis=0) if z.size else np.zeros(len(names)), float(sus[v].max()) if len(v) else 0.0)
                for k, v in groups.items()}

    cs = stats(control, ctrl_z, ctrl_sus)
    ws = stats(window, win_z, win_sus)
    out: dict[tuple[str, int], dict[str, Any]] = {}
    if len(cs) < 3:
        for k in ws:
            out[k] = {"unusual": None, "batch_z": math.nan, "why": f"only {len(cs)} control batches"}
        return out
    c_mean = np.array([v[0] for v in cs.values()])
    c_max = np.array([v[1] for v in cs.values()])
    for k, (mean_z, top) in ws.items():
        zs = []
        for j, n in enumerate(names):
            med, sc = _robust(c_mean[:, j], 0.25)
            zs.append(((mean_z[j] - med) / sc, f"mean {n}"))
        med, sc = _robust(c_max, 0.5)
        zs.append(((top - med) / sc, "top document suspicion"))
        bz, what = max(zs, key=lambda t: t[0])
        out[k] = {"unusual": bool(bz >= cfg.batch_z), "batch_z": float(bz), "why": what}
    return out
