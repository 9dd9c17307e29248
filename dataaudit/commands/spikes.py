"""``dataaudit spikes``: training logs in, loss spikes and curve diagnoses out.

Exit codes: 0 when nothing reaches ``--fail-on``, 1 when it does, 2 on errors. ``--fail-on`` levels,
lowest first: ``info`` (plateaus, restarts, rewinds, overfitting), ``spike`` (any loss spike; the
default), ``divergence`` (NaN/inf or a sustained climb), ``never``.
"""

from __future__ import annotations

import argparse


def _window(text: str) -> int:
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError("give 0 or more steps")
    return v


def register(subparsers) -> None:
    from ..logs.analysis import SEVERITY
    from ..logs.readers import FORMATS
    from ._common import (DeprecatedAlias, Many, add_engine_args, add_input_args, add_model_args,
                          add_output_args)

    p = subparsers.add_parser(
        "spikes", help="find loss spikes, divergence, restarts and overfitting in training logs",
        description="Read training logs (TensorBoard, trainer_state.json, Lightning CSV, MLflow, W&B "
                    "exports, Megatron / nanoGPT text, CSV/JSONL) and report loss spikes (causal robust "
                    "z-score of log-loss), grad-norm spikes, divergence, plateaus, restarts, rewinds and "
                    "overfitting; spikes at the same step in several runs are grouped.")
    p.add_argument("--log", action=Many, required=True, metavar="PATH",
                   help="log files or directories (one or more runs)")
    g = p.add_argument_group("logs")
    g.add_argument("--metric", default="loss", metavar="NAME",
                   help="metric to audit; 'loss' finds the train loss under its usual names (default)")
    g.add_argument("--log-format", choices=FORMATS, default=None, metavar="FORMAT",
                   help=f"force the log format: {', '.join(FORMATS)} (default: detect)")
    g.add_argument("--pattern", metavar="REGEX",
                   help="regex with named groups for --log-format regex: 'step' + one per metric")
    g.add_argument("--step-column", metavar="NAME", help="step column of CSV/JSONL/Parquet logs")
    g.add_argument("--grad-metric", metavar="NAME", help="grad-norm metric (default: detect; 'none' to skip)")
    g.add_argument("--eval-metric", metavar="NAME", help="eval-loss metric (default: detect; 'none' to skip)")
    d = p.add_argument_group("detector")
    d.add_argument("--spike-threshold", type=float, metavar="Z", help="robust z threshold of a spike (default 6)")
    d.add_argument("--threshold", dest="spike_threshold", type=float, metavar="Z", action=DeprecatedAlias,
                   help="deprecated alias of --spike-threshold (kept for one release)")
    d.add_argument("--baseline-window", type=int, metavar="N", help="trailing points in the baseline (default 50)")
    d.add_argument("--min-history", type=int, metavar="N",
                   help="points needed behind a point to judge it (default 20)")
    d.add_argument("--warmup-steps", type=int, metavar="N", help="steps not judged at the start (default 100)")
    d.add_argument("--min-rise", type=float, metavar="F",
                   help="minimal rise over the baseline, as a fraction (default 0.05)")
    d.add_argument("--group-tolerance", type=int, metavar="N",
                   help="steps apart that still group spikes across runs (default 0)")
    d.add_argument("--no-plots", action="store_true", help="do not draw PNG plots")
    f = p.add_argument_group("forensics (with --data and --order: the documents of the spiking batches)")
    f.add_argument("--data", metavar="PATH", help="the training data the run read: a text corpus (manifest, sampler, "
                                                  "sequential), OLMo token .npy files, or a Megatron .bin/.idx prefix")
    f.add_argument("--order", metavar="SPEC",
                   help="the run's data order: manifest:PATH, sampler:seed=S,batch=B[,accum=A][,world=W]"
                        "[,drop_last=0|1], olmo:PATH[,...], megatron:PATH, sequential:batch=B (docs/forensics.md)")
    f.add_argument("--tokenizer", metavar="DIR", help="local HF tokenizer directory to decode token --data")
    f.add_argument("--window", type=_window, metavar="K",
                   help="steps before each spike mapped with it (default 2); needs --data and --order")
    f.add_argument("--control-batches", type=int, default=50, metavar="N",
                   help="batches away from any spike that define usual for this run's data (default 50)")
    f.add_argument("--restart-before", type=int, default=100, metavar="N",
                   help="skip list: restart this many steps before the skipped range (default 100, as PaLM)")
    f.add_argument("--skip-after", type=int, default=0, metavar="N",
                   help="skip list: also skip this many steps after the spike step (default 0)")
    add_input_args(p, what="--data", bad="an invalid record of --data or a damaged metric record of a log (bad "
                                       "JSON line, corrupt TensorBoard record; lines that are not metric lines are "
                                       "always ignored)")
    add_model_args(p, what="reference model for the bits per byte of the suspects (default: none)")
    add_engine_args(p)
    add_output_args(p, fail_on=SEVERITY[1:] + ("never",), fail_default="spike",
                    fail_help="exit 1 when findings reach LEVEL: info (plateaus, restarts, overfitting), spike "
                              "(default), divergence, never")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    from ..api.spikes import SpikesConfig
    from ..logs import DiagnoseConfig, SpikeConfig

    from ..api.forensics import ForensicsConfig
    from ..errors import ConfigError
    from ._common import read_config, score_config

    if args.window is not None and args.order is None:
        raise ConfigError("--window sets the steps before a spike that forensics maps, with --data and --order; "
                          "the detector's trailing window is --baseline-window")
    fcfg = ForensicsConfig(data=args.data, order=args.order, read=read_config(args), tokenizer=args.tokenizer,
                           window=2 if args.window is None else args.window, control_batches=args.control_batches,
                           restart_before=args.restart_before, skip_after=args.skip_after, model=args.model,
                           device=args.device, cache_dir=args.cache_dir, score=score_config(args), max_spikes=args.top)
    over = {k: v for k, v in (("threshold", args.spike_threshold), ("window", args.baseline_window),
                              ("min_history", args.min_history), ("warmup_steps", args.warmup_steps),
                              ("min_rise", args.min_rise)) if v is not None}
    if "window" in over and "min_history" not in over:
        over["min_history"] = min(SpikeConfig().min_history, over["window"])
    dcfg = DiagnoseConfig(**({"group_tolerance": args.group_tolerance} if args.group_tolerance is not None else {}))
    return SpikesConfig(metric=args.metric, log_format=args.log_format, pattern=args.pattern,
                        step_column=args.step_column, grad_metric=args.grad_metric, eval_metric=args.eval_metric,
                        spikes=SpikeConfig(**over), diagnose=dcfg, on_bad_record=args.on_bad_record,
                        max_bad_records=args.max_bad_records, forensics=fcfg,
                        plots=not args.no_plots, top=args.top, fail_on=args.fail_on, workers=args.workers,
                        engine=args.engine, ray_address=args.ray_address)


def run(args: argparse.Namespace) -> int:
    from ..api.spikes import analyze_spikes, exit_code
    from ..report.summary import lines
    from ._common import emit, run_with_progress

    cfg = config_from_args(args)
    report = run_with_progress(args, analyze_spikes, args.log, out_dir=args.out, config=cfg)
    emit(report, args.format, lines(report, args.out))
    return exit_code(report, cfg.fail_on)
