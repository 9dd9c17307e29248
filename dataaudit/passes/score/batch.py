"""Scoring a list of texts, in this process or as an engine task with one model per worker.

``score_texts`` is the pure core (no cache, no I/O). ``model_spec`` / ``init_worker`` / ``score_chunk`` are
its engine form: ``engine.pool(init_worker, (model_spec(model), config)).map(score_chunk, chunks)``; each
worker loads the model once from its directory and checks that its fingerprint is the driver's, so every
worker scores with the same weights. A process that already holds the model (the driver) uses it as is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...errors import ConfigError, ModelError
from .config import ScoreConfig, batch_tokens, resolve_settings
from .forward import token_logprobs
from .stats import doc_stats


def score_texts(model, texts: list[str], cfg: ScoreConfig = ScoreConfig(), *,
                on_batch: Callable[[int], None] | None = None,
                on_done: Callable[[list[tuple[int, dict[str, Any]]]], None] | None = None) -> list[dict[str, Any]]:
    """Score a list of texts with ``model`` (no cache, no I/O): one stats dict per text.

    ``on_batch(tokens)`` hears each forward batch; ``on_done([(index, stats), ...])`` each text as soon as
    all its windows are scored (the longest first), so a caller can keep finished scores early.
    """
    settings = resolve_settings(model, cfg)
    if not texts:
        return []
    encs = model.encode(texts)
    bos = settings["bos_token_id"]
    seqs = []
    for enc in encs:
        seqs.append(np.concatenate([[bos], enc.ids]).astype(np.int64) if bos is not None else enc.ids)
    out: list[dict[str, Any] | None] = [None] * len(texts)

    def stats(i: int, lp: np.ndarray) -> dict[str, Any]:
        if out[i] is None:
            s, e = encs[i].starts, encs[i].ends
            if bos is None and s is not None:   # without BOS the first token is context, not a target
                s, e = s[1:], e[1:]
            out[i] = doc_stats(texts[i], lp, s, e, min_k=cfg.min_k, window_tokens=cfg.window_tokens)
        return out[i]

    hook = None
    if on_done is not None:
        hook = lambda done: on_done([(i, stats(i, lp)) for i, lp in done])  # noqa: E731
    lps = token_logprobs(model, seqs, max_length=settings["max_length"], stride=settings["stride"],
                         batch_tokens=batch_tokens(model, cfg), precision=cfg.precision, on_batch=on_batch,
                         on_done=hook)
    return [stats(i, lp) for i, lp in enumerate(lps)]


# ---- the engine task --------------------------------------------------------------------------------------

_MODELS: dict[str, Any] = {}        # fingerprint -> loaded ReferenceModel, in this process
_WORKER: dict[str, Any] = {}        # what init_worker set up: the model (or the error) and the config


def model_spec(model) -> dict[str, Any]:
    """What a worker needs to load ``model`` itself: its directory (or cache name), device and fingerprint."""
    name = str(model.name)
    if model.kind == "bytelm" and not Path(name).is_dir():
        raise ConfigError(f"model {name!r} is not saved in a directory, so worker processes cannot load it; "
                          f"save it first or pass --workers 1")
    if Path(name).is_dir():             # workers of a cluster started elsewhere do not run in our directory
        name = os.path.abspath(name)
    return {"name": name, "device": str(model.device), "fingerprint": model.fingerprint}


def register(model) -> None:
    """Make ``model`` the one ``init_worker`` uses in this process (the driver: no second copy)."""
    _MODELS[model.fingerprint] = model


def unregister(model) -> None:
    _MODELS.pop(model.fingerprint, None)


def init_worker(spec: dict[str, Any], cfg: ScoreConfig) -> None:
    """Engine initializer: load the model once per worker. Never raises (a pool initializer that raises is
    restarted forever); a failure is kept and raised by the first ``score_chunk``."""
    from .heap import bound_heap

    bound_heap()        # as in the driver: a worker's heap does not grow with the chunks it scores
    _WORKER.clear()
    _WORKER["cfg"] = cfg
    try:
        m = _MODELS.get(spec["fingerprint"])
        if m is None:
            from ...model import load_model

            m = load_model(spec["name"], device=spec["device"])
            if m.fingerprint != spec["fingerprint"]:
                raise ModelError(f"model {spec['name']!r} changed on disk while scoring (fingerprint "
                                 f"{m.fingerprint[:12]} in a worker, {spec['fingerprint'][:12]} in the driver)")
            _MODELS[m.fingerprint] = m
        _WORKER["model"] = m
    except Exception as e:  # noqa: BLE001 - re-raised by score_chunk, in the driver
        _WORKER["error"] = e


def score_chunk(texts: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Engine task: ``(stats per text, tokens scored)`` with the worker's model."""
    if "error" in _WORKER:
        raise _WORKER["error"]
    tokens = [0]

    def count(n: int) -> None:
        tokens[0] += n

    try:
        return score_texts(_WORKER["model"], texts, _WORKER["cfg"], on_batch=count), tokens[0]
    finally:
        from .heap import trim

        trim()          # the chunk's tensors are freed: give their pages back before the next one
