"""Sections of a split audit: verdict, leaks (all passes), perplexity, exact, near, containment."""

from __future__ import annotations

from ...records import Report
from ..doc import Bullets, Figure, Lit, Para, Section, Table, ids, num, pct, plural
from ..svg import bar_chart, line_chart


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
        t = (f"**{c['leaked_docs']} of {c['docs']}** {name} documents ({pct(c['leaked_doc_fraction'], 1)}) also "
             f"occur in train: {plural(c['exact'], 'exact copy', 'exact copies')} after normalization "
             f"({exact_bytes_words(c, exact_s.get(name))})")
        if "near" in s:
            t += f", {plural(c['near_not_exact'], 'near copy', 'near copies')}"
        if "containment" in s:
            t += f", {c['containment_only']} contained in longer train documents"
        if c.get("trivial"):
            t += (f"; besides, {plural(c['trivial'], 'trivial match', 'trivial matches')} (headings, boilerplate: "
                  f"not counted here)")
        lines.append(t + ".")
    p = s.get("perplexity") or {}
    lg = p.get("logged")
    if lg and lg.get("train_loss") is not None and lg.get("eval_loss") is not None:
        d = lg["train_loss"] - lg["eval_loss"]
        lines.append(f"The run logged eval loss {num(lg['eval_loss'])} against train loss {num(lg['train_loss'])} "
                     f"near step {lg['step']}: eval {abs(d):.3f} {'below' if d > 0 else 'above'} train (its own "
                     f"tokenizer, train loss with dropout if any; dataaudit's figures are the reference "
                     f"model's, in eval mode).")
    for name, r in (p.get("by_split") or {}).items():
        if r.get("sample"):
            continue
        ex = (p.get("explain") or {}).get(name)
        if ex is not None:
            lines += explain_lines(name, ex)
            continue
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


def exact_bytes_words(c: dict, e: dict | None) -> str:
    """The byte share of a split's exact leaks, trivial ones left out as in the counts beside it (reports
    written before ``exact_bytes`` existed say that theirs includes them)."""
    if e and "exact_bytes" in c:
        return f"{pct(c['exact_bytes'] / e['bytes'] if e['bytes'] else 0.0, 1)} of the split's bytes"
    if e:
        return f"exact matches, trivial ones included, are {pct(e['leaked_byte_fraction'], 1)} of the split's bytes"
    return "byte share not measured"


def trivial_words(n: int) -> str:
    """How every count of the split report names the trivial leaks it leaves out."""
    return f"{plural(n, 'trivial match', 'trivial matches')} (headings, boilerplate: not counted as leaks)"


def _ci(iv, digits: int = 3, pctg: bool = False) -> str:
    if not iv:
        return ""
    f = (lambda x: f"{x:.0%}") if pctg else (lambda x: f"{x:+.{digits}f}")
    return f" (95% CI {f(iv[0])} to {f(iv[1])})"


def explain_lines(name: str, ex: dict) -> list[str]:
    """Two or three sentences: the gap the user saw, the share the leaks explain, what remains."""
    gap, eff = ex["gap_nats"], ex["leak_effect_nats"]
    pp = ex["as_ppl"]
    giv = ex.get("gap_interval")
    out = []
    if gap > 0:
        t = (f"{name} loss is {gap:.3f} nats/token below the train sample's{_ci(giv)} "
             f"(perplexity {num(pp['val'])} vs {num(pp['train'])})")
        t += (": a gap within resampling noise." if giv and giv[0] <= 0 else ".")
        share = ex.get("share_explained")
        if eff > 0 and share is not None:
            iv = ex.get("share_interval")
            t += f" The leaked documents account for {eff:.3f} nats/token{_ci(ex.get('leak_effect_interval'))}"
            if (ex.get("share_defined") or 1.0) < 0.975:
                t += (f", {share:.0%} of the gap, a share the data cannot pin down (the gap's interval reaches "
                      f"0): read the leak effect and its interval instead.")
            elif share >= 1:
                t += f", {share:.0%} of the gap{_ci(iv, pctg=True)}: all of it."
            else:
                t += (f", {share:.0%} of the gap{_ci(iv, pctg=True)}"
                      + (": most of it." if share >= 0.8 else "."))
        elif ex["by_pass"] and any(v["docs"] for v in ex["by_pass"].values()):
            t += (f" Removing the leaked documents does not raise {name} loss ({eff:+.3f} nats/token"
                  f"{_ci(ex.get('leak_effect_interval'))}): the leaks do not explain the gap.")
        else:
            t += (" No leaked documents were found"
                  + (f" (not counting {plural(ex['trivial_docs'], 'trivial match', 'trivial matches')}: "
                     f"headings, boilerplate)" if ex.get("trivial_docs") else "")
                  + ", so the leaks explain none of it.")
        out.append(t)
    else:
        t = (f"{name} loss is not below train ({-gap:.3f} nats/token above the train sample's"
             f"{_ci([-x for x in reversed(giv)] if giv else None)})")
        if any(v["docs"] for v in (ex.get("by_pass") or {}).values()):
            t += (f"; without its leaked documents it would be {abs(eff):.3f} nats/token "
                  f"{'higher' if eff > 0 else 'lower'}{_ci(ex.get('leak_effect_interval'))}")
        out.append(t + ".")
    if gap > 0:
        rem, riv = ex["remaining_gap_nats"], ex.get("remaining_gap_interval")
        if rem > 0:
            sh = shift_words(name, ex)
            out.append(f"Without the leaks {name} is still {rem:.3f} nats/token below train{_ci(riv)}"
                       + (": within resampling noise." if riv and riv[0] <= 0 and "no difference" in sh
                          else f": {sh}"))
        elif eff > 0:
            out.append(f"Without them {name} is {-rem:.3f} nats/token above the train sample"
                       f"{_ci([-x for x in reversed(riv)] if riv else None)}, as text a model was not trained "
                       f"on usually is: nothing is left for a distribution shift to explain.")
    return out


