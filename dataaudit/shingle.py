"""Shingles of normalized text, and their vectorized 64-bit hashes.

A *shingle* is a run of ``n`` consecutive words (the default, ``n=5``) or, as an option, of ``n``
consecutive characters (Unicode code points) of the text after ``dataaudit.text.normalize``: the same
normalization the exact pass uses, so every pass sees the same text. Words are maximal runs of
non-whitespace (ASCII whitespace separates; the default normalization has already turned every Unicode
space into one ASCII space). A document shorter than ``n`` words (or characters) has one shingle, its
whole text, so short documents still get a signature; an empty document has none.

Worked examples (defaults: normalization on, word 5-grams):

>>> shingles("The quick brown fox jumps over the lazy dog.")
['the quick brown fox jumps', 'quick brown fox jumps over', 'brown fox jumps over the', 'fox jumps over the lazy', 'jumps over the lazy dog']
>>> shingles("A B, C!", ngram=2)
['a b', 'b c']
>>> shingles("Too short", ngram=5)
['too short']
>>> shingles("Hello", ngram=3, char=True)
['hel', 'ell', 'llo']
>>> shingles("  ", ngram=5)
[]
>>> jaccard(shingles("a b c d", ngram=2), shingles("a b c e", ngram=2))   # {ab, bc, cd} vs {ab, bc, ce}
0.5

Hashes. ``hash_shingles`` turns a whole Arrow array of normalized texts into one ``uint64`` array of shingle
hashes plus per-document offsets, with no Python loop per word or shingle: words are split and
dictionary-encoded by Arrow, each *distinct* word is hashed once (xxh3-64), and an n-gram's hash is a fixed
mix of its word hashes, ``fmix64(sum_k C_k * word_k + n * C_len)`` (MurmurHash3's 64-bit finalizer; the
``C_k`` are odd constants from splitmix64). ``shingle_hash`` computes the same value for one shingle string,
so the vectorized path can be checked against a plain definition. MinHash uses the low 32 bits of these
hashes (``minhash_input``), which is what datasketch's default ``affine32`` scheme consumes.

The datasketch default hash of a shingle is instead ``sha1_hash32(shingle.encode("utf-8"))``;
``sha1_shingle_hashes`` computes that (a Python loop per shingle, slow: for compatibility checks only). With
those hashes our signatures equal datasketch's ``MinHash(...).update_batch(shingle_bytes)`` bit for bit.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from .errors import ConfigError
from .text import DEFAULT_NORMALIZE, NormalizeConfig, normalize, normalize_array

_M64 = (1 << 64) - 1
_ASCII_WS = " \t\n\r\f\v"
_C_LEN = 0x9E3779B97F4A7C15  # golden-ratio constant: mixes the shingle length into its hash


def _splitmix64_constants(count: int, seed: int = 0x5DEECE66D) -> np.ndarray:
    """``count`` odd 64-bit constants from splitmix64 (Steele, Lea & Flood 2014): fixed forever."""
    out = np.empty(count, dtype=np.uint64)
    x = seed
    for i in range(count):
        x = (x + 0x9E3779B97F4A7C15) & _M64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        out[i] = (z ^ (z >> 31)) | 1
    return out


_MAX_NGRAM = 256
_C = _splitmix64_constants(_MAX_NGRAM)
_C_PY = [int(c) for c in _C]


def _check_ngram(ngram: int) -> None:
    if not isinstance(ngram, (int, np.integer)) or isinstance(ngram, bool) or not 1 <= ngram <= _MAX_NGRAM:
        raise ConfigError(f"ngram must be an integer in 1..{_MAX_NGRAM}, got {ngram!r}; "
                          "5 (words) is the usual choice for near-duplicates, 13 for containment")


def _fmix64_py(x: int) -> int:
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & _M64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & _M64
    return x ^ (x >> 33)


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (Appleby), in place on a uint64 array; returns it."""
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x


def _split_words(text: str) -> list[str]:
    out, word = [], []
    for ch in text:
        if ch in _ASCII_WS:
            if word:
                out.append("".join(word))
                word = []
        else:
            word.append(ch)
    if word:
        out.append("".join(word))
    return out


