"""MinHash signatures: bit-for-bit datasketch compatibility, estimates, and banding parameters."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dataaudit.passes.lsh import (MinHasher, band_keys, candidate_probability, detection_curve, optimal_params,
                                  MinHashCompatibilityWarning, permutations, to_lean_minhash)
from dataaudit.shingle import hash_shingles, minhash_input, sha1_shingle_hashes, shingles
from dataaudit.text import normalize_array

datasketch = pytest.importorskip("datasketch")

TEXTS = ["The quick brown fox jumps over the lazy dog, again and again and again.",
         "", "tiny", "one two three four five six seven eight nine ten eleven twelve",
         "Il était une fois une petite fille qui vivait dans un village près de la forêt."]


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_permutations_are_datasketchs(scheme):
    m = datasketch.MinHash(num_perm=64, seed=7, scheme=scheme)
    a, b = permutations(64, 7, scheme)
    assert np.array_equal(np.asarray(m.permutations[0], dtype=np.uint64), a.astype(np.uint64))
    assert np.array_equal(np.asarray(m.permutations[1], dtype=np.uint64), b.astype(np.uint64))


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("seed", [1, 42])
def test_signatures_equal_datasketch_on_same_shingle_hashes(scheme, seed):
    norm = normalize_array(pa.array(TEXTS * 3))
    sh = hash_shingles(norm, 5)
    vals = minhash_input(sh.hashes)
    sig = MinHasher(128, seed, scheme, chunk=5).signatures(sh.offsets, vals)
    for i in range(len(norm)):
        m = datasketch.MinHash(num_perm=128, seed=seed, scheme=scheme, hashfunc=int)
        m.update_batch(vals[sh.offsets[i]:sh.offsets[i + 1]].tolist())
        assert np.array_equal(m.hashvalues, sig[i])
        assert sig.shingle_hash == "xxh3" and sig.seed == seed and sig.scheme == scheme


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_sha1_path_equals_datasketch_default_hashing(scheme):
    norm = normalize_array(pa.array(TEXTS))
    sh = sha1_shingle_hashes(norm, 5)
    sig = MinHasher(128, 1, scheme).signatures(sh.offsets, sh.hashes)
    for i, text in enumerate(norm.to_pylist()):
        m = datasketch.MinHash(num_perm=128, seed=1, scheme=scheme)
        m.update_batch([s.encode("utf-8") for s in shingles(text, 5, normalization=None)])
        assert np.array_equal(m.hashvalues, sig[i])


def test_chunking_does_not_change_signatures():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 50, 40)
    offsets = np.concatenate(([0], np.cumsum(counts)))
    vals = rng.integers(0, 2**32, int(offsets[-1]), dtype=np.uint64).astype(np.uint32)
    ref = MinHasher(32, 3, chunk=1 << 20).signatures(offsets, vals)
    for chunk in (1, 7, 64):
        assert np.array_equal(MinHasher(32, 3, chunk=chunk).signatures(offsets, vals), ref)


def test_lean_minhash_works_in_datasketch_lsh():
    norm = normalize_array(pa.array(["alpha beta gamma delta epsilon zeta eta theta iota kappa"] * 2))
    sh = hash_shingles(norm, 3)
    sig = MinHasher(128, 1).signatures(sh.offsets, minhash_input(sh.hashes))
    lsh = datasketch.MinHashLSH(threshold=0.8, num_perm=128)
    with pytest.warns(MinHashCompatibilityWarning, match="only against other xxh3"):
        lsh.insert("a", to_lean_minhash(sig[0]))
        assert lsh.query(to_lean_minhash(sig[1])) == ["a"]


def test_estimates_within_statistical_error():
    """Sets with known Jaccard J: the estimate (share of equal slots) has sd sqrt(J(1-J)/num_perm).

    Tolerance: every one of 40 pairs within 4.5 sd (a false alarm has probability < 1e-3 in all)."""
    rng = np.random.default_rng(123)
    num_perm = 128
    mh = MinHasher(num_perm, 1)
    errs = []
    for j_target in np.linspace(0.1, 0.95, 40):
        common = int(400 * j_target)
        only = (400 - common) // 2
        pool = rng.choice(2**32, common + 2 * only, replace=False).astype(np.uint32)
        a = pool[: common + only]
        b = np.concatenate((pool[:common], pool[common + only:]))
        exact = common / (common + 2 * only)
        sig = mh.signatures(np.array([0, len(a), len(a) + len(b)]), np.concatenate((a, b)))
        est = float(np.mean(sig[0] == sig[1]))
        sd = np.sqrt(exact * (1 - exact) / num_perm)
        errs.append(abs(est - exact) / sd)
    assert max(errs) < 4.5
    assert 0.4 < np.mean(errs) < 1.2      # mean |z| of a standard normal is 0.80


@pytest.mark.parametrize("threshold", [0.5, 0.8, 0.9])
def test_optimal_params_balanced_matches_datasketch(threshold):
    from datasketch.lsh import _optimal_param

    assert optimal_params(threshold, 128, (0.5, 0.5)) == _optimal_param(threshold, 128, 0.5, 0.5)


def test_recall_favouring_default():
    b, r = optimal_params(0.8, 128)
    assert b * r <= 128
    assert candidate_probability(0.85, b, r) >= 0.98
    assert candidate_probability(0.85, 9, 13) < 0.7
    curve = detection_curve(b, r)
    assert list(curve) == ["0.50", "0.55", "0.60", "0.65", "0.70", "0.75", "0.80", "0.85", "0.90", "0.95"]
    assert all(x <= y for x, y in zip(list(curve.values()), list(curve.values())[1:]))


def test_band_keys_equal_iff_band_equal():
    sig = np.array([[1, 2, 3, 4], [1, 2, 9, 9], [0, 2, 3, 4]], dtype=np.uint32)
    k = band_keys(sig, 2, 2)
    assert k[0, 0] == k[1, 0] and k[0, 0] != k[2, 0]
    assert k[0, 1] == k[2, 1] and k[0, 1] != k[1, 1]
    assert k[0, 0] != band_keys(np.array([[1, 2, 1, 2]], np.uint32), 2, 2)[0, 1]   # band index is mixed in


def test_signatures_api_round_trips_to_datasketch():
    from dataaudit.passes.near import NearConfig, signatures

    texts = ["Alpha beta gamma delta epsilon zeta eta", "alpha beta gamma delta epsilon zeta theta"]
    sig = signatures(texts, NearConfig(hash="sha1", seed=3))
    for text, s in zip(texts, sig):
        m = datasketch.MinHash(num_perm=128, seed=3)
        m.update_batch([x.encode() for x in shingles(text, 5)])
        assert datasketch.LeanMinHash(m).jaccard(to_lean_minhash(s, seed=3)) == 1.0
