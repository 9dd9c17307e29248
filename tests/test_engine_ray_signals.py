"""The dataset report's signals on read tasks (issue 14): where the engine has read tasks, the workers read
their own shards and send back only the per-document signal columns; docs.parquet, every other table and
report.json's summary, findings and bad records are byte for byte those of ``--engine local`` (1 and 2
workers), on the local engine with read tasks switched on and on Ray with 1 and 2 workers, with several
shards per file.

Corpora: the fixtures' train.jsonl (JSONL cut into byte ranges); a directory of two Parquet files with many
row groups (``test_engine_ray_shards._make``); a directory of JSON-lines files with blank lines, bad records
(skipped, counted), exact and near duplicates and one gzipped file (one shard).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from test_engine_ray_shards import SHARD, _make, ray_here  # noqa: F401  (ray_here: a fixture)

READ = dict(batch_size=64, on_bad_record="skip", max_bad_records=10)


def _jsonl_dir(root: Path) -> Path:
    """Three files: two plain JSONL (several shards each, bad records in different shards), one gzipped."""
    rng = np.random.default_rng(11)
    vocab = np.array([f"w{i}" for i in range(1500)], dtype=object)

    def doc(n):
        return " ".join(vocab[rng.integers(0, len(vocab), n)])

    docs = [doc(int(rng.integers(20, 140))) for _ in range(900)]
    docs += docs[:30]                                                  # exact duplicates
    for i in range(30, 60):                                            # near duplicates
        w = docs[i].split()
        w[int(rng.integers(len(w)))] = "edited"
        docs.append(" ".join(w))
    docs += ["", "tiny", "x" * 3000, "lorem ipsum dolor sit amet " * 20, "... ... ...\n" * 30]   # outliers
    d = root / "jsonl"
    d.mkdir(parents=True)
    thirds = [docs[: 400], docs[400: 800], docs[800:]]
    for k, part in enumerate(thirds[:2]):
        lines = []
        for i, t in enumerate(part):
            lines.append(json.dumps({"text": t}))
            if i % 61 == 5:
                lines.append("")
            if i in (40 + k, 300):
                lines.append('{"text": broken')
        (d / f"part{k}.jsonl").write_text("\n".join(lines) + "\n")
    with gzip.open(d / "part2.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps({"text": t}) + "\n" for t in thirds[2]))
    return d


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    from conftest import FIXTURES

    root = tmp_path_factory.mktemp("signals-corpora")
    return {"fixtures": FIXTURES / "corpus" / "train.jsonl", "parquet": _make(root / "p")["train"],
            "jsonl": _jsonl_dir(root)}


def _report(data, out: Path, engine: str, workers: int):
    from dataaudit.api import ReadConfig
    from dataaudit.api.dataset import DatasetConfig, dataset_report

    cfg = DatasetConfig(engine=engine, workers=workers, read=ReadConfig(**READ))
    return dataset_report(data, out_dir=out, config=cfg)


def _outputs(out: Path) -> dict:
    """Every Parquet table's bytes, report.json less its creation time, timings and engine description."""
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.parquet"))
             if ".dataaudit" not in p.parts}
    assert "docs.parquet" in files and len(files) >= 3, files
    doc = json.loads((out / "report.json").read_text())
    doc.pop("timings", None)
    doc.pop("phases", None)
    doc.pop("created", None)
    doc.get("config", {}).pop("engine", None)
    doc["summary"] = {k: v for k, v in doc["summary"].items() if k not in ("timings", "engine")}
    doc["summary"].get("score", {}).pop("tokens_per_second", None)          # a rate: a timing
    return {"files": files, "report": doc}


def _differ(a, b, at: str = "") -> list[str]:
    """The paths where two outputs differ (empty: equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in sorted(set(a) | set(b), key=str) for p in _differ(a.get(k), b.get(k), f"{at}/{k}")]
    return [] if a == b else [at]


@pytest.fixture(scope="module")
def local(corpora, tmp_path_factory):
    """The local engine's outputs (1 worker) for each corpus; 2 workers checked equal on the way."""
    root = tmp_path_factory.mktemp("signals-local")
    want = {}
    for name, data in corpora.items():
        rep = _report(data, root / name / "w1", "local", 1)
        want[name] = (_outputs(root / name / "w1"), rep)
        docs = pq.read_table(root / name / "w1" / "docs.parquet")
        assert docs.num_rows == rep.summary["documents"] > 200
        assert docs.column("exact_group").null_count < docs.num_rows            # duplicates are found
    bad = want["jsonl"][1].bad_records
    assert bad["count"] == 4 and want["jsonl"][1].summary["near"]["clusters"] > 0
    _report(corpora["jsonl"], root / "jsonl-w2", "local", 2)
    assert _differ(_outputs(root / "jsonl-w2"), want["jsonl"][0]) == []
    return want


def _canonical_row_groups(path: Path, rows: int) -> None:
    md = pq.ParquetFile(path).metadata
    sizes = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
    assert all(s == rows for s in sizes[:-1]) and 0 < sizes[-1] <= rows, sizes


def test_the_signals_table_holds_no_text():
    """What a read task sends back: ids, split, source, signal values, verdicts, flags; never the text."""
    from dataaudit.passes.signals.task import empty_signals

    schema = empty_signals().schema
    assert "text" not in schema.names
    strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    assert strings == ["doc_id", "split", "source", "longest_run_char"]


