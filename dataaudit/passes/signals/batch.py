"""The per-batch function: DOC_SCHEMA record batch -> one row of signals per document.

``compute_signals_batch`` is pure (no state, no I/O), so an engine can map it over batches in any number of
processes; the result for a document does not depend on which batch it is in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .chars import char_ngram_repetition, char_shares, code_points, encoded_chars, longest_runs
from .config import DEFAULT_SIGNALS, SignalsConfig
from .gopher import _ratio, quality_rules, quality_signals, repetition_rules, repetition_signals
from .tokens import line_tokens, seg_ids, split_lists, splitlines, token_kind
from .web import c4_rules, c4_signals, fineweb_rules, fineweb_signals

FILTERS = ("gopher_quality", "gopher_repetition", "c4", "fineweb")


@dataclass(frozen=True, kw_only=True)
class Tokens:
    """The word tokens of a batch, flat: token ids into ``vocab``, lengths, document of each, offsets."""

    tid: np.ndarray        # int64 index into vocab, in document order
    vocab: list[str]       # distinct tokens of the batch
    kinds: np.ndarray      # token_kind bits of each vocab entry
    lens: np.ndarray       # characters of each token
    doc: np.ndarray        # document index of each token
    doc_off: np.ndarray    # token offsets per document (len = documents + 1)


def _tokenize(lines: pa.Array, line_off: np.ndarray) -> tuple[Tokens, np.ndarray]:
    """Word tokens of every line at once, tokenizing each distinct whitespace-separated chunk once.

    No token holds whitespace and every look-around of ``TOKEN_RE`` sees whitespace and a string edge alike,
    so the tokens of a line are the tokens of its ``str.split()`` chunks in order; Arrow's
    ``utf8_split_whitespace`` splits at exactly the characters ``str.isspace`` accepts (checked for every
    code point), and the contraction/"cannot" rules act per token. The result equals ``line_tokens`` per line
    (tests/test_signals_fast.py); the regex runs once per distinct chunk instead of once per line.
    """
    if len(lines):
        chunks, chunk_off = split_lists(pc.utf8_split_whitespace(lines))
        # line_tokens splits "CANNOT" only on a line that also holds "annot": such (rare) lines stay one chunk
        whole = np.asarray(pc.and_(pc.match_substring(lines, "CANNOT"), pc.match_substring(lines, "annot")))
        if whole.any():
            parts = [[s] if w else s.split() for s, w in zip(lines.to_pylist(), whole.tolist())]
            chunks = pa.array([c for p in parts for c in p], pa.large_string())
            chunk_off = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    else:
        chunks, chunk_off = lines, np.zeros(1, np.int64)
    if len(chunks) == 0:
        chunks = pa.array([], pa.large_string())
    enc = pc.dictionary_encode(chunks)
    cid = np.asarray(enc.indices, dtype=np.int64)
    uniq = enc.dictionary
    # an ASCII letters/digits chunk is one token, itself (TOKEN_RE's word rule takes it whole; no
    # contraction or "cannot" rule applies to it): only the other chunks go through the regex
    simple = np.asarray(pc.match_substring_regex(uniq, r"^[A-Za-z0-9]+$"), dtype=bool) & \
        ~np.asarray(pc.is_in(uniq, value_set=pa.array(["cannot", "Cannot"], uniq.type)), dtype=bool)
    sidx, hidx = np.flatnonzero(simple), np.flatnonzero(~simple)
    htoks: list[str] = []
    hcount = np.zeros(len(hidx), dtype=np.int64)
    for i, c in enumerate(uniq.take(pa.array(hidx, pa.int64())).to_pylist()):
        toks = line_tokens(c)
        hcount[i] = len(toks)
        htoks += toks
    tenc = pc.dictionary_encode(pa.concat_arrays([uniq.take(pa.array(sidx, pa.int64())),
                                                  pa.array(htoks, uniq.type)]))
    ids = np.asarray(tenc.indices, dtype=np.int64)
    ccount = np.ones(len(uniq), dtype=np.int64)
    ccount[hidx] = hcount
    cstart = np.concatenate([[0], np.cumsum(ccount)]).astype(np.int64)
    ctok_arr = np.empty(int(cstart[-1]), dtype=np.int64)
    ctok_arr[cstart[sidx]] = ids[:len(sidx)]
    hstart = np.concatenate([[0], np.cumsum(hcount)]).astype(np.int64)
    ctok_arr[np.repeat(cstart[hidx] - hstart[:-1], hcount) + np.arange(int(hstart[-1]), dtype=np.int64)] = \
        ids[len(sidx):]
    per_chunk = ccount[cid]                                    # tokens of each chunk occurrence
    total = int(per_chunk.sum())
    occ_start = np.concatenate([[0], np.cumsum(per_chunk)]).astype(np.int64)
    # token k of chunk occurrence j sits at ctok[cstart[cid[j]] + k]
    gather = np.repeat(cstart[cid] - occ_start[:-1], per_chunk) + np.arange(total, dtype=np.int64)
    tid = ctok_arr[gather] if total else np.zeros(0, np.int64)
    line_tok_off = occ_start[chunk_off]
    words = tenc.dictionary.to_pylist()
    vlen = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    kinds = np.fromiter(map(token_kind, words), dtype=np.int64, count=len(words))
    doc_off = line_tok_off[line_off]
    return Tokens(tid=tid, vocab=words, kinds=kinds, lens=vlen[tid] if len(tid) else np.zeros(0, np.int64),
                  doc=seg_ids(doc_off), doc_off=doc_off), line_tok_off


def _rules(s: dict[str, np.ndarray], n_chars: np.ndarray, cfg: SignalsConfig) -> dict[str, dict[str, np.ndarray]]:
    return {
        "gopher_quality": quality_rules(s, cfg.gopher_quality),
        "gopher_repetition": repetition_rules(s, n_chars, cfg.gopher_repetition),
        "c4": c4_rules(s, cfg.c4),
        "fineweb": fineweb_rules(s, cfg.fineweb),
        "extra": {
            "long_char_run": s["longest_run"] > cfg.extra.max_char_run,
            "encoded_run": np.nan_to_num(s["encoded_share"]) > cfg.extra.max_encoded_share,
        },
    }


def _flags(rules: dict[str, dict[str, np.ndarray]], n: int) -> pa.Array:
    names = [name for fam in rules.values() for name in fam]
    if not names or n == 0:
        return pa.array([[] for _ in range(n)], pa.list_(pa.string()))
    mat = np.stack([m for fam in rules.values() for m in fam.values()]).astype(bool)   # rules x docs
    doc_idx, rule_idx = np.nonzero(mat.T)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(doc_idx, minlength=n))]).astype(np.int32)
    values = pa.array(np.array(names, dtype=object)[rule_idx].tolist(), pa.string())
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _whitespace_words(texts: pa.Array) -> np.ndarray:
    """Whitespace-separated words of each text (``len(text.split())``)."""
    if len(texts) == 0:
        return np.zeros(0, np.int64)
    trimmed = pc.utf8_trim_whitespace(texts)
    counts = np.asarray(pc.list_value_length(pc.utf8_split_whitespace(trimmed)), dtype=np.int64)
    return np.where(np.asarray(pc.binary_length(trimmed)) == 0, 0, counts)


def compute_signals_batch(batch: pa.RecordBatch | pa.Table, config: SignalsConfig = DEFAULT_SIGNALS) -> pa.Table:
    """Signals of every document of one DOC_SCHEMA batch: a table with the columns of ``signals_schema()``.

    Pure and batch-independent: ``concat(compute_signals_batch(b) for b in split(x))`` equals
    ``compute_signals_batch(x)`` for any split. Undefined ratios (nothing to divide by) are null.
    """
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else \
            pa.RecordBatch.from_pylist([], schema=batch.schema)
    texts = batch.column("text")
    if texts.type != pa.large_string():
        texts = texts.cast(pa.large_string())
    n = len(texts)
    text_list = texts.to_pylist()
    lines, line_off = splitlines(texts)
    tok, line_tok_off = _tokenize(lines, line_off)
    cps, char_off = code_points(text_list)
    n_chars = np.diff(char_off)
    run, run_char = longest_runs(cps, char_off)
    non_ascii, non_alnum = char_shares(cps, char_off)
    s: dict[str, np.ndarray] = {
        "n_bytes": np.asarray(pc.binary_length(texts), dtype=np.int64),
        "n_chars": n_chars,
        "n_words": _whitespace_words(texts),
        "n_lines": np.diff(line_off),
    }
    s |= quality_signals(tok, lines, line_off, texts, config.gopher_quality)
    s |= repetition_signals(tok, texts, n_chars, config.gopher_repetition)
    s |= c4_signals(tok, lines, line_off, line_tok_off, config.c4)
    s |= fineweb_signals(tok, texts, n_chars, config.fineweb)
    s |= {
        "char_rep_ratio": char_ngram_repetition(cps, char_off, config.char_ngram),
        "longest_run": run,
        "encoded_share": _ratio(encoded_chars(text_list, config.extra.min_encoded_run), n_chars),
        "non_ascii_share": _ratio(non_ascii, n_chars),
        "non_alnum_share": _ratio(non_alnum, n_chars),
    }
    rules = _rules(s, n_chars, config)
    cols: dict[str, pa.Array] = {
        "doc_id": batch.column("doc_id"), "split": batch.column("split"), "source": batch.column("source"),
    }
    for name, field in zip(_SIGNAL_NAMES, _SIGNAL_FIELDS):
        v = s[name]
        if pa.types.is_floating(field.type):
            v = np.asarray(v, dtype=np.float64)
            cols[name] = pa.array(v, mask=np.isnan(v), type=field.type)
        else:
            cols[name] = pa.array(v, type=field.type)
        if name == "longest_run":
            cols["longest_run_char"] = pa.array(run_char, pa.string())
    for f in FILTERS:
        fails = np.zeros(n, dtype=bool)
        for m in rules[f].values():
            fails |= m
        cols[f] = pa.array(~fails)
    cols["flags"] = _flags(rules, n)
    return pa.table(cols, schema=SIGNALS_SCHEMA)


_INT, _F, _B = pa.int64(), pa.float64(), pa.bool_()
_SIGNAL_FIELDS = [pa.field(k, t) for k, t in [
    ("n_bytes", _INT), ("n_chars", _INT), ("n_words", _INT), ("n_lines", _INT),
    ("gopher_words", _INT), ("gopher_mean_word_length", _F), ("gopher_hash_ratio", _F),
    ("gopher_ellipsis_ratio", _F), ("gopher_bullet_lines_frac", _F), ("gopher_ellipsis_lines_frac", _F),
    ("gopher_alpha_words_frac", _F), ("gopher_stop_words", _INT),
    ("gopher_dup_line_frac", _F), ("gopher_dup_para_frac", _F), ("gopher_dup_line_char_frac", _F),
    ("gopher_dup_para_char_frac", _F),
    *[(f"gopher_top_{n}gram_char_frac", _F) for n in (2, 3, 4)],
    *[(f"gopher_dup_{n}gram_char_frac", _F) for n in range(5, 11)],
    ("c4_lines", _INT), ("c4_no_terminal_punct_lines", _INT), ("c4_no_terminal_punct_frac", _F),
    ("c4_few_words_lines", _INT), ("c4_long_word_lines", _INT), ("c4_javascript_lines", _INT),
    ("c4_policy_lines", _INT), ("c4_lorem_ipsum", _B), ("c4_curly_bracket", _B), ("c4_sentences", _INT),
    ("fineweb_line_punct_ratio", _F), ("fineweb_short_line_ratio", _F), ("fineweb_char_dup_ratio", _F),
    ("fineweb_newline_word_ratio", _F),
    ("char_rep_ratio", _F), ("longest_run", _INT), ("encoded_share", _F), ("non_ascii_share", _F),
    ("non_alnum_share", _F),
]]
_SIGNAL_NAMES = [f.name for f in _SIGNAL_FIELDS]

#: The output table: keys, signals, the four filter verdicts, the failed rule names.
SIGNALS_SCHEMA = pa.schema(
    [pa.field("doc_id", pa.string()), pa.field("split", pa.string()), pa.field("source", pa.string())]
    + [f for f in _SIGNAL_FIELDS for f in ([f, pa.field("longest_run_char", pa.string())]
                                           if f.name == "longest_run" else [f])]
    + [pa.field(f, _B) for f in FILTERS] + [pa.field("flags", pa.list_(pa.string()))]
)


def compute_signals(batches: Iterable[pa.RecordBatch], config: SignalsConfig = DEFAULT_SIGNALS
                    ) -> Iterator[pa.Table]:
    """One signals table per input batch, streamed: memory is bounded by the batch size."""
    for b in batches:
        yield compute_signals_batch(b, config)
