"""MinHash signatures (vectorized, datasketch-compatible), LSH banding and candidate pairs.

Signatures. For each permutation ``k`` datasketch (>= 2.0, default scheme ``"affine32"``, see its
``minhash.py``) maps a 32-bit shingle hash ``h`` to ``a_k * fmix32(h) + b_k mod 2^32`` (``a_k`` odd) and keeps
the minimum over the document's shingles; ``a``, ``b`` come from ``numpy.random.RandomState(seed)``. Its
``"legacy"`` scheme (the only one before 2.0) is ``((a_k * h + b_k) mod 2^64) mod (2^61 - 1)`` truncated to
32 bits (the product wraps in uint64 in datasketch, so we wrap too). ``MinHasher`` draws the same ``a``, ``b``
the same way and computes the same values for a whole batch at once: per permutation, one multiply, one add
and one ``minimum.reduceat`` over all shingles of the batch, in chunks that stay in cache. Given the same
32-bit shingle hashes, ``to_lean_minhash(sig, ...)`` equals ``datasketch.MinHash(num_perm, seed, scheme=...)``
after ``update_batch`` (tests/test_near_minhash.py checks it bit for bit).

Banding. ``optimal_params`` is datasketch's ``_optimal_param`` (grid search minimizing
``w_fp * FP area + w_fn * FN area`` under the S-curve ``1 - (1 - s^r)^b``, Leskovec et al., *Mining of
Massive Datasets*, ch. 3), with the integrals done on a fine grid in numpy. Our default weights favour
recall (0.05, 0.95): every candidate is verified exactly afterwards, so a false positive costs a little
time while a false negative is a missed leak.

Candidates. Each band of each signature hashes to a 64-bit key; keys of one band for all documents are
sorted (numpy), and every run of equal keys is a bucket whose members become candidate pairs.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

SCHEMES = ("affine32", "legacy")
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)
EMPTY = np.uint32(0xFFFFFFFF)   # the value of every slot of an empty document's signature (as datasketch)


def fmix32(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer on a uint32 array (a new array), as datasketch's ``_fmix``."""
    x = x ^ (x >> np.uint32(16))
    x *= np.uint32(0x85EBCA6B)
    x ^= x >> np.uint32(13)
    x *= np.uint32(0xC2B2AE35)
    x ^= x >> np.uint32(16)
    return x


