"""report.html without a browser: escaping of untrusted text, links, the CSP, the size bound (caps, budget,
and a 10x larger corpus giving a page of the same size), and the SVG plot primitives."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
from html.parser import HTMLParser

import pytest

from dataaudit.cli import main
from dataaudit.records import Report
from dataaudit.report import REPORT_FILES, to_html, to_markdown, write_report
from dataaudit.report import html as H
from dataaudit.report import svg
from dataaudit.report.doc import Bullets, Code, Figure, Lit, Para, Section, Table
from dataaudit.report.sections import sections_for

EVIL = ["<script>document.title='PWNED'</script>", '"><img src=x onerror="document.title=\'PWNED\'">',
        "</code></td></tr></table><iframe src=//evil.example>", "javascript:alert(1)", "&lt;b&gt;"]


class Page(HTMLParser):
    """Every start tag with its attributes, and the text of <script> and <style> elements."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)


def external_refs(page: Page) -> list[str]:
    """Attribute values that could make a browser fetch something or leave the file."""
    out = []
    for tag, a in page.tags:
        for k, v in a.items():
            if k in ("src", "href", "xlink:href", "action", "formaction", "srcset", "poster", "data") and v:
                if v.startswith("#") or H.safe_href(v):
                    continue
                out.append(f"<{tag} {k}={v}>")
            if k.startswith("on"):
                out.append(f"<{tag} {k}>")
    return out


def check_page(html: str) -> Page:
    """The invariants every page holds: one script (ours), CSP first, hashes that match, nothing external."""
    p = Page(html)
    assert [t for t, _ in p.tags[:3]] == ["html", "head", "meta"]          # <meta charset>, then the CSP
    assert p.tags[3] == ("meta", {"http-equiv": "Content-Security-Policy", "content": H.CSP})
    assert "default-src 'none'" in H.CSP and "unsafe" not in H.CSP
    assert [t for t, _ in p.tags if t in ("script", "iframe", "img", "object", "embed", "link", "base",
                                           "form", "input")] == ["script"]
    assert p.scripts == [H.SCRIPT] and p.styles == [H.CSS]
    for body in (H.SCRIPT, H.CSS):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in H.CSP
    assert external_refs(p) == []
    assert "url(" not in H.CSS and "@import" not in H.CSS
    assert len(html.encode()) <= H.MAX_BYTES
    return p


def evil_report() -> Report:
    r = Report(kind="score", config={"score": {"model": {"name": EVIL[0], "kind": "bytelm", "fingerprint": "ab",
                                                         "tokenizer": EVIL[1]}, "settings": {}}})
    r.summary["score"] = {"by_split": {EVIL[1]: {"docs": 1, "tokens": 3, "bytes": 9, "ppl": 2.0,
                                                 "bits_per_byte": 1.5},
                                       "val": {"docs": 2, "tokens": 4, "bytes": 9, "ppl": 3.0, "bits_per_byte": 2.5}},
                          "docs_scored_now": 3, "docs_from_cache": 0, "notes": EVIL}
    rows = [{"doc_id": e, "bits_per_byte": 9.0, "worst_bpb": 12.0, "best_bpb": 0.1, "excerpt": e} for e in EVIL]
    r.findings["score"] = {"highest_bits_per_byte": rows, "lowest_bits_per_byte": rows}
    r.warnings = EVIL + ["see [the list](javascript:alert(1)) or [this](//evil.example/x) or [that](file:///etc)"]
    r.files = {"scores": "scores.parquet", "evil": EVIL[1]}
    return r


def test_untrusted_text_is_escaped_everywhere():
    html = to_html(evil_report())
    p = check_page(html)
    for e in EVIL[:3]:
        assert e not in html
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;" in html      # shown, as text
    assert "&amp;lt;b&amp;gt;" in html                                                 # entities stay literal
    assert not any(a.get("href", "").startswith(("javascript", "//", "file")) for _, a in p.tags)
    assert [a["href"] for t, a in p.tags if t == "a" and not a["href"].startswith("#")] == \
        ["report.md", "report.json", "scores.parquet"]
    # the evil title of the page stays the report's own
    assert "<title>dataaudit score report</title>" in html


