"""End to end, as a user would run it: a real HF Trainer run (tiny GPT-2, CPU) on Tiny Shakespeare with junk
documents planted, through the replayed sampler order, into a few steps; then

    dataaudit spikes --log trainer_state.json --data train.jsonl --id-column id --order sampler:seed=S,batch=B

must find the spikes in the log, map every spike step to exactly the documents that step saw (checked
against what the Trainer recorded), and rank the planted junk first. Prints precision@k of the top suspects.
The Trainer run happens once; ``--repeat N`` runs the audit N times (median and range of its wall time; its
findings must be the same each time); ``--quick`` trains 200 steps and audits once. Ends with a ``RESULT`` line.

    python benchmarks/forensics_e2e.py [--steps 400] [--out DIR] [--repeat 1] [--quick]

Needs transformers and accelerate (the test extras) and ../shared/corpora/tinyshakespeare.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import add_common_args, result_line, skipped, spread  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "tinyshakespeare" / "input.txt"


def junk(k: int, rng: random.Random) -> str:
    kinds = [lambda: "path = C:" + "\\" * 1500,
             lambda: "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                             for _ in range(900)),
             lambda: "buy now " * 120,
             lambda: "<div><span>&nbsp;</span></div>" * 40]
    return kinds[k % len(kinds)]()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--per-step", type=int, default=6, help="junk documents planted per target step")
    ap.add_argument("--out", default=None)
    add_common_args(ap, repeat=1)
    a = ap.parse_args()
    if a.quick:
        a.steps, a.repeat = min(a.steps, 200), 1
    if not CORPUS.exists():
        print(f"{CORPUS} not found; skipped")
        skipped("forensics_e2e", "../shared/corpora/tinyshakespeare not found")
        return
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, TrainingArguments

    from dataaudit.forensics.order.sampler import TrainerOrder
    from dataaudit.forensics.record import recording_trainer

    work = Path(a.out or tempfile.mkdtemp(prefix="forensics-e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    paras = [p.strip() for p in CORPUS.read_text().split("\n\n") if len(p.strip()) > 80]
    n, bs, seed = a.steps * a.batch, a.batch, 7
    docs = (paras * (n // len(paras) + 1))[:n]
    order = TrainerOrder(n=n, batch=bs, seed=seed)
    rng = random.Random(0)
    targets = [int(a.steps * 0.6), int(a.steps * 0.8)]
    planted = {}
    for s in targets:
        for k, i in enumerate(order.step_indices(s)[:a.per_step].tolist()):
            docs[i] = junk(k, rng)
            planted[f"doc{i}"] = s
    data = work / "train.jsonl"
    data.write_text("".join(json.dumps({"id": f"doc{i}", "text": t}) + "\n" for i, t in enumerate(docs)))

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            return {"idx": i, "input_ids": list(docs[i].encode("utf-8", "replace")[:96])}

    def coll(rows):
        m = max(len(r["input_ids"]) for r in rows)
        ids = torch.tensor([r["input_ids"] + [0] * (m - len(r["input_ids"])) for r in rows])
        labels = ids.clone()
        for j, r in enumerate(rows):
            labels[j, len(r["input_ids"]):] = -100
        return {"input_ids": ids, "labels": labels, "idx": torch.tensor([r["idx"] for r in rows])}

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=256, n_positions=96))
    args = TrainingArguments(output_dir=str(work / "run"), per_device_train_batch_size=bs, max_steps=a.steps,
                             learning_rate=1e-3, seed=seed, logging_steps=1, save_strategy="no", report_to=[],
                             remove_unused_columns=False, use_cpu=True, disable_tqdm=True)
    t0 = time.perf_counter()
    tr = recording_trainer()(model=model, args=args, train_dataset=DS(), data_collator=coll)
    tr.train()
    train_s = time.perf_counter() - t0
    tr.state.save_to_json(str(work / "trainer_state.json"))
    cmd = [sys.executable, "-m", "dataaudit", "spikes", "--log", str(work / "trainer_state.json"), "--data", str(data),
           "--id-column", "id", "--order", f"sampler:seed={seed},batch={bs}", "--window", "0",
           "--out", str(work / "audit"), "--format", "json", "--quiet", "--fail-on", "never"]
    audit_times, outs = [], set()
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        audit_times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            sys.exit(f"dataaudit failed: {r.stderr}")
        rep = json.loads(r.stdout)
        outs.add(json.dumps(sorted(sp["step"] for run in rep["summary"]["forensics"]["runs"].values()
                                   for sp in run["spikes"])))
    audit_s = spread(audit_times, 2)
    fs = rep["summary"]["forensics"]["runs"]
    found = sorted({sp["step"] for run in fs.values() for sp in run["spikes"]})
    import pyarrow.parquet as pq

    rows = pq.read_table(work / "audit" / "batches.parquet").to_pylist()
    exact = all(sorted(r["dataset_index"] for r in rows if r["step"] == s and r["role"] == "window")
                == sorted(tr.order_recorder.steps[s]) for s in found)
    sus = pq.read_table(work / "audit" / "suspects.parquet").to_pylist()
    k = len(planted)
    top = [d["doc_id"] for d in sorted(sus, key=lambda d: -d["suspicion"])[:k]]
    prec = sum(d in planted for d in top) / k
    print(f"trained {a.steps} steps in {train_s:.0f}s; planted junk at steps {targets}; spikes found at {found}")
    print(f"mapping equals the recorded order: {exact}; precision@{k} of the suspects: {prec:.2f}; "
          f"audit {audit_s['median']}s median [{audit_s['min']}, {audit_s['max']}] over {a.repeat} run(s), the same "
          f"spike steps each time: {len(outs) == 1}; report: {work / 'audit' / 'report.md'}")
    result_line("forensics_e2e", figures={
        "steps": a.steps, "planted_steps": targets, "spikes_found": found,
        "planted_found": all(t in found for t in targets), "mapping_exact": exact, f"precision_at_{k}": prec,
        "train_seconds": round(train_s, 1), "audit_seconds": audit_s, "same_spikes_each_run": len(outs) == 1},
        quick=a.quick, packages=("dataaudit", "torch", "transformers", "numpy", "pyarrow"))


if __name__ == "__main__":
    main()
