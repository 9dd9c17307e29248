"""The embedded default reference model: a small byte-level causal LM (a hashed n-gram neural model), fitted on a sample of the
user's own data within a fixed compute budget, so that ``dataaudit score DATA`` needs no download.

* Tokenizer: UTF-8 bytes (ids 0-255) plus BOS (256) before every document; one token = one byte, so its
  perplexity is per byte and every byte-level model shares one tokenizer.
* Sample: the documents with the smallest xxh3 hashes, up to ``sample_bytes`` (a bottom-k sample: the same
  for any order of the input, bounded memory, no corpus size needed in advance).
* Fit: AdamW, linear warm-up then cosine decay, a fixed number of steps (so the result depends only on the
  sample, the settings and the seed, never on the wall clock or the machine's load; ``max_seconds`` is a
  safety stop far above a fit's time: when it fires, ``fit_info`` says so and the shorter model is saved
  beside the cache entry, never served as it). Batches are random windows of the BOS-separated sample, drawn from a seeded generator.
* Network: ``bytenet.py`` (built from ``ByteLMConfig``).
* Cache: ``<cache>/models/bytelm-<key>/`` with ``model.safetensors`` and ``bytelm.json``; the key hashes
  the sample's document hashes, the settings and the seed. The directory is loadable with ``load_model``.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import ReadConfig
from ..errors import ConfigError, InputError, ModelError
from .base import Encoded, ReferenceModel, cache_root, char_offsets_of_bytes, resolve_device
from .bytenet import (BOS, VOCAB, _build, _follower, _prev_occurrence,  # noqa: F401 - the hashing helpers
                      _run_bucket, _word_hash)                        # are tested through this module

FORMAT = 4   # 2: long orders, word context, match features; 3: word history, word match; 4: word trigram
# format -> the settings it predates, with the values that rebuild and describe its network (min_steps is
# left out: it only acts with max_epochs)
_ADDED_SINCE = {2: {"word_history": 0, "word_match": False, "random_repeats": 0, "max_epochs": None,
                    "word_trigram": False},
                3: {"word_trigram": False}}


@dataclass(frozen=True, kw_only=True)
class ByteLMConfig:
    """Shape and fitting budget of the byte-level default. Every field but max_seconds is in the cache key."""

    orders: int = 6  # the model sees the last 1..orders bytes exactly-hashed: enough for most of a word
    long_orders: tuple[int, ...] = (8, 12)  # longer hashed contexts, so the order of words matters
    word_context: bool = True  # a hashed (previous word, current partial word) context: a word bigram
    word_history: int = 2  # each of the last N whole words embedded on its own (not joined with the
    # current partial word), so the MLP can learn which kinds of word follow which (a word-level neural LM
    # feature, Bengio et al. 2003): generalizes where the exact bigram was never seen
    word_trigram: bool = False  # a hashed (two previous words, current partial word) context: a word
    # trigram. Off: on the tuning set (docs/scoring.md) it moved shuffled words from AUROC 0.9977 to 0.9981
    # (one fit each, within noise) while normal text got dearer (median 1.842 -> 1.895 bits/byte)
    word_match: bool = True  # a word-keyed match feature: the byte that followed the latest earlier
    # occurrence in the window of the current partial word (or, right after a separator, of the previous
    # word): a cache of the document's own words and word pairs (Grave et al. 2017's cache idea, per word)
    match_orders: tuple[int, ...] = (8, 16, 32)  # copy features: the byte that followed the last earlier
    # occurrence of the last k bytes in the window (a PAQ-style match model); makes repeated text cheap
    buckets: int = 131_072  # rows of the hashed-context table shared by all hashed contexts (4.2M parameters)
    d_embed: int = 32  # width of each context embedding
    d_hidden: int = 320  # width of the two-layer MLP that mixes the orders (320 with 32 windows a step
    # costs what 384 with 24 did, and separated shuffled words better: AUROC 0.994 vs 0.992, two seeds)
    max_length: int = 2048  # scoring window in bytes; only `orders` bytes of it matter to a prediction
    steps: int = 300  # optimizer steps: fixed, so a fit is reproducible; ~1.5-2.5 min on 2 shared CPU cores
    batch_size: int = 32  # windows per step (16 and 24 gave better held-out bits/byte, 2.05 and 2.04-2.07
    # vs 2.12-2.18, but separated shuffled words less well: more passes over the sample teach word order)
    seq_len: int = 512  # bytes per training window (32 x 512 = 16,384 bytes a step); long enough that
    # the match features fire in training as they do in 2,048-byte scoring windows
    repeat_windows: int = 3  # of each batch, windows whose tail repeats one short span of the sample
    # (1-64 bytes) over and over: the sample alone has too little repetition to teach the match features
    # that a long exact repeat is near-certain, and junk made of repeats must score far below normal text
    random_repeats: int = 1  # of those, windows whose repeated span is random bytes instead (the loss on
    # its first occurrence not counted): a run of a byte the sample never has (a line of "*" or "\\")
    # must get cheap once it repeats, as any repeat does
    max_epochs: float | None = 8.0  # at most this many passes over the sample: a small sample gets fewer
    # steps (on the 190 KB fixture train split, 120 steps gave 2.35 bits/byte on val and 300 steps 3.76:
    # the tables memorize a small sample); 1 MB at 32 x 512 bytes a step is 4.9 passes, so unaffected
    min_steps: int = 60  # but never fewer steps than this: the mixing MLP needs them (a 47 KB sample at
    # 8 passes = 24 steps: 3.77 bits/byte held out; 58 steps: 2.88; 116 steps: 2.99)
    lr: float = 3e-3  # peak Adam learning rate (embeddings learn fast at this rate, like counts)
    warmup: int = 20  # linear warm-up steps before the cosine decay
    min_lr_ratio: float = 0.1  # cosine decays to lr x this
    weight_decay: float = 0.0  # none: a context seen rarely should keep what it learned
    sample_bytes: int = 1_000_000  # how much of the corpus the model is fitted on
    seed: int = 0  # weights init and batch order
    max_seconds: float | None = 3600.0  # a wall-clock safety stop only, far above a fit's time (~2 min;
    # ~33 min at the slowest seen, 6.6 s a step under load 6-10): the model must not depend on the machine's
    # load (the old 900 s stop cut such a fit at 138 of 300 steps). When it fires, fit_info says so
    # ("stopped_by_max_seconds", "warning") and the model is saved beside the cache entry, never as it
    # (``fit_default_model``), so a later run with the same settings fits the full model

    def __post_init__(self) -> None:
        if self.word_history < 0:
            raise ConfigError(f"bytelm word_history={self.word_history} must be >= 0")
        for name in ("orders", "min_steps", "buckets", "d_embed", "d_hidden", "max_length", "steps", "batch_size",
                     "seq_len", "sample_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bytelm {name}={getattr(self, name)} must be >= 1")
        if self.repeat_windows < 0:
            raise ConfigError(f"bytelm repeat_windows={self.repeat_windows} must be >= 0")
        if not 0 <= self.random_repeats <= self.repeat_windows:
            raise ConfigError(f"bytelm random_repeats={self.random_repeats} must be in 0..repeat_windows "
                              f"({self.repeat_windows})")
        if self.max_epochs is not None and not self.max_epochs > 0:
            raise ConfigError(f"bytelm max_epochs={self.max_epochs} must be > 0 (or None: no cap)")
        if not self.lr > 0:
            raise ConfigError(f"bytelm lr={self.lr} must be > 0")
        for name in ("long_orders", "match_orders"):   # JSON gives lists back: keep the dataclass hashable
            v = tuple(int(k) for k in getattr(self, name))
            if any(k < 2 for k in v):
                raise ConfigError(f"bytelm {name}={v}: every order must be >= 2")
            object.__setattr__(self, name, v)

    def key_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("max_seconds")   # a stop, not a setting: the fit it allows is the same
        return d


#: what ``fit_default_model`` uses when given no config
DEFAULT_CONFIG = ByteLMConfig()

class ByteLMModel(ReferenceModel):
    """A fitted byte-level model behind the ``ReferenceModel`` interface."""

    kind = "bytelm"
    tokenizer_id = "utf8-bytes+bos:257"
    bos_id = BOS
    vocab_size = VOCAB

    def __init__(self, net, cfg: ByteLMConfig, *, name: str, device, fit_info: dict[str, Any] | None = None):
        import torch

        self.net = net.eval()
        self.cfg = cfg
        self.name = name
        self.max_length = cfg.max_length
        self.fit_info = dict(fit_info or {})
        self.fingerprint = _fingerprint(net, cfg)
        self.device = torch.device(device)
        self.net.to(self.device)

    def encode(self, texts: list[str]) -> list[Encoded]:
        out = []
        for t in texts:
            data = t.encode("utf-8", errors="surrogatepass")
            s, e = char_offsets_of_bytes(data)
            out.append(Encoded(np.frombuffer(data, dtype=np.uint8).astype(np.int64), s, e))
        return out

    def hidden(self, input_ids, attention_mask):
        # right padding + causal attention: no real position ever sees a pad, so the mask is not needed
        return self.net.hidden(input_ids)

    def project(self, hidden):
        return self.net.logits(hidden)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["params"] = int(sum(p.numel() for p in self.net.parameters()))
        d["config"] = dataclasses.asdict(self.cfg)
        return d

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``model.safetensors`` and ``bytelm.json`` (last, so its presence means complete)."""
        from safetensors.torch import save_file

        from ..io.atomic import atomic_path, write_text_atomic

        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        with atomic_path(p / "model.safetensors") as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}, str(tmp))
        meta = {"format": FORMAT, "kind": "dataaudit-bytelm", "config": dataclasses.asdict(self.cfg),
                "fit_info": self.fit_info, "fingerprint": self.fingerprint}
        write_text_atomic(p / "bytelm.json", json.dumps(meta, indent=2, sort_keys=True))
        return p


