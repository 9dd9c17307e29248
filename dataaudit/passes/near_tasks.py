"""The near pass's worker tasks: per-worker state, signatures and band keys of a batch, exact shingle sets,
intersection sizes of candidate pairs. Pure functions of their input (and the pool's initializer)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..shingle import hash_shingles, minhash_input, sha1_shingle_hashes
from ..text import normalize_array
from . import lsh


_STATE: dict = {}


def _init_worker(config, normalize) -> None:
    _STATE["config"] = config
    _STATE["normalize"] = normalize
    _STATE["hasher"] = lsh.MinHasher(config.num_perm, config.seed, config.scheme)
    _STATE["params"] = config.lsh_params()


def _sign_task(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signatures, band keys, shingle counts) of one batch of raw texts."""
    cfg = _STATE["config"]
    norm = normalize_array(texts, _STATE["normalize"])
    if cfg.hash == "sha1":
        sh = sha1_shingle_hashes(norm, cfg.ngram, char=cfg.char_ngrams)
    else:
        sh = hash_shingles(norm, cfg.ngram, char=cfg.char_ngrams)
    sig = _STATE["hasher"].signatures(sh.offsets, minhash_input(sh.hashes), shingle_hash=cfg.hash)
    bands, rows = _STATE["params"]
    return sig, lsh.band_keys(sig, bands, rows), sh.counts()


def _sets_task(texts: pa.Array) -> list[np.ndarray]:
    """Sorted unique 64-bit shingle hashes of each text (the exact sets verification compares)."""
    cfg = _STATE["config"]
    sh = hash_shingles(normalize_array(texts, _STATE["normalize"]), cfg.ngram, char=cfg.char_ngrams)
    return [np.unique(sh.doc(i)) for i in range(len(sh))]


def _verify_task(task: tuple[np.ndarray, np.ndarray, dict]) -> np.ndarray:
    """Intersection sizes of the shingle sets of pairs (a[k], b[k]). ``sets`` maps a document to its set, or
    (read tasks) to where its set lies: (spill file, first hash, count), read here."""
    a, b, sets = task
    if sets and isinstance(next(iter(sets.values())), tuple):
        sets = {g: np.fromfile(path, dtype=np.uint64, count=n, offset=8 * start) for g, (path, start, n) in sets.items()}
    out = np.empty(len(a), dtype=np.int64)
    for k in range(len(a)):
        out[k] = len(np.intersect1d(sets[int(a[k])], sets[int(b[k])], assume_unique=True))
    return out
