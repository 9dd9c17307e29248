"""Reference models: any local Hugging Face causal LM (``hf.py``) and the embedded byte-level default
(``bytelm.py``), both behind ``ReferenceModel`` (``base.py``).

Which to use when: a Hugging Face model you trust (the one you train, or one of its family) gives scores
that mean what your model sees; the byte-level default needs no download and is fitted on a sample of your
own data in about three minutes, and is the right first look for junk, boilerplate and encoding damage.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelError
from .base import Encoded, ReferenceModel, resolve_device

__all__ = ["Encoded", "ReferenceModel", "check_model", "load_model", "fit_default_model", "resolve_device", "resolve_model"]


def load_model(path_or_name: str | os.PathLike, *, device: str = "auto") -> ReferenceModel:
    """Load a reference model: a byte-level model directory written by dataaudit, or a local Hugging Face
    causal LM (a directory or a name already in the local cache; nothing is downloaded)."""
    dev = resolve_device(device)
    p = Path(str(path_or_name)).expanduser()
    if p.is_dir() and (p / "bytelm.json").exists():
        from .bytelm import load_bytelm

        return load_bytelm(p, device=dev)
    if str(path_or_name).strip() == "":
        raise ModelError("empty model name; pass a model directory, or omit --model to fit the default")
    from .hf import load_hf

    return load_hf(path_or_name, device=dev)


def check_model(model) -> None:
    """Before any work starts: the model argument can be loaded here (a missing path or a missing optional
    package is one line with the fix, as datatrove's ``_requires_dependencies`` checks when a step is made)."""
    import importlib.util

    if model is None or model == "default" or isinstance(model, ReferenceModel):
        return
    p = Path(str(model)).expanduser()
    if p.is_dir() and (p / "bytelm.json").exists():
        return
    from .hf import _check_path

    _check_path(str(model))
    if importlib.util.find_spec("transformers") is None:
        raise ModelError(f"--model {model}: a Hugging Face model needs transformers: pip install 'dataaudit[hf]' "
                         f"(or pass --model default for the embedded byte-level model)")


def fit_default_model(corpus, **kw) -> ReferenceModel:
    """Fit (or load from the cache) the embedded byte-level default on a sample of ``corpus``;
    see ``dataaudit.model.bytelm.fit_default_model``."""
    from .bytelm import fit_default_model as _fit

    return _fit(corpus, **kw)


def resolve_model(model, **kw):
    """``(ReferenceModel, notes)``: the model given, or the byte-level default fitted on a corpus; see
    ``dataaudit.model.resolve.resolve_model``."""
    from .resolve import resolve_model as _resolve

    return _resolve(model, **kw)
