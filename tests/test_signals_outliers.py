"""Signals outliers and ranges: only documents that stand out are listed, ties in input order, sums of
shards equal the whole; every fraction signal stays in [0, 1]; the report says when a signal is constant."""

import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataaudit.cli import main
from dataaudit.passes.signals import Outliers, compute_signals_batch, run_signals
from dataaudit.records import DOC_SCHEMA


def table(values, ids=None, col="char_rep_ratio"):
    ids = ids or [f"d{i}" for i in range(len(values))]
    return pa.table({"doc_id": ids, "split": ["s"] * len(ids), "source": ["x"] * len(ids),
                     col: pa.array(values, pa.float64())})


def listed(o, col="char_rep_ratio"):
    d = o.to_dict()[col]
    return [(r["doc_id"], r["value"]) for r in d["high"]], [(r["doc_id"], r["value"]) for r in d["low"]]


def test_constant_column_lists_nothing():
    o = Outliers.of(table([0.0] * 8), k=5, columns=("char_rep_ratio",))
    assert listed(o) == ([], [])
    assert o.ranges["char_rep_ratio"] == (0.0, 8, 0.0, 8, 8)
    assert listed(Outliers.of(table([None, None]), k=5, columns=("char_rep_ratio",))) == ([], [])


def test_sides_never_list_the_other_end_and_ties_go_in_input_order():
    # doc ids whose text order (d1 < d10 < d2) is not the input order
    ids = ["d10", "d2", "d1", "d30", "d3"]
    o = Outliers.of(table([0.0, 0.0, 0.0, 0.5, 0.5], ids), k=3, columns=("char_rep_ratio",))
    high, low = listed(o)
    assert high == [("d30", 0.5), ("d3", 0.5)]               # no 0 (the minimum) in the high list
    assert low == [("d10", 0.0), ("d2", 0.0), ("d1", 0.0)]   # no 0.5 (the maximum); input order
    rows = o.to_dict()["char_rep_ratio"]["low"]
    assert [r["position"] for r in rows] == [0, 1, 2]


def test_ties_across_shards_keep_input_order():
    a = Outliers.of(table([1.0, 0.0], ["z", "m"]), k=2, columns=("char_rep_ratio",))
    b = Outliers.of(table([1.0, 0.0], ["a", "b"]), k=2, columns=("char_rep_ratio",))
    high, low = listed(a + b)
    assert high == [("z", 1.0), ("a", 1.0)] and low == [("m", 0.0), ("b", 0.0)]
    assert [r["position"] for r in (a + b).to_dict()["char_rep_ratio"]["high"]] == [0, 2]
    assert (a + b).seen == 4


def _reference(values, k):
    """The plain definition: sort by value (then position), keep k, drop the other end."""
    vals = [(v, i) for i, v in enumerate(values) if v is not None]
    if not vals:
        return [], []
    lo, hi = min(v for v, _ in vals), max(v for v, _ in vals)
    high = [(f"d{i}", v) for v, i in sorted(vals, key=lambda x: (-x[0], x[1]))[:k] if v > lo]
    low = [(f"d{i}", v) for v, i in sorted(vals, key=lambda x: (x[0], x[1]))[:k] if v < hi]
    return high, low


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 1.0])), min_size=1, max_size=40),
       st.integers(1, 6), st.integers(1, 10))
def test_outliers_equal_the_plain_definition_for_any_split(values, k, size):
    whole = table(values)
    parts = [Outliers.of(t, k=k, columns=("char_rep_ratio",)) for t in whole.to_batches(max_chunksize=size)]
    merged = sum(parts[1:], parts[0])
    assert listed(merged) == _reference(values, k)
    assert merged.to_dict() == Outliers.of(whole, k=k, columns=("char_rep_ratio",)).to_dict()
    assert merged.ranges == Outliers.of(whole, k=k, columns=("char_rep_ratio",)).ranges


