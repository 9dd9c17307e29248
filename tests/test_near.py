"""The near-duplicate pass: planted pairs found and nothing else, determinism, clusters, bad settings."""

from __future__ import annotations


import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataaudit.errors import ConfigError
from dataaudit.engine import LocalEngine
from dataaudit.passes.clusters import union_find_clusters
from dataaudit.passes.near import NearConfig, run_near
from dataaudit.records import Report
from dataaudit.report.sections.split import near as near_sections
from dataaudit.records import DOC_SCHEMA
from dataaudit.shingle import jaccard, shingles


def source(texts, split, batch_size=64, ids=None):
    ids = ids or [f"{split}:{i}" for i in range(len(texts))]

    def make():
        for s in range(0, len(texts), batch_size):
            t = texts[s:s + batch_size]
            n = len(t)
            yield pa.RecordBatch.from_arrays(
                [pa.array(ids[s:s + n]), pa.array([split] * n), pa.array(t, pa.large_string()),
                 pa.array([split] * n), pa.array(range(s, s + n), pa.int64())], schema=DOC_SCHEMA)
    return make


def _doc(rng, n, vocab=3000):
    return " ".join(f"w{x}" for x in rng.integers(0, vocab, n))


def _edit(rng, text, rate):
    words = text.split()
    k = int(round(rate * len(words)))
    for j in rng.choice(len(words), k, replace=False):
        words[j] = f"edit{rng.integers(1 << 30)}"
    return " ".join(words)


@pytest.fixture(scope="module")
def planted():
    """300 train docs, 80 val docs: 60 are edited copies of train docs (exact Jaccard of word 5-gram sets
    from 1.0 down to ~0.3), 20 fresh. Exact Jaccard of every val x train pair sharing a shingle."""
    rng = np.random.default_rng(7)
    train = [_doc(rng, int(rng.integers(80, 200))) for _ in range(300)]
    # target J in 0.3..1.0: a word edit rate p keeps a share s = (1-p)^5 of 5-grams, J ~ s / (2 - s)
    target = np.linspace(1.0, 0.3, 60)
    rates = 1 - (2 * target / (1 + target)) ** (1 / 5)
    val = [_edit(rng, train[i], rate) for i, rate in enumerate(rates)]
    val += [_doc(rng, 120) for _ in range(20)]
    tsets = [set(shingles(t)) for t in train]
    truth = {}
    for i, v in enumerate(val):
        vs = set(shingles(v))
        for j, ts in enumerate(tsets):
            if vs & ts:
                truth[(i, j)] = jaccard(vs, ts)
    return train, val, truth


def _pairs(out):
    t = pq.read_table(out / "near_pairs.parquet")
    return {(int(a.split(":")[1]), int(b.split(":")[1])): j for a, b, j in
            zip(t["doc_id"].to_pylist(), t["other_doc_id"].to_pylist(), t["jaccard"].to_pylist())}


def test_planted_pairs_found_and_nothing_else(planted, tmp_path):
    train, val, truth = planted
    res = run_near({"train": source(train, "train"), "val": source(val, "val")}, NearConfig(threshold=0.7),
                   tmp_path)
    found = _pairs(tmp_path)
    should = {p for p, j in truth.items() if j >= 0.75}
    assert len(should) >= 20 and min(truth.values()) < 0.4
    # recall: P(candidate) >= 0.984 at J >= t + 0.05 for these (bands, rows), so with ~25 pairs one miss
    # can happen by chance (the benchmark measures the 0.98 target on 1000 pairs); at J >= t + 0.1 it is
    # >= 0.998, so none may be missed there
    assert len(should & set(found)) >= len(should) - 1
    assert {p for p, j in truth.items() if j >= 0.8} <= set(found)
    assert all(truth.get(p, 0.0) >= 0.7 for p in found)                    # precision 1.0 after verification
    for p, j in found.items():                                             # exact Jaccard, hand-checkable
        assert j == pytest.approx(truth[p])
    s = res.summary
    assert s["verified_pairs"] == len(found)
    assert s["candidates"] == s["verified_pairs"] + s["dropped_candidates"]
    assert s["leaked_by_split"] == {"val": len({a for a, _ in found})}
    assert set(s["detection_curve"]) == {f"{x:.2f}" for x in np.arange(0.5, 0.951, 0.05)}
    rep = Report(kind="split", config={})
    res.apply_to(rep)
    sec = near_sections(rep)[0]
    assert sec.title == "Near-duplicates (MinHash + LSH, verified)"
    assert any("Detection curve" in getattr(b, "text", "") for b in sec.blocks)
    est = pq.read_table(tmp_path / "near_pairs.parquet")
    err = np.abs(np.array(est["estimated_jaccard"]) - np.array(est["jaccard"]))
    j = np.array(est["jaccard"])
    assert (err <= 4.5 * np.sqrt(j * (1 - j) / 128) + 1e-9).all()      # estimates within 4.5 sd


def test_containment_columns_by_hand(tmp_path):
    base = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"
    run_near({"train": source([base], "train"), "val": source([base + " nu xi"], "val")},
             NearConfig(threshold=0.5, ngram=3), tmp_path)
    t = pq.read_table(tmp_path / "near_pairs.parquet").to_pylist()
    assert len(t) == 1
    # val has 12 shingles, train 10, all 10 shared: J = 10/12, val in train 10/12, train in val 10/10
    assert t[0]["jaccard"] == pytest.approx(10 / 12)
    assert t[0]["containment"] == pytest.approx(10 / 12)
    assert t[0]["other_containment"] == pytest.approx(1.0)
    assert (t[0]["doc_id"], t[0]["other_doc_id"]) == ("val:0", "train:0")