def permutations(num_perm: int, seed: int, scheme: str = "affine32") -> tuple[np.ndarray, np.ndarray]:
    """The permutation parameters ``(a, b)`` datasketch draws for ``MinHash(num_perm, seed, scheme=...)``."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        ab = np.array([(gen.randint(1, _MERSENNE, dtype=np.uint64), gen.randint(0, _MERSENNE, dtype=np.uint64))
                       for _ in range(num_perm)], dtype=np.uint64).T
        return ab[0].copy(), ab[1].copy()
    if scheme != "affine32":
        raise ConfigError(f"unknown MinHash scheme {scheme!r}; choose one of {list(SCHEMES)}")
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


try:  # the optional C accelerator (setup.py); the numpy path below gives identical signatures
    from .. import _fastminhash as _fast
except ImportError:  # pragma: no cover - depends on the build
    _fast = None

KERNEL_ENV = "DATAAUDIT_MINHASH_KERNEL"   # avx512 | avx2 | portable | auto: force one C kernel (tests, timing)
if _fast is not None and os.environ.get(KERNEL_ENV):
    try:
        _fast.set_kernel(os.environ[KERNEL_ENV])
    except ValueError as e:
        raise ConfigError(f"{KERNEL_ENV}: {e}") from None

SHINGLE_HASHES = ("xxh3", "sha1")


class Signatures(np.ndarray):
    """MinHash signatures (n_docs x num_perm, uint32) that say how they were made.

    A plain numpy array in every way, plus ``shingle_hash`` (``"xxh3"``: dataaudit's fast shingle hash;
    ``"sha1"``: datasketch's default ``sha1_hash32``; ``None``: not known), ``seed`` and ``scheme``. Rows
    and slices keep them, and so does pickling, so ``to_lean_minhash(sig[i])`` needs no other argument.
    Two signatures estimate the Jaccard of their shingle sets only if all three agree.
    """

    shingle_hash: str | None = None
    seed: int | None = None
    scheme: str | None = None

    @classmethod
    def wrap(cls, arr: np.ndarray, *, shingle_hash, seed, scheme) -> "Signatures":
        out = np.asarray(arr).view(cls)
        out.shingle_hash, out.seed, out.scheme = shingle_hash, seed, scheme
        return out

    def __array_finalize__(self, obj) -> None:
        if obj is not None:
            self.shingle_hash = getattr(obj, "shingle_hash", None)
            self.seed = getattr(obj, "seed", None)
            self.scheme = getattr(obj, "scheme", None)

    def __reduce__(self):
        fn, args, state = super().__reduce__()
        return fn, args, (state, self.shingle_hash, self.seed, self.scheme)

    def __setstate__(self, state) -> None:
        base, self.shingle_hash, self.seed, self.scheme = state
        super().__setstate__(base)


class MinHasher:
    """Computes MinHash signatures of many documents at once; identical to datasketch's for the same input.

    With the C accelerator (``dataaudit._fastminhash``, built by setup.py) the permutation-and-min step
    runs in C (an AVX-512 or AVX2 kernel where the CPU has it, chosen at run time; $DATAAUDIT_MINHASH_KERNEL
    forces one); without it, in numpy. All give the same bits (tests/test_minhash_kernel.py);
    ``MinHasher.kernel()`` says which one runs.

    >>> mh = MinHasher(num_perm=4, seed=1)
    >>> sig = mh.signatures(np.array([0, 3, 3], dtype=np.int64), np.array([7, 8, 9], dtype=np.uint32),
    ...                     shingle_hash="xxh3")
    >>> sig.shape, sig.dtype, bool((sig[1] == 0xFFFFFFFF).all()), sig.shingle_hash     # doc 1 has no shingles
    ((2, 4), dtype('uint32'), True, 'xxh3')
    """

    def __init__(self, num_perm: int = 128, seed: int = 1, scheme: str = "affine32", chunk: int = 1 << 17,
                 *, accelerated: bool = True):
        if scheme not in SCHEMES:
            raise ConfigError(f"unknown MinHash scheme {scheme!r}; choose one of {list(SCHEMES)}")
        self.num_perm, self.seed, self.scheme, self.chunk = num_perm, seed, scheme, chunk
        self.accelerated = accelerated and _fast is not None
        self.a, self.b = permutations(num_perm, seed, scheme)

    @staticmethod
    def kernel() -> str:
        """``"avx512"``, ``"avx2"`` or ``"portable"`` (the C accelerator), or ``"numpy"`` where it is not built."""
        return _fast.kernel() if _fast is not None else "numpy"

    def signatures(self, offsets: np.ndarray, values: np.ndarray, *, shingle_hash: str | None = None) -> Signatures:
        """Signatures (n_docs x num_perm, uint32) of documents whose 32-bit shingle hashes are
        ``values[offsets[i]:offsets[i+1]]``. Documents with no shingles get all ``0xFFFFFFFF``.

        ``shingle_hash`` names the hash that made ``values`` (``"xxh3"`` or ``"sha1"``); by default it is
        read from ``values`` (``shingle.minhash_input`` and ``shingle.sha1_shingle_hashes`` tag their
        output) and recorded on the result.
        """
        if shingle_hash is None:
            shingle_hash = getattr(values, "shingle_hash", None)
        if shingle_hash is not None and shingle_hash not in SHINGLE_HASHES:
            raise ConfigError(f"unknown shingle hash {shingle_hash!r}; choose one of {list(SHINGLE_HASHES)}")
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        values = np.asarray(values)
        if self.accelerated:
            words, stride = _kernel_words(values)
            sig = np.empty((len(offsets) - 1, self.num_perm), dtype=np.uint32)
            (_fast.affine32 if self.scheme == "affine32" else _fast.legacy)(words, offsets, self.a, self.b, sig,
                                                                             stride)
        else:
            values = np.ascontiguousarray(values, dtype=np.uint32)
            sig = self._signatures_numpy(offsets, values)
        return Signatures.wrap(sig, shingle_hash=shingle_hash, seed=self.seed, scheme=self.scheme)

    def _signatures_numpy(self, offsets: np.ndarray, values: np.ndarray) -> np.ndarray:
        n_docs = len(offsets) - 1
        sig = np.full((n_docs, self.num_perm), EMPTY, dtype=np.uint32)
        if len(values) == 0 or n_docs == 0:
            return sig
        if self.scheme == "affine32":
            x = fmix32(values)
        else:
            x = values.astype(np.uint64)
        nonempty = np.flatnonzero(np.diff(offsets) > 0)
        starts = offsets[nonempty]
        total = len(x)
        for c0 in range(0, total, self.chunk):
            c1 = min(c0 + self.chunk, total)
            lo = np.searchsorted(starts, c0, side="right") - 1
            hi = np.searchsorted(starts, c1, side="left")
            docs = nonempty[lo:hi]
            local = starts[lo:hi] - c0
            local[0] = 0
            rows = self._chunk_min(x[c0:c1], local)
            sig[docs] = np.minimum(sig[docs], rows)
        return sig

    def _chunk_min(self, x: np.ndarray, seg: np.ndarray) -> np.ndarray:
        rows = np.empty((len(seg), self.num_perm), dtype=np.uint32)
        tmp = np.empty_like(x)
        if self.scheme == "affine32":
            for k in range(self.num_perm):
                np.multiply(x, self.a[k], out=tmp)
                tmp += self.b[k]
                rows[:, k] = np.minimum.reduceat(tmp, seg)
        else:
            for k in range(self.num_perm):
                np.multiply(x, self.a[k], out=tmp)    # wraps mod 2^64, as datasketch's legacy path
                tmp += self.b[k]
                tmp %= _MERSENNE
                tmp &= _MAX32
                rows[:, k] = np.minimum.reduceat(tmp, seg)
        return rows


def _kernel_words(values: np.ndarray) -> tuple[np.ndarray, int]:
    """What the C kernel reads: contiguous uint32 words and the step between shingles (1, or 2 for the
    in-place low halves of uint64 hashes that ``shingle.minhash_input`` returns), copying nothing."""
    if values.dtype == np.uint32 and values.ndim == 1 and len(values) > 1 and values.strides[0] == 8:
        # the words from the first shingle to the last, the unused high halves in between: a contiguous
        # view of memory inside the array's own buffer
        return np.lib.stride_tricks.as_strided(values, shape=(2 * len(values) - 1,), strides=(4,)), 2
    return np.ascontiguousarray(values, dtype=np.uint32), 1


class MinHashCompatibilityWarning(UserWarning):
    """Signatures made with dataaudit's xxh3 shingle hash went into datasketch: they compare only with
    each other (in ``jaccard`` and in a ``MinHashLSH`` alike), never with datasketch's own MinHashes."""


class _Xxh3Seed(int):
    """The seed of a ``LeanMinHash`` made from xxh3-shingle signatures: equal only to another such seed.

    datasketch refuses ``jaccard``/``union`` of MinHashes whose seeds differ (``other.seed != self.seed``),
    so a datasketch-native MinHash compared with one of these raises instead of returning a number that
    means nothing. (Serialization writes it as the plain integer, which drops the mark.)
    """

    def __eq__(self, other):
        return isinstance(other, _Xxh3Seed) and int(self) == int(other)

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = int.__hash__


_MIX_HINT = ("signatures from dataaudit's default xxh3 shingle hash estimate Jaccard only against other "
             "xxh3-shingle signatures; to compare with MinHashes datasketch computes itself (sha1_hash32 of "
             "the shingle bytes), make them with NearConfig(hash='sha1')")


def _lean_xxh3_class():
    from datasketch import LeanMinHash

    class Xxh3LeanMinHash(LeanMinHash):
        """A ``datasketch.LeanMinHash`` from xxh3-shingle signatures; ``jaccard`` refuses any other kind."""

        __slots__ = ()

        def jaccard(self, other):
            if not isinstance(getattr(other, "seed", None), _Xxh3Seed):
                raise ConfigError("cannot compare an xxh3-shingle MinHash with a datasketch-native one: "
                                  + _MIX_HINT)
            return super().jaccard(other)

    return Xxh3LeanMinHash


_XXH3_LEAN = None


def to_lean_minhash(signature: np.ndarray, *, seed: int | None = None, scheme: str | None = None,
                    shingle_hash: str | None = None):
    """Turn one of our signatures into a ``datasketch.LeanMinHash`` (usable in its LSH indexes).

    ``seed``, ``scheme`` and ``shingle_hash`` are read from a ``Signatures`` row; for a plain array give
    them (they must be those the signature was made with: ``NearConfig.seed``/``scheme``/``hash``). A
    value that contradicts the signature's own is refused.

    - ``shingle_hash="sha1"`` (``NearConfig(hash="sha1")``): a plain ``LeanMinHash``, equal to the one
      datasketch computes from the same shingle bytes, so it compares with datasketch's own MinHashes.
    - ``shingle_hash="xxh3"`` (the default of the pass): an ``Xxh3LeanMinHash`` that compares only with
      other xxh3 ones. Comparing it with a datasketch-native MinHash raises (either way round: its seed
      equals only other xxh3 seeds, so datasketch's own seed check refuses too), and a
      ``MinHashCompatibilityWarning`` says so, since a ``MinHashLSH`` holding both kinds cannot check it.
    """
    global _XXH3_LEAN
    from datasketch import LeanMinHash

    tagged = {"seed": getattr(signature, "seed", None), "scheme": getattr(signature, "scheme", None),
              "shingle_hash": getattr(signature, "shingle_hash", None)}
    given = {"seed": seed, "scheme": scheme, "shingle_hash": shingle_hash}
    for k, v in given.items():
        if v is not None and tagged[k] is not None and v != tagged[k]:
            raise ConfigError(f"{k}={v!r} contradicts the signature, which was made with {k}={tagged[k]!r}; "
                              f"drop the {k} argument")
    seed = seed if seed is not None else (tagged["seed"] if tagged["seed"] is not None else 1)
    scheme = scheme or tagged["scheme"] or "affine32"
    shingle_hash = shingle_hash or tagged["shingle_hash"]
    if shingle_hash not in SHINGLE_HASHES:
        raise ConfigError("this signature does not say which shingle hash made it: pass shingle_hash='xxh3' "
                          "(dataaudit's default: compares only with other xxh3 signatures) or 'sha1' "
                          "(NearConfig(hash='sha1'), datasketch's own shingle hash)")
    sig = np.asarray(signature)
    values = sig.astype(np.uint64) if scheme == "legacy" else sig.astype(np.uint32)
    if shingle_hash == "xxh3":
        warnings.warn(_MIX_HINT + " (mixing them in one MinHashLSH gives meaningless candidates)",
                      MinHashCompatibilityWarning, stacklevel=2)
        if _XXH3_LEAN is None:
            _XXH3_LEAN = _lean_xxh3_class()
        cls, seed = _XXH3_LEAN, _Xxh3Seed(seed)
    else:
        cls = LeanMinHash
    try:
        return cls(seed=seed, hashvalues=values, scheme=scheme)
    except TypeError:   # datasketch < 2.0 knows only the legacy scheme and has no `scheme` argument
        if scheme != "legacy":
            raise ConfigError("datasketch < 2.0 supports only scheme='legacy'; upgrade datasketch, or make "
                              "the signatures with scheme='legacy' (NearConfig(scheme='legacy'))") from None
        return cls(seed=seed, hashvalues=values)


# ---------------------------------------------------------------------------------------------- banding

def candidate_probability(s, bands: int, rows: int):
    """P(two documents with Jaccard ``s`` share at least one band): ``1 - (1 - s^rows)^bands``.

    >>> round(float(candidate_probability(0.85, 9, 13)), 3)     # datasketch's default at 0.8 / 128 perms
    0.686
    """
    s = np.asarray(s, dtype=np.float64)
    return 1.0 - (1.0 - s ** rows) ** bands


def detection_curve(bands: int, rows: int, points=None) -> dict[str, float]:
    """The candidate probability at Jaccard 0.5, 0.55, ..., 0.95 (keys are the Jaccard values as text)."""
    pts = np.round(np.arange(0.5, 0.951, 0.05), 2) if points is None else points
    return {f"{p:.2f}": round(float(candidate_probability(p, bands, rows)), 4) for p in pts}


@functools.lru_cache(maxsize=64)
def optimal_params(threshold: float, num_perm: int, weights: tuple[float, float] = (0.05, 0.95)) -> tuple[int, int]:
    """(bands, rows) minimizing ``w_fp * FP + w_fn * FN`` (datasketch's ``_optimal_param``, integrals on a grid).

    >>> optimal_params(0.8, 128, (0.5, 0.5))     # datasketch MinHashLSH's balanced default
    (9, 13)
    >>> optimal_params(0.8, 128)                 # our recall-favouring default
    (16, 8)
    """
    w_fp, w_fn = weights
    grid_n = 2001
    best, opt = float("inf"), (1, 1)
    lo = np.linspace(0.0, threshold, grid_n)
    hi = np.linspace(threshold, 1.0, grid_n)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = np.trapezoid(candidate_probability(lo, b, r), lo)
            fn = np.trapezoid(1.0 - candidate_probability(hi, b, r), hi)
            err = fp * w_fp + fn * w_fn
            if err < best - 1e-12:
                best, opt = err, (b, r)
    return opt


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """64-bit key of each band of each signature: (n_docs x bands) uint64.

    The key mixes the band's ``rows`` values and the band index, so equal keys mean (but for a 2^-64
    chance) equal bands; collisions only add candidates, which verification removes.
    """
    n = sig.shape[0]
    keys = np.empty((n, bands), dtype=np.uint64)
    s64 = sig.astype(np.uint64)
    for i in range(bands):
        acc = np.full(n, (0x9E3779B97F4A7C15 * (i + 1)) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
        for j in range(rows):
            acc ^= s64[:, i * rows + j] + np.uint64((0x632BE59BD9B4E019 * (j + 1)) & 0xFFFFFFFFFFFFFFFF)
            acc *= np.uint64(0xFF51AFD7ED558CCD)
            acc ^= acc >> np.uint64(29)
        keys[:, i] = acc
    return keys


@dataclass
class BucketStats:
    """What candidate generation saw, summed over bands: buckets with two or more members, the largest,
    buckets over the cap, and pairs the cap skipped (a pair skipped in several bands counts in each)."""

    buckets: int = 0
    largest_bucket: int = 0
    capped_buckets: int = 0
    pairs_skipped_by_cap: int = 0


def bucket_pairs(keys: np.ndarray, groups: np.ndarray, mode: str, max_bucket: int,
                 stats: BucketStats) -> np.ndarray:
    """Candidate pairs (i < j, as one int64 array ``i * 2^32 + j``) from one band's keys.

    ``groups`` gives each document's split code; ``mode`` "cross" keeps pairs of different splits,
    "within" pairs of the same split, "both" all. A bucket larger than ``max_bucket`` members pairs each
    member with the first ``max_bucket`` members only (counted in ``stats``).
    """
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    if len(k) < 2:
        return np.zeros(0, np.int64)
    brk = np.flatnonzero(k[1:] != k[:-1]) + 1
    starts = np.concatenate(([0], brk))
    sizes = np.diff(np.concatenate((starts, [len(k)])))
    multi = sizes > 1
    stats.buckets += int(multi.sum())
    if not multi.any():
        return np.zeros(0, np.int64)
    stats.largest_bucket = max(stats.largest_bucket, int(sizes.max()))
    out = []
    # small buckets (the usual case) vectorized by bucket size; big ones one by one
    ms, mz = starts[multi], sizes[multi]
    for size in np.unique(mz):
        sel = ms[mz == size]
        members = order[sel[:, None] + np.arange(size)]          # (n_buckets, size)
        if size > max_bucket:
            for row in members:
                out.append(_capped_pairs(row, groups, mode, max_bucket, stats))
            continue
        ii, jj = np.triu_indices(size, 1)
        a = members[:, ii].ravel()
        b = members[:, jj].ravel()
        out.append(_filter_pairs(a, b, groups, mode))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _capped_pairs(members: np.ndarray, groups, mode, cap, stats) -> np.ndarray:
    """Pairs of one bucket bigger than ``cap``: each member meets at most ``cap`` others (counted).

    In cross mode only pairs of different splits are formed: every member of the smaller side of each
    split pair meets the first ``cap`` members of the larger side (so one val document that matches
    10,000 identical train documents costs ``cap`` pairs, not 50 million).
    """
    members = np.sort(members)
    out, full, made = [], 0, 0
    if mode == "cross":
        g = groups[members]
        codes = np.unique(g)
        for x in range(len(codes)):
            for y in range(x + 1, len(codes)):
                p, q = members[g == codes[x]], members[g == codes[y]]
                small, big = (p, q) if len(p) <= len(q) else (q, p)
                head = big[:cap]
                full += len(p) * len(q)
                made += len(small) * len(head)
                out.append(_filter_pairs(np.repeat(small, len(head)), np.tile(head, len(small)), groups, "both"))
    else:
        head = members[:cap]
        a = np.repeat(head, len(members))
        b = np.tile(members, len(head))
        keep = a < b
        full = len(members) * (len(members) - 1) // 2
        made = int(keep.sum())
        out.append(_filter_pairs(a[keep], b[keep], groups, mode))
    if full > made:
        stats.capped_buckets += 1
        stats.pairs_skipped_by_cap += full - made
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _filter_pairs(a: np.ndarray, b: np.ndarray, groups: np.ndarray, mode: str) -> np.ndarray:
    lo = np.minimum(a, b).astype(np.int64)
    hi = np.maximum(a, b).astype(np.int64)
    if mode == "cross":
        keep = groups[lo] != groups[hi]
    elif mode == "within":
        keep = groups[lo] == groups[hi]
    else:
        keep = lo != hi
    keep &= lo != hi
    return (lo[keep] << np.int64(32)) | hi[keep]


def unpack_pairs(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of the packing used by ``bucket_pairs``: (i, j) int64 arrays."""
    return packed >> np.int64(32), packed & np.int64(0xFFFFFFFF)
