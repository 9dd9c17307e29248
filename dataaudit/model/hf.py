"""Any local Hugging Face causal LM (a directory, or a name already in the local cache), offline, with its tokenizer.

Nothing is downloaded: ``from_pretrained`` runs with ``local_files_only=True``. Padding is done by the scorer
(always on the right, with an attention mask, pad id 0 masked out), so the tokenizer's ``padding_side`` and a
missing pad token do not matter. BOS is added by the scorer according to its BOS policy, never by the
tokenizer (``add_special_tokens=False``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .base import Encoded, ReferenceModel

#: the largest model_max_length a tokenizer can report that is a real limit (HF uses 1e30 for "none")
_SANE_MAX = 1_000_000


def _one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return msg[0] if msg else type(e).__name__


def _hash_model(model, extra: str) -> str:
    """xxh3-128 over the config and every tensor's name, dtype, shape and bytes (weights-format independent)."""
    import xxhash

    h = xxhash.xxh3_128()
    h.update(extra.encode())
    cfg = model.config.to_dict()
    cfg.pop("_name_or_path", None)      # where it was loaded from is not what it computes: ./m and /abs/m agree
    h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    for name, t in sorted(model.state_dict().items()):
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(__import__("torch").uint8).numpy().tobytes())
    return h.hexdigest()


def _tokenizer_id(tok) -> str:
    import xxhash

    h = xxhash.xxh3_64()
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    else:
        h.update(repr(sorted(tok.get_vocab().items())).encode())
    h.update(repr(tok.special_tokens_map).encode())
    where = str(getattr(tok, "name_or_path", ""))
    if where and os.path.isdir(where):
        where = os.path.abspath(where)  # `.` and the directory's own name give the same id
    base = os.path.basename(where.rstrip("/")) or type(tok).__name__
    return f"{base}:{h.hexdigest()}"


