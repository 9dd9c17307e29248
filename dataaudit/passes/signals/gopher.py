"""Gopher quality and repetition signals (Rae et al. 2021, arXiv:2112.11446, A.1.1 and Table A1).

Definitions follow datatrove's ``GopherQualityFilter`` and ``GopherRepetitionFilter``, computed for a whole
batch at once over flat token/line arrays (``Tokens`` from ``batch.py``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .config import GopherQualityRules, GopherRepetitionRules
from .tokens import dense_ids, dup_stats, seg_ids, seg_max, seg_sum, split_lists


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 (written as null)."""
    num = np.asarray(num, dtype=np.float64)
    return np.divide(num, den, out=np.full(len(num), np.nan), where=np.asarray(den) > 0)


def quality_signals(tok, lines: pa.Array, line_off: np.ndarray, texts: pa.Array,
                    rules: GopherQualityRules) -> dict[str, np.ndarray]:
    """Gopher quality signals of each document.

    - ``gopher_words``: tokens holding a character that is not a symbol (the paper's word count);
    - ``gopher_mean_word_length``: their mean length in characters;
    - ``gopher_hash_ratio`` / ``gopher_ellipsis_ratio``: ``#`` and ``...``+``…`` occurrences over all tokens;
    - ``gopher_bullet_lines_frac``: lines (``str.splitlines``) starting, after whitespace, with ``•`` or ``-``;
    - ``gopher_ellipsis_lines_frac``: lines ending, before whitespace, with ``...`` or ``…``;
    - ``gopher_alpha_words_frac``: tokens with an alphabetic character over all tokens;
    - ``gopher_stop_words``: how many distinct stop words of the paper's list occur (case-sensitive).
    """
    off = tok.doc_off
    n_tok = np.diff(off)
    kinds = tok.kinds[tok.tid]
    is_word = (kinds & 1) == 0
    n_words = seg_sum(is_word, off)
    sw_index = {w: i for i, w in enumerate(rules.stop_words)}
    sw = np.array([sw_index.get(v, -1) for v in tok.vocab], dtype=np.int64)[tok.tid] if len(tok.vocab) else \
        np.zeros(0, np.int64)
    hit = sw >= 0
    n_sw = max(len(rules.stop_words), 1)
    present = np.unique(tok.doc[hit] * n_sw + sw[hit])
    n_stop = np.bincount(present // n_sw, minlength=len(n_tok))
    hashes = np.asarray(pc.count_substring(texts, "#"), dtype=np.float64)
    ellipses = np.asarray(pc.count_substring(texts, "..."), dtype=np.float64) + \
        np.asarray(pc.count_substring(texts, "…"), dtype=np.float64)
    n_lines = np.diff(line_off)
    left = pc.utf8_ltrim_whitespace(lines)
    right = pc.utf8_rtrim_whitespace(lines)
    bullet = np.asarray(pc.or_(pc.starts_with(left, "•"), pc.starts_with(left, "-")), dtype=bool)
    ell = np.asarray(pc.or_(pc.ends_with(right, "..."), pc.ends_with(right, "…")), dtype=bool)
    return {
        "gopher_words": n_words.astype(np.int64),
        "gopher_mean_word_length": _ratio(seg_sum(tok.lens * is_word, off), n_words),
        "gopher_hash_ratio": _ratio(hashes, n_tok),
        "gopher_ellipsis_ratio": _ratio(ellipses, n_tok),
        "gopher_bullet_lines_frac": _ratio(seg_sum(bullet, line_off), n_lines),
        "gopher_ellipsis_lines_frac": _ratio(seg_sum(ell, line_off), n_lines),
        "gopher_alpha_words_frac": _ratio(seg_sum((kinds & 2) > 0, off), n_tok),
        "gopher_stop_words": n_stop.astype(np.int64),
    }


def quality_rules(s: dict[str, np.ndarray], r: GopherQualityRules) -> dict[str, np.ndarray]:
    """Rule name -> documents failing it (datatrove's reason names, ``gopher_`` prefixed)."""
    mwl = np.nan_to_num(s["gopher_mean_word_length"], nan=0.0)
    return {
        "gopher_short_doc": s["gopher_words"] < r.min_words,
        "gopher_long_doc": s["gopher_words"] > r.max_words,
        "gopher_below_avg_word_length": mwl < r.min_mean_word_length,
        "gopher_above_avg_word_length": mwl > r.max_mean_word_length,
        "gopher_too_many_hashes": np.nan_to_num(s["gopher_hash_ratio"]) > r.max_symbol_word_ratio,
        "gopher_too_many_ellipsis": np.nan_to_num(s["gopher_ellipsis_ratio"]) > r.max_symbol_word_ratio,
        "gopher_too_many_bullets": np.nan_to_num(s["gopher_bullet_lines_frac"]) > r.max_bullet_lines_frac,
        "gopher_too_many_end_ellipsis": np.nan_to_num(s["gopher_ellipsis_lines_frac"]) > r.max_ellipsis_lines_frac,
        "gopher_below_alpha_threshold": np.nan_to_num(s["gopher_alpha_words_frac"]) < r.min_alpha_words_frac,
        "gopher_few_stop_words": s["gopher_stop_words"] < r.min_stop_words,
    }


def _ngram_chars(tok, ns_top: set[int], ns_dup: set[int]) -> dict[tuple[str, int], np.ndarray]:
    """Per document: characters inside the occurrences of the most frequent n-gram (``top``; null with no
    n-gram), and characters inside n-grams that repeat an earlier n-gram (``dup``), after datatrove's Gopher
    repetition filter (where ours differs, below and docs/signals.md).

    top: among the n-grams with the highest count, the first to appear (datatrove's ``most_common(1)``); its
    characters as datatrove writes it (tokens joined by single spaces) over every occurrence, but each
    position once: overlapping occurrences merge ("go go go go" holds "go go" 3 times: 11 characters, where
    datatrove counts 3 x 5), and the caller caps the sum at the text's length, since the joining spaces are
    not always in the text (``TITUS:`` is ``TITUS`` ``:``, 7 characters of 6). So the fraction lies in [0, 1]
    and equals datatrove's wherever that is at most 1 and the occurrences do not overlap. With no repeated
    n-gram the top one is the first, once (as in datatrove); with fewer than n tokens there is none and the
    fraction is undefined (null), where datatrove skips the rule.

    dup: scan positions left to right; an n-gram seen before at a scanned position adds the characters of its
    tokens (no spaces) and the scan jumps n tokens; else it is remembered and the scan moves one token. Only
    n-grams occurring twice or more can be duplicates, so the scan visits those positions only.
    """
    nd = len(tok.doc_off) - 1
    out: dict[tuple[str, int], np.ndarray] = {}
    total = len(tok.tid)
    if total == 0 or not (ns_top or ns_dup):
        return {("top", n): np.full(nd, np.nan) for n in ns_top} | {("dup", n): np.zeros(nd) for n in ns_dup}
    doc = tok.doc
    uni = dense_ids(doc * (len(tok.vocab) + 1) + tok.tid, tok.doc_off)
    base = int(uni.max()) + 1
    cum = np.concatenate([[0], np.cumsum(tok.lens)])
    ntok = np.diff(tok.doc_off)
    # Only n-grams whose (n-1)-gram prefix and suffix both occur twice or more in the document can occur
    # twice or more, so each level numbers just those positions (``pos``, sorted; ``ids`` their n-gram ids in
    # first-appearance order); every other n-gram occurs once.
    pos, ids = np.arange(total), uni
    level = np.empty(total, dtype=np.int64)            # ids of the previous level at its positions
    alive = np.zeros(total + 1, dtype=bool)
    for n in range(1, max(ns_top | ns_dup) + 1):
        if n > 1:
            alive[:] = False
            alive[pos] = True
            level[pos] = ids
            cand = pos[alive[pos + 1]]
            if n == 2:
                cand = cand[doc[cand] == doc[np.minimum(cand + 1, total - 1)]]
            pos = cand
            ids = dense_ids(level[pos] * base + uni[pos + n - 1], np.searchsorted(pos, tok.doc_off)) \
                if len(pos) else np.zeros(0, np.int64)
        counts = np.bincount(ids) if len(ids) else np.zeros(0, np.int64)
        if n in ns_top:
            top = np.zeros(nd)
            best = np.zeros(nd)
            if len(ids):
                first = ids > np.concatenate([[-1], np.maximum.accumulate(ids)[:-1]])
                fp = pos[first]
                id_doc = doc[fp]
                id_off = np.searchsorted(id_doc, np.arange(nd + 1))
                best = seg_max(counts, id_off)
                cand = np.flatnonzero(counts == best[id_doc])
                d, i0 = np.unique(id_doc[cand], return_index=True)
                chosen = np.zeros(len(counts), dtype=bool)
                chosen[cand[i0]] = True
                occ = pos[chosen[ids]]                  # every occurrence of each document's top n-gram
                top += _covered_chars(occ, doc[occ], n, cum, nd)
            # no n-gram of the document repeats: the first one, once
            once = np.flatnonzero((best < 2) & (ntok >= n))
            f0 = tok.doc_off[once]
            top[once] = cum[f0 + n] - cum[f0] + (n - 1)
            top[ntok < n] = np.nan                      # no n-gram at all
            out[("top", n)] = top
        rel = counts[ids] > 1 if len(ids) else np.zeros(0, bool)
        pos, ids = pos[rel], ids[rel]
        if n in ns_dup:
            dup = np.zeros(nd)
            _dup_scan(dup, pos, ids, doc[pos], cum[pos + n] - cum[pos], n)
            out[("dup", n)] = dup
    return out


def _covered_chars(occ: np.ndarray, occ_doc: np.ndarray, n: int, cum: np.ndarray, nd: int) -> np.ndarray:
    """Per document: characters inside the union of the n-token spans starting at ``occ`` (sorted token
    positions, of documents ``occ_doc``), tokens joined by one space as datatrove writes an n-gram. Spans
    sharing a token merge into one run of tokens ``a..b``: ``cum[b+1] - cum[a]`` token characters and ``b - a``
    spaces; spans that only touch do not merge (the space between them is in neither)."""
    if len(occ) == 0:
        return np.zeros(nd)
    new_run = np.ones(len(occ), dtype=bool)
    new_run[1:] = (occ[1:] > occ[:-1] + n - 1) | (occ_doc[1:] != occ_doc[:-1])
    starts = np.flatnonzero(new_run)
    a = occ[starts]
    b = occ[np.concatenate([starts[1:], [len(occ)]]) - 1] + n - 1   # last token of each run
    chars = (cum[b + 1] - cum[a]) + (b - a)
    return np.bincount(occ_doc[starts], weights=chars, minlength=nd).astype(np.float64)


def _dup_scan(dup: np.ndarray, rp: np.ndarray, rg: np.ndarray, rd: np.ndarray, clen: np.ndarray, n: int) -> None:
    """Add to ``dup[d]`` the characters the left-to-right scan of ``_ngram_chars`` counts, over the positions
    ``rp`` (sorted, of repeated n-grams ``rg`` in documents ``rd``, ``clen`` characters each)."""
    prev, seen, skip = -1, set(), -1
    add = seen.add
    for j, g, d, c in zip(rp.tolist(), rg.tolist(), rd.tolist(), clen.tolist()):
        if d != prev:
            prev, seen, skip = d, set(), -1
            add = seen.add
        if j < skip:
            continue
        if g in seen:
            dup[d] += c
            skip = j + n
        else:
            add(g)


def repetition_signals(tok, texts: pa.Array, n_chars: np.ndarray,
                       rules: GopherRepetitionRules) -> dict[str, np.ndarray]:
    """Gopher repetition signals, each a fraction of the document (characters over ``len(text)``).

    Paragraphs: the stripped text split at runs of 2+ newlines; lines: the text split at runs of newlines
    (datatrove's splits). A duplicate is a copy of an earlier piece of the same document.
    """
    paras, p_off = split_lists(pc.split_pattern_regex(pc.utf8_trim_whitespace(texts), pattern=r"\n{2,}"))
    lines, l_off = split_lists(pc.split_pattern_regex(texts, pattern=r"\n+"))
    pn, pd, pc_ = dup_stats(paras, p_off)
    ln, ld, lc = dup_stats(lines, l_off)
    s = {
        "gopher_dup_para_frac": _ratio(pd, pn),
        "gopher_dup_para_char_frac": _ratio(pc_, n_chars),
        "gopher_dup_line_frac": _ratio(ld, ln),
        "gopher_dup_line_char_frac": _ratio(lc, n_chars),
    }
    tops = {n for n, _ in rules.top_ngram_char_frac}
    dups = {n for n, _ in rules.dup_ngram_char_frac}
    grams = _ngram_chars(tok, tops, dups)
    for n in sorted(tops):
        # at most the text: the joining spaces are datatrove's, the text may not have them ("TITUS" ":")
        s[f"gopher_top_{n}gram_char_frac"] = _ratio(np.minimum(grams[("top", n)], n_chars), n_chars)
    for n in sorted(dups):
        s[f"gopher_dup_{n}gram_char_frac"] = _ratio(grams[("dup", n)], n_chars)
    return s


def repetition_rules(s: dict[str, np.ndarray], n_chars: np.ndarray, r: GopherRepetitionRules
                     ) -> dict[str, np.ndarray]:
    """Rule name -> documents failing it. An empty document fails (``gopher_empty``), as in datatrove."""
    f = lambda k: np.nan_to_num(s[k])  # noqa: E731
    out = {
        "gopher_empty": n_chars == 0,
        "gopher_dup_para_frac": f("gopher_dup_para_frac") > r.dup_para_frac,
        "gopher_dup_para_char_frac": f("gopher_dup_para_char_frac") > r.dup_para_char_frac,
        "gopher_dup_line_frac": f("gopher_dup_line_frac") > r.dup_line_frac,
        "gopher_dup_line_char_frac": f("gopher_dup_line_char_frac") > r.dup_line_char_frac,
    }
    for n, t in r.top_ngram_char_frac:
        out[f"gopher_top_{n}gram"] = f(f"gopher_top_{n}gram_char_frac") > t
    for n, t in r.dup_ngram_char_frac:
        out[f"gopher_dup_{n}gram"] = f(f"gopher_dup_{n}gram_char_frac") > t
    return out
