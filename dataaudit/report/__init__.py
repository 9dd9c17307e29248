"""Renderers: a Report -> report.json (versioned), report.md, report.html, the stdout summary; plots.

Layout: ``doc.py`` (the neutral block model), ``sections/`` (one renderer per kind of finding),
``markdown.py``, ``html.py`` (one self-contained page), ``svg.py`` (inline plots), ``jsondoc.py``,
``summary.py`` (stdout lines), ``plots.py`` (PNG). Passes return data; only this
package writes prose.
"""

from __future__ import annotations

from pathlib import Path

from ..io.atomic import write_text_atomic
from ..records import Report
from .html import to_html
from .jsondoc import jsonable, to_json
from .markdown import to_markdown

__all__ = ["to_json", "to_markdown", "to_html", "write_report", "jsonable", "REPORT_FILES"]

#: the files ``write_report`` writes (the publisher keeps them last, so a reader never sees a new
#: report.json beside old findings files)
REPORT_FILES = ("report.html", "report.md", "report.json")


def write_report(report: Report, out_dir: str | Path) -> Path:
    """Write report.html, report.md and report.json into ``out_dir`` atomically; returns the directory."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "report.html", to_html(report))
    write_text_atomic(out / "report.md", to_markdown(report))
    write_text_atomic(out / "report.json", to_json(report))
    return out
