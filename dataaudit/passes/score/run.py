"""Reference-model scoring: per-document NLL that is exact, comparable across runs, and fast.

Pure core, bottom to top:

* ``plan_windows`` -- the sliding-window arithmetic for documents longer than the model's context;
* ``token_logprobs`` -- every target token's log-probability, with windows from many documents sorted by
  length and packed into batches by a token budget (right padding + attention mask), under
  ``torch.inference_mode``, log-softmax computed a chunk of positions at a time;
* ``doc_stats`` -- per-document sums (``nll_sum``, ``n_tokens``, ``n_bytes``) and what derives from them;
* ``ScoreCache`` -- scores keyed by (document hash, model fingerprint, settings) on disk;
* ``run_score`` / ``score`` -- the streaming driver and the public API; ``aggregate`` token-weights.

Stored as sums so that aggregates are exact: corpus perplexity is ``exp(sum nll / sum tokens)``, never a mean
of per-document perplexities.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import math
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal

import numpy as np
import pyarrow as pa

from ..errors import ConfigError, InputError
from ..records import PassResult

LN2 = math.log(2.0)
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
_CACHE_SCHEMA = pa.schema(SCORE_COLUMNS)


@dataclass(frozen=True, kw_only=True)
class ScoreConfig:
    """How documents are scored. Every field that changes a number is part of the score-cache key."""

    max_length: int | None = None  # tokens per window; None = the model's context window
    stride: int | None = None  # new tokens scored per window after the first; None = max_length (non-overlapping, as lm-eval's rolling loglikelihood)
    bos: Literal["auto", "always", "never"] = "auto"  # prefix BOS (or EOS) so the first token is scored too; never = first token is context only
    min_k: float = 0.2  # Min-K% fraction; 20% is Shi et al. (2023)'s default
    window_tokens: int = 64  # span of the worst and best windows: long enough to read, short enough to locate
    batch_tokens: int | None = None  # padded tokens per forward pass; None = 16,384 on CPU, 131,072 on GPU
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto = bf16 autocast on CUDA, fp32 elsewhere
    chunk_docs: int = 2048  # documents sorted and batched together: bounds memory, keeps padding low

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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---- window arithmetic ------------------------------------------------------------------------------------

def plan_windows(n_seq: int, max_length: int, stride: int) -> list[tuple[int, int, int]]:
    """Windows ``(a, e, k)`` covering a sequence of ``n_seq`` tokens (BOS included when used).

    The window feeds tokens ``seq[a:e]`` (at most ``max_length``) and predicts ``seq[a+1:e+1]``; only its
    last ``k`` predictions are scored, so every target ``seq[1:]`` is scored exactly once. The first window
    scores everything it sees; each later window scores ``stride`` new tokens with up to
    ``max_length - stride`` tokens of earlier context beyond the one preceding token.

    >>> plan_windows(5, 4, 4)            # fits: one window, 4 targets
    [(0, 4, 4)]
    >>> plan_windows(10, 4, 4)           # non-overlapping; the last window is full length
    [(0, 4, 4), (4, 8, 4), (5, 9, 1)]
    >>> plan_windows(10, 4, 2)           # stride 2: every later target sees >= 2 tokens of context
    [(0, 4, 4), (2, 6, 2), (4, 8, 2), (5, 9, 1)]
    >>> plan_windows(1, 4, 4)            # BOS only: nothing to score
    []
    """
    if max_length < 1 or not 1 <= stride <= max_length:
        raise ConfigError(f"need 1 <= stride ({stride}) <= max_length ({max_length})")
    n_targets = n_seq - 1
    if n_targets <= 0:
        return []
    done = min(max_length, n_targets)
    out = [(0, done, done)]
    while done < n_targets:
        e = min(done + stride, n_targets)
        out.append((max(0, e - max_length), e, e - done))
        done = e
    return out


# ---- the batched forward pass -----------------------------------------------------------------------------

def _autocast(model, precision: str):
    import contextlib

    import torch

    dev = getattr(model.device, "type", "cpu")
    if precision == "bf16" or (precision == "auto" and dev == "cuda"):
        return torch.autocast(device_type=dev, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def resolved_precision(model, precision: str) -> str:
    dev = getattr(model.device, "type", "cpu")
    return "bf16" if precision == "bf16" or (precision == "auto" and dev == "cuda") else "fp32"


def token_logprobs(model, seqs: list[np.ndarray], *, max_length: int, stride: int, batch_tokens: int,
                   precision: str = "auto", on_batch: Callable[[int], None] | None = None) -> list[np.ndarray]:
    """Log-probability (nats) of every target ``seq[1:]`` of every sequence, as float64 arrays.

    Windows of all sequences are sorted by length (longest first) and packed greedily so that
    ``rows x longest row <= batch_tokens``; each batch is right-padded with an attention mask. Only the
    hidden states of scored positions go through the output head, ``chunk`` rows at a time.
    """
    import torch

    items = [(i, a, e, k) for i, s in enumerate(seqs) for (a, e, k) in plan_windows(len(s), max_length, stride)]
    out = [np.zeros(max(len(s) - 1, 0), dtype=np.float64) for s in seqs]
    if not items:
        return out
    items.sort(key=lambda t: t[2] - t[1], reverse=True)
    chunk = max(64, (1 << 24) // max(model.vocab_size, 1))  # <= 16M fp32 logits (64 MiB) live at once
    pos = 0
    with torch.inference_mode():
        while pos < len(items):
            longest = items[pos][2] - items[pos][1]
            rows = max(1, min(len(items) - pos, batch_tokens // longest))
            batch = items[pos:pos + rows]
            pos += rows
            ids = np.zeros((rows, longest), dtype=np.int64)
            tgt = np.zeros((rows, longest), dtype=np.int64)
            mask = np.zeros((rows, longest), dtype=np.int64)
            sel_r, sel_c = [], []
            for r, (i, a, e, k) in enumerate(batch):
                n = e - a
                ids[r, :n] = seqs[i][a:e]
                tgt[r, :n] = seqs[i][a + 1:e + 1]
                mask[r, :n] = 1
                sel_r.append(np.full(k, r))
                sel_c.append(np.arange(n - k, n))
            rr = torch.from_numpy(np.concatenate(sel_r))
            cc = torch.from_numpy(np.concatenate(sel_c))
            dev = model.device
            with _autocast(model, precision):
                h = model.hidden(torch.from_numpy(ids).to(dev), torch.from_numpy(mask).to(dev))
                hs = h[rr.to(dev), cc.to(dev)]
                tt = torch.from_numpy(tgt)[rr, cc].to(dev)
                parts = []
                for c0 in range(0, hs.shape[0], chunk):
                    logits = model.project(hs[c0:c0 + chunk]).float()
                    parts.append(logits.gather(1, tt[c0:c0 + chunk, None]).squeeze(1)
                                 - torch.logsumexp(logits, dim=-1))
            lp = torch.cat(parts).double().cpu().numpy()
            off = 0
            for i, a, e, k in batch:
                out[i][e - k:e] = lp[off:off + k]
                off += k
            if on_batch is not None:
                on_batch(int(rr.numel()))
    return out


# ---- per-document statistics ------------------------------------------------------------------------------

def doc_stats(text: str, lp: np.ndarray, starts: np.ndarray | None, ends: np.ndarray | None, *,
              min_k: float, window_tokens: int) -> dict[str, Any]:
    """Scores of one document from its target log-probs ``lp`` and the char offsets of those targets.

    >>> d = doc_stats("abcd", np.log([0.5, 0.25, 0.25, 0.5]), np.arange(4), np.arange(1, 5),
    ...               min_k=0.25, window_tokens=2)
    >>> round(d["nll_sum"], 4), d["n_tokens"], d["n_bytes"], round(d["bits_per_byte"], 4)   # 6 bits / 4 bytes
    (4.1589, 4, 4, 1.5)
    >>> round(d["min_k"], 4), d["worst_start"], d["worst_end"]     # lowest 25% = one token; span 'bc'
    (-1.3863, 1, 3)
    >>> d["best_start"], d["best_end"], d["best_bpb"]                 # the first span of the lowest loss: 'ab'
    (0, 2, 1.5)
    """
    data = text.encode("utf-8", errors="surrogatepass")
    n = int(lp.shape[0])
    nll = float(-lp.sum()) if n else 0.0
    zb = len(zlib.compress(data, 6))
    d: dict[str, Any] = {"n_tokens": n, "n_bytes": len(data), "nll_sum": nll,
                         "ppl": math.exp(nll / n) if n else math.nan,
                         "bits_per_byte": nll / (len(data) * LN2) if data else math.nan,
                         "zlib_bytes": zb, "zlib_ratio": (nll / n) / zb if n else math.nan,
                         "min_k": math.nan, "worst_start": None, "worst_end": None,
                         "worst_nll": math.nan, "worst_bpb": math.nan,
                         "best_start": None, "best_end": None, "best_nll": math.nan, "best_bpb": math.nan}
    if not n:
        return d
    kc = max(1, int(n * min_k))  # Shi et al.: int(len * ratio); at least one token
    d["min_k"] = float(np.partition(lp, kc - 1)[:kc].mean())
    w = min(window_tokens, n)
    c = np.concatenate([[0.0], np.cumsum(-lp)])
    sums = c[w:] - c[:-w]
    # the worst window shows where a document is strange; the best one where it is too predictable (a run,
    # a repeat inside otherwise normal text), the other side of the same two-sided reading
    for name, j in (("worst", int(np.argmax(sums))), ("best", int(np.argmin(sums)))):
        d[f"{name}_nll"] = float(sums[j] / w)
        if starts is not None and ends is not None and len(starts) == n:
            cs, ce = int(starts[j]), int(ends[j + w - 1])
            d[f"{name}_start"], d[f"{name}_end"] = cs, ce
            nb = len(text[cs:ce].encode("utf-8", errors="surrogatepass"))
            d[f"{name}_bpb"] = float(sums[j] / (nb * LN2)) if nb else math.nan
    return d


def score_texts(model, texts: list[str], cfg: ScoreConfig = ScoreConfig(), *,
                on_batch: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Score a list of texts with ``model`` (no cache, no I/O): one stats dict per text."""
    settings = resolve_settings(model, cfg)
    encs = model.encode(texts)
    bos = settings["bos_token_id"]
    seqs = []
    for enc in encs:
        seqs.append(np.concatenate([[bos], enc.ids]).astype(np.int64) if bos is not None else enc.ids)
    lps = token_logprobs(model, seqs, max_length=settings["max_length"], stride=settings["stride"],
                         batch_tokens=_batch_tokens(model, cfg), precision=cfg.precision, on_batch=on_batch)
    out = []
    for text, enc, lp in zip(texts, encs, lps):
        s, e = enc.starts, enc.ends
        if bos is None and s is not None:   # without BOS the first token is context, not a target
            s, e = s[1:], e[1:]
        out.append(doc_stats(text, lp, s, e, min_k=cfg.min_k, window_tokens=cfg.window_tokens))
    return out


