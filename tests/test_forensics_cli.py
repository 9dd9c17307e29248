"""`dataaudit spikes --data --order` end to end: spike -> batch -> documents -> ranked suspects -> skip list."""

from __future__ import annotations

import json
import random

import pyarrow.parquet as pq

from dataaudit.cli import main


def _setup(tmp_path, spike_step=300, batch=4, steps=400):
    rng = random.Random(0)
    words = "the of and to in a is that for it as was with be by on not he this are or his from at which".split()
    docs, manifest = [], []
    junk_id = None
    for s in range(1, steps + 1):
        ids = []
        for j in range(batch):
            i = len(docs)
            text = " ".join(rng.choice(words) for _ in range(rng.randint(40, 80))) + "."
            if s == spike_step and j == 2:
                text = "\\" * 1500                              # the kind BLOOM found: a run of backslashes
                junk_id = f"d{i}"
            docs.append({"id": f"d{i}", "text": text})
            ids.append(f"d{i}")
        manifest.append({"step": s, "doc_ids": ids})
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (tmp_path / "order.jsonl").write_text("".join(json.dumps(m) + "\n" for m in manifest))
    lines = []
    for s in range(1, steps + 1):
        loss = 3.0 - 0.001 * s + 0.005 * rng.random() + (1.5 if s == spike_step else 0.0)
        lines.append(f"step:{s}/{steps} train_loss:{loss:.4f} train_time:{s}ms step_avg:1.00ms")
    (tmp_path / "train.log").write_text("\n".join(lines) + "\n")
    return junk_id


def test_spike_to_suspects_and_skip_list(tmp_path, capsys):
    junk = _setup(tmp_path)
    out = tmp_path / "o"
    code = main(["spikes", "--log", str(tmp_path / "train.log"), "--data", str(tmp_path / "train.jsonl"),
                 "--id-column", "id", "--order", f"manifest:{tmp_path / 'order.jsonl'}", "--window", "1",
                 "--out", str(out), "--quiet", "--no-plots", "--format", "json"])
    assert code == 1
    doc = json.loads(capsys.readouterr().out)
    fs = doc["summary"]["forensics"]
    sp = fs["runs"]["train"]["spikes"]
    assert [s["step"] for s in sp] == [300] and sp[0]["window_steps"] == [299, 300]
    assert sp[0]["top_suspects"][0]["doc_id"] == junk
    assert sp[0]["verdict"] == "data"
    b = pq.read_table(out / "batches.parquet").to_pylist()
    assert sorted(r["doc_id"] for r in b if r["step"] == 300) == [f"d{i}" for i in range(1196, 1200)]
    s = pq.read_table(out / "suspects.parquet")
    top = [r for r in s.to_pylist() if r["rank"] == 1 and r["step"] == 300]
    assert top[0]["doc_id"] == junk and any("run of" in r for r in top[0]["reasons"])
    skip = json.loads((out / "skip.json").read_text())
    assert 300 in skip["runs"]["train"]["steps"] and junk in skip["runs"]["train"]["doc_ids"]
    txt = (out / "skip.txt").read_text()
    assert "--iterations-to-skip" in txt or "skip" in txt
    md = (out / "report.md").read_text()
    assert "## Suspects" in md and "## Skip list" in md and junk in md


def test_data_without_order_is_a_usage_error(tmp_path, capsys):
    _setup(tmp_path, steps=50)
    assert main(["spikes", "--log", str(tmp_path / "train.log"), "--data", str(tmp_path / "train.jsonl"),
                 "--out", str(tmp_path / "o"), "-q"]) == 2
    assert "needs both --data" in capsys.readouterr().err
