"""Reference-model scoring: per-document NLL that is exact, comparable across runs, and fast.

One concern per module, bottom to top:

* ``windows`` -- ``plan_windows``, the sliding-window arithmetic for documents longer than the context;
* ``forward`` -- ``token_logprobs``, every target token's log-probability, windows of many documents sorted
  by length and packed into batches by a token budget, log-softmax a chunk of positions at a time;
* ``stats`` -- ``doc_stats`` (per-document sums ``nll_sum``, ``n_tokens``, ``n_bytes`` and what derives from
  them), ``aggregate`` (token-weighted), ``check_comparable``;
* ``config`` -- ``ScoreConfig``, the table schemas, ``resolve_settings``;
* ``cache`` -- ``ScoreCache``, scores keyed by (document hash, model fingerprint, settings) on disk;
* ``batch`` -- ``score_texts`` (a list of texts, no I/O) and its engine task, one model per worker;
* ``run`` -- ``run_score`` (the streaming driver), ``score`` (the public API), ``read_scores``, ``score_meta``.

The input adapter (anything to documents) is ``dataaudit.io.documents.iter_docs``; choosing or fitting the
model is ``dataaudit.model.resolve_model``.
"""

from __future__ import annotations

from ...io.documents import iter_docs   # moved to io; kept here for callers of the old name
from .batch import score_texts
from .cache import ScoreCache, cache_key, doc_hash
from .config import (CACHE_SCHEMA, META_KEY, SCORE_COLUMNS, SCORE_FORMAT, SCORE_SCHEMA, ScoreConfig,
                     resolve_settings)
from .forward import resolved_precision, token_logprobs
from .run import ScoreRun, read_scores, run_score, score, score_meta
from .stats import LN2, aggregate, check_comparable, doc_stats
from .windows import plan_windows

__all__ = ["CACHE_SCHEMA", "LN2", "META_KEY", "SCORE_COLUMNS", "SCORE_FORMAT", "SCORE_SCHEMA", "ScoreCache",
           "ScoreConfig", "ScoreRun", "aggregate", "cache_key", "check_comparable", "doc_hash", "doc_stats",
           "iter_docs", "plan_windows", "read_scores", "resolve_settings", "resolved_precision", "run_score", "score",
           "score_meta", "score_texts", "token_logprobs"]