def _batch_tokens(model, cfg: ScoreConfig) -> int:
    if cfg.batch_tokens:
        return cfg.batch_tokens
    return 131_072 if getattr(model.device, "type", "cpu") == "cuda" else 16_384


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


# ---- the score cache --------------------------------------------------------------------------------------

def doc_hash(text: str) -> str:
    import xxhash

    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", errors="surrogatepass"))


def cache_key(model, settings: dict[str, Any]) -> str:
    import xxhash

    blob = json.dumps({"model": model.fingerprint, "tokenizer": model.tokenizer_id, **settings}, sort_keys=True)
    return xxhash.xxh3_128_hexdigest(blob.encode())


class ScoreCache:
    """Per-document scores on disk under ``root/<key>/part-*.parquet``, one shard per scored chunk.

    Each shard is written atomically after its chunk is scored, so an interrupted run keeps what it finished
    and a repeated run scores only documents whose (hash, model, settings) it has not seen.
    """

    def __init__(self, root: str | os.PathLike, key: str, describe: dict[str, Any] | None = None) -> None:
        import pyarrow.parquet as pq

        self.dir = Path(root) / key
        self.index: dict[str, tuple[int, int]] = {}
        self.tables: list[pa.Table] = []
        if self.dir.is_dir():
            for p in sorted(self.dir.glob("part-*.parquet")):
                try:
                    t = pq.read_table(p, schema=_CACHE_SCHEMA)
                except (OSError, pa.ArrowInvalid):   # a damaged shard is ignored: its docs are re-scored
                    continue
                self._add(t)
        elif describe is not None:
            from ..io.atomic import write_text_atomic

            write_text_atomic(self.dir / "key.json", json.dumps(describe, indent=2, sort_keys=True))

    def _add(self, t: pa.Table) -> None:
        ti = len(self.tables)
        self.tables.append(t)
        for r, h in enumerate(t.column("doc_hash").to_pylist()):
            self.index.setdefault(h, (ti, r))

    def get(self, h: str) -> dict[str, Any] | None:
        loc = self.index.get(h)
        if loc is None:
            return None
        t = self.tables[loc[0]]
        return {name: t.column(name)[loc[1]].as_py() for name in _CACHE_SCHEMA.names}

    def put(self, rows: list[dict[str, Any]]) -> None:
        from ..io.atomic import write_parquet_atomic

        if not rows:
            return
        t = pa.Table.from_pylist(rows, schema=_CACHE_SCHEMA)
        write_parquet_atomic(self.dir / f"part-{time.time_ns():020d}-{os.getpid()}.parquet", t)
        self._add(t)


