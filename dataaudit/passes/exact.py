"""Exact pass: xxh3-128 of normalized text -> duplicate groups within each split, leaks across splits.

Memory is bounded by the batch size, not the corpus: per-document hash records are spilled to disk in
``n_buckets`` Arrow files by hash range, each bucket is grouped on its own in numpy (cut into narrower hash
ranges first when it holds more than ``max_bucket_rows`` records), and the findings are written as sorted
runs merged into the Parquet files (``exact_spill.py``).
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
import pyarrow.parquet as pq
import xxhash

from ..io.atomic import atomic_path
from ..io.prefetch import prefetch
from ..records import PassResult
from ..text import DEFAULT_NORMALIZE, NormalizeConfig, normalized_blob, normalized_digests
from . import exact_spill as spill_io
from .exact_tasks import hash_records

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

    n_buckets: int = 64          # spill files by hash range: a bucket holds ~1/n_buckets of the hash records
    max_bucket_rows: int = 262_144   # the most hash records grouped in memory at once (64 default batches of
                                 # 4,096): a larger bucket is cut by more hash bits; also the size of the sorted
                                 # runs the findings are merged from. ~100 bytes a record while grouping
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


def _digests(texts: pa.Array, normalize: NormalizeConfig, accelerated: bool = True) -> bytes:
    """16 bytes per document: normalized and hashed in one C call when it is built and an XXH3 function is
    bound (``text.normalized_digests``), else normalized in a blob and hashed document by document."""
    if accelerated:
        digests = normalized_digests(texts, normalize)
        if digests is not None:
            return digests
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


# Finding rows carry their document's ``seq`` while they are sorted on disk: it makes the sort keys total,
# so ties (a doc_id used twice) come out in the order the in-memory grouping of earlier versions gave them.
DUP_RUN = DUPLICATES_SCHEMA.append(pa.field("seq", pa.int64()))
LEAK_RUN = LEAKS_SCHEMA.append(pa.field("seq", pa.int64()))
DUP_KEYS = [("split", "ascending"), ("group_id", "ascending"), ("is_first", "descending"), ("doc_id", "ascending"),
            ("seq", "ascending")]
LEAK_KEYS = [("split", "ascending"), ("doc_id", "ascending"), ("group_id", "ascending"), ("seq", "ascending")]
FAN = 16                 # a bucket over the bound is cut into this many narrower hash ranges
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_COUNTS = ("dup_docs", "dup_bytes", "dup_groups", "leaked_docs", "leaked_bytes")


def _digest_matrix(hashes) -> np.ndarray:
    if isinstance(hashes, pa.ChunkedArray):
        hashes = hashes.combine_chunks()
    return np.frombuffer(hashes.buffers()[1], np.uint8)[hashes.offset * 16:][: len(hashes) * 16].reshape(-1, 16)


def _hex(hb: np.ndarray) -> pa.Array:
    """Lower-case hex of each 16-byte row (the group id), built without a Python object per row."""
    n = len(hb)
    out = np.empty((n, 32), np.uint8)
    out[:, 0::2], out[:, 1::2] = _HEX[hb >> 4], _HEX[hb & 15]
    return pa.StringArray.from_buffers(n, pa.py_buffer(np.arange(0, 32 * n + 1, 32, dtype=np.int32)),
                                       pa.py_buffer(out))


def _add_counts(counts: dict, name: str, **kv: int) -> None:
    c = counts.setdefault(name, dict.fromkeys(_COUNTS, 0))
    for k, v in kv.items():
        c[k] += int(v)


def _group_table(t: pa.Table, max_train_ids: int, train_split: str, counts: dict):
    """Duplicate rows and leak rows (with ``seq``) of the hash records ``t``, grouped in numpy: only the members
    of groups of two or more are taken out of ``t``; the rest is never touched row by row."""
    t = t.sort_by([("hash", "ascending"), ("seq", "ascending")])
    hb = _digest_matrix(t.column("hash"))
    n = len(hb)
    if n < 2:
        return None, None
    new = np.ones(n, bool)
    new[1:] = np.any(hb[1:] != hb[:-1], axis=1)
    gid = np.cumsum(new) - 1
    keep = np.flatnonzero(np.bincount(gid)[gid] > 1)
    if not len(keep):
        return None, None
    m = t.take(pa.array(keep))
    enc = pc.dictionary_encode(m.column("split").combine_chunks())
    names, code = enc.dictionary.to_pylist(), enc.indices.to_numpy().astype(np.int64)
    g, seq = gid[keep], m.column("seq").to_numpy()
    g = np.concatenate([[0], np.cumsum(g[1:] != g[:-1])])   # groups renumbered 0.. (ids < len(m))
    order = np.lexsort((seq, code, g))           # by group, then split, then document order
    m, g, code, seq, hbm = m.take(pa.array(order)), g[order], code[order], seq[order], hb[keep][order]
    k = len(m)
    sub_new = np.ones(k, bool)
    sub_new[1:] = (g[1:] != g[:-1]) | (code[1:] != code[:-1])
    sid = np.cumsum(sub_new) - 1
    sub_start = np.flatnonzero(sub_new)
    sub_size = np.bincount(sid)
    row_size, first_pos = sub_size[sid], sub_start[sid]
    is_first = np.arange(k) == first_pos
    nbytes = m.column("n_bytes").to_numpy()
    doc_ids, splits, gids = m.column("doc_id").combine_chunks(), m.column("split").combine_chunks(), _hex(hbm)
    d = np.flatnonzero(row_size > 1)
    dup = None
    if len(d):
        dup = pa.table([doc_ids.take(d), splits.take(d), gids.take(d), pa.array(row_size[d], pa.int64()),
                        doc_ids.take(first_pos[d]), pa.array(is_first[d]), pa.array(nbytes[d], pa.int64()),
                        pa.array(seq[d], pa.int64())], schema=DUP_RUN)
        others = d[~is_first[d]]
        for c, name in enumerate(names):
            sel = others[code[others] == c]
            _add_counts(counts, name, dup_groups=np.count_nonzero((code[sub_start] == c) & (sub_size > 1)),
                        dup_docs=len(sel), dup_bytes=nbytes[sel].sum())
    leak = None
    if train_split in names:
        tc = names.index(train_split)
        tsub = np.flatnonzero(code[sub_start] == tc)
        tcount, tstart = np.zeros(k, np.int64), np.zeros(k, np.int64)   # per group (ids < k)
        tcount[g[sub_start[tsub]]], tstart[g[sub_start[tsub]]] = sub_size[tsub], sub_start[tsub]
        rows = np.flatnonzero((code != tc) & (tcount[g] > 0))
        if len(rows):
            lg = g[rows]
            lens = np.minimum(tcount[lg], max_train_ids)
            offs = np.concatenate([[0], np.cumsum(lens)])
            idx = np.repeat(tstart[lg] - offs[:-1], lens) + np.arange(offs[-1])
            lists = pa.ListArray.from_arrays(pa.array(offs, pa.int32()), doc_ids.take(pa.array(idx, pa.int64())))
            leak = pa.table([doc_ids.take(rows), splits.take(rows), gids.take(rows),
                             pa.array(nbytes[rows], pa.int64()), pa.array(tcount[lg], pa.int64()), lists,
                             pa.array(seq[rows], pa.int64())], schema=LEAK_RUN)
            for c, name in enumerate(names):
                sel = rows[code[rows] == c]
                if len(sel):
                    _add_counts(counts, name, leaked_docs=len(sel), leaked_bytes=nbytes[sel].sum())
    return dup, leak


def _group_one_hash(path: Path, max_train_ids: int, train_split: str, counts: dict, dups, leaks) -> bool:
    """Group a file whose records all share one 64-bit prefix (one huge group: many copies of one text) in
    two streamed passes: sizes, first members and the first train ids, then the rows. False when the file
    holds more than one full hash (two texts whose xxh3-128 share 64 bits), left to ``_group_table``."""
    first_h, size, first, nb, tr_seq, tr_ids = None, {}, {}, {}, np.zeros(0, np.int64), []
    for b in spill_io.read_batches(path):
        hb = _digest_matrix(b.column(0))
        first_h = hb[0].copy() if first_h is None else first_h
        if np.any(hb != first_h):
            return False
        sp, seq, ids = b.column("split").to_pylist(), b.column("seq").to_numpy(), b.column("doc_id").to_pylist()
        nbytes = b.column("n_bytes").to_numpy()
        for i, s in enumerate(sp):
            size[s] = size.get(s, 0) + 1
            nb[s] = nb.get(s, 0) + int(nbytes[i])
            if s not in first or seq[i] < first[s][0]:
                first[s] = (int(seq[i]), ids[i], int(nbytes[i]))
        tr = [i for i, s in enumerate(sp) if s == train_split]
        if tr:
            tr_seq = np.concatenate([tr_seq, seq[tr]])
            tr_ids = tr_ids + [ids[i] for i in tr]
            o = np.argsort(tr_seq, kind="stable")[:max_train_ids]
            tr_seq, tr_ids = tr_seq[o], [tr_ids[i] for i in o]
    gid = first_h.tobytes().hex()
    n_train = size.get(train_split, 0)
    for s, z in size.items():
        if z > 1:
            _add_counts(counts, s, dup_groups=1, dup_docs=z - 1, dup_bytes=nb[s] - first[s][2])
        if n_train and s != train_split:
            _add_counts(counts, s, leaked_docs=z, leaked_bytes=nb[s])
    for b in spill_io.read_batches(path):
        sp, seq, ids = b.column("split").to_pylist(), b.column("seq").to_pylist(), b.column("doc_id").to_pylist()
        nbytes = b.column("n_bytes").to_pylist()
        d = [i for i, s in enumerate(sp) if size[s] > 1]
        dups.add(pa.table([[ids[i] for i in d], [sp[i] for i in d], [gid] * len(d), [size[sp[i]] for i in d],
                           [first[sp[i]][1] for i in d], [seq[i] == first[sp[i]][0] for i in d],
                           [nbytes[i] for i in d], [seq[i] for i in d]], schema=DUP_RUN))
        lk = [i for i, s in enumerate(sp) if n_train and s != train_split]
        leaks.add(pa.table([[ids[i] for i in lk], [sp[i] for i in lk], [gid] * len(lk), [nbytes[i] for i in lk],
                            [n_train] * len(lk), [list(tr_ids)] * len(lk), [seq[i] for i in lk]], schema=LEAK_RUN))
    return True


def group_bucket(item: tuple) -> dict:
    """Group one bucket file: a pure function of (path, rows, bound, max_train_ids, train_split, name), so
    buckets can be mapped over an engine's process pool. A bucket over ``bound`` records is cut into narrower
    hash ranges first (recursively). Finding rows go to sorted run files beside the bucket; returns their
    paths and the counts it added."""
    path, rows, bound, max_train_ids, train_split, name = item
    path = Path(path)
    counts: dict = {}
    dups = spill_io.RunWriter(path.parent, f"{name}-d", DUP_KEYS, bound)
    leaks = spill_io.RunWriter(path.parent, f"{name}-l", LEAK_KEYS, bound)

    def visit(p: Path, n: int) -> None:
        subs = spill_io.respill(p, HASH_RECORD, FAN) if n > bound else None
        if subs:
            for sp, sn, _ in subs:
                visit(sp, sn)
            return
        if n <= bound or not _group_one_hash(p, max_train_ids, train_split, counts, dups, leaks):
            d, lk = _group_table(spill_io.read_table(p), max_train_ids, train_split, counts)
            for w, t in ((dups, d), (leaks, lk)):
                if t is not None:
                    w.add(t)
        p.unlink()

    visit(path, rows)
    return {"counts": counts, "dups": [str(p) for p in dups.close()], "leaks": [str(p) for p in leaks.close()]}


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _write_sorted(path: Path, runs: list[Path], schema: pa.Schema, run_schema: pa.Schema, keys, bound: int,
                  on_chunk) -> None:
    """Merge the sorted runs into one Parquet file (zstd, atomic), chunk by chunk; ``on_chunk`` sees each."""
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
            def emit(t: pa.Table) -> None:
                seq = t.column("seq")
                t = t.drop(["seq"]).cast(schema)
                w.write_table(t)
                on_chunk(t.append_column("seq", seq))

            spill_io.merge_runs(runs, run_schema, keys, bound, emit)


def _group_local(item: tuple) -> dict:
    """``group_bucket`` of a bucket the driver spilled; one over the bound is first rewritten in canonical
    batches (``exact_tasks.canonical``), as the read tasks' buckets are, so both write the same bytes."""
    from .exact_tasks import canonical

    if item[1] > item[2]:
        canonical(item[0], HASH_RECORD)
    return group_bucket(item)


