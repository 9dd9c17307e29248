"""Sections of the dataset report: alerts, overview, duplicates, quality filters, distributions, outliers,
perplexity. Every table is top-k and every plot pre-binned, so the page's size is fixed by the settings."""

from __future__ import annotations

from ...records import Report
from ..doc import Bullets, Figure, Lit, Para, Section, Table, num, pct, plural

PLOTTED = ("n_bytes", "n_words", "longest_run", "gopher_mean_word_length", "gopher_dup_line_char_frac",
           "char_rep_ratio", "non_alnum_share", "bits_per_byte")
LOG_X = {"n_bytes", "n_chars", "n_words", "n_lines", "longest_run"}


def _hist_figure(name: str, h: dict) -> Figure:
    svg = None
    try:
        from .. import svg as _svg                     # the SVG primitives (report/svg.py), when present
        svg = _svg.histogram(h["edges"], h["counts"], log_x=name in LOG_X, title=name)
    except (ImportError, AttributeError, TypeError):
        svg = None
    return Figure(caption=f"{name} ({h['nulls']} undefined, {h['below']} below, {h['above']} above the bins)",
                  svg=svg)


def _tokens(s: dict):
    """The tokens figure, or why there is none (never a 0 that was not counted)."""
    if s.get("tokens") is None:
        return "not counted (give --tokenizer DIR or --model M)"
    return s["tokens"]


def _outlier_blocks(col: str, sides: dict, rg: dict | None) -> list:
    """One signal's outliers: its range (when the report has one), then the rows of each side that has any
    (five a side); a signal with one value for every document says so instead of listing them."""
    rows = [[side, Lit(r["doc_id"]), num(r["value"]), Lit(r.get("excerpt") or "", 160)]
            for side in ("high", "low") for r in sides.get(side, [])[:5]]
    if rg is None:
        head = Para(f"`{col}`" if rows else f"`{col}`: no document has a value.")
    elif rg["min"] == rg["max"]:
        return [Para(f"`{col}`: all {plural(rg['documents'], 'document')} {num(rg['min'])}, so none stands out.")]
    else:
        head = Para(f"`{col}`: {num(rg['min'])} ({plural(rg['at_min'], 'document')}) to {num(rg['max'])} "
                    f"({plural(rg['at_max'], 'document')}) over {plural(rg['documents'], 'document')}")
    return [head, Table(["side", "doc_id", "value", "text"], rows, numeric=(2,))] if rows else [head]


