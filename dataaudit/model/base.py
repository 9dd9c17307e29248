"""The interface every reference model implements, so the scorer does not care where a model came from.

A reference model turns text into token ids (with character offsets, so a high-loss span can be shown to a
person) and runs a causal LM in two halves: ``hidden`` (the network up to its last hidden state) and
``project`` (the output head). Splitting the two lets the scorer compute log-softmax over the vocabulary a
chunk of positions at a time, so batch x length x vocab fp32 logits are never materialized.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError


@dataclass
class Encoded:
    """One document, tokenized without special tokens.

    ``ids[i]`` covers characters ``starts[i]:ends[i]`` of the text (``None`` when the tokenizer cannot say).
    """

    ids: np.ndarray                 # int64 token ids
    starts: np.ndarray | None       # int64 char offset where each token starts
    ends: np.ndarray | None         # int64 char offset where each token ends


class ReferenceModel:
    """A causal LM with its tokenizer. Subclasses: ``HFModel`` (hf.py) and ``ByteLMModel`` (bytelm.py)."""

    kind: str = "?"                 # "hf" or "bytelm"
    name: str = "?"                 # what a person called it (path or cache name)
    fingerprint: str = "?"          # content hash of weights + config: equal fingerprints score equally
    tokenizer_id: str = "?"         # name + content hash of the tokenizer: ppl compares only within one
    max_length: int = 0             # longest input the model accepts (its context window)
    bos_id: int | None = None       # token put before every document when the BOS policy says so
    vocab_size: int = 0
    device: Any = None              # torch.device the weights live on

    def encode(self, texts: list[str]) -> list[Encoded]:
        raise NotImplementedError

    def hidden(self, input_ids, attention_mask):  # (B, T) -> (B, T, H)
        raise NotImplementedError

    def project(self, hidden):  # (N, H) -> (N, V) logits
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What a score table records about the model."""
        return {"kind": self.kind, "name": self.name, "fingerprint": self.fingerprint,
                "tokenizer": self.tokenizer_id, "max_length": self.max_length, "bos_token_id": self.bos_id,
                "vocab_size": self.vocab_size}


def resolve_device(device: str = "auto"):
    """``auto`` -> cuda if available, else mps if available, else cpu. An unavailable choice is an error."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
        raise ConfigError(f"unknown device {device!r}; choose auto, cpu, cuda or mps")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but torch sees no CUDA GPU; pass --device cpu or auto")
    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError("device 'mps' requested but it is not available; pass --device cpu or auto")
    return torch.device(device)


def cache_root() -> str:
    """Where dataaudit keeps fitted models and score caches: $DATAAUDIT_CACHE, else ~/.cache/dataaudit."""
    env = os.environ.get("DATAAUDIT_CACHE")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dataaudit")


def char_offsets_of_bytes(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """For each UTF-8 byte, the character it belongs to, as (start, end) char offsets.

    >>> s, e = char_offsets_of_bytes("aé".encode())
    >>> s.tolist(), e.tolist()
    ([0, 1, 1], [1, 2, 2])
    """
    b = np.frombuffer(data, dtype=np.uint8)
    lead = (b & 0xC0) != 0x80          # a byte that starts a character (not a continuation byte)
    starts = np.cumsum(lead, dtype=np.int64) - 1
    return starts, starts + 1
