"""The perplexity explanation checked on a model that really memorized: a tiny GPT-2 trained with the HF
Trainer (CPU, several epochs) on a train split, and a val split that holds copies of train documents
besides documents of its own. `dataaudit split --model DIR` must give val perplexity with and without the
leaked documents equal to an independent per-document computation with the same model (a plain
transformers loop: BOS + text, labels = inputs) to 1e-3 relative, and report the share of the gap the
leaks explain with its interval.

    python benchmarks/explain_trainer.py [--epochs 8] [--out DIR]

Needs transformers and tokenizers (the hf extra) and ../shared/corpora/tinyshakespeare.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "tinyshakespeare" / "input.txt"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast, Trainer, TrainingArguments)

    work = Path(a.out or tempfile.mkdtemp(prefix="explain-"))
    work.mkdir(parents=True, exist_ok=True)
    paras = [p.strip() for p in CORPUS.read_text().split("\n\n") if 150 < len(p.strip()) < 350]  # fit one window
    rng = random.Random(0)
    rng.shuffle(paras)
    train, val_own = paras[:120], paras[120:135]
    leaked = train[:30]                                      # 30 val documents are copies of train documents,
    train = train + leaked * 7                               # which train repeats 8 times: the model memorizes them
    val = val_own + leaked
    (work / "train.jsonl").write_text("".join(json.dumps({"id": f"t{i}", "text": t}) + "\n"
                                              for i, t in enumerate(train)))
    (work / "val.jsonl").write_text("".join(json.dumps({"id": f"v{i}", "text": t}) + "\n" for i, t in enumerate(val)))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(train, trainers.BpeTrainer(vocab_size=500, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=256, n_embd=64, n_layer=2,
                                       n_head=2, bos_token_id=0, eos_token_id=0))
    enc = [fast("<|endoftext|>" + t, truncation=True, max_length=256)["input_ids"] for t in train]

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(enc)

        def __getitem__(self, i):
            return {"input_ids": enc[i]}

    def coll(rows):
        m = max(len(r["input_ids"]) for r in rows)
        ids = torch.tensor([r["input_ids"] + [0] * (m - len(r["input_ids"])) for r in rows])
        mask = torch.tensor([[1] * len(r["input_ids"]) + [0] * (m - len(r["input_ids"])) for r in rows])
        labels = ids.masked_fill(mask == 0, -100)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    args = TrainingArguments(output_dir=str(work / "run"), per_device_train_batch_size=16, num_train_epochs=a.epochs,
                             learning_rate=3e-3, logging_steps=5, save_strategy="no", report_to=[], use_cpu=True,
                             disable_tqdm=True, seed=0)
    Trainer(model=model, args=args, train_dataset=DS(), data_collator=coll).train()
    mdir = work / "model"
    model.save_pretrained(mdir)
    fast.save_pretrained(mdir)
    cmd = [sys.executable, "-m", "dataaudit", "split", "--train", str(work / "train.jsonl"), "--val",
           str(work / "val.jsonl"), "--id-column", "id", "--model", str(mdir), "--device", "cpu", "--cache-dir", str(work / "cache"),
           "--out", str(work / "audit"), "--format", "json", "--quiet", "--fail-on", "never"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(r.stderr)
    rep = json.loads(r.stdout)
    p = rep["summary"]["perplexity"]
    leaked_ids = {f"v{i}" for i in range(len(val_own), len(val))}
    model.eval()

    def nll(text):      # the independent computation: BOS + text, the sum of -log p over the text's tokens
        ids = torch.tensor([fast("<|endoftext|>" + text)["input_ids"]])
        assert ids.shape[1] <= 256, "a document longer than one window: the comparison would not be like for like"
        with torch.no_grad():
            out = model(ids, labels=ids)
        return float(out.loss) * (ids.shape[1] - 1), ids.shape[1] - 1

    per = {f"v{i}": nll(t) for i, t in enumerate(val)}

    def ppl(keys):
        s = sum(per[k][0] for k in keys)
        n = sum(per[k][1] for k in keys)
        return math.exp(s / n)

    ours = p["by_split"]["val"]
    ref_all, ref_clean = ppl(per), ppl([k for k in per if k not in leaked_ids])
    rel_all = abs(ours["all"]["ppl"] / ref_all - 1)
    rel_clean = abs(ours["without_leaked"]["ppl"] / ref_clean - 1)
    ex = p["explain"]["val"]
    print(f"val perplexity: dataaudit {ours['all']['ppl']:.4f} vs independent {ref_all:.4f} (rel {rel_all:.1e}); "
          f"without leaked {ours['without_leaked']['ppl']:.4f} vs {ref_clean:.4f} (rel {rel_clean:.1e})")
    print(f"leaked documents found: {rep['summary']['leaked_docs']} of {len(leaked)}; gap {ex['gap_nats']:+.3f} "
          f"nats/token {ex['gap_interval']}; leak effect {ex['leak_effect_nats']:+.3f} {ex['leak_effect_interval']}; "
          f"share explained {ex['share_explained']} {ex['share_interval']}")
    print("verdict:", " ".join(l for l in (work / "audit" / "report.md").read_text().split("## Verdict", 1)[1]
                               .split("\n## ", 1)[0].splitlines() if l.startswith("- ")))
    print("RESULT " + json.dumps({"ppl_rel_diff_all": rel_all, "ppl_rel_diff_without_leaked": rel_clean,
                                  "leaked_found": rep["summary"]["leaked_docs"], "leaked_planted": len(leaked),
                                  "gap_nats": ex["gap_nats"], "share_explained": ex["share_explained"],
                                  "share_interval": ex["share_interval"]}))


if __name__ == "__main__":
    main()