def shingles(text: str, ngram: int = 5, *, char: bool = False,
             normalization: NormalizeConfig | None = DEFAULT_NORMALIZE) -> list[str]:
    """The shingles of ``text`` in order (duplicates kept): word ``ngram``-grams, or character ones.

    ``text`` is normalized first with ``normalization`` (``None``: it already is). See the module
    docstring for worked examples.
    """
    _check_ngram(ngram)
    if normalization is not None:
        text = normalize(text, normalization)
    if char:
        if not text:
            return []
        if len(text) < ngram:
            return [text]
        return [text[i:i + ngram] for i in range(len(text) - ngram + 1)]
    words = _split_words(text)
    if not words:
        return []
    if len(words) < ngram:
        return [" ".join(words)]
    return [" ".join(words[i:i + ngram]) for i in range(len(words) - ngram + 1)]


def jaccard(a, b) -> float:
    """Exact Jaccard similarity of two collections taken as sets (1.0 for two empty ones)."""
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def _word_hash_py(word: str) -> int:
    """A word's 64-bit hash: xxh3-64 of its UTF-8 bytes."""
    return xxhash.xxh3_64_intdigest(word.encode("utf-8"))


def shingle_hash(shingle: str, *, char: bool = False) -> int:
    """The 64-bit hash ``hash_shingles`` gives ``shingle`` (a plain, slow reference definition).

    >>> shingle_hash("a b c") == shingle_hash("a  b c")    # words, not spacing, define a word shingle
    True
    >>> shingle_hash("a b c") == shingle_hash("a b d")
    False
    """
    values = [ord(c) for c in shingle] if char else [_word_hash_py(w) for w in _split_words(shingle)]
    acc = (len(values) * _C_LEN) & _M64
    for k, v in enumerate(values):
        acc = (acc + _C_PY[k] * v) & _M64
    return _fmix64_py(acc)


@dataclass
class ShingleHashes:
    """Shingle hashes of a batch of documents: ``hashes[offsets[i]:offsets[i+1]]`` belong to document i."""

    offsets: np.ndarray   # int64, n_docs + 1
    hashes: np.ndarray    # uint64 (or uint32 for the sha1 path)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def doc(self, i: int) -> np.ndarray:
        return self.hashes[self.offsets[i]:self.offsets[i + 1]]


def _combine(values: np.ndarray, doc_offsets: np.ndarray, ngram: int, keep_short: bool = True) -> ShingleHashes:
    """Hash every run of ``ngram`` consecutive ``values`` inside each document (vectorized).

    ``values`` (uint64) are word hashes or code points of all documents back to back. A document with
    ``0 < m < ngram`` values gets one shingle of all of them (none if not ``keep_short``).
    """
    n_docs = len(doc_offsets) - 1
    m = np.diff(doc_offsets)
    counts = np.where(m >= ngram, m - ngram + 1, np.minimum(m, 1) if keep_short else 0)
    out_off = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(counts, out=out_off[1:])
    out = np.empty(int(out_off[-1]), dtype=np.uint64)
    total = len(values)
    long_docs = m >= ngram
    if total >= ngram and long_docs.any():
        g = np.full(total - ngram + 1, (ngram * _C_LEN) & _M64, dtype=np.uint64)
        tmp = np.empty_like(g)
        for k in range(ngram):
            np.multiply(values[k:total - ngram + 1 + k], _C[k], out=tmp)
            g += tmp
        # keep only windows that end inside the document they start in
        word_doc_end = np.repeat(doc_offsets[1:], m)[: total - ngram + 1]
        valid = np.arange(ngram, total + 1, dtype=np.int64) <= word_doc_end
        g = fmix64(g[valid])
        short_pos_mask = np.zeros(len(out), dtype=bool)
    else:
        g = None
    short = (m > 0) & (m < ngram) & keep_short
    if short.any():
        sd = np.flatnonzero(short)
        starts = doc_offsets[sd]
        ms = m[sd]
        acc = ms.astype(np.uint64) * np.uint64(_C_LEN)
        for k in range(ngram - 1):
            sel = ms > k
            if not sel.any():
                break
            acc[sel] += values[starts[sel] + k] * _C[k]
        if g is None:
            out[out_off[sd]] = fmix64(acc)
        else:
            short_pos_mask[out_off[sd]] = True
            out[short_pos_mask] = fmix64(acc)
            out[~short_pos_mask] = g
    elif g is not None:
        out[:] = g
    return ShingleHashes(out_off, out)


