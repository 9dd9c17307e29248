"""One progress mechanism for every long phase: the library reports, the CLI draws.

Jobs and passes call a ``Progress``: ``phase(name)`` around a named phase (the CLI prints a one-line notice
at its start and end on stderr, even when stderr is not a terminal), and ``advance(label, n, total)`` /
``set(label, value, total)`` inside it (bars on a terminal). The default, ``NullProgress``, does nothing, so
the library itself never prints. Passes that take a plain ``progress(label, n)`` callable get the object
itself (``__call__`` is ``advance``).
"""

from __future__ import annotations

import contextlib
from typing import Iterator


class Progress:
    """Base class and the silent default."""

    def start(self, phase: str) -> None:
        """A named phase begins."""

    def end(self, phase: str, seconds: float) -> None:
        """A named phase ended after ``seconds``."""

    def advance(self, label: str, n: int = 1, total: int | None = None, info: str = "") -> None:
        """``n`` more units of ``label`` done (of ``total`` when known)."""

    def set(self, label: str, value: int, total: int | None = None, info: str = "") -> None:
        """``value`` units of ``label`` done so far."""

    def close(self) -> None:
        """Remove any bars."""

    def __call__(self, label: str, n: int = 1) -> None:
        self.advance(label, n)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        import time

        t0 = time.perf_counter()
        self.start(name)
        try:
            yield
        finally:
            self.end(name, time.perf_counter() - t0)


NullProgress = Progress
