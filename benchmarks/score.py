"""Benchmark: dataaudit's scorer against like-for-like Hugging Face baselines, same model, dtype (fp32), torch
threads and documents, in one run, each checked to give the same per-document NLL (issue 3 / 15 target: >= 3x).

Scorers, all scoring every token of each document after a BOS (documents that fit the context, so no
truncation and no sliding window: one window each, as ``--stride`` = ``--max-length`` gives):

* **dataaudit**: ``dataaudit.passes.score.score_texts``, the core of ``dataaudit score`` (length-sorted windows
  packed by a token budget, only scored positions through the LM head, per-document statistics included).
* **(a) evaluate-style**: Hugging Face ``evaluate``'s ``perplexity`` metric (``metrics/perplexity/perplexity.py``
  ``_compute``): tokenize all texts with ``padding=True`` (pad to the longest document of the whole set),
  batches of ``--batch-size`` in dataset order, BOS column prepended, full logits, ``CrossEntropyLoss(
  reduction="none")`` times the shifted attention mask.
* **(b) per-batch padding**: the same loop, each batch padded only to its own longest document, dataset order.
* **(c) length-sorted HF loop**, as a competent user writes it: tokenize once, sort by token length, batches of
  ``--batch-size`` padded per batch, ``torch.inference_mode``, per-document NLL from ``log_softmax`` of the
  logits gathered at the targets and masked with the attention mask.
* **(d) lm-eval-harness** ``HFLM.loglikelihood_rolling`` (its rolling windows, its length-sorted batching, the
  same batch size), run in the separate venv ``--lmeval-python`` (default /work/venvs/lmeval) if it exists.

Model: GPT-2 shape (``--layers`` x ``--width``, context 512), random weights (nothing is downloaded), a
byte-level BPE trained here on WikiText-2 valid; documents: WikiText-2 test paragraphs in file order (headings
and paragraphs, so lengths mix from a few tokens to hundreds) that fit the context; generated text without the
corpora. Every repeat runs all scorers one after the other; ratios are per repeat (paired in time), reported
as median and range. Ends with a ``RESULT {json}`` line.

    python benchmarks/score.py [--docs 2000] [--repeat 3] [--quick] [--batch-size 16] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import add_common_args, ratio_spread, result_line, spread  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LMEVAL_PY = Path("/work/venvs/lmeval/bin/python")


def load_texts(n: int, seed: int = 0) -> tuple[list[str], list[str], str]:
    c = Path(os.environ.get("DATAAUDIT_CORPORA") or ROOT.parent / "shared" / "corpora") / "wikitext-2"
    if (c / "test.txt").exists():
        lines = lambda p: [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]  # noqa: E731
        return lines(c / "test.txt"), lines(c / "valid.txt"), "WikiText-2 test paragraphs (file order)"
    rng = random.Random(seed)
    words = [("".join(rng.choice("etaoinshrdlucmfwyp") for _ in range(rng.randint(1, 9)))) for _ in range(3000)]
    gen = [" ".join(rng.choice(words) for _ in range(int(rng.lognormvariate(3.5, 1.0)) + 1)) for _ in range(3 * n)]
    return gen[:2 * n], gen[2 * n:], "generated text (corpora absent)"


def build_model(train_texts: list[str], out: Path, *, layers: int, width: int, ctx: int, vocab: int) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(train_texts, trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>")
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=ctx, n_embd=width, n_layer=layers,
                     n_head=max(1, width // 64), bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(cfg).save_pretrained(out)
    fast.save_pretrained(out)


def evaluate_style(model, tok, texts: list[str], *, batch_size: int, max_length: int, pad_whole_set: bool):
    """(a) / (b): per-document NLL (nats) the way evaluate's perplexity metric batches (module docstring)."""
    import torch
    from torch.nn import CrossEntropyLoss

    loss_fct = CrossEntropyLoss(reduction="none")
    nll = []
    enc_all = tok(texts, add_special_tokens=False, padding=True, truncation=True, max_length=max_length - 1,
                  return_tensors="pt", return_attention_mask=True) if pad_whole_set else None
    for start in range(0, len(texts), batch_size):
        if pad_whole_set:
            ids = enc_all["input_ids"][start:start + batch_size]
            mask = enc_all["attention_mask"][start:start + batch_size]
        else:
            enc = tok(texts[start:start + batch_size], add_special_tokens=False, padding=True, truncation=True,
                      max_length=max_length - 1, return_tensors="pt", return_attention_mask=True)
            ids, mask = enc["input_ids"], enc["attention_mask"]
        bos = torch.full((ids.shape[0], 1), tok.bos_token_id, dtype=ids.dtype)
        ids = torch.cat([bos, ids], 1)
        mask = torch.cat([torch.ones_like(bos), mask], 1)
        with torch.no_grad():
            logits = model(ids, attention_mask=mask).logits
        shift_logits = logits[..., :-1, :].contiguous()
        shift_labels = ids[..., 1:].contiguous()
        shift_mask = mask[..., 1:].contiguous()
        nll += (loss_fct(shift_logits.transpose(1, 2), shift_labels) * shift_mask).sum(1).tolist()
    return nll


