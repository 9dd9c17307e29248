"""The signals pass as engine tasks: one batch of documents per task, per-worker state set once.

``engine.pool(init_signals, (config, tokenizer_dir)).map(signals_task, batches)`` gives one table per batch
in input order (the engine's contract), so what is written does not depend on the worker count or engine.
With a tokenizer directory (a Hugging Face tokenizer, loaded once per worker; no model, no forward pass)
each document's ``tokens`` is the length of its encoding without special tokens; without one it is null.

Where the engine has read tasks (``--engine ray``), ``Pieces(engine, pool, source).map(signals_piece)``
(``engine/pieces.py``) runs one task per piece instead: the worker reads its shard and returns the piece's
signals tables, in piece order, so the driver receives only per-document signal columns, never the text.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa

from ...errors import ConfigError
from .batch import SIGNALS_SCHEMA, compute_signals_batch
from .config import DEFAULT_SIGNALS, SignalsConfig

HF_HINT = "pip install 'dataaudit[hf]'"
TOKENS_FIELD = pa.field("tokens", pa.int64())
_STATE: dict[str, Any] = {"config": DEFAULT_SIGNALS, "tokenizer": None}


def check_tokenizer(path: str | os.PathLike) -> None:
    """Fail in one line before any work when ``--tokenizer DIR`` cannot be loaded."""
    import importlib.util

    if importlib.util.find_spec("transformers") is None:
        raise ConfigError(f"--tokenizer needs the 'transformers' package, which is not installed; install it "
                          f"with: {HF_HINT}")
    p = os.fspath(path)
    if not os.path.isdir(p):
        raise ConfigError(f"--tokenizer {p!r}: not a directory (give a local Hugging Face tokenizer directory; "
                          "nothing is downloaded)")
    names = set(os.listdir(p))
    if not names & {"tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "vocab.txt"}:
        raise ConfigError(f"--tokenizer {p!r}: no tokenizer files (tokenizer.json, tokenizer_config.json, "
                          "vocab.json, tokenizer.model or vocab.txt) in it")


def load_tokenizer(path: str | os.PathLike) -> Any:
    """The Hugging Face tokenizer saved in ``path`` (local files only)."""
    check_tokenizer(path)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")     # one process per worker already
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(os.fspath(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"--tokenizer {os.fspath(path)!r}: cannot load it ({str(e).splitlines()[0]})") from None


def token_counts(tokenizer: Any, texts: list[str]) -> np.ndarray:
    """Tokens of each text under ``tokenizer``, special tokens (BOS/EOS) not added."""
    if not texts:
        return np.zeros(0, dtype=np.int64)
    enc = tokenizer(texts, add_special_tokens=False, return_attention_mask=False,
                    return_token_type_ids=False, verbose=False)["input_ids"]
    return np.fromiter(map(len, enc), dtype=np.int64, count=len(texts))


def init_signals(config: SignalsConfig = DEFAULT_SIGNALS, tokenizer_dir: str | None = None) -> None:
    """Per-worker state: the settings and, with ``tokenizer_dir``, the tokenizer (loaded once)."""
    _STATE["config"] = config
    _STATE["tokenizer"] = load_tokenizer(tokenizer_dir) if tokenizer_dir else None


def signals_task(batch: pa.RecordBatch) -> pa.Table:
    """Signals of one batch plus its ``tokens`` column (null without a tokenizer)."""
    t = compute_signals_batch(batch, _STATE["config"])
    tok = _STATE["tokenizer"]
    if tok is None:
        col = pa.nulls(t.num_rows, pa.int64())
    else:
        col = pa.array(token_counts(tok, batch.column("text").to_pylist()), pa.int64())
    return t.append_column(TOKENS_FIELD, col)


def empty_signals() -> pa.Table:
    """The columns of ``signals_task``'s tables, no rows."""
    return SIGNALS_SCHEMA.empty_table().append_column(TOKENS_FIELD, pa.array([], pa.int64()))


def signals_piece(batches) -> list[pa.Table]:
    """``signals_task`` of each batch of one piece (a shard the worker read, or a batch the driver sent), in
    order; the tables hold ids, sources and signal values only (no text column)."""
    return [signals_task(b) for b in batches]
