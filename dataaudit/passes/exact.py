"""Exact pass: xxh3-128 of normalized text -> duplicate groups within each split, leaks across splits.

Memory is bounded by the batch size, not the corpus: per-document hash records are spilled to disk in
``n_buckets`` Arrow files by the hash's first byte, and each bucket is grouped on its own.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from ..io.atomic import write_parquet_atomic
from ..io.prefetch import prefetch
from ..records import PassResult
from ..text import DEFAULT_NORMALIZE, NormalizeConfig, normalized_blob

HASH_RECORD = pa.schema([
    ("hash", pa.binary(16)), ("doc_id", pa.string()), ("split", pa.string()), ("n_bytes", pa.int64()),
    ("seq", pa.int64()),
])

DUPLICATES_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("split", pa.string()), ("group_id", pa.string()), ("group_size", pa.int64()),
    ("first_doc_id", pa.string()), ("is_first", pa.bool_()), ("n_bytes", pa.int64()),
])

LEAKS_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("split", pa.string()), ("group_id", pa.string()), ("n_bytes", pa.int64()),
    ("n_train_copies", pa.int64()), ("train_doc_ids", pa.list_(pa.string())),
])


@dataclass(frozen=True, kw_only=True)
class ExactConfig:
    """Settings of the exact pass."""

    n_buckets: int = 64          # spill files: a bucket holds ~1/n_buckets of the hash records in memory
    max_train_ids: int = 20      # train doc_ids listed per leaked document (the count is always exact)
    excerpt_chars: int = 200     # excerpt of each listed leak and duplicate group (0: none); the texts of the
                                 # listed top-k documents only are fetched, in a second look at their splits


def look_up_texts(sources: dict[str, Callable[[], Iterable[pa.RecordBatch]]], wanted: dict[str, set[str]],
                  limit: int | None = None, normalize: NormalizeConfig | None = None) -> dict[tuple[str, str], str]:
    """(split, doc_id) -> text for the ``wanted`` doc_ids of each split, read in one more streamed look at
    those splits only (stopping at the last one found). Memory holds the wanted texts, cut to ``limit``
    characters; with ``normalize``, the normalized text instead (for word counts)."""
    from ..text import normalize_array

    out: dict[tuple[str, str], str] = {}
    for split, ids in wanted.items():
        if not ids or split not in sources:
            continue
        left = set(ids)
        for batch in sources[split]():
            doc_ids = batch.column(0).to_pylist()
            hit = [i for i, d in enumerate(doc_ids) if d in left]
            if not hit:
                continue
            texts = batch.column(2).take(pa.array(hit, pa.int64()))
            if normalize is not None:
                texts = normalize_array(texts, normalize)
            for i, t in zip(hit, texts.to_pylist()):
                out[(split, doc_ids[i])] = t if limit is None or len(t) <= limit else t[: limit]
                left.discard(doc_ids[i])
            if not left:
                break
    return out


def _digests(texts: pa.Array, normalize: NormalizeConfig) -> bytes:
    h = xxhash.xxh3_128_digest
    blob, o, overrides = normalized_blob(texts, normalize)
    mv = memoryview(blob)
    parts = [h(mv[a:b]) for a, b in zip(o[:-1], o[1:])]
    for i, v in overrides.items():
        parts[i] = h(v)
    return b"".join(parts)


def hash_batch(texts: pa.Array, normalize: NormalizeConfig = DEFAULT_NORMALIZE, *,
               engine=None) -> pa.FixedSizeBinaryArray:
    """xxh3-128 digests (16 bytes, big-endian) of each normalized text.

    With an ``engine``, large batches are cut in one piece per thread and normalized on its threads: the C
    normalizer releases the GIL, so this uses the cores the reader leaves idle. The result does not depend
    on the cut.
    """
    n = len(texts)
    workers = getattr(engine, "threads", 1)
    if engine is None or n < 512 or workers == 1:
        digests = _digests(texts, normalize)
    else:
        step = -(-n // workers)
        digests = b"".join(engine.thread_map(lambda a: _digests(texts.slice(a, step), normalize),
                                             range(0, n, step)))
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(digests)])


class _Spill:
    """Append hash records to n bucket files (Arrow IPC streams); read them back one bucket at a time."""

    def __init__(self, n: int, directory: Path) -> None:
        self.n = n
        self.dir = directory
        self.writers: list[pa.ipc.RecordBatchStreamWriter | None] = [None] * n

    def add(self, batch: pa.RecordBatch) -> None:
        first = np.frombuffer(batch.column(0).buffers()[1], np.uint8)[batch.column(0).offset * 16::16][
            : batch.num_rows]
        bucket = (first.astype(np.int64) * self.n) >> 8
        order = np.argsort(bucket, kind="stable")
        sorted_b = bucket[order]
        bounds = np.searchsorted(sorted_b, np.arange(self.n + 1))
        taken = batch.take(pa.array(order))
        for k in range(self.n):
            a, b = bounds[k], bounds[k + 1]
            if a == b:
                continue
            if self.writers[k] is None:
                self.writers[k] = pa.ipc.new_stream(str(self.dir / f"b{k:03d}.arrow"), HASH_RECORD)
            self.writers[k].write_batch(taken.slice(a, b - a))

    def buckets(self) -> Iterator[pa.Table]:
        for w in self.writers:
            if w is not None:
                w.close()
        for k in range(self.n):
            p = self.dir / f"b{k:03d}.arrow"
            if p.exists():
                with pa.memory_map(str(p)) as src:
                    yield pa.ipc.open_stream(src).read_all()


@dataclass
class SplitCounts:
    docs: int = 0
    bytes: int = 0
    dup_docs: int = 0        # members of a duplicate group other than its first member
    dup_bytes: int = 0
    dup_groups: int = 0
    leaked_docs: int = 0     # documents whose normalized text also occurs in train
    leaked_bytes: int = 0

    def __add__(self, o: "SplitCounts") -> "SplitCounts":
        return SplitCounts(*(a + b for a, b in zip(vars(self).values(), vars(o).values())))

    def to_dict(self) -> dict:
        d = dict(vars(self))
        d["dup_doc_fraction"] = self.dup_docs / self.docs if self.docs else 0.0
        d["dup_byte_fraction"] = self.dup_bytes / self.bytes if self.bytes else 0.0
        d["leaked_doc_fraction"] = self.leaked_docs / self.docs if self.docs else 0.0
        d["leaked_byte_fraction"] = self.leaked_bytes / self.bytes if self.bytes else 0.0
        return d


def _group_bucket(t: pa.Table, cfg: ExactConfig, counts: dict[str, SplitCounts], train_split: str):
    """Duplicate-group and leak rows of one bucket (all records sharing a hash are in the same bucket)."""
    t = t.sort_by([("hash", "ascending"), ("seq", "ascending")])
    hashes = t.column("hash").combine_chunks()
    hb = np.frombuffer(hashes.buffers()[1], np.uint8)[hashes.offset * 16:][: len(hashes) * 16].reshape(-1, 16)
    n = len(hb)
    new = np.ones(n, bool)
    if n > 1:
        new[1:] = np.any(hb[1:] != hb[:-1], axis=1)
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, n))
    multi = starts[sizes > 1]
    msize = sizes[sizes > 1]
    if len(multi) == 0:
        return [], []
    doc_ids = t.column("doc_id").to_pylist()
    splits = t.column("split").to_pylist()
    nbytes = t.column("n_bytes").to_numpy()
    dup_rows, leak_rows = [], []
    for s, z in zip(multi.tolist(), msize.tolist()):
        gid = hb[s].tobytes().hex()
        by_split: dict[str, list[int]] = {}
        for i in range(s, s + z):
            by_split.setdefault(splits[i], []).append(i)
        for sp, members in by_split.items():
            if len(members) > 1:
                c = counts.setdefault(sp, SplitCounts())
                c.dup_groups += 1
                first = members[0]
                for i in members:
                    dup_rows.append((doc_ids[i], sp, gid, len(members), doc_ids[first], i == first,
                                     int(nbytes[i])))
                    if i != first:
                        c.dup_docs += 1
                        c.dup_bytes += int(nbytes[i])
        train = by_split.get(train_split)
        if train:
            train_ids = [doc_ids[i] for i in train[: cfg.max_train_ids]]
            for sp, members in by_split.items():
                if sp == train_split:
                    continue
                c = counts.setdefault(sp, SplitCounts())
                for i in members:
                    c.leaked_docs += 1
                    c.leaked_bytes += int(nbytes[i])
                    leak_rows.append((doc_ids[i], sp, gid, int(nbytes[i]), len(train), train_ids))
    return dup_rows, leak_rows


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rows_to_table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    cols = list(zip(*rows)) if rows else [[] for _ in schema]
    return pa.table([pa.array(list(c), f.type) for c, f in zip(cols, schema)], schema=schema)


def run_exact(sources: dict[str, Callable[[], Iterable[pa.RecordBatch]]], out_dir: Path, *,
              normalize: NormalizeConfig = DEFAULT_NORMALIZE, config: ExactConfig = ExactConfig(),
              top: int = 20, train_split: str = "train", engine=None) -> PassResult:
    """Hash every document of every split, then group on disk. Writes exact_duplicates/exact_leaks Parquet."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".exact-spill-", dir=out_dir))
    counts: dict[str, SplitCounts] = {}
    try:
        spill = _Spill(config.n_buckets, tmp)
        seq = 0
        for split, make in sources.items():
            counts.setdefault(split, SplitCounts())
            for batch in prefetch(make()):
                texts = batch.column(2)
                nb = pc.binary_length(texts)
                h = hash_batch(texts, normalize, engine=engine)
                n = batch.num_rows
                spill.add(pa.RecordBatch.from_arrays(
                    [h, batch.column(0), pa.array([split] * n, pa.string()), pc.cast(nb, pa.int64()),
                     pa.array(np.arange(seq, seq + n, dtype=np.int64))], schema=HASH_RECORD))
                seq += n
                counts[split] += SplitCounts(docs=n, bytes=int(pc.sum(nb).as_py() or 0))   # counts add
        dups, leaks = [], []
        for bucket in spill.buckets():
            d, lk = _group_bucket(bucket, config, counts, train_split)
            dups += d
            leaks += lk
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    dup_t = _rows_to_table(dups, DUPLICATES_SCHEMA).sort_by([("split", "ascending"), ("group_id", "ascending"),
                                                             ("is_first", "descending"), ("doc_id", "ascending")])
    leak_t = _rows_to_table(leaks, LEAKS_SCHEMA).sort_by([("split", "ascending"), ("doc_id", "ascending")])
    write_parquet_atomic(out_dir / "exact_duplicates.parquet", dup_t)
    write_parquet_atomic(out_dir / "exact_leaks.parquet", leak_t)
    return _result(counts, dup_t, leak_t, config, normalize, top, train_split, sources)


