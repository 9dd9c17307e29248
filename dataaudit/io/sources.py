"""A named, re-iterable document source: passes may stream a split more than once."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from ..config import ReadConfig
from ..records import BadRecordLog
from .readers import read_documents


class DocSource:
    """Calling it returns a fresh iterator of DOC_SCHEMA batches of one split.

    Bad records are counted on the first complete pass only, so a split streamed twice is not reported
    twice. ``progress`` (a ``dataaudit.progress.Progress``) hears ``reading <split>`` on the first pass.
    """

    def __init__(self, data: Any, *, split: str, read: ReadConfig = ReadConfig(), progress: Any = None) -> None:
        self.data, self.split, self.read = data, split, read
        self.bad_log: BadRecordLog | None = None
        self.progress = progress
        self.docs = 0
        self.name = str(data) if isinstance(data, (str, Path)) else f"<{type(data).__name__}>"

    def __call__(self) -> Iterator[pa.RecordBatch]:
        first = self.bad_log is None
        log = BadRecordLog()
        prog = None
        if first and self.progress is not None:
            prog = lambda n, b: self.progress.advance(f"reading {self.split}", n)  # noqa: E731
        docs = 0
        for b in read_documents(self.data, self.read, split=self.split, bad_log=log, progress=prog):
            docs += b.num_rows
            yield b
        if first:                       # read_documents refuses an empty source, so docs > 0 here
            self.bad_log, self.docs = log, docs
