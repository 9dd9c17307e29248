"""The verdict of each run of a spikes report (``summary["diagnosis"]``), first in the report: verdict, fix,
evidence, what cannot be told; then the rules with their sources."""

from __future__ import annotations

from typing import Any

from ...records import Report
from ..doc import Bullets, Para, Section, Table, num

_NAMES = {"healthy": "healthy", "overfitting": "overfitting", "severe_overfitting": "severe overfitting",
          "underfitting": "underfitting", "oscillating": "oscillating", "val_spikes": "validation spikes",
          "early_plateau": "early plateau", "fast_collapse": "fast collapse of the train loss",
          "val_below_train": "validation below train", "spikes": "loss spikes", "divergence": "divergence",
          "cannot_judge": "cannot tell"}


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{x:+.1%}"


def _evidence(d: dict[str, Any]) -> str:
    e = d["evidence"]
    parts = []
    t = e.get("train")
    if t:
        parts.append(f"train {num(t['initial'])} -> {num(t['end'])} (steps {t['first_step']}-{t['last_step']}; "
                     f"{_pct(t['change_last_third'])} over the last third, noise {num(t['noise'], 3)})")
    ev = e.get("eval")
    if ev:
        parts.append(f"eval {num(ev['end'])} at step {ev['last_step']}, best {num(ev['best'])} at step "
                     f"{ev['best_step']} ({ev['points']} evals every {num(ev['interval_steps'])} steps)")
    g = e.get("gap")
    if g:
        parts.append(f"gap eval - train: median {num(g['median'])} nats ({_pct(g['median_relative'])}), "
                     f"{g['eval_below_train']} of {g['of']} evals below train, change {_pct(g['change_relative'])}")
    dv = e.get("patterns", {}).get("divergence")
    if dv:
        if dv["kind"] == "climb":
            parts.append(f"the loss climbs from step {dv['step']}" + (
                f" ({dv['points']} points, to the end of the log)" if dv.get("to_end") else
                (f" ({dv['points']} points)" if dv.get("points") else "")))
        else:
            parts.append(f"first {dv['kind']} value at step {dv['step']}")
    sp = e.get("patterns", {}).get("spikes")
    if sp:
        parts.append(f"{sp['count']} spike(s) (steps {', '.join(map(str, sp['steps'][:5]))}), "
                     f"{sp['not_recovered_fast']} not recovered fast")
    return "; ".join(parts)


def sentences(parts: list[str]) -> str:
    """The non-empty parts as sentences: each ends with one full stop (none added after . ! ?), no empty ones.

    >>> sentences(["**cannot tell**", "", "why: only 8 points (min 20)", "done."])
    '**cannot tell**. Why: only 8 points (min 20). Done.'
    """
    out = []
    for p in parts:
        p = (p or "").strip()
        if p:
            p = p[0].upper() + p[1:]
            out.append(p if p.endswith((".", "!", "?")) else p + ".")
    return " ".join(out)


def run_line(run: str, d: dict[str, Any]) -> str:
    """One run's verdict in sentences: the verdict, its evidence, the caveat (for "cannot tell": why)."""
    caveat = d.get("caveat") or ""
    if d["verdict"] == "cannot_judge":   # the verdict's own reason (logs/verdict.py), else its caveat
        why = d.get("why") or caveat
        caveat = f"Why: {why}" if why else ""
    elif caveat:
        caveat = f"Caveat: {caveat}"
    return sentences([f"`{run}`: **{_NAMES.get(d['verdict'], d['verdict'])}**", _evidence(d), caveat,
                      d["evidence"].get("train_only") or ""])


def sections(report: Report) -> list[Section]:
    diag = report.summary.get("diagnosis") or {}
    if not diag:
        return []
    sec = Section("Diagnosis", [Para(report.summary.get("diagnosis_line", ""))], key="diagnosis")
    sec.add(Table(["run", "verdict", "also", "fix"],
                  [[run, f"**{_NAMES.get(d['verdict'], d['verdict'])}**", ", ".join(d["also"]), d["fix"]]
                   for run, d in diag.items()]))
    items = []
    for run, d in list(diag.items())[:50]:
        items.append(run_line(run, d))
    sec.add(Bullets(items))
    if len(diag) > 50:
        sec.add(Para(f"... {len(diag) - 50} more runs in report.json (summary.diagnosis)."))
    out = [sec]
    rules = (report.findings or {}).get("diagnosis_rules")
    if rules:
        used = {d["verdict"] for d in diag.values()} | {p for d in diag.values() for p in d["also"]}
        out.append(Section("Diagnosis rules", [
            Para("The rules behind the verdicts above (thresholds: `diagnose.verdict` in Settings)."),
            Table(["pattern", "rule", "usual fix", "source"],
                  [[k, r["rule"], r["fix"], r["source"]] for k, r in rules.items() if k in used])],
            key="diagnosis_rules"))
    return out