def _string_offsets_and_data(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    arr = arr.cast(pa.large_string()) if pa.types.is_string(arr.type) else arr
    bufs = arr.buffers()
    off = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return off, data


def _word_values(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(word hashes of all documents back to back, per-document word offsets).

    Word starts are found with numpy on the UTF-8 bytes (a non-separator after a separator or at a
    document start). Piece ``i`` runs from start ``i`` to start ``i + 1``, so the pieces tile the buffer
    and become one Arrow string array without copying; each piece is a word plus the separators after
    it. Arrow's ``dictionary_encode`` finds the distinct pieces, and each distinct word (separators
    stripped) is hashed once with xxh3-64.
    """
    texts = pc.fill_null(texts, "")
    off, data = _string_offsets_and_data(texts)
    n_docs = len(texts)
    lo, hi = int(off[0]), int(off[-1])
    if hi == lo:
        return np.zeros(0, np.uint64), np.zeros(n_docs + 1, np.int64)
    d = data[lo:hi]
    sep = d <= 32
    sep &= (d == 32) | ((d >= 9) & (d <= 13))      # exactly the ASCII whitespace (UTF-8 safe)
    begin = np.empty(hi - lo, dtype=bool)          # previous byte is a separator, or a document starts here
    begin[0] = True
    begin[1:] = sep[:-1]
    begin[off[:-1][off[:-1] < off[1:]] - lo] = True
    begin &= ~sep
    starts = np.flatnonzero(begin)
    word_off = np.searchsorted(starts, off - lo).astype(np.int64)
    if len(starts) == 0:
        return np.zeros(0, np.uint64), word_off
    piece_off = np.empty(len(starts) + 1, dtype=np.int64)
    piece_off[:-1] = starts + lo
    piece_off[-1] = hi
    pieces = pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(piece_off), pa.py_buffer(data))
    enc = pc.dictionary_encode(pieces)
    voff, vdata = _string_offsets_and_data(enc.dictionary)
    raw = vdata.tobytes()
    ws = _ASCII_WS.encode()
    vh = np.fromiter((xxhash.xxh3_64_intdigest(raw[voff[i]:voff[i + 1]].rstrip(ws))
                      for i in range(len(voff) - 1)), dtype=np.uint64, count=len(voff) - 1)
    return vh[np.asarray(enc.indices)], word_off


def _char_values(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(code points of all documents back to back, per-document offsets). One Python step per document."""
    parts = [np.frombuffer((t or "").encode("utf-32-le"), dtype=np.uint32) for t in texts.to_pylist()]
    off = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=off[1:])
    vals = np.concatenate(parts).astype(np.uint64) if parts else np.zeros(0, np.uint64)
    return vals, off


try:  # the optional C accelerator (setup.py); the numpy path above gives the same hashes
    from . import _fastminhash as _fast
except ImportError:  # pragma: no cover - depends on the build
    _fast = None


def _word_shingles_fast(texts: pa.Array, ngram: int, keep_short: bool) -> ShingleHashes:
    """``_combine(*_word_values(texts), ...)`` in C: words split and numbered by distinct word in one pass
    (an open-addressing table), each distinct word hashed once with xxh3-64 here, n-grams mixed in C."""
    texts = pc.fill_null(texts, "")
    off, data = _string_offsets_and_data(texts)
    ids, woff, words, wstart = _fast.word_ids(data, np.ascontiguousarray(off))
    ws = np.frombuffer(wstart, np.int64).tolist()
    xx = xxhash.xxh3_64_intdigest
    vh = np.fromiter((xx(words[ws[i]:ws[i + 1]]) for i in range(len(ws) - 1)), dtype=np.uint64, count=len(ws) - 1)
    out_off, hashes = _fast.ngram_hashes(ids, woff, vh, _C, _C_LEN, ngram, keep_short)
    return ShingleHashes(np.frombuffer(out_off, np.int64), np.frombuffer(hashes, np.uint64))


