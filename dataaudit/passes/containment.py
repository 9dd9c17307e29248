"""Containment pass: short documents (val, test, eval items) found inside long training documents.

MinHash compares whole documents, so a 60-word benchmark item inside a 5,000-word training page has a
Jaccard near 0 and is never a candidate. This pass indexes the word n-grams (default 13, the length GPT-3's
and datatrove's decontamination use) of the *small* side, then streams the *large* side (train) against the
index, as datatrove's ``pipeline/decont/n_grams.py`` does: memory holds the small side's n-gram hashes plus the
hits, never the training set.

A small document's *containment* is the share of its n-gram positions whose n-gram occurs in some training
document; it is flagged when that share reaches ``threshold``. An n-gram that occurs in more than
``max_ngram_doc_freq`` training documents is boilerplate (licence lines, navigation text, templates): it
counts as unmatched, so one shared phrase cannot flag a document; such n-grams are counted in the report.
For each document with matches the table lists the matched spans (word ranges of the normalized text, with
an excerpt) and the training documents holding them, most matched first.

Adaptive n and whole items (GPT-3's decontamination, Brown et al. 2020, appendix C). One n does not fit
every set: most NaturalQuestions questions are under 13 words. Each small split gets its own n, the
``length_percentile``-th percentile of its items' word counts clamped to ``min_ngram..ngram`` (8..13 by
default), and an item shorter than its split's n but of at least ``min_item_words`` words is matched
*whole*: its normalized text as a contiguous word sequence of a training document (one "n-gram" of its own
length). Only items under ``min_item_words`` words cannot be checked; they are counted (``too_short``) and
the exact and near passes still see them. Lookups of every length share one index: each hash is salted with
its length, and train is hashed once per distinct length while it streams, so memory stays that of the
small side.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from ..io.atomic import write_parquet_atomic
from ..records import PassResult
from ..shingle import hash_shingles
from ..text import DEFAULT_NORMALIZE, NormalizeConfig, normalize_array
from .containment_kernels import (_Lookup, _column, _salted, _word_counts, batch_hits, batch_parts,  # noqa: F401
                                  excerpt_of)

Source = Callable[[], Iterator[pa.RecordBatch]]

CONTAINMENT_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("split", pa.string()),
    ("flagged", pa.bool_()),                 # containment >= threshold
    ("containment", pa.float64()),           # matched n-gram positions / n-gram positions
    ("ngrams", pa.int64()), ("matched_ngrams", pa.int64()),
    ("boilerplate_ngrams", pa.int64()),      # positions whose n-gram is in > max_ngram_doc_freq train docs
    ("spans", pa.list_(pa.list_(pa.int64(), 2))),   # matched [start, end) word ranges of the normalized text
    ("excerpt", pa.string()),                # the longest matched span's text (normalized, truncated)
    ("ngram", pa.int64()),                   # words per n-gram used for this document (its split's n, or its
                                             # own length when matched whole)
    ("whole", pa.bool_()),                   # shorter than its split's n: matched as one contiguous sequence
    ("n_train_docs", pa.int64()),            # training documents holding at least one matched n-gram
    ("train_doc_ids", pa.list_(pa.string())),        # the first max_train_ids of them, most matches first
    ("train_doc_matches", pa.list_(pa.int64())),     # matched n-grams of this document in each of those
])


@dataclass(frozen=True, kw_only=True)
class ContainmentConfig:
    """Settings of the containment (n-gram overlap) pass."""

    ngram: int = 13                 # words per n-gram (the most; see min_ngram): 13 as GPT-3's and datatrove's
    min_ngram: int = 8              # the least n a split's item lengths may choose (GPT-3: 8); = ngram: fixed n
    length_percentile: float = 5.0  # a split's n is this percentile of its items' word counts, clamped
    min_item_words: int = 5         # items shorter than n but this long are matched whole; shorter: unchecked
    threshold: float = 0.5          # flag a document when this share of its n-grams occurs in train
    max_ngram_doc_freq: int = 100   # n-grams in more train documents than this are boilerplate: ignored
    max_train_ids: int = 20         # train doc_ids listed per document (the count is always exact)
    excerpt_chars: int = 300        # length of the excerpt of the longest matched span

    def __post_init__(self) -> None:
        if not isinstance(self.ngram, int) or not 1 <= self.ngram <= 256:
            raise ConfigError(f"containment ngram {self.ngram!r} must be an integer in 1..256; 13 is the default")
        if not isinstance(self.threshold, (int, float)) or not 0 < self.threshold <= 1:
            raise ConfigError(f"containment threshold {self.threshold!r} is outside (0, 1]; pass e.g. "
                              "--containment-threshold 0.5")
        if self.max_ngram_doc_freq < 1:
            raise ConfigError(f"max_ngram_doc_freq {self.max_ngram_doc_freq} must be at least 1 "
                              "(it is the number of train documents an n-gram may occur in and still count)")
        if not isinstance(self.min_ngram, int) or self.min_ngram < 1:
            raise ConfigError(f"--containment-min-ngram {self.min_ngram!r} must be a positive integer (8 by default)")
        if not 0 <= self.length_percentile <= 100:
            raise ConfigError(f"length_percentile {self.length_percentile} must be in 0..100 (5 by default)")
        if not isinstance(self.min_item_words, int) or self.min_item_words < 1:
            raise ConfigError(f"--containment-min-words {self.min_item_words!r} must be a positive integer")
        if self.max_train_ids < 0 or self.excerpt_chars < 0:
            raise ConfigError("max_train_ids and excerpt_chars must be non-negative")

    def to_dict(self) -> dict:
        return asdict(self)

    def ngram_for(self, word_counts: np.ndarray) -> int:
        """The n of a split with these item word counts.

        >>> ContainmentConfig().ngram_for(np.array([6, 9, 10, 12, 30] * 4))
        8
        >>> ContainmentConfig().ngram_for(np.array([40, 60, 80]))
        13
        """
        lo = min(self.min_ngram, self.ngram)
        wc = word_counts[word_counts > 0]
        if not len(wc):
            return self.ngram
        return int(np.clip(int(np.floor(np.percentile(wc, self.length_percentile))), lo, self.ngram))


class _LocalSide:
    """The small side read here, batch by batch (the default of ``_Index``)."""

    def __init__(self, small: dict[str, Source], cfg: ContainmentConfig, normalize: NormalizeConfig) -> None:
        self.small, self.cfg, self.normalize = small, cfg, normalize

    def word_counts(self, split: str) -> list[np.ndarray]:
        return [_word_counts(normalize_array(_column(b, "text"), self.normalize)) for b in self.small[split]()]

    def parts(self, split: str, n: int):
        for batch in self.small[split]():
            yield batch_parts(batch, n, self.cfg, self.normalize)


class _Index(_Lookup):
    """The small side's n-grams: per position (salted hash, doc, word position), and the sorted distinct hashes.

    Per document: ``counts`` (positions), ``n_of_doc`` (words per n-gram; 0: not checked), ``whole``.
    """

    def __init__(self, small: dict[str, Source], cfg: ContainmentConfig, normalize: NormalizeConfig, progress,
                 side=None):
        # ``side`` reads the small side: word counts per split, then index parts per split (``_LocalSide``
        # here; ``containment_shards.ShardedSide`` has the workers read and hash)
        side = side or _LocalSide(small, cfg, normalize)
        hashes, docs, pos, ids, codes, counts, nod, whole = [], [], [], [], [], [], [], []
        base = 0
        self.split_names = list(small)
        self.ngram_by_split: dict[str, int] = {}
        for code, split in enumerate(small):
            wc_all = side.word_counts(split)
            n = cfg.ngram_for(np.concatenate(wc_all) if wc_all else np.zeros(0, np.int64))
            self.ngram_by_split[split] = n
            for doc_id, hh, dd, pp, c, n_doc in side.parts(split, n):
                k = len(c)
                hashes.append(hh)
                docs.append(dd + base)
                pos.append(pp)
                ids.append(doc_id)
                codes.append(np.full(k, code, np.int16))
                counts.append(c)
                nod.append(n_doc)
                whole.append((n_doc > 0) & (n_doc < n))
                base += k
                if progress:
                    progress(f"containment: index {split}", k)
        cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt))
        hashes_all = cat(hashes, np.uint64)
        del hashes
        self.doc = cat(docs, np.int64)
        del docs
        self.pos = cat(pos, np.int64)
        del pos
        doc_id = hh = dd = pp = None          # noqa: F841 - the last part's arrays go too (memory peak)
        self.ids = pa.concat_arrays(ids) if ids else pa.array([], pa.string())
        self.codes = cat(codes, np.int16)
        self.counts = cat(counts, np.int64)
        self.n_of_doc = cat(nod, np.int64)
        self.whole = cat(whole, np.bool_)
        self.lengths = sorted(set(np.unique(self.n_of_doc[self.n_of_doc > 0]).tolist()))
        self.uniq, self.uid = np.unique(hashes_all, return_inverse=True)
        self.uid = self.uid.reshape(-1)
        self.n_positions = len(hashes_all)   # the per-position hashes themselves are not needed past here
        del hashes_all
        self.n_docs = base
        # a bitmap of the top bits of every indexed hash, ~32 bits per distinct n-gram: a lookup costs one
        # gather instead of a binary search with ~24 cache misses (1.2 s -> 0.08 s per 1M lookups in a
        # 12.5M-entry index), and only the ~3% of train n-grams that pass it are searched
        self.bits = int(np.clip(np.ceil(np.log2(max(len(self.uniq), 1) * 32)), 16, 30))
        self.bitmap = np.zeros(1 << (self.bits - 3), dtype=np.uint8)
        top = self.uniq >> np.uint64(64 - self.bits)
        np.bitwise_or.at(self.bitmap, (top >> np.uint64(3)).astype(np.int64),
                         np.left_shift(1, (top & np.uint64(7)).astype(np.uint8)).astype(np.uint8))

    def lookup_only(self) -> "_Lookup":
        """What a worker needs to look train n-grams up (no per-position arrays, no ids)."""
        return _Lookup(self.uniq, self.bits, self.bitmap, self.lengths)


class _Hits:
    """Train's hits as they stream in: doc frequency per distinct n-gram, (uid, doc) pairs, train ids."""

    def __init__(self, n_uniq: int, cfg: ContainmentConfig) -> None:
        self.df = np.zeros(n_uniq, dtype=np.int64)
        self.cfg = cfg
        self.hit_uid: list = []
        self.hit_doc: list = []
        self.train_ids: list = []
        self.base = 0

    def add(self, hits: list[tuple], n: int) -> None:
        """One batch (or piece) of ``n`` train documents; its docs are numbered from ``self.base``."""
        for u, d, ids in hits:
            np.add.at(self.df, u, 1)
            self.hit_uid.append(u)
            self.hit_doc.append(d + self.base)
            self.train_ids.append((d + self.base, ids))
        self.base += n
        if sum(len(h) for h in self.hit_uid) > 4_000_000:      # drop hits of boilerplate n-grams as we go
            self.hit_uid, self.hit_doc = _compact(self.hit_uid, self.hit_doc, self.df, self.cfg.max_ngram_doc_freq)

    def result(self):
        """(doc freq per distinct n-gram, hits as (uid, train doc) arrays, train ids, train docs streamed)."""
        hit_uid, hit_doc = _compact(self.hit_uid, self.hit_doc, self.df, self.cfg.max_ngram_doc_freq)
        names: dict[int, str] = {}
        for d, ids in self.train_ids:
            names.update(zip(d.tolist(), ids.to_pylist()))
        return self.df, hit_uid[0], hit_doc[0], names, self.base


