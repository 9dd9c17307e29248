"""Eval sets as they come (issue 12): per-file fields, nested and list fields, ids, adaptive n, whole items,
trivial leaks, excerpts in report.md, and a small run of the contamination benchmark on the real corpora."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataaudit.api.split import SplitConfig, audit_split
from dataaudit.config import ReadConfig
from dataaudit.errors import InputError
from dataaudit.findings.leaks import TrivialRule
from dataaudit.io.evalsets import EvalSource, item_text, parse_eval_spec
from dataaudit.passes.containment import ContainmentConfig, run_containment
from dataaudit.records import DOC_SCHEMA

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def _jsonl(path: Path, recs) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def _docs(src):
    return [r for b in src() for r in b.to_pylist()]


def test_nested_and_list_fields_joined(tmp_path):
    f = _jsonl(tmp_path / "obqa.jsonl", [
        {"question": {"stem": "Why is the sky blue?", "choices": [{"text": "scattering", "label": "A"},
                                                                 {"text": "paint", "label": "B"}]}, "answerKey": "A"}])
    src = EvalSource(f"{f}:question.stem+question.choices", split="obqa", read=ReadConfig())
    assert src.fields == ("question.stem", "question.choices") and src.fields_from == "flag"
    assert [d["text"] for d in _docs(src)] == ["Why is the sky blue?\nscattering\npaint"]
    assert item_text({"ctx": "A man", "endings": ["runs.", "sits."]}, ["ctx", "endings"]) == "A man\nruns.\nsits."
    assert parse_eval_spec(str(f)) == (str(f), None)


@pytest.mark.parametrize("rec,fields", [
    ({"question": {"stem": "s", "choices": [{"text": "a"}]}}, ("question.stem", "question.choices")),
    ({"ctx": "c", "endings": ["e"]}, ("ctx", "endings")),
    ({"input": "q", "A": "a", "B": "b", "C": "c", "D": "d", "target": "A"}, ("input", "A", "B", "C", "D")),
    ({"goal": "g", "sol1": "a", "sol2": "b"}, ("goal", "sol1", "sol2")),
    ({"sentence1": "a", "sentence2": "b", "pairID": "1e"}, ("sentence1", "sentence2")),
    ({"question": "q", "answer": ["x"]}, ("question",)),
    ({"prompt": "Q: x", "completion": " yes"}, ("prompt",)),
])
def test_fields_detected_per_layout(tmp_path, rec, fields):
    src = EvalSource(_jsonl(tmp_path / "e.jsonl", [rec]), split="e", read=ReadConfig())
    assert src.fields == fields and src.fields_from == "detected"


def test_no_text_field_lists_fields(tmp_path):
    f = _jsonl(tmp_path / "e.jsonl", [{"label": 1, "meta": {"src": 2}}])
    with pytest.raises(InputError, match=r"fields: \['label', 'meta', 'meta.src'\].*--eval"):
        EvalSource(f, split="e", read=ReadConfig())
    with pytest.raises(InputError, match="field 'nope' not found"):
        EvalSource(f"{f}:nope", split="e", read=ReadConfig())


def test_id_fields_and_relative_names(tmp_path):
    f = _jsonl(tmp_path / "mnli.jsonl", [{"pairID": "7e", "sentence1": "a", "sentence2": "b", "k": "x"},
                                         {"pairID": "9n", "sentence1": "c", "sentence2": "d", "k": "y"}])
    assert [d["doc_id"] for d in _docs(EvalSource(f, split="mnli", read=ReadConfig()))] == ["mnli:7e", "mnli:9n"]
    assert [d["doc_id"] for d in _docs(EvalSource(f, split="mnli", read=ReadConfig(), id_field="k"))] == \
        ["mnli:x", "mnli:y"]
    g = _jsonl(tmp_path / "nq.jsonl", [{"question": "a"}, {"question": "b"}])
    assert [d["doc_id"] for d in _docs(EvalSource(g, split="nq", read=ReadConfig()))] == ["nq:0", "nq:1"]


def _source(texts, split):
    def make():
        n = len(texts)
        yield pa.RecordBatch.from_arrays(
            [pa.array([f"{split}:{i}" for i in range(n)]), pa.array([split] * n), pa.array(texts, pa.large_string()),
             pa.array([split] * n), pa.array(range(n), pa.int64())], schema=DOC_SCHEMA)
    return make


def test_adaptive_n_and_whole_items(tmp_path):
    rng = np.random.default_rng(3)
    word = lambda k: " ".join(f"w{x}" for x in rng.integers(0, 10**6, k))   # noqa: E731
    items = [word(9) for _ in range(40)] + [word(6), word(6), word(3)]
    cfg = ContainmentConfig()
    assert cfg.ngram_for(np.array([len(t.split()) for t in items])) == 8          # 5th percentile 9 -> 8..13
    train = [word(200) + " " + items[0] + " " + word(50), word(100) + " " + items[40] + " " + word(10),
             word(30) + " " + " ".join(items[41].split()[:5])]                   # only 5 of item 41's 6 words
    res = run_containment({"nq": _source(items, "nq")}, _source(train, "train"), cfg, tmp_path)
    rows = {r["doc_id"]: r for r in pq.read_table(tmp_path / "containment.parquet").to_pylist()}
    assert res.summary["ngram_by_split"] == {"nq": 8}
    assert rows["nq:0"]["flagged"] and rows["nq:0"]["ngram"] == 8 and not rows["nq:0"]["whole"]
    assert rows["nq:40"]["flagged"] and rows["nq:40"]["whole"] and rows["nq:40"]["spans"] == [[0, 6]]
    assert "nq:41" not in rows                                                   # a part is not the whole item
    assert res.summary["matched_whole"] == {"nq": 2} and res.summary["too_short"] == {"nq": 1}
    assert set(rows) == {"nq:0", "nq:40"}


def test_fixed_n_when_min_equals_max(tmp_path):
    items = ["a b c d e f g h i j"]
    res = run_containment({"v": _source(items, "v")}, _source(["z " + items[0]], "train"),
                          ContainmentConfig(min_ngram=13), tmp_path)
    assert res.summary["ngram_by_split"] == {"v": 13} and res.summary["matched_whole"] == {"v": 1}
    res = run_containment({"v": _source(items, "v")}, _source(["z " + items[0]], "train"),
                          ContainmentConfig(min_ngram=13, min_item_words=11), tmp_path)
    assert res.summary["too_short"] == {"v": 1} and res.summary["leaked_docs"] == 0


def test_trivial_rule():
    r = TrivialRule()
    assert r.is_trivial(1, 1) and r.is_trivial(4, 1) and not r.is_trivial(5, 1) and r.is_trivial(30, 10)
    # a whole document repeated in train is what a model memorizes: never trivial for its copies alone
    assert not r.is_trivial(33, 10) and not r.is_trivial(500, 1000)


def test_trivial_leaks_counted_apart_with_excerpts(tmp_path):
    body = "the quick brown fox jumps over the lazy dog near the river bank today"
    train = [{"text": "= = History = ="}, {"text": "ROMEO:"}, {"text": body + " <b>and</b> more"},
             {"text": "filler text " * 30}]
    val = [{"text": "= = History = ="}, {"text": "ROMEO:"}, {"text": body + " <b>and</b> more"},
           {"text": "something else entirely, unrelated to anything in train at all"}]
    tr, va = _jsonl(tmp_path / "train.jsonl", train), _jsonl(tmp_path / "val.jsonl", val)
    rep = audit_split(tr, va, out_dir=tmp_path / "r", config=SplitConfig(near=None))
    by = rep.summary["leaks"]["by_split"]["val"]
    assert by["leaked_docs"] == 1 and by["trivial"] == 2 and rep.summary["leaked_docs"] == 1
    t = {r["doc_id"].rsplit(":", 1)[1]: r for r in pq.read_table(tmp_path / "r" / "leaks.parquet").to_pylist()}
    assert t["0"]["trivial"] and t["1"]["trivial"] and not t["2"]["trivial"] and t["2"]["matched_words"] >= 14
    md = (tmp_path / "r" / "report.md").read_text()
    assert "the quick brown fox" in md and "| trivial |" in md and "ROMEO" in md
    assert "`the quick brown fox" in md              # document text goes through Lit (a code span here)
    assert rep.findings["exact"]["leaks"][0]["excerpt"]


def test_eval_sets_recorded_in_report(tmp_path):
    tr = _jsonl(tmp_path / "train.jsonl", [{"text": "why is the sky blue because of rayleigh scattering of light"}])
    ob = _jsonl(tmp_path / "obqa.jsonl", [{"question": {"stem": "why is the sky blue", "choices": [
        {"text": "because of rayleigh scattering of light"}]}, "id": "q1"}])
    rep = audit_split(tr, evals=[str(ob)], out_dir=tmp_path / "r", config=SplitConfig(near=None))
    assert rep.summary["eval_sets"]["obqa"]["fields"] == ["question.stem", "question.choices"]
    assert rep.summary["eval_sets"]["obqa"]["id_field"] == "id"
    t = pq.read_table(tmp_path / "r" / "leaks.parquet").to_pylist()
    assert [r["doc_id"] for r in t] == ["obqa:q1"]      # question + choices is the train sentence
    assert "question.stem + question.choices" in (tmp_path / "r" / "report.md").read_text()


@pytest.mark.skipif(not (CORPORA / "eval-benchmarks").is_dir(), reason="shared corpora absent")
def test_contamination_benchmark_small(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("contam", Path(__file__).resolve().parents[1] / "benchmarks" /
                                                  "contamination.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.run(CORPORA, 4, tmp_path / "out")
    assert r["recall_8plus"]["planted"] > 50 and r["recall_8plus"]["recall"] >= 0.95
    assert r["false_flags"] == 0
