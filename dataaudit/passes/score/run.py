"""The streaming driver (``run_score``) and the public API (``score``, ``read_scores``, ``score_meta``).

``run_score`` reads chunks of documents (``dataaudit.io.documents.iter_docs``), looks each one up in the
score cache, scores the rest with a loaded reference model (in this process, or as engine tasks with one
model per worker: the same chunks, so the same numbers), keeps the cache up to date as it goes (a killed run
resumes) and returns a ``ScoreRun``. It does not choose the model: ``dataaudit.model.resolve_model`` does.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from ...config import ReadConfig
from ...errors import ConfigError, InputError
from ...records import PassResult
from .batch import init_worker, model_spec, register, score_chunk, score_texts, unregister
from .cache import ScoreCache, cache_key, doc_hash
from .config import META_KEY, SCORE_SCHEMA, ScoreConfig, resolve_settings
from .heap import bound_heap, trim
from .output import Output
from .stats import aggregate


@dataclass
class ScoreRun:
    """What one scoring run produced: the table (keyed by doc_id), its metadata, and how it went.

    With an ``out_dir`` the table was streamed to ``path`` batch by batch and ``table`` reads it back from
    there when asked (``columns`` reads only those); without one it is the in-memory table the caller asked
    for. ``summary`` never needs it: the aggregates were summed batch by batch as the rows were written.
    """

    _table: pa.Table | None
    meta: dict[str, Any]
    scored: int = 0            # documents scored by the model in this run
    cached: int = 0            # documents whose scores came from the cache
    seconds: float = 0.0       # wall time of the scoring loop (fitting excluded)
    tokens_scored: int = 0     # tokens the model scored in this run (cache hits excluded)
    top: list[dict[str, Any]] = field(default_factory=list)    # highest bits-per-byte documents, with excerpts
    bottom: list[dict[str, Any]] = field(default_factory=list)  # lowest bits-per-byte documents (repeats, runs)
    notes: list[str] = field(default_factory=list)      # what was done (model fitted, settings ignored)
    warnings: list[str] = field(default_factory=list)   # what went wrong and was repaired (damaged cache)
    path: Path | None = None                             # the scores Parquet written, when there is one
    totals: dict[str, Any] | None = None                 # the streamed aggregates (``aggregate``'s result)

    @property
    def table(self) -> pa.Table:
        return self._table if self._table is not None else self.read()

    def read(self, columns: list[str] | None = None) -> pa.Table:
        """The scores table (or some of its columns) read back from ``path``, or the in-memory table."""
        if self._table is not None:
            return self._table.select(columns) if columns is not None else self._table
        import pyarrow.parquet as pq

        return pq.read_table(self.path, columns=columns)

    def summary(self) -> dict[str, Any]:
        s = dict(self.totals) if self.totals is not None else aggregate(self.table)
        s.update(docs_scored_now=self.scored, docs_from_cache=self.cached, tokens_scored_now=self.tokens_scored,
                 tokens_per_second=round(self.tokens_scored / self.seconds, 1) if self.seconds > 0 else None)
        return s

    def to_pass_result(self, *, scores_file: str = "scores.parquet") -> PassResult:
        """The run as report data (rendered by ``report/sections/score.py``)."""
        s = self.summary()
        s["notes"] = list(self.notes)
        return PassResult(name="score", summary=s,
                          findings={"highest_bits_per_byte": self.top, "lowest_bits_per_byte": self.bottom},
                          files={"per-document scores": scores_file}, warnings=list(self.warnings),
                          config={"model": self.meta["model"], "settings": self.meta["settings"]})


class _Extremes:
    """The ``n`` highest and lowest bits-per-byte documents, with the excerpt of their worst / best span;
    of equal documents the earlier stays."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.top: list[tuple[float, int, dict[str, Any]]] = []      # min-heaps; bottom keyed by minus bpb
        self.bottom: list[tuple[float, int, dict[str, Any]]] = []

    def push(self, pos: int, doc_id: str, split: str, text: str, r: dict[str, Any]) -> None:
        b = r["bits_per_byte"]
        if b is None or not math.isfinite(b):
            return
        for heap, side, sign in ((self.top, "worst", 1.0), (self.bottom, "best", -1.0)):
            s0, s1 = r[f"{side}_start"], r[f"{side}_end"]
            item = (sign * b, -pos, {
                "doc_id": doc_id, "split": split, "bits_per_byte": b, f"{side}_bpb": r[f"{side}_bpb"],
                f"{side}_start": s0, f"{side}_end": s1,
                "excerpt": text[s0:s1][:300] if s0 is not None else text[:300]})
            if len(heap) < self.n:
                heapq.heappush(heap, item)
            elif item[:2] > heap[0][:2]:
                heapq.heapreplace(heap, item)

    @staticmethod
    def ordered(heap) -> list[dict[str, Any]]:
        return [t[2] for t in sorted(heap, key=lambda t: (-t[0], -t[1]))]