def sorted_hf_loop(model, tok, texts: list[str], *, batch_size: int, max_length: int) -> list[float]:
    """(c): the length-sorted loop a competent user writes (module docstring); NLL in the original order."""
    import torch

    ids_all = tok(texts, add_special_tokens=False, truncation=True, max_length=max_length - 1)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(ids_all[i]), reverse=True)
    bos, pad = tok.bos_token_id, tok.pad_token_id
    nll = [0.0] * len(texts)
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            seqs = [[bos] + ids_all[i] for i in idx]
            width = max(len(q) for q in seqs)
            ids = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for r, q in enumerate(seqs):
                ids[r, :len(q)] = torch.tensor(q)
                mask[r, :len(q)] = 1
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
            lp = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
            per_doc = -(lp * mask[:, 1:]).sum(1)
            for i, v in zip(idx, per_doc.tolist()):
                nll[i] = v
    return nll


def lmeval_child(model_dir: str, texts_path: str, out_path: str, batch_size: int, threads: int) -> int:
    """Run inside the lm-eval venv: time ``HFLM.loglikelihood_rolling`` once (model load not timed)."""
    import torch

    torch.set_num_threads(threads)
    import lm_eval
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    texts = json.loads(Path(texts_path).read_text())
    lm = HFLM(pretrained=model_dir, batch_size=batch_size, device="cpu", dtype="float32")
    reqs = [Instance(request_type="loglikelihood_rolling", doc={}, arguments=(t,), idx=i)
            for i, t in enumerate(texts)]
    t0, c0 = time.perf_counter(), time.process_time()
    lls = lm.loglikelihood_rolling(reqs, disable_tqdm=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    Path(out_path).write_text(json.dumps({"wall": wall, "cpu": cpu, "nll": [-float(x) for x in lls],
                                          "version": getattr(lm_eval, "__version__", "?")}))
    return 0


def run_lmeval(py: Path, model_dir: str, texts_path: str, tmp: str, args) -> dict | None:
    out = Path(tmp) / "lmeval_out.json"
    out.unlink(missing_ok=True)
    p = subprocess.run([str(py), __file__, "--lmeval-child", model_dir, texts_path, str(out),
                        str(args.batch_size), str(args.threads)], capture_output=True, text=True, timeout=3600)
    if p.returncode != 0 or not out.exists():
        print(f"(d) lm-eval failed (exit {p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(out.read_text())


NAMES = {"dataaudit": "dataaudit score_texts (length-sorted, token budget, scored positions only)",
         "sorted_hf": "(c) length-sorted HF loop, batches of {bs}, inference_mode",
         "lmeval": "(d) lm-eval HFLM.loglikelihood_rolling, batch {bs}",
         "per_batch": "(b) dataset order, batches of {bs} padded per batch",
         "evaluate": "(a) evaluate perplexity: batches of {bs}, padded to the set's longest"}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--lmeval-child":
        return lmeval_child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap, repeat=3)
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--ctx", type=int, default=512, help="model context (n_positions)")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16, help="documents per batch of every baseline")
    ap.add_argument("--lmeval-python", type=Path, default=LMEVAL_PY, help="python of a venv with lm-eval")
    ap.add_argument("--skip", default="", help="comma-separated scorers to skip: evaluate,per_batch,sorted_hf,lmeval")
    args = ap.parse_args()
    if args.quick:
        args.docs, args.repeat = min(args.docs, 200), 1
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    import transformers

    transformers.utils.logging.disable_progress_bar()
    from dataaudit.model import load_model
    from dataaudit.passes.score import ScoreConfig, score_texts

    skip = {s for s in args.skip.split(",") if s}
    if not args.lmeval_python.exists():
        print(f"(d) lm-eval: {args.lmeval_python} not found; skipped")
        skip.add("lmeval")
    pool, train, what = load_texts(args.docs)
    bs = args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        build_model(train, Path(tmp), layers=args.layers, width=args.width, ctx=args.ctx, vocab=args.vocab)
        m = load_model(tmp, device="cpu")
        tok, hf = m.tok, m.model
        # documents that fit the context (evaluate truncates longer ones; dataaudit would slide a window)
        texts = [t for t in pool if len(tok(t, add_special_tokens=False)["input_ids"]) <= args.ctx - 1][:args.docs]
        lens = np.array([len(x) for x in tok(texts, add_special_tokens=False)["input_ids"]])
        n_tok = int(lens.sum()) + len(texts)   # every real token is a target, after the BOS
        texts_path = str(Path(tmp) / "texts.json")
        Path(texts_path).write_text(json.dumps(texts))
        params = sum(p.numel() for p in hf.parameters())
        print(f"model: GPT-2 shape, {args.layers} layers x {args.width}, vocab {m.vocab_size}, ctx {args.ctx}, "
              f"{params / 1e6:.1f}M params (random init), fp32; torch threads {torch.get_num_threads()}, "
              f"load average {os.getloadavg()} ({os.cpu_count()} cores, shared machine)")
        print(f"documents: {len(texts)} {what}; tokens per doc: median {int(np.median(lens))}, "
              f"p90 {int(np.percentile(lens, 90))}, max {lens.max()}; {n_tok:,} targets scored (BOS first)")
        scorers = {
            "dataaudit": lambda: [d["nll_sum"] for d in score_texts(m, texts, ScoreConfig())],
            "sorted_hf": lambda: sorted_hf_loop(hf, tok, texts, batch_size=bs, max_length=args.ctx),
            "lmeval": None,
            "per_batch": lambda: evaluate_style(hf, tok, texts, batch_size=bs, max_length=args.ctx,
                                                pad_whole_set=False),
            "evaluate": lambda: evaluate_style(hf, tok, texts, batch_size=bs, max_length=args.ctx,
                                               pad_whole_set=True),
        }
        wall = {k: [] for k in scorers if k not in skip}
        cpu = {k: [] for k in wall}
        nlls: dict[str, np.ndarray] = {}
        lmeval_version = None
        for rep in range(args.repeat):
            for k in list(wall):
                if k == "lmeval":
                    r = run_lmeval(args.lmeval_python, tmp, texts_path, tmp, args)
                    if r is None:
                        del wall[k], cpu[k]
                        continue
                    w, c, nll, lmeval_version = r["wall"], r["cpu"], r["nll"], r["version"]
                else:
                    t0, c0 = time.perf_counter(), time.process_time()
                    nll = scorers[k]()
                    w, c = time.perf_counter() - t0, time.process_time() - c0
                wall[k].append(w)
                cpu[k].append(c)
                nlls[k] = np.asarray(nll, dtype=np.float64)
                print(f"  repeat {rep + 1}/{args.repeat} {k:<10} {w:7.1f} s wall {c:7.1f} s CPU "
                      f"{n_tok / w:9,.0f} tokens/s  load {os.getloadavg()[0]:.2f}", flush=True)
    ours = nlls["dataaudit"]
    print(f"\n{'scorer':<72} {'wall s (median)':>15} {'tokens/s':>9} {'dataaudit is':>20} "
          f"{'by CPU s':>9} {'max rel NLL diff':>16}")
    figures, baselines, ratios, nll_diff = {}, {}, {}, {}
    for k in wall:
        tps = [n_tok / w for w in wall[k]]
        rw = ratio_spread(wall[k], wall["dataaudit"])
        rc = ratio_spread(cpu[k], cpu["dataaudit"])
        rel = float(np.max(np.abs(nlls[k] - ours) / np.maximum(np.abs(ours), 1e-12)))
        nll_diff[k] = rel
        entry = {"tokens_per_s": spread(tps, 1), "wall_s": spread(wall[k], 2), "cpu_s": spread(cpu[k], 2)}
        name = NAMES[k].format(bs=bs)
        if k == "dataaudit":
            figures[k] = entry
        else:
            baselines[k] = {**entry, "what": name, "max_rel_nll_diff": rel}
            ratios[f"vs_{k}_wall"], ratios[f"vs_{k}_cpu"] = rw, rc
        rtxt = "1.00x" if k == "dataaudit" else f"{rw['median']:.2f}x [{rw['min']:.2f}, {rw['max']:.2f}]"
        print(f"{name:<72} {spread(wall[k], 1)['median']:>15.1f} {spread(tps, 0)['median']:>9,.0f} {rtxt:>20} "
              f"{'1.00x' if k == 'dataaudit' else format(rc['median'], '.2f') + 'x':>9} {rel:>16.2e}")
    print(f"load average after: {os.getloadavg()}; GPU: "
          f"{'present, not used' if torch.cuda.is_available() else 'none in this run'}; lm-eval "
          f"{lmeval_version or 'not run'}")
    result_line("score", figures=figures, baselines=baselines, ratios=ratios, docs=len(texts), targets=n_tok,
                model={"layers": args.layers, "width": args.width, "ctx": args.ctx, "vocab": m.vocab_size,
                       "params": params}, threads=args.threads, batch_size=bs, repeat=args.repeat,
                lm_eval=lmeval_version, max_rel_nll_diff=nll_diff, target=">= 3x", quick=args.quick,
                packages=("dataaudit", "torch", "transformers", "tokenizers", "numpy"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
