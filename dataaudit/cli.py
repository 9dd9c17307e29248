"""Command line: parse -> api -> render -> exit code. No logic of its own.

Each command lives in ``dataaudit/commands/<name>.py`` with ``register(subparsers)``; this module only
builds the parser and maps outcomes to exit codes (as ruff): 0 nothing at or above ``--fail-on``,
1 findings, 2 usage, input or internal error. ``main()`` catches every exception, so a crash never reads
as "findings".
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .errors import DataAuditError

COMMANDS = ("split", "score", "spikes")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(
        prog="dataaudit",
        description="Audit the data of language-model training runs: leakage between splits, "
                    "reference-model perplexity, loss spikes.",
    )
    p.add_argument("--version", action="version", version=f"dataaudit {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"dataaudit.commands.{name}")
        except ModuleNotFoundError as e:  # a command under construction must not break the others
            if e.name != f"dataaudit.commands.{name}":
                raise
            continue
        mod.register(sub)
    return p


def add_input_args(p: argparse.ArgumentParser, *, what: str) -> None:
    """How documents are read: options every data-reading command shares."""
    from .io.readers import FORMATS

    p.add_argument("--input-format", dest="fmt", choices=FORMATS,
                   help=f"format of {what} (default: detected from the path)")
    p.add_argument("--text-column", metavar="NAME", help="text column (default: text, content, ...)")
    p.add_argument("--id-column", metavar="NAME", help="id column (default: <source>:<row>)")
    p.add_argument("--on-bad-record", choices=("fail", "skip"), default="fail",
                   help="stop at an invalid record (fail) or count, locate and skip it (skip)")


def add_output_args(p: argparse.ArgumentParser, *, out_required: bool = True) -> None:
    """Options every report-writing command shares."""
    p.add_argument("--out", required=out_required, metavar="DIR",
                   help="report directory (report.json, report.md, findings Parquet)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="what to print on stdout: a short summary (text) or the whole report.json (json)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or log lines on stderr")



def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except DataAuditError as e:
        print(f"dataaudit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dataaudit: interrupted; no partial report was written", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 2
    except Exception as e:  # noqa: BLE001 - the last line of defence: a crash is exit 2, never 1
        print(f"dataaudit: internal error: {type(e).__name__}: {e} "
              f"(please report this with the command you ran)", file=sys.stderr)
        if "--debug" in (argv or sys.argv):
            raise
        return 2


def run() -> None:
    sys.exit(main())
