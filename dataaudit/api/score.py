"""Scoring: per-document reference-model perplexity, bits per byte, Min-K%, zlib ratio, worst/best window."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..config import JobConfig, ReadConfig
from ..passes.score import ScoreConfig, ScoreRun, run_score
from ..progress import NullProgress, Progress
from ..records import BadRecordLog, Report
from ._job import Job


@dataclass(frozen=True, kw_only=True)
class ScoreJobConfig(JobConfig):
    """Settings of ``dataaudit score``, recorded in its report."""

    read: ReadConfig = field(default_factory=ReadConfig)      # how DATA is read
    score: ScoreConfig = field(default_factory=ScoreConfig)   # windows, BOS, Min-K%, batch budget
    model: Any = None                   # a local HF causal LM / byte-LM directory, a ReferenceModel, or
                                        # None / "default": fit the embedded byte-level model on a sample
    fit_on: Any = None                  # with no model: fit the default on this corpus instead of DATA
    device: str = "auto"                # auto | cpu | cuda | mps
    cache_dir: str | None = None        # model and score cache (None: $DATAAUDIT_CACHE or ~/.cache/dataaudit)
    use_cache: bool = True              # False: score everything again and cache nothing
    split: str = "data"                 # split label recorded for DATA


class _FitProgress:
    """The byte model's fit loop and the scorer report ``progress(event, **counts)``; map that onto Progress."""

    def __init__(self, progress: Progress) -> None:
        self.p = progress

    def __call__(self, event: str, **f: Any) -> None:
        if event == "fit":
            self.p.set("fitting byte-level model", f["step"], f.get("steps"), info=f"loss {f['loss']:.3f}")
        else:
            secs = max(f.get("seconds", 0.0), 1e-9)
            self.p.set("scoring", f["docs"], None,
                       info=f"{f['tokens'] / secs:,.0f} tok/s, {f['cached']} cached")


def resolve_model(model: Any, *, fit_on: Any, device: str = "auto", cache_dir: str | None = None,
                  progress: Progress | None = None, read: ReadConfig | None = None, split: str = "data",
                  fit_on_name: str = "the training data"):
    """``(ReferenceModel, notes)``: load ``model``, or (None / "default") fit the byte-level default on a
    sample of ``fit_on`` (a path, a Table, a DocSource, record batches or strings) or load it from the cache;
    see ``dataaudit.model.resolve_model``."""
    from ..model import resolve_model as _resolve

    return _resolve(model, corpus=fit_on, corpus_name=fit_on_name, device=device, cache_dir=cache_dir,
                    read=read, split=split, progress=_FitProgress(progress or NullProgress()))


def score_stream(data: Any, *, model: Any, config: ScoreConfig | None = None, read: ReadConfig = ReadConfig(),
                 split: str = "data", out_dir: Any = None, cache_dir: str | None = None, use_cache: bool = True,
                 device: str = "auto", bad_log: BadRecordLog | None = None, progress: Progress | None = None,
                 top_n: int = 20, engine: Any = None) -> ScoreRun:
    """Score ``data`` with a loaded ``model``; see ``dataaudit.passes.score.run_score``."""
    return run_score(data, model=model, config=config, read=read, split=split, out_dir=out_dir,
                     cache_dir=cache_dir, use_cache=use_cache, device=device, bad_log=bad_log,
                     progress=_FitProgress(progress) if progress is not None else None, top_n=top_n,
                     engine=engine)


def score_corpus(data: Any, *, out_dir: str | os.PathLike | None = None, config: ScoreJobConfig = ScoreJobConfig(),
                 progress: Progress | None = None) -> Report:
    """Score every document of ``data``; publish ``scores.parquet`` + report into ``out_dir``; return the Report."""
    record = {"data": str(data) if isinstance(data, (str, os.PathLike)) else f"<{type(data).__name__}>",
              "model": config.model if isinstance(config.model, (str, type(None))) else type(config.model).__name__,
              "fit_on": str(config.fit_on) if config.fit_on is not None else None, "device": config.device,
              "read": config.read.to_dict(), "score_config": config.score.to_dict(), "top": config.top}
    notes: list[str] = []
    if config.model not in (None, "default") and config.fit_on is not None:
        notes.append("--fit-on was ignored: a model was given, so nothing is fitted.")
    with Job("score", config, record, out_dir=out_dir, inputs=[data, config.fit_on], progress=progress) as job:
        report = job.report
        bad = BadRecordLog()
        with job.phase("model"):
            fit_on = config.fit_on if config.fit_on is not None else data
            model, more = resolve_model(config.model, fit_on=fit_on, device=config.device,
                                        cache_dir=config.cache_dir, progress=job.progress,
                                        read=config.read if config.fit_on is None else None, split=config.split,
                                        fit_on_name="the data itself" if config.fit_on is None
                                        else "the --fit-on corpus")
            notes += more
        with job.phase("scoring"):
            run = score_stream(data, model=model, config=config.score, read=config.read, split=config.split,
                               out_dir=job.stage, cache_dir=config.cache_dir, use_cache=config.use_cache,
                               device=config.device, bad_log=bad, progress=job.progress, top_n=config.top,
                               engine=job.engine)
        run.notes[:0] = notes
        run.to_pass_result().apply_to(report)
        report.config["fit"] = run.meta.get("fit")
        report.bad_records = bad.to_dict()
        if bad.count:
            report.warnings.append(f"{bad.count} bad record(s) skipped; see Bad records")
        return job.finish()