def _stream_large(index: _Index, large: Source, cfg: ContainmentConfig, normalize: NormalizeConfig, progress):
    """(doc freq per distinct n-gram, hits as (uid, train doc) arrays, train ids, train docs streamed)."""
    hits = _Hits(len(index.uniq), cfg)
    for batch in large():
        hits.add(batch_hits(index, batch, normalize), batch.num_rows)
        if progress:
            progress("containment: stream train", batch.num_rows)
    return hits.result()


def _compact(hit_uid, hit_doc, df, cap):
    u = np.concatenate(hit_uid) if hit_uid else np.zeros(0, np.int64)
    d = np.concatenate(hit_doc) if hit_doc else np.zeros(0, np.int64)
    keep = df[u] <= cap
    return [u[keep]], [d[keep]]


def _spans(positions: np.ndarray, n: int) -> list[list[int]]:
    """Merge n-gram start positions into [start, end) word ranges.

    >>> _spans(np.array([0, 1, 2, 10]), 3)
    [[0, 5], [10, 13]]
    """
    out: list[list[int]] = []
    for p in np.sort(positions).tolist():
        if out and p <= out[-1][1]:
            out[-1][1] = max(out[-1][1], p + n)
        else:
            out.append([p, p + n])
    return out


def run_containment(small: dict[str, Source], large: Source, config: ContainmentConfig, out_dir: Path, *,
                    normalize: NormalizeConfig = DEFAULT_NORMALIZE, top: int = 20, train_split: str = "train",
                    progress: Callable[[str, int], None] | None = None, engine=None) -> PassResult:
    """Index the n-grams of ``small`` (split -> batches), stream ``large`` (the ``train_split``) against them;
    write containment.parquet and list the ``top`` most contained documents.

    ``engine``: None runs here, as does an engine without read tasks; with read tasks on (the Ray
    engine) the workers read and hash both sides (``containment_shards.py``), same table.
    """
    from ..engine.pieces import uses_read_tasks

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = config
    sharded = None
    try:
        if uses_read_tasks(engine):
            from .containment_shards import ShardedContainment

            sharded = ShardedContainment(engine, small, large, cfg, normalize, progress)
            index = _Index(small, cfg, normalize, progress, side=sharded)
            df, hit_uid, hit_doc, train_names, n_train = sharded.stream_large(index, _Hits(len(index.uniq), cfg))
        else:
            index = _Index(small, cfg, normalize, progress)
            df, hit_uid, hit_doc, train_names, n_train = _stream_large(index, large, cfg, normalize, progress)

        common = df > cfg.max_ngram_doc_freq
        counted = (df > 0) & ~common
        pos_matched = counted[index.uid]
        pos_common = common[index.uid]
        matched = np.bincount(index.doc[pos_matched], minlength=index.n_docs)
        boiler = np.bincount(index.doc[pos_common], minlength=index.n_docs)
        share = np.where(index.counts > 0, matched / np.maximum(index.counts, 1), 0.0)
        flagged = (share >= cfg.threshold - 1e-12) & (index.counts > 0)
        with_matches = np.flatnonzero(matched > 0)

        # which train docs hold each small doc's matched n-grams: join hits (uid -> train doc) with positions
        rows = _rows(index, with_matches, pos_matched, hit_uid, hit_doc, train_names, cfg)
        spans = {d: r["spans"] for d, r in rows.items()}
        if sharded is not None:
            excerpts = sharded.excerpts(index, spans)
        else:
            excerpts = _excerpts(small, index, spans, normalize, cfg)
        names = np.array(index.split_names, dtype=object)
        table = pa.table({
            "doc_id": index.ids.take(pa.array(with_matches, pa.int64())),
            "split": pa.array(names[index.codes[with_matches]].tolist(), pa.string()),
            "flagged": pa.array(flagged[with_matches]),
            "containment": pa.array(share[with_matches], pa.float64()),
            "ngrams": pa.array(index.counts[with_matches], pa.int64()),
            "matched_ngrams": pa.array(matched[with_matches], pa.int64()),
            "boilerplate_ngrams": pa.array(boiler[with_matches], pa.int64()),
            "spans": pa.array([rows[d]["spans"] for d in with_matches.tolist()], CONTAINMENT_SCHEMA.field("spans").type),
            "excerpt": pa.array([excerpts.get(d, "") for d in with_matches.tolist()], pa.string()),
            "ngram": pa.array(index.n_of_doc[with_matches], pa.int64()),
            "whole": pa.array(index.whole[with_matches], pa.bool_()),
            "n_train_docs": pa.array([rows[d]["n_train_docs"] for d in with_matches.tolist()], pa.int64()),
            "train_doc_ids": pa.array([rows[d]["train_doc_ids"] for d in with_matches.tolist()], pa.list_(pa.string())),
            "train_doc_matches": pa.array([rows[d]["train_doc_matches"] for d in with_matches.tolist()],
                                          pa.list_(pa.int64())),
        }, schema=CONTAINMENT_SCHEMA).sort_by([("split", "ascending"), ("doc_id", "ascending")])
    finally:
        if sharded is not None:
            sharded.close()
    write_parquet_atomic(out_dir / "containment.parquet", table)
    return _result(cfg, normalize, index, table, flagged, n_train, common, top, train_split)


