"""Renderers: a Report -> report.json (versioned), report.md, the stdout summary; plots.

Layout: ``doc.py`` (the neutral block model), ``sections/`` (one renderer per kind of finding),
``markdown.py``, ``jsondoc.py``, ``summary.py`` (stdout lines), ``plots.py``. Passes return data; only this
package writes prose.
"""

from __future__ import annotations

from pathlib import Path

from ..io.atomic import write_text_atomic
from ..records import Report
from .jsondoc import jsonable, to_json
from .markdown import to_markdown

__all__ = ["to_json", "to_markdown", "write_report", "jsonable", "REPORT_FILES"]

#: the files ``write_report`` writes (the publisher keeps them last, so a reader never sees a new
#: report.json beside old findings files)
REPORT_FILES = ("report.md", "report.json")


def write_report(report: Report, out_dir: str | Path) -> Path:
    """Write report.md and report.json into ``out_dir`` atomically; returns the directory."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "report.md", to_markdown(report))
    write_text_atomic(out / "report.json", to_json(report))
    return out
