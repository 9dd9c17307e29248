"""dataaudit score: per-document reference-model perplexity, bits per byte, Min-K%, zlib ratio, worst window."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    from ._common import add_engine_args, add_input_args, add_model_args, add_output_args

    p = sub.add_parser("score", help="score every document with a reference model (perplexity, bits/byte)",
                       description="Per-document reference-model scores (nll_sum, n_tokens, n_bytes, perplexity, "
                                   "bits per byte, Min-K%%, zlib ratio, worst and best window) into "
                                   "DIR/scores.parquet, with report.json and report.md. Without --model (or with "
                                   "--model default), a small byte-level model is fitted on a sample of DATA (or "
                                   "of --fit-on) and cached.")
    p.add_argument("data", metavar="DATA", help="documents: file, directory or glob (jsonl, parquet, arrow, csv, "
                                                "txt directory, HF dataset directory)")
    add_model_args(p, what="the reference model (default: fit the byte-level default)")
    s = p.add_argument_group("scoring")
    s.add_argument("--fit-on", metavar="CORPUS", help="without --model: fit the byte-level default on a sample of "
                                                      "CORPUS instead of DATA (e.g. your training split)")
    s.add_argument("--min-k", type=float, default=0.2, metavar="F", help="Min-K%% fraction (default 0.2)")
    s.add_argument("--no-cache", action="store_true", help="score everything again and cache nothing")
    s.add_argument("--split", default="data", metavar="NAME", help="split label recorded for DATA (default: data)")
    add_input_args(p, what="DATA")
    add_engine_args(p)
    add_output_args(p, fail_on=("never",), fail_default="never",
                    fail_help="exit 1 when findings reach LEVEL; scoring reports no findings, so only 'never' "
                              "(the default) is accepted")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..api.score import ScoreJobConfig, score_corpus
    from ..errors import ConfigError
    from ..report.summary import lines
    from ._common import emit, read_config, score_config, run_with_progress

    if args.fail_on != "never":
        raise ConfigError(f"--fail-on {args.fail_on!r}: dataaudit score has no findings to fail on; use 'never'")
    cfg = ScoreJobConfig(
        read=read_config(args),
        score=score_config(args, min_k=args.min_k),
        model=args.model, fit_on=args.fit_on, device=args.device, cache_dir=args.cache_dir,
        use_cache=not args.no_cache, split=args.split, top=args.top, workers=args.workers,
        engine=args.engine, ray_address=args.ray_address)
    report = run_with_progress(args, score_corpus, args.data, out_dir=args.out, config=cfg)
    out = lines(report, args.out)
    out.insert(-1, f"scores: {args.out}/scores.parquet")
    emit(report, args.format, out)
    return 0
