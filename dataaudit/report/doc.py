"""The neutral document model every renderer shares: a report body is a list of ``Section``s of blocks.

Section renderers (``report/sections/``) build these from a Report's data; ``markdown.py`` (and the HTML
renderer) turn them into text, so Markdown and HTML can never disagree on a number.

Inline markup inside ``Para``/``Bullets``/table strings is limited to ``**bold**`` and ```code```; text that
comes from documents (untrusted input) goes in a ``Lit`` so that no renderer interprets it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class Lit:
    """Literal text from a document or a path: shown verbatim (escaped), never parsed as markup."""

    text: str
    limit: int = 300                     # characters shown; the rest is cut with an ellipsis

    def shown(self) -> str:
        t = self.text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
        return t if len(t) <= self.limit else t[: self.limit - 1] + "\u2026"


Cell = Union[str, int, float, None, Lit]


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    numeric: tuple[int, ...] = ()        # indices of right-aligned (numeric) columns


@dataclass(frozen=True)
class Code:
    text: str
    lang: str = ""


@dataclass(frozen=True)
class Figure:
    """A plot: ``svg`` markup drawn by ``report.plots`` (inline in HTML), ``path`` of a file beside the report."""

    caption: str
    svg: str | None = None
    path: str | None = None


Block = Union[Para, Bullets, Table, Code, Figure]


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    key: str = ""                        # stable anchor / kind of finding, e.g. "exact", "leaks"

    def add(self, *blocks: Block) -> "Section":
        self.blocks.extend(blocks)
        return self


def num(x: Any, digits: int = 4) -> str:
    """A number for a table cell: ``n/a`` for None/NaN, ``digits`` significant digits for floats.

    >>> num(None), num(float("nan")), num(3.14159), num(12)
    ('n/a', 'n/a', '3.142', '12')
    """
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def pct(x: float | None, digits: int = 2) -> str:
    """``0.1234`` -> ``12.34%``; ``n/a`` when missing."""
    return "n/a" if x is None else f"{x:.{digits}%}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "copy", "copies")`` -> ``1 copy``; ``plural(2, "record")`` -> ``2 records``.

    >>> plural(1, "exact copy", "exact copies"), plural(3, "bad record")
    ('1 exact copy', '3 bad records')
    """
    return f"{n} {word if n == 1 else (many or word + 's')}"


def ids(values: list[Any], limit: int = 3, total: int | None = None) -> str:
    """A few ids as inline code, with ``...`` when more exist."""
    shown = ", ".join(f"`{str(v).replace('`', '')}`" for v in values[:limit])
    more = (total if total is not None else len(values)) > limit
    return shown + (" ..." if more else "")


def title(kind: str) -> str:
    """A report's title: ``dataaudit split report``; the ``report`` command's own kind reads "dataset report"."""
    return f"dataaudit {'dataset' if kind == 'report' else kind} report"