def shift_words(name: str, ex: dict) -> str:
    """What differs between val (without leaks) and the train sample, in words."""
    parts = []
    sh = ex.get("shift") or {}
    ln = sh.get("length_bytes") or {}
    if ln.get("ratio") and ln.get("ks_p") is not None and ln["ks_p"] < 0.01 and abs(ln["ratio"] - 1) >= 0.1:
        parts.append(f"{name} documents are {abs(1 - ln['ratio']):.0%} {'shorter' if ln['ratio'] < 1 else 'longer'} "
                     f"(median {ln['val_median']:.0f} vs {ln['train_median']:.0f} bytes, KS p {ln['ks_p']:.2g})")
    bp = sh.get("bits_per_byte") or {}
    if bp.get("val_median") is not None and bp.get("ks_p") is not None and bp["ks_p"] < 0.01:
        easier = bp["val_median"] < bp["train_median"]
        parts.append(f"the model finds them {'easier' if easier else 'harder'} (median {bp['val_median']:.3g} vs "
                     f"{bp['train_median']:.3g} bits/byte, KS p {bp['ks_p']:.2g})")
    src = ex.get("sources") or {}
    moved = sorted(((v["val_share"] - v["train_share"], k) for k, v in src.items()), reverse=True)
    if moved and moved[0][0] >= 0.1:
        d, k = moved[0]
        parts.append(f"{src[k]['val_share']:.0%} of {name} comes from {k} against {src[k]['train_share']:.0%} of train")
    if not parts:
        return ("no difference in length or bits per byte between the two reaches p < 0.01; look at the model "
                "side (dropout or augmentation at train time also put train loss above val).")
    return "; ".join(parts) + "."


