"""The perplexity explanation: the gap decomposition equals per-document arithmetic, bootstrap intervals
cover what they should, the KS test, and the verdict does not contradict itself."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataaudit.findings.explain import explain_perplexity
from dataaudit.findings.leaks import LEAKS_SCHEMA
from dataaudit.findings.stats import boot_weights, interval, ks_2samp, weighted_rate
from dataaudit.records import Report
from dataaudit.report.sections.split import explain_lines


def _scores(split, rows):
    return pa.table({"doc_id": [r[0] for r in rows], "split": [split] * len(rows),
                     "n_tokens": [r[1] for r in rows], "n_bytes": [r[1] * 4 for r in rows],
                     "nll_sum": [r[2] for r in rows], "bits_per_byte": [r[2] / (r[1] * 4 * math.log(2)) for r in rows],
                     "source": ["a.jsonl"] * len(rows)})


def _leaks(path, rows):
    pq.write_table(pa.Table.from_pylist([{"doc_id": d, "split": "val", "exact": e, "near_jaccard": n,
                                          "containment": c, "passes": [], "train_doc_ids": []}
                                         for d, e, n, c in rows], schema=LEAKS_SCHEMA), path)


def test_decomposition_equals_hand_arithmetic(tmp_path):
    # val: 2 leaked docs (very easy: 0.5 nats/token), 3 clean (2.0); train sample: 2.5 nats/token
    val = _scores("val", [("l1", 100, 50.0), ("l2", 100, 50.0), ("c1", 100, 200.0), ("c2", 100, 200.0),
                          ("c3", 200, 400.0)])
    train = _scores("train", [(f"t{i}", 100, 250.0) for i in range(20)])
    _leaks(tmp_path / "leaks.parquet", [("l1", True, None, None), ("l2", False, 0.9, None)])
    res = explain_perplexity(val, tmp_path / "leaks.parquet", {"name": "m"}, train_scores=train, reps=400)
    ex = res.summary["explain"]["val"]
    v_all = (50 + 50 + 200 + 200 + 400) / 600           # 1.5
    v_clean = 800 / 400                                  # 2.0
    assert ex["val_nats"] == pytest.approx(v_all) and ex["train_nats"] == pytest.approx(2.5)
    assert ex["gap_nats"] == pytest.approx(2.5 - v_all)
    assert ex["leak_effect_nats"] == pytest.approx(v_clean - v_all)
    assert ex["share_explained"] == pytest.approx((v_clean - v_all) / (2.5 - v_all))      # 50%
    assert ex["remaining_gap_nats"] == pytest.approx(2.5 - v_clean)
    # per pass: without the exact-leaked doc only, (50 + 800) / 500
    assert ex["by_pass"]["exact"]["leak_effect_nats"] == pytest.approx(850 / 500 - v_all)
    assert ex["by_pass"]["near"]["docs"] == 1 and ex["by_pass"]["containment"]["docs"] == 0
    lo, hi = ex["share_interval"]
    assert lo <= ex["share_explained"] <= hi
    assert ex["as_ppl"]["val"] == pytest.approx(math.exp(v_all))
    assert res.summary["by_split"]["train"]["sample"] is True
    lines = explain_lines("val", ex)
    assert "below the train sample" in lines[0] and "50% of the gap" in lines[0]


def test_leaks_that_do_not_lower_val_are_not_called_the_cause(tmp_path):
    val = _scores("val", [("l1", 100, 400.0), ("c1", 100, 150.0), ("c2", 100, 150.0)])
    train = _scores("train", [(f"t{i}", 100, 300.0) for i in range(10)])
    _leaks(tmp_path / "leaks.parquet", [("l1", True, None, None)])
    ex = explain_perplexity(val, tmp_path / "leaks.parquet", {}, train_scores=train, reps=200).summary["explain"]["val"]
    assert ex["leak_effect_nats"] < 0 and ex["share_explained"] < 0
    text = " ".join(explain_lines("val", ex))
    assert "does not raise" in text or "account for" not in text


def test_bootstrap_interval_on_a_hand_case():
    rng = np.random.default_rng(0)
    # 400 documents of 10 tokens, per-token loss ~ N(2, 0.5): the mean's sd is 0.5 / sqrt(400) = 0.025
    nll = rng.normal(2.0, 0.5, 400) * 10
    tok = np.full(400, 10.0)
    w = boot_weights(400, 2000, rng)
    lo, hi = interval(weighted_rate(nll, tok, w))
    est = weighted_rate(nll, tok)
    assert lo < est < hi
    assert (hi - lo) == pytest.approx(2 * 1.96 * 0.5 / 20, rel=0.15)
    assert interval(np.array([1.0, 2.0])) is None                  # too few replicates to say


def test_ks_two_sample():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 500), rng.normal(0, 1, 500)
    d, p = ks_2samp(a, b)
    assert p > 0.01
    d2, p2 = ks_2samp(a, rng.normal(0.5, 1, 500))
    assert d2 > d and p2 < 1e-6


def test_share_above_one_says_all_of_it_and_nothing_remains(tmp_path):
    # the Trainer build's shape: train holds the leaked texts too, so without them val is above train
    val = _scores("val", [(f"l{i}", 100, 50.0) for i in range(12)] + [(f"c{i}", 100, 300.0) for i in range(28)])
    train = _scores("train", [(f"t{i}", 100, 279.0 + (i % 3)) for i in range(30)])
    _leaks(tmp_path / "leaks.parquet", [(f"l{i}", True, None, None) for i in range(12)])
    ex = explain_perplexity(val, tmp_path / "leaks.parquet", {}, train_scores=train, reps=400).summary["explain"]["val"]
    v_all, v_clean = (600 + 8400) / 4000, 3.0
    assert ex["share_explained"] == pytest.approx((v_clean - v_all) / (2.8 - v_all)) and ex["share_explained"] > 1
    assert ex["remaining_gap_nats"] == pytest.approx(2.8 - 3.0) and ex["share_defined"] >= 0.975
    text = " ".join(explain_lines("val", ex))
    assert "all of it" in text and "most of it" not in text
    assert "above the train sample" in text and "nothing is left" in text
    assert "comes from" not in text                    # one file per split is not a composition difference
    assert ex["sources"] is None


def test_share_not_pinned_down_when_the_gap_reaches_zero(tmp_path):
    rng = np.random.default_rng(3)
    # a tiny gap, noisy documents: many resampled gaps are <= 0
    val = _scores("val", [("l1", 100, 240.0)] + [(f"c{i}", 100, float(250 + rng.normal(0, 60))) for i in range(20)])
    train = _scores("train", [(f"t{i}", 100, float(252 + rng.normal(0, 60))) for i in range(20)])
    _leaks(tmp_path / "leaks.parquet", [("l1", True, None, None)])
    ex = explain_perplexity(val, tmp_path / "leaks.parquet", {}, train_scores=train, reps=400).summary["explain"]["val"]
    assert 0 < ex["share_defined"] < 0.975 and ex["gap_interval"][0] < 0 < ex["gap_interval"][1]
    text = " ".join(explain_lines("val", ex))
    assert ex["gap_nats"] > 0 and ex["leak_effect_nats"] > 0                 # the case the wording is for
    assert "cannot pin down" in text and "within resampling noise" in text and "% of the gap (95% CI" not in text
    from dataaudit.report.doc import Table
    from dataaudit.report.sections.split import perplexity

    rep = Report(kind="split", config={}, summary={"perplexity": {"by_split": {}, "explain": {"val": ex}}})
    cells = [str(c) for b in perplexity(rep)[0].blocks if isinstance(b, Table) for r in b.rows for c in r]
    assert any("not pinned down" in c for c in cells)


def test_sources_compared_only_when_shared():
    from dataaudit.findings.explain import _sources

    def t(src):
        return pa.table({"source": src})

    assert _sources(t(["val.jsonl"] * 3), t(["train.jsonl"] * 5)) is None
    got = _sources(t(["wiki", "wiki", "web"]), t(["web"] * 3 + ["wiki"]))
    assert got["wiki"]["val_share"] == pytest.approx(2 / 3) and got["wiki"]["train_share"] == pytest.approx(1 / 4)


def test_logged_losses_stated_with_the_right_direction():
    from dataaudit.report.sections.split import verdict_lines

    def lines(tr, ev):
        rep = Report(kind="split", config={}, summary={
            "exact": {"splits": {}}, "leaks": {"by_split": {}},
            "perplexity": {"by_split": {}, "logged": {"train_loss": tr, "eval_loss": ev, "step": 178}}})
        return " ".join(verdict_lines(rep))

    assert "eval 0.222 below train" in lines(4.26, 4.038) and "near step 178" in lines(4.26, 4.038)
    assert "eval 0.100 above train" in lines(4.0, 4.1)
