"""Benchmark: dataaudit's scorer beside a faithful re-implementation of Hugging Face ``evaluate``'s perplexity
metric batching, on the same model and the same documents, in one run (issue 3 target: >= 3x on CPU, identical
per-document NLL).

The baseline follows evaluate's ``perplexity.py`` ``_compute``: tokenize every text with ``padding=True`` (pad
to the longest document of the whole set) and ``truncation`` at ``max_length - 1``, then batches of 16 in
dataset order, a BOS column prepended, full ``(batch, length, vocab)`` logits, ``CrossEntropyLoss(reduction=
"none")`` times the shifted attention mask. A second baseline pads each batch of 16 only to its own longest
document (what a careful user would write), so the speedup from length sorting alone is visible too.

Model: a GPT-2-shaped model with random weights (nothing can be downloaded) and a byte-level BPE trained here on
WikiText-2 valid; documents: WikiText-2 test paragraphs in file order (headings and paragraphs, so lengths mix
from a few tokens to hundreds), those that fit the context, falling back to generated text without the corpora.

    python benchmarks/score.py [--docs 2000] [--layers 4] [--width 256] [--threads 2] [--skip-batch-pad]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
    """Per-document NLL (nats) the way evaluate's perplexity metric batches (see the module docstring)."""
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--ctx", type=int, default=512, help="model context (n_positions)")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-batch-pad", action="store_true", help="skip the pad-per-batch baseline")
    args = ap.parse_args()
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    import transformers

    transformers.utils.logging.disable_progress_bar()
    from dataaudit.model import load_model
    from dataaudit.passes.score import ScoreConfig, score_texts

    pool, train, what = load_texts(args.docs)
    with tempfile.TemporaryDirectory() as tmp:
        build_model(train, Path(tmp), layers=args.layers, width=args.width, ctx=args.ctx, vocab=args.vocab)
        m = load_model(tmp, device="cpu")
        tok, hf = m.tok, m.model
        # documents that fit the context (evaluate truncates longer ones; we would slide a window over them)
        texts = [t for t in pool if len(tok(t, add_special_tokens=False)["input_ids"]) <= args.ctx - 1][:args.docs]
        lens = np.array([len(x) for x in tok(texts, add_special_tokens=False)["input_ids"]])
        n_tok = int(lens.sum())
        params = sum(p.numel() for p in hf.parameters())
        print(f"model: GPT-2 shape, {args.layers} layers x {args.width}, vocab {m.vocab_size}, ctx {args.ctx}, "
              f"{params / 1e6:.1f}M params (random init); torch threads {torch.get_num_threads()}, "
              f"load average {os.getloadavg()[0]:.2f} (shared 2-core machine)")
        print(f"documents: {len(texts)} {what}; tokens per doc: median {int(np.median(lens))}, "
              f"p90 {int(np.percentile(lens, 90))}, max {lens.max()}; {n_tok:,} tokens scored (+1 BOS each)")
        results = []
        t0, c0 = time.perf_counter(), time.process_time()
        ours = score_texts(m, texts, ScoreConfig())
        t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
        ours_nll = np.array([d["nll_sum"] for d in ours])
        results.append(("dataaudit (length-sorted, token budget, chunked log-softmax)", t_ours, c_ours, ours_nll))
        if not args.skip_batch_pad:
            t0, c0 = time.perf_counter(), time.process_time()
            nll = np.array(evaluate_style(hf, tok, texts, batch_size=16, max_length=args.ctx, pad_whole_set=False))
            results.append(("batches of 16 in order, padded per batch", time.perf_counter() - t0,
                            time.process_time() - c0, nll))
        t0, c0 = time.perf_counter(), time.process_time()
        nll = np.array(evaluate_style(hf, tok, texts, batch_size=16, max_length=args.ctx, pad_whole_set=True))
        results.append(("evaluate perplexity (16 in order, padded to set's longest)", time.perf_counter() - t0,
                        time.process_time() - c0, nll))
    # wall time suffers from other people's jobs on this shared machine; CPU time of this process much less
    print(f"{'scorer':<60} {'wall s':>7} {'tokens/s':>9} {'ours is':>8} {'CPU s':>7} {'ours is':>8} "
          f"{'max rel NLL diff':>17}")
    for name, secs, cpu, nll in results:
        rel = float(np.max(np.abs(nll - ours_nll) / np.maximum(np.abs(ours_nll), 1e-12)))
        print(f"{name:<60} {secs:>7.1f} {n_tok / secs:>9,.0f} {secs / t_ours:>7.2f}x {cpu:>7.1f} "
              f"{cpu / c_ours:>7.2f}x {rel:>17.2e}")
    print(f"load average after: {os.getloadavg()[0]:.2f}; GPU: "
          f"{'present but not used here' if torch.cuda.is_available() else 'none in this run'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
