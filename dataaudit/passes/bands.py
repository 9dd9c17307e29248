"""The LSH band-key shuffle: hash partitions written by the signing tasks, one pairing task per partition.

Map side (``write_keys``, in the worker that signed a piece): every (band, document, key) record of the
piece goes to partition ``key % P`` (keys are already 64-bit mixes, see ``lsh.band_keys``); the records are
written to one file per piece, sorted by (partition, band, document), with an index of partition offsets
(the layout of a MapReduce map output: one file and its index per map task, not P files).

Reduce side (``partition_pairs``, one task per partition): the partition's records of every piece, in piece
order, so in global document order; per band, ``lsh.bucket_pairs`` on them. Every bucket (equal band keys)
lies in one partition, whole and with its members in global order, which is all ``bucket_pairs`` looks at
(its caps take the lowest-indexed members): the union of the partitions' pairs is the set the driver-side
sort of each whole band gives, and the bucket counts add up to the same ``BucketStats``.

Documents without shingles get the key ``index | 2^63`` in every band on the driver path (so they pair with
nothing); here the signing task lists their local positions after the partition offsets in its index file
(so a pairing task reads no extra file per piece) and the pairing task adds those records from every piece's
list, so even a real key equal to one of them
gives the same pair as there. The driver holds no per-document array for this.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import lsh

RECORD = np.dtype([("band", "<u2"), ("doc", "<u4"), ("key", "<u8")])
_EMPTY_BIT = np.uint64(1 << 63)


def _paths(spill: Path, task: int) -> tuple[Path, Path]:
    return spill / f"keys{task:06d}.rec", spill / f"keys{task:06d}.off.npy"


def _save_atomic(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npy")
    np.save(tmp, arr)
    os.replace(tmp, path)


def write_keys(spill: Path, task: int, keys: np.ndarray, n_shingles: np.ndarray, partitions: int) -> None:
    """Write one piece's band keys (n_docs x bands) partitioned by ``key % partitions`` (atomic: a retried
    task rewrites the same bytes)."""
    n, bands = keys.shape
    has = np.flatnonzero(n_shingles > 0)
    rec = np.empty(len(has) * bands, RECORD)
    rec["band"] = np.repeat(np.arange(bands, dtype=np.uint16), len(has))
    rec["doc"] = np.tile(has.astype(np.uint32), bands)
    rec["key"] = keys[has].T.reshape(-1)
    part = (rec["key"] % np.uint64(partitions)).astype(np.int64)
    order = np.lexsort((rec["doc"], rec["band"], part))
    rec = rec[order]
    off = np.searchsorted(part[order], np.arange(partitions + 1)).astype(np.int64)
    path, off_path = _paths(Path(spill), task)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    rec.tofile(tmp)
    os.replace(tmp, path)
    # the index: partition offsets (partitions + 1), then the local positions of documents without shingles
    _save_atomic(off_path, np.concatenate((off, np.flatnonzero(n_shingles == 0).astype(np.int64))))


def partition_pairs(task: tuple) -> tuple[np.ndarray, lsh.BucketStats]:
    """(packed candidate pairs of global indices, bucket stats) of partition ``p``.

    ``task``: (spill, p, partitions, bases (first global index of each piece), codes (split code of each
    piece), bands, mode, max_bucket). The documents without shingles come from the pieces' index files.
    """
    spill, p, partitions, bases, codes, bands, mode, max_bucket = task
    parts_g, parts_b, parts_k, parts_c = [], [], [], []
    empty = []
    for t in range(len(bases)):
        path, off_path = _paths(Path(spill), t)
        index = np.load(off_path)
        off = index[:partitions + 1]
        empty.append(index[partitions + 1:] + int(bases[t]))
        if off[p + 1] == off[p]:
            continue
        rec = np.fromfile(path, RECORD, count=int(off[p + 1] - off[p]), offset=int(off[p]) * RECORD.itemsize)
        parts_g.append(rec["doc"].astype(np.int64) + int(bases[t]))
        parts_b.append(rec["band"].astype(np.int64))
        parts_k.append(rec["key"])
        parts_c.append(np.full(len(rec), codes[t], np.int16))
    empty = np.concatenate(empty) if empty else np.zeros(0, np.int64)
    ek = empty.astype(np.uint64) | _EMPTY_BIT
    mine = (ek % np.uint64(partitions)).astype(np.int64) == p
    if mine.any():
        eg = empty[mine]
        ec = np.asarray(codes, np.int16)[np.searchsorted(bases, eg, side="right") - 1]
        parts_g.append(np.tile(eg, bands))
        parts_b.append(np.repeat(np.arange(bands, dtype=np.int64), len(eg)))
        parts_k.append(np.tile(ek[mine], bands))
        parts_c.append(np.tile(ec, bands))
    stats = lsh.BucketStats()
    if not parts_g:
        return np.zeros(0, np.int64), stats
    g, b, k, c = (np.concatenate(x) for x in (parts_g, parts_b, parts_k, parts_c))
    out = []
    for band in range(bands):
        sel = np.flatnonzero(b == band)
        if len(sel) < 2:
            continue
        sel = sel[np.argsort(g[sel], kind="stable")]          # global document order within the band
        packed = lsh.bucket_pairs(k[sel], c[sel], mode, max_bucket, stats)
        if len(packed):
            lo, hi = lsh.unpack_pairs(packed)
            gs = g[sel]
            out.append((gs[lo] << np.int64(32)) | gs[hi])
    pairs = np.unique(np.concatenate(out)) if out else np.zeros(0, np.int64)
    return pairs, stats


def merge_stats(total: lsh.BucketStats, part: lsh.BucketStats) -> None:
    """Add one partition's bucket counts (buckets never span partitions, so the sums are the whole's)."""
    total.buckets += part.buckets
    total.largest_bucket = max(total.largest_bucket, part.largest_bucket)
    total.capped_buckets += part.capped_buckets
    total.pairs_skipped_by_cap += part.pairs_skipped_by_cap
