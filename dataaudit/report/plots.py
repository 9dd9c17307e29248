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


def plot_run(path: Path, run: str, metric: str, sc, spikes: list[dict[str, Any]],
             events: list[dict[str, Any]], eval_curve: list[dict[str, Any]] | None = None) -> None:
    """One run: raw points, trailing median, spikes (red) and divergence/restarts (vertical lines)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    try:
        x = np.arange(sc.steps.size)
        monotone = bool(np.all(np.diff(sc.steps) > 0))
        xs = sc.steps if monotone else x
        ax.plot(xs, sc.values, lw=0.6, color="0.55", label=metric)
        med = np.exp(sc.median) if sc.log else sc.median
        ax.plot(xs, med, lw=1.2, color="tab:blue", label="trailing median (baseline)")
        if spikes:
            idx = np.array([s["index"] for s in spikes])
            ax.scatter(xs[idx], sc.values[idx], color="red", s=18, zorder=3,
                       label=f"spikes ({len(spikes)})")
        if eval_curve:
            ax.plot([e["step"] for e in eval_curve], [e["eval"] for e in eval_curve], "o-", ms=3, lw=1,
                    color="tab:orange", label="eval")
        for ev in events:
            if ev.get("step") is None or not monotone:
                continue
            color = "black" if ev["kind"] in ("nan", "inf", "climb") else "tab:green"
            ax.axvline(ev["step"], color=color, lw=0.8, ls="--")
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
            ax.plot(sc.steps, sc.values, lw=0.5, alpha=0.7, label=run[:24])
        for g in groups:
            ax.axvline(g["step"], color="red", lw=0.7, ls=":")
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
