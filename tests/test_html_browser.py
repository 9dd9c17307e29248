"""report.html of every report kind opened in headless Chromium (skipped when none is installed; CI installs
Debian's): it renders, its sections and plots are in the DOM, a planted <script> did not run, nothing was
requested (Chromium's own network log, every host resolving to nothing), and the page is within its bound.
Two control pages show that the checks can fail: without the CSP a planted script runs and an image is
requested; with it, neither."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from dataaudit.cli import main
from dataaudit.records import Report
from dataaudit.report import html as H
from dataaudit.report import write_report

PWN = "<script>document.title='PWNED'</script>"
IMG = '"><img src="http://example.invalid/leak.png" onerror="document.title=\'PWNED\'">'
SECTIONS = {
    "split": ["verdict", "leaks", "exact", "exact_leaks", "exact_groups", "near", "near_pairs", "containment",
              "settings", "timings"],
    "spikes": ["curves", "groups", "spikes", "plots", "settings"],
    "score": ["score", "score_high", "score_low", "warnings", "settings"],
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """One published report per kind, each with untrusted text planted where the page shows it."""
    tmp = tmp_path_factory.mktemp("browser")
    corpus = Path(__file__).resolve().parents[1] / "fixtures" / "corpus"
    out = {}
    # split: a document holding markup, in train and in val (an exact leak, shown with its text and id)
    for name in ("train", "val"):
        lines = (corpus / f"{name}.jsonl").read_text().splitlines()
        evil_id = f"evil-{name}" if name == "train" else IMG
        lines.append(json.dumps({"id": evil_id, "text": f"Leaked text {PWN} and {IMG} with enough words " * 4}))
        (tmp / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["split", "--quiet", "--train", str(tmp / "train.jsonl"), "--val", str(tmp / "val.jsonl"),
                 "--id-column", "id", "--out", str(tmp / "split")]) == 1
    out["split"] = tmp / "split"
    # spikes: nanoGPT-style logs of three runs sharing a spike; one log's name (the run name) holds markup
    logs = []
    for r, name in enumerate(["run0", "run1", 'run"><svg onload="document.title=\'PWNED\'">']):
        rng = np.random.default_rng(r)
        s = np.arange(1, 1201)
        v = (3.0 + 6.0 * np.exp(-s / 200.0)) * np.exp(0.015 * rng.standard_normal(s.size))
        v[699] *= 1.5
        p = tmp / f"{name}.txt"
        p.write_text("\n".join(f"step:{i}/1200 train_loss:{x:.4f} train_time:{i * 100}ms step_avg:100.00ms"
                               for i, x in zip(s, v)) + "\n")
        logs.append(str(p))
    assert main(["spikes", "--quiet", "--log", *logs, "--out", str(tmp / "spikes")]) == 1
    out["spikes"] = tmp / "spikes"
    # score: a Report built directly (a model run belongs to the score tests), with markup in every string
    rep = Report(kind="score", config={"score": {"model": {"name": PWN, "kind": "hf", "fingerprint": "f" * 64,
                                                           "tokenizer": IMG}, "settings": {"max_length": 64}}})
    agg = {"docs": 2, "tokens": 40, "bytes": 90, "ppl": 9.5, "bits_per_byte": 1.2}
    rep.summary["score"] = {"by_split": {"train": agg, "val": {**agg, "bits_per_byte": 2.1}},
                            "docs_scored_now": 4, "docs_from_cache": 0}
    rows = [{"doc_id": IMG, "bits_per_byte": 7.0, "worst_bpb": 9.0, "best_bpb": 0.2, "excerpt": PWN * 3}]
    rep.findings["score"] = {"highest_bits_per_byte": rows, "lowest_bits_per_byte": rows}
    rep.warnings.append(f"model {PWN} [click](javascript:document.title='PWNED')")
    write_report(rep, tmp / "score")
    out["score"] = tmp / "score"
    return out


def _elements(dom: str) -> list[tuple[str, list[str]]]:
    """(tag, attribute names) of every element of the DOM."""
    out: list[tuple[str, list[str]]] = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            out.append((tag, [k for k, _ in attrs]))

    P().feed(dom)
    return out


@pytest.mark.parametrize("kind", ["split", "spikes", "score"])
def test_report_renders_safely_in_chromium(chromium, reports, kind):
    page = reports[kind] / "report.html"
    assert page.stat().st_size <= H.MAX_BYTES
    dom, requests = chromium.dom(page)
    assert requests == []                                     # nothing left the file
    assert f"<title>dataaudit {kind} report</title>" in dom   # the planted scripts did not set it
    assert "PWNED</title>" not in dom
    els = _elements(dom)
    tags = [t.lower() for t, _ in els]
    assert tags.count("script") == 1 and "img" not in tags and "iframe" not in tags
    assert not [(t, a) for t, a in els if any(k.startswith("on") for k in a)]   # no event handler injected
    ids = re.findall(r'<section id="([^"]+)"', dom)
    assert [i for i in SECTIONS[kind] if i not in ids] == []
    nav = re.search(r'<nav aria-label="sections">(.*?)</nav>', dom).group(1)
    assert re.findall(r'href="#([^"]+)"', nav) == ids
    assert re.search(r'<svg class="plot" viewBox="0 0 \d+ \d+"', dom)
    # the page's own script ran (the CSP allows it by hash): the table headers became sortable
    assert 'tabindex="0"' in dom and 'title="sort"' in dom
    # the planted markup is on the page, as text
    assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in dom or kind == "spikes"
    if kind == "spikes":
        assert 'run"&gt;&lt;svg onload="document.title=\'PWNED\'"&gt;' in dom
        assert dom.count("<circle") >= 3                      # the shared spike, marked in each run's curve


def test_the_checks_can_fail(chromium, tmp_path):
    """Control pages: without a CSP the planted script runs and the image is requested (the checks above
    would see it); with the report's CSP, neither happens."""
    planted = f'<p>x</p>{PWN}<img src="http://example.invalid/leak.png">'
    bare = tmp_path / "bare.html"
    bare.write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body>{planted}</body></html>")
    dom, requests = chromium.dom(bare)
    assert "<title>PWNED</title>" in dom and requests == ["http://example.invalid/leak.png"]
    guarded = tmp_path / "guarded.html"
    guarded.write_text(f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
                       f'content="{H.CSP}"><title>t</title></head><body>{planted}</body></html>')
    dom, requests = chromium.dom(guarded)
    assert "<title>t</title>" in dom and requests == []


def test_split_report_screenshot(chromium, reports, tmp_path):
    png = chromium.screenshot(reports["split"] / "report.html", tmp_path / "split.png", height=1600)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000    # a rendered page, not a blank one