def _group_all(items: list[tuple], engine, sharded=None, tasks=None) -> Iterator[dict]:
    if sharded is not None:                      # read tasks: bucket = the tasks' files, grouped on the workers
        yield from sharded.group(tasks, group_bucket, items)
    elif engine is not None and getattr(engine, "name", "") == "local" and getattr(engine, "workers", 1) > 1 \
            and len(items) > 1:
        with engine.pool() as pool:
            yield from pool.map(_group_local, items)
    else:
        yield from map(_group_local, items)


def _hash_on_driver(sources, spill, counts: dict, normalize, engine, excerpts=None) -> None:
    seq = 0
    for split, make in sources.items():
        counts.setdefault(split, SplitCounts())
        for batch in prefetch(make()):
            records, nbytes = hash_records(batch, split, seq, normalize, hash_batch, HASH_RECORD, engine)
            if excerpts is not None:
                excerpts.add(seq, batch.column(2))
            spill.add(records)
            seq += batch.num_rows
            counts[split] += SplitCounts(docs=batch.num_rows, bytes=nbytes)   # counts add


def _excerpts_by_seq(top_groups: list[dict], top_leaks: list[dict], config: ExactConfig,
                     excerpts: spill_io.ExcerptFile) -> None:
    """The excerpt of each listed leak and group from the excerpt file (their rows carry ``seq``, removed)."""
    rows = top_leaks + top_groups
    texts = excerpts.look_up({r["seq"] for r in rows})
    for r in rows:
        r["excerpt"] = _excerpt(*texts.get(r.pop("seq"), ("", False)), config.excerpt_chars)


