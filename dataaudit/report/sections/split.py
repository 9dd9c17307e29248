"""Sections of a split audit: verdict, leaks (all passes), perplexity, exact, near, containment."""

from __future__ import annotations

from ...records import Report
from ..doc import Bullets, Lit, Para, Section, Table, ids, num, pct, plural


def sections(report: Report) -> list[Section]:
    out = [verdict(report)]
    for fn in (leaks, perplexity, exact, near, containment):
        out += fn(report)
    return out


def verdict_lines(report: Report) -> list[str]:
    """The few sentences a person reads first (also the first lines of the stdout summary)."""
    s = report.summary
    lines = []
    exact_s = s["exact"]["splits"]
    for name, c in s["leaks"]["by_split"].items():
        e = exact_s[name]
        t = (f"**{c['leaked_docs']} of {c['docs']}** {name} documents ({pct(c['leaked_doc_fraction'], 1)}) also "
             f"occur in train: {plural(c['exact'], 'exact copy', 'exact copies')} after normalization "
             f"({pct(e['leaked_byte_fraction'], 1)} of the split's bytes)")
        if "near" in s:
            t += f", {plural(c['near_not_exact'], 'near copy', 'near copies')}"
        if "containment" in s:
            t += f", {c['containment_only']} contained in longer train documents"
        lines.append(t + ".")
    for name, r in ((s.get("perplexity") or {}).get("by_split") or {}).items():
        rise = r.get("ppl_rise_without_leaked")
        if r["leaked_only"]["docs"] and rise is not None:
            lines.append(f"{name} perplexity is {num(r['all']['ppl'])} with the leaked documents and "
                         f"{num(r['without_leaked']['ppl'])} without them ({rise:+.1%}).")
    t = exact_s.get("train")
    if t:
        lines.append(f"train has {plural(t['dup_docs'], 'exact duplicate document')} ({pct(t['dup_doc_fraction'], 1)}) "
                     f"in {plural(t['dup_groups'], 'group')}.")
    n_bad = report.bad_records.get("count", 0)
    if n_bad:
        lines.append(f"{plural(n_bad, 'bad record')} {'was' if n_bad == 1 else 'were'} skipped (see Bad records).")
    return lines


def verdict(report: Report) -> Section:
    s = Section("Verdict", [Bullets(verdict_lines(report))], key="verdict")
    same = [w for w in report.warnings if "are the same input" in w]
    if same:
        s.blocks.insert(0, Para("**Warning:** " + " ".join(same)))
    ppl = (report.summary.get("perplexity") or {}).get("by_split") or {}
    lowered = [n for n, r in ppl.items() if r["leaked_only"]["docs"] and (r.get("ppl_rise_without_leaked") or 0) > 0]
    if report.summary.get("leaked_docs"):
        if ppl and not lowered:
            s.add(Para("Leaked documents were found, but removing them does not raise perplexity here: they do "
                       "not make validation look better with this model. Drop them anyway before comparing runs."))
        else:
            s.add(Para("Leaked documents make validation perplexity look better than the model is: drop them "
                       "from the evaluation (or from train) before comparing runs."))
    else:
        s.add(Para("No leaks found by the passes that ran."))
    return s


def leaks(report: Report) -> list[Section]:
    lk = report.summary.get("leaks")
    if lk is None:
        return []
    rows = [[n, c["docs"], f"{c['leaked_docs']} ({pct(c['leaked_doc_fraction'])})", c["exact"],
             c["near_not_exact"], c["containment_only"]] for n, c in lk["by_split"].items()]
    s = Section("Leaked documents, all passes", [
        Table(["split", "docs", "leaked (any pass)", "exact", "near, not exact", "containment only"], rows,
              numeric=(1, 2, 3, 4, 5))], key="leaks")
    listed = (report.findings.get("leaks") or {}).get("leaked") or []
    if listed:
        s.add(Para("Not exact copies (the leaks a hash cannot see), strongest first:" if not listed[0]["exact"]
                   else "Leaked documents:"))
        s.add(Table(["doc_id", "split", "passes", "Jaccard", "containment", "train doc_ids"],
                    [[Lit(r["doc_id"]), r["split"], ", ".join(r["passes"]),
                      num(r["near_jaccard"], 3) if r["near_jaccard"] is not None else "",
                      num(r["containment"], 3) if r["containment"] is not None else "",
                      ids(r["train_doc_ids"])] for r in listed], numeric=(3, 4)))
    return [s]