# ---- inputs -----------------------------------------------------------------------------------------------

def iter_docs(data: Any, *, chunk: int, split: str = "data", fmt: str | None = None, text_column: str | None = None,
              id_column: str | None = None, on_bad_record: str = "fail", bad_log=None
              ) -> Iterator[tuple[list[str], list[str], list[str]]]:
    """``data`` as chunks of (doc_ids, splits, texts): a path, a Table, record batches, strings or pairs."""
    if isinstance(data, (str, os.PathLike)) or isinstance(data, pa.Table) or type(data).__module__.startswith("datasets"):
        from ..io.readers import read_documents

        batches: Iterable[Any] = read_documents(data, split=split, fmt=fmt, text_column=text_column, id_column=id_column,
                                                batch_size=chunk, on_bad_record=on_bad_record, bad_log=bad_log)
    elif isinstance(data, pa.RecordBatch):
        batches = [data]
    else:
        batches = data
    ids: list[str] = []
    splits: list[str] = []
    texts: list[str] = []
    n = 0
    for item in batches:
        first = len(texts)
        if isinstance(item, (pa.RecordBatch, pa.Table)):
            if "text" not in item.schema.names:
                raise InputError(f"record batch has no 'text' column; columns: {item.schema.names}. Read the "
                                 f"data with dataaudit.io.readers.read_documents(..., text_column=...)")
            t = item.column("text").to_pylist()
            ids += item.column("doc_id").to_pylist() if "doc_id" in item.schema.names \
                else [str(n + i) for i in range(len(t))]
            splits += item.column("split").to_pylist() if "split" in item.schema.names else [split] * len(t)
            texts += t
            n += len(t)
        elif isinstance(item, str):
            ids.append(str(n)); splits.append(split); texts.append(item); n += 1
        elif isinstance(item, tuple) and len(item) == 2:
            ids.append(str(item[0])); splits.append(split); texts.append(item[1]); n += 1
        else:
            raise InputError(f"cannot score an item of type {type(item).__name__}; pass a path, a pyarrow Table, "
                             f"DOC_SCHEMA record batches, strings, or (doc_id, text) pairs")
        for k in range(first, len(texts)):
            if not isinstance(texts[k], str):
                raise InputError(f"document {ids[k]!r} has text of type {type(texts[k]).__name__}, not a string; "
                                 f"read the data with on_bad_record='skip' to count and skip such records")
        while len(texts) >= chunk:
            yield ids[:chunk], splits[:chunk], texts[:chunk]
            ids, splits, texts = ids[chunk:], splits[chunk:], texts[chunk:]
    if texts:
        yield ids, splits, texts


