"""PNG plots of curves with spikes marked (matplotlib, Agg backend, imported only here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_path


def safe_name(run: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run)[:80] or "run"


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


PLOT_BINS = 2000   # about two bins per pixel column of a 10-inch, 100-dpi figure


def decimate(n: int, y: np.ndarray, bins: int = PLOT_BINS) -> np.ndarray:
    """Indices of the points to draw of a curve of ``n`` points: all when few, else the first, last, lowest and
    highest point of each of ``bins`` runs of consecutive points (a min/max envelope: the drawn line covers
    the same pixels, so a one-step spike stays visible; NaN points are kept, as they break the line)."""
    if n <= 4 * bins:
        return np.arange(n)
    k = -(-n // bins)
    pad = np.full(bins * k, np.nan)
    pad[:n] = y
    m = pad.reshape(bins, k)
    finite = np.isfinite(m)
    base = np.arange(bins) * k
    lo = base + np.argmin(np.where(finite, m, np.inf), axis=1)
    hi = base + np.argmax(np.where(finite, m, -np.inf), axis=1)
    idx = np.concatenate([base, np.minimum(base + k - 1, n - 1), lo, hi, np.flatnonzero(~np.isfinite(y))])
    return np.unique(idx[idx < n])


def plot_run(path: Path, run: str, metric: str, sc, spikes: list[dict[str, Any]],
             events: list[dict[str, Any]], eval_curve: list[dict[str, Any]] | None = None) -> None:
    """One run: raw points, trailing median, spikes (red) and divergence/restarts (vertical lines)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    try:
        x = np.arange(sc.steps.size)
        monotone = bool(np.all(np.diff(sc.steps) > 0))
        xs = sc.steps if monotone else x
        keep = decimate(xs.size, sc.values)
        ax.plot(xs[keep], sc.values[keep], lw=0.6, color="0.55", label=metric)
        med = np.exp(sc.median) if sc.log else sc.median
        ax.plot(xs[keep], med[keep], lw=1.2, color="tab:blue", label="trailing median (baseline)")
        if spikes:
            idx = np.array([s["index"] for s in spikes])
            ax.scatter(xs[idx], sc.values[idx], color="red", s=18, zorder=3,
                       label=f"spikes ({len(spikes)})")
        if eval_curve:
            ax.plot([e["step"] for e in eval_curve], [e["eval"] for e in eval_curve], "o-", ms=3, lw=1,
                    color="tab:orange", label="eval")
        for color, kinds in (("black", True), ("tab:green", False)):
            at = [ev["step"] for ev in events if ev.get("step") is not None and monotone
                  and (ev["kind"] in ("nan", "inf", "climb")) == kinds]
            if at:   # one collection, not one line per event (a log with 10k restarts drew for a minute)
                ax.vlines(at, 0, 1, transform=ax.get_xaxis_transform(), colors=color, lw=0.8, linestyles="--")
        if sc.log:
            ax.set_yscale("log")
        ax.set_xlabel("step" if monotone else "point (log order; steps go backwards)")
        ax.set_title(f"{run}: {metric}", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
        _save(fig, path)
    finally:
        plt.close(fig)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def plot_overlay(path: Path, metric: str, curves: dict[str, Any], groups: list[dict[str, Any]],
                 max_runs: int = 20) -> None:
    """All runs on one axis with the steps of shared spikes marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    try:
        for run, sc in list(curves.items())[:max_runs]:
            keep = decimate(sc.steps.size, sc.values)
            ax.plot(sc.steps[keep], sc.values[keep], lw=0.5, alpha=0.7, label=run[:24])
        if groups:
            ax.vlines([g["step"] for g in groups], 0, 1, transform=ax.get_xaxis_transform(), colors="red", lw=0.7,
                      linestyles=":")
        if all(sc.log for sc in curves.values()):
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(f"{metric}: {len(curves)} runs, {len(groups)} spike step(s) shared by 2+ runs (red)",
                     fontsize=9)
        if len(curves) <= 12:
            ax.legend(fontsize=6, loc="upper right")
        _save(fig, path)
    finally:
        plt.close(fig)
