"""The containment pass's per-batch kernels, shared by the driver path (``containment.py``) and the read
tasks (``containment_shards.py``): salted n-gram hashes of the small side, lookups of train's n-grams,
excerpts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..shingle import hash_shingles
from ..text import NormalizeConfig, normalize_array

_SALT = 0x9E3779B97F4A7C15


def _salted(h: np.ndarray, length: int) -> np.ndarray:
    """Hashes of n-grams of ``length`` words, made distinct from those of other lengths."""
    return h ^ np.uint64((length * _SALT) & 0xFFFFFFFFFFFFFFFF)


def _word_counts(norm: pa.Array) -> np.ndarray:
    return hash_shingles(norm, 1, keep_short=False).counts().astype(np.int64)


def _column(batch: pa.RecordBatch, name: str) -> pa.Array:
    return batch.column(batch.schema.get_field_index(name))


def batch_parts(batch: pa.RecordBatch, n: int, cfg, normalize: NormalizeConfig):
    """(doc ids, salted hashes, docs (0-based in the batch), word positions, n-gram counts, n per doc) of one
    batch of the small side: its n-grams of ``n`` words, and its short items (at least ``min_item_words``
    words, under ``n``) whole."""
    norm = normalize_array(_column(batch, "text"), normalize)
    wc = _word_counts(norm)
    sh = hash_shingles(norm, n, keep_short=False)
    c = sh.counts().astype(np.int64)
    k = len(c)
    h_parts = [_salted(sh.hashes, n)]
    d_parts = [np.repeat(np.arange(k, dtype=np.int64), c)]
    p_parts = [np.arange(len(sh.hashes), dtype=np.int64) - np.repeat(sh.offsets[:-1], c)]
    n_doc = np.where(c > 0, n, 0).astype(np.int64)
    short = np.flatnonzero((wc < n) & (wc >= cfg.min_item_words))
    for length in np.unique(wc[short]).tolist():
        sel = short[wc[short] == length]
        hs = hash_shingles(norm.take(pa.array(sel, pa.int64())), int(length), keep_short=False)
        h_parts.append(_salted(hs.hashes, int(length)))
        d_parts.append(sel.astype(np.int64))
        p_parts.append(np.zeros(len(sel), np.int64))
        c[sel] = 1
        n_doc[sel] = length
    hh, dd, pp = np.concatenate(h_parts), np.concatenate(d_parts), np.concatenate(p_parts)
    order = np.argsort(dd, kind="stable")
    return _column(batch, "doc_id").cast(pa.string()), hh[order], dd[order], pp[order], c, n_doc


class _Lookup:
    """The sorted distinct hashes of the index and their bitmap: all a train lookup needs."""

    def __init__(self, uniq: np.ndarray, bits: int, bitmap: np.ndarray, lengths: list[int]) -> None:
        self.uniq, self.bits, self.bitmap, self.lengths = uniq, bits, bitmap, lengths

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in ``hashes`` found in the index, their index in ``uniq``)."""
        top = hashes >> np.uint64(64 - self.bits)
        maybe = (self.bitmap[(top >> np.uint64(3)).astype(np.int64)] >> (top & np.uint64(7)).astype(np.uint8)) & 1
        cand = np.flatnonzero(maybe)
        j = np.searchsorted(self.uniq, hashes[cand])
        j[j == len(self.uniq)] = 0
        ok = self.uniq[j] == hashes[cand]
        return cand[ok], j[ok]


def batch_hits(lookup: _Lookup, batch: pa.RecordBatch, normalize: NormalizeConfig) -> list[tuple]:
    """(uid, train doc (0-based in the batch), doc ids) per n-gram length: one per (doc, indexed n-gram)."""
    out = []
    if not len(lookup.uniq):
        return out
    norm = normalize_array(_column(batch, "text"), normalize)
    for length in lookup.lengths:
        sh = hash_shingles(norm, length, keep_short=False)
        found, j = lookup.lookup(_salted(sh.hashes, length))
        if len(found):
            doc = np.searchsorted(sh.offsets, found, side="right").astype(np.int64) - 1
            key = np.unique((doc << np.int64(32)) | j.astype(np.int64))   # one per (doc, n-gram)
            u, d = key & np.int64(0xFFFFFFFF), key >> np.int64(32)
            out.append((u, d, _column(batch, "doc_id").cast(pa.string()).take(pa.array(d))))
    return out


def excerpt_of(text: str, spans: list, chars: int) -> str:
    """The longest matched span of a normalized text (the first of the longest), cut to ``chars``."""
    s, e = max(spans, key=lambda x: (x[1] - x[0], -x[0]))
    out = " ".join(text.split()[s:e])
    return out if len(out) <= chars else out[: chars - 3] + "..."
