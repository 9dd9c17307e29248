"""`dataaudit report`: docs.parquet keyed by doc_id, duplicates, planted junk flagged, alerts, bounded size."""

from __future__ import annotations

import json
import random

import pyarrow.parquet as pq

from dataaudit.cli import main


def _corpus(path, n=300, seed=0):
    rng = random.Random(seed)
    words = ("the of and to in a is that for it as was with be by on not he this are or his from at which "
             "river city people music season history church war first north later game").split()
    docs = []
    for i in range(n):
        sents = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 16))).capitalize() + "."
                 for _ in range(rng.randint(4, 9))]
        docs.append({"id": f"n{i}", "text": "\n".join(sents)})
    junk = {"j_b64": "".join(rng.choice("ABCDEFabcdef0123456789+/") for _ in range(2000)),
            "j_run": "x" * 3000, "j_lorem": "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20,
            "j_lines": "\n".join(["Click here to subscribe to our newsletter."] * 60)}
    docs += [{"id": k, "text": v} for k, v in junk.items()]
    docs += [dict(docs[0], id="dup0"), dict(docs[1], id="dup1")]          # exact copies
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return set(junk)


def test_report_end_to_end(tmp_path, capsys):
    junk = _corpus(tmp_path / "c.jsonl")
    out = tmp_path / "r"
    code = main(["report", str(tmp_path / "c.jsonl"), "--id-column", "id", "--out", str(out), "-q",
                 "--format", "json", "--fail-on", "alert"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["kind"] == "report" and doc["summary"]["alerts"]
    t = pq.read_table(out / "docs.parquet")
    assert t.num_rows == 306 and len(set(t["doc_id"].to_pylist())) == 306
    rows = {r["doc_id"]: r for r in t.to_pylist()}
    assert all(rows[j]["flags"] for j in junk), {j: rows[j]["flags"] for j in junk}    # every planted junk flagged
    assert rows["dup0"]["exact_group"] is not None and rows["dup0"]["exact_group"] == rows["n0"]["exact_group"]
    assert rows["n5"]["exact_group"] is None
    assert rows["j_run"]["longest_run"] == 3000
    md = (out / "report.md").read_text()
    for title in ("## Alerts", "## Overview", "## Duplicates", "## Quality filters", "## Outliers"):
        assert title in md, title
    assert "j_run" in md.split("## Outliers", 1)[1]                        # the run of x is an outlier
    texts = {g["first_doc_id"] for g in doc["findings"]["exact"]["duplicate_groups"]}
    assert texts & {"n0", "n1", "dup0", "dup1"}


def test_report_size_does_not_grow_with_the_corpus(tmp_path, capsys):
    _corpus(tmp_path / "a.jsonl", n=200, seed=1)
    _corpus(tmp_path / "b.jsonl", n=2000, seed=2)
    sizes = []
    for name in ("a", "b"):
        assert main(["report", str(tmp_path / f"{name}.jsonl"), "--id-column", "id", "--out", str(tmp_path / name),
                     "-q", "--no-near"]) == 0
        sizes.append(len((tmp_path / name / "report.json").read_bytes()))
    assert sizes[1] < 1.5 * sizes[0], sizes


def test_duplicate_alert_sizes_read_at_a_glance():
    """The duplicate alert gave "0.00 MB" for a few KB of duplicates: sizes now take the unit that fits."""
    from dataaudit.api.dataset import _size

    assert [_size(n) for n in (0, 312, 4_100, 998_000, 2_350_000, 1_200_000_000)] == \
        ["0 B", "312 B", "4.1 KB", "998.0 KB", "2.35 MB", "1.20 GB"]
