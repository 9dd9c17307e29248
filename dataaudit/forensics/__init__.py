"""Bad-batch forensics: from spike steps to the documents those batches held, ranked, with a skip list.

Entry point::

    from dataaudit.forensics import analyze_batches
    res = analyze_batches({"run": [11236]}, data="train.jsonl", read=ReadConfig(id_column="id"),
                          order="sampler:seed=42,batch=8,accum=2", window=2, score_fn=my_scorer)
    res.batches      # pyarrow Table: every mapped step's documents
    res.suspects     # pyarrow Table: the spike-window documents, ranked within each step
    res.summary      # JSON-able dict: per run and spike, top suspects and the batch-level verdict
    res.skip         # dict for skip.json; res.skip_text: lines for skip.txt

Data flow: order reader (``order/``) -> pieces (document, token range, text) for the spike windows and for
control batches -> cheap features (``features.py``) + optional model scores (``score_fn``) -> robust z
against the control documents (``suspects.py``) -> skip list (``skiplist.py``). Nothing here prints or
writes files; the caller renders and publishes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import pyarrow as pa

from ..errors import ConfigError
from .features import features
from .order import DataOrder, OrderSpec, Piece, open_order, parse_order
from .skiplist import SkipConfig, build_skip, skip_steps
from .suspects import SuspectConfig, batch_verdicts, rank_documents

ScoreFn = Callable[[list[str]], list[dict[str, Any]]]
SCORE_KEYS = ("bits_per_byte", "worst_bpb", "worst_start", "worst_end", "best_bpb", "best_start", "best_end")
EXCERPT_CHARS = 400   # text kept per suspect for the report (renderers escape it); the table stays small

BATCH_SCHEMA = pa.schema([
    ("run", pa.string()), ("step", pa.int64()), ("role", pa.string()), ("position", pa.int64()),
    ("sample_id", pa.int64()), ("doc_id", pa.string()), ("token_start", pa.int64()), ("token_end", pa.int64()),
    ("doc_token_start", pa.int64()), ("dataset_index", pa.int64()),
])


@dataclass(frozen=True, kw_only=True)
class ForensicsResult:
    """What ``analyze_batches`` found; plain data for the renderers."""

    batches: pa.Table                 # run, step, role (window|control), position, sample_id, doc_id, token ranges
    suspects: pa.Table                # window documents: rank within step, suspicion, reasons, features, scores
    summary: dict[str, Any]           # JSON-able: settings, per-run spikes with top suspects and batch verdicts
    skip: dict[str, Any]              # skip.json
    skip_text: list[str] = field(default_factory=list)  # skip.txt lines


def _window_steps(spikes: Sequence[int], window: int, last: int | None) -> dict[int, list[int]]:
    out = {}
    for s in spikes:
        steps = [t for t in range(max(1, s - window), s + 1) if last is None or t <= last]
        out[s] = steps
    return out


def _control_steps(spikes: Sequence[int], window: int, n: int, last: int | None,
                   available: set[int] | None) -> list[int]:
    """Up to ``n`` steps away from every spike window: the nearest ones before the first window, then after."""
    banned = {t for s in spikes for t in range(s - window - 1, s + window + 2)}
    ok = (lambda t: t >= 1 and t not in banned and (last is None or t <= last)
          and (available is None or t in available))
    first = min(spikes) - window
    before = [t for t in range(first - 1, max(0, first - 1 - 20 * n), -1) if ok(t)][:n]
    out = set(before)
    if len(out) < n:
        t, lim = max(spikes) + window + 2, max(spikes) + window + 2 + 20 * n
        while len(out) < n and t < lim and (last is None or t <= last):
            if ok(t):
                out.add(t)
            t += 1
    return sorted(out)


def _open(order: Any, data: Any, read: Any, tokenizer: Any, consumed: Any) -> DataOrder:
    if hasattr(order, "pieces"):
        return order
    return open_order(order, data=data, read=read, tokenizer=tokenizer, consumed=consumed)


def _excerpt(text: str, d: dict[str, Any]) -> str:
    ws, we = d.get("worst_start"), d.get("worst_end")
    if ws is None or we is None:
        return text[:EXCERPT_CHARS]
    pad = max(0, (EXCERPT_CHARS - (we - ws)) // 2)
    lo = max(0, ws - pad)
    return text[lo: lo + EXCERPT_CHARS]


def analyze_batches(steps_by_run: Mapping[str, Iterable[int]], *, data: Any = None, read: Any = None,
                    order: str | OrderSpec | DataOrder, window: int = 2, control_batches: int = 50,
                    model: Any = None, score_fn: ScoreFn | None = None, tokenizer: Any = None,
                    consumed: Mapping[Any, Any] | None = None, suspects: SuspectConfig = SuspectConfig(),
                    skip: SkipConfig = SkipConfig(), top_k: int = 5) -> ForensicsResult:
    """Map each run's spike steps (and the ``window`` steps before each) to their documents, rank them
    against ``control_batches`` control batches, and build the skip list.

    ``steps_by_run``: {run name: spike steps (1-based optimizer steps)}. ``data``: the training data (text
    corpus for manifest/sampler/sequential; token files for olmo; indexed-dataset prefix for megatron).
    ``read``: a ``dataaudit.config.ReadConfig`` for text data. ``score_fn(texts) -> [dict]`` gives model
    scores (bits_per_byte, worst_*/best_* windows); ``model`` is only recorded (its ``fingerprint`` if any).
    ``consumed``: Megatron's consumed samples, {step: consumed} or {run: {step: consumed}}.
    """
    if window < 0 or control_batches < 0:
        raise ConfigError(f"window ({window}) and control_batches ({control_batches}) must be >= 0")
    spec_text = order if isinstance(order, str) else getattr(order, "text", getattr(order, "kind", "order"))
    if isinstance(order, str):
        parse_order(order)  # fail on a bad spec before any data is read
    per_run_consumed = bool(consumed) and all(isinstance(k, str) for k in consumed)  # type: ignore[union-attr]
    shared = None if per_run_consumed else _open(order, data, read, tokenizer, consumed)

    batch_rows: list[dict[str, Any]] = []
    window_rows: list[dict[str, Any]] = []
    control_rows: list[dict[str, Any]] = []
    runs_info: dict[str, dict[str, Any]] = {}
    summary_runs: dict[str, Any] = {}
    texts: list[str] = []
    text_rows: list[dict[str, Any]] = []
    for run, steps in sorted(steps_by_run.items()):
        spikes = sorted({int(s) for s in steps})
        if not spikes:
            continue
        od = shared or _open(order, data, read, tokenizer, consumed[run] if consumed else None)  # type: ignore[index]
        last = od.last_step()
        avail = set(od.available_steps()) if hasattr(od, "available_steps") else None
        wins = _window_steps(spikes, window, last)
        win_steps = sorted({t for v in wins.values() for t in v})
        ctrl = _control_steps(spikes, window, control_batches, last, avail)
        extra = {t for v in skip_steps(spikes, window, skip).values() for t in v
                 if (last is None or t <= last) and (avail is None or t in avail)}
        mapped = od.pieces(sorted(set(win_steps) | set(ctrl) | extra))
        win_set = set(win_steps)
        for t in sorted(mapped):
            role = "window" if t in win_set else "control" if t in ctrl else "skip"
            for pc in mapped[t]:
                p = pc.placement
                row = {"run": run, "step": t, "role": role, "position": p.position, "sample_id": p.sample_id,
                       "doc_id": p.doc_id, "token_start": p.token_start, "token_end": p.token_end,
                       "doc_token_start": p.doc_token_start, "dataset_index": p.dataset_index}
                batch_rows.append(row)
                if role == "skip" or pc.text is None:
                    continue
                d = dict(row, **features(pc.text))
                (window_rows if role == "window" else control_rows).append(d)
                texts.append(pc.text)
                text_rows.append(d)
        runs_info[run] = {"spikes": spikes, "placements": {t: [pc.placement for pc in v] for t, v in mapped.items()},
                          "windows": wins, "control": ctrl}
        summary_runs[run] = {"spikes": [], "control_steps": len(ctrl), "last_step": last}

    if score_fn is not None and texts:
        scores = score_fn(texts)
        if len(scores) != len(texts):
            raise ConfigError(f"score_fn returned {len(scores)} results for {len(texts)} texts")
        for d, sc in zip(text_rows, scores):
            for k in SCORE_KEYS:
                d[k] = sc.get(k)
    excerpts = {id(d): _excerpt(t, d) for d, t in zip(text_rows, texts)}

    ranked, medians = rank_documents(window_rows, control_rows, suspects) if window_rows else ([], {})
    verdicts = batch_verdicts(window_rows, control_rows, suspects) if window_rows else {}
    # rank_documents copies rows; excerpts follow by (run, step, position)
    by_pos = {(d["run"], d["step"], d["position"]): excerpts[id(d)] for d in window_rows}
    for d in ranked:
        d["excerpt"] = by_pos.get((d["run"], d["step"], d["position"]))

    for run, info in runs_info.items():
        top_ids: list[str] = []
        for s in info["spikes"]:
            steps = info["windows"][s]
            docs = [d for d in ranked if d["run"] == run and d["step"] in steps]
            docs.sort(key=lambda d: -d["suspicion"])
            top = [{"step": d["step"], "doc_id": d["doc_id"], "rank": d["rank"], "suspicion": round(d["suspicion"], 3),
                    "reasons": d["reasons"]} for d in docs[:top_k]]
            top_ids += [t["doc_id"] for t in top if t["reasons"]]
            vs = {t: verdicts.get((run, t)) for t in steps}
            flags = [v["unusual"] for v in vs.values() if v is not None and v["unusual"] is not None]
            if not docs:
                verdict, note = "unknown", "no document text (pass --data, and --tokenizer for token data)"
            elif not flags:
                verdict, note = "unknown", "too few control batches to judge the batches"
            elif any(flags):
                verdict, note = "data", "the spike window holds batches unusual against the control batches"
            else:
                verdict, note = "state", ("no batch in the window is unusual against the control batches: this "
                                          "points to optimizer state rather than data (PaLM 5.1 found spikes "
                                          "need both); skipping these batches may not help")
            summary_runs[run]["spikes"].append({
                "step": s, "window_steps": steps, "documents": len(docs), "verdict": verdict, "verdict_note": note,
                "batches": [{"step": t, **(v or {})} for t, v in vs.items()], "top_suspects": top})
        info["suspect_doc_ids"] = list(dict.fromkeys(top_ids))

    skip_json, skip_text = build_skip(runs_info, window=window, cfg=skip)
    summary = {
        "order": {"spec": str(spec_text), "kind": getattr(shared, "kind", None) or "per-run"},
        "settings": {"window": window, "control_batches": control_batches, "top_k": top_k,
                     "reason_z": suspects.reason_z, "batch_z": suspects.batch_z,
                     "scored": score_fn is not None,
                     "model": getattr(model, "fingerprint", None) if model is not None else None},
        "counts": {"mapped_steps": len({(r["run"], r["step"]) for r in batch_rows}),
                   "window_documents": len(window_rows), "control_documents": len(control_rows)},
        "control_medians": {k: (None if not math.isfinite(v) else v) for k, v in medians.items()},
        "control_too_small": len(control_rows) < suspects.min_control_docs,
        "runs": summary_runs,
    }
    return ForensicsResult(batches=pa.Table.from_pylist(batch_rows, schema=BATCH_SCHEMA),
                           suspects=_suspects_table(ranked), summary=summary, skip=skip_json, skip_text=skip_text)


def _suspects_table(rows: list[dict[str, Any]]) -> pa.Table:
    lead = ["run", "step", "doc_id", "rank", "suspicion", "reasons", "position", "sample_id", "token_start",
            "token_end", "dataset_index"]
    if not rows:
        return pa.table({"run": pa.array([], pa.string()), "step": pa.array([], pa.int64()),
                         "doc_id": pa.array([], pa.string()), "rank": pa.array([], pa.int64()),
                         "suspicion": pa.array([], pa.float64()), "reasons": pa.array([], pa.list_(pa.string()))})
    skip_cols = {"role", "doc_token_start"}
    rest = [k for k in rows[0] if k not in lead and k not in skip_cols]
    cols = lead + rest
    return pa.Table.from_pylist([{k: r.get(k) for k in cols} for r in rows])


__all__ = ["ForensicsResult", "SkipConfig", "SuspectConfig", "analyze_batches", "open_order", "parse_order"]
