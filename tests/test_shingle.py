"""Shingles and their vectorized hashes (dataaudit/shingle.py)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataaudit.errors import ConfigError
from dataaudit.shingle import hash_shingles, hash_texts, jaccard, sha1_shingle_hashes, shingle_hash, shingles
from dataaudit.text import NormalizeConfig, normalize_array


def test_word_shingles_by_hand():
    assert shingles("One two THREE, four", ngram=3) == ["one two three", "two three four"]
    assert shingles("x", ngram=5) == ["x"]
    assert shingles("", ngram=5) == []
    assert shingles("a a a a", ngram=2) == ["a a", "a a", "a a"]


def test_char_shingles_by_hand():
    assert shingles("ab cd", ngram=4, char=True) == ["ab c", "b cd"]
    assert shingles("Ab", ngram=4, char=True) == ["ab"]


def test_shingles_without_normalization_keep_case():
    assert shingles("A b C", ngram=2, normalization=None) == ["A b", "b C"]


def test_jaccard_by_hand():
    # {the cat sat, cat sat on, sat on the, on the mat} vs {the cat sat, cat sat on, sat on a, on a mat}
    a = shingles("the cat sat on the mat", ngram=3)
    b = shingles("the cat sat on a mat", ngram=3)
    assert jaccard(a, b) == pytest.approx(2 / 6)
    assert jaccard([], []) == 1.0


@pytest.mark.parametrize("bad", [0, -1, 1000, 2.5, True])
def test_bad_ngram(bad):
    with pytest.raises(ConfigError, match="ngram"):
        shingles("a b c", ngram=bad)


def test_hash_distinguishes_order_and_length():
    assert shingle_hash("a b c") != shingle_hash("c b a")
    assert shingle_hash("a b") != shingle_hash("a b c")
    assert shingle_hash("ab", char=True) != shingle_hash("ba", char=True)


def _reference(texts, ngram, char):
    return [[shingle_hash(s, char=char) for s in shingles(t, ngram, char=char, normalization=None)]
            for t in texts]


def test_vectorized_equals_reference_edge_cases():
    texts = ["", " ", "a", "a b", "  lead and trail  ", "tab\tsep\nnew line", "x y z w v u t", "é ü ß 中文 字"]
    for char in (False, True):
        for n in (1, 2, 5):
            got = hash_shingles(pa.array(texts, pa.large_string()), n, char=char)
            ref = _reference(texts, n, char)
            assert [list(got.doc(i)) for i in range(len(texts))] == ref


texts_strategy = st.lists(st.text(alphabet=st.sampled_from(list("ab c\tdé字 ")), max_size=40), max_size=12)


@settings(max_examples=60, deadline=None)
@given(texts=texts_strategy, n=st.integers(1, 6), char=st.booleans(), cut=st.integers(1, 12))
def test_vectorized_equals_reference_and_is_batch_independent(texts, n, char, cut):
    arr = pa.array(texts, pa.string())
    whole = hash_shingles(arr, n, char=char)
    assert [list(whole.doc(i)) for i in range(len(texts))] == _reference(texts, n, char)
    parts = [hash_shingles(arr[i:i + cut], n, char=char) for i in range(0, len(texts), cut)]
    flat = [list(p.doc(i)) for p in parts for i in range(len(p))]
    assert flat == [list(whole.doc(i)) for i in range(len(texts))]


def test_hash_texts_uses_the_shared_normalization():
    raw = pa.array(["Hello,  WORLD and friends", "hello world AND friends!"])
    h = hash_texts(raw, 3)
    assert list(h.doc(0)) == list(h.doc(1))
    h2 = hash_texts(raw, 3, normalization=NormalizeConfig(lower=False))
    assert list(h2.doc(0)) != list(h2.doc(1))


def test_sha1_path_matches_datasketch_hashfunc():
    from datasketch.hashfunc import sha1_hash32

    texts = normalize_array(pa.array(["one two three four five six", "x"]))
    got = sha1_shingle_hashes(texts, 5)
    assert got.hashes.dtype == np.uint32
    assert list(got.doc(0)) == [sha1_hash32(b"one two three four five"), sha1_hash32(b"two three four five six")]
    assert list(got.doc(1)) == [sha1_hash32(b"x")]