def test_the_recut_cuts_by_rows_only():
    from dataaudit.io.common import recut

    t = pa.table({"a": list(range(23))})
    for cuts in ([23], [1] * 23, [5, 0, 9, 9], [10, 10, 3]):
        parts, at = [], 0
        for c in cuts:
            parts.append(t.slice(at, c))
            at += c
        got = list(recut(parts, 10))
        assert [g.num_rows for g in got] == [10, 10, 3]
        assert pa.concat_tables(got).equals(t) and all(g.column(0).num_chunks == 1 for g in got)
        batches = [b for p in parts for b in p.to_batches()]          # record batches cut the same way
        again = list(recut(batches, 10))
        assert [g.num_rows for g in again] == [10, 10, 3] and pa.concat_tables(again).equals(t)


@pytest.mark.parametrize("name", ["fixtures", "parquet", "jsonl"])
def test_report_on_local_read_tasks_equals_local(corpora, local, tmp_path, monkeypatch, name):
    """The local engine with read tasks on (2 partitions, many shards per file) writes the local outputs."""
    import dataaudit.api._job as job_mod
    from dataaudit.engine import LocalEngine

    made = []

    def engine(_name, workers=1, address=None):
        made.append(LocalEngine(workers, partitions=2, shard_bytes=SHARD))
        return made[-1]

    monkeypatch.setattr(job_mod, "get_engine", engine)
    from dataaudit.engine.pieces import Pieces

    mapped = []
    real_map = Pieces.map

    def spy_map(self, fn, *extra, **kw):
        mapped.append(fn.__name__)
        return real_map(self, fn, *extra, **kw)

    monkeypatch.setattr(Pieces, "map", spy_map)
    rep = _report(corpora[name], tmp_path / "o", "local", 1)
    assert made
    # the listed documents' excerpts are looked up by the read tasks too (the driver does not read the source)
    assert "signals_piece" in mapped and "excerpts_piece" in mapped, mapped
    assert any(r.get("excerpt") for sides in rep.findings["outliers"].values() for rows in sides.values()
               for r in rows)
    assert _differ(_outputs(tmp_path / "o"), local[name][0]) == []
    assert rep.bad_records == local[name][1].bad_records
    _canonical_row_groups(tmp_path / "o" / "docs.parquet", READ["batch_size"])


@pytest.mark.parametrize("workers", [1, 2])
def test_report_on_ray_read_tasks_equals_local(ray_here, corpora, local, tmp_path, monkeypatch, workers):
    """Ray, the workers reading shards of every file (many per file): docs.parquet, the other tables and the
    findings of the local run, byte for byte; the signals never go through the driver as text."""
    import dataaudit.engine.ray as ray_mod
    from dataaudit.engine.pieces import Pieces

    monkeypatch.setattr(ray_mod, "SHARD_BYTES", SHARD)
    planned = []
    real_init = Pieces.__init__

    def spy(self, engine, runner, source):
        real_init(self, engine, runner, source)
        planned.append(0 if self.shards is None else len(self.shards))

    monkeypatch.setattr(Pieces, "__init__", spy)
    for name, data in corpora.items():
        planned.clear()
        rep = _report(data, tmp_path / name, "ray", workers)
        assert rep.config["engine"]["engine"] == "ray" and rep.config["engine"]["workers"] == workers
        assert len(planned) >= 4 and min(planned) >= 4, (name, planned)    # exact, near, signals, excerpts
        assert _differ(_outputs(tmp_path / name), local[name][0]) == [], name
        assert rep.bad_records == local[name][1].bad_records
        _canonical_row_groups(tmp_path / name / "docs.parquet", READ["batch_size"])


@pytest.mark.parametrize("use", ["model", "tokenizer"])
def test_report_with_a_model_or_tokenizer_on_ray_equals_local(ray_here, corpora, tmp_path, monkeypatch, use):
    """With a model the scores are joined by position (``pos`` runs across pieces and re-cut tables): each
    document's row in docs.parquet carries its own scores; with a tokenizer each Ray worker loads it once.
    Ray with 2 workers, the JSON-lines directory in many shards: the local outputs byte for byte."""
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    import dataaudit.engine.ray as ray_mod
    from _models import build_tiny_gpt2
    from dataaudit.api import ReadConfig
    from dataaudit.api.dataset import DatasetConfig, dataset_report

    monkeypatch.setattr(ray_mod, "SHARD_BYTES", SHARD)
    texts = [json.loads(x)["text"] for x in (corpora["jsonl"] / "part0.jsonl").read_text().splitlines()[:40] if x]
    model = build_tiny_gpt2(tmp_path / "gpt2", texts, n_embd=16, n_layer=1)
    outs = {}
    for engine, w in (("local", 1), ("ray", 2)):
        extra = {"model": model, "cache_dir": str(tmp_path / f"cache-{engine}")} if use == "model" else \
            {"tokenizer": model}
        cfg = DatasetConfig(engine=engine, workers=w, read=ReadConfig(**READ), **extra)
        dataset_report(corpora["jsonl"], out_dir=tmp_path / engine, config=cfg)
        outs[engine] = _outputs(tmp_path / engine)
    assert _differ(outs["ray"], outs["local"]) == []
    docs = pq.read_table(tmp_path / "ray" / "docs.parquet")
    assert docs.column("tokens").null_count == 0 and pc_sum(docs.column("tokens")) > docs.num_rows
    if use == "model":
        scores = pq.read_table(tmp_path / "ray" / "scores.parquet")
        def by_id(t):                      # NaN (an empty document) as None, so that it compares equal
            return {i: (None if v != v else v) for i, v in zip(t["doc_id"].to_pylist(),
                                                                t["bits_per_byte"].to_pylist())}

        want, got = by_id(scores), by_id(docs)
        assert len(got) == docs.num_rows > 900 and got == want


def pc_sum(col) -> int:
    import pyarrow.compute as pc

    return int(pc.sum(col).as_py())
