"""Bounded-memory machinery of the exact pass: hash-range spill files and sorted runs merged on disk.

* ``Spill`` appends hash records to files by the range of the digest's first 64 bits they fall in, so each
  file holds a contiguous, ordered slice of the hash space; ``respill`` cuts one file into ``fan`` narrower
  ranges (order preserved), which is how a bucket larger than the bound is split further.
* ``TaskSpill`` is a read task's spill: ONE Arrow IPC file holding its records grouped by bucket (in hash
  order, arrival order within a bucket), with the bucket -> record-batch index in the file's schema metadata,
  so a grouping task reads bucket ``k`` of a task as one contiguous run of batches (``read_bucket``).
* ``RunWriter`` buffers finding rows up to a bound, sorts them and writes a sorted run file;
  ``merge_runs`` merges the runs into one sorted stream (a k-way merge, Knuth TAOCP vol. 3, 5.4.1, done a
  buffer per run at a time), so a findings table of any size is written sorted without being held whole.

Files are read with plain buffered reads, never memory-mapped, so what a bucket costs shows in (and is
bounded in) the process's resident set rather than hidden in the page cache of a mapping.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..io.common import recut

READ_ROWS = 8192          # rows per record batch in run files (what a merge holds per run)


def prefix64(hashes: pa.Array) -> np.ndarray:
    """The first 8 bytes of each 16-byte digest as a big-endian unsigned integer (hash order = number order)."""
    if isinstance(hashes, pa.ChunkedArray):
        hashes = hashes.combine_chunks()
    raw = np.frombuffer(hashes.buffers()[1], np.uint8)[hashes.offset * 16:][: len(hashes) * 16]
    return raw.reshape(-1, 16)[:, :8].copy().view(">u8").ravel().astype(np.uint64)


def first_byte_range(k: int, n: int) -> tuple[int, int]:
    """The 64-bit prefix range of bucket ``k`` of ``n`` when buckets are cut by the first byte (``b*n >> 8``)."""
    lo_v = -(-k * 256 // n)
    hi_v = -(-(k + 1) * 256 // n) - 1
    return lo_v << 56, (hi_v << 56) | ((1 << 56) - 1)


def read_batches(path: Path) -> Iterator[pa.RecordBatch]:
    with pa.OSFile(str(path), "rb") as f:
        yield from pa.ipc.open_stream(f)


def read_table(path: Path) -> pa.Table:
    with pa.OSFile(str(path), "rb") as f:
        return pa.ipc.open_stream(f).read_all()


FLUSH_ROWS = 65536        # records a Spill gathers before it sorts them into its files (~4 MB of records)


class _Cutter:
    """Records gathered up to ``flush_rows``, then cut by which of ``ranges`` (sorted, contiguous) their hash
    prefix falls in, in one stable sort (arrival order kept within each range); ``rows`` counts per range."""

    def __init__(self, ranges: list[tuple[int, int]], schema: pa.Schema, flush_rows: int) -> None:
        self.ranges, self.schema = ranges, schema
        self.los = np.array([r[0] for r in ranges], np.uint64)
        self.flush_rows = max(1, flush_rows)
        self.rows = [0] * len(ranges)
        self.pending: list[pa.RecordBatch] = []
        self.n_pending = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.pending.append(batch)
            self.n_pending += batch.num_rows
            if self.n_pending >= self.flush_rows:
                self._flush()

    def _flush(self) -> None:
        raise NotImplementedError

    def _cut(self) -> list[pa.Table | None]:
        """The pending records cut by range (stable: arrival order kept within each)."""
        t = pa.Table.from_batches(self.pending, schema=self.schema)
        self.pending, self.n_pending = [], 0
        bucket = np.searchsorted(self.los, prefix64(t.column(0)), side="right") - 1
        order = np.argsort(bucket, kind="stable")
        bounds = np.searchsorted(bucket[order], np.arange(len(self.ranges) + 1))
        taken = t.take(pa.array(order)).combine_chunks()
        out: list[pa.Table | None] = []
        for k in range(len(self.ranges)):
            a, b = int(bounds[k]), int(bounds[k + 1])
            out.append(taken.slice(a, b - a) if b > a else None)
            self.rows[k] += b - a
        return out


class Spill(_Cutter):
    """Append record batches to ``n`` files by which of ``ranges`` (sorted, contiguous) the prefix falls in.

    Records are gathered up to ``flush_rows`` and then cut by range in one sort, so each file gets one
    batch per flush rather than a few rows per input batch (64 files x a 4,096-row batch made ~64-row IPC
    messages, whose per-message cost dominated). A file's records keep their arrival order either way.
    """

    def __init__(self, ranges: list[tuple[int, int]], schema: pa.Schema, directory: Path, name: str,
                 flush_rows: int = FLUSH_ROWS) -> None:
        super().__init__(ranges, schema, flush_rows)
        self.paths = [Path(directory) / f"{name}-{k:03d}.arrow" for k in range(len(ranges))]
        self.writers: list[pa.ipc.RecordBatchStreamWriter | None] = [None] * len(ranges)

    def _flush(self) -> None:
        if not self.pending:
            return
        for k, part in enumerate(self._cut()):
            if part is None:
                continue
            if self.writers[k] is None:
                self.writers[k] = pa.ipc.new_stream(str(self.paths[k]), self.schema)
            self.writers[k].write_table(part)

    def close(self) -> list[tuple[Path, int, tuple[int, int]]]:
        """(path, rows, prefix range) of each non-empty file, in hash order."""
        self._flush()
        for w in self.writers:
            if w is not None:
                w.close()
        return [(p, n, r) for p, n, r in zip(self.paths, self.rows, self.ranges) if n]


def rechunk(batches, rows: int = READ_ROWS) -> Iterator[pa.RecordBatch]:
    """The rows of ``batches`` in record batches of exactly ``rows`` rows (the last one shorter): ``recut``."""
    for t in recut(batches, rows):
        yield t.to_batches()[0]


INDEX_KEY = b"dataaudit.buckets"   # schema metadata of a task spill file: its bucket -> batches index


class TaskSpill(_Cutter):
    """One read task's hash records in ONE Arrow IPC file, grouped by bucket, plus its offsets index.

    The file holds bucket 0's records, then bucket 1's, ..., each in arrival order and in batches of
    ``READ_ROWS`` rows (``rechunk``); the schema metadata (``INDEX_KEY``) holds, as JSON, the cumulative
    batch and row offsets per bucket (``batches[k]:batches[k+1]`` are bucket ``k``'s batches). An Arrow IPC
    *file* (not a stream) because its footer locates every batch, so reading bucket ``k`` is one seek to its
    first batch and a sequential read of its own bytes only (``read_bucket``), without mapping the file; the
    index sits in the schema, so it is one self-describing file and no sidecar (the band keys' ``write_keys``
    keeps its offsets in a second file). A Parquet file with a row group per bucket would do the same but
    pays encoding and decoding for records that are read exactly once.

    Memory: records are gathered up to ``flush_rows``; a task that never reaches it writes its file from
    memory in one sort. A larger one appends each flush, cut by bucket, to a temporary IPC file in arrival
    order, and at ``close`` copies it bucket by bucket (``get_batch`` of that bucket's batches) into the final
    file: one batch held at a time. The final file is written under a temporary name and renamed, and its
    bytes depend on the records only (not on the flush cuts), so a retried task rewrites the same file.
    """

    def __init__(self, ranges: list[tuple[int, int]], schema: pa.Schema, path: Path,
                 flush_rows: int = FLUSH_ROWS) -> None:
        super().__init__(ranges, schema, flush_rows)
        self.path = Path(path)
        self.tmp = self.path.with_name(f"{self.path.name}.in{os.getpid()}")
        self.writer = None
        self.where: list[list[int]] = [[] for _ in ranges]    # batches of the temporary file, per bucket
        self.n_batches = 0

    def _flush(self) -> None:
        if not self.pending:
            return
        if self.writer is None:
            self.writer = pa.ipc.new_file(str(self.tmp), self.schema)
        for k, part in enumerate(self._cut()):
            if part is not None:
                for b in part.to_batches():
                    self.writer.write_batch(b)
                    self.where[k].append(self.n_batches)
                    self.n_batches += 1

    def close(self) -> dict[int, int]:
        """Write the task's file; {bucket: rows} of its non-empty buckets (no file when it has none)."""
        if self.writer is None:                  # everything is still in memory: one sort, no temporary file
            parts = self._cut() if self.pending else [None] * len(self.ranges)
            sources = [[] if p is None else p.to_batches() for p in parts]
            reader = None
        else:
            self._flush()
            self.writer.close()
            self.writer = None
            f = pa.OSFile(str(self.tmp), "rb")
            reader = pa.ipc.open_file(f)
            sources = [(reader.get_batch(i) for i in idx) for idx in self.where]
        try:
            if any(self.rows):
                self._write(sources)
        finally:
            if reader is not None:
                f.close()
                os.unlink(self.tmp)
        return {k: n for k, n in enumerate(self.rows) if n}

    def abort(self) -> None:
        """A task that fails before ``close``: close and remove the temporary file (a long-lived worker would
        otherwise keep it open until the object is collected)."""
        if self.writer is not None:
            try:
                self.writer.close()
            finally:
                self.writer = None
        self.tmp.unlink(missing_ok=True)

    def _write(self, sources) -> None:
        rows = np.concatenate([[0], np.cumsum(self.rows)]).astype(np.int64)
        batches = np.concatenate([[0], np.cumsum([-(-n // READ_ROWS) for n in self.rows])]).astype(np.int64)
        index = json.dumps({"batches": batches.tolist(), "rows": rows.tolist()}, separators=(",", ":"))
        schema = self.schema.with_metadata({INDEX_KEY: index.encode()})
        part = self.path.with_name(f"{self.path.name}.part{os.getpid()}")
        try:
            with pa.ipc.new_file(str(part), schema) as w:
                for src in sources:
                    for b in rechunk(src):
                        w.write_batch(pa.RecordBatch.from_arrays([_tight(c) for c in b.columns], schema=schema))
            os.replace(part, self.path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise


def _tight(a: pa.Array) -> pa.Array:
    """``a`` with no slice offset and a string values buffer cut to its used length: the IPC writer writes
    such buffers as they are (offset and allocation slack included), so the file's bytes would otherwise
    depend on how the records were sliced and taken on the way in, not on the records only."""
    if a.offset:
        a = pa.concat_arrays([a])
    if pa.types.is_string(a.type) or pa.types.is_large_string(a.type):
        validity, offsets, values = a.buffers()
        width = 8 if pa.types.is_large_string(a.type) else 4
        end = int(np.frombuffer(offsets, np.int64 if width == 8 else np.int32, len(a) + 1)[-1])
        a = pa.Array.from_buffers(a.type, len(a), [validity, offsets[: (len(a) + 1) * width], values[:end]],
                                  null_count=a.null_count)
    return a


def bucket_index(path: Path) -> dict:
    """A task spill file's index: {"batches": [...], "rows": [...]}, cumulative offsets per bucket."""
    with pa.OSFile(str(path), "rb") as f:
        return json.loads(pa.ipc.open_file(f).schema.metadata[INDEX_KEY])


def read_bucket(path: Path, k: int, schema: pa.Schema | None = None) -> Iterator[pa.RecordBatch]:
    """Bucket ``k``'s records of a task spill file, in order (``schema``: the batches' schema, metadata-free)."""
    with pa.OSFile(str(path), "rb") as f:
        reader = pa.ipc.open_file(f)
        index = json.loads(reader.schema.metadata[INDEX_KEY])
        a, b = index["batches"][k], index["batches"][k + 1]
        for i in range(a, b):
            batch = reader.get_batch(i)
            yield batch if schema is None else pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def respill(path: Path, schema: pa.Schema, fan: int) -> list[tuple[Path, int, tuple[int, int]]] | None:
    """Cut ``path`` into up to ``fan`` files over the range of prefixes it actually holds (so each cut
    separates at least its smallest and largest prefix); None when every record has the same prefix."""
    lo = hi = None
    for b in read_batches(path):
        p = prefix64(b.column(0))
        if len(p):
            lo = int(p.min()) if lo is None else min(lo, int(p.min()))
            hi = int(p.max()) if hi is None else max(hi, int(p.max()))
    if lo is None or lo == hi:
        return None
    width = (hi - lo) // fan + 1
    ranges = [(lo + j * width, min(hi, lo + (j + 1) * width - 1)) for j in range(fan) if lo + j * width <= hi]
    spill = Spill(ranges, schema, path.parent, path.stem)
    for b in read_batches(path):
        spill.add(b)
    out = spill.close()
    path.unlink()
    return out


class RunWriter:
    """Collect finding tables; every ``bound`` rows, sort by ``keys`` and write a sorted run file."""

    def __init__(self, directory: Path, name: str, keys: list[tuple[str, str]], bound: int) -> None:
        self.dir, self.name, self.keys, self.bound = Path(directory), name, keys, max(1, bound)
        self.buf: list[pa.Table] = []
        self.n = 0
        self.paths: list[Path] = []

    def add(self, t: pa.Table) -> None:
        if t.num_rows:
            self.buf.append(t)
            self.n += t.num_rows
            if self.n >= self.bound:
                self._write()

    def _write(self) -> None:
        if not self.buf:
            return
        t = pa.concat_tables(self.buf).sort_by(self.keys)
        p = self.dir / f"{self.name}-{len(self.paths):05d}.arrow"
        with pa.ipc.new_stream(str(p), t.schema) as w:
            for b in t.to_batches(max_chunksize=READ_ROWS):
                w.write_batch(b)
        self.paths.append(p)
        self.buf, self.n = [], 0

    def close(self) -> list[Path]:
        self._write()
        return self.paths


class ExcerptFile:
    """The first ``chars`` characters of every document, by ``seq``, in one Arrow file written while hashing.

    The listed groups' first members and the listed leaks are found anywhere in the input; looking their
    texts up in it again re-read (and re-decoded) nearly all of it. This file is written in ``seq`` order and
    read once at the end, a batch at a time, for the wanted positions only: a few hundred bytes a document
    instead of a second pass over the corpus.
    """

    SCHEMA = pa.schema([("seq", pa.int64()), ("excerpt", pa.large_string()), ("more", pa.bool_())])

    def __init__(self, path: Path, chars: int) -> None:
        self.path, self.chars = path, chars
        self.writer = pa.ipc.new_stream(str(path), self.SCHEMA)

    def add(self, seq0: int, texts: pa.Array) -> None:
        cut = pc.utf8_slice_codeunits(texts, 0, self.chars).cast(pa.large_string())
        more = pc.greater(pc.utf8_length(texts), self.chars)
        self.writer.write_batch(pa.RecordBatch.from_arrays(
            [pa.array(np.arange(seq0, seq0 + len(texts), dtype=np.int64)), cut, more], schema=self.SCHEMA))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def look_up(self, wanted: set[int]) -> dict[int, tuple[str, bool]]:
        """seq -> (the text's first ``chars`` characters, whether the text goes on past them)."""
        self.close()
        out: dict[int, str] = {}
        want = np.array(sorted(wanted), np.int64)
        if not len(want):
            return out
        for b in read_batches(self.path):
            seq = b.column(0).to_numpy()
            if not len(seq):
                continue
            sel = want[(want >= seq[0]) & (want <= seq[-1])]
            if len(sel):
                texts, more = b.column(1), b.column(2)
                for s_ in sel.tolist():
                    i = s_ - int(seq[0])
                    out[s_] = (texts[i].as_py() or "", bool(more[i].as_py()))
            if want[-1] <= seq[-1]:
                break
        return out


class Top:
    """The first ``k`` rows by ``keys`` of a stream of sorted chunks; of equal rows the earlier stays (as a
    stable sort of the whole table would keep them)."""

    def __init__(self, keys: list[tuple[str, str]], k: int) -> None:
        self.keys, self.k, self.t = keys, k, None

    def add(self, t: pa.Table) -> None:
        t = t if self.t is None else pa.concat_tables([self.t, t])
        self.t = t.sort_by(self.keys).slice(0, self.k)

    def rows(self) -> list[dict]:
        return self.t.to_pylist() if self.t is not None else []


FAN_IN = 32              # runs merged at once; more are merged in passes (a merge holds a batch per run)


def _kway(paths: list[Path], keys: list[tuple[str, str]], emit: Callable[[pa.Table], None]) -> None:
    files = [pa.OSFile(str(p), "rb") for p in paths]
    readers = [pa.ipc.open_stream(f) for f in files]
    bufs: list[pa.Table | None] = [None] * len(paths)

    def refill(i: int) -> None:
        try:
            bufs[i] = pa.Table.from_batches([readers[i].read_next_batch()])
        except StopIteration:
            bufs[i] = None

    for i in range(len(paths)):
        refill(i)
    while True:
        live = [i for i in range(len(paths)) if bufs[i] is not None]
        if not live:
            break
        tagged = [bufs[i].append_column("_run", pa.array(np.full(bufs[i].num_rows, i, np.int32)))
                  .append_column("_pos", pa.array(np.arange(bufs[i].num_rows, dtype=np.int64))) for i in live]
        lasts = pa.concat_tables([t.slice(t.num_rows - 1) for t in tagged]).sort_by(keys)
        j, jpos = lasts["_run"][0].as_py(), lasts["_pos"][0].as_py()
        allt = pa.concat_tables(tagged).sort_by(keys)
        run, pos = allt["_run"].to_numpy(), allt["_pos"].to_numpy()
        cut = int(np.flatnonzero((run == j) & (pos == jpos))[0]) + 1   # every row up to run j's last is final
        emit(allt.slice(0, cut).drop(["_run", "_pos"]))
        rest, rrun = allt.slice(cut), run[cut:]
        for i in live:
            sel = np.flatnonzero(rrun == i)
            bufs[i] = rest.take(pa.array(sel)).drop(["_run", "_pos"]) if len(sel) else None
            if bufs[i] is None:
                refill(i)
    for f in files:
        f.close()


def merge_runs(paths: list[Path], schema, keys: list[tuple[str, str]], bound: int,
               emit: Callable[[pa.Table], None]) -> None:
    """Call ``emit`` with the rows of all runs in ``keys`` order, a sorted chunk at a time. ``keys`` must be
    total (no two rows equal), which the tie-breaking ``seq`` column makes them."""
    total = 0
    for p in paths:
        with pa.OSFile(str(p), "rb") as f:
            total += sum(b.num_rows for b in pa.ipc.open_stream(f))
    if total <= bound:                       # small: one sort in memory
        if paths:
            emit(pa.concat_tables([read_table(p) for p in paths]).sort_by(keys))
        return
    level = 0
    while len(paths) > FAN_IN:               # merge passes of FAN_IN runs each into longer runs
        merged = []
        for a in range(0, len(paths), FAN_IN):
            group = paths[a: a + FAN_IN]
            out = group[0].with_name(f"{group[0].stem}-m{level}.arrow")
            writer: list = []

            def to_run(t: pa.Table, writer=writer, out=out) -> None:
                if not writer:
                    writer.append(pa.ipc.new_stream(str(out), t.schema))
                for b in t.to_batches(max_chunksize=READ_ROWS):
                    writer[0].write_batch(b)

            _kway(group, keys, to_run)
            if writer:
                writer[0].close()
                merged.append(out)
            remove(group)
        paths, level = merged, level + 1
    _kway(paths, keys, emit)


def remove(paths) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
