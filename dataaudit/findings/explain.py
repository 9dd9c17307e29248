"""Why is validation perplexity low? Perplexity with and without the leaked documents, the train/val gap,
the share of it the leaks explain, and what remains (distribution shift), all as data.

Definitions (nats per token, token-weighted: a split's loss is ``sum nll / sum tokens``, so its perplexity
is the corpus perplexity ``exp`` of it):

* ``gap_nats`` = train loss - val loss (> 0: val is below train, the thing the user saw);
* ``leak_effect_nats`` = val loss without the leaked documents - val loss with them (> 0: the leaks make val
  look better), overall and for the documents of each leak pass, each leaked document under the first pass
  that found it (exact, then near, then containment: the leak table's columns; ``found_docs`` counts every
  document a pass found);
* ``share_explained`` = leak_effect / gap, when the gap is positive (> 1: without the leaks val would be
  above train; ``share_defined`` is the share of bootstrap replicates whose gap is positive);
* ``remaining_gap_nats`` = train loss - val loss without the leaked documents.

The leaked documents are the verdict's: trivial leaks (headings, boilerplate; ``findings.leaks``) are not
leaks, stay in "without leaked", and are counted apart (``trivial_docs``).

Each comes with a 95% percentile interval from a document-level bootstrap (documents of val and of the
train sample resampled independently, the statistic recomputed token-weighted on every resample; Efron &
Tibshirani 1993), so a user sees whether an effect is larger than resampling noise. What remains is
described by the lengths and the reference model's bits per byte of val without leaks against the train
sample (medians and a two-sample Kolmogorov-Smirnov test), and by source composition where sources differ.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..records import PassResult
from .stats import boot_weights, interval, ks_2samp, weighted_rate

LN2 = math.log(2)


def _agg(t: pa.Table) -> dict[str, Any]:
    tok = int(pc.sum(t["n_tokens"]).as_py() or 0)
    byt = int(pc.sum(t["n_bytes"]).as_py() or 0)
    nll = float(pc.sum(t["nll_sum"]).as_py() or 0.0)
    return {"docs": t.num_rows, "tokens": tok, "bytes": byt, "nll_sum": nll,
            "nats_per_token": nll / tok if tok else None,
            "ppl": math.exp(nll / tok) if tok else None, "bits_per_byte": nll / (byt * LN2) if byt else None}


def _arr(t: pa.Table, col: str) -> np.ndarray:
    return np.asarray(t[col].to_numpy(zero_copy_only=False), dtype=np.float64)


def _median(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else None


def _shift(val: pa.Table, train: pa.Table) -> dict[str, Any]:
    """Lengths and bits per byte of val (without leaks) against the train sample."""
    out: dict[str, Any] = {}
    for key, col in (("length_bytes", "n_bytes"), ("bits_per_byte", "bits_per_byte")):
        a, b = _arr(val, col), _arr(train, col)
        d, p = ks_2samp(a, b)
        ma, mb = _median(a), _median(b)
        out[key] = {"val_median": ma, "train_median": mb,
                    "ratio": (ma / mb) if ma is not None and mb else None, "ks_d": d, "ks_p": p}
    return out


def _sources(val: pa.Table, train: pa.Table) -> dict[str, Any] | None:
    """Per-source shares of val (without leaks) and the train sample, when the two share a source name.
    Sources named only on one side (each split's own file, the usual case) say nothing about composition."""
    if "source" not in val.column_names or "source" not in train.column_names:
        return None
    sv, st = val["source"].to_pylist(), train["source"].to_pylist()
    names = sorted(set(sv) | set(st))
    if len(names) < 2 or not set(sv) & set(st):
        return None
    return {n: {"val_share": sv.count(n) / max(len(sv), 1), "train_share": st.count(n) / max(len(st), 1)}
            for n in names}


def _decompose(val: pa.Table, leaked: dict[str, np.ndarray], train: pa.Table, reps: int, seed: int
               ) -> dict[str, Any]:
    nll_v, tok_v = _arr(val, "nll_sum"), _arr(val, "n_tokens")
    nll_t, tok_t = _arr(train, "nll_sum"), _arr(train, "n_tokens")
    rng = np.random.default_rng(seed)
    any_leak = leaked["all"]
    v_all = weighted_rate(nll_v, tok_v)
    v_clean = weighted_rate(nll_v[~any_leak], tok_v[~any_leak])
    t_all = weighted_rate(nll_t, tok_t)
    out: dict[str, Any] = {"train_nats": t_all, "val_nats": v_all, "val_without_leaked_nats": v_clean,
                           "gap_nats": t_all - v_all, "leak_effect_nats": v_clean - v_all,
                           "remaining_gap_nats": t_all - v_clean}
    out["share_explained"] = (out["leak_effect_nats"] / out["gap_nats"]
                              if out["gap_nats"] > 0 and math.isfinite(out["leak_effect_nats"]) else None)
    out["as_ppl"] = {k: (math.exp(v) if v is not None and math.isfinite(v) else None)
                     for k, v in (("train", t_all), ("val", v_all), ("val_without_leaked", v_clean))}
    # bootstrap: val documents and train-sample documents resampled independently, in chunks of replicates
    gap_b, eff_b, share_b, rem_b = [], [], [], []
    pass_b: dict[str, list] = {k: [] for k in leaked if k != "all"}
    for start in range(0, reps, 100):
        k = min(100, reps - start)
        wv, wt = boot_weights(len(nll_v), k, rng), boot_weights(len(nll_t), k, rng)
        rv, rt = weighted_rate(nll_v, tok_v, wv), weighted_rate(nll_t, tok_t, wt)
        rc = weighted_rate(nll_v, tok_v, wv * (~any_leak))
        gap_b.append(rt - rv)
        eff_b.append(rc - rv)
        rem_b.append(rt - rc)
        with np.errstate(invalid="ignore", divide="ignore"):
            share_b.append(np.where(rt - rv > 0, (rc - rv) / (rt - rv), np.nan))
        for name, mask in leaked.items():
            if name != "all":
                pass_b[name].append(weighted_rate(nll_v, tok_v, wv * (~mask)) - rv)
    cat = np.concatenate
    out["gap_interval"] = interval(cat(gap_b))
    out["leak_effect_interval"] = interval(cat(eff_b))
    out["remaining_gap_interval"] = interval(cat(rem_b))
    out["share_interval"] = interval(cat(share_b)) if out["share_explained"] is not None else None
    # the share is a ratio: where resampled gaps reach 0 it is unbounded, and its interval (over the
    # replicates with a positive gap) is not to be trusted; the verdict says so below 0.975
    out["share_defined"] = float(np.mean(cat(gap_b) > 0))
    out["by_pass"] = {}
    for name, mask in leaked.items():
        if name == "all":
            continue
        eff = weighted_rate(nll_v[~mask], tok_v[~mask]) - v_all if mask.any() else 0.0
        out["by_pass"][name] = {"docs": int(mask.sum()), "leak_effect_nats": eff,
                                "interval": interval(cat(pass_b[name])) if mask.any() else None}
    out["bootstrap"] = {"replicates": reps, "seed": seed, "level": 0.95, "unit": "document"}
    return out


def explain_perplexity(scores: pa.Table, leaks_path: Path, model: dict[str, Any], *,
                       train_scores: pa.Table | None = None, reps: int = 1000, seed: int = 0,
                       logged: dict[str, Any] | None = None) -> PassResult:
    """Per split: perplexity with/without leaked documents; with ``train_scores`` (a sample of train scored
    with the same model and settings) the gap decomposition and what remains. Tables need doc_id, split,
    n_tokens, n_bytes, nll_sum, bits_per_byte (and ``source`` for composition)."""
    cols = ["doc_id", "split", "exact", "near_jaccard", "containment"]
    has_trivial = "trivial" in pq.read_schema(leaks_path).names
    leaks = pq.read_table(leaks_path, columns=cols + (["trivial"] if has_trivial else []))
    triv = leaks["trivial"].to_pylist() if has_trivial else [False] * leaks.num_rows
    # the verdict's rule: a trivial leak (heading, boilerplate) is no leak; it stays in "without leaked" and
    # is counted apart. Each leak is attributed to the first pass that found it (exact, then near, then
    # containment), the leak table's columns; "found" holds every pass that found it.
    kinds = {"all": set(), "exact": set(), "near": set(), "containment": set()}
    found: dict[str, set] = {"exact": set(), "near": set(), "containment": set()}
    trivial: set = set()
    for d, s, e, n, c, tv in zip(*(leaks[k].to_pylist() for k in cols), triv):
        if tv:
            trivial.add((s, d))
            continue
        on = [p for p, hit in (("exact", e), ("near", n is not None), ("containment", c is not None)) if hit]
        if not on:
            continue
        kinds["all"].add((s, d))
        kinds[on[0]].add((s, d))
        for p in on:
            found[p].add((s, d))
    keys = list(zip(scores["split"].to_pylist(), scores["doc_id"].to_pylist()))
    masks = {k: np.array([x in v for x in keys], dtype=bool) for k, v in kinds.items()}
    found_masks = {k: np.array([x in v for x in keys], dtype=bool) for k, v in found.items()}
    trivial_mask = np.array([x in trivial for x in keys], dtype=bool)
    by_split: dict[str, Any] = {}
    explain: dict[str, Any] = {}
    splits = np.array(scores["split"].to_pylist(), dtype=object)
    for split in sorted(set(splits.tolist())):
        sel = splits == split
        t = scores.filter(pa.array(sel))
        lk = masks["all"][sel]
        all_, clean, leaked = _agg(t), _agg(t.filter(pa.array(~lk))), _agg(t.filter(pa.array(lk)))
        row: dict[str, Any] = {"all": all_, "without_leaked": clean, "leaked_only": leaked,
                               "trivial_docs": int(trivial_mask[sel].sum())}
        if all_["ppl"] and clean["ppl"]:
            row["ppl_rise_without_leaked"] = clean["ppl"] / all_["ppl"] - 1
        by_split[split] = row
        if train_scores is not None and train_scores.num_rows:
            ex = _decompose(t, {k: m[sel] for k, m in masks.items()}, train_scores, reps, seed)
            for k, m in found_masks.items():
                ex["by_pass"][k]["found_docs"] = int(m[sel].sum())
            ex["by_pass_rule"] = "first pass that found the document: exact, then near, then containment"
            ex["trivial_docs"] = row["trivial_docs"]
            ex["shift"] = _shift(t.filter(pa.array(~lk)), train_scores)
            ex["sources"] = _sources(t.filter(pa.array(~lk)), train_scores)
            explain[split] = ex
    summary: dict[str, Any] = {"by_split": by_split, "model": model}
    if train_scores is not None:
        summary["by_split"]["train"] = {"all": _agg(train_scores), "sample": True}
        summary["explain"] = explain
    if logged is not None:
        summary["logged"] = logged
    return PassResult(name="perplexity", summary=summary)
