"""The containment pass: embedded short documents found, boilerplate capped, spans and holders reported."""

from __future__ import annotations


import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataaudit.errors import ConfigError
from dataaudit.passes.containment import ContainmentConfig, run_containment
from dataaudit.records import DOC_SCHEMA


def source(texts, split, batch_size=64):
    def make():
        for s in range(0, len(texts), batch_size):
            t = texts[s:s + batch_size]
            n = len(t)
            yield pa.RecordBatch.from_arrays(
                [pa.array([f"{split}:{i}" for i in range(s, s + n)]), pa.array([split] * n),
                 pa.array(t, pa.large_string()), pa.array([split] * n), pa.array(range(s, s + n), pa.int64())],
                schema=DOC_SCHEMA)
    return make


def _doc(rng, n, vocab=5000):
    return " ".join(f"w{x}" for x in rng.integers(0, vocab, n))


def test_by_hand(tmp_path):
    train = ["x1 x2 a b c d e f x3", "nothing here at all"]
    small = ["A b, C d E!", "a b c zz", "short"]        # 3-grams: abc bcd cde | abc bcz | (too short)
    res = run_containment({"val": source(small, "val")}, source(train, "train"), ContainmentConfig(ngram=3),
                          tmp_path)
    rows = {r["doc_id"]: r for r in pq.read_table(tmp_path / "containment.parquet").to_pylist()}
    assert set(rows) == {"val:0", "val:1"}
    assert rows["val:0"]["containment"] == 1.0 and rows["val:0"]["flagged"]
    assert rows["val:0"]["spans"] == [[0, 5]] and rows["val:0"]["excerpt"] == "a b c d e"
    assert rows["val:0"]["train_doc_ids"] == ["train:0"] and rows["val:0"]["train_doc_matches"] == [3]
    assert rows["val:1"]["containment"] == 0.5 and rows["val:1"]["flagged"]          # threshold 0.5 reached
    assert res.summary["too_short"] == {"val": 1}
    assert res.summary["leaked_by_split"] == {"val": 2}


def test_embedded_docs_recall_and_nothing_else(tmp_path):
    rng = np.random.default_rng(11)
    train = [_doc(rng, int(rng.integers(300, 800))) for _ in range(400)]
    small = [_doc(rng, int(rng.integers(50, 120))) for _ in range(120)]
    planted = set(range(0, 120, 2))
    for i in planted:                                   # embed each planted doc in the middle of a train doc
        w = train[i].split()
        cut = int(rng.integers(0, len(w)))
        train[i] = " ".join(w[:cut] + small[i].split() + w[cut:])
    res = run_containment({"test": source(small, "test")}, source(train, "train"), ContainmentConfig(),
                          tmp_path)
    t = pq.read_table(tmp_path / "containment.parquet")
    flagged = {int(d.split(":")[1]) for d, f in zip(t["doc_id"].to_pylist(), t["flagged"].to_pylist()) if f}
    assert len(flagged & planted) / len(planted) >= 0.98
    assert flagged <= planted
    for r in t.to_pylist():
        i = int(r["doc_id"].split(":")[1])
        assert r["train_doc_ids"][0] == f"train:{i}"
    assert res.summary["leaked_docs"] == len(flagged)


def test_boilerplate_is_capped(tmp_path):
    rng = np.random.default_rng(5)
    boiler = "this article is licensed under the creative commons attribution share alike licence version three"
    train = [_doc(rng, 100) + " " + boiler for _ in range(30)]
    small = [boiler + " " + _doc(rng, 5)]      # 14 + 5 words: 2 of its 7 13-grams are boilerplate
    args = ({"val": source(small, "val")}, source(train, "train"))
    capped = run_containment(*args, ContainmentConfig(max_ngram_doc_freq=10, threshold=0.25), tmp_path / "a")
    assert capped.summary["leaked_docs"] == 0 and capped.summary["boilerplate_ngrams"] >= 1
    loose = run_containment(*args, ContainmentConfig(max_ngram_doc_freq=1000, threshold=0.25), tmp_path / "b")
    assert loose.summary["leaked_docs"] == 1


@settings(max_examples=6, deadline=None)
@given(bs=st.integers(1, 40))
def test_independent_of_batch_size(tmp_path_factory, bs):
    rng = np.random.default_rng(2)
    small = [_doc(rng, 30, 50) for _ in range(12)]
    train = [_doc(rng, 60, 50) + " " + small[i] for i in range(20) if i < 12] + [_doc(rng, 60, 50)] * 3
    out = tmp_path_factory.mktemp("c")
    run_containment({"val": source(small, "val", 100)}, source(train, "train", 100), ContainmentConfig(ngram=5),
                    out / "ref")
    run_containment({"val": source(small, "val", bs)}, source(train, "train", bs), ContainmentConfig(ngram=5),
                    out / "got")
    assert pq.read_table(out / "ref" / "containment.parquet").equals(pq.read_table(out / "got" / "containment.parquet"))


@pytest.mark.parametrize("kw, match", [(dict(threshold=0), r"outside \(0, 1\]"), (dict(ngram=0), "ngram"),
                                       (dict(max_ngram_doc_freq=0), "max_ngram_doc_freq")])
def test_bad_settings(kw, match):
    with pytest.raises(ConfigError, match=match):
        ContainmentConfig(**kw)


def test_cli_flags(tmp_path):
    from dataaudit.cli import build_parser
    from dataaudit.commands.split import config_from_args

    p = build_parser()
    base = ["split", "--train", "t", "--val", "v", "--out", str(tmp_path)]
    cfg = config_from_args(p.parse_args(base + ["--containment-ngram", "8", "--containment-threshold", "0.3"]))
    assert (cfg.containment.ngram, cfg.containment.threshold) == (8, 0.3)
    assert config_from_args(p.parse_args(base + ["--no-containment"])).containment is None


def test_empty_sides(tmp_path):
    res = run_containment({"val": source([], "val")}, source(["a b c"], "train"), ContainmentConfig(), tmp_path)
    assert res.summary["leaked_docs"] == 0
    res = run_containment({"val": source(["a b c"], "val")}, source([], "train"), ContainmentConfig(ngram=2),
                          tmp_path / "b")
    assert res.summary["docs_with_matches"] == 0
