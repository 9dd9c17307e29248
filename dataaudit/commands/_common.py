"""Helpers shared by commands: progress bars on stderr, printing a report."""

from __future__ import annotations

import sys
from typing import Callable

from ..records import Report
from ..report import to_json


def progress_bars(quiet: bool) -> tuple[Callable[[str, int, int], None] | None, Callable[[], None]]:
    """A (split, docs, bytes) callback drawing one tqdm bar per split on stderr, and a closer.

    Off (None) with --quiet or when stderr is not a terminal.
    """
    if quiet or not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def cb(split: str, docs: int, nbytes: int) -> None:
        bar = bars.get(split)
        if bar is None:
            bar = bars[split] = tqdm(desc=f"reading {split}", unit=" docs", file=sys.stderr, leave=False)
        bar.update(docs)

    def close() -> None:
        for b in bars.values():
            b.close()

    return cb, close


def emit(report: Report, fmt: str, text_lines: list[str]) -> None:
    """stdout carries results only: the whole JSON document, or a few summary lines."""
    if fmt == "json":
        sys.stdout.write(to_json(report))
    else:
        sys.stdout.write("\n".join(text_lines) + "\n")
    sys.stdout.flush()
