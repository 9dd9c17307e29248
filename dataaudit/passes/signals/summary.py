"""What the report needs from the signals, in a size fixed by the settings: counts, pre-binned histograms
and top-k outliers. All of them add with ``+`` (associative, ``sum()``-able), like datatrove's stats."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .batch import FILTERS, compute_signals_batch
from .config import DEFAULT_SIGNALS, SignalsConfig

_POW2 = tuple(float(2 ** i) for i in range(0, 27))          # 1 .. 64 Mi, log scale
_FRAC = tuple(round(i / 20, 2) for i in range(21))           # 0, 0.05, .. 1
#: Fixed bins of the signals the report plots (left-closed, the last bin closed; below/above counted apart).
HISTOGRAM_BINS: dict[str, tuple[float, ...]] = {
    "n_bytes": _POW2, "n_chars": _POW2, "n_words": _POW2, "n_lines": _POW2, "longest_run": _POW2,
    "gopher_mean_word_length": tuple(float(i) for i in range(21)),
    "gopher_alpha_words_frac": _FRAC, "gopher_dup_line_char_frac": _FRAC, "gopher_dup_para_char_frac": _FRAC,
    "gopher_top_2gram_char_frac": _FRAC, "gopher_dup_5gram_char_frac": _FRAC, "gopher_dup_10gram_char_frac": _FRAC,
    "c4_no_terminal_punct_frac": _FRAC, "fineweb_line_punct_ratio": _FRAC, "fineweb_short_line_ratio": _FRAC,
    "fineweb_char_dup_ratio": _FRAC, "char_rep_ratio": _FRAC, "encoded_share": _FRAC,
    "non_ascii_share": _FRAC, "non_alnum_share": _FRAC,
}
#: Columns whose both ends the report lists.
OUTLIER_COLUMNS = ("n_chars", "longest_run", "char_rep_ratio", "gopher_dup_line_char_frac",
                   "gopher_top_2gram_char_frac", "gopher_mean_word_length", "encoded_share", "non_ascii_share",
                   "non_alnum_share")


@dataclass(frozen=True, kw_only=True)
class Histogram:
    """Counts of values in fixed bins: ``counts[i]`` holds edges[i] <= v < edges[i+1] (the last bin closed)."""

    edges: tuple[float, ...]   # fixed by HISTOGRAM_BINS, so histograms of any shards add
    counts: tuple[int, ...]    # len(edges) - 1 bins
    below: int = 0             # values under edges[0]
    above: int = 0             # values over edges[-1] (and +inf)
    nulls: int = 0             # undefined values (nothing to divide by)

    @classmethod
    def of(cls, values: pa.Array | np.ndarray, edges: tuple[float, ...]) -> "Histogram":
        arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
        nulls = arr.null_count
        v = np.asarray(pc.drop_null(arr).to_numpy(zero_copy_only=False), dtype=np.float64)
        nulls += int(np.isnan(v).sum())
        v = v[~np.isnan(v)]
        e = np.asarray(edges)
        inside = (v >= e[0]) & (v <= e[-1])
        idx = np.minimum(np.searchsorted(e, v[inside], side="right") - 1, len(e) - 2)
        return cls(edges=tuple(edges), counts=tuple(np.bincount(idx, minlength=len(e) - 1).tolist()),
                   below=int((v < e[0]).sum()), above=int((v > e[-1]).sum()), nulls=nulls)

    def __add__(self, other: "Histogram") -> "Histogram":
        if self.edges != other.edges:
            raise ValueError("histograms with different bins cannot be added; build both from HISTOGRAM_BINS")
        return Histogram(edges=self.edges, counts=tuple(a + b for a, b in zip(self.counts, other.counts)),
                         below=self.below + other.below, above=self.above + other.above,
                         nulls=self.nulls + other.nulls)

    def to_dict(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "counts": list(self.counts), "below": self.below,
                "above": self.above, "nulls": self.nulls}


def _add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


@dataclass(frozen=True, kw_only=True)
class SignalsSummary:
    """Corpus totals of the signals pass; ``SignalsSummary()`` is the zero of ``+``."""

    documents: int = 0                                       # documents seen
    bytes: int = 0                                           # UTF-8 bytes of their text
    flagged: int = 0                                         # documents failing at least one rule
    fails: dict[str, int] = field(default_factory=dict)      # filter -> documents failing it
    rules: dict[str, int] = field(default_factory=dict)      # rule name -> documents failing it
    histograms: dict[str, Histogram] = field(default_factory=dict)  # signal -> fixed-bin histogram

    @classmethod
    def of(cls, table: pa.Table, bins: dict[str, tuple[float, ...]] | None = None) -> "SignalsSummary":
        """Summary of one signals table (``compute_signals_batch`` output)."""
        bins = HISTOGRAM_BINS if bins is None else bins
        flags = table.column("flags")
        names = pc.list_flatten(flags)
        rules = {} if len(names) == 0 else {
            r["values"]: r["counts"] for r in pc.value_counts(names).to_pylist()}
        return cls(
            documents=table.num_rows,
            bytes=int(pc.sum(table.column("n_bytes")).as_py() or 0),
            flagged=int(pc.sum(pc.greater(pc.list_value_length(flags), 0)).as_py() or 0),
            fails={f: int(pc.sum(pc.invert(table.column(f))).as_py() or 0) for f in FILTERS},
            rules=rules,
            histograms={c: Histogram.of(table.column(c), e) for c, e in bins.items()},
        )

    def __add__(self, other: "SignalsSummary") -> "SignalsSummary":
        h = dict(self.histograms)
        for k, v in other.histograms.items():
            h[k] = h[k] + v if k in h else v
        return SignalsSummary(documents=self.documents + other.documents, bytes=self.bytes + other.bytes,
                              flagged=self.flagged + other.flagged, fails=_add_counts(self.fails, other.fails),
                              rules=_add_counts(self.rules, other.rules), histograms=h)

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers for report.json (rules sorted by count, most first); the outlier columns' ranges are
        ``Outliers.ranges_dict``."""
        return {"documents": self.documents, "bytes": self.bytes, "flagged": self.flagged,
                "fails": dict(sorted(self.fails.items())),
                "rules": dict(sorted(self.rules.items(), key=lambda kv: (-kv[1], kv[0]))),
                "histograms": {k: v.to_dict() for k, v in sorted(self.histograms.items())}}