# ---- the streaming driver and the public API --------------------------------------------------------------

@dataclass
class ScoreRun:
    """What one scoring run produced: the table (keyed by doc_id), its metadata, and how it went."""

    table: pa.Table
    meta: dict[str, Any]
    scored: int = 0            # documents scored by the model in this run
    cached: int = 0            # documents whose scores came from the cache
    seconds: float = 0.0       # wall time of the scoring loop (fitting excluded)
    tokens_scored: int = 0     # tokens the model scored in this run (cache hits excluded)
    top: list[dict[str, Any]] = field(default_factory=list)    # highest bits-per-byte documents, with excerpts
    bottom: list[dict[str, Any]] = field(default_factory=list)  # lowest bits-per-byte documents (repeats, runs)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        s = aggregate(self.table)
        s.update(docs_scored_now=self.scored, docs_from_cache=self.cached, tokens_scored_now=self.tokens_scored,
                 tokens_per_second=round(self.tokens_scored / self.seconds, 1) if self.seconds > 0 else None)
        return s

    def to_pass_result(self, *, scores_file: str = "scores.parquet") -> PassResult:
        """The run as report data (rendered by ``report/sections/score.py``)."""
        s = self.summary()
        s["notes"] = list(self.notes)
        return PassResult(name="score", summary=s,
                          findings={"highest_bits_per_byte": self.top, "lowest_bits_per_byte": self.bottom},
                          files={"per-document scores": scores_file},
                          config={"model": self.meta["model"], "settings": self.meta["settings"]})


