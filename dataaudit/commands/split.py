"""dataaudit split: leakage between train and val/test/eval sets, duplicates within each split."""

from __future__ import annotations

import argparse

from ..errors import ConfigError

FAIL_LEVELS = ("duplicate", "leak", "never")


def register(sub) -> None:
    from ..cli import add_input_args, add_output_args

    p = sub.add_parser("split", help="find val/test/eval documents that also occur in train",
                       description="Exact (and, where enabled, near-duplicate and containment) leakage between "
                                   "a train split and val/test/eval sets, and duplicates within each split.")
    p.add_argument("--train", required=True, metavar="PATH", help="train split: file, directory or glob")
    p.add_argument("--val", metavar="PATH", help="validation split")
    p.add_argument("--test", metavar="PATH", help="test split")
    p.add_argument("--eval", nargs="+", default=[], metavar="FILE",
                   help="evaluation sets (JSONL etc.), each checked against train under its file name")
    p.add_argument("--eval-field", metavar="NAME", help="text field of the --eval files (default: auto-detect)")
    add_input_args(p, what="--train/--val/--test")
    p.add_argument("--batch-size", type=int, default=4096, help="documents per batch (bounds memory)")
    p.add_argument("--fold-digits", action="store_true", help="normalize every digit to 0 before comparing")
    p.add_argument("--keep-case", action="store_true", help="do not lower-case before comparing")
    p.add_argument("--keep-punctuation", action="store_true", help="do not strip punctuation before comparing")
    p.add_argument("--fail-on", default="leak", metavar="LEVEL",
                   help="exit 1 when findings reach LEVEL: 'leak' (any val/test/eval document found in train, "
                        "default), 'duplicate' (also duplicates within a split), 'never', or a number: the "
                        "leaked-document fraction of any split at or above it (e.g. 0.01)")
    p.add_argument("--top", type=int, default=20, help="findings listed in the report (tables hold all)")
    p.add_argument("--model", metavar="M",
                   help="reference model for val/test perplexity with and without the leaked documents: a local "
                        "Hugging Face causal LM directory (or cached name), a byte-LM directory, or 'default' "
                        "to fit the embedded byte-level model on a sample of train (default: no scoring)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                   help="where the reference model runs")
    from ..passes.near import add_near_args
    from ..passes.overlap import add_containment_args

    add_near_args(p)
    add_containment_args(p)
    add_output_args(p)
    p.set_defaults(func=run)


def _fail_threshold(value: str):
    if value in FAIL_LEVELS:
        return value
    try:
        f = float(value)
    except ValueError:
        raise ConfigError(f"--fail-on {value!r}: use one of {list(FAIL_LEVELS)} or a fraction such as 0.01") from None
    if not 0 <= f <= 1:
        raise ConfigError(f"--fail-on {value}: a fraction must be between 0 and 1")
    return f


def exit_code(report, fail_on) -> int:
    """0 when nothing reaches --fail-on, 1 when something does."""
    if fail_on == "never":
        return 0
    leaked = report.summary.get("leaked_docs", 0)
    if isinstance(fail_on, float):
        fracs = [c["leaked_doc_fraction"] for c in report.summary["leaks"]["by_split"].values()]
        return int(bool(fracs) and max(fracs) >= fail_on and max(fracs) > 0)
    if leaked:
        return 1
    if fail_on == "duplicate" and report.summary["exact"]["duplicate_groups"]:
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    from ..api import ReadConfig, SplitConfig, audit_split
    from ..text import NormalizeConfig
    from ._common import emit, progress_bars

    fail_on = _fail_threshold(args.fail_on)
    from ..passes.near import near_config_from_args
    from ..passes.overlap import containment_config_from_args

    near = near_config_from_args(args)
    cont = containment_config_from_args(args)
    cfg = SplitConfig(
        read=ReadConfig(fmt=args.fmt, text_column=args.text_column, id_column=args.id_column,
                        eval_field=args.eval_field, batch_size=args.batch_size, on_bad_record=args.on_bad_record),
        normalize=NormalizeConfig(lower=not args.keep_case, punctuation=not args.keep_punctuation,
                                  digits=args.fold_digits),
        near=near, containment=cont, top=args.top, fail_on=args.fail_on,
        model=args.model, device=args.device)
    cb, close = progress_bars(args.quiet)
    try:
        report = audit_split(args.train, args.val, args.test, evals=args.eval, out_dir=args.out, config=cfg,
                             progress=cb)
    finally:
        close()
    code = exit_code(report, fail_on)
    lines = []
    for name, c in report.summary["exact"]["splits"].items():
        s = f"{name}: {c['docs']} docs, {c['dup_docs']} exact duplicates ({c['dup_doc_fraction']:.2%})"
        if name != "train":
            s += f", {c['leaked_docs']} exact leaks from train ({c['leaked_doc_fraction']:.2%})"
        lines.append(s)
    for name, c in report.summary["leaks"]["by_split"].items():
        lines.append(f"{name}: {c['leaked_docs']} of {c['docs']} documents leaked from train by any pass "
                     f"({c['leaked_doc_fraction']:.2%}: {c['exact']} exact, {c.get('near_not_exact', 0)} near, "
                     f"{c.get('containment_only', 0)} contained)")
    for name, r in (report.summary.get("perplexity") or {}).get("by_split", {}).items():
        a, c = r["all"]["ppl"], r["without_leaked"]["ppl"]
        if a and c:
            lines.append(f"{name}: perplexity {a:.4g} with leaked documents, {c:.4g} without")
    if report.bad_records["count"]:
        lines.append(f"bad records skipped: {report.bad_records['count']} (located in report.json)")
    lines.append(f"report: {args.out}/report.md")
    emit(report, args.format, lines)
    return code
