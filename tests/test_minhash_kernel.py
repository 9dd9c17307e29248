"""The C MinHash kernel (dataaudit._fastminhash) against the numpy path and datasketch, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataaudit.passes import lsh
from dataaudit.passes.lsh import MinHasher

fast = lsh._fast


def test_accelerator_is_built():
    assert fast is not None, "the MinHash C accelerator was not built (pip install -e . needs a C compiler)"
    assert MinHasher.kernel() in ("avx512", "avx2", "portable")
    assert MinHasher.kernel() == fast.available_kernels()[-1]          # the best one by default


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            return {w for line in f if line.startswith("flags") for w in line.split(":", 1)[1].split()}
    except OSError:
        return set()


def test_dispatch_finds_the_cpu_features():
    """On a CPU (and OS) with AVX-512 F+DQ or AVX2 the matching kernel is offered, so the tests below run it."""
    if fast is None:
        pytest.skip("C accelerator not built")
    flags, avail = _cpu_flags(), fast.available_kernels()
    assert avail[0] == "portable"
    if {"avx512f", "avx512dq"} <= flags:
        assert avail == ("portable", "avx2", "avx512")
    elif "avx2" in flags:
        assert avail == ("portable", "avx2")


def test_set_kernel():
    if fast is None:
        pytest.skip("C accelerator not built")
    try:
        for k in fast.available_kernels():
            assert fast.set_kernel(k) == k and fast.kernel() == k == MinHasher.kernel()
        assert fast.set_kernel("auto") == fast.available_kernels()[-1]
        with pytest.raises(ValueError, match="unknown MinHash kernel"):
            fast.set_kernel("sse9")
        if "avx512" not in fast.available_kernels():
            with pytest.raises(ValueError, match="lacks"):
                fast.set_kernel("avx512")
    finally:
        fast.set_kernel("auto")


@pytest.mark.parametrize("name", ["portable", "avx2", "avx512", "nonsense"])
def test_kernel_env_var(name):
    """DATAAUDIT_MINHASH_KERNEL forces a kernel for the whole process; a bad or unavailable name is one
    clear error at import."""
    import os
    import subprocess
    import sys

    if fast is None:
        pytest.skip("C accelerator not built")
    env = dict(os.environ, DATAAUDIT_MINHASH_KERNEL=name)
    r = subprocess.run([sys.executable, "-c", "from dataaudit.passes.lsh import MinHasher; print(MinHasher.kernel())"],
                       env=env, capture_output=True, text=True)
    if name in fast.available_kernels():
        assert r.returncode == 0 and r.stdout.strip() == name, r.stderr
    else:
        assert r.returncode != 0 and "DATAAUDIT_MINHASH_KERNEL" in r.stderr


def _docs(rng, n_docs, max_len):
    counts = rng.integers(0, max_len + 1, n_docs)
    counts[rng.random(n_docs) < 0.1] = 0                       # some empty documents
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    vals = rng.integers(0, 2**32, int(offsets[-1]), dtype=np.uint64).astype(np.uint32)
    vals[:: 7] = 0xFFFFFFFF                                      # extremes too
    vals[1:: 11] = 0
    return offsets, vals


def _all_paths(num_perm, seed, scheme, offsets, vals):
    """Signatures from numpy and from every C kernel this CPU runs (portable loops, AVX2, AVX-512)."""
    ref = MinHasher(num_perm, seed, scheme, accelerated=False).signatures(offsets, vals)
    out = {"numpy": ref}
    if fast is not None:
        try:
            for k in fast.available_kernels():
                fast.set_kernel(k)
                out[k] = MinHasher(num_perm, seed, scheme).signatures(offsets, vals)
        finally:
            fast.set_kernel("auto")
    return out


# num_perm values exercise every kernel path: AVX-512 blocks of 128, 64 and 16 (legacy: 64 and 8) and the
# masked tail, AVX2 blocks of 32 and 8 (legacy: 16) and the scalar tail
@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("num_perm", [1, 7, 8, 15, 16, 17, 33, 63, 64, 65, 100, 128, 131, 144, 200, 256])
def test_c_equals_numpy(scheme, num_perm):
    offsets, vals = _docs(np.random.default_rng(num_perm), 60, 300)
    paths = _all_paths(num_perm, 5, scheme, offsets, vals)
    assert fast is None or len(paths) >= 2
    for name, sig in paths.items():
        assert sig.shape == (60, num_perm) and sig.dtype == np.uint32
        assert np.array_equal(sig, paths["numpy"]), name
    empty = np.diff(offsets) == 0
    assert (paths["numpy"][empty] == 0xFFFFFFFF).all()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2**32 - 1), max_size=40), min_size=1, max_size=12),
       st.sampled_from(["affine32", "legacy"]), st.integers(0, 2**31), st.integers(1, 80))
def test_c_equals_numpy_property(docs, scheme, seed, num_perm):
    offsets = np.concatenate(([0], np.cumsum([len(d) for d in docs]))).astype(np.int64)
    vals = np.array([v for d in docs for v in d], dtype=np.uint32)
    paths = _all_paths(num_perm, seed, scheme, offsets, vals)
    for sig in paths.values():
        assert np.array_equal(sig, paths["numpy"])


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("num_perm", [128, 131, 7])
def test_c_equals_datasketch(scheme, num_perm):
    datasketch = pytest.importorskip("datasketch")
    offsets, vals = _docs(np.random.default_rng(9), 25, 200)
    paths = _all_paths(num_perm, 11, scheme, offsets, vals)
    assert fast is None or len(paths) == 1 + len(fast.available_kernels())
    for name, sig in paths.items():
        for i in range(25):
            m = datasketch.MinHash(num_perm=num_perm, seed=11, scheme=scheme, hashfunc=int)
            m.update_batch(vals[offsets[i]:offsets[i + 1]].tolist())
            assert np.array_equal(m.hashvalues.astype(np.uint64), sig[i].astype(np.uint64)), (name, i)


def test_c_equals_numpy_on_real_shingles():
    import pyarrow as pa

    from dataaudit.shingle import hash_shingles, minhash_input
    from dataaudit.text import normalize_array

    texts = ["The quick brown fox jumps over the lazy dog " * k for k in range(1, 30)] + ["", "one"]
    sh = hash_shingles(normalize_array(pa.array(texts)), 5)
    vals = minhash_input(sh.hashes)
    for scheme in ("affine32", "legacy"):
        paths = _all_paths(128, 1, scheme, sh.offsets, vals)
        for sig in paths.values():
            assert np.array_equal(sig, paths["numpy"])
            assert sig.shingle_hash == "xxh3"


def test_kernel_rejects_bad_buffers():
    if fast is None:
        pytest.skip("C accelerator not built")
    a, b = lsh.permutations(8, 1)
    out = np.empty((2, 8), np.uint32)
    vals = np.arange(5, dtype=np.uint32)
    with pytest.raises(ValueError, match="offsets"):
        fast.affine32(vals, np.array([0, 3, 9], np.int64), a, b, out)        # past the end of values
    with pytest.raises(ValueError, match="offsets"):
        fast.affine32(vals, np.array([0, 3, 2], np.int64), a, b, out)        # decreasing
    with pytest.raises(ValueError, match="out"):
        fast.affine32(vals, np.array([0, 3, 5], np.int64), a, b, np.empty((3, 8), np.uint32))
    with pytest.raises(TypeError):
        fast.affine32(vals, np.array([0, 3, 5], np.int64), a, b, out.copy().tobytes())   # not writable


def test_no_shingles_at_all():
    for acc in (True, False):
        sig = MinHasher(16, 1, accelerated=acc).signatures(np.zeros(4, np.int64), np.zeros(0, np.uint32))
        assert sig.shape == (3, 16) and (sig == 0xFFFFFFFF).all()
        assert MinHasher(16, 1, accelerated=acc).signatures(np.zeros(1, np.int64), np.zeros(0, np.uint32)).shape == (0, 16)


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_uint64_low_halves_read_in_place(scheme):
    """``minhash_input`` gives the low 32 bits of uint64 hashes as a view (no copy); the kernel reads it
    with a stride of two words and gives the same signatures as from a contiguous copy, for documents of
    every length around the 8-wide vector steps (0..40 shingles) and a long one."""
    from dataaudit.shingle import minhash_input

    rng = np.random.default_rng(3)
    counts = np.concatenate((np.arange(41), [1000, 1, 9]))
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    h64 = rng.integers(0, 2**64 - 1, int(offsets[-1]), dtype=np.uint64)
    h64[::5] = 0xFFFFFFFF00000000                     # low half 0, high half all ones: a mixed-up read shows
    view = minhash_input(h64)
    assert view.dtype == np.uint32 and np.shares_memory(view, h64) and view.shingle_hash == "xxh3"
    assert np.array_equal(view, h64.astype(np.uint32))
    if fast is not None:
        words, stride = lsh._kernel_words(view)
        assert stride == 2 and words.flags.c_contiguous and np.shares_memory(words, h64)
    ref = MinHasher(64, 2, scheme, accelerated=False).signatures(offsets, h64.astype(np.uint32))
    for name, sig in _all_paths(64, 2, scheme, offsets, view).items():
        assert np.array_equal(sig, ref), name
        assert sig.shingle_hash == "xxh3"
    contiguous = _all_paths(64, 2, scheme, offsets, np.ascontiguousarray(view))
    for name, sig in contiguous.items():
        assert np.array_equal(sig, ref), name


def test_kernel_stride_checks():
    if fast is None:
        pytest.skip("C accelerator not built")
    a, b = lsh.permutations(8, 1)
    out = np.empty((1, 8), np.uint32)
    words = np.arange(5, dtype=np.uint32)                  # stride 2: shingles are words 0, 2, 4
    fast.affine32(words, np.array([0, 3], np.int64), a, b, out, 2)
    ref = MinHasher(8, 1, accelerated=False).signatures(np.array([0, 3], np.int64), words[::2])
    assert np.array_equal(out, ref)
    with pytest.raises(ValueError, match="offsets"):
        fast.affine32(words, np.array([0, 4], np.int64), a, b, out, 2)    # a 4th shingle would be word 6
    with pytest.raises(ValueError, match="stride"):
        fast.affine32(words, np.array([0, 1], np.int64), a, b, out, 3)


def test_legacy_reduction_edges():
    """The Mersenne-61 reduction's rare cases (v mod 2^64 at or just above a multiple of 2^61 - 1, where
    (v & p) + (v >> 61) >= p) in both C kernels, against Python's integers. Hand-made (a, b) reach them;
    datasketch's random ones almost never do."""
    if fast is None:
        pytest.skip("C accelerator not built")
    p, m64 = (1 << 61) - 1, (1 << 64) - 1
    targets = [p, p - 1, p + 1, 2 * p, 2 * p + 1, m64, m64 - 1, m64 - 6, m64 - 7, 7 * p, 7 * p + 7, 0, 1 << 61,
               (1 << 63) - 1, 1 << 63, 3 * p + 5]
    hs = np.array([0, 1, 2, 0xFFFFFFFF, 12345], dtype=np.uint32)
    for h in hs.tolist():
        tt = (targets * 6)[:83]              # 83 permutations: AVX-512's 64-block, 8-blocks and masked tail
        a = np.array([1 + 2 * j for j in range(len(tt))], dtype=np.uint64)
        b = np.array([(t - int(ak) * h) % (1 << 64) for t, ak in zip(tt, a.tolist())], dtype=np.uint64)
        want = np.array([((int(ak) * h + int(bk)) % (1 << 64)) % p & 0xFFFFFFFF for ak, bk in zip(a.tolist(), b.tolist())],
                        dtype=np.uint32)
        for kern in fast.available_kernels():
            fast.set_kernel(kern)
            try:
                out = np.empty((1, len(a)), np.uint32)
                fast.legacy(np.array([h], np.uint32), np.array([0, 1], np.int64), a, b, out)
            finally:
                fast.set_kernel("auto")
            assert np.array_equal(out[0], want), (h, kern)
