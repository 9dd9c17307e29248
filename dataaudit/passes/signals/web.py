"""C4 (Raffel et al. 2020) and FineWeb (Penedo et al. 2024) signals, as datatrove's C4QualityFilter and
FineWebQualityFilter apply them, for a whole batch at once."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .config import C4Rules, FineWebRules
from .gopher import _ratio
from .tokens import TERMINAL, dup_stats, seg_ids, seg_max, seg_sum, split_lists

#: Wikipedia citation marks C4 removes before judging a line: [1], [edit], [citation needed].
CITATION_RE2 = r"\[\d*\]|\[edit\]|\[citation needed\]"
_SENT_CHARS = frozenset(TERMINAL)


def _any_of(arr: pa.Array, subs: tuple[str, ...]) -> np.ndarray:
    pat = "(?i)" + "|".join(re.escape(s) for s in subs)
    return np.asarray(pc.match_substring_regex(arr, pat), dtype=bool)


def sentence_counts(tok, line_tok_off: np.ndarray) -> np.ndarray:
    """Sentences per line, as spaCy's sentencizer (datatrove's sentence splitter) counts them.

    A sentence starts at a line's first token and at each token that is neither punctuation nor a sentence
    mark after a sentence mark (``.``, ``!``, ``?`` and the other Unicode sentence terminals).
    """
    n_lines = len(line_tok_off) - 1
    if len(tok.tid) == 0:
        return np.zeros(n_lines, dtype=np.int64)
    is_sent = np.array([v in _SENT_CHARS for v in tok.vocab], dtype=bool)[tok.tid]
    is_word = ((tok.kinds[tok.tid] & 4) == 0) & ~is_sent
    cs = np.concatenate([[0], np.cumsum(is_sent)])
    line = seg_ids(line_tok_off)
    w = np.flatnonzero(is_word)
    wl = line[w]
    prev = np.concatenate([[-1], w[:-1]])
    same = np.concatenate([[False], wl[1:] == wl[:-1]])
    ref = np.where(same, prev + 1, line_tok_off[wl])
    boundary = (cs[w] - cs[ref] > 0) & (w != line_tok_off[wl])
    has = (np.diff(line_tok_off) > 0).astype(np.int64)
    return has + np.bincount(wl[boundary], minlength=n_lines)


def c4_signals(tok, lines: pa.Array, line_off: np.ndarray, line_tok_off: np.ndarray,
               rules: C4Rules) -> dict[str, np.ndarray]:
    """C4 line and page signals. Each line (``str.splitlines``, stripped) is judged in C4's order; a line is
    counted under the first test it fails: a word over ``max_word_length`` characters (``c4_long_word_lines``),
    no terminal punctuation after removing citation marks or ending in ``...`` (``c4_no_terminal_punct_lines``),
    fewer than ``min_words_per_line`` words (``c4_few_words_lines``), "lorem ipsum" (``c4_lorem_ipsum``: the
    page fails), "javascript" (``c4_javascript_lines``), a curly bracket (``c4_curly_bracket``: the page fails),
    a policy phrase (``c4_policy_lines``). ``c4_sentences`` counts the sentences of the lines kept.
    """
    nd = len(line_off) - 1
    n_lines = np.diff(line_off)
    stripped = pc.utf8_trim_whitespace(lines)
    words, w_off = split_lists(pc.utf8_split_whitespace(stripped))
    n_words = np.diff(w_off)
    wlen = np.asarray(pc.utf8_length(words), dtype=np.int64) if len(words) else np.zeros(0, np.int64)
    long_word = seg_max(wlen, w_off) > rules.max_word_length
    clean = pc.replace_substring_regex(stripped, pattern=CITATION_RE2, replacement="")
    ends = "(?:" + "|".join(re.escape(p) for p in rules.end_punctuation) + ")$"
    term = np.asarray(pc.match_substring_regex(clean, ends), dtype=bool) & \
        ~np.asarray(pc.ends_with(clean, "..."), dtype=bool)
    alive = ~long_word
    no_term = alive & ~term
    alive &= term
    few = alive & (n_words < rules.min_words_per_line)
    alive &= ~few
    lorem = alive & _any_of(clean, ("lorem ipsum",))
    alive &= ~lorem
    js = alive & _any_of(clean, ("javascript",))
    alive &= ~js
    curly = alive & np.asarray(pc.match_substring(clean, "{"), dtype=bool)
    alive &= ~curly
    policy = alive & _any_of(clean, rules.policy_substrings)
    kept = alive & ~policy
    sents = sentence_counts(tok, line_tok_off)
    return {
        "c4_lines": n_lines.astype(np.int64),
        "c4_long_word_lines": seg_sum(long_word, line_off).astype(np.int64),
        "c4_no_terminal_punct_lines": seg_sum(no_term, line_off).astype(np.int64),
        "c4_no_terminal_punct_frac": _ratio(seg_sum(no_term, line_off), n_lines),
        "c4_few_words_lines": seg_sum(few, line_off).astype(np.int64),
        "c4_javascript_lines": seg_sum(js, line_off).astype(np.int64),
        "c4_policy_lines": seg_sum(policy, line_off).astype(np.int64),
        "c4_lorem_ipsum": seg_sum(lorem, line_off) > 0,
        "c4_curly_bracket": seg_sum(curly, line_off) > 0,
        "c4_sentences": seg_sum(np.where(kept, sents, 0), line_off).astype(np.int64) if nd else
        np.zeros(0, np.int64),
    }


def c4_rules(s: dict[str, np.ndarray], r: C4Rules) -> dict[str, np.ndarray]:
    """Rule name -> documents failing it (datatrove's reasons, ``c4_`` prefixed)."""
    return {
        "c4_lorem_ipsum": s["c4_lorem_ipsum"],
        "c4_curly_bracket": s["c4_curly_bracket"],
        "c4_too_few_sentences": s["c4_sentences"] < r.min_sentences,
    }


def fineweb_signals(tok, texts: pa.Array, n_chars: np.ndarray, rules: FineWebRules) -> dict[str, np.ndarray]:
    """FineWeb signals over the non-blank lines (``text.split("\\n")``, lines not stripped):

    - ``fineweb_line_punct_ratio``: lines whose last character is a sentence terminal;
    - ``fineweb_short_line_ratio``: lines of at most ``short_line_length`` characters;
    - ``fineweb_char_dup_ratio``: characters of lines repeating an earlier line, over the characters that
      are not newlines;
    - ``fineweb_newline_word_ratio``: newlines per word token.
    """
    parts, off = split_lists(pc.split_pattern(texts, pattern="\n"))
    nonblank = np.asarray(pc.not_equal(pc.utf8_trim_whitespace(parts), ""), dtype=bool)
    seg = seg_ids(off)
    lines = parts.filter(pa.array(nonblank))
    l_off = np.concatenate([[0], np.cumsum(np.bincount(seg[nonblank], minlength=len(off) - 1))]).astype(np.int64)
    n = np.diff(l_off)
    last = pc.utf8_slice_codeunits(lines, -1)
    punct = np.asarray(pc.is_in(last, value_set=pa.array(sorted(TERMINAL))), dtype=bool)
    short = np.asarray(pc.utf8_length(lines), dtype=np.int64) <= rules.short_line_length
    _, _, dup_chars = dup_stats(lines, l_off)
    newlines = np.asarray(pc.count_substring(texts, "\n"), dtype=np.float64)
    return {
        "fineweb_line_punct_ratio": _ratio(seg_sum(punct, l_off), n),
        "fineweb_short_line_ratio": _ratio(seg_sum(short, l_off), n),
        "fineweb_char_dup_ratio": _ratio(dup_chars, n_chars - newlines),
        "fineweb_newline_word_ratio": np.divide(newlines, np.diff(tok.doc_off),
                                                out=np.full(len(n), np.inf), where=np.diff(tok.doc_off) > 0),
        "_fineweb_lines": n,
    }


def fineweb_rules(s: dict[str, np.ndarray], r: FineWebRules) -> dict[str, np.ndarray]:
    """Rule name -> documents failing it (datatrove's reasons, ``fineweb_`` prefixed)."""
    empty = s["_fineweb_lines"] == 0
    return {
        "fineweb_empty": empty,
        "fineweb_line_punct_ratio": ~empty & (s["fineweb_line_punct_ratio"] < r.min_line_punct_ratio),
        "fineweb_short_line_ratio": ~empty & (s["fineweb_short_line_ratio"] > r.max_short_line_ratio),
        "fineweb_char_dup_ratio": ~empty & (s["fineweb_char_dup_ratio"] > r.max_char_dup_ratio),
        "fineweb_list_ratio": ~empty & (s["fineweb_newline_word_ratio"] > r.max_newline_word_ratio),
    }
