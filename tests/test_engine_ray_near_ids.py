"""Issue 14: on read tasks the near pass keeps doc ids and shingle counts with the pieces (one Arrow IPC file
per signing task in the spill directory), not on the driver. The driver's documents object holds only
per-piece arrays; the report gets the ids and split codes of the pair documents only; the tables and summary
are the driver-side path's byte for byte, on the local engine with read tasks and on Ray with 1 and 2 workers.

The planted corpus: ~3,000 documents, train as two Parquet files of many row groups and val/test as JSON
lines, all cut into several shards per file; near duplicates within train, val x train and test x train,
val x test; empty documents in every split (and one- or two-word ones).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataaudit.config import ReadConfig
from test_engine_ray_shards import ray_here  # noqa: F401  (a fixture: the session's Ray runtime or this module's)

SHARD = 20_000           # bytes per shard: several shards per file
READ = ReadConfig(batch_size=50)


def _make(root: Path) -> dict[str, Path]:
    rng = np.random.default_rng(14)
    vocab = np.array([f"t{i}" for i in range(4000)], dtype=object)

    def doc():
        return " ".join(vocab[rng.integers(0, len(vocab), int(rng.integers(40, 90)))])

    def edit(t, share):
        w = t.split()
        for j in rng.choice(len(w), max(1, int(len(w) * share)), replace=False):
            w[j] = f"e{rng.integers(1 << 30)}"
        return " ".join(w)

    train = [doc() for _ in range(2200)]
    for i in range(0, 400, 8):                       # near duplicates within train
        train[2000 + i // 8] = edit(train[i], 0.03)
    for i in range(0, 2200, 150):                    # empty documents and ones with no 5-word shingle
        train[i + 1] = "" if i % 300 == 0 else "two words"
    val = [doc() for _ in range(500)]
    test = [doc() for _ in range(300)]
    for i in range(0, 500, 10):                      # val x train leaks
        val[i] = edit(train[400 + i], 0.02)
    for i in range(0, 300, 15):                      # test x train leaks
        test[i] = edit(train[1000 + i], 0.02)
    for i in range(5, 300, 30):                      # val x test (copies of val documents)
        test[i] = val[i + 100]
    for docs in (val, test):
        for i in range(3, len(docs), 37):
            docs[i] = "" if i % 2 else "one"
    (root / "train").mkdir(parents=True)
    pq.write_table(pa.table({"text": train[:1100]}), root / "train" / "a.parquet", row_group_size=100)
    pq.write_table(pa.table({"text": train[1100:]}), root / "train" / "b.parquet", row_group_size=100)
    for name, docs in (("val", val), ("test", test)):
        (root / f"{name}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in docs))
    return {"train": root / "train", "val": root / "val.jsonl", "test": root / "test.jsonl"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _make(tmp_path_factory.mktemp("near-ids"))


def _sources(corpus):
    from dataaudit.io.sources import DocSource

    return {k: DocSource(str(p), split=k, read=READ) for k, p in corpus.items()}


CFG = dict(mode="both", max_bucket=50)


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.parquet"))}


@pytest.fixture(scope="module")
def driver(corpus, tmp_path_factory):
    """The driver-side path (in-memory ids) and its per-document arrays, the reference."""
    from dataaudit.engine import LocalEngine
    from dataaudit.passes.near import NearConfig, run_near

    out = tmp_path_factory.mktemp("near-ids-driver")
    res = run_near(_sources(corpus), NearConfig(**CFG), out, engine=LocalEngine(1))
    s = res.summary
    assert sum(s["documents"].values()) == 3000
    assert {"train x train", "val x train", "test x train", "val x test"} <= set(s["pairs_by_splits"]), s
    pairs = pq.read_table(out / "near_pairs.parquet")
    # the empty documents pair with nothing (they share the all-max signature)
    texts = {}
    for split, src in _sources(corpus).items():
        for b in src():
            for i, t in zip(b.column("doc_id").to_pylist(), b.column("text").to_pylist()):
                texts[i] = t
    assert s["documents_without_shingles"] == sum(t == "" for t in texts.values()) >= 15
    named = set(pairs.column("doc_id").to_pylist()) | set(pairs.column("other_doc_id").to_pylist())
    assert named and all(texts[d] != "" for d in named)
    return out, res, texts


def test_the_sharded_documents_hold_no_per_document_array(corpus, driver, tmp_path, monkeypatch):
    """The read-task path's documents object holds arrays of one entry per piece only; ids, split codes and
    shingle counts fetched by global index are the driver path's; the report is given the pair documents'
    ids only."""
    from dataaudit.engine import LocalEngine
    from dataaudit.passes import near, near_report, near_shards
    from dataaudit.passes.near import NearConfig, run_near

    eng = LocalEngine(1, partitions=3, shard_bytes=SHARD)
    cfg = NearConfig(**CFG)
    runner = eng.pool(near._init_worker, (cfg, near.DEFAULT_NORMALIZE))
    spill = tmp_path / "spill"
    spill.mkdir()
    sharded = near_shards.ShardedNear(_sources(corpus), cfg, eng, runner, spill, cfg.lsh_params()[0], None)
    docs = sharded.sign()
    n_pieces = len(docs.sizes)
    assert n_pieces >= 8 and len(docs) == 3000                    # several shards per file
    for name, v in vars(docs).items():
        if isinstance(v, (np.ndarray, pa.Array, list)):
            assert len(v) <= n_pieces, name                       # nothing per document
    # the local path's arrays, for comparison
    local = near._sign_all(_sources(corpus), cfg, eng.pool(near._init_worker, (cfg, near.DEFAULT_NORMALIZE)),
                           tmp_path, cfg.lsh_params()[0], None)
    idx = np.random.default_rng(0).permutation(3000)[:500]
    assert docs.ids_of(idx).to_pylist() == local.doc_ids().take(pa.array(idx)).to_pylist()
    assert docs.codes_of(idx).tolist() == local.split_codes[idx].tolist()
    assert docs.n_shingles_of(idx).tolist() == local.n_shingles[idx].tolist()
    picked = docs.pick(np.sort(idx[:40]))
    want = local.pick(np.sort(idx[:40]))
    assert (picked.ids.to_pylist(), picked.codes.tolist(), picked.split_counts, picked.n_empty) == \
        (want.ids.to_pylist(), want.codes.tolist(), want.split_counts, want.n_empty)
    runner.close()

    # the whole pass: the report sees the pair documents only
    seen = []
    real = near_report.PickedDocs.__init__

    def spy(self, idx, ids, *a, **k):
        seen.append((len(idx), len(ids)))
        real(self, idx, ids, *a, **k)

    monkeypatch.setattr(near_report.PickedDocs, "__init__", spy)
    res = run_near(_sources(corpus), cfg, tmp_path / "out", engine=LocalEngine(1, partitions=3, shard_bytes=SHARD))
    pairs = pq.read_table(tmp_path / "out" / "near_pairs.parquet")
    n_named = len(set(pairs.column("doc_id").to_pylist()) | set(pairs.column("other_doc_id").to_pylist()))
    assert len(seen) == 1 and seen[0][0] == seen[0][1]
    assert n_named <= seen[0][1] < 3000 // 4                      # candidates' documents, not the corpus
    assert _files(tmp_path / "out") == _files(driver[0])


def test_signing_tasks_return_counts_and_write_ids_beside_the_signatures(corpus, tmp_path):
    from dataaudit.passes import near, near_shards
    from dataaudit.passes.near import NearConfig

    cfg = NearConfig(**CFG)
    near._init_worker(cfg, near.DEFAULT_NORMALIZE)
    batches = list(_sources(corpus)["val"]())[:3]
    got = near_shards.sign_piece(batches, str(tmp_path), 2, 7)
    assert got == (150, 2) and all(isinstance(x, int) for x in got)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["docs000007.arrow", "keys000007.off.npy", "keys000007.rec", "sig000007.u32"]
    import pyarrow.ipc as ipc

    t = ipc.open_file(str(tmp_path / "docs000007.arrow")).read_all()
    assert t.column("doc_id").to_pylist() == pa.concat_arrays([b.column("doc_id") for b in batches]).to_pylist()
    assert np.load(tmp_path / "keys000007.off.npy")[3:].tolist() == \
        np.flatnonzero(t.column("n_shingles").to_numpy() == 0).tolist() == [3, 77]


@pytest.mark.parametrize("partitions", [1, 4])
def test_local_read_tasks_equal_the_driver(corpus, driver, tmp_path, partitions):
    from dataaudit.engine import LocalEngine
    from dataaudit.passes.near import NearConfig, run_near

    res = run_near(_sources(corpus), NearConfig(**CFG), tmp_path,
                   engine=LocalEngine(1, partitions=partitions, shard_bytes=SHARD))
    assert _files(tmp_path) == _files(driver[0]) and len(_files(tmp_path)) == 2
    assert res.summary == driver[1].summary and res.findings == driver[1].findings


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_equals_local(ray_here, corpus, driver, tmp_path, workers):
    """Workers read, sign and keep the ids; the driver fetches those of the pairs: the local tables byte for
    byte, the same summary and findings."""
    from dataaudit.engine.ray import RayEngine
    from dataaudit.passes.near import NearConfig, run_near

    with RayEngine(workers=workers, shard_bytes=SHARD) as eng:
        res = run_near(_sources(corpus), NearConfig(**CFG), tmp_path, engine=eng)
    assert _files(tmp_path) == _files(driver[0]) and len(_files(tmp_path)) == 2
    assert res.summary == driver[1].summary and res.findings == driver[1].findings


def test_candidate_sets_stay_in_the_spill_and_verification_reads_them(corpus, driver, tmp_path, monkeypatch):
    """On read tasks the re-read writes each piece's candidate sets to its own spill file and returns sizes
    only; the verification tasks are given where the sets lie (file, start, count), never the sets, and the
    tables are the driver path's."""
    from dataaudit.engine import LocalEngine
    from dataaudit.passes import near, near_shards
    from dataaudit.passes.near import NearConfig, run_near

    payloads, returned = [], []
    real_verify, real_sets = near._verify_task, near_shards.sets_piece

    def verify_spy(task):
        payloads.append(task[2])
        return real_verify(task)

    def sets_spy(batches, spill, which):
        out = real_sets(batches, spill, which)
        returned.append(out)
        return out

    monkeypatch.setattr(near, "_verify_task", verify_spy)
    monkeypatch.setattr(near_shards, "sets_piece", sets_spy)
    run_near(_sources(corpus), NearConfig(**CFG), tmp_path / "out",
             engine=LocalEngine(1, partitions=3, shard_bytes=SHARD))
    assert payloads and len(returned) >= 2
    assert all(r.dtype == np.int64 and r.ndim == 1 for r in returned)          # sizes, not sets
    refs = [v for p in payloads for v in p.values()]
    assert refs and all(isinstance(v, tuple) and len(v) == 3 and str(v[0]).endswith(".u64") for v in refs)
    assert _files(tmp_path / "out") == _files(driver[0])