@dataclass
class _Chunk:
    ids: list[str]
    splits: list[str]
    texts: list[str]
    hashes: list[str]
    rows: list[dict[str, Any] | None]   # cache hits filled in when the chunk is read
    todo: list[int]                     # one index per distinct hash to score
    deferred: list[int]                 # hashes an earlier chunk still in flight scores: taken from the cache


def run_score(data: Any, *, model: Any, config: ScoreConfig | None = None, read: ReadConfig = ReadConfig(),
              split: str = "data", out_dir: str | os.PathLike | None = None,
              cache_dir: str | os.PathLike | None = None, use_cache: bool = True, bad_log=None,
              progress: Callable[..., None] | None = None, top_n: int = 20, engine: Any = None,
              device: str = "auto") -> ScoreRun:
    """Score ``data`` with ``model`` and return a ``ScoreRun``; see ``score`` for the arguments.

    ``model`` is a loaded ``ReferenceModel`` or a directory / local cache name (loaded on ``device``);
    ``dataaudit.model.resolve_model`` fits the default when there is none. ``engine``: with more than one
    worker, chunks are scored by its process pool, one model per worker; otherwise in this process.
    """
    from ...model import ReferenceModel, load_model
    from ...model.base import cache_root

    if model is None:
        raise ConfigError("run_score needs a model; resolve one with dataaudit.model.resolve_model(None, "
                          "corpus=...) (fits the byte-level default), or call score(data, fit_on=...)")
    bound_heap()        # fixed glibc mmap / trim thresholds: peak RSS does not grow with the corpus (heap.py)
    m = model if isinstance(model, ReferenceModel) else load_model(model, device=device)
    cfg = config or ScoreConfig()
    settings = resolve_settings(m, cfg)
    key = cache_key(m, settings)
    root = Path(cache_dir) if cache_dir is not None else Path(cache_root())
    cache = ScoreCache(root / "scores", key, describe={"model": m.describe(), "settings": settings},
                       every_docs=cfg.cache_every_docs, every_seconds=cfg.cache_every_seconds) if use_cache else None
    run = ScoreRun(None, meta={})
    if cache is not None and cache.damaged:
        run.warnings.append(f"{len(cache.damaged)} damaged score-cache shard(s) in {cache.dir} could not be read "
                            f"(e.g. {cache.damaged[0]}); set aside as *.damaged and their documents scored again")
    ext = _Extremes(top_n)
    from ... import __version__

    run.meta = {"model": m.describe(), "settings": settings, "cache_key": key, "dataaudit": __version__,
                "fit": getattr(m, "fit_info", None)}
    out = Output(Path(out_dir) / "scores.parquet" if out_dir is not None else None,
                  SCORE_SCHEMA.with_metadata({META_KEY: json.dumps(run.meta, sort_keys=True).encode()}))
    queue: deque[_Chunk] = deque()
    inflight: set[str] = set()
    done = [0]
    t0 = time.perf_counter()

    def report() -> None:
        if progress is not None:
            progress("score", docs=done[0], tokens=run.tokens_scored, cached=run.cached,
                     seconds=time.perf_counter() - t0)

    def tasks():
        for ids, splits, texts in _chunks(data, read, cfg.chunk_docs, split, bad_log):
            hashes = [doc_hash(t) for t in texts]
            c = _Chunk(ids, splits, texts, hashes, [None] * len(texts), [], [])
            todo: dict[str, int] = {}
            hits = cache.get_many(hashes) if cache is not None else [None] * len(hashes)
            for j, (h, hit) in enumerate(zip(hashes, hits)):
                if hit is not None:
                    c.rows[j] = hit
                    run.cached += 1
                elif h in inflight:
                    c.deferred.append(j)
                elif h not in todo:
                    todo[h] = j
            c.todo = list(todo.values())
            if cache is not None:
                inflight.update(todo)
            queue.append(c)
            yield [texts[j] for j in c.todo]

    def merge(fresh: list[dict[str, Any]]) -> None:
        c = queue.popleft()
        for j, st in zip(c.todo, fresh):
            st["doc_hash"] = c.hashes[j]
        if cache is not None:
            cache.add(fresh)
        by_hash = {st["doc_hash"]: st for st in fresh}
        for j, hit in zip(c.deferred, cache.get_many([c.hashes[j] for j in c.deferred]) if c.deferred else []):
            c.rows[j] = hit
            run.cached += 1
        recs = []
        for j, r in enumerate(c.rows):
            if r is None:
                r = by_hash[c.hashes[j]]
                run.scored += 1
            recs.append({"doc_id": c.ids[j], "split": c.splits[j], **r})
            ext.push(done[0] + j, c.ids[j], c.splits[j], c.texts[j], r)
        inflight.difference_update(by_hash)
        done[0] += len(c.texts)
        out.write(pa.RecordBatch.from_pylist(recs, schema=SCORE_SCHEMA))
        _trim()
        report()

    try:
        if engine is not None and (getattr(engine, "workers", 1) > 1 or getattr(engine, "name", "") == "ray"):
            register(m)     # the driver's own copy: init_worker in this process does not load a second one
            try:
                with engine.pool(init_worker, (model_spec(m), cfg)) as pool:
                    for fresh, ntok in pool.map(score_chunk, tasks()):
                        run.tokens_scored += ntok
                        merge(fresh)
            finally:
                unregister(m)
        else:
            def on_batch(ntok: int) -> None:
                run.tokens_scored += ntok
                report()

            for texts in tasks():
                c = queue[0]
                keep = None
                if cache is not None:    # finished documents go to the cache while the chunk is scored
                    keep = lambda got, c=c: cache.add([{**st, "doc_hash": c.hashes[c.todo[i]]}  # noqa: E731
                                                       for i, st in got])
                merge(score_texts(m, texts, cfg, on_batch=on_batch, on_done=keep))
        run._table, run.path, run.totals = out.close()
    except BaseException:
        out.abort()
        raise
    finally:
        if cache is not None:
            cache.flush()       # also on an error or Ctrl-C: what was finished is kept
    run.seconds = time.perf_counter() - t0
    run.top, run.bottom = _Extremes.ordered(ext.top), _Extremes.ordered(ext.bottom)
    return run


