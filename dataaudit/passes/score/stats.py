"""Per-document statistics from token log-probs, and what adds up across documents.

Stored as sums so that aggregates are exact: corpus perplexity is ``exp(sum nll / sum tokens)``, never a mean
of per-document perplexities.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
import pyarrow as pa

from ...errors import ConfigError

LN2 = math.log(2.0)


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