def _excerpt(text: str, more: bool, limit: int) -> str:
    """``text`` (the first ``limit + 1`` characters of a document) as an excerpt: whitespace collapsed, cut to
    ``limit``, and ending in "..." whenever the document goes on (``more``), even if collapsing shortened it."""
    cut = _cut(text, limit)
    if more and not cut.endswith("..."):
        cut = cut[: max(0, limit - 3)] + "..."
    return cut


def _excerpts(top_groups: list[dict], top_leaks: list[dict], config: ExactConfig, look_up) -> None:
    """The excerpt of each listed leak and group, as ``_result`` adds them (texts from ``look_up``)."""
    if not config.excerpt_chars:
        return
    wanted: dict[str, set[str]] = {}
    for r in top_leaks:
        wanted.setdefault(r["split"], set()).add(r["doc_id"])
    for g in top_groups:
        wanted.setdefault(g["split"], set()).add(g["first_doc_id"])
    n = config.excerpt_chars + 1
    texts = look_up(wanted, n + 1, look_up_texts)     # one character more: whether the text goes on

    def ex(key) -> str:
        t = texts.get(key, "")
        return _excerpt(t[:n], len(t) > n, config.excerpt_chars)

    for r in top_leaks:
        r["excerpt"] = ex((r["split"], r["doc_id"]))
    for g in top_groups:
        g["excerpt"] = ex((g["split"], g["first_doc_id"]))


