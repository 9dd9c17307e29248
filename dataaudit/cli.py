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

from .errors import ConfigError, DataAuditError

COMMANDS = ("split", "score", "spikes", "report")


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


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    return sub.choices.get(name) if sub is not None else None


def _config_file(argv: list[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return None


def apply_config_file(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """The ``--config FILE`` layer: the file's values become the command's defaults (defaults < file < flags)."""
    from .config import load_config_file

    path = _config_file(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if path is None or command is None:
        return
    sub = _subparser(parser, command)
    if sub is None:
        return
    values = load_config_file(path)
    by_dest = {a.dest: a for a in sub._actions if a.option_strings or a.dest == "data"}
    by_flag = {o.lstrip("-").replace("-", "_"): a for a in sub._actions for o in a.option_strings}
    known = {}
    for k, v in values.items():
        action = by_flag.get(k) or by_dest.get(k)
        if action is None or action.dest in ("help", "config"):
            flags = sorted(o.lstrip("-") for a in sub._actions for o in a.option_strings
                           if o.startswith("--") and a.dest not in ("help", "config"))
            raise ConfigError(f"--config {path}: {k!r} is not a flag of dataaudit {command}; use one of {flags}")
        known[action.dest] = v
        action.required = False
    sub.set_defaults(**known)


def _dispatch(argv: list[str]) -> int:
    parser = build_parser()
    apply_config_file(parser, argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args))


def _interrupted(e: BaseException) -> bool:
    """Whether a Ctrl-C lies under this exception. Python wraps some exceptions raised inside its own machinery:
    a SIGINT that lands while a class body is being set up (``__set_name__``, e.g. a dataclass imported lazily
    mid-run) comes back as ``RuntimeError`` with the ``KeyboardInterrupt`` as its cause. Such a run was
    interrupted, not broken (seen in tests/test_interrupt.py on CI)."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def main(argv: Sequence[str] | None = None) -> int:
    from . import interrupt

    argv = list(sys.argv[1:] if argv is None else argv)
    interrupt.new_run()
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        print(interrupt.message(), file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - the last line of defence: a crash is exit 2, never 1
        if _interrupted(e) or interrupt.interrupted():   # an error the Ctrl-C caused is the Ctrl-C
            print(interrupt.message(), file=sys.stderr)
            return 2
        if isinstance(e, DataAuditError):
            print(f"dataaudit: error: {e}", file=sys.stderr)
            return 2
        if isinstance(e, BrokenPipeError):
            return 2
        print(f"dataaudit: internal error: {type(e).__name__}: {e} "
              f"(please report this with the command you ran)", file=sys.stderr)
        if "--debug" in argv:
            raise
        return 2


def run() -> None:
    import signal

    code = 2
    try:
        from . import interrupt

        interrupt.install()              # Ctrl-C always ends the run, within interrupt.GRACE_S at worst
        code = main()
    except KeyboardInterrupt:            # Ctrl-C between main's own handler and here
        print("dataaudit: interrupted", file=sys.stderr)
    try:
        # The run is over (its outputs published, or left as they were). A Ctrl-C from here on would arrive
        # while the interpreter shuts down, after it has put SIGINT back to the default action, and kill the
        # process silently with -SIGINT (seen in tests/test_interrupt.py); ignoring it lets the exit code say
        # what happened.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from . import interrupt

        if interrupt.interrupted():
            interrupt.kill_workers()     # none should be left; one that is would hold our stdout/stderr open
    except KeyboardInterrupt:
        pass
    sys.exit(code)
