"""What every data-order reader returns, and the ``--order SPEC`` parser.

A data order answers one question: which training samples did optimizer step ``s`` see, and which documents
(with which token ranges) are inside each sample? Every reader returns the same ``Placement`` rows, so the
suspects and the skip list never know which framework trained the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol

from ...errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class Placement:
    """One document (or the part of it) inside one sample of one step."""

    step: int                       # optimizer step, 1-based, as the training log numbers it
    position: int                   # order of this piece within the step's global batch (0-based)
    sample_id: int                  # the framework's sample index (dataset index, OLMo instance, Megatron sample)
    doc_id: str                     # the document's id: --data id column, Dolma metadata id, or file@offset
    token_start: int | None = None  # first token of this piece inside the sample (None for text orders)
    token_end: int | None = None    # one past its last token inside the sample
    doc_token_start: int | None = None  # where the piece starts inside its document, in tokens (None: whole doc)
    dataset_index: int | None = None    # row of --data (file order) for text orders: what an HF user drops


@dataclass(frozen=True, kw_only=True)
class Piece:
    """A placement plus the text the model saw for it (decoded tokens, or the whole text document)."""

    placement: Placement
    text: str | None                # None when --data was not given (manifest without data)


class DataOrder(Protocol):
    """A resolved data order: ``pieces(steps)`` gives what each step saw, in batch order."""

    kind: str
    source: str

    def last_step(self) -> int | None:
        """The last step the order covers, or None when it is open-ended."""

    def pieces(self, steps: Iterable[int]) -> dict[int, list[Piece]]:
        """Every piece of every step in ``steps``; raises InputError for a step the order does not hold."""


@dataclass(frozen=True, kw_only=True)
class OrderSpec:
    """A parsed ``--order SPEC``: the reader's kind, the path after ``kind:`` and its ``key=value`` params."""

    kind: str                       # manifest | sampler | olmo | megatron | sequential
    path: str | None = None         # the file the reader opens (manifest, olmo, megatron)
    params: Mapping[str, str] = field(default_factory=dict)  # the key=value settings, as strings
    text: str = ""                  # the spec as the user wrote it, for error messages

    def int_param(self, name: str, default: int | None = None, *, minimum: int = 0) -> int | None:
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            v = int(raw)
        except ValueError:
            raise ConfigError(f"--order {self.text}: {name}={raw!r} is not an integer; e.g. {name}=8") from None
        if v < minimum:
            raise ConfigError(f"--order {self.text}: {name}={v} must be >= {minimum}")
        return v

    def require_int(self, name: str, *, minimum: int = 1, example: str = "") -> int:
        v = self.int_param(name, None, minimum=minimum)
        if v is None:
            raise ConfigError(f"--order {self.text}: {name}= is required; e.g. --order {example or self.kind + ':' + name + '=8'}")
        return v

    def bool_param(self, name: str, default: bool = False) -> bool:
        raw = self.params.get(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes"):
            return True
        if raw.lower() in ("0", "false", "no"):
            return False
        raise ConfigError(f"--order {self.text}: {name}={raw!r}; use {name}=0 or {name}=1")

    def check_keys(self, allowed: Iterable[str]) -> None:
        allowed = set(allowed)
        extra = sorted(set(self.params) - allowed)
        if extra:
            raise ConfigError(f"--order {self.text}: unknown setting(s) {extra} for {self.kind}; "
                              f"known: {sorted(allowed)}")


KINDS = ("manifest", "sampler", "olmo", "megatron", "sequential")
_WITH_PATH = ("manifest", "olmo", "megatron")


def parse_order(spec: str) -> OrderSpec:
    """Parse ``--order SPEC``: ``kind:PATH[,key=value...]`` or ``kind:key=value[,key=value...]``.

    >>> parse_order("sampler:seed=42,batch=8,accum=2").params["accum"]
    '2'
    >>> s = parse_order("olmo:run/global_indices.npy,batch=512,seq=2048")
    >>> s.kind, s.path, dict(s.params)
    ('olmo', 'run/global_indices.npy', {'batch': '512', 'seq': '2048'})
    >>> parse_order("manifest:steps.jsonl").path
    'steps.jsonl'
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(f"--order {spec!r}: expected KIND:..., one of {list(KINDS)}; "
                          f"e.g. --order sampler:seed=42,batch=8 or --order manifest:steps.jsonl")
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise ConfigError(f"--order {spec}: unknown kind {kind!r}; use one of {list(KINDS)}")
    parts = [p.strip() for p in rest.split(",")] if rest else []
    path = None
    if kind in _WITH_PATH and parts:
        path, parts = parts[0], parts[1:]
    params: dict[str, str] = {}
    for p in parts:
        k, eq, v = p.partition("=")
        k = k.strip().lower().replace("-", "_")
        if not eq or not k:
            raise ConfigError(f"--order {spec}: {p!r} is not key=value")
        params[k] = v.strip()
    if kind in _WITH_PATH and not path:
        raise ConfigError(f"--order {spec}: {kind} needs a path, e.g. --order {kind}:PATH")
    return OrderSpec(kind=kind, path=path, params=params, text=spec)


def check_steps(steps: Iterable[int], last: int | None, source: str, fix: str) -> list[int]:
    """Sorted unique steps; InputError for a step < 1 or past ``last`` (the order's end)."""
    from ...errors import InputError

    out = sorted({int(s) for s in steps})
    if out and out[0] < 1:
        raise InputError(f"{source}: step {out[0]} is not a training step (steps are 1-based)")
    if last is not None and out and out[-1] > last:
        raise InputError(f"{source}: step {out[-1]} is past the end of the order (last step {last}); {fix}")
    return out


Decoder = Callable[[list[int]], str]
"""Token ids -> text (a local HF tokenizer's decode)."""


def load_decoder(tokenizer: Any) -> Decoder | None:
    """A decode function from a tokenizer directory, a tokenizer object, or a callable; None stays None."""
    if tokenizer is None:
        return None
    if callable(tokenizer) and not hasattr(tokenizer, "decode"):
        return tokenizer
    if hasattr(tokenizer, "decode"):
        return lambda ids: tokenizer.decode(list(map(int, ids)))
    from ...errors import InputError
    try:
        from transformers import AutoTokenizer
    except ImportError:  # pragma: no cover - transformers is a test dependency
        raise ConfigError("decoding token data needs transformers: pip install 'dataaudit[hf]'") from None
    try:
        tok = AutoTokenizer.from_pretrained(str(tokenizer), local_files_only=True)
    except Exception as e:  # noqa: BLE001 - any load failure is one input error
        raise InputError(f"--tokenizer {tokenizer}: not a local Hugging Face tokenizer directory ({e}); "
                         f"pass the directory holding tokenizer.json") from None
    return lambda ids: tok.decode(list(map(int, ids)))
