"""What a score is made of: the settings (``ScoreConfig``), the table schemas, and the settings resolved
against a model (``resolve_settings``: what a score depends on, recorded in tables and keyed in the cache)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from ...errors import ConfigError
from .forward import resolved_precision

META_KEY = b"dataaudit.score"

SCORE_COLUMNS = [  # what the cache stores per document hash (everything but doc_id / split)
    pa.field("doc_hash", pa.string()),       # xxh3-128 of the document's UTF-8 bytes
    pa.field("n_tokens", pa.int64()),        # tokens scored (targets), BOS excluded
    pa.field("n_bytes", pa.int64()),         # UTF-8 bytes of the text
    pa.field("nll_sum", pa.float64()),       # nats, summed over scored tokens
    pa.field("ppl", pa.float64()),           # exp(nll_sum / n_tokens)
    pa.field("bits_per_byte", pa.float64()),  # nll_sum / (n_bytes ln 2): tokenizer-independent
    pa.field("min_k", pa.float64()),         # mean of the lowest k% token log-probs (Shi et al. 2023)
    pa.field("zlib_bytes", pa.int64()),      # len(zlib.compress(text)) at level 6
    pa.field("zlib_ratio", pa.float64()),    # log(ppl) / zlib_bytes (Carlini et al. 2021, 'zlib' score)
    pa.field("worst_start", pa.int64()),     # char offset where the highest-loss span starts
    pa.field("worst_end", pa.int64()),       # char offset where it ends (exclusive)
    pa.field("worst_nll", pa.float64()),     # mean nats per token over that span
    pa.field("worst_bpb", pa.float64()),     # bits per byte over that span
    pa.field("best_start", pa.int64()),      # char offset where the lowest-loss span starts (a repeat, a run)
    pa.field("best_end", pa.int64()),        # char offset where it ends (exclusive)
    pa.field("best_nll", pa.float64()),      # mean nats per token over that span
    pa.field("best_bpb", pa.float64()),      # bits per byte over that span
]
#: bump when SCORE_COLUMNS change: it is part of the score-cache key, so older cache shards are not read
SCORE_FORMAT = 2
SCORE_SCHEMA = pa.schema([pa.field("doc_id", pa.string()), pa.field("split", pa.string())] + SCORE_COLUMNS)
CACHE_SCHEMA = pa.schema(SCORE_COLUMNS)


@dataclass(frozen=True, kw_only=True)
class ScoreConfig:
    """How documents are scored. Every field that changes a number is part of the score-cache key."""

    max_length: int | None = None  # tokens per window; None = the model's context window
    stride: int | None = None  # new tokens scored per window after the first; None = max_length (non-overlapping, as lm-eval's rolling loglikelihood)
    bos: Literal["auto", "always", "never"] = "auto"  # prefix BOS (or EOS) so the first token is scored too; never = first token is context only
    min_k: float = 0.2  # Min-K% fraction; 20% is Shi et al. (2023)'s default
    window_tokens: int = 64  # span of the worst and best windows: long enough to read, short enough to locate
    batch_tokens: int | None = None  # padded tokens per forward pass; None = 4,096 on CPU, 131,072 on GPU
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto = bf16 autocast on CUDA, fp32 elsewhere
    chunk_docs: int = 2048  # documents sorted and batched together: bounds memory, keeps padding low
    cache_every_docs: int = 2048  # write finished scores to the cache once this many are pending ...
    cache_every_seconds: float = 60.0  # ... or this long after the last write, so a killed run resumes

    def __post_init__(self) -> None:
        if self.max_length is not None and self.max_length < 2:
            raise ConfigError(f"max_length={self.max_length} is too small; use at least 2 tokens")
        if self.stride is not None and self.stride < 1:
            raise ConfigError(f"stride={self.stride} must be >= 1 (new tokens scored per window)")
        if self.max_length is not None and self.stride is not None and self.stride > self.max_length:
            raise ConfigError(f"stride={self.stride} exceeds max_length={self.max_length}; use a stride <= "
                              f"max_length (equal means non-overlapping windows)")
        if self.bos not in ("auto", "always", "never"):
            raise ConfigError(f"bos={self.bos!r}; choose auto, always or never")
        if not 0.0 < self.min_k <= 1.0:
            raise ConfigError(f"min_k={self.min_k} must be in (0, 1], e.g. 0.2 for Min-20%")
        if self.window_tokens < 1 or self.chunk_docs < 1 or (self.batch_tokens is not None and self.batch_tokens < 1):
            raise ConfigError("window_tokens, chunk_docs and batch_tokens must be positive")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"precision={self.precision!r}; choose auto, fp32 or bf16")
        if self.cache_every_docs < 1 or not self.cache_every_seconds >= 0:
            raise ConfigError(f"cache_every_docs={self.cache_every_docs} must be >= 1 and cache_every_seconds="
                              f"{self.cache_every_seconds} >= 0 (0: write after every batch)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def batch_tokens(model, cfg: ScoreConfig) -> int:
    """Padded tokens per forward pass: the configured budget, else 131,072 on CUDA and 4,096 elsewhere. On CPU a
    larger batch is slower, not faster: its activations leave the caches (benchmarks/score.py's model on this
    2-core machine, 2026-12-03, CPU seconds per 200 documents: 1,024 tokens 13.3-15.9, 2,048 11.8-12.1, 4,096
    10.2-12.9, 8,192 11.8, 16,384 15.0-16.5; the length-sorted HF loop of 16 documents 12.1-12.4)."""
    if cfg.batch_tokens:
        return cfg.batch_tokens
    return 131_072 if getattr(model.device, "type", "cpu") == "cuda" else 4_096


def resolve_settings(model, cfg: ScoreConfig) -> dict[str, Any]:
    """The settings a score depends on, resolved against the model (recorded in tables, keyed in the cache)."""
    max_length = cfg.max_length or model.max_length
    if max_length > model.max_length:
        raise ConfigError(f"max_length={max_length} exceeds the model's context window ({model.max_length}); "
                          f"pass --max-length {model.max_length} or less")
    stride = cfg.stride or max_length
    if stride > max_length:
        raise ConfigError(f"stride={stride} exceeds max_length={max_length}; pass --stride {max_length} or less")
    if cfg.bos == "never":
        bos = None
    else:
        bos = model.bos_id
        if bos is None and cfg.bos == "always":
            raise ConfigError(f"bos='always' but model {model.name!r} defines neither a BOS nor an EOS token; "
                              f"use bos='auto' or 'never'")
    return {"max_length": int(max_length), "stride": int(stride), "bos": cfg.bos, "bos_token_id": bos,
            "min_k": cfg.min_k, "window_tokens": cfg.window_tokens,
            "precision": resolved_precision(model, cfg.precision), "score_format": SCORE_FORMAT}
