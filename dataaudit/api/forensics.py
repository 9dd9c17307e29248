"""Bad-batch forensics inside the spikes job: spike steps -> the documents of those batches, ranked against
control batches, scored with the reference model, and a skip list (``dataaudit.forensics`` does the work)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..config import ReadConfig
from ..errors import ConfigError
from ..io.atomic import write_parquet_atomic, write_text_atomic
from ..passes.score import ScoreConfig


@dataclass(frozen=True, kw_only=True)
class ForensicsConfig:
    """What ``--data`` / ``--order`` add to ``dataaudit spikes``."""

    data: Any = None                     # the training data the run read (text corpus, OLMo token files, Megatron prefix)
    order: str | None = None             # --order SPEC: manifest:PATH | sampler:seed=S,batch=B[...] | olmo:PATH | megatron:PATH | sequential:batch=B
    read: ReadConfig = field(default_factory=ReadConfig)     # how text --data is read
    tokenizer: str | None = None         # local HF tokenizer directory to decode token --data
    window: int = 2                      # steps before each spike mapped with it (the spike's own step included)
    control_batches: int = 50            # batches away from any spike that define "usual" for this run's data
    max_spikes: int = 20                 # spikes per run mapped (the highest-scoring ones)
    restart_before: int = 100            # the skip list's restart point: this many steps before the skipped range (PaLM)
    skip_after: int = 0                  # also skip this many steps after the spike step
    model: Any = None                    # reference model for bits per byte of the suspects: DIR, 'default' or None
    device: str = "auto"
    cache_dir: str | None = None
    score: ScoreConfig = field(default_factory=ScoreConfig)

    def __post_init__(self) -> None:
        if (self.data is None) != (self.order is None):
            raise ConfigError("forensics needs both --data (the training data) and --order (its data order); "
                              "give both, or neither to only detect spikes")
        if self.window < 0 or self.control_batches < 0 or self.max_spikes < 1:
            raise ConfigError("--window and --control-batches must be >= 0")

    @property
    def on(self) -> bool:
        return self.order is not None

    def to_dict(self) -> dict[str, Any]:
        return {"data": str(self.data) if self.data is not None else None, "order": self.order,
                "read": self.read.to_dict(), "tokenizer": self.tokenizer, "window": self.window,
                "control_batches": self.control_batches, "max_spikes": self.max_spikes,
                "restart_before": self.restart_before, "skip_after": self.skip_after,
                "model": self.model if isinstance(self.model, (str, type(None))) else type(self.model).__name__,
                "score": self.score.to_dict()}


def _consumed(table: pa.Table) -> dict[str, dict[int, int]]:
    """Megatron's ``consumed samples`` per run and step, from the log table."""
    import pyarrow.compute as pc

    t = table.filter(pc.equal(table["metric"], "consumed_samples"))
    out: dict[str, dict[int, int]] = {}
    for r, s, v in zip(t["run"].to_pylist(), t["step"].to_pylist(), t["value"].to_pylist()):
        out.setdefault(r, {})[int(s)] = int(v)
    return out


def run_forensics(cfg: ForensicsConfig, spikes: list[dict[str, Any]], table: pa.Table, stage: Path, *,
                  progress: Any = None, top: int = 20) -> dict[str, Any]:
    """Map, rank, score; write batches.parquet, suspects.parquet, skip.json, skip.txt into ``stage``.

    Returns {"summary", "findings", "files"} for the report."""
    from ..forensics import SkipConfig, analyze_batches

    by_run: dict[str, list[int]] = {}
    for s in sorted(spikes, key=lambda s: -s["score"]):
        if len(by_run.setdefault(s["run"], [])) < cfg.max_spikes:
            by_run[s["run"]].append(int(s["step"]))
    score_fn = None
    notes: list[str] = []
    model = None
    if cfg.model is not None:
        from ..passes.score import score_texts
        from .score import resolve_model

        data_for_fit = cfg.data if cfg.order and not cfg.order.startswith(("olmo", "megatron")) else None
        if data_for_fit is None and cfg.model == "default":
            raise ConfigError("--model default fits the byte-level model on text --data; with token data pass "
                              "--model DIR (a local causal LM)")
        model, notes = resolve_model(cfg.model, fit_on=data_for_fit, device=cfg.device, cache_dir=cfg.cache_dir,
                                     progress=progress, read=cfg.read)

        def score_fn(texts: list[str]) -> list[dict[str, Any]]:
            return score_texts(model, texts, cfg.score)

    consumed = _consumed(table) if cfg.order.startswith("megatron") else None
    res = analyze_batches(by_run, data=cfg.data, read=cfg.read, order=cfg.order, window=cfg.window,
                          control_batches=cfg.control_batches, model=model, score_fn=score_fn,
                          tokenizer=cfg.tokenizer, consumed=consumed or None,
                          skip=SkipConfig(restart_before=cfg.restart_before, skip_after=cfg.skip_after),
                          top_k=min(top, 20))
    write_parquet_atomic(stage / "batches.parquet", res.batches)
    write_parquet_atomic(stage / "suspects.parquet", res.suspects)
    write_text_atomic(stage / "skip.json", json.dumps(res.skip, indent=2, default=str) + "\n")
    write_text_atomic(stage / "skip.txt", "\n".join(res.skip_text) + "\n")
    rows = []
    if res.suspects.num_rows:
        t = res.suspects.sort_by([("run", "ascending"), ("step", "ascending"), ("rank", "ascending")])
        keep = [c for c in ("run", "step", "doc_id", "rank", "suspicion", "reasons", "bits_per_byte",
                            "excerpt") if c in t.column_names]
        per_step: dict[tuple, int] = {}
        for r in t.select(keep).to_pylist():
            k = (r["run"], r["step"])
            if per_step.get(k, 0) < 5 and len(rows) < top * 5:
                per_step[k] = per_step.get(k, 0) + 1
                rows.append(r)
    summary = dict(res.summary)
    summary["notes"] = notes
    summary["skip_lines"] = [ln for ln in res.skip_text if ln and not ln.startswith("#")][:top]
    return {"summary": summary, "findings": {"suspects": rows},
            "files": {"documents of every mapped step": "batches.parquet",
                      "suspects, ranked within each step": "suspects.parquet",
                      "skip list (steps, samples, doc ids, one line per framework)": "skip.json",
                      "skip list for people": "skip.txt"}}
