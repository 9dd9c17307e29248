"""dataaudit report: what is in this corpus (duplicates, quality signals, distributions, outliers)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    from ._common import add_engine_args, add_input_args, add_model_args, add_output_args
    from ._near import add_near_args

    p = sub.add_parser("report", help="the dataset report: duplicates, quality signals, distributions, outliers",
                       description="Per-document signals (size; Gopher, C4 and FineWeb quality and repetition "
                                   "rules; character runs, encoded text; exact and near-duplicate membership; "
                                   "bits per byte with --model) into DIR/docs.parquet keyed by doc_id, and a "
                                   "corpus report (report.md, report.json, report.html) of a size fixed by --top.")
    p.add_argument("data", metavar="DATA", help="documents: file, directory or glob")
    add_input_args(p, what="DATA")
    add_near_args(p, mode="within")
    add_model_args(p, what="reference model for bits per byte (default: none)")
    p.add_argument("--tokenizer", metavar="DIR",
                   help="a local Hugging Face tokenizer directory: count each document's tokens (tokenization "
                        "only, no model; needs transformers). Without it (or --model) tokens are not counted")
    add_engine_args(p)
    add_output_args(p, fail_on=("alert", "never"), fail_default="never",
                    fail_help="exit 1 when the report raises an alert (alert), or never (default)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..api.dataset import DatasetConfig, dataset_report
    from ..report.summary import lines
    from ._common import emit, read_config, score_config, run_with_progress
    from ._near import near_config

    cfg = DatasetConfig(read=read_config(args), near=near_config(args), model=args.model,
        tokenizer=args.tokenizer, device=args.device,
        cache_dir=args.cache_dir, score=score_config(args), top=args.top, workers=args.workers,
        engine=args.engine, ray_address=args.ray_address, fail_on=args.fail_on)
    report = run_with_progress(args, dataset_report, args.data, out_dir=args.out, config=cfg)
    emit(report, args.format, lines(report, args.out))
    return int(cfg.fail_on == "alert" and bool(report.summary.get("alerts")))
