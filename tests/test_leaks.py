"""Trivial-leak classification (findings/leaks.py) on the cases seen on the real WikiText-2 and Tiny
Shakespeare splits (benchmarks/trivial_leaks.py): a heading matched whole by the containment pass counts
its words, not its ``=`` separators."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from dataaudit.api.split import SplitConfig, audit_split
from dataaudit.findings.leaks import TrivialRule, matched_words

ARTICLE = ("the ship was laid down in march and launched later that year after a long delay caused by strikes "
           "at the yard . = = Accolades = = the film received several awards including best picture from the "
           "national board and a nomination for best director at the annual ceremony held in the capital city")
SENTENCE = "after a long delay caused by strikes at the yard the ship was commissioned into the fleet in june"


def _jsonl(path: Path, recs) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def test_matched_words_skip_separators_inside_spans():
    w = "= = accolades = =".split()
    assert matched_words(w) == 1 and matched_words(w, [(0, 5)]) == 1
    assert matched_words("a b c d e f".split(), [(0, 2), (1, 3), (4, 6)]) == 5     # overlapping spans once
    assert matched_words("a b".split(), [(0, 9)]) == 2                              # clipped to the text


def test_heading_inside_a_train_article_is_trivial(tmp_path):
    # WikiText rows: "= = Accolades = =" is a val row; train holds it inside a longer row. The containment
    # pass matches it whole (5 whitespace words with the separators); it has one word that is a word.
    train = [{"text": ARTICLE + " " + SENTENCE + " and it served until the end of the war"},
             {"text": "an unrelated train document about cooking rice with water salt and a little butter"}]
    val = [{"text": "= = Accolades = ="}, {"text": SENTENCE},
           {"text": "a val paragraph of its own that no train document holds in any form whatsoever today"}]
    rep = audit_split(_jsonl(tmp_path / "t.jsonl", train), _jsonl(tmp_path / "v.jsonl", val),
                      out_dir=tmp_path / "r", config=SplitConfig(near=None))
    rows = {r["doc_id"].rsplit(":", 1)[1]: r for r in pq.read_table(tmp_path / "r" / "leaks.parquet").to_pylist()}
    assert rows["0"]["passes"] == ["containment"] and rows["0"]["matched_words"] == 1 and rows["0"]["trivial"]
    assert rows["1"]["passes"] == ["containment"] and not rows["1"]["trivial"]
    assert rows["1"]["matched_words"] == len(SENTENCE.split())
    by = rep.summary["leaks"]["by_split"]["val"]
    assert by["leaked_docs"] == 1 and by["trivial"] == 1 and "2" not in rows


def test_rule_bounds():
    r = TrivialRule(max_words=0, min_copies=1)
    assert not r.is_trivial(1, 0) and r.is_trivial(0, 0) and r.is_trivial(30, 1) and not r.is_trivial(100, 1)
    assert TrivialRule(template_words=100, min_copies=1).is_trivial(100, 1)