def sections(report: Report) -> list[Section]:
    s = report.summary
    sig = s.get("signals") or {}
    n = max(s.get("documents", 0), 1)
    out = []
    al = s.get("alerts") or []
    out.append(Section("Alerts", [Bullets([a["text"] for a in al]) if al else
                                  Para("Nothing reached an alert (a share of documents at or above "
                                       f"{pct(report.config.get('alert_share', 0.01), 0)}).")], key="alerts"))
    ov = Section("Overview", [Table(["documents", "bytes", "tokens", "flagged by a rule", "exact duplicates",
                                     "near pairs"],
                                    [[s.get("documents"), sig.get("bytes"), _tokens(s), f"{sig.get('flagged', 0)} "
                                      f"({pct(sig.get('flagged', 0) / n, 1)})",
                                      ((s.get("exact") or {}).get("splits", {}).get("data") or {}).get("dup_docs"),
                                      (s.get("near") or {}).get("verified_pairs", "off")]], numeric=(0, 1, 2, 3, 4, 5))],
                 key="overview")
    if s.get("sources"):
        ov.add(Table(["source", "documents", "bytes", "flagged"],
                     [[Lit(k), v["documents"], v["bytes"], f"{v['flagged']} ({pct(v['flagged'] / max(v['documents'], 1), 1)})"]
                      for k, v in sorted(s["sources"].items(), key=lambda kv: -kv[1]["documents"])[:report.config.get("top", 20)]],
                     numeric=(1, 2)))
    sc = s.get("score")
    if sc:
        ov.add(Para(f"Reference model: perplexity (token-weighted) {num(sc.get('ppl'))}, bits per byte "
                    f"{num(sc.get('bits_per_byte'))} over {sc.get('tokens')} tokens."))
    out.append(ov)
    dup = Section("Duplicates", [], key="duplicates")
    groups = (report.findings.get("exact") or {}).get("duplicate_groups") or []
    if groups:
        dup.add(Para("Largest exact duplicate groups (after normalization):"),
                Table(["group", "size", "first member", "bytes", "text"],
                      [[f"`{g['group_id'][:12]}`", g["group_size"], Lit(g["first_doc_id"]), g.get("n_bytes"),
                        Lit(g.get("excerpt") or "", 160)] for g in groups], numeric=(1, 3)))
    cl = (report.findings.get("near") or {}).get("clusters") or []
    if cl:
        dup.add(Para("Largest near-duplicate clusters (MinHash + LSH, every pair verified):"),
                Table(["cluster", "size", "first member", "text"],
                      [[c["cluster_id"], c["size"], Lit(c["first_doc_id"]), Lit(c.get("excerpt") or "", 160)]
                       for c in cl], numeric=(0, 1)))
    if not dup.blocks:
        dup.add(Para("No exact or near duplicates."))
    out.append(dup)
    fails = sig.get("fails") or {}
    q = Section("Quality filters", [Para(
        "Share of documents failing each filter's published default rules (Gopher: Rae et al. 2021; C4: Raffel et "
        "al. 2020; FineWeb: Penedo et al. 2024; definitions and the agreement with datatrove in docs/signals.md):"),
        Table(["filter", "documents failing", "share"], [[f, c, pct(c / n, 2)] for f, c in fails.items()],
              numeric=(1, 2))], key="filters")
    rules = list((sig.get("rules") or {}).items())[: report.config.get("top", 20)]
    if rules:
        q.add(Para("Rules that fire most:"),
              Table(["rule", "documents", "share"], [[r, c, pct(c / n, 2)] for r, c in rules], numeric=(1, 2)))
    out.append(q)
    hs = sig.get("histograms") or {}
    figs = [_hist_figure(k, hs[k]) for k in PLOTTED if k in hs]
    if figs:
        d = Section("Distributions", [], key="distributions")
        for f, k in zip(figs, [k for k in PLOTTED if k in hs]):
            h = hs[k]
            if f.svg is None:
                d.add(Para(f"`{k}`"), Table(["from", "to", "documents"],
                                            [[num(a), num(b), c] for a, b, c in zip(h["edges"], h["edges"][1:],
                                                                                    h["counts"]) if c],
                                            numeric=(0, 1, 2)))
            else:
                d.add(f)
        out.append(d)
    ol = report.findings.get("outliers") or {}
    if ol:
        o = Section("Outliers", [Para(
            "The documents at both ends of each signal that stand out: a high side never lists a document at the "
            "signal's minimum, a low side none at its maximum; among equal values the document first in the "
            "input comes first (docs.parquet holds every document's values, in input order):")], key="outliers")
        ranges = sig.get("ranges") or {}
        for col, sides in ol.items():
            o.add(*_outlier_blocks(col, sides, ranges.get(col)))
        out.append(o)
    f = report.findings.get("score") or {}
    if f.get("highest_bits_per_byte"):
        out.append(Section("Perplexity outliers", [
            Table(["side", "doc_id", "bits/byte", "span bits/byte", "span"],
                  [["highest", Lit(t["doc_id"]), num(t["bits_per_byte"]), num(t.get("worst_bpb")), Lit(t["excerpt"], 160)]
                   for t in f["highest_bits_per_byte"][:10]] +
                  [["lowest", Lit(t["doc_id"]), num(t["bits_per_byte"]), num(t.get("best_bpb")), Lit(t["excerpt"], 160)]
                   for t in f.get("lowest_bits_per_byte", [])[:10]], numeric=(2, 3))], key="perplexity"))
    return out


def summary_lines(report: Report) -> list[str]:
    s = report.summary
    sig = s.get("signals") or {}
    tok = f", {s['tokens']} tokens" if s.get("tokens") is not None else ""
    out = [f"{s.get('documents')} documents, {sig.get('bytes', 0) / 1e6:.2f} MB{tok}; "
           f"{plural(sig.get('flagged', 0), 'document')} flagged by a quality rule"]
    out += [f"alert: {a['text']}" for a in s.get("alerts") or []]
    return out