def _resolve_model(data, model, fit_on, *, device, cache_dir, fit_config, progress, split, fmt, text_column,
                   on_bad_record, notes: list[str]):
    from ..model import ReferenceModel, load_model

    if model is not None and fit_on is not None:
        notes.append("--fit-on was ignored: a model was given, so nothing is fitted.")
    if isinstance(model, ReferenceModel):
        return model
    if model is not None:
        return load_model(model, device=device)
    corpus = fit_on if fit_on is not None else data
    if isinstance(corpus, Iterator):
        raise ConfigError("no model given and the data is a one-shot iterator, so the default model cannot be "
                          "fitted on it and then score it; pass model=..., fit_on=..., or a path / list / Table")
    from ..model.bytelm import fit_default_model

    read_kw = {"split": split, "text_column": text_column, "on_bad_record": on_bad_record}
    if fit_on is None:
        read_kw["fmt"] = fmt
    m = fit_default_model(corpus, config=fit_config, cache_dir=cache_dir, device=device, progress=progress,
                          **read_kw)
    fi = m.fit_info
    what = "--fit-on corpus" if fit_on is not None else "the data itself"
    how = "loaded from the cache" if fi.get("from_cache") else f"fitted in {fi.get('fit_seconds', 0):.0f}s"
    notes.append(f"No model given: the default byte-level model was {how} on a sample of {what} "
                 f"({fi['sample_docs']} documents, {fi['sample_bytes']} bytes; {fi['steps_done']} steps); "
                 f"saved at `{m.name}` (load it with --model).")
    return m


