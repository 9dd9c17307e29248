"""``dataaudit spikes``: training logs in, loss spikes and curve diagnoses out.

Exit codes: 0 when nothing reaches ``--fail-on``, 1 when it does, 2 on errors. ``--fail-on`` levels,
lowest first: ``info`` (plateaus, restarts, rewinds, overfitting), ``spike`` (any loss spike; the
default), ``divergence`` (NaN/inf or a sustained climb), ``never``.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    from ..cli import add_output_args
    from ..logs.readers import FORMATS

    p = subparsers.add_parser(
        "spikes", help="find loss spikes, divergence, restarts and overfitting in training logs",
        description="Read training logs (TensorBoard, trainer_state.json, Lightning CSV, MLflow, W&B "
                    "exports, Megatron / nanoGPT text, CSV/JSONL) and report loss spikes (causal robust "
                    "z-score of log-loss), grad-norm spikes, divergence, plateaus, restarts, rewinds and "
                    "overfitting; spikes at the same step in several runs are grouped.")
    p.add_argument("--log", nargs="+", required=True, metavar="PATH",
                   help="log files or directories (one or more runs)")
    p.add_argument("--metric", default="loss",
                   help="metric to audit; 'loss' finds the train loss under its usual names (default)")
    p.add_argument("--log-format", choices=FORMATS, default=None, help="force the log format (default: detect)")
    p.add_argument("--pattern", help="regex with named groups for --log-format regex: 'step' + one per metric")
    p.add_argument("--step-column", help="step column of CSV/JSONL/Parquet logs")
    p.add_argument("--grad-metric", help="grad-norm metric (default: detect; 'none' to skip)")
    p.add_argument("--eval-metric", help="eval-loss metric (default: detect; 'none' to skip)")
    p.add_argument("--threshold", type=float, help="robust z threshold of a spike (default 6)")
    p.add_argument("--window", type=int, help="trailing points in the baseline (default 50)")
    p.add_argument("--min-history", type=int, help="points needed behind a point to judge it (default 20)")
    p.add_argument("--warmup-steps", type=int, help="steps not judged at the start (default 100)")
    p.add_argument("--min-rise", type=float, help="minimal rise over the baseline, as a fraction (default 0.05)")
    p.add_argument("--group-tolerance", type=int, help="steps apart that still group spikes across runs (default 0)")
    p.add_argument("--fail-on", choices=("info", "spike", "divergence", "never"), default="spike",
                   help="exit 1 when findings reach this level (default: spike)")
    p.add_argument("--on-bad-record", choices=("skip", "fail"), default="skip",
                   help="unreadable log lines: count and go on (skip) or stop (fail)")
    p.add_argument("--no-plots", action="store_true", help="do not draw PNG plots")
    add_output_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..logs import DiagnoseConfig, SpikeConfig, analyze_logs, severity_at_least
    from ..report import to_json

    over = {k: v for k, v in (("threshold", args.threshold), ("window", args.window),
                              ("min_history", args.min_history), ("warmup_steps", args.warmup_steps),
                              ("min_rise", args.min_rise)) if v is not None}
    if "window" in over and "min_history" not in over:
        over["min_history"] = min(SpikeConfig().min_history, over["window"])
    cfg = SpikeConfig(**over)
    dcfg = DiagnoseConfig(**({"group_tolerance": args.group_tolerance}
                             if args.group_tolerance is not None else {}))
    if not args.quiet and sys.stderr.isatty():
        print(f"dataaudit spikes: reading {len(args.log)} log path(s)", file=sys.stderr)
    report = analyze_logs(args.log, metric=args.metric, out_dir=args.out, config=cfg, diagnose=dcfg,
                          fmt=args.log_format, pattern=args.pattern, step_column=args.step_column,
                          grad_metric=args.grad_metric, eval_metric=args.eval_metric,
                          plots=not args.no_plots, on_bad=args.on_bad_record)
    if args.format == "json":
        sys.stdout.write(to_json(report))
    else:
        s = report.summary
        print(f"{s['runs']} run(s), {s['judged_points']} judged points: {s['spikes']} spike(s), "
              f"{s['shared_spike_groups']} shared step(s), {s['divergences']} divergence finding(s); "
              f"severity {s['severity']}. Report: {args.out}/report.md")
    return 1 if severity_at_least(report, args.fail_on) else 0
