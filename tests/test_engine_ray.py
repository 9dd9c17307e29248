"""The Ray engine: the seam's contract (input order, bounded window, one initializer per actor), the same
findings tables as the local engine (split with every pass, score, report; fixtures and a planted corpus;
1 and 2 workers), a killed actor retried with the result unchanged, a task that cannot finish named, and
the one-line error when Ray is not installed.

Ray runs as one local runtime for the whole session (``num_cpus=2``, no dashboard).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataaudit.errors import ConfigError, ModelError

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="the ray extra is not installed (pip install 'dataaudit[ray]')")


@pytest.fixture(scope="session")
def ray_runtime():
    import ray

    # the workers import this module's task functions by name: give them its directory
    path = os.pathsep.join(x for x in (str(Path(__file__).parent), os.environ.get("PYTHONPATH")) if x)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


@pytest.fixture
def ray_engine(ray_runtime):
    from dataaudit.engine import get_engine

    made = []

    def make(workers):
        e = get_engine("ray", workers=workers)
        made.append(e)
        return e

    yield make
    for e in made:
        e.close()


# ---- without Ray --------------------------------------------------------------------------------------------

def _no_ray(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))


def test_missing_ray_is_one_line_with_the_pip_command(monkeypatch):
    from dataaudit.engine import get_engine

    _no_ray(monkeypatch)
    with pytest.raises(ConfigError) as e:
        get_engine("ray", workers=2)
    msg = str(e.value)
    assert "\n" not in msg and "pip install 'dataaudit[ray]'" in msg and "--engine ray" in msg


def test_missing_ray_stops_the_cli_before_any_work(monkeypatch, tmp_path, capsys, corpus):
    from dataaudit.cli import main

    _no_ray(monkeypatch)
    out = tmp_path / "audit"
    rc = main(["split", "--train", str(corpus / "train.jsonl"), "--val", str(corpus / "val.jsonl"), "--out",
               str(out), "--engine", "ray", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "pip install 'dataaudit[ray]'" in err[0]
    assert not out.exists()                         # nothing staged, nothing locked


def test_ray_address_without_ray_engine_is_refused():
    from dataaudit.engine import get_engine

    with pytest.raises(ConfigError, match="--engine ray"):
        get_engine("local", address="auto")


def test_ray_address_flag_parses():
    from dataaudit.cli import build_parser

    args = build_parser().parse_args(["split", "--train", "t", "--val", "v", "--out", "o", "--engine", "ray",
                                      "--ray-address", "auto"])
    assert args.engine == "ray" and args.ray_address == "auto"


# ---- the seam -------------------------------------------------------------------------------------------------

_STATE: dict = {}


def _init(tag, log_dir):
    _STATE["tag"] = tag
    with open(Path(log_dir) / f"init-{os.getpid()}", "a") as f:
        f.write("x")


def _slow_square(x):
    time.sleep(((x * 7919) % 5) * 0.01)         # uneven durations: completion order differs from input order
    return x * x, _STATE["tag"], os.getpid()


@needs_ray
def test_map_is_in_input_order_with_a_bounded_window(ray_engine, tmp_path):
    eng = ray_engine(2)
    pulled = [0]

    def items():
        for i in range(40):
            pulled[0] += 1
            yield i

    out = []
    with eng.pool(_init, ("t", str(tmp_path))) as pool:
        for r in pool.map(_slow_square, items()):
            out.append(r)
            assert pulled[0] <= len(out) + 2 * 2       # never more than 2 x workers in flight
    assert [r[0] for r in out] == [i * i for i in range(40)]
    assert {r[1] for r in out} == {"t"}
    pids = {r[2] for r in out}
    assert len(pids) == 2 and os.getpid() not in pids
    inits = sorted(tmp_path.glob("init-*"))
    assert [p.name for p in inits] == sorted(f"init-{p}" for p in pids)
    assert all(p.read_text() == "x" for p in inits)    # the initializer ran once per actor


def _raise_model_error(x):
    raise ModelError(f"bad model for {x}")


@needs_ray
def test_an_error_in_a_task_is_raised_as_it_is(ray_engine):
    eng = ray_engine(1)
    with eng.pool() as pool, pytest.raises(ModelError, match="bad model for 0"):
        list(pool.map(_raise_model_error, range(3)))


def _die(x):
    os._exit(1)


@needs_ray
def test_a_task_that_cannot_finish_names_its_input_and_why(ray_runtime):
    from dataaudit.engine.ray import RayTaskPool, WorkerLostError

    batch = pa.record_batch({"doc_id": ["d7", "d8", "d9"], "text": ["a", "b", "c"]})
    with RayTaskPool(1, None, (), retries=0) as pool, pytest.raises(WorkerLostError) as e:
        list(pool.map(_die, [batch]))
    msg = str(e.value)
    assert "task 0 of tests.test_engine_ray._die" in msg or "task 0 of test_engine_ray._die" in msg
    assert "3 documents, doc_id d7 .. d9" in msg and "died 1 times" in msg


@needs_ray
def test_describe_names_engine_address_workers(ray_engine):
    d = ray_engine(2).describe()
    assert d["engine"] == "ray" and d["workers"] == 2 and d["address"] == "local" and d["cluster"]


# ---- identical findings ---------------------------------------------------------------------------------------

def _tables(out: Path) -> dict[str, tuple[pa.Table, bytes]]:
    files = sorted(p for p in out.rglob("*.parquet") if ".dataaudit" not in p.parts)
    assert files, f"no findings tables in {out}"
    return {str(p.relative_to(out)): (pq.read_table(p), p.read_bytes()) for p in files}


def _same(a: Path, b: Path) -> None:
    ta, tb = _tables(a), _tables(b)
    assert ta.keys() == tb.keys()
    for name in ta:
        assert ta[name][0].equals(tb[name][0], check_metadata=True), name
        assert ta[name][1] == tb[name][1], f"{name}: same table, different bytes"



def _split(train, val, test, out, engine, workers, batch_size=4096):
    from dataaudit.api import ReadConfig, SplitConfig, audit_split

    cfg = SplitConfig(engine=engine, workers=workers, read=ReadConfig(batch_size=batch_size))
    return audit_split(train, val, test, out_dir=out, config=cfg)


@needs_ray
@pytest.mark.parametrize("workers", [1, 2])
def test_split_fixtures_ray_equals_local(ray_runtime, corpus, tmp_path, workers):
    args = (corpus / "train.jsonl", corpus / "val.jsonl", corpus / "test.arrow")
    _split(*args, tmp_path / "local", "local", 1, batch_size=7)
    rep = _split(*args, tmp_path / "ray", "ray", workers, batch_size=7)
    assert rep.config["engine"]["engine"] == "ray" and rep.config["engine"]["workers"] == workers
    _same(tmp_path / "local", tmp_path / "ray")


def _planted(root: Path, n_train: int = 3000, n_val: int = 300) -> tuple[Path, Path]:
    """Random-word documents; val holds exact copies, near copies (5-30% words edited) and pieces of train."""
    rng = np.random.default_rng(0)
    vocab = np.array([f"w{i}" for i in range(3000)], dtype=object)

    def doc(n):
        return " ".join(vocab[rng.integers(0, len(vocab), n)])

    train = [doc(int(rng.integers(40, 160))) for _ in range(n_train)]
    val = []
    for i in range(n_val):
        src = train[int(rng.integers(n_train))].split()
        kind = i % 4
        if kind == 0:
            val.append(" ".join(src))
        elif kind == 1:
            for j in rng.choice(len(src), int(len(src) * rng.uniform(0.05, 0.3)), replace=False):
                src[j] = f"edit{rng.integers(1 << 30)}"
            val.append(" ".join(src))
        elif kind == 2:
            val.append(" ".join(src[: len(src) // 2]))
        else:
            val.append(doc(int(rng.integers(40, 160))))
    train += train[:50]                                 # duplicates inside train too
    root.mkdir(parents=True, exist_ok=True)
    tp, vp = root / "train.parquet", root / "val.parquet"
    pq.write_table(pa.table({"id": [f"t{i}" for i in range(len(train))], "text": train}), tp)
    pq.write_table(pa.table({"id": [f"v{i}" for i in range(len(val))], "text": val}), vp)
    return tp, vp


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return _planted(tmp_path_factory.mktemp("planted"))


def _split_planted(planted, out, engine, workers):
    from dataaudit.api import ReadConfig, SplitConfig, audit_split

    cfg = SplitConfig(engine=engine, workers=workers, read=ReadConfig(batch_size=256, id_column="id"))
    return audit_split(planted[0], planted[1], out_dir=out, config=cfg)


@pytest.fixture(scope="module")
def planted_local(planted, tmp_path_factory):
    out = tmp_path_factory.mktemp("planted-local") / "out"
    rep = _split_planted(planted, out, "local", 1)
    assert rep.summary["leaks"]["leaked_docs"] > 100      # the planted leaks are found: the test is not vacuous
    return out


@needs_ray
@pytest.mark.parametrize("workers", [1, 2])
def test_split_planted_ray_equals_local(ray_runtime, planted, planted_local, tmp_path, workers):
    _split_planted(planted, tmp_path / "ray", "ray", workers)
    _same(planted_local, tmp_path / "ray")


class _KillOnce:
    """The engine, except that in its first pool the actor given the first task is killed (SIGKILL) right
    after that task was submitted, so it dies with a task in flight."""

    def __init__(self, engine):
        self.engine = engine
        self.killed: list[int] = []

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def pool(self, init=None, initargs=()):
        p = self.engine.pool(init, initargs)
        if self.killed:
            return p
        first = p.pids()[0]
        orig = p.map

        def map(fn, items):
            def feed():
                for i, it in enumerate(items):
                    if i == 1 and not self.killed:
                        os.kill(first, signal.SIGKILL)
                        self.killed.append(first)
                    yield it
            return orig(fn, feed())

        p.map = map
        self.after = p
        return p


@needs_ray
def test_a_killed_actor_is_retried_and_the_findings_are_unchanged(ray_runtime, planted, planted_local, tmp_path,
                                                                   monkeypatch):
    import dataaudit.api._job as job_mod

    real = job_mod.get_engine
    made: list[_KillOnce] = []

    def get_engine(*a, **kw):
        made.append(_KillOnce(real(*a, **kw)))
        return made[-1]

    monkeypatch.setattr(job_mod, "get_engine", get_engine)
    _split_planted(planted, tmp_path / "ray", "ray", 2)
    assert made and made[0].killed, "no actor was killed: the test did not test anything"
    _same(planted_local, tmp_path / "ray")


# ---- score and report -----------------------------------------------------------------------------------------

def _tiny_gpt2(path: Path, corpus: list[str]) -> str:
    from _models import build_tiny_gpt2

    return build_tiny_gpt2(path, corpus, n_embd=16, n_layer=1)


@needs_ray
@pytest.mark.parametrize("workers", [1, 2])
def test_score_ray_equals_local(ray_runtime, corpus, tmp_path, workers):
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from dataaudit.api import ReadConfig, ScoreJobConfig, score_corpus

    texts = [r.strip() for r in (corpus / "train.jsonl").read_text().splitlines()[:40]]
    model = _tiny_gpt2(tmp_path / "gpt2", texts)
    outs = {}
    for engine, w in (("local", 1), ("ray", workers)):
        cfg = ScoreJobConfig(model=model, engine=engine, workers=w, cache_dir=str(tmp_path / f"cache-{engine}"),
                             read=ReadConfig(batch_size=16))
        outs[engine] = tmp_path / engine
        score_corpus(corpus / "train.jsonl", out_dir=outs[engine], config=cfg)
    _same(outs["local"], outs["ray"])


@needs_ray
@pytest.mark.parametrize("workers", [1, 2])
def test_report_ray_equals_local(ray_runtime, planted, tmp_path, workers):
    from dataaudit.api.dataset import DatasetConfig, dataset_report
    from dataaudit.api import ReadConfig

    for engine, w in (("local", 1), ("ray", workers)):
        cfg = DatasetConfig(engine=engine, workers=w, read=ReadConfig(batch_size=256, id_column="id"))
        dataset_report(planted[0], out_dir=tmp_path / engine, config=cfg)
    _same(tmp_path / "local", tmp_path / "ray")


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1", "nonsense"])
def test_an_unreachable_or_malformed_address_is_one_line(address):
    from dataaudit.engine.ray import _check_reachable

    with pytest.raises(ConfigError) as e:
        _check_reachable(address, timeout=2)
    assert "\n" not in str(e.value) and "--ray-address" in str(e.value)


@needs_ray
def test_cli_engine_ray_writes_the_local_tables(ray_runtime, corpus, tmp_path, capsys):
    import json

    from dataaudit.cli import main

    outs = {}
    for engine in ("local", "ray"):
        outs[engine] = tmp_path / engine
        rc = main(["split", "--train", str(corpus / "train.jsonl"), "--val", str(corpus / "val.jsonl"),
                   "--test", str(corpus / "test.arrow"), "--out", str(outs[engine]), "--engine", engine,
                   "--workers", "2", "--quiet", "--format", "json", "--fail-on", "never"])
        assert rc == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["config"]["engine"]["engine"] == engine
    _same(outs["local"], outs["ray"])


# ---- read tasks and partitions (the corpus and checks of test_engine_ray_shards.py) ---------------------------

@pytest.fixture(scope="module")
def corpus3(tmp_path_factory):
    from test_engine_ray_shards import _make

    return _make(tmp_path_factory.mktemp("shards"))


@pytest.fixture(scope="module")
def split_local(corpus3, tmp_path_factory):
    from test_engine_ray_shards import _split

    out = tmp_path_factory.mktemp("split-local") / "out"
    rep = _split(corpus3, out, "local", 1)
    assert rep.summary["leaks"]["leaked_docs"] > 100 and rep.bad_records["count"] == 3
    return out, rep


@needs_ray
@pytest.mark.parametrize("workers,partitions", [(1, 1), (2, 3)])
def test_split_on_ray_read_tasks_equals_local(ray_runtime, corpus3, split_local, tmp_path, monkeypatch,
                                              workers, partitions):
    """Split (exact, near, containment) with the workers reading shards (many per file) and the band keys in
    1 or 3 partitions: the local run's tables, bad records and document counts."""
    import dataaudit.engine.ray as ray_mod
    from test_engine_ray_shards import SHARD, _split, _tables

    monkeypatch.setattr(ray_mod, "PARTITIONS", partitions)
    monkeypatch.setattr(ray_mod, "SHARD_BYTES", SHARD)
    rep = _split(corpus3, tmp_path / "ray", "ray", workers)
    assert rep.config["engine"]["partitions"] == partitions
    assert _tables(tmp_path / "ray") == _tables(split_local[0])
    assert rep.bad_records == split_local[1].bad_records
    assert rep.summary["documents"] == split_local[1].summary["documents"]