def _fingerprint(net, cfg: ByteLMConfig) -> str:
    import torch
    import xxhash

    h = xxhash.xxh3_128(json.dumps(cfg.key_dict(), sort_keys=True).encode())
    for name, t in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def load_bytelm(path: str | os.PathLike, *, device="cpu") -> ByteLMModel:
    """Load a byte-level model directory written by ``fit_default_model`` / ``ByteLMModel.save``."""
    from safetensors.torch import load_file

    p = Path(path)
    try:
        meta = json.loads((p / "bytelm.json").read_text(encoding="utf-8"))
        # settings added since a model was saved take the value that reproduces the older network
        cfg = ByteLMConfig(**{**_ADDED_SINCE.get(int(meta.get("format", FORMAT)), {}), **meta["config"]})
        net = _build(cfg)
        net.load_state_dict(load_file(str(p / "model.safetensors")))
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type; any failure = unreadable
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ModelError(f"{p}: not a readable dataaudit byte-level model ({first}); refit it by scoring "
                         f"without --model, or delete the directory") from None
    return ByteLMModel(net, cfg, name=str(p), device=device, fit_info=meta.get("fit_info"))


# ---- sample and fit ---------------------------------------------------------------------------------------

def sample_corpus(corpus: Any, sample_bytes: int, *, read: ReadConfig | None = None, split: str = "data",
                  bad_log=None) -> list[tuple[int, bytes]]:
    """Bottom-k sample by document hash: the documents with the smallest xxh3-64 hashes, until their bytes
    reach ``sample_bytes``; returned in hash order. Order-independent, memory bounded by the sample.
    ``corpus`` is anything ``dataaudit.io.documents.iter_docs`` reads (with ``read``)."""
    import xxhash

    from ..io.documents import iter_docs

    heap: list[tuple[int, bytes]] = []     # max-heap by hash (negated)
    total = 0
    for _ids, _splits, texts in iter_docs(corpus, read or ReadConfig(), chunk=4096, split=split, bad_log=bad_log):
        for t in texts:
            data = t.encode("utf-8", errors="surrogatepass")
            if not data:
                continue
            h = xxhash.xxh3_64_intdigest(data)
            if total >= sample_bytes and -heap[0][0] <= h:
                continue
            heapq.heappush(heap, (-h, data))
            total += len(data)
            while total - len(heap[0][1]) >= sample_bytes:   # drop the largest hash while enough remains
                total -= len(heapq.heappop(heap)[1])
    if not heap:
        raise InputError("the corpus to fit the default model on has no non-empty documents; give it documents "
                         "with text, or pass --model M")
    return sorted((-nh, d) for nh, d in heap)


