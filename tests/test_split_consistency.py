"""One rule for trivial leaks (headings, boilerplate) across the whole split report: the verdict, the
perplexity explanation, the per-pass attribution, the exact/near/containment sections and the stdout
summary count the same leaked documents, and say how many trivial ones they leave out."""

from __future__ import annotations

import json
import random
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataaudit.api import ReadConfig, SplitConfig, audit_split
from dataaudit.findings.explain import explain_perplexity
from dataaudit.findings.leaks import LEAKS_SCHEMA
from dataaudit.records import Report
from dataaudit.report import summary
from dataaudit.report.sections.split import listed_heading, perplexity

HEADINGS = ["= = History = =", "= = Reception = =", "= = Legacy = ="]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from dataaudit.model.bytelm import ByteLMConfig, fit_default_model

    cfg = ByteLMConfig(steps=30, buckets=4096, d_hidden=64, batch_size=4, seq_len=128, sample_bytes=50_000)
    return fit_default_model(["the quick brown fox jumps over the lazy dog. " * 40] * 4, config=cfg,
                             cache_dir=tmp_path_factory.mktemp("cache"), device="cpu")


def _doc(rng: random.Random, words: list[str], n: int = 80) -> str:
    return " ".join(rng.choice(words) for _ in range(n)) + " ."


@pytest.fixture(scope="module")
def audited(tmp_path_factory, tiny_model):
    """train: 40 articles and the WikiText-style headings; val: 20 articles of its own, 5 exact copies of
    train articles, 1 near copy (one word changed) and the 3 headings (trivial exact leaks)."""
    d = tmp_path_factory.mktemp("consistency")
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(400)]
    train = [_doc(rng, vocab) for _ in range(40)]
    near = train[10].split()
    for i in (78,):
        near[i] = "changed"
    val = [_doc(rng, vocab) for _ in range(20)] + train[:5] + [" ".join(near)] + HEADINGS
    for name, texts in (("train", train + HEADINGS), ("val", val)):
        with open(d / f"{name}.jsonl", "w") as f:
            for i, t in enumerate(texts):
                f.write(json.dumps({"id": f"{name}{i}", "text": t}) + "\n")
    mp = pytest.MonkeyPatch()
    mp.setenv("DATAAUDIT_CACHE", str(d / "cache"))
    try:
        cfg = SplitConfig(read=ReadConfig(id_column="id"), model=tiny_model, device="cpu")
        report = audit_split(d / "train.jsonl", d / "val.jsonl", out_dir=d / "r", config=cfg)
    finally:
        mp.undo()
    return report, (d / "r" / "report.md").read_text(), summary.lines(report, None)


def test_every_count_is_the_verdicts(audited):
    report, md, out = audited
    s = report.summary
    lk = s["leaks"]["by_split"]["val"]
    assert (lk["leaked_docs"], lk["exact"], lk["near_not_exact"], lk["trivial"]) == (6, 5, 1, 3)   # as planted
    verdict = md.split("## Leaked documents")[0]
    assert "**6 of 29** val documents" in verdict and "3 trivial matches" in verdict
    # the explanation uses the verdict's leaked set: trivial leaks are kept in "without leaked"
    v = s["perplexity"]["by_split"]["val"]
    assert v["leaked_only"]["docs"] == 6 and v["without_leaked"]["docs"] == 23 and v["trivial_docs"] == 3
    ex = s["perplexity"]["explain"]["val"]
    assert ex["trivial_docs"] == 3
    assert "| val | 29 (6 leaked, 3 trivial kept) |" in md
    assert "without its 6 leaked documents, perplexity" in md
    # per pass: each leaked document under the first pass that found it, the leak table's columns
    bp = ex["by_pass"]
    assert (bp["exact"]["docs"], bp["near"]["docs"], bp["containment"]["docs"]) == (
        lk["exact"], lk["near_not_exact"], lk["containment_only"])
    assert sum(b["docs"] for b in bp.values()) == v["leaked_only"]["docs"]
    assert bp["near"]["found_docs"] == 6                        # the exact copies are near copies too
    assert "Found by a later pass too, and counted under the first one only: val: near 5" in md
    row = next(line for line in md.splitlines() if line.startswith("| val | ") and "docs |" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2].endswith(", 6 docs") and cells[3].endswith(", 5 docs") and cells[4].endswith(", 1 doc")
    # stdout: the same counts, trivial ones named as such
    text = "\n".join(out)
    assert "val: 29 docs, 0 exact duplicates (0.00%), 5 exact leaks from train (17.24%), besides 3 trivial exact " \
           "matches" in text
    assert "val: 6 of 29 documents leaked from train by any pass (20.69%: 5 exact, 1 near, 0 contained); " \
           "3 trivial matches not counted" in text
    assert "with its 6 leaked documents" in text


def test_byte_share_and_pass_sections_leave_trivial_out_or_say_so(audited):
    report, md, _ = audited
    s = report.summary
    e, lk = s["exact"]["splits"]["val"], s["leaks"]["by_split"]["val"]
    assert e["leaked_docs"] == 8 and lk["trivial_by_pass"]["exact"] == 3      # the exact pass counts all 8
    assert lk["exact_bytes"] == e["leaked_bytes"] - sum(len(h) for h in HEADINGS)
    share = f"{lk['exact_bytes'] / e['bytes']:.1%}"
    assert f"5 exact copies after normalization ({share} of the split's bytes)" in md
    assert share != f"{e['leaked_byte_fraction']:.1%}"
    assert "val: 8, of them 3 trivial and 5 exact leaks." in md
    nb = s["near"]["leaked_by_split"]["val"]
    t = lk["trivial_by_pass"]["near"]
    assert f"val: {nb}, of them {t} trivial, {nb - t - 1} also exact copies and 1 near leaks (the verdict's " \
           f"count)" in md
    assert "Leaked documents (near-duplicate of a train document)" not in md