def _result(counts, dup_t: pa.Table, leak_t: pa.Table, config: ExactConfig, normalize: NormalizeConfig,
            top: int, train_split: str, sources=None) -> PassResult:
    groups = (dup_t.filter(pc.field("is_first")).sort_by([("group_size", "descending"), ("group_id", "ascending")])
              .select(["split", "group_id", "group_size", "first_doc_id", "n_bytes"]))
    top_groups = groups.slice(0, top).to_pylist()
    top_leaks = leak_t.sort_by([("n_bytes", "descending"), ("doc_id", "ascending")]).slice(0, top).to_pylist()
    if sources is not None and config.excerpt_chars:
        wanted: dict[str, set[str]] = {}
        for r in top_leaks:
            wanted.setdefault(r["split"], set()).add(r["doc_id"])
        for g in top_groups:
            wanted.setdefault(g["split"], set()).add(g["first_doc_id"])
        texts = look_up_texts(sources, wanted, config.excerpt_chars + 1)
        for r in top_leaks:
            r["excerpt"] = _cut(texts.get((r["split"], r["doc_id"]), ""), config.excerpt_chars)
        for g in top_groups:
            g["excerpt"] = _cut(texts.get((g["split"], g["first_doc_id"]), ""), config.excerpt_chars)
    summary = {"splits": {k: v.to_dict() for k, v in counts.items()},
               "leaked_docs": sum(v.leaked_docs for v in counts.values()),
               "duplicate_groups": groups.num_rows}
    return PassResult(name="exact", summary=summary,
                      findings={"leaks": top_leaks, "duplicate_groups": top_groups},
                      files={"exact_duplicates": "exact_duplicates.parquet", "exact_leaks": "exact_leaks.parquet"},
                      config={"hash": "xxh3_128", "train_split": train_split, "normalize": normalize.to_dict()})