def test_within_mode_clusters_and_empty_docs(tmp_path):
    rng = np.random.default_rng(3)
    a = _doc(rng, 100)
    train = [a, _doc(rng, 100), _edit(rng, a, 0.01), "", "", _edit(rng, a, 0.02), _doc(rng, 100)]
    res = run_near({"train": source(train, "train"), "val": source([a], "val")},
                   NearConfig(mode="within", threshold=0.8), tmp_path)
    c = pq.read_table(tmp_path / "near_clusters.parquet").to_pylist()
    assert sorted(r["doc_id"] for r in c) == ["train:0", "train:2", "train:5"]     # val copy not paired
    assert {r["cluster_id"] for r in c} == {0} and {r["cluster_size"] for r in c} == {3}
    assert res.summary["documents_without_shingles"] == 2
    assert res.summary["leaked_by_split"] == {}


def test_cross_mode_includes_val_test(tmp_path):
    rng = np.random.default_rng(4)
    x = _doc(rng, 60)
    run_near({"train": source([_doc(rng, 60)], "train"), "val": source([x], "val"),
              "test": source([x], "test")}, NearConfig(), tmp_path)
    t = pq.read_table(tmp_path / "near_pairs.parquet").to_pylist()
    assert [(r["split"], r["other_split"]) for r in t] == [("val", "test")]


def _run(tmp_path, train, val, **kw):
    bs = kw.pop("batch_size", 64)
    workers = kw.pop("workers", 1)
    out = tmp_path / f"run{np.random.default_rng().integers(1 << 40)}"
    with LocalEngine(workers=workers) as engine:
        run_near({"train": source(train, "train", bs), "val": source(val, "val", bs)}, NearConfig(**kw), out,
                 engine=engine)
    return pq.read_table(out / "near_pairs.parquet"), pq.read_table(out / "near_clusters.parquet")


def test_identical_for_1_and_2_workers(planted, tmp_path):
    train, val, _ = planted
    p1, c1 = _run(tmp_path, train, val, threshold=0.6, workers=1)
    p2, c2 = _run(tmp_path, train, val, threshold=0.6, workers=2)
    assert p1.num_rows > 10
    assert p1.equals(p2) and c1.equals(c2)


@settings(max_examples=8, deadline=None)
@given(bs=st.integers(1, 97), seed=st.integers(0, 3))
def test_independent_of_batch_size(tmp_path_factory, bs, seed):
    rng = np.random.default_rng(seed)
    train = [_doc(rng, 40, 200) for _ in range(30)]
    val = [_edit(rng, train[i], 0.05) for i in range(10)] + [""]
    tmp = tmp_path_factory.mktemp("bs")
    ref = _run(tmp, train, val, mode="both", threshold=0.5, batch_size=1000)
    got = _run(tmp, train, val, mode="both", threshold=0.5, batch_size=bs)
    assert ref[0].equals(got[0]) and ref[1].equals(got[1])


def test_bucket_cap_is_counted(tmp_path):
    same = "one two three four five six seven eight nine ten"
    res = run_near({"train": source([same] * 6, "train")}, NearConfig(mode="within", max_bucket=2), tmp_path)
    b = res.summary["buckets"]
    assert b["capped"] >= 1 and b["pairs_skipped_by_cap"] > 0
    assert res.warnings and "max_bucket" in res.warnings[0]


def test_union_find_is_order_independent():
    a, b = np.array([3, 1, 8, 4]), np.array([4, 2, 9, 2])
    m1, c1 = union_find_clusters(a, b)
    m2, c2 = union_find_clusters(a[::-1], b[::-1])
    assert np.array_equal(m1, m2) and np.array_equal(c1, c2)
    assert c1.tolist() == [0, 0, 0, 0, 1, 1]        # {1,2,3,4} first (smallest member 1), then {8,9}


@pytest.mark.parametrize("kw, match", [
    (dict(bands=20, rows=8), "exceeds num_perm"),
    (dict(threshold=0.0), r"outside \(0, 1\]"),
    (dict(threshold=1.5), r"outside \(0, 1\]"),
    (dict(bands=4), "both --bands and --rows"),
    (dict(num_perm=0), "num_perm"),
    (dict(weights=(0.5, 0.6)), "summing to 1"),
    (dict(mode="sideways"), "mode"),
])
def test_bad_settings(kw, match):
    with pytest.raises(ConfigError, match=match):
        NearConfig(**kw)


def test_bad_worker_count():
    with pytest.raises(ConfigError, match="workers"):
        LocalEngine(workers=-1)


def test_cli_flags_round_trip(tmp_path):
    from dataaudit.cli import build_parser
    from dataaudit.commands.split import config_from_args

    p = build_parser()
    base = ["split", "--train", "t", "--val", "v", "--out", str(tmp_path)]
    cfg = config_from_args(p.parse_args(base + ["--near-threshold", "0.7", "--bands", "10", "--rows", "10",
                                                "--near-mode", "both", "--workers", "2"]))
    assert (cfg.near.threshold, cfg.near.lsh_params(), cfg.near.mode, cfg.workers) == (0.7, (10, 10), "both", 2)
    assert config_from_args(p.parse_args(base + ["--threshold", "0.6"])).near.threshold == 0.6   # deprecated alias
    assert config_from_args(p.parse_args(base + ["--no-near"])).near is None
    with pytest.raises(ConfigError):
        config_from_args(p.parse_args(base + ["--bands", "100", "--rows", "2"]))
