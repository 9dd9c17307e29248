"""The exact pass on read tasks (``--engine ray``): the workers read, hash and spill; buckets are grouped as tasks.

1. **Hashing**, one task per piece (``engine/pieces.py``: a shard the worker reads with our readers): the
   worker normalizes and hashes its documents (``exact.hash_batch``) and writes the hash records to ONE
   file of its own, ``t{task}.arrow`` (``exact_spill.TaskSpill``: the records grouped by hash-range bucket,
   with a bucket -> batches index), in the spill directory (``.exact-spill-*`` inside the output directory;
   on a cluster that directory must be on storage every worker can write and read, e.g. ``--out`` on a
   shared filesystem). A record's ``seq`` is its position *within the task*; the task returns only its
   document and byte counts, its file's path and its rows per bucket. Sources that cannot be sharded (a
   Table, a ``datasets`` object, eval files, a directory of .txt files) are read and hashed by the driver, as
   one more "task" with its own file, in its place in the order.
2. **Grouping**, one task per bucket: bucket ``k`` is the union of bucket ``k``'s slice of every task's file
   (``exact_spill.read_bucket``), concatenated in task order with each task's ``seq`` shifted by the
   documents of the tasks before it (cumulative counts in plan order, never completion order). That is
   exactly the local bucket file's records in the local order (``seq`` = the document's position over all
   splits), so ``exact.group_bucket`` on it gives the local finding rows, and every output byte is the same.
3. **Excerpts** of the listed leaks and groups: the pieces are read again on the workers and only the wanted
   texts come back (the first occurrence of an id, in piece order, as ``exact.look_up_texts`` takes it).

The driver holds counts and file paths only: no text, no hash records, no doc ids. This module does not import
``exact.py`` (which imports it): the pass hands in its hasher, record schema and bucket grouper.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..engine.pieces import Pieces
from . import exact_spill as spill_io


def hash_records(batch: pa.RecordBatch, split: str, seq0: int, normalize, hasher: Callable, schema: pa.Schema,
                 engine: Any = None) -> tuple[pa.RecordBatch, int]:
    """The hash records of one DOC_SCHEMA batch (digest, doc_id, split, n_bytes, seq from ``seq0``) and its
    text bytes: the one place both the driver's and the read tasks' hashing build them."""
    texts = batch.column(2)
    nb = pc.binary_length(texts)
    n = batch.num_rows
    records = pa.RecordBatch.from_arrays(
        [hasher(texts, normalize, engine=engine), batch.column(0), pa.array([split] * n, pa.string()),
         pc.cast(nb, pa.int64()), pa.array(np.arange(seq0, seq0 + n, dtype=np.int64))], schema=schema)
    return records, int(pc.sum(nb).as_py() or 0)


def spill_batches(batches, split: str, spill_dir: str, n_buckets: int, normalize, hasher: Callable,
                  schema: pa.Schema, task: int, engine: Any = None) -> dict:
    """Hash the documents of ``batches`` into this task's one spill file; ``seq`` counts from 0 here.
    ``buckets``: {bucket: rows} of the file's non-empty buckets (no file when there are none)."""
    ranges = [spill_io.first_byte_range(k, n_buckets) for k in range(n_buckets)]
    path = Path(spill_dir) / f"t{task:06d}.arrow"
    spill = spill_io.TaskSpill(ranges, schema, path)
    seq = total = 0
    try:
        for batch in batches:
            records, nbytes = hash_records(batch, split, seq, normalize, hasher, schema, engine)
            spill.add(records)
            seq += batch.num_rows
            total += nbytes
        buckets = spill.close()
    except BaseException:
        spill.abort()
        raise
    return {"docs": seq, "bytes": total, "file": str(path) if buckets else None, "buckets": buckets}


def _hash_piece(batches, split, spill_dir, n_buckets, normalize, hasher, schema, task) -> dict:
    return spill_batches(batches, split, spill_dir, n_buckets, normalize, hasher, schema, task)


CHUNK = spill_io.READ_ROWS     # rows per batch of a bucket file about to be grouped (see ``canonical``)
_chunks = spill_io.rechunk     # the rows of some batches in batches of exactly CHUNK rows (the last shorter)


def canonical(path: str, schema: pa.Schema) -> None:
    """Rewrite a bucket file in batches of ``CHUNK`` rows. A bucket over the grouping bound that holds one
    huge group is grouped batch by batch (``exact._group_one_hash``), so its batch cuts reach the runs and
    the findings files' row groups; with canonical cuts they depend on the records only, not on how the
    reading was cut into batches (whole files on the driver, shards on the workers)."""
    tmp = f"{path}.c"
    with pa.ipc.new_stream(tmp, schema) as w:
        for b in _chunks(spill_io.read_batches(Path(path))):
            w.write_batch(b)
    os.replace(tmp, path)


