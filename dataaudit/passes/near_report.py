"""Findings tables and summary of the near-duplicate pass (the numbers come from ``near.run_near``).

The documents the report names are given as a ``PickedDocs``: the ids and split codes of the pair documents
only (sorted global indices), plus per-split totals. Both the in-memory documents of the driver-side path
(``near._Docs``) and the per-piece spill files of the read-task path (``near_shards.PieceDocs``) give one
through ``pick(needed)``, so this module has one code path and never sees a per-document array of the corpus.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..io.atomic import write_parquet_atomic
from ..records import PassResult
from . import lsh
from .clusters import union_find_clusters

PAIRS_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("split", pa.string()),              # the leaked side (non-train) of a cross pair
    ("other_doc_id", pa.string()), ("other_split", pa.string()),  # the train side (or the later document)
    ("jaccard", pa.float64()),                                    # exact Jaccard of the two shingle sets
    ("containment", pa.float64()),                                # |A & B| / |A|: share of doc in other
    ("other_containment", pa.float64()),                          # |A & B| / |B|: share of other in doc
    ("estimated_jaccard", pa.float64()),                          # MinHash estimate (share of equal slots)
    ("shingles", pa.int64()), ("other_shingles", pa.int64()), ("cluster_id", pa.int64()),
])

CLUSTERS_SCHEMA = pa.schema([
    ("cluster_id", pa.int64()), ("doc_id", pa.string()), ("split", pa.string()), ("cluster_size", pa.int64()),
])


class PickedDocs:
    """Ids and split codes of the documents at sorted global indices ``idx``; per-split document counts and
    the number of documents without shingles of the whole corpus."""

    def __init__(self, idx: np.ndarray, ids: pa.Array, codes: np.ndarray, split_names: list[str],
                 split_counts: list[int], n_empty: int) -> None:
        self.idx = np.asarray(idx, np.int64)
        self.ids = ids.cast(pa.string())
        self.codes = np.asarray(codes, np.int16)
        self.split_names = list(split_names)
        self.split_counts = [int(x) for x in split_counts]
        self.n_empty = int(n_empty)

    def __len__(self) -> int:
        return sum(self.split_counts)

    def _pos(self, g: np.ndarray) -> np.ndarray:
        g = np.asarray(g, np.int64)
        k = np.searchsorted(self.idx, g)
        if len(g) and (k.max() >= len(self.idx) or (self.idx[k] != g).any()):
            raise KeyError("document index not picked")
        return k

    def ids_of(self, g: np.ndarray) -> pa.Array:
        return self.ids.take(pa.array(self._pos(g), pa.int64()))

    def codes_of(self, g: np.ndarray) -> np.ndarray:
        return self.codes[self._pos(g)]


def build_result(*, config, normalize, docs, bands, rows, stats, a, b, est, inter, size_a, size_b, jac, keep,
                 out_dir: Path, top: int, train_split: str) -> PassResult:
    n_docs = len(docs)
    names = np.array(docs.split_names, dtype=object)
    ka, kb = a[keep], b[keep]
    members, cid = union_find_clusters(ka, kb)
    cluster_of = dict(zip(members.tolist(), cid.tolist()))
    # orientation: the non-train document first; otherwise input order
    train_code = docs.split_names.index(train_split) if train_split in docs.split_names else -1
    swap = docs.codes_of(ka) == train_code
    da, db = np.where(swap, kb, ka), np.where(swap, ka, kb)
    sa, sb = np.where(swap, size_b[keep], size_a[keep]), np.where(swap, size_a[keep], size_b[keep])
    it = inter[keep]
    pairs = pa.table({
        "doc_id": docs.ids_of(da), "split": pa.array(names[docs.codes_of(da)].tolist(), pa.string()),
        "other_doc_id": docs.ids_of(db),
        "other_split": pa.array(names[docs.codes_of(db)].tolist(), pa.string()),
        "jaccard": pa.array(jac[keep], pa.float64()),
        "containment": pa.array(np.where(sa > 0, it / np.maximum(sa, 1), 0.0)),
        "other_containment": pa.array(np.where(sb > 0, it / np.maximum(sb, 1), 0.0)),
        "estimated_jaccard": pa.array(est[keep], pa.float64()),
        "shingles": pa.array(sa, pa.int64()), "other_shingles": pa.array(sb, pa.int64()),
        "cluster_id": pa.array([cluster_of[int(x)] for x in da.tolist()], pa.int64()),
    }, schema=PAIRS_SCHEMA).sort_by([("split", "ascending"), ("doc_id", "ascending"),
                                     ("other_split", "ascending"), ("other_doc_id", "ascending")])
    csize = np.bincount(cid) if len(cid) else np.zeros(0, np.int64)
    clusters = pa.table({
        "cluster_id": pa.array(cid, pa.int64()), "doc_id": docs.ids_of(members),
        "split": pa.array(names[docs.codes_of(members)].tolist(), pa.string()),
        "cluster_size": pa.array(csize[cid] if len(cid) else [], pa.int64()),
    }, schema=CLUSTERS_SCHEMA)
    write_parquet_atomic(out_dir / "near_pairs.parquet", pairs)
    write_parquet_atomic(out_dir / "near_clusters.parquet", clusters)

    n_cand = int(len(a))
    dropped = int((~keep).sum())
    by_pair: dict[str, int] = {}
    for x, y in zip(pairs.column("split").to_pylist(), pairs.column("other_split").to_pylist()):
        k = f"{x} x {y}"
        by_pair[k] = by_pair.get(k, 0) + 1
    leaked_by_split: dict[str, int] = {}
    if config.mode in ("cross", "both"):
        to_train = pairs.filter(pc.and_(pc.equal(pairs["other_split"], train_split),
                                        pc.not_equal(pairs["split"], train_split)))
        for sp, d in zip(to_train.column("split").to_pylist(), to_train.column("doc_id").to_pylist()):
            leaked_by_split.setdefault(sp, set()).add(d)
        leaked_by_split = {k: len(v) for k, v in leaked_by_split.items()}
    curve = lsh.detection_curve(bands, rows)
    ests = est[keep]
    summary = {
        "documents": dict(zip(docs.split_names, docs.split_counts)),
        "documents_without_shingles": docs.n_empty,
        "bands": bands, "rows": rows, "detection_curve": curve,
        "candidates": n_cand, "verified_pairs": int(keep.sum()), "dropped_candidates": dropped,
        "measured_false_positive_rate": round(dropped / n_cand, 6) if n_cand else 0.0,
        "pairs_by_splits": by_pair,
        "leaked_docs": int(sum(leaked_by_split.values())), "leaked_by_split": leaked_by_split,
        "clusters": int(len(csize)), "largest_cluster": int(csize.max()) if len(csize) else 0,
        "estimate_mean_abs_error": round(float(np.mean(np.abs(ests - jac[keep]))), 6) if len(ests) else None,
        "buckets": {"multi_member": stats.buckets, "largest": stats.largest_bucket,
                    "capped": stats.capped_buckets, "pairs_skipped_by_cap": stats.pairs_skipped_by_cap},
        "n_docs": n_docs,
    }
    top_pairs = pairs.sort_by([("jaccard", "descending"), ("split", "ascending"), ("doc_id", "ascending"),
                               ("other_doc_id", "ascending")]).slice(0, top).to_pylist()
    order = np.argsort(-csize, kind="stable")[: top] if len(csize) else []
    top_clusters = [{"cluster_id": int(c), "size": int(csize[c]),
                     "first_doc_id": clusters.filter(pc.equal(clusters["cluster_id"], int(c)))["doc_id"][0].as_py()}
                    for c in order]
    warnings = []
    if stats.capped_buckets:
        warnings.append(f"near: {stats.capped_buckets} LSH bucket(s) had more than {config.max_bucket} members; "
                        f"{stats.pairs_skipped_by_cap} candidate pairs in them (summed over bands) were not generated "
                        f"(members were paired with the first {config.max_bucket} only). Raise max_bucket to "
                        "check them all")
    return PassResult(name="near", summary=summary, findings={"pairs": top_pairs, "clusters": top_clusters},
                      files={"near_pairs": "near_pairs.parquet", "near_clusters": "near_clusters.parquet"},
                      warnings=warnings,
                      config={**config.to_dict(), "train_split": train_split, "normalize": normalize.to_dict()})

