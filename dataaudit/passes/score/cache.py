"""The score cache: per-document scores keyed by (document hash, model fingerprint + tokenizer, settings)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .config import CACHE_SCHEMA


def doc_hash(text: str) -> str:
    """xxh3-128 of the text's UTF-8 bytes: the cache key of one document."""
    import xxhash

    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", errors="surrogatepass"))


def cache_key(model, settings: dict[str, Any]) -> str:
    """One directory per (model fingerprint, tokenizer, resolved settings)."""
    import xxhash

    blob = json.dumps({"model": model.fingerprint, "tokenizer": model.tokenizer_id, **settings}, sort_keys=True)
    return xxhash.xxh3_128_hexdigest(blob.encode())


def _prefix(hashes: list[str]) -> np.ndarray:
    """The first 64 bits of each hex document hash as unsigned integers (hash order = number order)."""
    if not hashes:
        return np.zeros(0, np.uint64)
    return np.frombuffer(bytes.fromhex("".join(h[:16] for h in hashes)), ">u8").astype(np.uint64)


class ScoreCache:
    """Per-document scores on disk under ``root/<key>/part-*.parquet``.

    Scores are collected with ``add`` and written as a new shard by ``flush`` (atomically: a shard is whole
    or absent) once ``every_docs`` are pending or ``every_seconds`` have passed since the last write, so a
    killed run keeps what it finished and a repeated run scores only documents whose (hash, model,
    settings) it has not seen. A shard that cannot be read is renamed to ``*.damaged`` (kept for a person to
    look at, never read again), counted in ``damaged`` and its documents are scored again.

    Memory: the shards stay on disk. The index is one sorted array of the hashes' first 64 bits with the
    shard and row of each (16 bytes a cached document, no Python object per document); ``get_many`` looks a
    whole chunk of hashes up in it at once (``np.searchsorted``, a vectorised sort-merge join), then reads
    only the shards that hold hits (the last one read is kept, as consecutive chunks tend to hit it again)
    and checks the full hash there.
    """

    def __init__(self, root: str | os.PathLike, key: str, describe: dict[str, Any] | None = None, *,
                 every_docs: int = 2048, every_seconds: float = 60.0) -> None:
        import pyarrow.parquet as pq

        self.dir = Path(root) / key
        self.shards: list[Path] = []
        self._keys = np.zeros(0, np.uint64)        # sorted; ties in shard order (the first shard wins)
        self._where = np.zeros(0, np.int64)        # shard << 32 | row
        self._last: tuple[int, pa.Table] | None = None
        self.damaged: list[str] = []
        self.every_docs, self.every_seconds = every_docs, every_seconds
        self._pending: list[dict[str, Any]] = []
        self._pending_hashes: dict[str, int] = {}
        self._stamp = time.monotonic()
        if self.dir.is_dir():
            found = []
            for p in sorted(self.dir.glob("part-*.parquet")):
                try:                 # read whole (a shard is at most every_docs rows) to find damage now
                    t = pq.read_table(p, schema=CACHE_SCHEMA)
                    if t.column("doc_hash").null_count:
                        raise ValueError("null document hash")
                except Exception:  # noqa: BLE001 - any unreadable shard: set aside, rescore its documents
                    self.damaged.append(p.name)
                    try:
                        os.replace(p, p.with_name(p.name + ".damaged"))
                    except OSError:
                        pass
                    continue
                found.append(self._shard_index(p, t.column("doc_hash").to_pylist()))
                del t
            self._merge_index(found)
        elif describe is not None:
            from ...io.atomic import write_text_atomic

            write_text_atomic(self.dir / "key.json", json.dumps(describe, indent=2, sort_keys=True))

    def _shard_index(self, path: Path, hashes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        si = len(self.shards)
        self.shards.append(path)
        return _prefix(hashes), (np.int64(si) << 32) | np.arange(len(hashes), dtype=np.int64)

    def _merge_index(self, parts: list[tuple[np.ndarray, np.ndarray]]) -> None:
        if not parts:
            return
        keys = np.concatenate([self._keys] + [k for k, _ in parts])
        where = np.concatenate([self._where] + [w for _, w in parts])
        order = np.argsort(keys, kind="stable")   # stable: an earlier shard's entry stays first
        self._keys, self._where = keys[order], where[order]

    def __len__(self) -> int:
        return len(self._keys)

    def _shard(self, si: int) -> pa.Table:
        import pyarrow.parquet as pq

        if self._last is None or self._last[0] != si:
            self._last = (si, pq.read_table(self.shards[si], schema=CACHE_SCHEMA))
        return self._last[1]

    def get_many(self, hashes: list[str]) -> list[dict[str, Any] | None]:
        """The cached scores of each document hash (written or still pending), None where there are none."""
        out: list[dict[str, Any] | None] = [None] * len(hashes)
        look = []
        for i, h in enumerate(hashes):
            j = self._pending_hashes.get(h)
            if j is not None:
                out[i] = dict(self._pending[j])
            else:
                look.append(i)
        if not look or not len(self._keys):
            return out
        q = _prefix([hashes[i] for i in look])
        lo = np.searchsorted(self._keys, q, side="left")
        hi = np.searchsorted(self._keys, q, side="right")
        cand = [(look[k], int(a), int(b)) for k, (a, b) in enumerate(zip(lo, hi)) if b > a]
        by_shard: dict[int, list[tuple[int, int]]] = {}
        for i, a, b in cand:                  # every entry under the same 64-bit prefix, first shard first
            for e in range(a, b):
                w = int(self._where[e])
                by_shard.setdefault(w >> 32, []).append((i, w & 0xFFFFFFFF))
        for si in sorted(by_shard):
            pairs = [(i, r) for i, r in by_shard[si] if out[i] is None]
            if not pairs:
                continue
            t = self._shard(si)
            rows = t.take(pa.array([r for _, r in pairs], pa.int64())).to_pylist()
            for (i, _), row in zip(pairs, rows):
                if out[i] is None and row["doc_hash"] == hashes[i]:
                    out[i] = row
        return out

    def get(self, h: str) -> dict[str, Any] | None:
        """The cached scores of document hash ``h`` (written or still pending), or None."""
        return self.get_many([h])[0]

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Keep ``rows`` (each with its ``doc_hash``) and write them when enough are pending or time passed."""
        new = [r for r in rows if r["doc_hash"] not in self._pending_hashes]
        known = self.get_many([r["doc_hash"] for r in new]) if new else []
        for r, k in zip(new, known):
            h = r["doc_hash"]
            if k is None and h not in self._pending_hashes:
                self._pending_hashes[h] = len(self._pending)
                self._pending.append({k2: r[k2] for k2 in CACHE_SCHEMA.names})
        if len(self._pending) >= self.every_docs or time.monotonic() - self._stamp >= self.every_seconds:
            self.flush()

    def put(self, rows: list[dict[str, Any]]) -> None:
        """Add ``rows`` and write them now."""
        self.add(rows)
        self.flush()

    def flush(self) -> None:
        """Write the pending scores as one new shard (atomically)."""
        from ...io.atomic import write_parquet_atomic

        self._stamp = time.monotonic()
        if not self._pending:
            return
        t = pa.Table.from_pylist(self._pending, schema=CACHE_SCHEMA)
        p = self.dir / f"part-{time.time_ns():020d}-{os.getpid()}.parquet"
        write_parquet_atomic(p, t)
        self._merge_index([self._shard_index(p, [r["doc_hash"] for r in self._pending])])
        self._pending, self._pending_hashes = [], {}