def group_merged(item: tuple) -> dict:
    """One bucket ``k``: concatenate bucket ``k`` of the tasks' files (in task order, ``seq`` shifted by each
    task's base) into ``out`` in canonical batches, then ``group(out, rows, *rest)``. The task files are left
    in place (the driver removes one once every bucket it holds is grouped), so a task Ray reruns after its
    worker died finds them."""
    parts, k, out, schema, group, rest = item
    col = schema.get_field_index("seq")
    rows = 0

    def shifted():
        for path, base in parts:
            for b in spill_io.read_bucket(Path(path), k, schema):
                if base:
                    b = b.set_column(col, schema.field(col), pc.add(b.column(col), pa.scalar(base, pa.int64())))
                yield b

    tmp = f"{out}.part{os.getpid()}"
    with pa.ipc.new_stream(tmp, schema) as w:
        for b in _chunks(shifted()):
            w.write_batch(b)
            rows += b.num_rows
    os.replace(tmp, out)
    return group((str(out), rows, *rest))


def _texts_piece(batches, wanted: frozenset, limit: int | None) -> list[tuple[str, str]]:
    """(doc_id, text cut to ``limit``) of the piece's documents whose id is wanted, first occurrence only."""
    out, seen = [], set()
    for b in batches:
        ids = b.column(0).to_pylist()
        hit = [i for i, d in enumerate(ids) if d in wanted and d not in seen]
        if not hit:
            continue
        for i, t in zip(hit, b.column(2).take(pa.array(hit, pa.int64())).to_pylist()):
            seen.add(ids[i])
            out.append((ids[i], t if limit is None or len(t) <= limit else t[:limit]))
    return out


class ShardedExact:
    """Hashing and grouping of the exact pass on read tasks; one pool of workers for all three steps."""

    def __init__(self, engine: Any, sources: dict, spill_dir: Path, *, n_buckets: int, normalize,
                 hasher: Callable, schema: pa.Schema, prefetch: Callable) -> None:
        self.engine, self.sources, self.n_buckets, self.normalize = engine, sources, n_buckets, normalize
        self.hasher, self.schema, self.prefetch = hasher, schema, prefetch
        self.spill = Path(spill_dir).resolve()        # workers run in their own directories
        self.runner = engine.pool(None, ())
        self.pieces: dict[str, Pieces] = {}

    def hash(self) -> tuple[dict[str, tuple[int, int]], list[dict]]:
        """Per split (documents, text bytes), and per task (in plan order) its result, with ``base`` added."""
        counts: dict[str, tuple[int, int]] = {}
        tasks: list[dict] = []
        base = 0
        for split, src in self.sources.items():
            pieces = Pieces(self.engine, self.runner, src)
            self.pieces[split] = pieces
            if pieces.shards is None:                 # the driver reads this source, as before
                results = iter([spill_batches(self.prefetch(src()), split, str(self.spill), self.n_buckets,
                                              self.normalize, self.hasher, self.schema, len(tasks),
                                              self.engine)])
            else:
                first = len(tasks)
                results = pieces.map(_hash_piece, split, str(self.spill), self.n_buckets, self.normalize,
                                     self.hasher, self.schema, select=lambda k, _item, first=first: first + k)
            docs = nbytes = 0
            for r in results:
                r["base"] = base
                base += r["docs"]
                docs += r["docs"]
                nbytes += r["bytes"]
                tasks.append(r)
            counts[split] = (docs, nbytes)
        return counts, tasks

    def group(self, tasks: list[dict], group: Callable, rest: tuple):
        """``group`` of every non-empty bucket, mapped over the workers; results in bucket order. A task's
        file is removed once the last bucket it holds is grouped (a grouping task reads the files that hold its
        bucket)."""
        parts: dict[int, list] = {}
        done_after: dict[int, list] = {}
        for t in tasks:                               # plan order: seq order inside every bucket
            if t["file"] is None:
                continue
            for k in t["buckets"]:
                parts.setdefault(int(k), []).append((t["file"], t["base"]))
            done_after.setdefault(max(int(k) for k in t["buckets"]), []).append(t["file"])
        keys = sorted(parts)
        items = ((parts[k], k, self.spill / f"b-{k:03d}.arrow", self.schema, group, (*rest, f"g{k:03d}"))
                 for k in keys)
        for k, r in zip(keys, self.runner.map(group_merged, items)):
            spill_io.remove(done_after.pop(k, ()))     # bucket k is in: files whose last bucket it was can go
            yield r

    def texts(self, wanted: dict[str, set[str]], limit: int | None, look_up: Callable) -> dict:
        """(split, doc_id) -> text of the wanted ids; unsharded splits through ``look_up`` on the driver."""
        out: dict[tuple[str, str], str] = {}
        for split, ids in wanted.items():
            pieces = self.pieces.get(split)
            if not ids or pieces is None:
                continue
            if pieces.shards is None:
                out.update(look_up({split: self.sources[split]}, {split: ids}, limit))
                continue
            for found in pieces.map(_texts_piece, frozenset(ids), limit, account=False):
                for d, t in found:
                    out.setdefault((split, d), t)
        return out

    def close(self, error: bool = False) -> None:
        self.runner.close(error=error)
