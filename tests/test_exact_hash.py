"""The exact pass's digests: the one-call C path (normalize + XXH3-128 in ``_fastnorm.hash_batch``) gives the
bytes of xxhash.xxh3_128_digest over the reference normalization, and so does the per-document fallback."""

import numpy as np
import pyarrow as pa
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

import dataaudit.text as T
from dataaudit.passes import exact_spill as spill_io
from dataaudit.passes.exact import HASH_RECORD, _digests, hash_batch
from dataaudit.text import DEFAULT_NORMALIZE, NormalizeConfig, reference_normalize_array


def _reference(arr: pa.Array, cfg: NormalizeConfig) -> bytes:
    ref = reference_normalize_array(arr, cfg).to_pylist()
    return b"".join(xxhash.xxh3_128_digest(b"" if s is None else s.encode()) for s in ref)


# long ASCII runs (the 8-byte path) with space runs and punctuation, broken by code points at any alignment
_ALPHABET = list("abcXYZ  .,-!\t\n09") + ["\u00e9", "\u0301", "\ufb01", "\u00a0", "\u3000", "\U0001f600",
                                          "\u2019", "\uff21", "\u0130", "\uac00", "\u11a8"]
texts = st.one_of(st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
                  st.text(alphabet=st.sampled_from(_ALPHABET), max_size=400), st.none())
configs = st.builds(NormalizeConfig, nfkc=st.booleans(), lower=st.booleans(), punctuation=st.booleans(),
                    digits=st.booleans(), whitespace=st.booleans())


def test_the_c_hasher_is_bound():
    assert T._fast is not None, "the C accelerator was not built (pip install -e . needs a C compiler)"
    assert T._bind_xxh3(), "XXH3_128bits was not found in the xxhash package nor in a system libxxhash"


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, max_size=12), configs, st.booleans(), st.integers(0, 3))
def test_c_digests_equal_reference_and_fallback(items, cfg, large, cut):
    arr = pa.array(items, pa.large_string() if large else pa.string()).slice(min(cut, len(items)))
    want = _reference(arr, cfg)
    assert _digests(arr, cfg) == want
    assert _digests(arr, cfg, accelerated=False) == want


def test_every_xxh3_length_class():
    # XXH3 takes different code for 0, 1-3, 4-8, 9-16, 17-128, 129-240 and longer inputs (and per stripe)
    items = ["y" * n for n in list(range(0, 300)) + [1023, 1024, 1025, 4096, 65537]]
    arr = pa.array(items, pa.string())
    assert _digests(arr, DEFAULT_NORMALIZE) == b"".join(xxhash.xxh3_128_digest(s.encode()) for s in items)


def test_unsafe_and_null_documents_are_hashed_by_the_reference_path():
    arr = pa.array(["x\U0001f600y", None, "cafe\u0301", "plain", ""], pa.large_string())
    digests, unsafe = T._fast.hash_batch(*T._c_args(arr, DEFAULT_NORMALIZE))
    assert list(unsafe)[0] == 1 and digests[:16] == bytes(16)     # left to the caller
    assert T.normalized_digests(arr) == _reference(arr, DEFAULT_NORMALIZE)
    assert hash_batch(arr).to_pylist()[1] == xxhash.xxh3_128_digest(b"")


def test_without_a_bound_hasher_the_fallback_gives_the_same_bytes(monkeypatch):
    arr = pa.array([f"Doc {i}: Ünïcode  TEXT, {'ab ' * i}" for i in range(600)], pa.large_string())
    fast = hash_batch(arr).to_pylist()
    monkeypatch.setattr(T, "_XXH3_BOUND", [False])
    assert T.normalized_digests(arr) is None
    assert hash_batch(arr).to_pylist() == fast
    monkeypatch.setattr(T, "_fast", None)                      # no C at all: the reference path
    assert hash_batch(arr).to_pylist() == fast


@pytest.mark.parametrize("flush", [1, 7, 1000, 65536])
def test_spill_files_do_not_depend_on_when_it_flushes(tmp_path, flush):
    rng = np.random.default_rng(0)
    n = 3000
    hashes = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    rec = pa.RecordBatch.from_arrays([
        pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(hashes.tobytes())]),
        pa.array([f"d{i}" for i in range(n)]), pa.array(["train"] * n), pa.array(np.arange(n)),
        pa.array(np.arange(n))], schema=HASH_RECORD)
    ranges = [spill_io.first_byte_range(k, 8) for k in range(8)]
    got = {}
    for name, rows in (("ref", 10**9), ("test", flush)):
        d = tmp_path / name
        d.mkdir()
        spill = spill_io.Spill(ranges, HASH_RECORD, d, "b", flush_rows=rows)
        for a in range(0, n, 128):
            spill.add(rec.slice(a, 128))
        got[name] = [(r, k, spill_io.read_table(p)) for p, k, r in spill.close()]
    assert [(r, k) for r, k, _ in got["test"]] == [(r, k) for r, k, _ in got["ref"]]
    assert sum(k for _, k, _ in got["test"]) == n
    for (_, _, a), (_, _, b) in zip(got["test"], got["ref"]):
        assert a.equals(b)                          # same records, same order, in every file
        seq = a.column("seq").to_numpy()
        assert (np.diff(seq) > 0).all()             # arrival order kept within a file
