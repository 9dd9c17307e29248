"""Data-order readers: which samples and documents each optimizer step trained on.

``open_order(spec, data=..., read=..., tokenizer=..., consumed=...)`` parses ``--order SPEC`` and returns a
reader with ``pieces(steps) -> {step: [Piece]}`` and ``last_step()``. One module per format:
``manifest`` (recorded by the run), ``sampler`` (HF Trainer replay, and ``sequential``), ``olmo``
(``global_indices.npy``), ``megatron`` (``.bin``/``.idx`` + GPTDataset index maps).
"""

from __future__ import annotations

from typing import Any, Mapping

from .base import DataOrder, OrderSpec, Piece, Placement, parse_order


def open_order(spec: str | OrderSpec, *, data: Any = None, read: Any = None, tokenizer: Any = None,
               consumed: Mapping[int, int] | None = None) -> DataOrder:
    """A reader for ``spec`` (``"sampler:seed=42,batch=8"``, ``"manifest:steps.jsonl"``, ...)."""
    s = parse_order(spec) if isinstance(spec, str) else spec
    if s.kind == "manifest":
        from .manifest import open_manifest
        return open_manifest(s, data=data, read=read)
    if s.kind in ("sampler", "sequential"):
        from .sampler import open_trainer_order
        return open_trainer_order(s, data=data, read=read)
    if s.kind == "olmo":
        from .olmo import open_olmo
        return open_olmo(s, data=data, tokenizer=tokenizer)
    from .megatron import open_megatron
    return open_megatron(s, data=data, consumed=consumed, tokenizer=tokenizer)


__all__ = ["DataOrder", "OrderSpec", "Piece", "Placement", "open_order", "parse_order"]
