"""The flag groups every command shares, so one flag means one thing everywhere, and the stdout helpers.

Groups: input (``--input-format``, ``--text-column``, ``--id-column``, ``--batch-size``, ``--on-bad-record``,
``--max-bad-records``), output (``--out``, ``--format``, ``--top``, ``--quiet``, ``--fail-on``, ``--config``),
model (``--model``, ``--device``, ``--cache-dir``) and engine (``--workers``).
"""

from __future__ import annotations

import argparse
import sys

from ..config import ReadConfig, parse_max_bad
from ..records import Report
from ..report import to_json


class DeprecatedAlias(argparse.Action):
    """An old flag name: works, and says on stderr which flag replaces it."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        new = "--" + self.dest.replace("_", "-")
        print(f"dataaudit: warning: {option_string} is deprecated; use {new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


class Many(argparse.Action):
    """``nargs="+"`` that a repeated flag adds to (``--eval a.jsonl --eval b.jsonl`` audits both; argparse's
    plain store keeps the last only), while the first use on the command line replaces the default, so a
    ``--config`` file's list is overridden by the flag, not extended (defaults < file < flags)."""

    def __init__(self, *a, **kw) -> None:
        kw.setdefault("nargs", "+")
        super().__init__(*a, **kw)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        cur = getattr(namespace, self.dest, None)
        first = cur is None or cur is self.default     # argparse starts every dest at the default object itself
        setattr(namespace, self.dest, list(values) if first else [*cur, *values])


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; give 0 or more")
    return v


def _pos_int(text: str) -> int:
    v = _nonneg_int(text)
    if v == 0:
        raise argparse.ArgumentTypeError("give 1 or more")
    return v


def add_input_args(p: argparse.ArgumentParser, *, what: str,
                   bad: str = "an invalid record (bad JSON line, null text, undecodable bytes)") -> None:
    """How documents are read."""
    from ..io.readers import FORMATS

    g = p.add_argument_group("input")
    g.add_argument("--input-format", dest="fmt", choices=FORMATS, metavar="FORMAT",
                   help=f"format of {what}: {', '.join(FORMATS)} (default: detected from the path)")
    g.add_argument("--text-column", metavar="NAME", help="text column (default: text, content, ...)")
    g.add_argument("--id-column", metavar="NAME", help="id column (default: <source>:<row>)")
    g.add_argument("--batch-size", type=_pos_int, default=4096, metavar="N",
                   help="documents per batch; bounds memory (default 4096)")
    add_bad_record_args(g, what=bad)


def add_bad_record_args(g, *, what: str) -> None:
    g.add_argument("--on-bad-record", choices=("fail", "skip"), default="fail",
                   help=f"{what}: stop (fail, default) or count, locate and skip it (skip)")
    g.add_argument("--max-bad-records", type=parse_max_bad, default=0.01, metavar="N|FRACTION",
                   help="with --on-bad-record skip: fail past this many skipped records (a whole number, e.g. 100) or "
                        "this share of all records (e.g. 0.05 or 5%%); default 0.01, i.e. 1%%")


def read_config(args: argparse.Namespace) -> ReadConfig:
    return ReadConfig(fmt=args.fmt, text_column=args.text_column, id_column=args.id_column,
                      eval_field=getattr(args, "eval_field", None), batch_size=args.batch_size,
                      on_bad_record=args.on_bad_record, max_bad_records=args.max_bad_records)


def add_output_args(p: argparse.ArgumentParser, *, fail_on: tuple[str, ...] | None, fail_default: str | None,
                    fail_help: str = "", out_required: bool = True) -> None:
    """Where the report goes and what is printed."""
    g = p.add_argument_group("output")
    g.add_argument("--out", required=out_required, metavar="DIR",
                   help="report directory (report.json, report.md, findings Parquet); published atomically")
    g.add_argument("--format", choices=("text", "json"), default="text",
                   help="what to print on stdout: a short summary (text) or the whole report.json (json)")
    g.add_argument("--top", type=_nonneg_int, default=20, metavar="N",
                   help="findings listed in the report and summary (the Parquet tables hold all; default 20)")
    g.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bars or phase notices on stderr (errors still go there)")
    g.add_argument("--config", metavar="FILE",
                   help="TOML file of flag values (keys are flag names without dashes; flags given on the command "
                        "line win)")
    if fail_on is not None:
        g.add_argument("--fail-on", default=fail_default, metavar="LEVEL",
                       help=fail_help or f"exit 1 when findings reach LEVEL: {', '.join(fail_on)} "
                                         f"(default {fail_default})")


def add_model_args(p: argparse.ArgumentParser, *, what: str) -> None:
    g = p.add_argument_group("reference model")
    g.add_argument("--model", metavar="DIR|default",
                   help=f"{what}: a local Hugging Face causal LM directory (or cached name; nothing is downloaded), "
                        "a byte-LM directory written by dataaudit, or 'default' to fit the embedded byte-level model")
    g.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                   help="where the model runs (auto: cuda, else mps, else cpu)")
    g.add_argument("--cache-dir", metavar="DIR",
                   help="model and score cache (default $DATAAUDIT_CACHE or ~/.cache/dataaudit)")
    g.add_argument("--max-length", type=int, metavar="N", help="tokens per window (default: the model's context)")
    g.add_argument("--stride", type=int, metavar="N",
                   help="new tokens scored per window after the first (default: max length, non-overlapping; "
                        "smaller = more context per token, slower)")
    g.add_argument("--bos", choices=("auto", "always", "never"), default="auto",
                   help="prefix BOS (or EOS) so the first token is scored (auto/always), or not (never)")
    g.add_argument("--batch-tokens", type=int, metavar="N",
                   help="padded tokens per forward pass (default 4096 on CPU, 131072 on GPU)")


def score_config(args: argparse.Namespace, **extra):
    """The ScoreConfig the shared model flags describe."""
    from ..passes.score import ScoreConfig

    return ScoreConfig(max_length=args.max_length, stride=args.stride, bos=args.bos,
                       batch_tokens=args.batch_tokens, **extra)


def add_engine_args(p: argparse.ArgumentParser) -> None:
    from ..engine import ENGINES

    g = p.add_argument_group("engine")
    g.add_argument("--engine", choices=ENGINES, default="local",
                   help="what runs the parallel parts of the passes (default local: processes and threads here; "
                        "ray: Ray actors, needs pip install 'dataaudit[ray]'); results are identical")
    g.add_argument("--workers", type=_nonneg_int, default=1, metavar="N",
                   help="processes (Ray actors with --engine ray) for the parallel parts of the passes (0: one per "
                        "CPU core; default 1)")
    g.add_argument("--ray-address", metavar="ADDR",
                   help="with --engine ray: the cluster to join (auto: the one this machine belongs to; "
                        "ray://host:10001); default: start a local Ray runtime with --workers CPUs")


def emit(report: Report, fmt: str, text_lines: list[str]) -> None:
    """stdout carries results only: the whole JSON document, or a few summary lines."""
    if fmt == "json":
        sys.stdout.write(to_json(report))
    else:
        sys.stdout.write("\n".join(text_lines) + "\n")
    sys.stdout.flush()



def run_with_progress(args: argparse.Namespace, job, *a, **kw):
    """Run an api job with the stderr progress of ``--quiet``; bars are removed however the job ends."""
    from ._progress import StderrProgress

    prog = StderrProgress(args.quiet)
    try:
        return job(*a, progress=prog, **kw)
    finally:
        prog.close()
