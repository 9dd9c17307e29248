"""``analyze_logs``: read logs, diagnose every run, group spikes across runs, build a "spikes" Report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, LogError
from ..io.atomic import write_parquet_atomic
from ..records import Report
from ..report import phase, write_report
from . import diagnose as dg
from .plots import plot_overlay, plot_run, safe_name
from .readers import read_logs
from .spikes import SpikeConfig, score_series
from .table import log_metadata

#: What ``metric="loss"`` (and the grad-norm / eval defaults) resolve to, first match per run.
LOSS_ALIASES = ("loss", "train_loss", "lm_loss", "train/loss", "train/lm_loss", "train_loss_step",
                "training_loss", "loss/train", "Loss/train", "train/loss_step", "lm-loss-training/lm loss")
GRAD_ALIASES = ("grad_norm", "train/grad_norm", "grad-norm/grad-norm", "gradient_norm", "grad_norm/total",
                "total_grad_norm", "train/global_grad_norm")
EVAL_ALIASES = ("eval_loss", "val_loss", "val_lm_loss", "eval/loss", "validation/loss", "valid/loss",
                "val/loss", "loss/val", "Loss/val", "lm-loss-validation/valid lm loss", "val_loss_epoch")

SEVERITY = ("none", "info", "spike", "divergence")


def _resolve(name: str | None, default_aliases: tuple[str, ...], available: set[str]) -> str | None:
    if name is None:
        cands = default_aliases
    elif name in available:
        return name
    elif name == default_aliases[0]:
        cands = default_aliases
    else:
        return None
    return next((c for c in cands if c in available), None)


def _split(table: pa.Table) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """{run: {metric: (steps, values, wall)}} in log order, with one pass of numpy grouping."""
    enc = pc.dictionary_encode(pc.binary_join_element_wise(table["run"], table["metric"], "\x00"))
    enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
    codes = enc.indices.to_numpy(zero_copy_only=False)
    keys = enc.dictionary.to_pylist()
    steps = table["step"].to_numpy()
    vals = table["value"].to_numpy()
    wall = table["wall_time"].to_numpy()
    order = np.argsort(codes, kind="stable")   # stable: log order kept inside each series
    bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
    out: dict[str, dict[str, tuple]] = {}
    for k, key in enumerate(keys):
        idx = order[bounds[k]:bounds[k + 1]]
        run, metric = key.split("\x00", 1)
        out.setdefault(run, {})[metric] = (steps[idx], vals[idx], wall[idx])
    return out


def analyze_logs(paths: str | os.PathLike | Sequence[str | os.PathLike], *, metric: str = "loss",
                 out_dir: str | os.PathLike | None = None, config: SpikeConfig | None = None,
                 diagnose: dg.DiagnoseConfig | None = None, fmt: str | None = None, pattern: str | None = None,
                 step_column: str | None = None, grad_metric: str | None = None, eval_metric: str | None = None,
                 plots: bool = True, max_plots: int = 50, on_bad: str = "skip", check_crc: bool = True,
                 table: pa.Table | None = None) -> Report:
    """Read training logs and diagnose their curves; returns a Report of kind "spikes".

    With ``out_dir``, writes report.json, report.md, the findings as Parquet (spikes, events, groups,
    gap) and PNG plots there. ``table`` (a ``read_logs`` result) skips reading.
    """
    cfg = config or SpikeConfig()
    dcfg = diagnose or dg.DiagnoseConfig()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    report = Report(kind="spikes", config={
        "logs": [str(p) for p in paths], "log_format": fmt or "auto", "metric": metric,
        "grad_metric": grad_metric or "auto", "eval_metric": eval_metric or "auto",
        "spikes": cfg.to_dict(), "diagnose": dcfg.to_dict()})
    with phase(report, "read"):
        if table is None:
            table = read_logs(paths, fmt, pattern=pattern, step_column=step_column, check_crc=check_crc,
                              on_bad=on_bad)
        meta = log_metadata(table)
        report.bad_records = meta["bad_records"]
        series = _split(table)
    with phase(report, "detect"):
        res = _detect(series, meta, metric, grad_metric, eval_metric, cfg, dcfg, report)
    if out_dir is not None:
        out = Path(out_dir)
        with phase(report, "write"):
            _write_tables(out, res, report)
            if plots:
                _plots(out, res, report, metric, max_plots)
    _sections(report, res, metric)
    if out_dir is not None:
        write_report(report, out_dir)
    return report


def _detect(series, meta, metric, grad_metric, eval_metric, cfg, dcfg, report) -> dict[str, Any]:
    runs_info = meta["runs"]
    res: dict[str, Any] = {"scored": {}, "spikes": [], "events": [], "gap": [], "per_run": [],
                           "eval": {}, "skipped": []}
    for run, mets in series.items():
        avail = set(mets)
        m = _resolve(metric, LOSS_ALIASES, avail)
        if m is None:
            res["skipped"].append(run)
            report.warnings.append(f"run {run}: no metric {metric!r} (has {sorted(avail)[:12]}); pass --metric")
            continue
        steps, vals, wall = mets[m]
        sc = score_series(steps, vals, cfg)
        res["scored"][run] = (m, sc)
        info = runs_info.get(run, {})
        spikes = [dict(run=run, metric=m, **s) for s in sc.spikes]
        gm = _resolve(grad_metric, GRAD_ALIASES, avail - {m}) if grad_metric != "none" else None
        gspikes = []
        if gm is not None:
            gsc = score_series(mets[gm][0], mets[gm][1], cfg)
            gspikes = gsc.spikes
            for g in gspikes:
                res["events"].append({"run": run, "metric": gm, "kind": "grad_norm_spike", "step": g["step"],
                                      "value": g["value"], "detail": f"grad norm {g['value']:.4g} vs "
                                      f"baseline {g['baseline']:.4g} (z={g['score']:.1f})"})
        u = np.unique(steps)
        stride = int(np.median(np.diff(u))) if u.size > 2 else 1
        dg.grad_relation(spikes, gspikes, dcfg, stride) if gm is not None else [
            s.update(grad_norm_spike=None, grad_relation="no grad-norm metric") for s in spikes]
        events = dg.divergence(sc, dcfg) + dg.plateaus(steps, vals, dcfg) + \
            dg.restarts(steps, wall, dcfg, info.get("markers"))
        for e in events:
            res["events"].append({"run": run, "metric": m, **e})
        em = _resolve(eval_metric, EVAL_ALIASES, avail - {m}) if eval_metric != "none" else None
        if em is not None:
            found, gap, warns = dg.overfitting(sc, mets[em][0], mets[em][1], dcfg, cfg.warmup_steps)
            res["eval"][run] = gap
            res["gap"].extend({"run": run, **g} for g in gap)
            for f in found:
                res["events"].append({"run": run, "metric": em, **f})
            report.warnings.extend(f"run {run}: {w}" for w in warns)
        report.warnings.extend(dg.logging_warnings(run, steps, info.get("averaged_over"), info.get("format", "")))
        res["spikes"].extend(spikes)
        res["per_run"].append({"run": run, "metric": m, "points": int(vals.size),
                               "judged": int(sc.judged.sum()), "spikes": len(spikes),
                               "grad_metric": gm, "eval_metric": em, "format": info.get("format"),
                               "first_step": int(steps.min()), "last_step": int(steps.max())})
    if not res["scored"]:
        have = sorted({k for mets in series.values() for k in mets})
        raise LogError(f"no run has the metric {metric!r}; metrics in these logs: {have[:30]}. Pass --metric NAME")
    n_runs = len(res["scored"])
    groups = dg.group_across_runs(res["spikes"], n_runs, dcfg)
    res["groups"] = groups
    for r in res["per_run"]:
        mine = [s for s in res["spikes"] if s["run"] == r["run"]]
        r["isolated_spikes"] = sum(1 for s in mine if s["group"] is None)
        r["spikes_per_1k"] = round(1000 * r["spikes"] / r["judged"], 3) if r["judged"] else None
        r["isolated_per_1k"] = round(1000 * r["isolated_spikes"] / r["judged"], 3) if r["judged"] else None
        r["plot"] = None
    judged = sum(r["judged"] for r in res["per_run"])
    divergent = [e for e in res["events"] if e["kind"] in ("nan", "inf") or (e["kind"] == "climb")]
    severity = "divergence" if divergent else ("spike" if res["spikes"] else (
        "info" if res["events"] else "none"))
    isolated = sum(r["isolated_spikes"] for r in res["per_run"])
    report.summary = {
        "runs": n_runs, "runs_without_metric": len(res["skipped"]), "points": sum(r["points"] for r in res["per_run"]),
        "judged_points": judged, "spikes": len(res["spikes"]), "shared_spike_groups": len(groups),
        "spikes_per_1k_judged": round(1000 * len(res["spikes"]) / judged, 3) if judged else None,
        "isolated_spikes": isolated,
        "isolated_per_1k_judged": round(1000 * isolated / judged, 3) if (judged and n_runs > 1) else None,
        "divergences": len(divergent),
        "events": {k: sum(1 for e in res["events"] if e["kind"] == k) for k in
                   sorted({e["kind"] for e in res["events"]})},
        "severity": severity,
    }
    top = sorted(res["spikes"], key=lambda s: -s["score"])[:100]
    report.findings = {"groups": groups, "spikes": [_public(s) for s in top],
                       "divergence": divergent, "runs": res["per_run"],
                       "events": [e for e in res["events"] if e["kind"] != "grad_norm_spike"][:200]}
    return res


def _public(s: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in s.items() if k not in ("index", "last_index")}


_SPIKE_SCHEMA = pa.schema([("run", pa.string()), ("metric", pa.string()), ("step", pa.int64()),
                          ("value", pa.float64()), ("baseline", pa.float64()), ("score", pa.float64()),
                          ("peak", pa.float64()), ("peak_step", pa.int64()), ("peak_score", pa.float64()),
                          ("points", pa.int64()), ("duration_steps", pa.int64()),
                          ("steps_to_recover", pa.int64()), ("recovered", pa.bool_()),
                          ("grad_norm_spike", pa.int64()), ("grad_relation", pa.string()),
                          ("group", pa.int64())])


def _write_tables(out: Path, res: dict[str, Any], report: Report) -> None:
    rows = [{f.name: s.get(f.name) for f in _SPIKE_SCHEMA} for s in res["spikes"]]
    write_parquet_atomic(out / "spikes.parquet", pa.Table.from_pylist(rows, schema=_SPIKE_SCHEMA))
    report.files["spikes (one row per spike)"] = "spikes.parquet"
    ev = [{"run": e["run"], "metric": e.get("metric"), "kind": e["kind"],
           "step": e.get("step"), "detail": e.get("detail", "")} for e in res["events"]]
    ev_schema = pa.schema([("run", pa.string()), ("metric", pa.string()), ("kind", pa.string()),
                           ("step", pa.int64()), ("detail", pa.string())])
    write_parquet_atomic(out / "events.parquet", pa.Table.from_pylist(ev, schema=ev_schema))
    report.files["events (divergence, plateaus, restarts, rewinds, grad-norm spikes, overfitting)"] = "events.parquet"
    gs = pa.schema([("group", pa.int64()), ("step", pa.int64()), ("runs", pa.list_(pa.string())),
                    ("n_runs", pa.int64()), ("of_runs", pa.int64()), ("median_peak_ratio", pa.float64()),
                    ("max_score", pa.float64())])
    write_parquet_atomic(out / "groups.parquet", pa.Table.from_pylist(res["groups"], schema=gs))
    report.files["spike groups shared across runs"] = "groups.parquet"
    if res["gap"]:
        write_parquet_atomic(out / "gap.parquet", pa.Table.from_pylist(res["gap"]))
        report.files["train/eval gap at each eval step"] = "gap.parquet"


def _plots(out: Path, res: dict[str, Any], report: Report, metric: str, max_plots: int) -> None:
    pdir = out / "plots"
    pdir.mkdir(parents=True, exist_ok=True)
    by_run: dict[str, list] = {}
    for s in res["spikes"]:
        by_run.setdefault(s["run"], []).append(s)
    ev_by_run: dict[str, list] = {}
    for e in res["events"]:
        if e["kind"] != "grad_norm_spike":
            ev_by_run.setdefault(e["run"], []).append(e)
    used: set[str] = set()
    for r in res["per_run"][:max_plots]:
        run = r["run"]
        m, sc = res["scored"][run]
        name = safe_name(run)
        while name in used:
            name += "_"
        used.add(name)
        rel = f"plots/{name}.png"
        plot_run(out / rel, run, m, sc, by_run.get(run, []), ev_by_run.get(run, []), res["eval"].get(run))
        r["plot"] = rel
    if len(res["per_run"]) > max_plots:
        report.warnings.append(f"plotted the first {max_plots} of {len(res['per_run'])} runs (max_plots)")
    if len(res["scored"]) > 1:
        plot_overlay(out / "plots/all_runs.png", metric, {k: v[1] for k, v in res["scored"].items()},
                     res["groups"])
        res["overlay"] = "plots/all_runs.png"


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _sections(report: Report, res: dict[str, Any], metric: str) -> None:
    s = report.summary
    lines = [f"{s['runs']} run(s), {s['points']} points of `{metric}`, {s['judged_points']} judged "
             f"(after warm-up and enough history). **{s['spikes']} spike(s)**, "
             f"{s['shared_spike_groups']} step(s) where 2+ runs spike together, "
             f"{s['divergences']} divergence finding(s). Severity: **{s['severity']}**.", ""]
    if s["isolated_per_1k_judged"] is not None:
        lines.append(f"Spikes not shared with any other run: {s['isolated_spikes']} "
                     f"({s['isolated_per_1k_judged']} per 1,000 judged points).\n")
    lines += ["| run | metric | points | judged | spikes | per 1k | isolated | grad metric | eval metric | plot |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["per_run"]:
        plot = f"[png]({r['plot']})" if r.get("plot") else ""
        lines.append(f"| {r['run']} | {r['metric']} | {r['points']} | {r['judged']} | {r['spikes']} | "
                     f"{_fmt(r['spikes_per_1k'])} | {r['isolated_spikes']} | {r['grad_metric'] or ''} | "
                     f"{r['eval_metric'] or ''} | {plot} |")
    report.sections["Curves"] = "\n".join(lines)
    if res["groups"]:
        g_lines = ["Spikes at the same step in several runs. When the runs share a data order, this "
                   "points to the data at that step, not to the optimizer state.", "",
                   "| step | runs | of | median peak/baseline | max z |", "|---|---|---|---|---|"]
        for g in sorted(res["groups"], key=lambda g: (-g["n_runs"], g["step"]))[:50]:
            g_lines.append(f"| {g['step']} | {g['n_runs']} | {g['of_runs']} | "
                           f"{g['median_peak_ratio']:.3f} | {g['max_score']:.1f} |")
        report.sections["Spikes shared across runs"] = "\n".join(g_lines)
    if res["spikes"]:
        sp = ["Top spikes by robust score (all are in spikes.parquet).", "",
              "| run | step | value | baseline | z | peak | peak step | points | steps to recover | grad norm | group |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
        for x in sorted(res["spikes"], key=lambda x: -x["score"])[:30]:
            sp.append(f"| {x['run']} | {x['step']} | {x['value']:.4g} | {x['baseline']:.4g} | {x['score']:.1f} | "
                      f"{x['peak']:.4g} | {x['peak_step']} | {x['points']} | {_fmt(x['steps_to_recover'])} | "
                      f"{x['grad_relation']} | {_fmt(x['group'])} |")
        report.sections["Spikes"] = "\n".join(sp)
    ev = [e for e in res["events"] if e["kind"] != "grad_norm_spike"]
    if ev:
        el = ["| run | kind | step | detail |", "|---|---|---|---|"]
        el += [f"| {e['run']} | {e['kind']} | {_fmt(e.get('step'))} | {e.get('detail', '')} |" for e in ev[:100]]
        if len(ev) > 100:
            el.append(f"\n... {len(ev) - 100} more in events.parquet")
        report.sections["Divergence, plateaus, restarts, overfitting"] = "\n".join(el)
    if res.get("overlay") or any(r.get("plot") for r in res["per_run"]):
        pl = []
        if res.get("overlay"):
            pl.append(f"![all runs]({res['overlay']})")
        pl += [f"![{r['run']}]({r['plot']})" for r in res["per_run"] if r.get("plot")][:20]
        report.sections["Plots"] = "\n\n".join(pl)


def severity_at_least(report: Report, level: str) -> bool:
    """True when the report's severity reaches ``level`` (one of SEVERITY, or "never")."""
    if level == "never":
        return False
    if level not in SEVERITY:
        raise ConfigError(f"--fail-on {level!r}; choose one of {SEVERITY[1:] + ('never',)}")
    return SEVERITY.index(report.summary.get("severity", "none")) >= SEVERITY.index(level)
