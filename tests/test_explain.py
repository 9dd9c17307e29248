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