FRACTIONS = [f"gopher_{k}" for k in ("bullet_lines_frac", "ellipsis_lines_frac", "alpha_words_frac",
                                    "dup_line_frac", "dup_para_frac", "dup_line_char_frac",
                                    "dup_para_char_frac")] + \
    [f"gopher_top_{n}gram_char_frac" for n in (2, 3, 4)] + [f"gopher_dup_{n}gram_char_frac" for n in range(5, 11)] + \
    ["c4_no_terminal_punct_frac", "fineweb_line_punct_ratio", "fineweb_short_line_ratio", "fineweb_char_dup_ratio",
     "char_rep_ratio", "encoded_share", "non_ascii_share", "non_alnum_share"]
PIECES = st.sampled_from(["TITUS:", "go", "go ", " ", "\n", "\n\n", "<unk>", "Tim", "!!!", "?", "a", "the ",
                          "don't", "e-mail", "...", "é", "x" * 40, "U.S.", ",", "'s"])


@settings(max_examples=120, deadline=None)
@given(st.lists(st.lists(PIECES, max_size=30).map("".join), min_size=1, max_size=8))
def test_every_fraction_signal_is_in_0_1(texts):
    t = compute_signals_batch(pa.RecordBatch.from_pylist(
        [{"doc_id": str(i), "split": "s", "text": x, "source": "s", "row": i} for i, x in enumerate(texts)],
        schema=DOC_SCHEMA))
    for c in FRACTIONS:
        v = np.asarray(t.column(c).to_numpy(zero_copy_only=False), dtype=np.float64)
        v = v[~np.isnan(v)]
        assert ((v >= 0) & (v <= 1)).all(), (c, texts, v.max())


def test_summary_ranges_add_and_reach_the_report(tmp_path, capsys):
    docs = [{"id": f"ts{i}", "text": t} for i, t in enumerate(
        ["TITUS:", "First Citizen:\nBefore we proceed any further, hear me speak.", "All:\nSpeak, speak.",
         "ROMEO:\nGood morrow, father.", "All:\nResolved. resolved."] * 4)]
    path = tmp_path / "ts.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / "r"
    assert main(["report", str(path), "--id-column", "id", "--out", str(out), "-q", "--no-near",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ranges = doc["summary"]["signals"]["ranges"]
    assert ranges["non_ascii_share"] == {"min": 0.0, "at_min": 20, "max": 0.0, "at_max": 20, "documents": 20}
    ol = doc["findings"]["outliers"]
    assert ol["non_ascii_share"] == {"high": [], "low": []} and ol["encoded_share"] == {"high": [], "low": []}
    top = ol["gopher_top_2gram_char_frac"]
    assert top["high"][0]["doc_id"] == "ts0" and top["high"][0]["value"] == 1.0
    assert all(r["value"] <= 1 for side in top.values() for r in side)
    assert [r["doc_id"] for r in top["high"] if r["value"] == 1.0][:2] == ["ts0", "ts5"]   # input order
    md = (out / "report.md").read_text().split("## Outliers", 1)[1]
    assert "`non_ascii_share`: all 20 documents 0, so none stands out." in md
    assert "`encoded_share`: all 20 documents 0" in md
    nas = md.split("`non_ascii_share`", 1)[1].split("`", 1)[0]
    assert "| high |" not in nas and "| low |" not in nas


def test_summary_ranges_add_like_the_whole():
    texts = ["TITUS:", "a b a b", "", "x" * 300, "Speak, speak.", "é é"] * 3
    b = pa.RecordBatch.from_pylist([{"doc_id": str(i), "split": "s", "text": x, "source": "s", "row": i}
                                    for i, x in enumerate(texts)], schema=DOC_SCHEMA)
    whole = Outliers.of(compute_signals_batch(b), k=3)
    _s, o = run_signals(pa.Table.from_batches([b]).to_batches(max_chunksize=4), k=3)
    assert o.ranges_dict() == whole.ranges_dict()
    assert whole.ranges_dict()["longest_run"] == {"min": 0.0, "at_min": 3, "max": 300.0, "at_max": 3,
                                                  "documents": 18}
    assert o.ranges == {c: tuple(r.values()) for c, r in whole.ranges_dict().items()}