def fit_key(sample: list[tuple[int, bytes]], cfg: ByteLMConfig) -> str:
    import xxhash

    h = xxhash.xxh3_128(json.dumps({"format": FORMAT, **cfg.key_dict()}, sort_keys=True).encode())
    for hv, data in sample:
        h.update(hv.to_bytes(8, "little"))
        h.update(len(data).to_bytes(8, "little"))
    return h.hexdigest()


def planned_steps(cfg: ByteLMConfig, stream_bytes: int) -> int:
    """The steps a fit takes: ``cfg.steps``, or fewer when that would pass over the sample (``stream_bytes``
    long, BOS included) more than ``cfg.max_epochs`` times, but not fewer than ``cfg.min_steps``."""
    if cfg.max_epochs is None:
        return cfg.steps
    per_step = cfg.batch_size * cfg.seq_len
    return min(cfg.steps, max(cfg.min_steps, math.ceil(cfg.max_epochs * stream_bytes / per_step)))


def train(sample: list[tuple[int, bytes]], cfg: ByteLMConfig, *, device="cpu",
          progress: Callable[..., None] | None = None):
    """Fit a fresh network on the sample; returns (net, fit_info). Deterministic for a seed on one device
    and thread count."""
    import torch
    from torch.nn import functional as F

    stream = np.concatenate([np.concatenate([[BOS], np.frombuffer(d, dtype=np.uint8)]) for _, d in sample]
                            ).astype(np.int64)
    need = cfg.seq_len + 1
    if len(stream) < max(need, 64):   # a tiny corpus: tile it so that a window and a repeat span fit
        stream = np.tile(stream, max(need, 64) // len(stream) + 1)
    data = torch.from_numpy(stream)
    n_steps = planned_steps(cfg, len(stream))
    torch.manual_seed(cfg.seed)
    net = _build(cfg).to(device)
    decay = [p for p in net.parameters() if p.dim() >= 2]
    no_decay = [p for p in net.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    gen = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    ema = None
    steps_done = 0
    stopped = False
    net.train()
    for step in range(n_steps):
        if step < cfg.warmup:   # linear warm-up, then cosine to min_lr_ratio (as nanoGPT's get_lr)
            lr = cfg.lr * (step + 1) / cfg.warmup
        else:
            frac = (step - cfg.warmup) / max(1, n_steps - cfg.warmup)
            lr = cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.from_numpy(gen.integers(0, len(stream) - need + 1, size=cfg.batch_size))
        idx = starts[:, None] + torch.arange(need)[None, :]
        batch = data[idx]
        weight = torch.ones(cfg.batch_size, cfg.seq_len)
        for r in range(min(cfg.repeat_windows, cfg.batch_size)):   # repetition augmentation (see config)
            span = int(math.exp(gen.uniform(0.0, math.log(64.0))))
            cut = int(gen.integers(1, max(2, need // 2)))
            reps = (need - cut) // span + 1
            if r < cfg.random_repeats:
                src = torch.from_numpy(gen.integers(0, 256, size=span))
                weight[r, cut - 1:cut - 1 + span] = 0.0   # its first occurrence is noise: nothing to learn
            else:
                a = int(gen.integers(0, len(stream) - span + 1))
                src = data[a:a + span]
            batch[r, cut:] = src.repeat(reps)[:need - cut]
        batch = batch.to(device)
        x, y = batch[:, :-1], batch[:, 1:]
        logits = net.logits(net.hidden(x))
        weight = weight.to(device)
        loss = (F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1), reduction="none")
                * weight.reshape(-1)).sum() / weight.sum().clamp(min=1.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        steps_done = step + 1
        lv = float(loss.detach())
        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
        if progress is not None:
            progress("fit", step=steps_done, steps=n_steps, loss=lv, seconds=time.perf_counter() - t0)
        if cfg.max_seconds is not None and time.perf_counter() - t0 > cfg.max_seconds and steps_done < n_steps:
            stopped = True
            break
    net.eval()
    info = {"sample_docs": len(sample), "sample_bytes": int(sum(len(d) for _, d in sample)),
            "steps_done": steps_done, "steps": n_steps, "config_steps": cfg.steps, "stopped_by_max_seconds": stopped,
            "fit_seconds": round(time.perf_counter() - t0, 2),
            "train_bits_per_byte_ema": round(ema / math.log(2), 4) if ema is not None else None,
            "device": str(device), "torch_threads": torch.get_num_threads()}
    return net, info


def fit_default_model(corpus: Any, *, config: ByteLMConfig | None = None,
                      cache_dir: str | os.PathLike | None = None, device: str = "auto",
                      progress: Callable[..., None] | None = None, refit: bool = False,
                      read: ReadConfig | None = None, split: str = "data", bad_log=None) -> ByteLMModel:
    """Fit the byte-level default on a sample of ``corpus`` (a path, Table, DocSource, record batches or
    strings, read with ``read``), or load it from the cache when this sample and these settings were fitted
    before. The model's directory is ``model.name``."""
    cfg = config or DEFAULT_CONFIG
    dev = resolve_device(device)
    sample = sample_corpus(corpus, cfg.sample_bytes, read=read, split=split, bad_log=bad_log)
    key = fit_key(sample, cfg)
    root = Path(cache_dir) if cache_dir is not None else Path(cache_root())
    path = root / "models" / f"bytelm-{key[:24]}"
    if not refit and (path / "bytelm.json").exists():
        m = load_bytelm(path, device=dev)
        m.fit_info["from_cache"] = True
        return m
    net, info = train(sample, cfg, device=dev, progress=progress)
    info["key"] = key
    if info["stopped_by_max_seconds"]:
        # a shorter fit than the settings ask for is a different model: keep it loadable (--model), but out
        # of the cache entry that a full fit of these settings owns
        path = path.with_name(f"{path.name}-stopped-{info['steps_done']}of{info['steps']}")
        info["warning"] = (f"the fit stopped at its max_seconds={cfg.max_seconds:g} safety stop after "
                           f"{info['steps_done']} of {info['steps']} steps: a shorter fit than the default "
                           f"(not cached as it)")
    m = ByteLMModel(net, cfg, name=str(path), device=dev, fit_info=info)
    m.save(path)
    m.fit_info["from_cache"] = False
    return m
