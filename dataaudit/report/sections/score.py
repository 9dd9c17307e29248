"""Sections of a score report: model and aggregates, highest and lowest bits per byte."""

from __future__ import annotations

from ...records import Report
from ..doc import Bullets, Figure, Lit, Para, Section, Table, num
from ..svg import bar_chart


def sections(report: Report) -> list[Section]:
    s = report.summary.get("score")
    if s is None:
        return []
    c = report.config.get("score") or {}
    m, st = c.get("model") or {}, c.get("settings") or {}
    fp = str(m.get("fingerprint", ""))[:16]
    main = Section("Reference-model scores", [
        Para(f"Model: `{m.get('name', '?')}` ({m.get('kind', '?')}, fingerprint `{fp}`, tokenizer "
             f"`{m.get('tokenizer', '?')}`), max length {st.get('max_length')}, stride {st.get('stride')}, "
             f"BOS {st.get('bos')}.")], key="score")
    if s.get("notes"):
        main.add(Bullets(list(s["notes"])))
    main.add(Table(["split", "docs", "tokens", "bytes", "perplexity (token-weighted)", "bits per byte"],
                   [[n, a["docs"], a["tokens"], a["bytes"], num(a["ppl"]), num(a["bits_per_byte"])]
                    for n, a in s["by_split"].items()], numeric=(1, 2, 3, 4, 5)),
             Para(f"{s['docs_scored_now']} document(s) scored now, {s['docs_from_cache']} from the cache."))
    by = [(n, a) for n, a in s["by_split"].items() if a.get("bits_per_byte") is not None]
    if len(by) > 1:
        main.add(Figure("Bits per byte of each split (token-weighted over its documents)", svg=bar_chart(
            [n for n, _ in by], [a["bits_per_byte"] for _, a in by], title="Bits per byte by split",
            value_labels=[num(a["bits_per_byte"]) for _, a in by], x_label="bits per byte")))
    f = report.findings.get("score") or {}
    top = Section("Highest bits per byte", [Table(
        ["doc_id", "bits/byte", "worst span bits/byte", "worst span"],
        [[Lit(t["doc_id"]), num(t["bits_per_byte"]), num(t["worst_bpb"]), Lit(t["excerpt"])]
         for t in (f.get("highest_bits_per_byte") or [])], numeric=(1, 2))], key="score_high")
    bottom = Section("Lowest bits per byte", [
        Para("Read bits per byte on both sides: far below the corpus's typical value is text that repeats "
             "itself (runs, repeated n-grams, boilerplate)."),
        Table(["doc_id", "bits/byte", "lowest-loss span bits/byte", "lowest-loss span"],
              [[Lit(t["doc_id"]), num(t["bits_per_byte"]), num(t["best_bpb"]), Lit(t["excerpt"])]
               for t in (f.get("lowest_bits_per_byte") or [])], numeric=(1, 2))], key="score_low")
    return [main, top, bottom]

