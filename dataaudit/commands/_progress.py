"""Progress on stderr: a one-line notice at the start and end of each phase (always, unless --quiet), and
tqdm bars inside phases when stderr is a terminal."""

from __future__ import annotations

import sys

from ..progress import Progress


class StderrProgress(Progress):
    def __init__(self, quiet: bool = False, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = not quiet and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.bars: dict = {}

    def _note(self, text: str) -> None:
        if not self.quiet:
            self.close()
            print(f"dataaudit: {text}", file=self.stream, flush=True)

    def start(self, phase: str) -> None:
        self._note(f"{phase} ...")

    def end(self, phase: str, seconds: float) -> None:
        self._note(f"{phase} done in {seconds:.1f}s")

    def _bar(self, label: str, total: int | None):
        bar = self.bars.get(label)
        if bar is None:
            from tqdm import tqdm

            bar = self.bars[label] = tqdm(desc=label, total=total, file=self.stream, leave=False, unit="")
        elif total is not None and bar.total != total:
            bar.total = total
        return bar

    def advance(self, label: str, n: int = 1, total: int | None = None, info: str = "") -> None:
        if self.tty:
            bar = self._bar(label, total)
            bar.update(n)
            if info:
                bar.set_postfix_str(info, refresh=False)

    def set(self, label: str, value: int, total: int | None = None, info: str = "") -> None:
        if self.tty:
            bar = self._bar(label, total)
            bar.n = value
            if info:
                bar.set_postfix_str(info, refresh=False)
            bar.refresh()

    def close(self) -> None:
        for b in self.bars.values():
            b.close()
        self.bars.clear()
