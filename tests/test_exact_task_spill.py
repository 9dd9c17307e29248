"""The exact pass's read tasks write ONE spill file each (``exact_spill.TaskSpill``: records grouped by bucket,
the bucket -> batches index in the schema metadata), and the grouping task of bucket ``k`` reads bucket ``k``'s
slice of every file (``read_bucket``). Checked here: the slices are the records the per-bucket ``Spill`` files
held, in the same order; the file's bytes depend on the records only (not on the flush cuts), so a task that
is killed and rerun, or run twice, leaves the same file; one file per task in the spill directory; and the
pass's tables, summary and excerpts equal the driver path's at grouping bounds 262,144 and 16.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataaudit.config import ReadConfig
from dataaudit.passes import exact_spill as spill_io
from dataaudit.passes import exact_tasks

READ = ReadConfig(batch_size=50)
SHARD = 5000           # bytes per shard: many read tasks over this small corpus


def _records(n: int, seed: int = 0, dup_every: int = 7) -> pa.Table:
    """``n`` HASH_RECORD-shaped rows with random digests (every ``dup_every``-th repeats an earlier one)."""
    from dataaudit.passes.exact import HASH_RECORD

    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    for i in range(dup_every, n, dup_every):
        raw[i] = raw[int(rng.integers(i))]
    digests = pa.array([bytes(r) for r in raw], HASH_RECORD.field(0).type)
    return pa.table([digests, pa.array([f"d{i}" for i in range(n)]), pa.array(["train"] * n),
                     pa.array(rng.integers(1, 500, n), pa.int64()), pa.array(np.arange(n, dtype=np.int64))],
                    schema=HASH_RECORD)


def _ranges(n=64):
    return [spill_io.first_byte_range(k, n) for k in range(n)]


def _task_file(t: pa.Table, path: Path, flush_rows: int, cut: int = 33) -> dict:
    spill = spill_io.TaskSpill(_ranges(), t.schema, path, flush_rows=flush_rows)
    for b in t.to_batches(max_chunksize=cut):
        spill.add(b)
    return spill.close()


@pytest.mark.parametrize("flush_rows", [1, 50, 4000, 65_536])
def test_bucket_slices_are_the_bucket_files_records(tmp_path, flush_rows):
    """Bucket k's slice of the one file = file k of the per-bucket ``Spill``, row for row and in order; the
    index's row offsets agree; the file's bytes are the same for every flush size; no temporary file stays."""
    t = _records(20_000)
    old = spill_io.Spill(_ranges(), t.schema, tmp_path, "b")
    for b in t.to_batches(max_chunksize=33):
        old.add(b)
    want = {k: pa.concat_tables([spill_io.read_table(p)]) for k, (p, _, r) in
            ((_ranges().index(r), (p, n, r)) for p, n, r in old.close())}
    path = tmp_path / "t000000.arrow"
    buckets = _task_file(t, path, flush_rows)
    assert buckets == {k: v.num_rows for k, v in want.items()} and len(buckets) == 64
    index = spill_io.bucket_index(path)
    assert np.diff(index["rows"]).tolist() == [buckets.get(k, 0) for k in range(64)]
    for k, w in want.items():
        got = pa.Table.from_batches(list(spill_io.read_bucket(path, k, t.schema)), schema=t.schema)
        assert got.equals(w), k
        assert all(b.num_rows <= spill_io.READ_ROWS for b in spill_io.read_bucket(path, k))
    ref = tmp_path / "ref" / "t000000.arrow"
    ref.parent.mkdir()
    _task_file(t, ref, 10**9, cut=20_000)          # one flush, from memory
    assert path.read_bytes() == ref.read_bytes()
    assert sorted(p.name for p in tmp_path.glob("t000000*")) == ["t000000.arrow"]


def test_a_big_bucket_is_cut_in_read_rows_batches(tmp_path):
    from dataaudit.passes.exact import HASH_RECORD

    n = 3 * spill_io.READ_ROWS + 5                # one digest over and over: one bucket, four batches
    t = pa.table([pa.array([b"\x07" * 16] * n, HASH_RECORD.field(0).type), pa.array([f"d{i}" for i in range(n)]),
                  pa.array(["a"] * n), pa.array([1] * n, pa.int64()), pa.array(np.arange(n, dtype=np.int64))],
                 schema=HASH_RECORD)
    path = tmp_path / "t.arrow"
    assert _task_file(t, path, 1000, cut=777) == {1: n}   # 0x07 falls in bucket 1 of 64 (4 first bytes each)
    sizes = [b.num_rows for b in spill_io.read_bucket(path, 1)]
    assert sizes == [spill_io.READ_ROWS] * 3 + [5]
    assert list(spill_io.read_bucket(path, 0)) == [] and list(spill_io.read_bucket(path, 2)) == []
    got = pa.Table.from_batches(list(spill_io.read_bucket(path, 1, HASH_RECORD)))
    assert got["seq"].to_pylist() == list(range(n))


def _hash_task(batches, spill, task=3):
    from dataaudit.passes.exact import HASH_RECORD, hash_batch
    from dataaudit.text import DEFAULT_NORMALIZE

    return exact_tasks.spill_batches(batches, "train", str(spill), 64, DEFAULT_NORMALIZE, hash_batch, HASH_RECORD,
                                     task)


def _doc_batches(n=3000, size=64):
    from dataaudit.records import DOC_SCHEMA

    rng = np.random.default_rng(1)
    texts = [f"doc {int(rng.integers(n // 3))} words {i % 11}" for i in range(n)]
    t = pa.table([pa.array([f"x:{i}" for i in range(n)]), pa.array(["train"] * n),
                  pa.array(texts, pa.large_string()), pa.array(["f"] * n), pa.array(np.arange(n), pa.int64())],
                 schema=DOC_SCHEMA)
    return t.to_batches(max_chunksize=size)


def test_a_killed_task_rerun_writes_the_same_file(tmp_path, monkeypatch):
    """A hashing task that fails half way removes its temporary file and writes no final file; run again
    (beside the stale temporary file a killed attempt would leave) it writes exactly the file of a task that
    ran once; nothing of the dead attempt is read by the grouping."""
    monkeypatch.setattr(spill_io.TaskSpill.__init__, "__defaults__", (200,))    # many flushes: the tmp path
    batches = _doc_batches()
    clean = tmp_path / "clean"
    clean.mkdir()
    r_clean = _hash_task(iter(batches), clean)

    class Killed(Exception):
        pass

    def dies():
        yield from batches[: len(batches) // 2]
        raise Killed

    spill = tmp_path / "retried"
    spill.mkdir()
    with pytest.raises(Killed):
        _hash_task(dies(), spill)
    # a task that raises removes its temporary file (TaskSpill.abort); one killed outright leaves it behind:
    # that stale file of another process must not change what the rerun writes
    assert not (spill / "t000003.arrow").exists() and not list(spill.glob("t000003.arrow.*"))
    (spill / "t000003.arrow.in999999").write_bytes(b"ARROW1 half a file of a killed attempt")
    r = _hash_task(iter(batches), spill)
    assert r["docs"] == r_clean["docs"] == 3000 and r["buckets"] == r_clean["buckets"]
    assert (spill / "t000003.arrow").read_bytes() == (clean / "t000003.arrow").read_bytes()
    again = _hash_task(iter(batches), spill)                    # a second run over a finished one
    assert again == r and (spill / "t000003.arrow").read_bytes() == (clean / "t000003.arrow").read_bytes()


# ---- the pass: one file per task, the driver path's bytes ------------------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Train: a Parquet file of many row groups (many read tasks), with 60 copies of one text (one hash over
    the bound 16); val: JSON lines with exact copies of train documents."""
    root = tmp_path_factory.mktemp("task-spill")
    rng = np.random.default_rng(5)
    vocab = [f"v{i}" for i in range(900)]
    train = [" ".join(rng.choice(vocab, int(rng.integers(8, 40)))) for _ in range(1500)]
    train += train[:30] + [train[9]] * 60
    pq.write_table(pa.table({"text": train}), root / "train.parquet", row_group_size=40)
    val = [train[int(i)] for i in rng.integers(0, 1500, 80)] + [" ".join(rng.choice(vocab, 20)) for _ in range(80)]
    (root / "val.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in val))
    return {"train": root / "train.parquet", "val": root / "val.jsonl"}


def _sources(corpus):
    from dataaudit.io.sources import DocSource

    return {k: DocSource(str(p), split=k, read=READ) for k, p in corpus.items()}


def _run(corpus, out, engine, bound):
    from dataaudit.passes.exact import ExactConfig, run_exact

    res = run_exact(_sources(corpus), out, config=ExactConfig(max_bucket_rows=bound), engine=engine)
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.parquet"))}, res.summary, res.findings


@pytest.mark.parametrize("bound", [262_144, 16])
def test_one_file_per_task_and_the_driver_paths_bytes(corpus, tmp_path, monkeypatch, bound):
    from dataaudit.engine import LocalEngine

    seen = {}
    group = exact_tasks.ShardedExact.group

    def watch(self, tasks, *a):
        seen["files"] = sorted(p.name for p in self.spill.iterdir())
        seen["tasks"] = tasks
        yield from group(self, tasks, *a)
        seen["after"] = sorted(p.name for p in self.spill.iterdir())

    monkeypatch.setattr(exact_tasks.ShardedExact, "group", watch)
    want = _run(corpus, tmp_path / "driver", None, bound)
    got = _run(corpus, tmp_path / "tasks", LocalEngine(1, partitions=2, shard_bytes=SHARD), bound)
    assert got == want
    assert want[1]["leaked_docs"] > 50 and want[2]["leaks"][0]["excerpt"] and want[2]["duplicate_groups"]
    tasks = seen["tasks"]
    assert len(tasks) > 10 and all(t["file"] for t in tasks)
    assert seen["files"] == [f"t{i:06d}.arrow" for i in range(len(tasks))]       # one file per task, no more
    assert sum(len(t["buckets"]) for t in tasks) > 5 * len(tasks)   # where there were that many bucket files
    assert not [n for n in seen["after"] if n.startswith("t")]      # all removed once their buckets were in
    assert not list((tmp_path / "tasks").glob(".exact-spill-*"))


class _EveryTaskTwice:
    """The engine, except that each task runs twice and the files of the spill directory after the first run
    are compared with those after the second (a task Ray reruns after its worker died having done its writes)."""

    def __init__(self, engine, out: Path):
        self.engine, self.out, self.checked = engine, out, 0

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def pool(self, init=None, initargs=()):
        p = self.engine.pool(init, initargs)
        orig = p.map

        def snapshot():
            return {f.name: f.read_bytes() for d in self.out.glob(".exact-spill-*") for f in d.glob("t*.arrow")}

        def twice(fn, it):
            fn(it)
            first = snapshot()
            r = fn(it)
            assert snapshot() == first
            self.checked += bool(first)
            return r

        p.map = lambda fn, items: orig(lambda it: twice(fn, it), items)
        return p


@pytest.mark.parametrize("bound", [262_144, 16])
def test_every_task_run_twice_gives_the_same_files_and_tables(corpus, tmp_path, bound):
    from dataaudit.engine import LocalEngine

    want = _run(corpus, tmp_path / "driver", None, bound)
    eng = _EveryTaskTwice(LocalEngine(1, partitions=2, shard_bytes=SHARD), tmp_path / "tasks")
    assert _run(corpus, tmp_path / "tasks", eng, bound) == want
    assert eng.checked > 10