def _range_of(v: np.ndarray) -> tuple[float, int, float, int, int] | None:
    """(min, documents at it, max, documents at it, documents) of the defined values; None with none."""
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return None
    lo, hi = float(v.min()), float(v.max())
    return lo, int((v == lo).sum()), hi, int((v == hi).sum()), len(v)


def _add_range(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None:
        return a if b is None else b
    lo = min(a[0], b[0])
    hi = max(a[2], b[2])
    return (lo, (a[1] if a[0] == lo else 0) + (b[1] if b[0] == lo else 0),
            hi, (a[3] if a[2] == hi else 0) + (b[3] if b[2] == hi else 0), a[4] + b[4])


def _column(table: pa.Table, c: str) -> np.ndarray:
    return np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=np.float64)


@dataclass(frozen=True, kw_only=True)
class Outliers:
    """The ``k`` highest and lowest documents of each column, kept in heaps (memory O(k x columns)), and each
    column's range.

    Only documents that stand out are listed: ``high`` never holds a document at the column's minimum, ``low``
    none at its maximum, so a column whose documents all have one value lists none. Among equal values the
    document that comes first in the input ranks first: its ``position`` (0-based, in the order the documents
    were added, which is the row of docs.parquet) breaks ties. Adding keeps that order: in ``a + b`` the
    documents of ``b`` come after those of ``a``, so the result depends on neither batch size nor engine
    as long as tables are added in input order.
    """

    k: int = 20                                              # rows kept per column and side
    columns: tuple[str, ...] = OUTLIER_COLUMNS              # which signals to rank
    seen: int = 0                                            # documents added so far (positions 0..seen-1)
    high: dict[str, list[tuple]] = field(default_factory=dict)  # column -> heap of (value, -position, id, split, source)
    low: dict[str, list[tuple]] = field(default_factory=dict)   # column -> heap of (-value, -position, ...)
    ranges: dict[str, tuple] = field(default_factory=dict)      # column -> _range_of of its values

    def add(self, table: pa.Table) -> "Outliers":
        """A new Outliers holding this one's rows and those of ``table`` (the next documents of the input)."""
        return self + Outliers.of(table, k=self.k, columns=self.columns)

    @classmethod
    def of(cls, table: pa.Table, *, k: int = 20, columns: tuple[str, ...] = OUTLIER_COLUMNS) -> "Outliers":
        high, low, ranges = {}, {}, {}
        ids = table.column("doc_id").to_pylist()
        splits = table.column("split").to_pylist()
        sources = table.column("source").to_pylist()
        for c in columns:
            v = _column(table, c)
            ok = np.flatnonzero(~np.isnan(v))
            hi, lo = [], []
            if len(ok):
                vv = v[ok]
                kk = min(k, len(ok))
                t_hi = np.partition(vv, -kk)[-kk]
                t_lo = np.partition(vv, kk - 1)[kk - 1]
                for i in ok[vv >= t_hi].tolist():
                    _push(hi, (float(v[i]), -i, ids[i], splits[i], sources[i]), k)
                for i in ok[vv <= t_lo].tolist():
                    _push(lo, (-float(v[i]), -i, ids[i], splits[i], sources[i]), k)
            high[c], low[c] = hi, lo
            r = _range_of(v)
            if r is not None:
                ranges[c] = r
        return cls(k=k, columns=columns, seen=table.num_rows, high=high, low=low, ranges=ranges)

    def __add__(self, other: "Outliers") -> "Outliers":
        high, low = {}, {}
        cols = tuple(dict.fromkeys(self.columns + other.columns))
        shift = self.seen
        for c in cols:
            for mine, theirs, out in ((self.high, other.high, high), (self.low, other.low, low)):
                h = list(mine.get(c, []))
                for v, neg_pos, *rest in theirs.get(c, []):
                    _push(h, (v, neg_pos - shift, *rest), self.k)
                out[c] = h
        ranges = {c: r for c in cols
                  if (r := _add_range(self.ranges.get(c), other.ranges.get(c))) is not None}
        return Outliers(k=self.k, columns=cols, seen=self.seen + other.seen, high=high, low=low, ranges=ranges)

    def ranges_dict(self) -> dict[str, dict[str, Any]]:
        """For report.json: per column the least and greatest value, how many documents have each, and how
        many have a value."""
        keys = ("min", "at_min", "max", "at_max", "documents")
        return {k: dict(zip(keys, v)) for k, v in sorted(self.ranges.items())}

    def to_dict(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """column -> {"high": rows, highest first; "low": rows, lowest first}; a row: doc_id, split, source,
        value, position. Ties: first in the input first. A side is empty where no document stands out."""
        def rows(h, sign, keep):
            return [{"doc_id": i, "split": s, "source": src, "value": sign * v, "position": -p}
                    for v, p, i, s, src in sorted(h, key=lambda x: (x[0], x[1]), reverse=True) if keep(sign * v)]
        out = {}
        for c in self.columns:
            r = self.ranges.get(c)
            lo, hi = (r[0], r[2]) if r else (0.0, 0.0)
            out[c] = {"high": rows(self.high.get(c, []), 1, lambda v: v > lo),
                      "low": rows(self.low.get(c, []), -1, lambda v: v < hi)}
        return out


def _push(heap: list, item: tuple, k: int) -> None:
    """Keep the k largest items by (value, -position): positions are distinct, so nothing later compares."""
    key = item[:2]
    if len(heap) < k:
        heapq.heappush(heap, item)
    elif key > heap[0][:2]:
        heapq.heapreplace(heap, item)


def run_signals(batches: Iterable[pa.RecordBatch], config: SignalsConfig = DEFAULT_SIGNALS, *,
                sink: Callable[[pa.Table], None] | None = None, k: int = 20,
                outlier_columns: tuple[str, ...] = OUTLIER_COLUMNS) -> tuple[SignalsSummary, Outliers]:
    """The whole pass in one process: signals of each batch go to ``sink`` (e.g. a Parquet writer of
    docs.parquet) and into the summary and outliers; memory is bounded by the batch size and ``k``."""
    summary, outliers = SignalsSummary(), Outliers(k=k, columns=outlier_columns)
    for b in batches:
        t = compute_signals_batch(b, config)
        if sink is not None:
            sink(t)
        summary = summary + SignalsSummary.of(t)
        outliers = outliers.add(t)
    return summary, outliers