def test_explanation_without_trivial_column_and_attribution(tmp_path):
    # one trivial leak (b) and one real one (a): the trivial one is counted apart, first pass wins
    val = pa.table({"doc_id": ["a", "b", "c", "d"], "split": ["val"] * 4, "n_tokens": [10, 10, 10, 10],
                    "n_bytes": [40] * 4, "nll_sum": [5.0, 5.0, 20.0, 20.0], "bits_per_byte": [0.1] * 4})
    rows = [{"doc_id": "a", "split": "val", "exact": True, "near_jaccard": 1.0, "containment": 1.0, "passes": [],
             "train_doc_ids": [], "trivial": False},
            {"doc_id": "b", "split": "val", "exact": False, "near_jaccard": None, "containment": 0.9, "passes": [],
             "train_doc_ids": [], "trivial": True}]
    pq.write_table(pa.Table.from_pylist(rows, schema=LEAKS_SCHEMA), tmp_path / "l.parquet")
    train = pa.table({"doc_id": ["t1", "t2"], "split": ["train"] * 2, "n_tokens": [10, 10], "n_bytes": [40, 40],
                      "nll_sum": [30.0, 30.0], "bits_per_byte": [0.1, 0.1]})
    res = explain_perplexity(val, tmp_path / "l.parquet", {}, train_scores=train, reps=100).summary
    ex = res["explain"]["val"]
    assert res["by_split"]["val"]["leaked_only"]["docs"] == 1 and res["by_split"]["val"]["trivial_docs"] == 1
    assert {k: (b["docs"], b["found_docs"]) for k, b in ex["by_pass"].items()} == {
        "exact": (1, 1), "near": (0, 1), "containment": (0, 1)}
    assert ex["by_pass"]["near"]["leak_effect_nats"] == 0.0
    rep = Report(kind="split", config={}, summary={"perplexity": res})
    paras = " ".join(str(getattr(b, "text", "")) for b in perplexity(rep)[0].blocks)
    assert "first pass that found it" in paras and "val: near 1, containment 1" in paras
    # leaks.parquet of an older run, without the trivial column: every leak counts
    old = pa.Table.from_pylist(rows, schema=LEAKS_SCHEMA).drop_columns(["trivial"])
    pq.write_table(old, tmp_path / "old.parquet")
    res = explain_perplexity(val, tmp_path / "old.parquet", {}, train_scores=train, reps=100).summary
    assert res["by_split"]["val"]["leaked_only"]["docs"] == 2 and res["by_split"]["val"]["trivial_docs"] == 0


def test_leak_list_heading_names_what_the_list_holds():
    hidden = {"exact": False, "trivial": False}
    ex = {"exact": True, "trivial": False}
    triv = {"exact": True, "trivial": True}
    assert listed_heading([hidden, hidden]).startswith("Not exact copies")
    h = listed_heading([hidden, ex, triv])
    assert "not exact copies" in h and "then exact copies" in h and "then trivial matches" in h
    assert not listed_heading([hidden, ex]).startswith("Not exact copies")
    assert listed_heading([ex, triv]) == "Leaked documents: exact copies, then trivial matches (not counted as leaks):"
    assert re.search("trivial", listed_heading([triv]))


def test_only_trivial_leaks_are_no_leaks_and_are_named(tmp_path):
    from dataaudit.report.sections.split import explain_lines

    val = pa.table({"doc_id": ["a", "b", "c"], "split": ["val"] * 3, "n_tokens": [10, 10, 10], "n_bytes": [40] * 3,
                    "nll_sum": [5.0, 20.0, 20.0], "bits_per_byte": [0.1] * 3})
    pq.write_table(pa.Table.from_pylist([{"doc_id": "a", "split": "val", "exact": True, "near_jaccard": None,
                                          "containment": None, "passes": ["exact"], "train_doc_ids": [],
                                          "trivial": True}], schema=LEAKS_SCHEMA), tmp_path / "l.parquet")
    train = pa.table({"doc_id": ["t1", "t2"], "split": ["train"] * 2, "n_tokens": [10, 10], "n_bytes": [40, 40],
                      "nll_sum": [30.0, 30.0], "bits_per_byte": [0.1, 0.1]})
    res = explain_perplexity(val, tmp_path / "l.parquet", {}, train_scores=train, reps=100).summary
    ex = res["explain"]["val"]
    assert res["by_split"]["val"]["without_leaked"]["docs"] == 3 and ex["leak_effect_nats"] == 0.0
    text = " ".join(explain_lines("val", ex))
    assert "No leaked documents were found (not counting 1 trivial match: headings, boilerplate)" in text


def test_exact_leak_list_marks_the_trivial_rows(audited):
    """The exact pass's list of largest leaks holds trivial matches too: each row says whether it is one,
    the same as leaks.parquet, and report.md shows it."""
    report, md, _ = audited
    rows = report.findings["exact"]["leaks"]
    marked = {r["doc_id"]: r["trivial"] for r in rows}
    texts = {r["doc_id"]: r.get("excerpt") for r in rows}
    assert sum(marked.values()) == 3 and all(texts[k] in HEADINGS for k, v in marked.items() if v)
    assert not any(v for k, v in marked.items() if texts[k] not in HEADINGS)
    section = md.split("## Exact leaks (largest first)")[1].split("\n## ")[0]
    assert "| trivial |" in section and section.count("| yes |") == 3