def test_inline_markup_and_links():
    assert H.inline("**a** `b` [c](plots/c.png)") == \
        '<strong>a</strong> <code>b</code> <a href="plots/c.png">c</a>'
    # a quote cannot end the attribute: it is escaped inside it
    assert H.inline('[x](a.png"onmouseover=alert(1))') == '<a href="a.png&quot;onmouseover=alert(1">x</a>)'
    assert Page(H.inline('[x](a.png"onmouseover=alert(1))')).tags == [("a", {"href": 'a.png"onmouseover=alert(1'})]
    for bad in ("javascript:alert(1)", "JaVaScRiPt:x", "java\tscript:x", "data:text/html,x", "//evil/x",
                "http://evil/x", "/etc/passwd", "c:\\x", "\\\\host\\x", "mailto:a@b"):
        assert "<a" not in H.inline(f"[t]({bad})"), bad
    assert H.inline("`<b>` **<i>**") == "<code>&lt;b&gt;</code> <strong>&lt;i&gt;</strong>"


def test_markdown_and_html_render_the_same_sections(corpus, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["split", "--quiet", "--train", str(corpus / "train.jsonl"), "--val", str(corpus / "val.jsonl"),
                 "--id-column", "id", "--out", str(out)]) == 1
    capsys.readouterr()
    assert set(REPORT_FILES) == {"report.html", "report.md", "report.json"}
    html, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    p = check_page(html)
    md_titles = re.findall(r"^## (.+)$", md, re.M)
    h2 = re.findall(r'<section id="([^"]+)"><h2><a href="#\1">(.+?)</a></h2>', html)
    assert len(md_titles) == len(h2) >= 8
    assert [i for i, _ in h2][:3] == ["verdict", "leaks", "exact"]
    nav = [a["href"] for t, a in p.tags if t == "a" and a.get("href", "").startswith("#")]
    assert [f"#{i}" for i, _ in h2] == nav[: len(h2)]
    assert html.count("<svg") >= 2 and 'class="plot" viewBox=' in html
    for n in json.loads((out / "report.json").read_text())["files"].values():
        assert f'<a href="{n}"><code>{n}</code></a>' in html


def test_row_cap_cell_cap_and_budget_bound_any_report(monkeypatch):
    rows = [[Lit("x" * 5000), "<b>" * 2000, i] for i in range(1000)]
    big = [Section(f"s{k}", [Para("p" * 10 ** 5), Bullets(["b"] * 10 ** 4), Code("c" * 10 ** 6),
                             Table(["a", "b", "n"], rows, numeric=(2,)), Figure("f", svg="<svg>" + "x" * 10 ** 6)],
                   key=f"s{k}") for k in range(30)]
    monkeypatch.setattr(H, "sections_for", lambda report: big)
    html = to_html(Report(kind="score", config={}))
    check_page(html)
    assert 0.9 * H.BODY_BUDGET < len(html.encode()) <= H.MAX_BYTES
    assert "800 more row(s) not shown here: all are in report.json" in html      # the first table: ROW_CAP
    assert "the page reached its size bound" in html                             # later ones: the budget
    assert "... 9800 more in report.json" in html
    assert max(len(c) for c in re.findall(r'<code class="lit">([^<]*)</code>', html)) <= H.CELL_CAP


def _grow(src, dst, copies: int, rng: random.Random) -> None:
    """Each document of ``src`` once, then ``copies - 1`` more times with ~15% of its words replaced."""
    docs = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    vocab = sorted({w for d in docs for w in d["text"].split()})
    with dst.open("w") as f:
        for k in range(copies):
            for d in docs:
                words = d["text"].split()
                if k:
                    words = [rng.choice(vocab) if rng.random() < 0.15 else w for w in words]
                f.write(json.dumps({"id": f"{d['id']}~{k}" if k else d["id"], "text": " ".join(words)}) + "\n")


def test_page_size_is_fixed_by_the_settings_not_the_corpus(corpus, tmp_path, capsys):
    """The same command on a corpus and on one 10x larger: the same page size, within a small factor."""
    rng = random.Random(0)
    sizes = {}
    for k in (1, 10):
        d = tmp_path / f"x{k}"
        d.mkdir()
        for name in ("train", "val"):
            _grow(corpus / f"{name}.jsonl", d / f"{name}.jsonl", k, rng)
        main(["split", "--quiet", "--train", str(d / "train.jsonl"), "--val", str(d / "val.jsonl"),
              "--id-column", "id", "--top", "20", "--out", str(d / "out")])
        capsys.readouterr()
        rep = json.loads((d / "out" / "report.json").read_text())
        assert rep["summary"]["exact"]["splits"]["train"]["docs"] == 255 * k
        sizes[k] = (d / "out" / "report.html").stat().st_size
        check_page((d / "out" / "report.html").read_text())
    assert sizes[10] <= H.MAX_BYTES and sizes[1] <= H.MAX_BYTES
    assert 0.5 < sizes[10] / sizes[1] < 2.0, sizes