def perplexity(report: Report) -> list[Section]:
    p = report.summary.get("perplexity")
    if not p:
        return []
    m = p.get("model") or {}
    rows = []
    for split, r in p["by_split"].items():
        a, c, lk = r["all"], r["without_leaked"], r["leaked_only"]
        rows.append([split, f"{a['docs']} ({lk['docs']} leaked)", num(a["ppl"]), num(c["ppl"]), num(lk["ppl"]),
                     num(a["bits_per_byte"]), num(c["bits_per_byte"]), num(lk["bits_per_byte"])])
    s = Section("Validation perplexity with and without the leaked documents", [
        Para(f"Reference model `{m.get('name', '?')}` ({m.get('kind', '?')}, tokenizer `{m.get('tokenizer', '?')}`); "
             f"token-weighted perplexity and bits per byte."),
        Table(["split", "docs", "perplexity", "without leaked", "leaked only", "bits/byte", "without leaked",
               "leaked only"], rows, numeric=(2, 3, 4, 5, 6, 7))], key="perplexity")
    notes = []
    for split, r in p["by_split"].items():
        rise = r.get("ppl_rise_without_leaked")
        if r["leaked_only"]["docs"] and rise is not None:
            notes.append(f"{split}: without its {plural(r['leaked_only']['docs'], 'leaked document')}, perplexity "
                         f"is {rise:+.1%} ({num(r['all']['ppl'])} -> {num(r['without_leaked']['ppl'])}).")
    if notes:
        s.add(Bullets(notes))
    if p.get("notes"):
        s.add(Bullets(list(p["notes"])))
    return [s]


def exact(report: Report) -> list[Section]:
    e = report.summary.get("exact")
    if e is None:
        return []
    train = (report.config.get("exact") or {}).get("train_split", "train")
    rows = []
    for sp, d in e["splits"].items():
        leak = "" if sp == train else f"{d['leaked_docs']} ({pct(d['leaked_doc_fraction'])})"
        leakb = "" if sp == train else f"{d['leaked_bytes']} ({pct(d['leaked_byte_fraction'])})"
        rows.append([sp, d["docs"], f"{d['bytes'] / 1e6:.2f}", d["dup_groups"],
                     f"{d['dup_docs']} ({pct(d['dup_doc_fraction'])})",
                     f"{d['dup_bytes']} ({pct(d['dup_byte_fraction'])})", leak, leakb])
    out = [Section("Exact duplicates and leaks", [Table(
        ["split", "docs", "MB", "dup groups", "dup docs", "dup bytes", "leaked docs", "leaked bytes"], rows,
        numeric=(1, 2, 3, 4, 5, 6, 7))], key="exact")]
    f = report.findings.get("exact") or {}
    if f.get("leaks"):
        out.append(Section("Exact leaks (largest first)", [Table(
            ["doc_id", "split", "bytes", "copies in train", "train doc_ids", "text"],
            [[Lit(r["doc_id"]), r["split"], r["n_bytes"], r["n_train_copies"],
              ids(r["train_doc_ids"], total=r["n_train_copies"]), Lit(r.get("excerpt") or "", 120)]
             for r in f["leaks"]], numeric=(2, 3))], key="exact_leaks"))
    if f.get("duplicate_groups"):
        out.append(Section("Largest exact duplicate groups", [Table(
            ["split", "group", "size", "first member", "text"],
            [[g["split"], f"`{g['group_id'][:12]}`", g["group_size"], Lit(g["first_doc_id"]),
              Lit(g.get("excerpt") or "", 120)] for g in f["duplicate_groups"]], numeric=(2,))],
            key="exact_groups"))
    return out


