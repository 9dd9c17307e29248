"""HTML renderer: a Report's sections (``sections_for``, the same the Markdown renders) as ONE self-contained page.

Self-contained: inline CSS, inline SVG plots (``report/svg.py``), one small inline script that makes tables
sortable (the page reads the same without it), nothing fetched: a ``Content-Security-Policy`` allows no
source at all except the page's own style and script, by hash (``default-src 'none'``, images only as
``data:``), and the renderer writes no URL with a scheme. Links are written only for relative paths (the
findings files beside the report).

Documents are untrusted input. Every string is escaped with ``html.escape``; ``Lit`` (document text, ids,
paths) is shown in ``<code>`` and never parsed; the inline markup of prose (``**bold**``, ```code```,
``[text](relative/path)``) is applied to the escaped text, so no input can open a tag or an attribute.

Size, fixed by the report settings and these caps, never by the corpus:

- tables arrive top-k (``--top``) and are cut here at ``ROW_CAP`` rows ("... N more in report.json");
  a cell shows at most ``CELL_CAP`` characters (a ``Lit`` its own ``limit``, 120-300), prose at most
  ``PARA_CAP``, a bullet list ``ITEM_CAP`` items, a code block ``CODE_CAP`` characters, a plot ``SVG_CAP``;
- the body as a whole is held to ``BODY_BUDGET`` bytes: a block (or table row) that would pass it is left
  out with a note saying so.

So ``len(report.html) <= BASE (CSS, script, header: under 16 KB) + BODY_BUDGET + 200 B per block of the
report's sections`` (their number is fixed by the code, not the data): under 1.6 MB whatever the input.
In practice a split report with the default ``--top`` is 30-150 KB, on a corpus of any size.
"""

from __future__ import annotations

import base64
import hashlib
import re
from html import escape

from ..records import Report
from .doc import Bullets, Code, Figure, Lit, Para, Section, Table, title
from .sections import sections_for

ROW_CAP = 200
CELL_CAP = 1000
PARA_CAP = 4000
ITEM_CAP = 200
CODE_CAP = 20_000
SVG_CAP = 200_000
BODY_BUDGET = 1_500_000
MAX_BYTES = 16_000 + BODY_BUDGET + 100_000      # the bound the tests hold every page to

CSS = """:root{--fg:#1f2328;--muted:#59636e;--line:#d8dee4;--alt:#f6f8fa;--accent:#0969da;color-scheme:light}
*{box-sizing:border-box}
body{margin:0;font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--fg);background:#fff}
header{padding:22px 32px 14px;border-bottom:1px solid var(--line)}
h1{font-size:24px;line-height:1.25;margin:0 0 4px}
.meta{color:var(--muted);font-size:13px;margin:0}
nav{position:sticky;top:0;z-index:5;background:#fffffff5;border-bottom:1px solid var(--line);
padding:6px 28px;font-size:13px}
nav a{display:inline-block;padding:3px 9px;border-radius:5px;color:var(--fg);text-decoration:none}
nav a:hover,nav a:focus{background:var(--alt)}
main{max-width:1280px;padding:4px 32px 40px}
section{margin-top:26px;scroll-margin-top:84px}
h2{font-size:19px;line-height:1.3;margin:0 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h2 a{color:inherit;text-decoration:none}
p,ul{max-width:90ch;margin:8px 0}
li{margin:3px 0}
a{color:var(--accent)}
code{font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;
background:var(--alt);padding:1px 4px;border-radius:4px}
code.lit{overflow-wrap:anywhere;background:#f3f0ea}
code.short{white-space:nowrap}
pre{background:var(--alt);padding:12px 14px;border-radius:6px;overflow:auto;max-height:420px}
pre code{padding:0;background:none}
.tw{overflow:auto;max-height:72vh;border:1px solid var(--line);border-radius:6px;margin:8px 0 14px;max-width:100%;
width:fit-content}
table{border-collapse:separate;border-spacing:0;font-size:13.5px}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{position:sticky;top:0;z-index:1;background:#eef1f4;font-weight:600;white-space:nowrap;cursor:pointer}
td{max-width:44em}
td:has(>code.lit){min-width:20em}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even){background:#fafbfc}
tbody tr:hover{background:#eef4fb}
th[aria-sort=ascending]::after{content:" \\25B2";font-size:9px}
th[aria-sort=descending]::after{content:" \\25BC";font-size:9px}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px;margin:10px 0}
figure{margin:0}
svg.plot{display:block;max-width:100%;height:auto;font-family:inherit;border:1px solid var(--line);
border-radius:6px;background:#fff}
figcaption{font-size:13px;color:var(--muted);margin-top:3px}
.more{color:var(--muted);font-size:13px}
footer{color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding:12px 32px}
@media print{nav{display:none}.tw{max-height:none}}
"""

