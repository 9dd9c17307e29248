"""One table of leaked documents across the exact, near and containment passes, keyed by doc_id.

A validation document found by several passes is one leaked document: counts in the verdict and the
``--fail-on`` fraction are of distinct documents, with which passes found each.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..io.atomic import write_parquet_atomic
from ..records import PassResult

LEAKS_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("split", pa.string()), ("exact", pa.bool_()),
    ("near_jaccard", pa.float64()), ("containment", pa.float64()), ("passes", pa.list_(pa.string())),
    ("train_doc_ids", pa.list_(pa.string())),
])

MAX_TRAIN_IDS = 20


def merge_leaks(stage: Path, files: dict[str, str], documents: dict[str, int], train_split: str = "train",
                top: int = 20) -> PassResult:
    """Read the passes' findings in ``stage`` and write ``leaks.parquet``; return counts per split."""
    rows: dict[tuple[str, str], dict] = {}

    def get(doc_id: str, split: str) -> dict:
        key = (split, doc_id)
        r = rows.get(key)
        if r is None:
            r = rows[key] = {"doc_id": doc_id, "split": split, "exact": False, "near_jaccard": None,
                             "containment": None, "passes": [], "train_doc_ids": []}
        return r

    def add_ids(r: dict, ids) -> None:
        for i in ids or ():
            if len(r["train_doc_ids"]) >= MAX_TRAIN_IDS:
                break
            if i not in r["train_doc_ids"]:
                r["train_doc_ids"].append(i)

    if "exact_leaks" in files:
        for e in pq.read_table(stage / files["exact_leaks"], columns=["doc_id", "split", "train_doc_ids"]).to_pylist():
            r = get(e["doc_id"], e["split"])
            r["exact"] = True
            add_ids(r, e["train_doc_ids"])
    if "near_pairs" in files:
        t = pq.read_table(stage / files["near_pairs"], columns=["doc_id", "split", "other_doc_id", "other_split",
                                                                  "jaccard"])
        for p in t.to_pylist():
            if p["other_split"] == train_split and p["split"] != train_split:
                doc, split, other = p["doc_id"], p["split"], p["other_doc_id"]
            elif p["split"] == train_split and p["other_split"] != train_split:
                doc, split, other = p["other_doc_id"], p["other_split"], p["doc_id"]
            else:
                continue
            r = get(doc, split)
            r["near_jaccard"] = max(r["near_jaccard"] or 0.0, float(p["jaccard"]))
            add_ids(r, [other])
    if "containment" in files:
        t = pq.read_table(stage / files["containment"], columns=["doc_id", "split", "flagged", "containment",
                                                                   "train_doc_ids"])
        for c in t.to_pylist():
            if not c["flagged"]:
                continue
            r = get(c["doc_id"], c["split"])
            r["containment"] = float(c["containment"])
            add_ids(r, c["train_doc_ids"])
    for r in rows.values():
        r["passes"] = [p for p, on in (("exact", r["exact"]), ("near", r["near_jaccard"] is not None),
                                       ("containment", r["containment"] is not None)) if on]
    ordered = [rows[k] for k in sorted(rows)]
    table = pa.Table.from_pylist(ordered, schema=LEAKS_SCHEMA)
    write_parquet_atomic(stage / "leaks.parquet", table)

    by_split: dict[str, dict] = {}
    for name, docs in documents.items():
        if name == train_split:
            continue
        mine = [r for r in ordered if r["split"] == name]
        by_split[name] = {
            "docs": docs, "leaked_docs": len(mine),
            "leaked_doc_fraction": len(mine) / docs if docs else 0.0,
            "exact": sum(r["exact"] for r in mine),
            "near_not_exact": sum(not r["exact"] and r["near_jaccard"] is not None for r in mine),
            "containment_only": sum(r["passes"] == ["containment"] for r in mine),
        }
    listed = sorted(ordered, key=lambda r: (r["exact"], -(r["near_jaccard"] or 0), -(r["containment"] or 0)))[:top]
    return PassResult(name="leaks", summary={"by_split": by_split, "leaked_docs": len(ordered)},
                      findings={"leaked": listed}, files={"leaks": "leaks.parquet"})
