"""dataaudit split: leakage between train and val/test/eval sets, duplicates within each split."""

from __future__ import annotations

import argparse

from ..errors import ConfigError

FAIL_LEVELS = ("duplicate", "leak", "never")


def register(sub) -> None:
    from ._common import Many, add_engine_args, add_input_args, add_model_args, add_output_args
    from ._near import add_near_args

    p = sub.add_parser("split", help="find val/test/eval documents that also occur in train",
                       description="Exact (and, where enabled, near-duplicate and containment) leakage between "
                                   "a train split and val/test/eval sets, and duplicates within each split.")
    p.add_argument("--train", required=True, metavar="PATH", help="train split: file, directory or glob")
    p.add_argument("--val", metavar="PATH", help="validation split")
    p.add_argument("--test", metavar="PATH", help="test split")
    p.add_argument("--eval", action=Many, default=[], metavar="FILE[:FIELD]",
                   help="evaluation sets (JSONL, JSON, Parquet, CSV), each checked against train under its file "
                        "name; FILE:FIELD+FIELD audits those fields joined by newlines (nested: question.stem; "
                        "lists: choices); without FIELD the fields are detected")
    p.add_argument("--eval-field", metavar="NAME",
                   help="text field of the --eval files given without :FIELD (default: auto-detect)")
    p.add_argument("--eval-id-field", metavar="NAME",
                   help="id field of the --eval files (default: id, idx, pairID, ... when present, else the row); "
                        "doc_ids read <set>:<id>")
    add_input_args(p, what="--train/--val/--test")
    n = p.add_argument_group("normalization (the same for every pass)")
    n.add_argument("--fold-digits", action="store_true", help="normalize every digit to 0 before comparing")
    n.add_argument("--keep-case", action="store_true", help="do not lower-case before comparing")
    n.add_argument("--keep-punctuation", action="store_true", help="do not strip punctuation before comparing")
    add_near_args(p, mode="cross")
    c = p.add_argument_group("containment (short documents inside long training documents)")
    c.add_argument("--no-containment", action="store_true", help="skip the containment pass")
    c.add_argument("--containment-ngram", type=int, default=13, metavar="N",
                   help="words per n-gram, the most a split's item lengths may choose (default 13)")
    c.add_argument("--containment-min-ngram", type=int, default=8, metavar="N",
                   help="the least n: each split's n is the 5th percentile of its item word counts, clamped to "
                        "this..--containment-ngram (default 8; equal to --containment-ngram: a fixed n)")
    c.add_argument("--containment-min-words", type=int, default=5, metavar="N",
                   help="items shorter than their split's n but of at least N words are matched whole, as a "
                        "contiguous word sequence of a train document; shorter ones are not checked (default 5)")
    c.add_argument("--containment-threshold", type=float, default=0.5, metavar="F",
                   help="flag a document when this share of its n-grams occurs in train (default 0.5)")
    c.add_argument("--max-ngram-doc-freq", type=int, default=100, metavar="N",
                   help="ignore n-grams found in more train documents than this (boilerplate; default 100)")
    t = p.add_argument_group("trivial leaks (headings, boilerplate: counted apart, not in the headline)")
    t.add_argument("--trivial-words", type=int, default=4, metavar="N",
                   help="a leak whose matched text has at most N words is trivial (default 4)")
    t.add_argument("--trivial-copies", type=int, default=10, metavar="N",
                   help="a leak whose text is in at least N train documents is trivial (default 10)")
    add_model_args(p, what="reference model for val/test perplexity with and without the leaked documents "
                           "(default: no scoring)")
    x = p.add_argument_group("explanation (with --model)")
    x.add_argument("--train-sample", type=int, default=2000, metavar="N",
                   help="train documents scored too, chosen by content hash, to measure the train/val gap with "
                        "the same model (default 2000; 0: none)")
    x.add_argument("--log", action=Many, default=[], metavar="LOG",
                   help="training logs (any format dataaudit spikes reads): the run's own train and eval loss near "
                        "its last eval step, stated beside dataaudit's numbers")
    from ..logs.readers import FORMATS as LOG_FORMATS

    x.add_argument("--log-format", choices=LOG_FORMATS, default=None, metavar="FORMAT",
                   help=f"force the format of --log: {', '.join(LOG_FORMATS)} (default: detect)")
    x.add_argument("--pattern", metavar="REGEX",
                   help="regex with named groups for --log-format regex: 'step' + one per metric")
    x.add_argument("--step-column", metavar="NAME", help="step column of CSV/JSONL/Parquet --log files")
    x.add_argument("--metric", default="loss", metavar="NAME",
                   help="train-loss metric of --log; 'loss' finds it under its usual names (default)")
    x.add_argument("--eval-metric", metavar="NAME", help="eval-loss metric of --log (default: detect)")
    add_engine_args(p)
    add_output_args(p, fail_on=FAIL_LEVELS, fail_default="leak",
                    fail_help="exit 1 when findings reach LEVEL: 'leak' (any val/test/eval document found in train, "
                              "default), 'duplicate' (also duplicates within a split), 'never', or a number: the "
                              "leaked-document fraction of any split at or above it (e.g. 0.01)")
    p.set_defaults(func=run)


def fail_threshold(value: str):
    if value in FAIL_LEVELS:
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--fail-on {value!r}: use one of {list(FAIL_LEVELS)} or a fraction such as 0.01") from None
    if not 0 <= f <= 1:
        raise ConfigError(f"--fail-on {value}: a fraction must be between 0 and 1")
    return f


def config_from_args(args: argparse.Namespace):
    from ..api.split import SplitConfig
    from ..findings.leaks import TrivialRule
    from ..passes.containment import ContainmentConfig
    from ..passes.near import NearConfig
    from ..text import NormalizeConfig
    from ._common import read_config, score_config
    from ._near import near_config

    near = near_config(args)
    cont = None if args.no_containment else ContainmentConfig(
        ngram=args.containment_ngram, threshold=args.containment_threshold, max_ngram_doc_freq=args.max_ngram_doc_freq,
        min_ngram=args.containment_min_ngram, min_item_words=args.containment_min_words)
    return SplitConfig(
        read=read_config(args),
        normalize=NormalizeConfig(lower=not args.keep_case, punctuation=not args.keep_punctuation,
                                  digits=args.fold_digits),
        near=near, containment=cont, top=args.top, fail_on=fail_threshold(args.fail_on), model=args.model,
        device=args.device, cache_dir=args.cache_dir, score=score_config(args), workers=args.workers,
        train_sample=args.train_sample, log=tuple(args.log),
        log_read={"fmt": args.log_format, "pattern": args.pattern, "step_column": args.step_column,
                  "metric": args.metric, "eval_metric": args.eval_metric},
        eval_id_field=args.eval_id_field,
        trivial=TrivialRule(max_words=args.trivial_words, min_copies=args.trivial_copies), engine=args.engine, ray_address=args.ray_address)


def run(args: argparse.Namespace) -> int:
    from ..api.split import audit_split, exit_code
    from ..report.summary import lines
    from ._common import emit, run_with_progress

    cfg = config_from_args(args)
    report = run_with_progress(args, audit_split, args.train, args.val, args.test, evals=args.eval,
                               out_dir=args.out, config=cfg)
    emit(report, args.format, lines(report, args.out))
    return exit_code(report, cfg.fail_on)
