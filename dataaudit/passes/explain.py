"""Explain a low validation perplexity: per split, perplexity with and without the leaked documents.

Token-weighted throughout (corpus perplexity = exp(sum nll / sum tokens)), and in bits per byte, which does
not depend on the tokenizer. Leaked documents are those of ``leaks.parquet`` (any pass).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..records import PassResult

LN2 = math.log(2)


def _agg(t: pa.Table) -> dict[str, Any]:
    tok = int(pc.sum(t["n_tokens"]).as_py() or 0)
    byt = int(pc.sum(t["n_bytes"]).as_py() or 0)
    nll = float(pc.sum(t["nll_sum"]).as_py() or 0.0)
    return {"docs": t.num_rows, "tokens": tok, "bytes": byt, "nll_sum": nll,
            "ppl": math.exp(nll / tok) if tok else None, "bits_per_byte": nll / (byt * LN2) if byt else None}


def explain_perplexity(scores: pa.Table, leaks_path: Path, model: dict[str, Any]) -> PassResult:
    """Split ``scores`` (doc_id, split, n_tokens, n_bytes, nll_sum) into leaked and clean documents."""
    leaks = pq.read_table(leaks_path, columns=["doc_id", "split"])
    leaked_keys = set(zip(leaks["split"].to_pylist(), leaks["doc_id"].to_pylist()))
    is_leaked = pa.array([(s, d) in leaked_keys for s, d in zip(scores["split"].to_pylist(),
                                                                  scores["doc_id"].to_pylist())], pa.bool_())
    by_split: dict[str, Any] = {}
    for split in sorted(set(scores["split"].to_pylist())):
        mask = pc.equal(scores["split"], split)
        t = scores.filter(mask)
        lk = is_leaked.filter(mask)
        all_, clean, leaked = _agg(t), _agg(t.filter(pc.invert(lk))), _agg(t.filter(lk))
        row = {"all": all_, "without_leaked": clean, "leaked_only": leaked}
        if all_["ppl"] and clean["ppl"]:
            row["ppl_rise_without_leaked"] = clean["ppl"] / all_["ppl"] - 1
        by_split[split] = row
    return PassResult(name="perplexity", summary={"by_split": by_split, "model": model})