def _rows(index: _Index, with_matches, pos_matched, hit_uid, hit_doc, train_names, cfg) -> dict[int, dict]:
    sel = np.flatnonzero(pos_matched)
    p_doc, p_uid, p_pos = index.doc[sel], index.uid[sel], index.pos[sel]
    order = np.argsort(hit_uid, kind="stable")
    hu, hd = hit_uid[order], hit_doc[order]
    rows: dict[int, dict] = {}
    starts = np.searchsorted(p_doc, with_matches)
    ends = np.searchsorted(p_doc, with_matches, side="right")
    for d, s, e in zip(with_matches.tolist(), starts.tolist(), ends.tolist()):
        uids = np.unique(p_uid[s:e])
        lo, hi = np.searchsorted(hu, uids), np.searchsorted(hu, uids, side="right")
        docs = np.concatenate([hd[a:b] for a, b in zip(lo, hi)]) if len(uids) else np.zeros(0, np.int64)
        tdocs, tcounts = np.unique(docs, return_counts=True)
        top = np.lexsort((tdocs, -tcounts))[: cfg.max_train_ids]
        rows[d] = {"spans": _spans(p_pos[s:e], int(index.n_of_doc[d])), "n_train_docs": int(len(tdocs)),
                   "train_doc_ids": [train_names[int(t)] for t in tdocs[top]],
                   "train_doc_matches": tcounts[top].astype(np.int64).tolist()}
    return rows