SCRIPT = """document.querySelectorAll("table.sortable").forEach(function(t){
var ths=t.tHead.rows[0].cells;
Array.prototype.forEach.call(ths,function(th,i){
th.tabIndex=0;th.title="sort";
function go(){var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows);
var dir=th.getAttribute("aria-sort")==="ascending"?-1:1,num=th.classList.contains("num");
Array.prototype.forEach.call(ths,function(h){h.removeAttribute("aria-sort");});
th.setAttribute("aria-sort",dir>0?"ascending":"descending");
function key(r){var s=r.cells[i]?r.cells[i].textContent.trim():"";
if(!num)return s.toLowerCase();
var m=s.replace(/,/g,"").match(/^[-+]?(\\d+\\.?\\d*|\\.\\d+)(e[-+]?\\d+)?/i);return m?parseFloat(m[0]):-Infinity;}
rows.sort(function(x,y){var a=key(x),c=key(y);return (a<c?-1:a>c?1:0)*dir;});
rows.forEach(function(r){b.appendChild(r);});}
th.addEventListener("click",go);
th.addEventListener("keydown",function(e){if(e.key==="Enter")go();});});});
"""


def _sha256(s: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()


CSP = (f"default-src 'none'; style-src '{_sha256(CSS)}'; script-src '{_sha256(SCRIPT)}'; img-src data:; "
       "base-uri 'none'; form-action 'none'")

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_TOKEN = re.compile(r"(`[^`\n]+`|\[[^\]\n]+\]\([^)\s]+\))")
_SCHEME_LIKE = re.compile(r"[/?#]")


def safe_href(url: str) -> bool:
    """A relative path without a scheme, host or control character (``plots/run0.png``, ``../x.parquet``).

    >>> [safe_href(u) for u in ("plots/a.png", "a b", "javascript:alert(1)", "//evil", "/etc/x", "x\\\\y")]
    [True, False, False, False, False, False]
    """
    if not url or url[0] in "/\\" or "\\" in url or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        return False
    return ":" not in _SCHEME_LIKE.split(url, 1)[0]


def _cut(s: str, cap: int) -> str:
    return s if len(s) <= cap else s[: cap - 1] + "\u2026"


def inline(text: str, files: frozenset[str] = frozenset()) -> str:
    """Prose -> HTML: escape, then ``**bold**``, ```code``` (a link when it names a report file) and
    ``[text](relative path)``; anything else stays literal text.

    >>> inline('**7** leaks in `a.parquet` <b>"x"</b>', frozenset({"a.parquet"}))
    '<strong>7</strong> leaks in <a href="a.parquet"><code>a.parquet</code></a> &lt;b&gt;&quot;x&quot;&lt;/b&gt;'
    >>> inline("[png](javascript:alert(1))")
    '[png](javascript:alert(1))'
    """
    out = []
    for i, part in enumerate(_BOLD.split(text)):
        h = "".join(_token(t, files) for t in _TOKEN.split(part) if t)
        out.append(f"<strong>{h}</strong>" if i % 2 else h)
    return "".join(out)


def _token(t: str, files: frozenset[str]) -> str:
    if t.startswith("`") and t.endswith("`") and len(t) > 2:
        code = f"<code>{escape(t[1:-1])}</code>"
        return f'<a href="{escape(t[1:-1])}">{code}</a>' if t[1:-1] in files and safe_href(t[1:-1]) else code
    m = re.fullmatch(r"\[([^\]\n]+)\]\(([^)\s]+)\)", t)
    if m and safe_href(m.group(2)):
        return f'<a href="{escape(m.group(2))}">{escape(m.group(1))}</a>'
    return escape(t)


class _Budget:
    def __init__(self, n: int) -> None:
        self.left = n

    def take(self, s: str) -> bool:
        n = len(s.encode("utf-8", errors="replace"))
        if n > self.left:
            return False
        self.left -= n
        return True


_FULL = '<p class="more">(left out: the page reached its size bound; report.json holds everything)</p>'


class _Renderer:
    def __init__(self, report: Report) -> None:
        self.files = frozenset(str(p) for p in report.files.values())
        self.budget = _Budget(BODY_BUDGET)

    def cell(self, c) -> str:
        if isinstance(c, Lit):
            t = _cut(c.shown(), CELL_CAP)
            if not t:
                return ""
            return f'<code class="lit{" short" if len(t) <= 48 else ""}">{escape(t)}</code>'
        if c is None:
            return ""
        return inline(_cut(str(c), CELL_CAP), self.files)

    def table(self, b: Table) -> str:
        num = set(b.numeric)
        head = "".join(f'<th scope="col"{" class=num" if i in num else ""}>{inline(_cut(str(c), CELL_CAP))}</th>'
                       for i, c in enumerate(b.columns))
        start = f'<div class="tw"><table class="sortable"><thead><tr>{head}</tr></thead><tbody>'
        if not self.budget.take(start):
            return _FULL
        rows = []
        for row in b.rows[:ROW_CAP]:
            r = "<tr>" + "".join(f'<td{" class=num" if i in num else ""}>{self.cell(c)}</td>'
                                 for i, c in enumerate(row)) + "</tr>"
            if not self.budget.take(r):
                break
            rows.append(r)
        out = start + "".join(rows) + "</tbody></table></div>"
        if len(rows) < len(b.rows):
            why = "" if len(rows) == ROW_CAP else " (the page reached its size bound)"
            out += (f'<p class="more">... {len(b.rows) - len(rows)} more row(s) not shown here{why}: '
                    f'all are in report.json and the findings files.</p>')
        return out

    def block(self, b) -> str:
        if isinstance(b, Table):
            return self.table(b)
        if isinstance(b, Para):
            h = f"<p>{inline(_cut(b.text, PARA_CAP), self.files)}</p>"
        elif isinstance(b, Bullets):
            items = "".join(f"<li>{inline(_cut(str(i), PARA_CAP), self.files)}</li>" for i in b.items[:ITEM_CAP])
            more = f'<li class="more">... {len(b.items) - ITEM_CAP} more in report.json</li>' \
                if len(b.items) > ITEM_CAP else ""
            h = f"<ul>{items}{more}</ul>"
        elif isinstance(b, Code):
            t = b.text if len(b.text) <= CODE_CAP else b.text[:CODE_CAP] + "\n... (cut here; report.json holds all)"
            lang = re.sub(r"[^a-z0-9]", "", b.lang.lower())[:20]
            h = f'<pre><code{f" class=lang-{lang}" if lang else ""}>{escape(t)}</code></pre>'
        elif isinstance(b, Figure):
            h = self.figure(b)
        else:
            h = f"<p>{escape(_cut(str(b), PARA_CAP))}</p>"
        return h if self.budget.take(h) else _FULL

    def figure(self, b: Figure) -> str:
        link = (f' <a href="{escape(b.path)}">(PNG)</a>' if b.path and safe_href(b.path) else "")
        cap = f"<figcaption>{inline(_cut(b.caption, PARA_CAP))}{link}</figcaption>"
        if b.svg and len(b.svg) <= SVG_CAP and b.svg.lstrip().startswith("<svg"):
            return f"<figure>{b.svg}{cap}</figure>"
        return f"<figure>{cap}</figure>"

    def section(self, s: Section, sid: str) -> str:
        parts, figs = [], []
        for b in s.blocks:
            if isinstance(b, Figure):
                figs.append(self.block(b))
                continue
            if figs:
                parts.append('<div class="figs">' + "".join(figs) + "</div>")
                figs = []
            parts.append(self.block(b))
        if figs:
            parts.append('<div class="figs">' + "".join(figs) + "</div>")
        return (f'<section id="{sid}"><h2><a href="#{sid}">{inline(_cut(s.title, 300))}</a></h2>'
                + "".join(parts) + "</section>")


def section_ids(sections: list[Section]) -> list[str]:
    """A stable, unique, attribute-safe id per section: its key (or its title), deduplicated."""
    seen: set[str] = set()
    out = []
    for s in sections:
        base = re.sub(r"[^A-Za-z0-9_-]+", "-", s.key or s.title).strip("-").lower()[:60] or "section"
        sid, k = base, 2
        while sid in seen:
            sid, k = f"{base}-{k}", k + 1
        seen.add(sid)
        out.append(sid)
    return out


def to_html(report: Report) -> str:
    """The whole report as one self-contained HTML page (see the module docstring for its size bound)."""
    sections = sections_for(report)
    sids = section_ids(sections)
    r = _Renderer(report)
    body = "".join(r.section(s, sid) for s, sid in zip(sections, sids))
    nav = "".join(f'<a href="#{sid}">{escape(_cut(s.title, 60))}</a>' for s, sid in zip(sections, sids))
    version = escape(str(report.versions.get("dataaudit", "?")))
    heading = escape(title(str(report.kind)))
    created = escape(str(report.created))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{heading}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{heading}</h1><p class="meta">{created} &middot; dataaudit {version} '
        f'&middot; report schema v{int(report.schema_version)} &middot; <a href="report.md">report.md</a> '
        f'&middot; <a href="report.json">report.json</a></p></header>'
        f'<nav aria-label="sections">{nav}</nav><main>{body}</main>'
        f'<footer>dataaudit {version}, report schema v{int(report.schema_version)}, {created}. Written from '
        f"report.json's data by the renderer that writes report.md; nothing on this page is fetched.</footer>"
        f"<script>{SCRIPT}</script></body></html>\n")
