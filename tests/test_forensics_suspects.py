"""Suspects ranking, batch verdicts, skip list, and the end-to-end check on real text with planted junk."""

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

from dataaudit.config import ReadConfig
from dataaudit.forensics import SkipConfig, analyze_batches
from dataaudit.forensics.features import features
from dataaudit.forensics.order.sampler import TrainerOrder
from dataaudit.forensics.skiplist import build_skip
from dataaudit.forensics.order.base import Placement

SHAKESPEARE = Path(os.environ.get("DATAAUDIT_CORPORA", Path(__file__).resolve().parents[2] / "shared" / "corpora")) \
    / "tinyshakespeare" / "input.txt"


def _junk(kind, rng):
    if kind == 0:
        return "path = C:" + "\\" * 1834
    if kind == 1:
        return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                       for _ in range(900))
    if kind == 2:
        return "buy now " * 120
    return "<div><span>&nbsp;</span></div>" * 40


def _shakespeare_docs(limit=600):
    if not SHAKESPEARE.is_file():
        pytest.skip("../shared/corpora/tinyshakespeare not present")
    paras = [p.strip() for p in SHAKESPEARE.read_text().split("\n\n") if len(p.strip()) > 80]
    return paras[:limit]


def _plant(tmp_path, docs, order, steps, per_step, rng):
    """Replace ``per_step`` documents of each target step (placed by the replayed order) with junk."""
    planted = {}
    docs = list(docs)
    for s in steps:
        for k, i in enumerate(order.step_indices(s)[:per_step].tolist()):
            docs[i] = _junk(k % 4, rng)
            planted[f"doc{i}"] = s
    p = tmp_path / "train.jsonl"
    p.write_text("".join(json.dumps({"id": f"doc{i}", "text": t}) + "\n" for i, t in enumerate(docs)))
    return p, planted


def test_features_see_planted_junk():
    f = features("path = C:" + "\\" * 1834)
    assert f["longest_run"] == 1834 and f["longest_run_char"] == "\\"
    assert features("buy now " * 120)["repeat_count"] >= 32
    assert features("Q2FzZSBzdHVkeTogYmFzZTY0IGVuY29kZWQgdGV4dCBoZXJl" * 3)["b64hex_share"] > 0.9


def test_planted_junk_ranks_first_and_skip_list(tmp_path):
    rng = random.Random(0)
    docs = _shakespeare_docs()
    order = TrainerOrder(n=len(docs), batch=8, seed=42)
    targets = [90, 91]
    data, planted = _plant(tmp_path, docs, order, targets, 2, rng)
    res = analyze_batches({"run": [91]}, data=data, read=ReadConfig(id_column="id"),
                          order="sampler:seed=42,batch=8", window=1, control_batches=30)
    sus = res.suspects.to_pylist()
    assert {d["step"] for d in sus} == {90, 91}
    # the mapping: every step holds exactly the documents the replay says
    for s in targets:
        assert [d["doc_id"] for d in res.batches.to_pylist() if d["step"] == s] == \
            [f"doc{i}" for i in order.step_indices(s).tolist()]
    for s in targets:
        top = [d["doc_id"] for d in sorted((d for d in sus if d["step"] == s), key=lambda d: d["rank"])][:2]
        assert set(top) == {k for k, v in planted.items() if v == s}
    worst = next(d for d in sus if d["longest_run"] == 1834)
    assert any("run of 1,834 backslashes" in r for r in worst["reasons"])
    spike = res.summary["runs"]["run"]["spikes"][0]
    assert spike["verdict"] == "data"
    k = len(planted)
    top_k = [t["doc_id"] for t in sorted(sus, key=lambda d: -d["suspicion"])[:k]]
    assert sum(d in planted for d in top_k) / k == 1.0          # precision@k
    run = res.skip["runs"]["run"]
    assert run["steps"] == [90, 91] and run["restart_from_step"] == 0
    fw = run["frameworks"]
    assert fw["megatron_lm"] == "--iterations-to-skip 90 91"
    assert fw["megatron_deepspeed"] == "--skip-train-iteration-range 90-91"
    assert fw["metaseq"] == "--skip-batches 90-91"
    assert fw["olmo_core"] == "steps_to_skip=[StepSkipRange(start=90, stop=92)]"
    assert set(run["suspect_doc_ids"]) >= set(planted)
    assert any("--iterations-to-skip 90 91" in line for line in res.skip_text)


def test_clean_batch_points_to_state(tmp_path):
    docs = _shakespeare_docs()
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"id": f"doc{i}", "text": t}) + "\n" for i, t in enumerate(docs)))
    res = analyze_batches({"run": [70]}, data=data, read=ReadConfig(id_column="id"),
                          order="sampler:seed=3,batch=8", window=0, control_batches=40)
    spike = res.summary["runs"]["run"]["spikes"][0]
    assert spike["verdict"] == "state" and "optimizer state" in spike["verdict_note"]


