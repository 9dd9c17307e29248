"""The stdout summary of each command: a few lines a person reads in the terminal (``--format text``)."""

from __future__ import annotations

from ..records import Report
from .doc import num, pct, plural


def lines(report: Report, out_dir: str | None) -> list[str]:
    from .sections.corpus import summary_lines

    fn = {"split": _split, "score": _score, "spikes": _spikes, "report": summary_lines}.get(report.kind)
    body = fn(report) if fn is not None else []
    n_bad = report.bad_records.get("count", 0)
    if n_bad:
        body.append(f"{plural(n_bad, 'bad record')} skipped (located in report.json)")
    if out_dir is not None:
        body.append(f"report: {out_dir}/report.md")
    return body


def _split(report: Report) -> list[str]:
    """Counts as the verdict counts them: trivial leaks (headings, boilerplate) are not leaks, and where a
    pass's own count holds some, the line says how many."""
    s = report.summary
    lk = s["leaks"]["by_split"]
    out = []
    for name, c in s["exact"]["splits"].items():
        t = f"{name}: {c['docs']} docs, {plural(c['dup_docs'], 'exact duplicate')} ({pct(c['dup_doc_fraction'])})"
        if name != report.config.get("train_split", "train"):
            m = lk.get(name)
            n = m["exact"] if m is not None else c["leaked_docs"]
            tb = (m or {}).get("trivial_by_pass")
            tv = tb.get("exact", 0) if tb is not None else c["leaked_docs"] - n
            t += f", {plural(n, 'exact leak')} from train ({pct(n / c['docs'] if c['docs'] else 0.0)})"
            if tv:
                t += f", besides {plural(tv, 'trivial exact match', 'trivial exact matches')} (headings, boilerplate)"
        out.append(t)
    for name, c in lk.items():
        t = (f"{name}: {c['leaked_docs']} of {c['docs']} documents leaked from train by any pass "
             f"({pct(c['leaked_doc_fraction'])}: {c['exact']} exact, {c.get('near_not_exact', 0)} near, "
             f"{c.get('containment_only', 0)} contained)")
        if c.get("trivial"):
            t += f"; {plural(c['trivial'], 'trivial match', 'trivial matches')} not counted"
        out.append(t)
    for name, r in (s.get("perplexity") or {}).get("by_split", {}).items():
        if r.get("sample"):
            continue
        a, c = r["all"]["ppl"], r["without_leaked"]["ppl"]
        if a and c:
            out.append(f"{name}: perplexity {a:.4g} with its {plural(r['leaked_only']['docs'], 'leaked document')}, "
                       f"{c:.4g} without")
        ex = ((s.get("perplexity") or {}).get("explain") or {}).get(name)
        if ex is not None and ex["gap_nats"] > 0:
            share = ex.get("share_explained")
            out.append(f"{name}: {ex['gap_nats']:.3f} nats/token below train; leaks explain "
                       f"{'n/a' if share is None else f'{share:.0%}'} of the gap")
    return out


def _score(report: Report) -> list[str]:
    s = report.summary["score"]
    m = (report.config.get("score") or {}).get("model") or {}
    secs = sum(p["seconds"] for p in report.phases)
    return [*s.get("notes", []),
            f"model: {m.get('name')} ({m.get('kind')}), tokenizer {m.get('tokenizer')}",
            f"{s['docs']} docs ({s['docs_scored_now']} scored, {s['docs_from_cache']} from cache), "
            f"{s['tokens']} tokens, {s['bytes']} bytes in {secs:.1f}s",
            f"perplexity (token-weighted) {num(s['ppl'])}, bits per byte {num(s['bits_per_byte'])}"]


def _spikes(report: Report) -> list[str]:
    s = report.summary
    out = [f"{s['runs']} run(s), {s['judged_points']} judged points: {plural(s['spikes'], 'spike')}, "
           f"{s['shared_spike_groups']} shared step(s), {plural(s['divergences'], 'divergence finding')}; "
           f"severity {s['severity']}."]
    if s.get("diagnosis_line"):
        out.append(s["diagnosis_line"])
    if s.get("unjudged_runs"):
        hint = s.get("unjudged_hint") or "lower --min-history or --warmup-steps, or give a log with more points"
        out.append(f"{plural(s['unjudged_runs'], 'run')} had no point that could be judged: {hint}")
    return out
