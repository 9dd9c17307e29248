"""Sections of a spikes report: curves per run, shared spikes, top spikes, events, plots."""

from __future__ import annotations

from ...records import Report
from ..doc import Figure, Para, Section, Table, num
from ..svg import line_chart


def _f(x) -> str:
    return "" if x is None else num(x)


def sections(report: Report) -> list[Section]:
    s = report.summary
    f = report.findings
    metric = report.config.get("metric", "loss")
    curves = Section("Curves", [Para(
        f"{s['runs']} run(s), {s['points']} points of `{metric}`, {s['judged_points']} judged (after warm-up and "
        f"enough history). **{s['spikes']} spike(s)**, {s['shared_spike_groups']} step(s) where 2+ runs spike "
        f"together, {s['divergences']} divergence finding(s). Severity: **{s['severity']}**.")], key="curves")
    if s.get("isolated_per_1k_judged") is not None:
        curves.add(Para(f"Spikes not shared with any other run: {s['isolated_spikes']} "
                        f"({s['isolated_per_1k_judged']} per 1,000 judged points)."))
    curves.add(Table(["run", "metric", "points", "judged", "spikes", "per 1k", "isolated", "grad metric",
                      "eval metric", "plot"],
                     [[r["run"], r["metric"], r["points"], r["judged"], r["spikes"], _f(r["spikes_per_1k"]),
                       r["isolated_spikes"], r["grad_metric"] or "", r["eval_metric"] or "",
                       f"[png]({r['plot']})" if r.get("plot") else ""] for r in f.get("runs", [])],
                     numeric=(2, 3, 4, 5, 6)))
    out = [curves]
    groups = f.get("groups") or []
    if groups:
        out.append(Section("Spikes shared across runs", [
            Para("Spikes at the same step in several runs. When the runs share a data order, this points to the "
                 "data at that step, not to the optimizer state."),
            Table(["step", "runs", "of", "median peak/baseline", "max z"],
                  [[g["step"], g["n_runs"], g["of_runs"], f"{g['median_peak_ratio']:.3f}", f"{g['max_score']:.1f}"]
                   for g in sorted(groups, key=lambda g: (-g["n_runs"], g["step"]))[:50]], numeric=(0, 1, 2, 3, 4))],
            key="groups"))
    spikes = f.get("spikes") or []
    if spikes:
        out.append(Section("Spikes", [
            Para("Top spikes by robust score (all are in spikes.parquet)."),
            Table(["run", "step", "value", "baseline", "z", "peak", "peak step", "points", "steps to recover",
                   "grad norm", "group"],
                  [[x["run"], x["step"], num(x["value"]), num(x["baseline"]), f"{x['score']:.1f}", num(x["peak"]),
                    x["peak_step"], x["points"], _f(x["steps_to_recover"]), x["grad_relation"], _f(x["group"])]
                   for x in sorted(spikes, key=lambda x: -x["score"])[:30]], numeric=(1, 2, 3, 4, 5, 6, 7, 8))],
            key="spikes"))
    ev = f.get("events") or []
    if ev:
        sec = Section("Divergence, plateaus, restarts, overfitting", [Table(
            ["run", "kind", "step", "detail"], [[e["run"], e["kind"], _f(e.get("step")), e.get("detail", "")]
                                                for e in ev[:100]])], key="events")
        n_ev = sum((s.get("events") or {}).values()) - (s.get("events") or {}).get("grad_norm_spike", 0)
        if n_ev > 100:
            sec.add(Para(f"... {n_ev - 100} more in events.parquet"))
        out.append(sec)
    figs = figures(report)
    if figs:
        out.append(Section("Plots", figs, key="plots"))
    return out


def figures(report: Report, limit: int = 20) -> list[Figure]:
    """Inline SVG plots drawn from ``findings["curves"]`` (each run's reduced curve, spikes marked), with the
    PNG files beside the report linked; PNG-only figures when a report has no curves."""
    f = report.findings
    plots = f.get("plots") or {}
    png = {r["run"]: r["plot"] for r in f.get("runs", []) if r.get("plot")}
    curves = (f.get("curves") or [])[:limit]
    if not curves:
        figs = [Figure("all runs", path=plots["overlay"])] if plots.get("overlay") else []
        return figs + [Figure(run, path=p) for run, p in png.items()][:limit]
    log_y = all(v > 0 for c in curves for v in c["values"]) and _spread(curves) > 20
    metric = curves[0]["metric"]
    figs = []
    if len(curves) > 1:
        groups = f.get("groups") or []
        figs.append(Figure(
            f"All runs; dashed: {len(groups)} step(s) where 2+ runs spike together",
            svg=line_chart([(c["run"], c["steps"], c["values"]) for c in curves], title=f"{metric}: all runs",
                           vlines=[(g["step"], f"step {g['step']}: {g['n_runs']} runs spike") for g in groups],
                           y_label=metric, log_y=log_y),
            path=plots.get("overlay")))
    for c in curves:
        at = dict(zip(c["steps"], c["values"]))
        marks = [(st, _value_at(st, c["steps"], c["values"], at), f"spike at step {st}") for st in c["spikes"]]
        figs.append(Figure(f"{c['run']}: {c['metric']}, {len(c['spikes'])} spike(s) marked",
                           svg=line_chart([(c["run"], c["steps"], c["values"])], title=f"{c['run']}: {c['metric']}",
                                          marks=[m for m in marks if m[1] is not None], y_label=c["metric"],
                                          log_y=log_y),
                           path=png.get(c["run"])))
    return figs


def _spread(curves: list[dict]) -> float:
    vals = [v for c in curves for v in c["values"]]
    return max(vals) / min(vals) if vals and min(vals) > 0 else 1.0


def _value_at(step, steps: list, values: list, at: dict):
    """The curve's value at ``step``, or at the nearest kept step (the curve is reduced for the plot)."""
    if step in at:
        return at[step]
    if not steps:
        return None
    i = min(range(len(steps)), key=lambda k: abs(steps[k] - step))
    return values[i]

