"""The score cache: per-document scores keyed by (document hash, model fingerprint + tokenizer, settings)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

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


class ScoreCache:
    """Per-document scores on disk under ``root/<key>/part-*.parquet``.

    Scores are collected with ``add`` and written as a new shard by ``flush`` (atomically: a shard is whole
    or absent) once ``every_docs`` are pending or ``every_seconds`` have passed since the last write, so a
    killed run keeps what it finished and a repeated run scores only documents whose (hash, model,
    settings) it has not seen. A shard that cannot be read is renamed to ``*.damaged`` (kept for a person to
    look at, never read again), counted in ``damaged`` and its documents are scored again.
    """

    def __init__(self, root: str | os.PathLike, key: str, describe: dict[str, Any] | None = None, *,
                 every_docs: int = 2048, every_seconds: float = 60.0) -> None:
        import pyarrow.parquet as pq

        self.dir = Path(root) / key
        self.index: dict[str, tuple[int, int]] = {}
        self.tables: list[pa.Table] = []
        self.damaged: list[str] = []
        self.every_docs, self.every_seconds = every_docs, every_seconds
        self._pending: list[dict[str, Any]] = []
        self._pending_hashes: dict[str, int] = {}
        self._last = time.monotonic()
        if self.dir.is_dir():
            for p in sorted(self.dir.glob("part-*.parquet")):
                try:
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
                self._add(t)
        elif describe is not None:
            from ...io.atomic import write_text_atomic

            write_text_atomic(self.dir / "key.json", json.dumps(describe, indent=2, sort_keys=True))

    def _add(self, t: pa.Table) -> None:
        ti = len(self.tables)
        self.tables.append(t)
        for r, h in enumerate(t.column("doc_hash").to_pylist()):
            self.index.setdefault(h, (ti, r))

    def get(self, h: str) -> dict[str, Any] | None:
        """The cached scores of document hash ``h`` (written or still pending), or None."""
        j = self._pending_hashes.get(h)
        if j is not None:
            return dict(self._pending[j])
        loc = self.index.get(h)
        if loc is None:
            return None
        t = self.tables[loc[0]]
        return {name: t.column(name)[loc[1]].as_py() for name in CACHE_SCHEMA.names}

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Keep ``rows`` (each with its ``doc_hash``) and write them when enough are pending or time passed."""
        for r in rows:
            h = r["doc_hash"]
            if h not in self.index and h not in self._pending_hashes:
                self._pending_hashes[h] = len(self._pending)
                self._pending.append({k: r[k] for k in CACHE_SCHEMA.names})
        if len(self._pending) >= self.every_docs or time.monotonic() - self._last >= self.every_seconds:
            self.flush()

    def put(self, rows: list[dict[str, Any]]) -> None:
        """Add ``rows`` and write them now."""
        self.add(rows)
        self.flush()

    def flush(self) -> None:
        """Write the pending scores as one new shard (atomically)."""
        from ...io.atomic import write_parquet_atomic

        self._last = time.monotonic()
        if not self._pending:
            return
        t = pa.Table.from_pylist(self._pending, schema=CACHE_SCHEMA)
        write_parquet_atomic(self.dir / f"part-{time.time_ns():020d}-{os.getpid()}.parquet", t)
        self._pending, self._pending_hashes = [], {}
        self._add(t)