def verdict(report: Report) -> Section:
    s = Section("Verdict", [Bullets(verdict_lines(report))], key="verdict")
    same = [w for w in report.warnings if "are the same input" in w]
    if same:
        s.blocks.insert(0, Para("**Warning:** " + " ".join(same)))
    ppl = {n: r for n, r in ((report.summary.get("perplexity") or {}).get("by_split") or {}).items()
           if not r.get("sample")}
    lowered = [n for n, r in ppl.items() if r["leaked_only"]["docs"] and (r.get("ppl_rise_without_leaked") or 0) > 0]
    if report.summary.get("leaked_docs"):
        leaky = [n for n, r in ppl.items() if r["leaked_only"]["docs"]]
        if ppl and not lowered:
            s.add(Para("Leaked documents were found, but removing them does not raise perplexity here: they do "
                       "not make validation look better with this model. Drop them anyway before comparing runs."))
        elif ppl:
            not_lowered = [n for n in leaky if n not in lowered]
            t = (f"In {', '.join(lowered)}, the leaked documents make perplexity look better than the model is"
                 + (f"; in {', '.join(not_lowered)} removing them does not raise it" if not_lowered else "")
                 + ". Drop them from the evaluation (or from train) before comparing runs.")
            s.add(Para(t))
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
             c["near_not_exact"], c["containment_only"], c.get("trivial", 0)] for n, c in lk["by_split"].items()]
    s = Section("Leaked documents, all passes", [
        Table(["split", "docs", "leaked (any pass)", "exact", "near, not exact", "containment only", "trivial"], rows,
              numeric=(1, 2, 3, 4, 5, 6))], key="leaks")
    rule = lk.get("rule")
    if rule:
        s.add(Para(f"Trivial: matched text of at most {rule['max_words']} words (after normalization) or held by at "
                   f"least {rule['min_copies']} train documents: headings and boilerplate lines, counted apart and "
                   f"not in the other columns."))
    by = [(n, c) for n, c in lk["by_split"].items()]
    if by:
        s.add(Figure("Share of each split's documents that also occur in train (any pass)", svg=bar_chart(
            [n for n, _ in by], [c["leaked_doc_fraction"] for _, c in by], title="Leaked documents by split",
            value_labels=[f"{c['leaked_docs']} of {c['docs']} ({pct(c['leaked_doc_fraction'], 1)})" for _, c in by],
            x_label="share of the split's documents", color="#c44e52")))
    listed = (report.findings.get("leaks") or {}).get("leaked") or []
    if listed:
        s.add(Para(listed_heading(listed)))
        s.add(Table(["doc_id", "split", "passes", "Jaccard", "containment", "trivial", "train doc_ids", "text"],
                    [[Lit(r["doc_id"]), r["split"], ", ".join(r["passes"]),
                      num(r["near_jaccard"], 3) if r["near_jaccard"] is not None else "",
                      num(r["containment"], 3) if r["containment"] is not None else "",
                      "yes" if r.get("trivial") else "", ids(r["train_doc_ids"]),
                      Lit(r.get("excerpt") or "", 120)] for r in listed], numeric=(3, 4)))
    sets = report.summary.get("eval_sets") or {}
    if sets:
        s.add(Para("Eval sets: the fields audited per file (joined by newlines, list elements one per line):"))
        s.add(Table(["set", "file", "fields", "chosen by", "id field"],
                    [[k, Lit(v["file"]), Lit(" + ".join(v["fields"])), v["fields_from"], Lit(v["id_field"] or "row")]
                     for k, v in sets.items()]))
    return [s]


def listed_heading(listed: list[dict]) -> str:
    """The heading of the leak list, from every row it holds (merge_leaks orders them: not exact and not
    trivial first, strongest first, then exact copies, then trivial ones)."""
    hidden = sum(not r["exact"] and not r.get("trivial") for r in listed)
    exact_n = sum(bool(r["exact"]) and not r.get("trivial") for r in listed)
    triv = sum(bool(r.get("trivial")) for r in listed)
    if hidden == len(listed):
        return "Not exact copies (the leaks a hash cannot see), strongest first:"
    parts = []
    if hidden:
        parts.append("not exact copies (the leaks a hash cannot see), strongest first")
    if exact_n:
        parts.append("exact copies")
    if triv:
        parts.append("trivial matches (not counted as leaks)")
    if len(parts) == 1:
        return f"Leaked documents: {parts[0]}:"
    return "Leaked documents: " + ", then ".join(parts) + ":"