class HFModel(ReferenceModel):
    """A transformers ``AutoModelForCausalLM`` with its ``AutoTokenizer``."""

    kind = "hf"

    def __init__(self, model, tokenizer, *, name: str, device) -> None:
        import torch

        self.model = model.eval()
        self.tok = tokenizer
        self.name = name
        self.device = torch.device(device)
        cfg = model.config
        limits = [getattr(cfg, k, None) for k in ("max_position_embeddings", "n_positions", "n_ctx")]
        limits = [x for x in limits if isinstance(x, int) and x > 0]
        tml = getattr(tokenizer, "model_max_length", None)
        if not limits and isinstance(tml, int) and 0 < tml < _SANE_MAX:
            limits = [tml]
        self.max_length = min(limits) if limits else 2048
        bos = tokenizer.bos_token_id
        if bos is None:   # lm-eval's rolling loglikelihood uses the end-of-text token as the prefix
            bos = tokenizer.eos_token_id
        self.bos_id = bos
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0]) \
            if model.get_output_embeddings() is not None else int(cfg.vocab_size)
        self.tokenizer_id = _tokenizer_id(tokenizer)
        self.fingerprint = _hash_model(model, self.tokenizer_id)
        self.model.to(self.device)
        self._check_causal()
        self._split = self._check_split()
        self._mask = self._check_mask_needed()

    # -- the two halves --------------------------------------------------------------------------------
    def _check_split(self) -> bool:
        """True when body + output head reproduce ``model(x).logits`` (false for heads with extra scaling)."""
        import torch

        head = self.model.get_output_embeddings()
        if head is None or getattr(self.model, "base_model", None) is None or self.model.base_model is self.model:
            return False
        ids = torch.arange(1, 9, device=self.device).remainder(self.vocab_size).unsqueeze(0)
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            full = self.model(input_ids=ids, attention_mask=mask).logits.float()
            h = self.model.base_model(input_ids=ids, attention_mask=mask)[0]
            part = head(h).float()
        return bool(torch.allclose(full, part, rtol=1e-4, atol=1e-4))

    def _check_causal(self) -> None:
        """Refuse a model whose prediction at a position changes with a later token (an encoder such as BERT
        loaded as an LM without ``is_decoder``): its perplexity would be read off the answer."""
        import torch

        ids = torch.arange(1, 9, device=self.device).remainder(self.vocab_size).unsqueeze(0)
        other = ids.clone()
        other[0, 6:] = (other[0, 6:] + 3).remainder(self.vocab_size)
        with torch.inference_mode():
            a = self.model(input_ids=ids).logits.float()[0, :6]
            b = self.model(input_ids=other).logits.float()[0, :6]
        if not torch.allclose(a, b, rtol=1e-4, atol=1e-4):
            raise ModelError(f"model {self.name!r} is not causal: its prediction at a position changes with later "
                             f"tokens (an encoder such as BERT?); pass a causal LM such as GPT-2 or Llama")

    def _check_mask_needed(self) -> bool:
        """False when right padding cannot change a real position without the mask (causal attention, the
        usual case), so the model can take its faster is_causal attention path; checked on a probe batch."""
        import torch

        ids = torch.arange(1, 17, device=self.device).remainder(self.vocab_size).view(2, 8)
        mask = torch.ones_like(ids)
        mask[1, 5:] = 0
        with torch.inference_mode():
            with_mask = self.model(input_ids=ids, attention_mask=mask).logits.float()
            without = self.model(input_ids=ids).logits.float()
        same = torch.allclose(with_mask[0], without[0], rtol=1e-4, atol=1e-4) and \
            torch.allclose(with_mask[1, :5], without[1, :5], rtol=1e-4, atol=1e-4)
        return not same

    def hidden(self, input_ids, attention_mask):
        mask = attention_mask if self._mask else None   # right padding + causal: pads never reach real tokens
        if self._split:
            return self.model.base_model(input_ids=input_ids, attention_mask=mask)[0]
        return self.model(input_ids=input_ids, attention_mask=mask).logits

    def project(self, hidden):
        if self._split:
            return self.model.get_output_embeddings()(hidden)
        return hidden

    # -- tokenizer -------------------------------------------------------------------------------------
    def encode(self, texts: list[str]) -> list[Encoded]:
        fast = getattr(self.tok, "is_fast", False)
        enc = self.tok(list(texts), add_special_tokens=False, return_offsets_mapping=fast,
                       return_attention_mask=False, verbose=False)
        out = []
        for i, ids in enumerate(enc["input_ids"]):
            arr = np.asarray(ids, dtype=np.int64)
            if fast:
                off = np.asarray(enc["offset_mapping"][i], dtype=np.int64).reshape(-1, 2)
                out.append(Encoded(arr, off[:, 0].copy(), off[:, 1].copy()))
            else:
                out.append(Encoded(arr, None, None))
        return out

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["architecture"] = (getattr(self.model.config, "architectures", None) or ["?"])[0]
        d["params"] = int(sum(p.numel() for p in self.model.parameters()))
        return d


#: files a tokenizer saved with ``save_pretrained`` leaves (any one of them; AutoTokenizer builds an empty
#: tokenizer from the config alone when there are none, which would score every text as unknown tokens)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "vocab.txt", "merges.txt",
                   "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "tokenizer.tiktoken")


def _check_path(name: str) -> Path | None:
    """The model directory ``name`` names, checked before anything is imported; None for a cache name."""
    p = Path(name).expanduser()
    looks_like_path = p.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1
    if looks_like_path and not p.exists():
        raise ModelError(f"model path {name!r} does not exist; pass a directory with config.json and weights, "
                         f"or omit --model to fit the default byte-level model")
    if p.is_file():
        raise ModelError(f"model path {name!r} is a file; pass the directory that holds config.json, weights "
                         f"and tokenizer files")
    if p.is_dir() and not (p / "config.json").exists():
        raise ModelError(f"{name!r} has no config.json, so it is not a Hugging Face model directory; pass the "
                         f"directory saved by save_pretrained(), or a byte-level model directory from dataaudit")
    return p if p.is_dir() else None


def _causal_lm_classes() -> set[str]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    out: set[str] = set()
    for v in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values():
        out.update(v if isinstance(v, (list, tuple)) else [v])
    return out


