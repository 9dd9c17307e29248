"""Markdown renderer: a Report's sections (see ``doc.py``) as GitHub-flavoured Markdown."""

from __future__ import annotations

from ..records import Report
from .doc import Bullets, Code, Figure, Lit, Para, Section, Table, title
from .sections import sections_for


def _cell(c) -> str:
    if isinstance(c, Lit):
        t = c.shown().replace("`", "'").replace("|", "\\|")
        return f"`{t}`" if t else ""
    if c is None:
        return ""
    return str(c).replace("|", "\\|").replace("\n", " ")


def render_section(s: Section) -> list[str]:
    lines = [f"## {s.title}", ""]
    for b in s.blocks:
        if isinstance(b, Para):
            lines += [b.text, ""]
        elif isinstance(b, Bullets):
            lines += [f"- {i}" for i in b.items] + [""]
        elif isinstance(b, Table):
            lines.append("| " + " | ".join(b.columns) + " |")
            lines.append("|" + "".join("---:|" if i in b.numeric else "---|" for i in range(len(b.columns))))
            lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in b.rows]
            lines.append("")
        elif isinstance(b, Code):
            lines += [f"```{b.lang}", b.text.rstrip("\n"), "```", ""]
        elif isinstance(b, Figure):
            if b.path:
                lines += [f"![{b.caption}]({b.path})", ""]
    return lines


def to_markdown(report: Report) -> str:
    """The whole report as Markdown: the kind's own sections, then warnings, bad records, files, settings."""
    lines = [f"# {title(report.kind)}", ""]
    for s in sections_for(report):
        lines += render_section(s)
    lines.append(f"_dataaudit {report.versions.get('dataaudit', '?')}, report schema "
                 f"v{report.schema_version}, {report.created}_")
    return "\n".join(lines).rstrip("\n") + "\n"