def test_write_report_writes_all_three(tmp_path):
    r = evil_report()
    write_report(r, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(REPORT_FILES)
    assert (tmp_path / "report.html").read_text() == to_html(r)
    assert to_markdown(r).count("## ") == len(sections_for(r))


def test_spikes_figures_draw_curves_with_spikes_marked():
    curves = [{"run": f"run{i}<x>", "metric": "loss", "steps": list(range(1, 401)),
               "values": [3.0 + (2.0 if s == 200 else 0.0) for s in range(1, 401)], "spikes": [200]}
              for i in range(2)]
    r = Report(kind="spikes", config={"metric": "loss"},
               summary={"runs": 2, "points": 800, "judged_points": 700, "spikes": 2, "shared_spike_groups": 1,
                        "divergences": 0, "severity": "spike"},
               findings={"curves": curves, "groups": [{"step": 200, "n_runs": 2, "of_runs": 2,
                                                       "median_peak_ratio": 1.6, "max_score": 9.0}],
                         "runs": [{"run": c["run"], "plot": f"plots/run{i}.png"} for i, c in enumerate(curves)]})
    from dataaudit.report.sections import spikes

    figs = spikes.figures(r)
    assert len(figs) == 3 and all(f.svg.startswith("<svg") for f in figs)
    assert [f.path for f in figs] == [None, "plots/run0.png", "plots/run1.png"]
    assert figs[1].svg.count("<circle") == 1 and "spike at step 200" in figs[1].svg
    assert "run0&lt;x&gt;" in figs[1].svg and "<x>" not in figs[1].svg
    assert 'stroke-dasharray="3 3"' in figs[0].svg                     # the shared step
    r.findings["curves"] = []
    assert [f.svg for f in spikes.figures(r)] == [None, None]           # PNG links only without curves


def test_svg_ticks_scales_and_caps():
    assert svg.nice_ticks(0, 7) == [0.0, 2.0, 4.0, 6.0]
    assert svg.log_ticks(0.5, 2e4) == [1, 10, 100, 1000, 10000]
    assert svg.fmt(1500) == "1500" and svg.fmt(0.001234) == "0.00123"
    xs = list(range(100_000))
    ys = [1.0] * 100_000
    ys[77_777] = 50.0
    rx, ry = svg.reduce_points(xs, ys)
    assert len(rx) <= svg.MAX_POINTS and 50.0 in ry and rx == sorted(rx)
    s = svg.line_chart([("a<b", xs, ys)], title="t & <u>", marks=[(77_777, 50.0, "<spike>")], log_y=True)
    assert s.startswith('<svg class="plot" viewBox="0 0 ') and "xmlns" not in s and "http" not in s
    assert "t &amp; &lt;u&gt;" in s and "&lt;spike&gt;" in s and "<u>" not in s
    assert len(s) < 60_000
    h = svg.histogram([1, 10, 100, 1000, 10000], [5, 0, 7, 1], title="lengths", x_label="bytes", log_x=True)
    assert h.count("<rect") == 3 and ">1000<" in h and ">10k<" in h
    # on a log axis the bins of equal ratio have equal width
    widths = [float(w) for w in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"', h)]
    assert max(widths) - min(widths) < 0.2
    # empty bins at both ends are left out; a zero first edge on a log axis is drawn at a tenth of the next
    t = svg.histogram([0, 1, 2, 4, 8, 16, 32], [3, 0, 4, 0, 0, 0], title="t", log_x=True)
    assert t.count("<rect") == 2 and ">0.1<" in t and ">10<" not in t
    with pytest.raises(ValueError):
        svg.histogram([0, 1], [1, 2], title="bad")
    many = svg.histogram(list(range(1001)), [1] * 1000, title="many")
    assert many.count("<rect") <= svg.MAX_BINS
    b = svg.bar_chart(["val", "<test>"], [0.1, 0.3], title="leaks", value_labels=["1 of 10", "3 of 10"])
    assert b.count("<rect") == 2 and "&lt;test&gt;" in b and "3 of 10" in b
    assert "no data" in svg.line_chart([("x", [], [])], title="empty")
