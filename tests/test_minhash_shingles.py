"""The C word-shingle path of hash_shingles equals the numpy path and the plain definition, bit for bit."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataaudit import shingle as S
from dataaudit.shingle import hash_shingles, shingle_hash, shingles


def test_accelerator_is_built():
    assert S._fast is not None, "the C accelerator was not built (pip install -e . needs a C compiler)"


def _same(texts, ngram, keep_short=True):
    arr = pa.array(texts, pa.large_string())
    fast = hash_shingles(arr, ngram, keep_short=keep_short)
    slow = hash_shingles(arr, ngram, keep_short=keep_short, accelerated=False)
    assert np.array_equal(fast.offsets, slow.offsets)
    assert np.array_equal(fast.hashes, slow.hashes)
    assert fast.hashes.dtype == np.uint64 and fast.offsets.dtype == np.int64
    return fast


@pytest.mark.parametrize("ngram", [1, 2, 5, 13])
@pytest.mark.parametrize("keep_short", [True, False])
def test_hand_cases(ngram, keep_short):
    texts = ["the quick brown fox jumps over the lazy dog", "", "one", "a b", "  lead  and\ttrail \n",
             "x\x0by\x0cz\rw", "caf\u00e9 na\u00efve \u65e5\u672c\u8a9e text", "same same same same same same"]
    sh = _same(texts, ngram, keep_short)
    for i, t in enumerate(texts):
        want = [shingle_hash(s) for s in shingles(t, ngram, normalization=None)]
        if not keep_short and len(t.split()) < ngram:
            want = []
        assert sh.doc(i).tolist() == want


def test_nulls_sliced_arrays_and_many_distinct_words():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60_000)]          # forces the word table to grow several times
    texts = [" ".join(rng.choice(words, 300)) for _ in range(300)]
    arr = pa.array([None] + texts + [None], pa.large_string())
    for part in (arr, arr.slice(3, 200), pa.array(texts, pa.string())):
        fast = hash_shingles(part, 5)
        slow = hash_shingles(part, 5, accelerated=False)
        assert np.array_equal(fast.offsets, slow.offsets) and np.array_equal(fast.hashes, slow.hashes)


_alphabet = st.sampled_from(list("ab \t\n\x0b\x0c\r") + ["\u00e9", "\u65e5", "\U0001f600", "\x00", "\x1f"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(_alphabet, max_size=40), min_size=1, max_size=8), st.integers(1, 6), st.booleans())
def test_property_equal_to_numpy_path(texts, ngram, keep_short):
    _same(texts, ngram, keep_short)


def test_bad_offsets_refused():
    with pytest.raises(ValueError):
        S._fast.word_ids(b"abc", np.array([0, 5], np.int64))
    with pytest.raises(ValueError):
        S._fast.ngram_hashes(np.array([3], np.int64), np.array([0, 1], np.int64), np.zeros(2, np.uint64),
                             S._C, S._C_LEN, 1, True)


def test_short_and_long_words_and_the_buffer_end():
    """Words of up to 7 bytes are found by their bytes alone, longer ones by hash and comparison: words
    around that boundary, sharing prefixes, with NUL bytes, and last in the buffer (the 8-byte read of a
    short word must not run past it) number and hash as on the numpy path."""
    base = ["abcdefg", "abcdefgh", "abcdefgi", "abcdef", "abcdefg\x00", "a\x00", "a", "\x00", "abcdefghijklmnop",
            "abcdefghijklmnoq", "\u00e9\u00e9\u00e9", "\u00e9\u00e9\u00e9\u00e9"]
    texts = [" ".join(base), " ".join(reversed(base)), "abcdefg abcdefg abcdefgh", "x", "ab", "abcdefg"]
    for ngram in (1, 2, 5):
        _same(texts, ngram)
        for i in range(len(texts)):
            _same(texts[i:], ngram)                     # each text last in its buffer
            _same([texts[i][:j] for j in range(len(texts[i]) + 1)], ngram)
    # the numbering itself: each distinct word once, in order of first appearance, ids pointing back to it
    # (equal hashes alone would not show a word numbered twice: both numbers hash the same)
    for part in (texts, texts[2:], [t + " " for t in texts]):
        enc = [t.encode() for t in part]
        offsets = np.concatenate(([0], np.cumsum([len(t) for t in enc]))).astype(np.int64)
        ids, _, words, wstart = S._fast.word_ids(b"".join(enc), offsets)
        ws = np.frombuffer(wstart, np.int64)
        distinct = [words[ws[j]:ws[j + 1]] for j in range(len(ws) - 1)]
        tokens = [w for t in enc for w in t.split()]
        assert distinct == list(dict.fromkeys(tokens))
        assert [distinct[j] for j in np.frombuffer(ids, np.int64)] == tokens
