"""Loss spikes: training logs in, spikes, curve diagnoses and (with data and an order) the suspect documents."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa

from ..config import JobConfig, check_bad_limit
from ..errors import ConfigError, LogError
from ..logs.analysis import SEVERITY, analyze_table, write_tables
from ..logs.diagnose import DiagnoseConfig
from ..logs.readers import read_logs
from ..logs.spikes import SpikeConfig
from ..logs.table import log_metadata
from ..progress import Progress
from ..records import Report
from ._job import Job
from .forensics import ForensicsConfig, run_forensics

FAIL_LEVELS = SEVERITY[1:] + ("never",)


@dataclass(frozen=True, kw_only=True)
class SpikesConfig(JobConfig):
    """Settings of ``dataaudit spikes``, recorded in its report."""

    metric: str = "loss"                 # metric to audit; 'loss' finds the train loss under its usual names
    log_format: str | None = None        # force the log format; None: detect per path
    pattern: str | None = None           # regex with named groups for log_format='regex'
    step_column: str | None = None       # step column of CSV/JSONL/Parquet logs
    grad_metric: str | None = None       # grad-norm metric (None: detect; 'none' to skip)
    eval_metric: str | None = None       # eval-loss metric (None: detect; 'none' to skip)
    spikes: SpikeConfig = field(default_factory=SpikeConfig)        # the detector
    diagnose: DiagnoseConfig = field(default_factory=DiagnoseConfig)  # divergence, plateaus, grouping
    on_bad_record: str = "fail"          # a damaged metric record (bad JSON line, corrupt TensorBoard record):
                                         # stop (fail) or count, locate and go on (skip). Lines that are not metric
                                         # lines at all (a script's source, notices) are not records: always ignored
    max_bad_records: int | float = 0.01  # with skip: fail past this many damaged records (int) or this share (float < 1)
    check_crc: bool = True               # verify TensorBoard record checksums
    plots: bool = True                   # draw PNG plots of each run
    max_plots: int = 50                  # runs plotted (the first ones); the rest are listed
    fail_on: str = "spike"               # exit-1 level: info | spike | divergence | never
    forensics: ForensicsConfig = field(default_factory=ForensicsConfig)   # --data/--order: suspects + skip list

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.on_bad_record not in ("fail", "skip"):
            raise ConfigError(f"--on-bad-record must be 'fail' or 'skip', not {self.on_bad_record!r}")
        if self.fail_on not in FAIL_LEVELS:
            raise ConfigError(f"--fail-on {self.fail_on!r}; choose one of {list(FAIL_LEVELS)}")


def analyze_spikes(logs: str | os.PathLike | Sequence[str | os.PathLike], *, out_dir: str | os.PathLike | None = None,
                   config: SpikesConfig = SpikesConfig(), table: pa.Table | None = None,
                   progress: Progress | None = None) -> Report:
    """Read training logs and diagnose their curves; publish the report into ``out_dir``; return it.

    ``table`` (a ``read_logs`` result) skips reading. With ``out_dir``, the findings go there as Parquet
    (spikes, events, groups, gap) with PNG plots under ``plots/``.
    """
    paths = [logs] if isinstance(logs, (str, os.PathLike)) else list(logs)
    record = {"logs": [str(p) for p in paths], "log_format": config.log_format or "auto", "metric": config.metric,
              "grad_metric": config.grad_metric or "auto", "eval_metric": config.eval_metric or "auto",
              "spikes": config.spikes.to_dict(), "diagnose": config.diagnose.to_dict(),
              "on_bad_record": config.on_bad_record, "top": config.top, "fail_on": config.fail_on,
              "forensics": config.forensics.to_dict()}
    inputs = paths + ([config.forensics.data] if config.forensics.data is not None else [])
    with Job("spikes", config, record, out_dir=out_dir, inputs=inputs, progress=progress) as job:
        report = job.report
        with job.phase("read logs"):
            if table is None:
                table = read_logs(paths, config.log_format, pattern=config.pattern, step_column=config.step_column,
                                  check_crc=config.check_crc, on_bad=config.on_bad_record)
            report.bad_records = log_metadata(table)["bad_records"]
            check_bad_limit(report.bad_records["count"], table.num_rows, config.max_bad_records,
                            what="log records", where=", ".join(map(str, paths)))
        with job.phase("detect"):
            res_pass, res = analyze_table(table, metric=config.metric, config=config.spikes,
                                          diagnose=config.diagnose, grad_metric=config.grad_metric,
                                          eval_metric=config.eval_metric)
        _check_judged(res_pass, res, config)
        report.summary = res_pass.summary
        report.findings = res_pass.findings
        report.findings["curves"] = curves(res, max_runs=config.max_plots)
        report.warnings.extend(res_pass.warnings)
        _limit(report, config.top)
        if config.forensics.on:
            with job.phase("forensics"):
                if not res["spikes"]:
                    report.warnings.append("forensics: no spike was found, so no batch was mapped")
                else:
                    fr = run_forensics(config.forensics, res["spikes"], table, job.stage, progress=job.progress,
                                       top=config.top)
                    report.summary["forensics"] = fr["summary"]
                    report.findings["forensics"] = fr["findings"]
                    report.files.update(fr["files"])
        if out_dir is not None:
            with job.phase("write"):
                report.files.update(write_tables(job.stage, res))
                if config.plots:
                    _plots(job.stage, res, report, config.metric, config.max_plots)
        return job.finish()


def _check_judged(res: Any, detail: dict[str, Any], config: SpikesConfig) -> None:
    """A log where nothing could be judged is not a clean log: say so, and how to fix it (settings derived
    from the runs' lengths by ``history_hint``)."""
    from ..logs.spikes import history_hint

    runs = res.findings.get("runs", [])
    unjudged = [r["run"] for r in runs if not r["judged"]]
    res.summary["unjudged_runs"] = len(unjudged)
    if not unjudged:
        return
    sc = config.spikes
    h = history_hint([s for _m, s in detail["scored"].values()], sc)
    single = (f"{h['single']} run(s) have fewer than 2 finite points, which no setting judges" if h["single"]
              else "")
    if (h["min_history"], h["warmup_steps"]) == (sc.min_history, sc.warmup_steps) or h["judged"] == 0:
        hint = single or (f"each needs more than --min-history {sc.min_history} points after --warmup-steps "
                          f"{sc.warmup_steps}")
        hint += "; give a log with more points"
    else:
        hint = (f"each needs more than --min-history {sc.min_history} points after --warmup-steps {sc.warmup_steps}; "
                f"--min-history {h['min_history']} --warmup-steps {h['warmup_steps']} judges a point in every run "
                f"with 2+ points ({h['judged']} point(s) judged")
        hint += ")" if h["min_history"] == 1 else (f"; --min-history 1 judges {h['judged_min1']}, each against a "
                                                   f"shorter, noisier baseline)")
        hint += (f"; {single}" if single else "") + "; or give a log with more points"
    res.summary["unjudged_hint"] = hint
    if runs and len(unjudged) == len(runs):
        raise LogError(f"{len(runs)} run(s) read ({res.summary.get('points', 0)} points), but no point could be "
                       f"judged: {hint}")
    if unjudged:
        res.warnings.append(f"{len(unjudged)} of {len(runs)} runs had no point that could be judged "
                            f"({', '.join(unjudged[:5])}{' ...' if len(unjudged) > 5 else ''}): {hint}")


def curves(res: dict[str, Any], *, max_runs: int = 50, points: int = 400) -> list[dict[str, Any]]:
    """Each run's curve for the report's plots, reduced to at most ``points`` points (the bucket's maximum and
    minimum kept, so a spike survives the reduction); its size is fixed by these settings, not by the log."""
    import numpy as np

    out = []
    for run, (metric, sc) in list(res["scored"].items())[:max_runs]:
        steps, vals = np.asarray(sc.steps, dtype=np.float64), np.asarray(sc.values, dtype=np.float64)
        ok = np.isfinite(vals)
        steps, vals = steps[ok], vals[ok]
        if len(steps) > points:
            edges = np.linspace(0, len(steps), points // 2 + 1).astype(int)
            idx = []
            for a, b in zip(edges[:-1], edges[1:]):
                if b > a:
                    seg = vals[a:b]
                    idx += sorted({a + int(np.argmin(seg)), a + int(np.argmax(seg))})
            steps, vals = steps[idx], vals[idx]
        out.append({"run": run, "metric": metric, "steps": steps.astype(np.int64).tolist(),
                    "values": [round(float(v), 6) for v in vals],
                    "spikes": [s["step"] for s in res["spikes"] if s["run"] == run][:50]})
    return out


def _limit(report: Report, top: int) -> None:
    """``--top`` bounds every listing of the report (the Parquet tables hold all)."""
    f = report.findings
    for k in ("spikes", "groups", "events", "divergence"):
        if k in f:
            f[k] = f[k][:top] if k != "spikes" else sorted(f[k], key=lambda s: -s["score"])[:top]


def _plots(out: Path, res: dict[str, Any], report: Report, metric: str, max_plots: int) -> None:
    from ..report.plots import plot_overlay, plot_run, safe_name

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
    plots = {}
    if len(res["scored"]) > 1:
        plot_overlay(out / "plots/all_runs.png", metric, {k: v[1] for k, v in res["scored"].items()}, res["groups"])
        plots["overlay"] = "plots/all_runs.png"
    report.findings["plots"] = plots


def exit_code(report: Report, fail_on: str) -> int:
    """0 when the report's severity is below ``fail_on``, else 1."""
    if fail_on == "never":
        return 0
    return int(SEVERITY.index(report.summary.get("severity", "none")) >= SEVERITY.index(fail_on))
