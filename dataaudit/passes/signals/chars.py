"""Character-level signals of whole batches at once (numpy over code points): runs, shares, ROOTS repetition."""

from __future__ import annotations

import re

import numpy as np

from .tokens import dense_ids, seg_ids, seg_max, seg_sum

_CANDIDATE = re.compile(r"[A-Za-z0-9+/]{%d,}={0,2}")
_DIGIT = re.compile(r"[0-9]")
_LETTER = re.compile(r"[A-Za-z]")
_MIX = np.uint64(0x9E3779B97F4A7C15)
_BASE = np.uint64(0x100000001B3)


def code_points(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(code points of all texts concatenated, char offsets per text)."""
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    cps = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return cps, offsets


def longest_runs(cps: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """Longest run of one repeated character per text, and that character (the first such run).

    >>> import numpy as np; c, o = code_points(["abbbc", "", "zz"]); longest_runs(c, o)
    (array([3, 0, 2]), ['b', None, 'z'])
    """
    n = len(offsets) - 1
    if len(cps) == 0:
        return np.zeros(n, dtype=np.int64), [None] * n
    start = np.ones(len(cps), dtype=bool)
    start[1:] = cps[1:] != cps[:-1]
    start[offsets[:-1][offsets[:-1] < len(cps)]] = True
    rs = np.flatnonzero(start)
    rlen = np.diff(np.append(rs, len(cps)))
    rdoc = seg_ids(offsets)[rs]
    roff = np.searchsorted(rdoc, np.arange(n + 1))
    best = seg_max(rlen, roff).astype(np.int64)
    idx = np.flatnonzero(rlen == best[rdoc])
    d, first = np.unique(rdoc[idx], return_index=True)
    chars: list[str | None] = [None] * n
    for di, ci in zip(d.tolist(), cps[rs[idx[first]]].tolist()):
        chars[di] = chr(ci)
    return best, chars


def char_shares(cps: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per text: (non-ASCII characters, characters neither alphanumeric nor whitespace), as counts.

    Alphanumeric and whitespace as Python's ``str.isalnum`` / ``str.isspace``.
    """
    non_ascii = cps >= 128
    ok = np.zeros(len(cps), dtype=bool)
    table = np.array([chr(c).isalnum() or chr(c).isspace() for c in range(128)])
    ok[~non_ascii] = table[cps[~non_ascii]]
    if non_ascii.any():
        uniq, inv = np.unique(cps[non_ascii], return_inverse=True)
        look = np.array([chr(c).isalnum() or chr(c).isspace() for c in uniq.tolist()])
        ok[non_ascii] = look[inv]
    return seg_sum(non_ascii, offsets), seg_sum(~ok, offsets)


def _poly_hash(c: np.ndarray, n: int) -> np.ndarray:
    """``h[i] = sum_k c[i+k] * BASE**(n-1-k)`` mod 2**64 for every window of ``n``, by doubling: the hash of 2m
    is ``h_m[i] * BASE**m + h_m[i+m]`` (the same polynomial, so the same values as n multiply-adds)."""
    if n == 1:
        return c
    if n % 2:
        h = _poly_hash(c, n - 1)
        return h[:-1] * _BASE + c[n - 1:]
    h = _poly_hash(c, n // 2)
    half = n // 2
    m = len(c) - n + 1
    return h[:m] * (_BASE ** np.uint64(half)) + h[half:half + m]


def char_ngram_repetition(cps: np.ndarray, offsets: np.ndarray, n: int = 10) -> np.ndarray:
    """ROOTS character repetition ratio (Laurençon et al. 2022, BigScience ROOTS ``filtering.py``).

    Count every character n-gram of the text; with U distinct n-grams, take the k = min(floor(sqrt(U)),
    number seen more than once) most frequent and divide the sum of their counts by the number of n-grams.
    0 for a text shorter than n. n-grams are told apart by a 64-bit polynomial hash of their code points.

    >>> c, o = code_points(["ab" * 10, "abcdefghijkl"]); char_ngram_repetition(c, o, 2).tolist()
    [0.5263157894736842, 0.0]
    """
    nd = len(offsets) - 1
    m = len(cps) - n + 1
    if m <= 0:
        return np.zeros(nd)
    doc = seg_ids(offsets)
    valid = doc[:m] == doc[n - 1:]
    with np.errstate(over="ignore"):
        h = _poly_hash(cps.astype(np.uint64), n)
        pos = np.flatnonzero(valid)
        key = h[pos] ^ (doc[pos].astype(np.uint64) * _MIX)
    if len(pos) == 0:
        return np.zeros(nd)
    ids = dense_ids(key, np.searchsorted(pos, offsets))
    counts = np.bincount(ids)
    first = ids > np.concatenate([[-1], np.maximum.accumulate(ids)[:-1]])
    id_doc = doc[pos[first]]
    id_off = np.searchsorted(id_doc, np.arange(nd + 1))
    uniq = np.diff(id_off)
    rep = counts > 1
    k = np.minimum(np.floor(np.sqrt(uniq)).astype(np.int64), seg_sum(rep, id_off).astype(np.int64))
    c2, d2 = counts[rep], id_doc[rep]
    order = np.lexsort((-c2, d2))
    c2, d2 = c2[order], d2[order]
    starts = np.searchsorted(d2, np.arange(nd))
    rank = np.arange(len(d2)) - starts[d2]
    top = np.bincount(d2, weights=np.where(rank < k[d2], c2, 0), minlength=nd)
    total = np.maximum(np.diff(offsets) - n + 1, 0).astype(np.float64)
    return np.divide(top, total, out=np.zeros(nd), where=total > 0)


def encoded_chars(texts: list[str], min_run: int) -> np.ndarray:
    """Characters inside base64/hex-like runs: >= ``min_run`` of [A-Za-z0-9+/] (optional ``=`` padding) holding
    a digit and a letter (so long plain words are not runs).

    >>> encoded_chars(["x " + "aGVsbG8gd29ybGQ1" * 3 + " y", "pneumonoultramicroscopicsilicovolcanoconiosis"], 32)
    array([48,  0])
    """
    pat = re.compile(_CANDIDATE.pattern % min_run)
    out = np.zeros(len(texts), dtype=np.int64)
    for i, t in enumerate(texts):
        if len(t) < min_run:
            continue
        for mt in pat.finditer(t):
            s = mt.group()
            if _DIGIT.search(s) and _LETTER.search(s):
                out[i] += len(s)
    return out