def run_score(data: Any, *, model: Any = None, fit_on: Any = None, config: ScoreConfig | None = None,
              out_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
              use_cache: bool = True, device: str = "auto", split: str = "data", fmt: str | None = None,
              text_column: str | None = None,
              id_column: str | None = None, on_bad_record: str = "fail", bad_log=None, fit_config: Any = None,
              progress: Callable[..., None] | None = None, top_n: int = 20) -> ScoreRun:
    """Score ``data`` and return a ``ScoreRun``; see ``score`` for the arguments."""
    from ..model.base import cache_root

    cfg = config or ScoreConfig()
    notes: list[str] = []
    m = _resolve_model(data, model, fit_on, device=device, cache_dir=cache_dir, fit_config=fit_config,
                       progress=progress, split=split, fmt=fmt, text_column=text_column,
                       on_bad_record=on_bad_record, notes=notes)
    settings = resolve_settings(m, cfg)
    key = cache_key(m, settings)
    root = Path(cache_dir) if cache_dir is not None else Path(cache_root())
    cache = ScoreCache(root / "scores", key, describe={"model": m.describe(), "settings": settings}) \
        if use_cache else None
    run = ScoreRun(table=pa.table({}), meta={}, notes=notes)
    out_batches: list[pa.RecordBatch] = []
    top: list[tuple[float, int, dict[str, Any]]] = []      # min-heaps of the top_n highest / lowest
    bottom: list[tuple[float, int, dict[str, Any]]] = []   # bits per byte (bottom keyed by minus bpb)
    docs_done = 0
    t0 = time.perf_counter()

    def on_batch(ntok: int) -> None:
        run.tokens_scored += ntok
        if progress is not None:
            progress("score", docs=docs_done, tokens=run.tokens_scored, cached=run.cached,
                     seconds=time.perf_counter() - t0)

    for ids, splits, texts in iter_docs(data, chunk=cfg.chunk_docs, split=split, fmt=fmt, text_column=text_column,
                                        id_column=id_column, on_bad_record=on_bad_record, bad_log=bad_log):
        hashes = [doc_hash(t) for t in texts]
        rows: list[dict[str, Any] | None] = [None] * len(texts)
        todo: dict[str, int] = {}
        for j, h in enumerate(hashes):
            hit = cache.get(h) if cache is not None else None
            if hit is not None:
                rows[j] = hit
                run.cached += 1
            elif h not in todo:
                todo[h] = j
        if todo:
            idx = list(todo.values())
            fresh = score_texts(m, [texts[j] for j in idx], cfg, on_batch=on_batch)
            for j, st in zip(idx, fresh):
                st["doc_hash"] = hashes[j]
            if cache is not None:
                cache.put(fresh)
            by_hash = {st["doc_hash"]: st for st in fresh}
            for j, h in enumerate(hashes):
                if rows[j] is None:
                    rows[j] = by_hash[h]
                    run.scored += 1
        recs = []
        for j, r in enumerate(rows):
            assert r is not None
            recs.append({"doc_id": ids[j], "split": splits[j], **r})
            b = r["bits_per_byte"]
            if b is not None and math.isfinite(b):
                for heap, side, sign in ((top, "worst", 1.0), (bottom, "best", -1.0)):
                    s0, s1 = r[f"{side}_start"], r[f"{side}_end"]
                    item = (sign * b, -(docs_done + j), {   # ties: the earlier document stays
                        "doc_id": ids[j], "split": splits[j], "bits_per_byte": b, f"{side}_bpb": r[f"{side}_bpb"],
                        f"{side}_start": s0, f"{side}_end": s1,
                        "excerpt": texts[j][s0:s1][:300] if s0 is not None else texts[j][:300]})
                    if len(heap) < top_n:
                        heapq.heappush(heap, item)
                    elif item[:2] > heap[0][:2]:
                        heapq.heapreplace(heap, item)
        docs_done += len(texts)
        out_batches.append(pa.RecordBatch.from_pylist(recs, schema=SCORE_SCHEMA))
        if progress is not None:
            progress("score", docs=docs_done, tokens=run.tokens_scored, cached=run.cached,
                     seconds=time.perf_counter() - t0)
    run.seconds = time.perf_counter() - t0
    from .. import __version__

    run.meta = {"model": m.describe(), "settings": settings, "cache_key": key, "dataaudit": __version__,
                "fit": getattr(m, "fit_info", None)}
    table = pa.Table.from_batches(out_batches, schema=SCORE_SCHEMA)
    run.table = table.replace_schema_metadata({META_KEY: json.dumps(run.meta, sort_keys=True).encode()})
    run.top = [t[2] for t in sorted(top, key=lambda t: (-t[0], -t[1]))]
    run.bottom = [t[2] for t in sorted(bottom, key=lambda t: (-t[0], -t[1]))]
    if out_dir is not None:
        from ..io.atomic import write_parquet_atomic

        write_parquet_atomic(Path(out_dir) / "scores.parquet", run.table)
    return run