def perplexity(report: Report) -> list[Section]:
    p = report.summary.get("perplexity")
    if not p:
        return []
    m = p.get("model") or {}
    rows = []
    for split, r in p["by_split"].items():
        if r.get("sample"):
            a = r["all"]
            rows.append([f"{split} (sample)", a["docs"], num(a["ppl"]), "", "", num(a["bits_per_byte"]), "", ""])
            continue
        a, c, lk = r["all"], r["without_leaked"], r["leaked_only"]
        tv = r.get("trivial_docs") or 0
        rows.append([split, f"{a['docs']} ({lk['docs']} leaked" + (f", {tv} trivial kept)" if tv else ")"),
                     num(a["ppl"]), num(c["ppl"]), num(lk["ppl"]),
                     num(a["bits_per_byte"]), num(c["bits_per_byte"]), num(lk["bits_per_byte"])])
    s = Section("Validation perplexity with and without the leaked documents", [
        Para(f"Reference model `{m.get('name', '?')}` ({m.get('kind', '?')}, tokenizer `{m.get('tokenizer', '?')}`); "
             f"token-weighted perplexity and bits per byte."),
        Table(["split", "docs", "perplexity", "without leaked", "leaked only", "bits/byte", "without leaked",
               "leaked only"], rows, numeric=(2, 3, 4, 5, 6, 7))], key="perplexity")
    ex_rows, also = [], []
    for split, ex in (p.get("explain") or {}).items():
        def c(v, iv):
            return f"{v:+.4f}" + (f" [{iv[0]:+.4f}, {iv[1]:+.4f}]" if iv else "")

        def by(k):
            b = ex["by_pass"].get(k) or {}
            return (f"{c(b['leak_effect_nats'], b['interval'])}, {plural(b['docs'], 'doc')}" if b.get("docs")
                    else "0 docs" if b else "")
        share = ex.get("share_explained")
        first = bool(ex.get("by_pass_rule"))
        if first:
            more = [f"{k} {b['found_docs'] - b['docs']}" for k, b in ex["by_pass"].items()
                    if (b.get("found_docs") or 0) > b["docs"]]
            if more:
                also.append(f"{split}: {', '.join(more)}")
        n_leaked = (p["by_split"].get(split) or {}).get("leaked_only", {}).get("docs")
        ex_rows.append([split, c(ex["gap_nats"], ex.get("gap_interval")),
                        c(ex["leak_effect_nats"], ex.get("leak_effect_interval"))
                        + (f", {plural(n_leaked, 'doc')}" if n_leaked is not None else ""),
                        *(by(k) for k in ("exact", "near", "containment")),
                        (f"{share:.1%}" + (f" [{ex['share_interval'][0]:.0%}, {ex['share_interval'][1]:.0%}]"
                                            if ex.get("share_interval") else "")
                         + (" (not pinned down: the gap's interval reaches 0)"
                            if (ex.get("share_defined") or 1.0) < 0.975 else "")) if share is not None else "n/a",
                        c(ex["remaining_gap_nats"], ex.get("remaining_gap_interval"))])
    if ex_rows:
        s.add(Para("The gap, in nats per token (train sample minus split; > 0: the split is below train), the "
                   "effect of its leaked documents (loss without them minus with them; > 0: the leaks lower it), "
                   "together and for each pass's documents, and the share of the gap the leaks explain, each "
                   "with its 95% bootstrap interval over documents. The leaked documents are the verdict's "
                   "(trivial matches are not leaks and stay in); each is counted once, under the first pass that "
                   "found it (exact, then near, then containment: the columns of the leak table), so the pass "
                   "columns are the effect of removing those documents alone:"),
              Table(["split", "gap", "leak effect (all leaked docs)", "exact", "near, not exact", "contained only",
                     "share explained", "remaining gap"], ex_rows))
        if also:
            s.add(Para("Found by a later pass too, and counted under the first one only: " + "; ".join(also) + "."))
    lg = p.get("logged")
    if lg:
        s.add(Para(f"What the run logged (`{', '.join(lg['logs'])}`), near its last eval step {lg['step']}: train "
                   f"loss {num(lg['train_loss'])} (`{lg['train_metric']}`, mean of {lg['train_points']} points), eval "
                   f"loss {num(lg['eval_loss'])} (`{lg['eval_metric']}`), so eval is "
                   f"{abs((lg['train_loss'] or 0) - lg['eval_loss']):.4f} "
                   f"{'below' if (lg['train_loss'] or 0) > lg['eval_loss'] else 'above'} train in the run's own units "
                   f"(its tokenizer; dataaudit's figures above are in the reference model's)."))
    notes = []
    for split, r in p["by_split"].items():
        if r.get("sample"):
            continue
        rise = r.get("ppl_rise_without_leaked")
        if r["leaked_only"]["docs"] and rise is not None:
            tv = r.get("trivial_docs") or 0
            notes.append(f"{split}: without its {plural(r['leaked_only']['docs'], 'leaked document')}, perplexity "
                         f"is {rise:+.1%} ({num(r['all']['ppl'])} -> {num(r['without_leaked']['ppl'])})"
                         + (f"; its {trivial_words(tv)} stay in." if tv else "."))
    if notes:
        s.add(Bullets(notes))
    if p.get("notes"):
        s.add(Bullets(list(p["notes"])))
    return [s]


def _trivial_of(c: dict, pass_name: str, fallback: int | None = None) -> int | None:
    """Trivial leaks ``pass_name`` found in one split (``leaks.by_split.<split>.trivial_by_pass``)."""
    tb = c.get("trivial_by_pass")
    return tb.get(pass_name, 0) if tb is not None else fallback


