"""One renderer per kind of finding: Report data -> ``Section``s (``report/doc.py``), for Markdown and HTML.

``sections_for(report)`` lists a report's body in reading order: the command's own sections, then the
shared tail (warnings, bad records, files, settings, timings). Renderers read ``report.summary``,
``report.findings`` and ``report.config`` only; passes never write prose.
"""

from __future__ import annotations

from ...records import Report
from ..doc import Section
from . import common, corpus, diagnosis, forensics, score, spikes, split

_BY_KIND = {"split": split.sections, "score": score.sections, "report": corpus.sections,
            "spikes": lambda r: diagnosis.sections(r) + spikes.sections(r) + forensics.sections(r)}


def sections_for(report: Report) -> list[Section]:
    body = _BY_KIND.get(report.kind)
    out = list(body(report)) if body is not None else []
    return out + common.tail(report)
