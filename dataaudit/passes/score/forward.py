"""The batched forward pass: every target token's log-probability, with windows from many documents sorted
by length and packed into batches by a token budget (right padding + attention mask), under
``torch.inference_mode``, log-softmax computed a chunk of positions at a time."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .windows import plan_windows


def _autocast(model, precision: str):
    import contextlib

    import torch

    dev = getattr(model.device, "type", "cpu")
    if precision == "bf16" or (precision == "auto" and dev == "cuda"):
        return torch.autocast(device_type=dev, dtype=torch.bfloat16)
    return contextlib.nullcontext()


autocast = _autocast

#: on a CPU, a Hugging Face model runs over a packed batch in slices of at most this many padded tokens, and
#: the output head over at most CPU_HEAD_ROWS scored positions at a time, so that activations and logits stay
#: nearer the caches. Measured 2026-12-02 with benchmarks/score.py's GPT-2 shape (4 x 256, vocabulary 8,192),
#: 200 WikiText-2 paragraphs, 2 threads, two runs under load 10-13: 18.3 / 18.6 CPU s against 23.1 / 22.7
#: for one forward over the whole 16K-token batch and 2,048-row head chunks (4096-token slices: 19.5 / 20.4;
#: 2048: 26.1 / 26.6). Rows are computed independently (right padding, causal mask); the per-token
#: log-probabilities came out bit-identical in that run.
CPU_FORWARD_TOKENS = 8192
CPU_HEAD_ROWS = 512


def resolved_precision(model, precision: str) -> str:
    """``bf16`` or ``fp32``: what ``precision`` (auto, fp32, bf16) means on the model's device."""
    dev = getattr(model.device, "type", "cpu")
    return "bf16" if precision == "bf16" or (precision == "auto" and dev == "cuda") else "fp32"


def token_logprobs(model, seqs: list[np.ndarray], *, max_length: int, stride: int, batch_tokens: int,
                   precision: str = "auto", on_batch: Callable[[int], None] | None = None,
                   on_done: Callable[[list[tuple[int, np.ndarray]]], None] | None = None) -> list[np.ndarray]:
    """Log-probability (nats) of every target ``seq[1:]`` of every sequence, as float64 arrays.

    Windows of all sequences are sorted by length (longest first) and packed greedily so that
    ``rows x longest row <= batch_tokens``; each batch is right-padded with an attention mask. Only the
    hidden states of scored positions go through the output head, ``chunk`` rows at a time.
    ``on_batch(tokens)`` hears each batch; ``on_done([(index, logprobs), ...])`` the sequences whose every
    window is done
    (long ones first), so a caller can keep finished work before the whole list is through.
    """
    import torch

    plans = [plan_windows(len(s), max_length, stride) for s in seqs]
    items = [(i, a, e, k) for i, p in enumerate(plans) for (a, e, k) in p]
    out = [np.zeros(max(len(s) - 1, 0), dtype=np.float64) for s in seqs]
    left = [len(p) for p in plans]
    if on_done is not None and any(n == 0 for n in left):
        on_done([(i, out[i]) for i, n in enumerate(left) if n == 0])   # nothing to score: done already
    if not items:
        return out
    items.sort(key=lambda t: t[2] - t[1], reverse=True)
    chunk = max(64, (1 << 24) // max(model.vocab_size, 1))  # <= 16M fp32 logits (64 MiB) live at once
    # CPU slices for Hugging Face models only: the byte-level default batches its match features per batch
    sliced = getattr(model.device, "type", "cpu") == "cpu" and getattr(model, "kind", "") == "hf"
    if sliced:
        chunk = min(chunk, CPU_HEAD_ROWS)
    pos = 0
    with torch.inference_mode():
        while pos < len(items):
            longest = items[pos][2] - items[pos][1]
            rows = max(1, min(len(items) - pos, batch_tokens // longest))
            batch = items[pos:pos + rows]
            pos += rows
            ids = np.zeros((rows, longest), dtype=np.int64)
            tgt = np.zeros((rows, longest), dtype=np.int64)
            mask = np.zeros((rows, longest), dtype=np.int64)
            sel_r, sel_c = [], []
            for r, (i, a, e, k) in enumerate(batch):
                n = e - a
                ids[r, :n] = seqs[i][a:e]
                tgt[r, :n] = seqs[i][a + 1:e + 1]
                mask[r, :n] = 1
                sel_r.append(np.full(k, r))
                sel_c.append(np.arange(n - k, n))
            rr = torch.from_numpy(np.concatenate(sel_r))
            cc = torch.from_numpy(np.concatenate(sel_c))
            dev = model.device
            step = max(1, CPU_FORWARD_TOKENS // longest) if sliced else rows
            with _autocast(model, precision):
                ids_t, mask_t = torch.from_numpy(ids).to(dev), torch.from_numpy(mask).to(dev)
                h = torch.cat([model.hidden(ids_t[r0:r0 + step], mask_t[r0:r0 + step])
                               for r0 in range(0, rows, step)]) if step < rows else model.hidden(ids_t, mask_t)
                hs = h[rr.to(dev), cc.to(dev)]
                tt = torch.from_numpy(tgt)[rr, cc].to(dev)
                parts = []
                for c0 in range(0, hs.shape[0], chunk):
                    logits = model.project(hs[c0:c0 + chunk]).float()
                    parts.append(logits.gather(1, tt[c0:c0 + chunk, None]).squeeze(1)
                                 - torch.logsumexp(logits, dim=-1))
            lp = torch.cat(parts).double().cpu().numpy()
            off = 0
            done = []
            for i, a, e, k in batch:
                out[i][e - k:e] = lp[off:off + k]
                off += k
                left[i] -= 1
                if left[i] == 0:
                    done.append((i, out[i]))
            if on_batch is not None:
                on_batch(int(rr.numel()))
            if on_done is not None and done:
                on_done(done)
    return out
