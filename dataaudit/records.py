"""Arrow schemas of documents and findings, and the Report object every command produces."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import pyarrow as pa

#: Every reader yields record batches with exactly this schema.
DOC_SCHEMA = pa.schema([
    pa.field("doc_id", pa.string(), nullable=False),   # --id-column value, or "<source>:<row>"
    pa.field("split", pa.string(), nullable=False),    # train / val / test / eval name / any label
    pa.field("text", pa.large_string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),   # the file (or dataset) the record came from
    pa.field("row", pa.int64(), nullable=False),       # 0-based row within that source
])

#: Bump when a key of report.json changes meaning or disappears (additions keep the version).
#: 2 (2026-12-02): split reports: ``perplexity.explain.*.without_leaked`` keeps trivial leaks and ``by_pass``
#: attributes each leak to the first pass that found it; dataset reports: ``gopher_top_*gram_char_frac``
#: capped at 1 and null with fewer tokens than n; outliers list only documents that stand out, ties in input order.
REPORT_SCHEMA_VERSION = 2


def versions() -> dict[str, str]:
    """Versions of dataaudit and the packages whose behaviour shapes the numbers in a report."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("dataaudit", "pyarrow", "xxhash", "numpy", "datasketch", "torch", "transformers"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


@dataclass
class BadRecord:
    """One record that could not be read, with where it was."""

    source: str
    row: int | None
    line: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class BadRecordLog:
    """Counts every bad record and keeps the first ``keep`` of them for the report (the count is exact)."""

    keep: int = 1000
    count: int = 0
    examples: list[BadRecord] = field(default_factory=list)

    def add(self, rec: BadRecord) -> None:
        self.count += 1
        if len(self.examples) < self.keep:
            self.examples.append(rec)

    def __add__(self, other: "BadRecordLog") -> "BadRecordLog":
        """Logs of shards or workers combine with ``+`` (and ``sum()``, which starts from 0)."""
        if isinstance(other, int) and other == 0:
            return self
        out = BadRecordLog(keep=self.keep, count=self.count + other.count,
                           examples=(self.examples + other.examples)[: self.keep])
        return out

    __radd__ = __add__

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "examples": [r.to_dict() for r in self.examples]}


@dataclass
class Report:
    """What every command produces; rendered to report.json and report.md by ``dataaudit.report``.

    ``summary`` holds counts and headline numbers, ``findings`` the top findings (lists of dicts),
    ``files`` the findings tables written beside the report (name -> relative path). Prose is not stored
    here: ``dataaudit.report`` renders it from these fields, the same way for Markdown and HTML.
    """

    kind: str                                   # "split", "score", "spikes", "report"
    config: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)
    findings: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    phases: list[dict[str, Any]] = field(default_factory=list)   # named, timed phases
    bad_records: dict[str, Any] = field(default_factory=lambda: {"count": 0, "examples": []})
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    schema_version: int = REPORT_SCHEMA_VERSION
    versions: dict[str, str] = field(default_factory=versions)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a named phase into ``phases`` (as text-dedup's ``main()`` names and times its steps)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.phases.append({"name": name, "seconds": round(time.perf_counter() - t0, 4)})

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {"schema_version": d.pop("schema_version"), "kind": d.pop("kind"), **d}


@dataclass
class PassResult:
    """What one pass (exact, near, containment, score...) contributes to a report.

    ``apply_to`` merges it into a Report: summaries, findings and config are keyed by the pass's name,
    files/warnings accumulate, so a command runs its passes in turn into one report.
    """

    name: str
    summary: dict[str, Any] = field(default_factory=dict)     # counts, rates: JSON-able scalars/dicts
    findings: dict[str, Any] = field(default_factory=dict)    # top findings: name -> list of dicts
    files: dict[str, str] = field(default_factory=dict)       # findings table name -> path relative to out dir
    warnings: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)      # this pass's resolved settings

    def apply_to(self, report: Report) -> None:
        """Merge this pass's output into ``report`` (summary/findings/config under the pass's name)."""
        report.summary[self.name] = self.summary
        if self.findings:
            report.findings[self.name] = self.findings
        if self.config:
            report.config[self.name] = self.config
        report.files.update(self.files)
        report.warnings.extend(self.warnings)