def _found_words(c: dict | None, pass_name: str, found: int, key: str, other: str, counted: str) -> str:
    """What a pass's own count of a split holds: its trivial matches, documents an earlier pass found, and
    the leaks the verdict counts under this pass."""
    if c is None:
        return ""
    tv = _trivial_of(c, pass_name)
    if tv is None:
        return f", {c[key]} of them {counted} (the verdict's count)"
    return f", of them {tv} trivial, {found - tv - c[key]} {other} and {c[key]} {counted} (the verdict's count)"


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
        ["split", "docs", "MB", "dup groups", "dup docs", "dup bytes", "in train (docs)", "in train (bytes)"], rows,
        numeric=(1, 2, 3, 4, 5, 6, 7))], key="exact")]
    lk = (report.summary.get("leaks") or {}).get("by_split") or {}
    parts = []
    for sp, c in lk.items():
        d = e["splits"].get(sp)
        if d is None:
            continue
        tv = _trivial_of(c, "exact", d["leaked_docs"] - c["exact"])
        if tv:
            parts.append(f"{sp}: {d['leaked_docs']}, of them {tv} trivial and {plural(c['exact'], 'exact leak')}")
    if parts:
        out[0].blocks.append(Para("In train: every exact match, trivial ones (headings, boilerplate) included, "
                                  "as in the list of exact leaks; the verdict and the leak table leave the trivial "
                                  "ones out. " + "; ".join(parts) + "."))
    f = report.findings.get("exact") or {}
    if f.get("leaks"):
        out.append(Section("Exact leaks (largest first)", [Table(
            ["doc_id", "split", "bytes", "copies in train", "trivial", "train doc_ids", "text"],
            [[Lit(r["doc_id"]), r["split"], r["n_bytes"], r["n_train_copies"], "yes" if r.get("trivial") else "",
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
    b, r = s["bands"], s["rows"]
    grid = [i / 100 for i in range(101)]
    sec.add(Figure(f"P(candidate) = 1 - (1 - J^{r})^{b} for {b} bands x {r} rows; dashed: the verification threshold",
                   svg=line_chart([("P(candidate)", grid, [1 - (1 - j ** r) ** b for j in grid])],
                                  title="LSH detection curve", x_label="Jaccard similarity",
                                  y_label="P(candidate)",
                                  vlines=[(c["threshold"], f"threshold {c['threshold']}")]
                                  if c.get("threshold") is not None else [])))
    if s["leaked_by_split"]:
        lk = (report.summary.get("leaks") or {}).get("by_split") or {}
        sec.add(Para("Documents with a near-duplicate in train, trivial ones and exact copies included. " +
                     "; ".join(f"{k}: {v}" + _found_words(lk.get(k), "near", v, "near_not_exact",
                                                          "also exact copies", "near leaks")
                               for k, v in s["leaked_by_split"].items()) + "."))
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
        Para(f"Word n-grams of {', '.join(s['documents']) or 'no split'} looked up in "
             f"{s['train_documents']} {train} documents; a document is flagged when >= {c.get('threshold', 0):.0%} of "
             f"its n-grams occur in {train}. N-grams found in more than {c.get('max_ngram_doc_freq')} {train} "
             f"documents count as boilerplate ({s['boilerplate_ngrams']} such)."),
        Table(["split", "documents", "n", "matched whole", "too short to check", "with matches", "flagged"],
              [[n, s["documents"][n], (s.get("ngram_by_split") or {}).get(n, c.get("ngram")),
                (s.get("matched_whole") or {}).get(n, 0), s["too_short"].get(n, 0),
                (s.get("with_matches") or {}).get(n, 0), s["leaked_by_split"].get(n, 0)] for n in s["documents"]],
              numeric=(1, 2, 3, 4, 5, 6)),
    ], key="containment")
    if "ngram_by_split" in s:
        sec.add(Para(f"n per split: the {c.get('length_percentile', 5):g}th percentile of its item word counts, "
                     f"clamped to {min(c.get('min_ngram', 8), c.get('ngram', 13))}..{c.get('ngram')}; an item shorter "
                     f"than n but of at least {c.get('min_item_words')} words is matched whole (its normalized text "
                     f"as a contiguous word sequence of a {train} document); shorter items are not checked."))
    lk = (report.summary.get("leaks") or {}).get("by_split") or {}
    said = [f"{k}: {v}" + _found_words(lk.get(k), "containment", v, "containment_only", "also found by the exact or "
                                       "near pass", "contained-only leaks")
            for k, v in s["leaked_by_split"].items() if v]
    if said:
        sec.add(Para("Flagged counts every document over the threshold, trivial ones and those another pass also "
                     "found included. " + "; ".join(said) + "."))
    out = [sec]
    top = (report.findings.get("containment") or {}).get("documents") or []
    if top:
        out.append(Section("Contained documents (most contained first)", [Table(
            ["doc_id", "split", "contained", "n-grams", "train docs", "first train doc_ids", "longest matched span"],
            [[Lit(r["doc_id"]), r["split"], f"{r['containment']:.2f}", r["ngrams"], r["n_train_docs"],
              ids(r["train_doc_ids"], total=r["n_train_docs"]), Lit(r["excerpt"], 120)] for r in top],
            numeric=(2, 3, 4))], key="containment_docs"))
    return out