def near(report: Report) -> list[Section]:
    s = report.summary.get("near")
    if s is None:
        return []
    c = report.config.get("near") or {}
    curve = s["detection_curve"]
    sec = Section("Near-duplicates (MinHash + LSH, verified)", [
        Para(f"MinHash ({c.get('num_perm')} permutations, seed {c.get('seed')}, {c.get('scheme')}) over "
             f"{'character' if c.get('char_ngrams') else 'word'} {c.get('ngram')}-grams; LSH {s['bands']} bands x "
             f"{s['rows']} rows; mode `{c.get('mode')}`; threshold: exact Jaccard >= {c.get('threshold')}."),
        Para("Detection curve (probability that a pair with this Jaccard becomes a candidate):"),
        Table(["Jaccard", *curve], [["P(candidate)", *(f"{v:.3f}" for v in curve.values())]],
              numeric=tuple(range(1, len(curve) + 1))),
        Para(f"Candidates: {s['candidates']}; verified near-duplicates: {s['verified_pairs']}; dropped after exact "
             f"check: {s['dropped_candidates']} (measured LSH false-positive rate "
             f"{s['measured_false_positive_rate']:.2%}). Clusters: {s['clusters']} (largest {s['largest_cluster']})."),
    ], key="near")
    if s["leaked_by_split"]:
        sec.add(Para("Leaked documents (near-duplicate of a train document): " +
                     ", ".join(f"{k}: {v}" for k, v in s["leaked_by_split"].items()) + "."))
    if s["documents_without_shingles"]:
        sec.add(Para(f"{plural(s['documents_without_shingles'], 'empty document')} "
                     f"{'has' if s['documents_without_shingles'] == 1 else 'have'} no shingles and "
                     f"{'was' if s['documents_without_shingles'] == 1 else 'were'} not compared."))
    out = [sec]
    pairs = (report.findings.get("near") or {}).get("pairs") or []
    if pairs:
        out.append(Section("Near-duplicate pairs (most similar first)", [Table(
            ["doc_id", "split", "other doc_id", "other split", "Jaccard", "contained", "other contained", "estimate"],
            [[Lit(p["doc_id"]), p["split"], Lit(p["other_doc_id"]), p["other_split"], f"{p['jaccard']:.3f}",
              f"{p['containment']:.3f}", f"{p['other_containment']:.3f}", f"{p['estimated_jaccard']:.3f}"]
             for p in pairs], numeric=(4, 5, 6, 7))], key="near_pairs"))
    return out


def containment(report: Report) -> list[Section]:
    s = report.summary.get("containment")
    if s is None:
        return []
    c = report.config.get("containment") or {}
    train = c.get("train_split", "train")
    sec = Section("Containment (n-gram overlap with train)", [
        Para(f"Word {c.get('ngram')}-grams of {', '.join(s['documents']) or 'no split'} looked up in "
             f"{s['train_documents']} {train} documents; a document is flagged when >= {c.get('threshold', 0):.0%} of "
             f"its n-grams occur in {train}. N-grams found in more than {c.get('max_ngram_doc_freq')} {train} "
             f"documents count as boilerplate ({s['boilerplate_ngrams']} such)."),
        Table(["split", "documents", "too short to check", "with matches", "flagged"],
              [[n, s["documents"][n], s["too_short"].get(n, 0), (s.get("with_matches") or {}).get(n, 0),
                s["leaked_by_split"].get(n, 0)] for n in s["documents"]], numeric=(1, 2, 3, 4)),
    ], key="containment")
    out = [sec]
    top = (report.findings.get("containment") or {}).get("documents") or []
    if top:
        out.append(Section("Contained documents (most contained first)", [Table(
            ["doc_id", "split", "contained", "n-grams", "train docs", "first train doc_ids", "longest matched span"],
            [[Lit(r["doc_id"]), r["split"], f"{r['containment']:.2f}", r["ngrams"], r["n_train_docs"],
              ids(r["train_doc_ids"], total=r["n_train_docs"]), Lit(r["excerpt"], 120)] for r in top],
            numeric=(2, 3, 4))], key="containment_docs"))
    return out
