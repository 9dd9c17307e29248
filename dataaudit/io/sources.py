"""A named, re-iterable document source: passes may stream a split more than once."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa

from ..errors import InputError
from ..records import BadRecordLog
from .readers import read_documents


class DocSource:
    """Calling it returns a fresh iterator of DOC_SCHEMA batches of one split.

    Bad records are counted on the first complete pass only, so a split streamed twice is not reported
    twice. ``progress`` (docs, bytes) is called on the first pass.
    """

    def __init__(self, data: Any, *, split: str, fmt: str | None = None, text_column: str | None = None,
                 id_column: str | None = None, batch_size: int = 4096, on_bad_record: str = "fail",
                 progress: Callable[[str, int, int], None] | None = None) -> None:
        self.data, self.split, self.fmt = data, split, fmt
        self.kw = dict(text_column=text_column, id_column=id_column, batch_size=batch_size,
                       on_bad_record=on_bad_record)
        self.bad_log: BadRecordLog | None = None
        self.progress = progress
        self.docs = 0
        self.name = str(data) if isinstance(data, (str, Path)) else f"<{type(data).__name__}>"

    def __call__(self) -> Iterator[pa.RecordBatch]:
        first = self.bad_log is None
        log = BadRecordLog()
        prog = None
        if first and self.progress is not None:
            prog = lambda n, b: self.progress(self.split, n, b)  # noqa: E731
        docs = 0
        for b in read_documents(self.data, split=self.split, fmt=self.fmt, bad_log=log, progress=prog, **self.kw):
            docs += b.num_rows
            yield b
        if first:
            self.bad_log, self.docs = log, docs
            if docs == 0:
                extra = f" ({log.count} bad record(s) skipped)" if log.count else ""
                raise InputError(f"split {self.split!r} is empty: no documents read from {self.name}{extra}. "
                                 f"Check the path and --text-column")