def score(data: Any, *, model: Any = None, fit_on: Any = None, config: ScoreConfig | None = None,
          out_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
          use_cache: bool = True, device: str = "auto", **kw: Any) -> pa.Table:
    """Per-document reference-model scores of ``data`` as a pyarrow Table keyed by ``doc_id``.

    ``data``: a path (any format ``read_documents`` reads), a pyarrow Table, DOC_SCHEMA record batches,
    a list of strings (doc ids "0", "1", ...), or (doc_id, text) pairs. ``model``: a local Hugging Face
    causal LM (directory or cached name), a byte-level model directory, or a loaded ``ReferenceModel``;
    ``None`` fits the default byte-level model on a sample of ``fit_on`` (or of ``data``). Scores are cached
    under ``cache_dir`` (default ``$DATAAUDIT_CACHE`` or ``~/.cache/dataaudit``) unless ``use_cache=False``.
    With ``out_dir`` the table is also written to ``out_dir/scores.parquet``. The table's schema metadata
    (``read_scores``) records the model fingerprint, tokenizer, max length, stride and BOS policy. Other
    keywords: ``split``, ``fmt``, ``text_column``, ``id_column``, ``on_bad_record``, ``bad_log``, ``fit_config``,
    ``progress`` (called as ``progress(event, **counts)``).
    """
    return run_score(data, model=model, fit_on=fit_on, config=config, out_dir=out_dir, cache_dir=cache_dir,
                     use_cache=use_cache, device=device, **kw).table


def score_meta(table_or_path: pa.Table | str | os.PathLike) -> dict[str, Any]:
    """The metadata (model, tokenizer, settings) of a scores table or Parquet file."""
    if isinstance(table_or_path, pa.Table):
        md = table_or_path.schema.metadata or {}
    else:
        import pyarrow.parquet as pq

        md = pq.read_schema(table_or_path).metadata or {}
    if META_KEY not in md:
        raise InputError(f"{table_or_path if not isinstance(table_or_path, pa.Table) else 'table'} carries no "
                         f"dataaudit score metadata; was it written by dataaudit score?")
    return json.loads(md[META_KEY])


def read_scores(path: str | os.PathLike) -> tuple[pa.Table, dict[str, Any]]:
    """Read a scores Parquet written by ``score`` back, with its metadata."""
    import pyarrow.parquet as pq

    if not Path(path).exists():
        raise InputError(f"{path}: no such scores file; write one with dataaudit score DATA --out DIR")
    return pq.read_table(path), score_meta(path)


def aggregate(table: pa.Table) -> dict[str, Any]:
    """Token-weighted aggregates (corpus perplexity = exp(sum nll / sum tokens)), overall and per split."""
    import pyarrow.compute as pc

    def agg(t: pa.Table) -> dict[str, Any]:
        tok = int(pc.sum(t["n_tokens"]).as_py() or 0)
        byt = int(pc.sum(t["n_bytes"]).as_py() or 0)
        nll = float(pc.sum(t["nll_sum"]).as_py() or 0.0)
        return {"docs": t.num_rows, "empty_docs": int(pc.sum(pc.equal(t["n_tokens"], 0)).as_py() or 0),
                "tokens": tok, "bytes": byt, "nll_sum": nll, "ppl": math.exp(nll / tok) if tok else math.nan,
                "bits_per_byte": nll / (byt * LN2) if byt else math.nan}

    out = agg(table)
    out["by_split"] = {}
    if table.num_rows:
        for s in sorted(set(table["split"].to_pylist())):
            out["by_split"][s] = agg(table.filter(pc.equal(table["split"], s)))
    return out


def check_comparable(a: dict[str, Any], b: dict[str, Any], metric: str = "ppl") -> None:
    """Refuse to compare perplexities (or token-level scores) of tables scored with different tokenizers."""
    ta, tb = a["model"]["tokenizer"], b["model"]["tokenizer"]
    if metric in ("ppl", "nll_sum", "min_k", "worst_nll", "best_nll", "zlib_ratio") and ta != tb:
        raise ConfigError(f"cannot compare {metric} across tokenizers ({ta!r} vs {tb!r}): a token is not the same "
                          f"unit in both. Compare bits_per_byte instead, which is tokenizer-independent")
