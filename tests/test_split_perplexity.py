"""dataaudit split with a reference model: val perplexity with and without the leaked documents."""

import json
import math

import pyarrow.parquet as pq
import pytest

from dataaudit.api import ReadConfig, SplitConfig, audit_split


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from dataaudit.model.bytelm import ByteLMConfig, fit_default_model

    cfg = ByteLMConfig(steps=30, buckets=4096, d_hidden=64, batch_size=4, seq_len=128, sample_bytes=50_000)
    return fit_default_model(["the quick brown fox jumps over the lazy dog. " * 40] * 4, config=cfg,
                             cache_dir=tmp_path_factory.mktemp("cache"), device="cpu")


def test_perplexity_with_and_without_leaks(corpus, tmp_path, tiny_model, monkeypatch):
    monkeypatch.setenv("DATAAUDIT_CACHE", str(tmp_path / "cache"))
    cfg = SplitConfig(read=ReadConfig(id_column="id"), model=tiny_model, device="cpu")
    report = audit_split(corpus / "train.jsonl", corpus / "val.jsonl", out_dir=tmp_path / "r", config=cfg)
    scores = pq.read_table(tmp_path / "r" / "scores.parquet").to_pylist()
    leaked = {r["doc_id"] for r in pq.read_table(tmp_path / "r" / "leaks.parquet").to_pylist()}
    assert {r["split"] for r in scores} == {"val"} and len(scores) == 71   # train is not scored

    def ppl(rows):
        return math.exp(sum(r["nll_sum"] for r in rows) / sum(r["n_tokens"] for r in rows))

    v = report.summary["perplexity"]["by_split"]["val"]
    assert v["all"]["ppl"] == pytest.approx(ppl(scores), rel=1e-9)
    assert v["without_leaked"]["ppl"] == pytest.approx(ppl([r for r in scores if r["doc_id"] not in leaked]))
    assert v["leaked_only"]["ppl"] == pytest.approx(ppl([r for r in scores if r["doc_id"] in leaked]))
    assert v["leaked_only"]["docs"] == 10 and v["without_leaked"]["docs"] == 61
    assert v["ppl_rise_without_leaked"] == pytest.approx(v["without_leaked"]["ppl"] / v["all"]["ppl"] - 1)
    md = (tmp_path / "r" / "report.md").read_text()
    assert "## Validation perplexity with and without the leaked documents" in md
    verdict = md.split("## Leaked documents")[0]
    assert "val loss is" in verdict and "nats/token" in verdict          # the gap, stated in the verdict
    # the decomposition equals per-document arithmetic on the two scores tables
    train = pq.read_table(tmp_path / "r" / "train_sample_scores.parquet").to_pylist()
    assert len(train) == 255 and {r["split"] for r in train} == {"train"}   # fewer than --train-sample docs

    def nats(rows):
        return sum(r["nll_sum"] for r in rows) / sum(r["n_tokens"] for r in rows)

    ex = report.summary["perplexity"]["explain"]["val"]
    assert ex["gap_nats"] == pytest.approx(nats(train) - nats(scores), rel=1e-9)
    clean = [r for r in scores if r["doc_id"] not in leaked]
    assert ex["leak_effect_nats"] == pytest.approx(nats(clean) - nats(scores), rel=1e-9)
    assert ex["gap_interval"][0] <= ex["gap_nats"] <= ex["gap_interval"][1]
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert doc["config"]["perplexity"]["model"]["fingerprint"] == tiny_model.describe()["fingerprint"]