def run_exact(sources: dict[str, Callable[[], Iterable[pa.RecordBatch]]], out_dir: Path, *,
              normalize: NormalizeConfig = DEFAULT_NORMALIZE, config: ExactConfig = ExactConfig(),
              top: int = 20, train_split: str = "train", engine=None) -> PassResult:
    """Hash every document of every split, then group on disk. Writes exact_duplicates/exact_leaks Parquet.

    Memory: one input batch while hashing; one bucket of at most ``config.max_bucket_rows`` records while
    grouping (a larger one is cut by more hash bits first); finding rows in sorted runs of that many rows,
    merged into the Parquet files a chunk at a time. With a local engine of several workers the buckets are
    grouped in its process pool (results in bucket order, so the output does not depend on it). With read
    tasks on (the Ray engine) the workers read, hash and spill, and group the buckets (``exact_tasks.py``):
    the same tables, byte for byte.
    """
    from ..engine.pieces import uses_read_tasks

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".exact-spill-", dir=out_dir))
    counts: dict[str, SplitCounts] = {}
    bound = config.max_bucket_rows
    sharded, failed, excerpts = None, True, None
    try:
        if uses_read_tasks(engine):
            from .exact_tasks import ShardedExact

            sharded = ShardedExact(engine, sources, tmp, n_buckets=config.n_buckets, normalize=normalize,
                                   hasher=hash_batch, schema=HASH_RECORD, prefetch=prefetch)
            split_counts, tasks = sharded.hash()
            counts = {k: SplitCounts(docs=d, bytes=b) for k, (d, b) in split_counts.items()}
            items = (bound, config.max_train_ids, train_split)
        else:
            spill = spill_io.Spill([spill_io.first_byte_range(k, config.n_buckets)
                                    for k in range(config.n_buckets)], HASH_RECORD, tmp, "b")
            if config.excerpt_chars:
                excerpts = spill_io.ExcerptFile(tmp / "excerpts.arrow", config.excerpt_chars + 1)
            _hash_on_driver(sources, spill, counts, normalize, engine, excerpts)
            tasks = None
            items = [(str(p), rows, bound, config.max_train_ids, train_split, f"g{k:03d}")
                     for k, (p, rows, _) in enumerate(spill.close())]
        dup_runs, leak_runs = [], []
        for r in _group_all(items, engine, sharded, tasks):
            for name, c in r["counts"].items():
                counts[name] = counts.get(name, SplitCounts()) + SplitCounts(**c)
            dup_runs += [Path(p) for p in r["dups"]]
            leak_runs += [Path(p) for p in r["leaks"]]
        groups = spill_io.Top([("group_size", "descending"), ("group_id", "ascending")], top)
        leaks = spill_io.Top([("n_bytes", "descending"), ("doc_id", "ascending")], top)
        n_groups = [0]

        def on_dup(t: pa.Table) -> None:
            firsts = t.filter(pc.field("is_first")).select(["split", "group_id", "group_size", "first_doc_id",
                                                             "n_bytes", "seq"])
            n_groups[0] += firsts.num_rows
            groups.add(firsts)

        _write_sorted(out_dir / "exact_duplicates.parquet", dup_runs, DUPLICATES_SCHEMA, DUP_RUN, DUP_KEYS, bound,
                      on_dup)
        _write_sorted(out_dir / "exact_leaks.parquet", leak_runs, LEAKS_SCHEMA, LEAK_RUN, LEAK_KEYS, bound,
                      leaks.add)
        top_groups, top_leaks = groups.rows(), leaks.rows()
        if excerpts is not None:
            _excerpts_by_seq(top_groups, top_leaks, config, excerpts)
        else:
            for r in top_groups + top_leaks:
                r.pop("seq", None)
            if sharded is not None:
                _excerpts(top_groups, top_leaks, config, sharded.texts)
        failed = False
    finally:
        if excerpts is not None:
            excerpts.close()
        if sharded is not None:
            sharded.close(error=failed)
        shutil.rmtree(tmp, ignore_errors=True)
    return _result(counts, top_groups, n_groups[0], top_leaks, config, normalize, train_split)


def _result(counts, top_groups: list[dict], n_groups: int, top_leaks: list[dict], config: ExactConfig,
            normalize: NormalizeConfig, train_split: str) -> PassResult:
    summary = {"splits": {k: v.to_dict() for k, v in counts.items()},
               "leaked_docs": sum(v.leaked_docs for v in counts.values()),
               "duplicate_groups": n_groups}
    return PassResult(name="exact", summary=summary,
                      findings={"leaks": top_leaks, "duplicate_groups": top_groups},
                      files={"exact_duplicates": "exact_duplicates.parquet", "exact_leaks": "exact_leaks.parquet"},
                      config={"hash": "xxh3_128", "train_split": train_split, "normalize": normalize.to_dict()})
