"""The containment pass on read tasks (``--engine ray``): the workers read and hash, the driver keeps hashes.

The same three steps as ``containment.py``, each a task per piece (``engine/pieces.py``: a shard the worker
reads, or a batch the driver read where a source cannot be sharded), results in piece order:

1. the small side: word counts (each split's n), then each piece's salted n-gram hashes, positions and doc
   ids (``containment_kernels.batch_parts``); the driver builds the index from them as from its own batches;
2. train: the workers get the index's lookup part (sorted distinct hashes + bitmap, no per-position
   arrays) once, in their initializer, and return per piece only the hits (n-gram id, document) and the ids
   of the documents hit (``containment_kernels.batch_hits``); the driver adds them up in order (``_Hits``);
3. excerpts: the pieces holding matched small documents are read again and only the excerpts come back.

The driver never holds text; the table is the one the local path writes (same order of documents, the same
hits, the same compaction outcome: a hit is dropped when its n-gram's final doc frequency passes the cap,
whenever the compaction runs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ..engine.pieces import Pieces
from ..text import normalize_array
from . import containment_kernels as _c

_STATE: dict = {}


def _init(cfg, normalize, lookup) -> None:
    _STATE["cfg"], _STATE["normalize"], _STATE["lookup"] = cfg, normalize, lookup


def word_counts_piece(batches) -> np.ndarray:
    parts = [_c._word_counts(normalize_array(_c._column(b, "text"), _STATE["normalize"])) for b in batches]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def parts_piece(batches, n: int) -> tuple:
    """``containment_kernels.batch_parts`` of every batch of the piece, documents numbered within the piece."""
    ids, hh, dd, pp, cc, nd = [], [], [], [], [], []
    off = 0
    for b in batches:
        i, h, d, p, c, n_doc = _c.batch_parts(b, n, _STATE["cfg"], _STATE["normalize"])
        ids.append(i), hh.append(h), dd.append(d + off), pp.append(p), cc.append(c), nd.append(n_doc)
        off += len(c)
    if not ids:
        z = np.zeros(0, np.int64)
        return pa.array([], pa.string()), np.zeros(0, np.uint64), z, z, z, z
    return (pa.concat_arrays(ids), np.concatenate(hh), np.concatenate(dd), np.concatenate(pp),
            np.concatenate(cc), np.concatenate(nd))


def hits_piece(batches) -> tuple[list, int]:
    """The piece's hits against the index (documents numbered within the piece) and its document count."""
    out, off = [], 0
    for b in batches:
        for u, d, ids in _c.batch_hits(_STATE["lookup"], b, _STATE["normalize"]):
            out.append((u, d + off, ids))
        off += b.num_rows
    return out, off


def excerpts_piece(batches, wanted: tuple) -> list[str]:
    """Excerpts of the piece's documents at local positions ``wanted[0]`` with spans ``wanted[1]``."""
    sel, spans = wanted
    texts = [_c._column(b, "text") for b in batches]
    if not texts:
        return []
    text = pa.concat_arrays([t.cast(pa.large_string()) for t in texts]).take(pa.array(sel, pa.int64()))
    norm = normalize_array(text, _STATE["normalize"]).to_pylist()
    return [_c.excerpt_of(t, s, _STATE["cfg"].excerpt_chars) for t, s in zip(norm, spans)]


class ShardedContainment:
    """The small side for ``containment._Index`` (``word_counts``, ``parts``), then train and excerpts."""

    def __init__(self, engine: Any, small: dict, large: Any, cfg, normalize, progress) -> None:
        self.engine, self.cfg, self.normalize, self.progress = engine, cfg, normalize, progress
        self.large = large
        self.runner = engine.pool(_init, (cfg, normalize, None))
        self.small = {k: Pieces(engine, self.runner, s) for k, s in small.items()}
        self.sizes: dict[str, list[int]] = {}

    def word_counts(self, split: str) -> list[np.ndarray]:
        return list(self.small[split].map(word_counts_piece))

    def parts(self, split: str, n: int):
        self.sizes[split] = []
        for part in self.small[split].map(parts_piece, n):
            self.sizes[split].append(len(part[4]))
            yield part

    def stream_large(self, index, hits):
        """Train against the index on fresh workers that hold its lookup part; ``hits.result()``."""
        self.runner.close()
        self.runner = self.engine.pool(_init, (self.cfg, self.normalize, index.lookup_only()))
        for piece_hits, n in Pieces(self.engine, self.runner, self.large).map(hits_piece):
            hits.add(piece_hits, n)
            if self.progress:
                self.progress("containment: stream train", n)
        return hits.result()

    def excerpts(self, index, spans: dict[int, list]) -> dict[int, str]:
        if not spans or self.cfg.excerpt_chars == 0:
            return {}
        wanted = np.array(sorted(spans), dtype=np.int64)
        out: dict[int, str] = {}
        base = 0
        for split, pieces in self.small.items():
            pieces.runner = self.runner
            sizes = self.sizes.get(split, [])
            bases = base + np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
            lo, hi = np.searchsorted(wanted, [bases[0], bases[-1]])
            if hi > lo:
                def select(k, _item, bases=bases):
                    i, j = np.searchsorted(wanted, [bases[k], bases[k + 1]])
                    if j == i:
                        return None
                    return wanted[i:j] - bases[k], [spans[int(d)] for d in wanted[i:j]]

                done = lo
                for texts in pieces.map(excerpts_piece, select=select, account=False):
                    for t in texts:
                        out[int(wanted[done])] = t
                        done += 1
            base = int(bases[-1])
        return out

    def close(self) -> None:
        self.runner.close()
