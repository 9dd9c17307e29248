"""`dataaudit report` on the engine: the same docs.parquet and findings for any --workers; tokens per
document with --tokenizer (a tokenizer this test builds), none without."""

from __future__ import annotations

import importlib.util
import json
import re

import pyarrow.parquet as pq
import pytest

from dataaudit.cli import main
from test_report_cmd import _corpus


def _run(tmp_path, name, *extra):
    out = tmp_path / name
    code = main(["report", str(tmp_path / "c.jsonl"), "--id-column", "id", "--out", str(out), "-q",
                 "--batch-size", "64", *extra])
    assert code == 0
    return out


def _findings(out):
    doc = json.loads((out / "report.json").read_text())
    s = {k: v for k, v in doc["summary"].items() if k not in ("timings", "engine")}
    return doc["findings"], s


def test_report_workers_1_and_2_give_identical_tables_and_findings(tmp_path):
    _corpus(tmp_path / "c.jsonl", n=700, seed=3)
    one, two = _run(tmp_path, "w1", "--workers", "1"), _run(tmp_path, "w2", "--workers", "2")
    a, b = pq.read_table(one / "docs.parquet"), pq.read_table(two / "docs.parquet")
    assert a.num_rows == 706 and a.equals(b, check_metadata=True)
    assert (one / "docs.parquet").read_bytes() == (two / "docs.parquet").read_bytes()
    assert _findings(one) == _findings(two)
    assert a.column("tokens").null_count == a.num_rows              # no tokenizer: not counted
    assert json.loads((one / "report.json").read_text())["summary"]["tokens"] is None
    assert "not counted" in (one / "report.md").read_text().split("## Overview", 1)[1].split("##", 1)[0]


@pytest.fixture(scope="module")
def word_tokenizer(tmp_path_factory):
    """A WordLevel tokenizer with a whitespace/punctuation pre-tokenizer, trained here on a few lines."""
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("tokenizers") is None:
        pytest.skip("transformers/tokenizers not installed")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["the river city people music", "season history church war first north"],
                            trainers.WordLevelTrainer(special_tokens=["[UNK]", "[BOS]"]))
    d = tmp_path_factory.mktemp("tok")
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", bos_token="[BOS]").save_pretrained(d)
    return d


def test_tokenizer_fills_tokens_per_document_and_the_overview(tmp_path, word_tokenizer):
    _corpus(tmp_path / "c.jsonl", n=150, seed=4)
    texts = {json.loads(line)["id"]: json.loads(line)["text"] for line in open(tmp_path / "c.jsonl")}
    outs = [_run(tmp_path, f"t{w}", "--tokenizer", str(word_tokenizer), "--workers", str(w)) for w in (1, 2)]
    t = pq.read_table(outs[0] / "docs.parquet")
    assert t.equals(pq.read_table(outs[1] / "docs.parquet"))
    got = dict(zip(t["doc_id"].to_pylist(), t["tokens"].to_pylist()))
    # Whitespace pre-tokenizer pieces are \w+ or [^\w\s]+ runs; WordLevel maps each to one id (or [UNK])
    want = {i: len(re.findall(r"\w+|[^\w\s]+", s)) for i, s in texts.items()}
    assert got == want
    doc = json.loads((outs[0] / "report.json").read_text())
    assert doc["summary"]["tokens"] == sum(want.values()) and doc["summary"]["tokens_from"] == "tokenizer"
    assert str(sum(want.values())) in (outs[0] / "report.md").read_text().split("## Overview", 1)[1][:2000]


def test_tokenizer_dir_that_is_not_one_is_one_line_exit_2(tmp_path, capsys):
    _corpus(tmp_path / "c.jsonl", n=20)
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "missing", tmp_path / "empty"):
        code = main(["report", str(tmp_path / "c.jsonl"), "--id-column", "id", "--out", str(tmp_path / "o"),
                     "-q", "--tokenizer", str(bad)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "--tokenizer" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_missing_transformers_names_the_pip_command(tmp_path, capsys, monkeypatch, word_tokenizer):
    _corpus(tmp_path / "c.jsonl", n=20)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "transformers" else real(name, *a))
    code = main(["report", str(tmp_path / "c.jsonl"), "--id-column", "id", "--out", str(tmp_path / "o"), "-q",
                 "--tokenizer", str(word_tokenizer)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "pip install 'dataaudit[hf]'" in err and len(err.splitlines()) == 1, err