def test_score_fn_columns_and_reasons(tmp_path):
    rng = random.Random(1)
    docs = _shakespeare_docs(300)
    order = TrainerOrder(n=len(docs), batch=4, seed=0)
    data, planted = _plant(tmp_path, docs, order, [60], 1, rng)

    def score_fn(texts):   # a stand-in scorer: junk is expensive
        return [{"bits_per_byte": 6.1 if "\\\\\\" in t else 2.0 + 0.01 * (len(t) % 7), "worst_bpb": 3.0,
                 "worst_start": 0, "worst_end": min(10, len(t))} for t in texts]

    res = analyze_batches({"r": [60]}, data=data, read=ReadConfig(id_column="id"), order="sampler:seed=0,batch=4",
                          window=0, control_batches=20, score_fn=score_fn)
    top = res.suspects.to_pylist()[0]
    assert top["doc_id"] in planted and top["rank"] == 1
    assert any(r.startswith("bits/byte 6.1 vs control median 2.0") for r in top["reasons"])
    assert "bits_per_byte" in res.suspects.column_names and res.summary["settings"]["scored"]


def test_skip_ranges_config():
    pl = {s: [Placement(step=s, position=0, sample_id=s * 10, doc_id=f"d{s}")] for s in range(1, 400)}
    skip, lines = build_skip({"a": {"spikes": [300, 350], "placements": pl}}, window=2,
                             cfg=SkipConfig(restart_before=100, skip_after=1))
    run = skip["runs"]["a"]
    assert run["step_ranges"] == [[298, 301], [348, 351]]
    assert run["restart_from_step"] == 197
    assert run["frameworks"]["megatron_deepspeed"] == "--skip-train-iteration-range 298-301 348-351"
    assert run["sample_ranges"][0] == [2980, 2981]
    assert "PaLM" in skip["why"]


def test_end_to_end_real_trainer(tmp_path):
    """A real Trainer run on Shakespeare with junk planted (via the replayed order) into two steps: the log's
    loss rises at those steps, the mapping gives exactly what each step saw, and the junk ranks first."""
    pytest.importorskip("accelerate")
    torch = pytest.importorskip("torch")
    from transformers import GPT2Config, GPT2LMHeadModel, TrainingArguments

    from dataaudit.forensics.record import recording_trainer

    rng = random.Random(0)
    docs = _shakespeare_docs(240)
    n, bs, seed = len(docs), 8, 7
    order = TrainerOrder(n=n, batch=bs, seed=seed)
    targets = [20, 26]
    data, planted = _plant(tmp_path, docs, order, targets, 6, rng)
    texts = [json.loads(line)["text"] for line in data.read_text().splitlines()]
    vocab = 256

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            return {"idx": i, "input_ids": list(texts[i].encode("utf-8", "replace")[:96])}

    def coll(rows):
        m = max(len(r["input_ids"]) for r in rows)
        ids = torch.tensor([r["input_ids"] + [0] * (m - len(r["input_ids"])) for r in rows])
        labels = ids.clone()
        for j, r in enumerate(rows):
            labels[j, len(r["input_ids"]):] = -100
        return {"input_ids": ids, "labels": labels, "idx": torch.tensor([r["idx"] for r in rows])}

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=vocab, n_positions=96))
    args = TrainingArguments(output_dir=str(tmp_path / "o"), per_device_train_batch_size=bs, max_steps=28,
                             learning_rate=3e-3, seed=seed, logging_steps=1, save_strategy="no", report_to=[],
                             remove_unused_columns=False, use_cpu=True, disable_tqdm=True, warmup_steps=0)
    tr = recording_trainer()(model=model, args=args, train_dataset=DS(), data_collator=coll)
    tr.train()
    tr.state.save_to_json(str(tmp_path / "trainer_state.json"))
    loss = {h["step"]: h["loss"] for h in tr.state.log_history if "loss" in h}
    for s in targets:   # the planted steps stand out from their neighbours in the log
        assert loss[s] > 1.1 * np.median([loss[t] for t in range(s - 5, s)])
    res = analyze_batches({"run": targets}, data=data, read=ReadConfig(id_column="id"),
                          order=f"sampler:seed={seed},batch={bs}", window=0, control_batches=12)
    rows = res.batches.to_pylist()
    for s in targets:
        assert [r["dataset_index"] for r in rows if r["step"] == s] == tr.order_recorder.steps[s]
    sus = res.suspects.to_pylist()
    k = len(planted)
    top_k = [d["doc_id"] for d in sorted(sus, key=lambda d: -d["suspicion"])[:k]]
    precision = sum(d in planted for d in top_k) / k
    print(f"precision@{k} = {precision:.2f}; loss at planted steps", {s: loss[s] for s in targets})
    assert precision >= 0.9
