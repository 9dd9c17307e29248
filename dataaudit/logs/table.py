"""The long table every log reader produces, and the side information readers collect.

One row per logged point: ``run, step, metric, value, wall_time`` (LOG_SCHEMA). Rows keep the order in
which the log recorded them, so a step that goes backwards (a restart from an earlier checkpoint) stays
visible: nothing is sorted, deduplicated or sampled. ``wall_time`` is seconds since the epoch, NaN when
the format does not record it.

What a reader could not read goes into a ``BadRecordLog`` (source, line, reason); facts about a run that
are not points (how the loss was averaged, restart markers) go into ``RunInfo``. Both travel with the
table in its schema metadata (see ``attach_metadata`` / ``log_metadata``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ..records import BadRecord, BadRecordLog

LOG_SCHEMA = pa.schema([
    pa.field("run", pa.string(), nullable=False),      # run name (file stem, directory, MLflow run name...)
    pa.field("step", pa.int64(), nullable=False),      # training step / iteration as the log wrote it
    pa.field("metric", pa.string(), nullable=False),   # metric name as the log wrote it (normalized for text)
    pa.field("value", pa.float64(), nullable=False),   # NaN and +-inf are kept: they are evidence
    pa.field("wall_time", pa.float64(), nullable=False),  # seconds since the epoch, NaN if unknown
])

_META_KEY = b"dataaudit.logs"


@dataclass
class RunInfo:
    """What a reader learned about one run besides its points."""

    source: str                                   # the file or directory it came from
    format: str                                   # reader that produced it
    averaged_over: int | None = None              # logged value is a mean over this many steps (HF logging_steps)
    markers: list[dict[str, Any]] = field(default_factory=list)  # restarts / new files: {"step", "kind", "detail"}

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "format": self.format, "averaged_over": self.averaged_over,
                "markers": self.markers}


class LogBuilder:
    """Collects points, row by row (``add``: cheap list appends) or a block of rows at once (``add_columns``:
    arrays from a vectorised reader), and builds one Arrow table with the rows in the order they came."""

    def __init__(self, bad: BadRecordLog | None = None) -> None:
        self.run: list[str] = []
        self.step: list[int] = []
        self.metric: list[str] = []
        self.value: list[float] = []
        self.wall_time: list[float] = []
        self.bad = bad if bad is not None else BadRecordLog()
        self.runs: dict[str, RunInfo] = {}
        self._chunks: list[pa.Table] = []   # finished blocks, in order; the lists above come after them
        self._chunk_rows = 0

    def add(self, run: str, step: int, metric: str, value: float, wall_time: float = math.nan) -> None:
        self.run.append(run)
        self.step.append(int(step))
        self.metric.append(metric)
        self.value.append(float(value))
        self.wall_time.append(math.nan if wall_time is None else float(wall_time))

    def _flush(self) -> None:
        """Move the rows added one by one into a block (keeps the order with later ``add_columns`` blocks)."""
        if self.step:
            t = pa.table({
                "run": pa.array(self.run, pa.string()),
                "step": pa.array(self.step, pa.int64()),
                "metric": pa.array(self.metric, pa.string()),
                "value": pa.array(self.value, pa.float64()),
                "wall_time": pa.array(self.wall_time, pa.float64()),
            }, schema=LOG_SCHEMA)
            self._chunks.append(t)
            self._chunk_rows += t.num_rows
            self.run, self.step, self.metric, self.value, self.wall_time = [], [], [], [], []

    def add_columns(self, run: str | pa.Array, step, metric: pa.Array, value, wall_time=None) -> None:
        """Append a block of rows: ``step``/``value``/``wall_time`` numpy or Arrow arrays, ``metric`` an Arrow
        string array, ``run`` one name for every row (or an array)."""
        n = len(step)
        if n == 0:
            return
        self._flush()
        runs = pa.repeat(pa.scalar(run, pa.string()), n) if isinstance(run, str) else run
        wall = pa.array(np.full(n, np.nan)) if wall_time is None else wall_time
        t = pa.table({"run": runs, "step": pa.array(step, pa.int64()), "metric": metric,
                      "value": pa.array(value, pa.float64()), "wall_time": pa.array(wall, pa.float64())},
                     schema=LOG_SCHEMA)
        self._chunks.append(t)
        self._chunk_rows += n

    def add_table(self, table: pa.Table) -> None:
        """Append the rows of a LOG_SCHEMA table (metadata ignored)."""
        if table.num_rows:
            self._flush()
            self._chunks.append(table.replace_schema_metadata(None).cast(LOG_SCHEMA))
            self._chunk_rows += table.num_rows

    def bad_record(self, source: str, reason: str, *, line: int | None = None, row: int | None = None) -> None:
        self.bad.add(BadRecord(source=str(source), row=row, line=line, reason=reason))

    def info(self, run: str, source: str, fmt: str) -> RunInfo:
        if run not in self.runs:
            self.runs[run] = RunInfo(source=str(source), format=fmt)
        return self.runs[run]

    def step_at(self, i: int) -> int:
        """The step of row ``i`` (in arrival order)."""
        if i >= self._chunk_rows:
            return self.step[i - self._chunk_rows]
        for t in self._chunks:
            if i < t.num_rows:
                return int(t["step"][i].as_py())
            i -= t.num_rows
        raise IndexError(i)

    def rows(self) -> pa.Table:
        """All rows so far as one LOG_SCHEMA table (no metadata)."""
        self._flush()
        if not self._chunks:
            return LOG_SCHEMA.empty_table()
        t = pa.concat_tables(self._chunks).combine_chunks() if len(self._chunks) > 1 else self._chunks[0]
        self._chunks = [t]
        return t

    def __len__(self) -> int:
        return self._chunk_rows + len(self.step)

    def table(self) -> pa.Table:
        return attach_metadata(self.rows(), self.runs, self.bad)


def attach_metadata(table: pa.Table, runs: dict[str, RunInfo], bad: BadRecordLog) -> pa.Table:
    """Store run information and the bad-record log in the table's schema metadata."""
    meta = {"runs": {k: v.to_dict() for k, v in runs.items()}, "bad_records": bad.to_dict()}
    return table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})


def log_metadata(table: pa.Table) -> dict[str, Any]:
    """The ``{"runs": {...}, "bad_records": {...}}`` a reader attached to ``table`` (empty if none)."""
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if not raw:
        return {"runs": {}, "bad_records": {"count": 0, "examples": []}}
    return json.loads(raw)
