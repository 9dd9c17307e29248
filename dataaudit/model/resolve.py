"""Which reference model a job scores with: the one given (loaded, or loaded from a path), or the byte-level
default fitted on a sample of a corpus (or loaded from the cache), with a note that says what was done."""

from __future__ import annotations

from typing import Any, Callable, Iterator

from ..errors import ConfigError
from .base import ReferenceModel


def resolve_model(model: Any, *, corpus: Any = None, corpus_name: str = "the data itself",
                  device: str = "auto", cache_dir: Any = None, fit_config: Any = None, read: Any = None,
                  split: str = "data", progress: Callable[..., None] | None = None
                  ) -> tuple[ReferenceModel, list[str]]:
    """``(ReferenceModel, notes)``.

    ``model``: a loaded ``ReferenceModel`` (used as is), a model directory or local HF cache name (loaded on
    ``device``), or None / ``"default"``: fit the byte-level default on a sample of ``corpus`` (a path, a
    Table, a ``DocSource``, record batches or strings; read with ``read``) or load it from the cache;
    ``corpus_name`` says in the note what that corpus was. ``progress(event, **counts)`` hears the fit.
    """
    from . import load_model

    if isinstance(model, ReferenceModel):
        return model, []
    if model is not None and model != "default":
        return load_model(model, device=device), []
    if corpus is None:
        raise ConfigError("no model given and no corpus to fit the default model on; pass model=... or fit_on=...")
    if isinstance(corpus, Iterator):
        raise ConfigError("no model given and the data is a one-shot iterator, so the default model cannot be "
                          "fitted on it and then score it; pass model=..., fit_on=..., or a path / list / Table")
    from .bytelm import fit_default_model

    m = fit_default_model(corpus, config=fit_config, cache_dir=cache_dir, device=device, progress=progress,
                          read=read, split=split)
    fi = m.fit_info
    how = "loaded from the cache" if fi.get("from_cache") else f"fitted in {fi.get('fit_seconds', 0):.0f}s"
    return m, [f"No model given: the default byte-level model was {how} on a sample of {corpus_name} "
               f"({fi['sample_docs']} documents, {fi['sample_bytes']} bytes; {fi['steps_done']} steps); "
               f"saved at `{m.name}` (load it with --model)."]