def _check_architecture(name: str, config) -> None:
    """Refuse a checkpoint saved from a model class that is not a causal LM (a ``BertModel``, a classifier):
    ``AutoModelForCausalLM`` would build an LM head for it with random weights."""
    archs = list(getattr(config, "architectures", None) or [])
    if archs and not set(archs) & _causal_lm_classes():
        raise ModelError(f"model {name!r} was saved as {archs[0]}, which is not a causal language model (no "
                         f"trained LM head); pass a causal LM such as GPT-2 or Llama (a *ForCausalLM / *LMHeadModel)")
    if getattr(config, "is_encoder_decoder", False):
        raise ModelError(f"model {name!r} is an encoder-decoder ({getattr(config, 'model_type', '?')}), not a "
                         f"causal language model; pass a decoder-only causal LM such as GPT-2 or Llama")


def load_hf(path_or_name: str | os.PathLike, *, device) -> HFModel:
    """Load a local causal LM and its tokenizer offline; every failure is a one-line ``ModelError``.

    Refused: a path that does not exist (checked before transformers is imported), a directory without
    config.json or tokenizer files, a checkpoint saved from a class that is not a causal LM, a checkpoint
    missing weights (an LM head that would be initialised at random; a head tied to the input embeddings,
    as GPT-2's, is not missing), and a model whose predictions see later tokens."""
    name = str(path_or_name)
    p = _check_path(name)
    try:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as e:  # pragma: no cover - transformers is a declared extra
        where = f"{name!r} is a model directory, and loading it" if p is not None else \
            f"{name!r} is not a model directory here, and loading it by name"
        raise ModelError(f"{where} needs transformers: pip install 'dataaudit[hf]' ({e})") from None
    src = str(p) if p is not None else name
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()   # a bar per load on stderr; the job reports its own phases
    try:
        try:
            config = AutoConfig.from_pretrained(src, local_files_only=True)
        except (OSError, ValueError) as e:
            raise ModelError(f"model {name!r} is neither a directory nor in the local Hugging Face cache "
                             f"(offline: nothing is downloaded; {_one_line(e)}). Pass a local directory, or omit "
                             f"--model to fit the default byte-level model") from None
        _check_architecture(name, config)
        try:
            model, info = AutoModelForCausalLM.from_pretrained(
                src, local_files_only=True, config=config, output_loading_info=True,
                torch_dtype="auto" if str(device).startswith("cuda") else None)
        except ValueError as e:
            mt = getattr(config, "model_type", "?")
            raise ModelError(f"model {name!r} (model_type {mt!r}) is not a causal language model "
                             f"({_one_line(e)}); pass a causal LM such as GPT-2 or Llama") from None
        except (OSError, RuntimeError) as e:
            raise ModelError(f"cannot load weights of {name!r}: {_one_line(e)}") from None
        missing = sorted(info.get("missing_keys") or [])
        if missing:
            raise ModelError(f"model {name!r} is missing {len(missing)} weight(s) in its checkpoint (e.g. "
                             f"{missing[0]}), which would be initialised at random; save the complete model "
                             f"with save_pretrained()") from None
        if info.get("mismatched_keys"):
            raise ModelError(f"model {name!r}: weights with the wrong shape for its config "
                             f"(e.g. {sorted(info['mismatched_keys'])[0]}); save config and weights together")
        if p is not None and not any((p / f).exists() for f in TOKENIZER_FILES):
            raise ModelError(f"model {name!r} has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...); save "
                             f"the tokenizer next to the model with tokenizer.save_pretrained(dir)")
        try:
            tok = AutoTokenizer.from_pretrained(src, local_files_only=True)
        except (OSError, ValueError, TypeError) as e:
            raise ModelError(f"model {name!r} has no usable tokenizer: {_one_line(e)}; save the tokenizer "
                             f"next to the model with tokenizer.save_pretrained(dir)") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if not str(device).startswith("cuda"):
        model = model.float()
    return HFModel(model, tok, name=name, device=device)