def hash_shingles(texts: pa.Array | pa.ChunkedArray, ngram: int = 5, *, char: bool = False,
                  keep_short: bool = True, accelerated: bool = True) -> ShingleHashes:
    """64-bit hashes of the shingles of each (already normalized) text, in order, duplicates kept.

    Equal to ``[shingle_hash(s, char=char) for s in shingles(t, ngram, char=char, normalization=None)]``
    per document, without the per-shingle loop. With ``keep_short=False`` a document shorter than
    ``ngram`` gets no shingle instead of one (the containment pass wants only full n-grams). Word
    shingles take the C accelerator when it is built (``accelerated=False``: the numpy path; both give
    the same hashes, tests/test_minhash_shingles.py).
    """
    _check_ngram(ngram)
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if len(texts) == 0:
        return ShingleHashes(np.zeros(1, np.int64), np.zeros(0, np.uint64))
    if not char and accelerated and _fast is not None:
        return _word_shingles_fast(texts, ngram, keep_short)
    vals, off = _char_values(texts) if char else _word_values(texts)
    return _combine(vals, off, ngram, keep_short)


def hash_texts(texts: pa.Array | pa.ChunkedArray, ngram: int = 5, *, char: bool = False,
               normalization: NormalizeConfig = DEFAULT_NORMALIZE) -> ShingleHashes:
    """Normalize raw texts with ``normalization`` (the exact pass's function), then ``hash_shingles``."""
    return hash_shingles(normalize_array(texts, normalization), ngram, char=char)


def sha1_shingle_hashes(texts: pa.Array | list[str], ngram: int = 5, *, char: bool = False) -> ShingleHashes:
    """datasketch's default shingle hash, ``sha1_hash32(shingle.encode())``, as uint32 (slow; for checks).

    ``texts`` must already be normalized.
    """
    docs = texts.to_pylist() if isinstance(texts, (pa.Array, pa.ChunkedArray)) else list(texts)
    per_doc = [[int.from_bytes(hashlib.sha1(s.encode("utf-8")).digest()[:4], "little")
                for s in shingles(t or "", ngram, char=char, normalization=None)] for t in docs]
    off = np.zeros(len(per_doc) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in per_doc], out=off[1:])
    flat = np.fromiter((h for p in per_doc for h in p), dtype=np.uint32, count=int(off[-1]))
    return ShingleHashes(off, _tag(flat, "sha1"))


class HashValues(np.ndarray):
    """32-bit shingle hashes that say which hash made them (``shingle_hash``: ``"xxh3"`` or ``"sha1"``).

    ``MinHasher.signatures`` reads the mark and records it on the signatures, so signatures of the two
    kinds, which do not compare with each other, can always be told apart.
    """

    shingle_hash: str | None = None

    def __array_finalize__(self, obj) -> None:
        if obj is not None:
            self.shingle_hash = getattr(obj, "shingle_hash", None)


def _tag(arr: np.ndarray, shingle_hash: str) -> HashValues:
    out = np.asarray(arr).view(HashValues)
    out.shingle_hash = shingle_hash
    return out


def minhash_input(hashes: np.ndarray) -> np.ndarray:
    """The 32-bit values MinHash permutes: the low 32 bits of our 64-bit shingle hashes, marked ``"xxh3"``;
    uint32 hashes (``sha1_shingle_hashes``) pass as they are, with their mark."""
    if hashes.dtype == np.uint32:
        return hashes
    if hashes.dtype == np.uint64 and hashes.ndim == 1 and hashes.flags.c_contiguous and sys.byteorder == "little":
        # the low 32 bits in place: every other word of the uint64 buffer (a view, no copy; the C kernel
        # reads it with a stride of two words)
        return _tag(hashes.view(np.uint32)[0::2], "xxh3")
    return _tag(hashes.astype(np.uint32), "xxh3")   # truncation keeps the low 32 bits
