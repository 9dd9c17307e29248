"""Renderers: report.json (versioned), report.md, and the timing helper for named phases."""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import Any, Iterator

from ..io.atomic import write_text_atomic
from ..records import Report


def _jsonable(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # numpy scalars
        return _jsonable(x.item())
    if isinstance(x, Path):
        return str(x)
    return x


def to_json(report: Report) -> str:
    """The report as one JSON document (NaN -> null, +-inf -> "inf"/"-inf", so it is strict JSON)."""
    return json.dumps(_jsonable(report.to_dict()), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_markdown(report: Report) -> str:
    """The report as Markdown: the command's own sections, then warnings, bad records, settings, timings."""
    lines = [f"# dataaudit {report.kind} report", ""]
    for title, body in report.sections.items():
        lines += [f"## {title}", "", body.rstrip(), ""]
    if report.warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in report.warnings] + [""]
    br = report.bad_records
    if br.get("count"):
        lines += ["## Bad records", "", f"{br['count']} record(s) could not be read and were skipped:", "",
                  "| source | row | line | reason |", "|---|---|---|---|"]
        for e in br["examples"][:50]:
            lines.append(f"| {e['source']} | {e['row'] if e['row'] is not None else ''} | "
                         f"{e['line'] if e['line'] is not None else ''} | {e['reason']} |")
        if br["count"] > 50:
            lines.append(f"\n... and {br['count'] - 50} more (all counted in report.json).")
        lines.append("")
    if report.files:
        lines += ["## Files", ""] + [f"- `{p}`: {name}" for name, p in report.files.items()] + [""]
    lines += ["## Settings", "", "```json", json.dumps(_jsonable(report.config), indent=2), "```", ""]
    if report.phases:
        lines += ["## Timings", "", "| phase | seconds |", "|---|---|"]
        lines += [f"| {p['name']} | {p['seconds']:.2f} |" for p in report.phases] + [""]
    lines.append(f"_dataaudit {report.versions.get('dataaudit', '?')}, report schema "
                 f"v{report.schema_version}, {report.created}_")
    return "\n".join(lines) + "\n"


def write_report(report: Report, out_dir: str | Path) -> Path:
    """Write report.json and report.md into ``out_dir`` atomically; returns the directory."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "report.json", to_json(report))
    write_text_atomic(out / "report.md", to_markdown(report))
    return out


@contextlib.contextmanager
def phase(report: Report, name: str) -> Iterator[None]:
    """Time a named phase of a command into ``report.phases`` (as text-dedup's main() does)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        report.phases.append({"name": name, "seconds": round(time.perf_counter() - t0, 4)})