def _trim() -> None:
    """Hand freed heap memory back to the OS after each chunk (``heap.trim``: glibc ``malloc_trim(3)``)."""
    trim()


def _chunks(data, read, chunk, split, bad_log):
    from ...io.documents import iter_docs

    return iter_docs(data, read, chunk=chunk, split=split, bad_log=bad_log)


def score(data: Any, *, model: Any = None, fit_on: Any = None, fit_config: Any = None, device: str = "auto",
          **kw: Any) -> pa.Table:
    """Per-document reference-model scores of ``data`` as a pyarrow Table keyed by ``doc_id``.

    ``data``: a path (any format ``read_documents`` reads), a pyarrow Table, DOC_SCHEMA record batches,
    a list of strings (doc ids "0", "1", ...), or (doc_id, text) pairs. ``model``: a local Hugging Face
    causal LM (directory or cached name), a byte-level model directory, or a loaded ``ReferenceModel``;
    ``None`` fits the default byte-level model (``fit_config``) on a sample of ``fit_on`` (or of ``data``).
    Other keywords go to ``run_score``: ``config`` (a ``ScoreConfig``), ``read`` (a ``ReadConfig``), ``split``,
    ``out_dir`` (also write ``out_dir/scores.parquet``), ``cache_dir`` (default ``$DATAAUDIT_CACHE`` or
    ``~/.cache/dataaudit``), ``use_cache``, ``bad_log``, ``progress`` (called as ``progress(event, **counts)``),
    ``top_n``, ``engine``. The table's schema metadata (``score_meta``) records the model fingerprint,
    tokenizer, max length, stride and BOS policy.
    """
    from ...model import resolve_model

    m, _notes = resolve_model(model, corpus=fit_on if fit_on is not None else data, device=device,
                              cache_dir=kw.get("cache_dir"), fit_config=fit_config,
                              read=kw.get("read") if fit_on is None else None, split=kw.get("split", "data"),
                              progress=kw.get("progress"))
    return run_score(data, model=m, device=device, **kw).table


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
