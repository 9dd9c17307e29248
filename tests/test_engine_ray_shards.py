"""Read tasks and the partitioned band shuffle (issue 14): shards read the documents the local reader reads
(same ids, same order, same bad records), and near / containment / split on them write the tables of the
driver-side path, for 1 and several partitions, on the local engine (read tasks switched on); the same on
Ray, for 1 and 2 workers, is in ``test_engine_ray.py`` (it needs that module's session-wide Ray runtime).

The corpus has several files of each kind: train is a directory of two Parquet files with many row groups,
val is a JSON-lines file cut into byte ranges with blank lines and bad records in it, test a gzipped
JSON-lines file (one shard), an eval file (read by the driver: eval sources are not sharded), and planted
leaks of every kind.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataaudit.config import ReadConfig

SHARD = 6000             # bytes per shard: many shards per file in this small corpus


def _make(root: Path, n_train: int = 2400, n_val: int = 300, n_test: int = 120) -> dict[str, Path]:
    rng = np.random.default_rng(7)
    vocab = np.array([f"w{i}" for i in range(2500)], dtype=object)

    def doc(n):
        return " ".join(vocab[rng.integers(0, len(vocab), n)])

    train = [doc(int(rng.integers(30, 120))) for _ in range(n_train)]
    train += train[:40] + ["", "short one"] + [train[5]] * 12     # duplicates, empty and tiny docs, a big bucket

    def leaky(n, salt):
        out = []
        for i in range(n):
            src = train[int(rng.integers(n_train))].split()
            kind = (i + salt) % 5
            if kind == 0:
                out.append(" ".join(src))
            elif kind == 1:
                for j in rng.choice(len(src), max(1, int(len(src) * rng.uniform(0.05, 0.25))), replace=False):
                    src[j] = f"edit{rng.integers(1 << 30)}"
                out.append(" ".join(src))
            elif kind == 2:
                out.append(" ".join(src[: len(src) // 2]))
            elif kind == 3:
                out.append(train[5])
            else:
                out.append(doc(int(rng.integers(30, 120))))
        return out

    val, test = leaky(n_val, 0), leaky(n_test, 2)
    (root / "train").mkdir(parents=True)
    half = len(train) // 2
    for k, part in enumerate((train[:half], train[half:])):
        pq.write_table(pa.table({"text": part}), root / "train" / f"part{k}.parquet", row_group_size=150)
    lines = []
    for i, t in enumerate(val):
        lines.append(json.dumps({"text": t}))
        if i % 97 == 3:
            lines.append("")                                  # blank lines do not count as rows
        if i in (50, 210):
            lines.append('{"text": broken')                    # bad records, in different shards
        if i == 130:
            lines.append(json.dumps({"text": None}))
    (root / "val.jsonl").write_text("\n".join(lines) + "\n")
    with gzip.open(root / "test.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps({"text": t}) + "\n" for t in test))
    items = [" ".join(train[i].split()[:25]) for i in range(0, 400, 20)] + [doc(25) for _ in range(20)]
    (root / "quiz.jsonl").write_text("".join(json.dumps({"question": q}) + "\n" for q in items))
    return {"train": root / "train", "val": root / "val.jsonl", "test": root / "test.jsonl.gz",
            "eval": root / "quiz.jsonl"}


@pytest.fixture(scope="module")
def corpus3(tmp_path_factory):
    return _make(tmp_path_factory.mktemp("shards"))


READ = ReadConfig(batch_size=64, on_bad_record="skip", max_bad_records=10)


def _sources(corpus3, read=READ):
    from dataaudit.io.sources import DocSource

    return {k: DocSource(str(p), split=k, read=read) for k, p in corpus3.items() if k != "eval"}


def _planned(src, shard_bytes=SHARD):
    from dataaudit.io import shards

    plan = shards.plan(src, shard_bytes)
    return shards.with_offsets(plan, [shards.count_lines(s) for s in plan])


# ---- shards read what the reader reads -----------------------------------------------------------------------

@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_shards_give_the_readers_documents_ids_and_bad_records(corpus3, split):
    from dataaudit.io import shards
    from dataaudit.io.readers import read_documents
    from dataaudit.records import BadRecordLog

    src = _sources(corpus3)[split]
    plan = _planned(src)
    if split != "test":
        assert len(plan) > 3 and len({s.path for s in plan}) <= len(plan) // 2 + 1   # several shards per file
    log = BadRecordLog()
    want = pa.Table.from_batches(list(read_documents(str(corpus3[split]), READ, split=split, bad_log=log)))
    got, logs = [], []
    for s in plan:
        st = shards.ShardRead()
        got += list(shards.read(s, st))
        logs.append(st)
    assert pa.Table.from_batches(got).equals(want)
    acc = shards.SourceAccount(src)
    for st in logs:
        acc.add(st)
    acc.finish()
    assert src.docs == want.num_rows and src.bad_log.count == log.count
    assert src.bad_log.examples == log.examples
    if split == "val":
        assert log.count == 3                                # the test has bad records to count


def test_a_bad_record_limit_fails_the_same_way(corpus3):
    from dataaudit.errors import InputError
    from dataaudit.io import shards
    from dataaudit.io.readers import read_documents

    read = ReadConfig(batch_size=64, on_bad_record="skip", max_bad_records=1)
    with pytest.raises(InputError) as local:
        list(read_documents(str(corpus3["val"]), read, split="val"))
    src = _sources(corpus3, read)["val"]
    acc = shards.SourceAccount(src)
    with pytest.raises(InputError) as sharded:
        for s in _planned(src):
            st = shards.ShardRead()
            list(shards.read(s, st))
            acc.add(st)
    assert str(sharded.value) == str(local.value) and "line" in str(local.value)


# ---- near and containment on read tasks and partitions, local engine -------------------------------------------

def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.parquet"))}


@pytest.fixture(scope="module")
def near_driver(corpus3, tmp_path_factory):
    from dataaudit.engine import LocalEngine
    from dataaudit.passes.near import NearConfig, run_near

    out = tmp_path_factory.mktemp("near-driver")
    res = run_near(_sources(corpus3), NearConfig(mode="both", max_bucket=4), out, engine=LocalEngine(1))
    assert res.summary["buckets"]["capped"] > 0 and res.summary["candidates"] > 100   # caps are hit
    return out, res


@pytest.mark.parametrize("partitions", [1, 5])
def test_near_on_partitions_equals_the_driver_sort(corpus3, near_driver, tmp_path, partitions):
    from dataaudit.engine import LocalEngine
    from dataaudit.passes.near import NearConfig, run_near

    eng = LocalEngine(1, partitions=partitions, shard_bytes=SHARD)
    res = run_near(_sources(corpus3), NearConfig(mode="both", max_bucket=4), tmp_path, engine=eng)
    assert _files(tmp_path) == _files(near_driver[0]) and len(_files(tmp_path)) == 2
    assert res.summary == near_driver[1].summary


def test_containment_on_read_tasks_equals_the_driver(corpus3, tmp_path):
    from dataaudit.engine import LocalEngine
    from dataaudit.passes.containment import ContainmentConfig, run_containment

    outs = {}
    for name, eng in (("driver", None), ("tasks", LocalEngine(1, partitions=3, shard_bytes=SHARD))):
        s = _sources(corpus3)
        train = s.pop("train")
        r = run_containment(s, train, ContainmentConfig(max_ngram_doc_freq=5), tmp_path / name, engine=eng)
        outs[name] = (_files(tmp_path / name), r.summary)
    assert outs["driver"] == outs["tasks"]
    assert outs["driver"][1]["leaked_docs"] > 50 and outs["driver"][1]["boilerplate_ngrams"] > 0


# ---- split on Ray: read tasks, partitions, every pass ----------------------------------------------------------

def _split(corpus3, out, engine, workers):
    from dataaudit.api import SplitConfig, audit_split

    cfg = SplitConfig(engine=engine, workers=workers, read=READ)
    return audit_split(corpus3["train"], corpus3["val"], corpus3["test"], evals=[str(corpus3["eval"])], out_dir=out,
                       config=cfg)


def _tables(out: Path) -> dict[str, bytes]:
    files = sorted(p for p in out.rglob("*.parquet") if ".dataaudit" not in p.parts)
    assert len(files) >= 5, files
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


# ---- the exact pass on read tasks: workers hash and spill, buckets grouped as tasks ----------------------------

def _exact_sources(corpus3, read=READ):
    """Sharded Parquet / JSONL ranges / a gzipped file, and between them a Table the driver reads and hashes
    (its documents' positions must come after train's and before val's, as in one local read)."""
    from dataaudit.io.sources import DocSource

    s = _sources(corpus3, read)
    extra = pa.table({"text": [pq.read_table(corpus3["train"] / "part1.parquet")["text"][i].as_py()
                               for i in (3, 3, 700)] + ["only here", "only here"]})
    return {"train": s["train"], "extra": DocSource(extra, split="extra", read=read), "val": s["val"],
            "test": s["test"]}


def _run_exact(corpus3, out, engine, bound):
    from dataaudit.passes.exact import ExactConfig, run_exact

    src = _exact_sources(corpus3)
    res = run_exact(src, out, config=ExactConfig(max_bucket_rows=bound), engine=engine)
    logs = {k: (s.bad_log.count, s.bad_log.examples, s.docs) for k, s in src.items()}
    return _files(out), res.summary, res.findings, logs


@pytest.fixture(scope="module", params=[262_144, 16])
def exact_driver(corpus3, tmp_path_factory, request):
    """The driver path; bound 16 cuts buckets by more hash bits and groups the 90-odd copies of train[5]
    (one hash, over the bound) batch by batch."""
    return request.param, _run_exact(corpus3, tmp_path_factory.mktemp("exact-driver"), None, request.param)


def _check_corpus(exact_driver):
    import io

    _, (files, summary, findings, logs) = exact_driver
    dups = pq.read_table(io.BytesIO(files["exact_duplicates.parquet"]))
    leaks = pq.read_table(io.BytesIO(files["exact_leaks.parquet"]))
    by_group: dict = {}
    for d, g in zip(dups["doc_id"].to_pylist(), dups["group_id"].to_pylist()):
        by_group.setdefault(g, set()).add(d.split(":")[0])
    assert any(len(f) > 1 for f in by_group.values())                 # a group spans the two Parquet files
    assert {"val", "test", "extra"} <= set(leaks["split"].to_pylist())   # leaks from every kind of source
    assert "extra" in set(dups["split"].to_pylist())                     # a duplicate inside the driver's Table
    assert logs["val"][0] == 3 and summary["leaked_docs"] > 100 and findings["leaks"][0]["excerpt"]


@pytest.mark.parametrize("partitions", [1, 3])
def test_exact_on_read_tasks_equals_the_driver(corpus3, exact_driver, tmp_path, partitions):
    from dataaudit.engine import LocalEngine

    _check_corpus(exact_driver)
    bound, want = exact_driver
    eng = LocalEngine(1, partitions=partitions, shard_bytes=SHARD)
    got = _run_exact(corpus3, tmp_path, eng, bound)
    assert got == want and len(got[0]) == 2
    assert not list(tmp_path.glob(".exact-spill-*"))                  # the spill directory is gone


class _EveryTaskTwice:
    """The engine, except that each task runs twice and the first result is dropped: what a task that Ray
    reruns after its worker died (having done all its writes) leaves behind (in-process pool, workers=1)."""

    def __init__(self, engine):
        self.engine = engine

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def pool(self, init=None, initargs=()):
        p = self.engine.pool(init, initargs)
        orig = p.map
        p.map = lambda fn, items: orig(lambda it: (fn(it), fn(it))[1], items)
        return p


def test_exact_tasks_can_be_rerun(corpus3, exact_driver, tmp_path):
    """Hashing and grouping tasks are idempotent (a rerun finds its inputs and rewrites the same files)."""
    from dataaudit.engine import LocalEngine

    bound, want = exact_driver
    got = _run_exact(corpus3, tmp_path, _EveryTaskTwice(LocalEngine(1, partitions=2, shard_bytes=SHARD)), bound)
    assert got == want


def test_exact_on_read_tasks_stops_at_the_same_bad_record(corpus3, tmp_path):
    from dataaudit.engine import LocalEngine
    from dataaudit.errors import InputError
    from dataaudit.passes.exact import run_exact

    read = ReadConfig(batch_size=64, on_bad_record="skip", max_bad_records=1)
    errors = []
    for eng in (None, LocalEngine(1, partitions=2, shard_bytes=SHARD)):
        with pytest.raises(InputError) as e:
            run_exact(_sources(corpus3, read), tmp_path / str(len(errors)), engine=eng)
        errors.append(str(e.value))
    assert errors[0] == errors[1] and "line" in errors[0]


@pytest.fixture(scope="module")
def ray_here():
    """A local Ray runtime: the session's one when ``test_engine_ray.py`` started it, else this module's."""
    ray = pytest.importorskip("ray")
    import os

    started = not ray.is_initialized()
    if started:
        path = os.pathsep.join(x for x in (str(Path(__file__).parent), os.environ.get("PYTHONPATH")) if x)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    if started:
        ray.shutdown()


@pytest.mark.parametrize("workers", [1, 2])
def test_exact_on_ray_equals_local(ray_here, corpus3, exact_driver, tmp_path, workers):
    """Workers read the shards, hash and spill their own bucket files, the buckets are grouped on the actors:
    the driver path's files byte for byte, its summary, listed findings (excerpts) and bad records."""
    from dataaudit.engine.ray import RayEngine

    bound, want = exact_driver
    with RayEngine(workers=workers, shard_bytes=SHARD) as eng:
        got = _run_exact(corpus3, tmp_path, eng, bound)
    assert got == want


def test_line_counts_are_planned_once_per_file_version(tmp_path, monkeypatch):
    """Every pass plans its own Pieces; the JSONL line counts of a file are counted once per process and file
    version (size, mtime), and a file that changed is counted again (its offsets would otherwise be wrong)."""
    import os

    from dataaudit.engine import pieces as P
    from dataaudit.io import shards
    from dataaudit.io.sources import DocSource

    p = tmp_path / "c.jsonl"
    p.write_text("".join(f'{{"text": "doc {i} " }}\n' for i in range(300)))
    calls = []
    real = shards.count_lines
    monkeypatch.setattr(shards, "count_lines", lambda s: calls.append(s.start) or real(s))
    monkeypatch.setattr(P, "_COUNTS", {})

    class Runner:
        def map(self, fn, items):
            return [fn(x) for x in items]

    class Engine:
        shard_bytes = 1024

    def planned():
        return P.Pieces(Engine(), Runner(), DocSource(str(p), split="train", read=ReadConfig())).shards

    first = planned()
    n = len(calls)
    assert n == len(first) > 2
    assert planned() == first and len(calls) == n                       # the second pass counts nothing
    p.write_text("".join(f'{{"text": "doc {i}"}}\n\n' for i in range(320)))     # another size: counted again
    os.utime(p, ns=(1, 1))
    again = planned()
    assert len(calls) > n
    assert again == _planned(DocSource(str(p), split="train", read=ReadConfig()), 1024)
