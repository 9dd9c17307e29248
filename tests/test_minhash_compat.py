"""Signatures carry their shingle hash; xxh3-shingle signatures refuse datasketch-native MinHashes plainly."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from dataaudit.errors import ConfigError
from dataaudit.passes.lsh import MinHashCompatibilityWarning, Signatures, to_lean_minhash
from dataaudit.passes.near import NearConfig, signatures
from dataaudit.shingle import shingles

datasketch = pytest.importorskip("datasketch")

TEXTS = ["Alpha beta gamma delta epsilon zeta eta theta iota", "alpha beta gamma delta epsilon zeta eta theta kappa"]


def _native(text, seed=1, scheme="affine32"):
    m = datasketch.MinHash(num_perm=128, seed=seed, scheme=scheme)
    m.update_batch([s.encode() for s in shingles(text, 5)])
    return m


@pytest.mark.parametrize("hash_", ["xxh3", "sha1"])
def test_signatures_carry_their_scheme(hash_):
    sig = signatures(TEXTS, NearConfig(hash=hash_, seed=4, scheme="legacy"))
    assert isinstance(sig, Signatures)
    for s in (sig, sig[0], sig[1:], pickle.loads(pickle.dumps(sig))):
        assert (s.shingle_hash, s.seed, s.scheme) == (hash_, 4, "legacy")
    assert np.array_equal(pickle.loads(pickle.dumps(sig)), sig)


def test_sha1_signatures_compare_with_datasketch_silently():
    sig = signatures(TEXTS, NearConfig(hash="sha1"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # no warning on the compatible path
        lean = [to_lean_minhash(s) for s in sig]
    native = [_native(t) for t in TEXTS]
    assert type(lean[0]) is datasketch.LeanMinHash
    assert lean[0].jaccard(native[0]) == 1.0 and native[1].jaccard(lean[1]) == 1.0
    assert lean[0].jaccard(native[1]) == native[0].jaccard(native[1])


def test_xxh3_signatures_refuse_datasketch_native_both_ways():
    sig = signatures(TEXTS)                              # the pass's default: xxh3 shingle hash
    with pytest.warns(MinHashCompatibilityWarning, match="only against other xxh3"):
        lean = [to_lean_minhash(s) for s in sig]
    native = _native(TEXTS[0])
    with pytest.raises(ConfigError, match="NearConfig\\(hash='sha1'\\)"):
        lean[0].jaccard(native)
    with pytest.raises(ValueError):                      # datasketch's own check refuses too
        native.jaccard(lean[0])
    with pytest.raises(ValueError):
        datasketch.LeanMinHash(native).jaccard(lean[0])
    # with each other they work, and give the share of equal slots
    assert lean[0].jaccard(lean[1]) == pytest.approx(float(np.mean(sig[0] == sig[1])))
    assert isinstance(lean[0], datasketch.LeanMinHash)
    assert lean[0].seed == lean[1].seed and hash(lean[0].seed) == hash(1)


def test_plain_array_must_name_its_hash():
    sig = np.asarray(signatures(TEXTS, NearConfig(hash="sha1")))
    with pytest.raises(ConfigError, match="shingle_hash='xxh3'"):
        to_lean_minhash(sig[0])
    assert to_lean_minhash(sig[0], shingle_hash="sha1").jaccard(_native(TEXTS[0])) == 1.0


def test_contradicting_arguments_refused():
    sig = signatures(TEXTS, NearConfig(hash="sha1", seed=3))
    with pytest.raises(ConfigError, match="seed=5 contradicts"):
        to_lean_minhash(sig[0], seed=5)
    with pytest.raises(ConfigError, match="shingle_hash='xxh3' contradicts"):
        to_lean_minhash(sig[0], shingle_hash="xxh3")
    assert to_lean_minhash(sig[0], seed=3).jaccard(_native(TEXTS[0], seed=3)) == 1.0
