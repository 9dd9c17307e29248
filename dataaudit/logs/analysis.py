"""Diagnose the curves of a log table: every run's spikes and events, spikes grouped across runs (data only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, LogError
from ..io.atomic import write_parquet_atomic
from ..records import PassResult
from . import diagnose as dg
from . import verdict as vd
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


def analyze_table(table: pa.Table, *, metric: str = "loss", config: SpikeConfig | None = None,
                  diagnose: dg.DiagnoseConfig | None = None, grad_metric: str | None = None,
                  eval_metric: str | None = None) -> tuple[PassResult, dict[str, Any]]:
    """Diagnose every run of a ``read_logs`` table: spikes, grad-norm relation, divergence, plateaus,
    restarts, overfitting, spikes shared across runs.

    Returns the report data (summary, findings, warnings) and the detailed results (scored series, all
    spikes and events) that ``write_tables`` and the plots use.
    """
    cfg = config or SpikeConfig()
    dcfg = diagnose or dg.DiagnoseConfig()
    meta = log_metadata(table)
    out = PassResult(name="spikes")
    res = _detect(_split(table), meta, metric, grad_metric, eval_metric, cfg, dcfg, out)
    return out, res


def _detect(series, meta, metric, grad_metric, eval_metric, cfg, dcfg, report: PassResult) -> dict[str, Any]:
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
        u = dg.unique_steps(steps)
        stride = int(np.median(np.diff(u))) if u.size > 2 else 1
        dg.grad_relation(spikes, gspikes, dcfg, stride) if gm is not None else [
            s.update(grad_norm_spike=None, grad_relation="no grad-norm metric") for s in spikes]
        events = dg.divergence(sc, dcfg) + dg.plateaus(steps, vals, dcfg) + \
            dg.restarts(steps, wall, dcfg, info.get("markers"))
        for e in events:
            res["events"].append({"run": run, "metric": m, **e})
        em = _resolve(eval_metric, EVAL_ALIASES, avail - {m}) if eval_metric != "none" else None
        e_s, e_v = (mets[em][0], mets[em][1]) if em is not None else (None, None)
        res.setdefault("diagnosis", {})[run] = vd.judge_run(
            steps, vals, e_s, e_v, spikes=spikes, events=events, judged=int(sc.judged.sum()), cfg=dcfg.verdict,
            warmup_steps=cfg.warmup_steps, train_metric=m, eval_metric=em)
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
        "diagnosis": res.get("diagnosis", {}),
        "diagnosis_line": vd.diagnosis_line(res.get("diagnosis", {})),
    }
    for run, d in res.get("diagnosis", {}).items():
        report.warnings.extend(f"run {run}: {c}" for c in (d["caveat"] or "").split("; ")
                               if c.startswith("evals are sparse"))
    top = sorted(res["spikes"], key=lambda s: -s["score"])[:100]
    report.findings = {"groups": groups, "spikes": [_public(s) for s in top],
                       "divergence": divergent, "runs": res["per_run"],
                       "events": [e for e in res["events"] if e["kind"] != "grad_norm_spike"][:200],
                       "diagnosis_rules": vd.rules()}
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


def write_tables(out: Path, res: dict[str, Any]) -> dict[str, str]:
    """Write spikes/events/groups (and gap) Parquet tables into ``out``; returns {description: file}."""
    files = {}
    rows = [{f.name: s.get(f.name) for f in _SPIKE_SCHEMA} for s in res["spikes"]]
    write_parquet_atomic(out / "spikes.parquet", pa.Table.from_pylist(rows, schema=_SPIKE_SCHEMA))
    files["spikes (one row per spike)"] = "spikes.parquet"
    ev = [{"run": e["run"], "metric": e.get("metric"), "kind": e["kind"],
           "step": e.get("step"), "detail": e.get("detail", "")} for e in res["events"]]
    ev_schema = pa.schema([("run", pa.string()), ("metric", pa.string()), ("kind", pa.string()),
                           ("step", pa.int64()), ("detail", pa.string())])
    write_parquet_atomic(out / "events.parquet", pa.Table.from_pylist(ev, schema=ev_schema))
    files["events (divergence, plateaus, restarts, rewinds, grad-norm spikes, overfitting)"] = "events.parquet"
    gs = pa.schema([("group", pa.int64()), ("step", pa.int64()), ("runs", pa.list_(pa.string())),
                    ("n_runs", pa.int64()), ("of_runs", pa.int64()), ("median_peak_ratio", pa.float64()),
                    ("max_score", pa.float64())])
    write_parquet_atomic(out / "groups.parquet", pa.Table.from_pylist(res["groups"], schema=gs))
    files["spike groups shared across runs"] = "groups.parquet"
    if res["gap"]:
        write_parquet_atomic(out / "gap.parquet", pa.Table.from_pylist(res["gap"]))
        files["train/eval gap at each eval step"] = "gap.parquet"
    return files


def severity_at_least(report: Any, level: str) -> bool:
    """True when the report's severity reaches ``level`` (one of SEVERITY, or "never")."""
    if level == "never":
        return False
    if level not in SEVERITY:
        raise ConfigError(f"--fail-on {level!r}; choose one of {SEVERITY[1:] + ('never',)}")
    return SEVERITY.index(report.summary.get("severity", "none")) >= SEVERITY.index(level)