def _excerpts(small, index: _Index, spans: dict[int, list], normalize, cfg) -> dict[int, str]:
    """Text of the longest matched span of each document with matches (re-reads the small side)."""
    if not spans or cfg.excerpt_chars == 0:
        return {}
    out, base = {}, 0
    wanted = np.array(sorted(spans), dtype=np.int64)
    for make in small.values():
        for batch in make():
            n = batch.num_rows
            lo, hi = np.searchsorted(wanted, [base, base + n])
            if hi > lo:
                texts = normalize_array(_column(batch, "text").take(pa.array(wanted[lo:hi] - base)), normalize)
                for d, t in zip(wanted[lo:hi].tolist(), texts.to_pylist()):
                    out[d] = excerpt_of(t, spans[d], cfg.excerpt_chars)
            base += n
    return out


def _result(cfg, normalize, index: _Index, table: pa.Table, flagged, n_train, common, top: int,
            train_split: str) -> PassResult:
    names = index.split_names
    fl = table.filter(table["flagged"])
    leaked_by_split = {n: int(((index.codes == i) & flagged).sum()) for i, n in enumerate(names)}
    too_short = {n: int(((index.codes == i) & (index.counts == 0)).sum()) for i, n in enumerate(names)}
    whole = {n: int(((index.codes == i) & index.whole).sum()) for i, n in enumerate(names)}
    whole_flagged = {n: int(((index.codes == i) & index.whole & flagged).sum()) for i, n in enumerate(names)}
    summary = {
        "documents": {n: int((index.codes == i).sum()) for i, n in enumerate(names)},
        "train_documents": int(n_train), "too_short": too_short,
        "ngram_by_split": dict(index.ngram_by_split), "matched_whole": whole, "whole_flagged": whole_flagged,
        "ngrams_indexed": int(index.n_positions), "distinct_ngrams": int(len(index.uniq)),
        "boilerplate_ngrams": int(common.sum()),
        "docs_with_matches": int(table.num_rows),
        "with_matches": {n: int(pc.sum(pc.equal(table["split"], n)).as_py() or 0) for n in names},
        "leaked_docs": int(flagged.sum()), "leaked_by_split": {k: v for k, v in leaked_by_split.items() if v},
    }
    listed = fl.sort_by([("containment", "descending"), ("split", "ascending"), ("doc_id", "ascending")]) \
        .slice(0, top).to_pylist()
    return PassResult(name="containment", summary=summary, findings={"documents": listed},
                      files={"containment": "containment.parquet"},
                      config={**cfg.to_dict(), "train_split": train_split, "normalize": normalize.to_dict()})
