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
    """Collects points column by column (cheap appends), then builds one Arrow table."""

    def __init__(self, bad: BadRecordLog | None = None) -> None:
        self.run: list[str] = []
        self.step: list[int] = []
        self.metric: list[str] = []
        self.value: list[float] = []
        self.wall_time: list[float] = []
        self.bad = bad if bad is not None else BadRecordLog()
        self.runs: dict[str, RunInfo] = {}

    def add(self, run: str, step: int, metric: str, value: float, wall_time: float = math.nan) -> None:
        self.run.append(run)
        self.step.append(int(step))
        self.metric.append(metric)
        self.value.append(float(value))
        self.wall_time.append(math.nan if wall_time is None else float(wall_time))

    def bad_record(self, source: str, reason: str, *, line: int | None = None, row: int | None = None) -> None:
        self.bad.add(BadRecord(source=str(source), row=row, line=line, reason=reason))

    def info(self, run: str, source: str, fmt: str) -> RunInfo:
        if run not in self.runs:
            self.runs[run] = RunInfo(source=str(source), format=fmt)
        return self.runs[run]

    def __len__(self) -> int:
        return len(self.step)

    def table(self) -> pa.Table:
        t = pa.table({
            "run": pa.array(self.run, pa.string()),
            "step": pa.array(self.step, pa.int64()),
            "metric": pa.array(self.metric, pa.string()),
            "value": pa.array(self.value, pa.float64()),
            "wall_time": pa.array(self.wall_time, pa.float64()),
        }, schema=LOG_SCHEMA)
        return attach_metadata(t, self.runs, self.bad)


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
