"""Signals pass: per-document quality signals (Gopher, C4, FineWeb, repetition, runs) for the dataset report.

``compute_signals_batch(batch)`` -> one row per document (``SIGNALS_SCHEMA``); ``compute_signals(batches)``
streams them; ``SignalsSummary`` and ``Outliers`` accumulate what the report needs in fixed size and add
with ``+``. Definitions, sources and the agreement with datatrove: docs/signals.md.
"""

from .batch import FILTERS, SIGNALS_SCHEMA, Tokens, compute_signals, compute_signals_batch
from .config import (DEFAULT_SIGNALS, C4Rules, ExtraRules, FineWebRules, GopherQualityRules,
                     GopherRepetitionRules, SignalsConfig)
from .summary import HISTOGRAM_BINS, Histogram, Outliers, SignalsSummary, run_signals

__all__ = [
    "C4Rules", "DEFAULT_SIGNALS", "ExtraRules", "FILTERS", "FineWebRules", "GopherQualityRules",
    "GopherRepetitionRules", "HISTOGRAM_BINS", "Histogram", "Outliers", "SIGNALS_SCHEMA", "SignalsConfig",
    "SignalsSummary", "Tokens", "compute_signals", "compute_signals_batch", "run_signals",
]
