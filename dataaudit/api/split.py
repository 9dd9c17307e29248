"""The split audit: leakage between train and val/test/eval sets, duplicates inside each split, and (with a
model) validation perplexity with and without the leaked documents."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..config import JobConfig, ReadConfig
from ..errors import ConfigError
from ..io.sources import DocSource
from ..passes.containment import ContainmentConfig, run_containment
from ..passes.exact import ExactConfig, run_exact
from ..findings.explain import explain_perplexity
from ..findings.leaks import TrivialRule, mark_trivial, merge_leaks
from ..io.evalsets import EvalSource, parse_eval_spec
from ..passes.near import NearConfig, run_near
from ..passes.score import ScoreConfig
from ..progress import Progress
from ..records import BadRecordLog, Report
from ..text import DEFAULT_NORMALIZE, NormalizeConfig
from ._job import Job

FAIL_LEVELS = ("duplicate", "leak", "never")


@dataclass(frozen=True, kw_only=True)
class SplitConfig(JobConfig):
    """Settings of a split audit, recorded in its report."""

    read: ReadConfig = field(default_factory=ReadConfig)     # how every input is read
    normalize: NormalizeConfig = DEFAULT_NORMALIZE           # the one normalization all passes compare under
    exact: ExactConfig = field(default_factory=ExactConfig)
    near: NearConfig | None = field(default_factory=NearConfig)                 # None skips the MinHash pass
    containment: ContainmentConfig | None = field(default_factory=ContainmentConfig)  # None skips it
    train_split: str = "train"          # the name train is reported under; every other split is checked against it
    fail_on: str | float = "leak"       # exit-1 level (duplicate | leak | never | a leaked fraction), recorded
                                        # so a report says how it was judged
    model: Any = None                   # reference model for val perplexity with/without leaks: a local HF causal
                                        # LM or byte-LM directory, a loaded ReferenceModel, "default" (fit the
                                        # embedded byte LM on a sample of train), or None (no scoring)
    device: str = "auto"                # where the reference model runs: auto | cpu | cuda | mps
    cache_dir: str | None = None        # model and score cache (None: $DATAAUDIT_CACHE or ~/.cache/dataaudit)
    score: ScoreConfig = field(default_factory=ScoreConfig)   # how the reference model scores (windows, BOS)
    train_sample: int = 2000            # train documents scored too (chosen by content hash, so the same for
                                        # every run), to measure the train/val gap with the same model
    log: tuple[str, ...] = ()           # training logs (any format `dataaudit spikes` reads): the run's own
                                        # train and eval loss near its last eval step, stated beside ours
    log_read: dict[str, Any] = field(default_factory=dict)   # how --log is read: fmt, pattern, step_column,
                                        # metric (train loss, default "loss"), eval_metric (default: detect)
    bootstrap: int = 1000               # bootstrap replicates of the gap decomposition's 95% intervals
    eval_id_field: str | None = None    # id field of the --eval files (None: id, idx, pairID, ... when present,
                                        # else the row number); --id-column does not apply to them
    trivial: TrivialRule = field(default_factory=TrivialRule)  # which leaks are headings/boilerplate: counted
                                        # apart and kept out of the headline number and --fail-on

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.fail_on, str) and self.fail_on not in FAIL_LEVELS:
            raise ConfigError(f"--fail-on {self.fail_on!r}: use one of {list(FAIL_LEVELS)} or a fraction such as 0.01")
        if isinstance(self.fail_on, float) and not 0 <= self.fail_on <= 1:
            raise ConfigError(f"--fail-on {self.fail_on}: a fraction must be between 0 and 1")
        if not isinstance(self.train_sample, int) or self.train_sample < 0:
            raise ConfigError(f"--train-sample {self.train_sample!r}: give a number of documents >= 0")


def _eval_name(e: Any, i: int) -> str:
    e = parse_eval_spec(e)[0]
    return Path(str(e)).name.split(".")[0] if isinstance(e, (str, os.PathLike)) else f"eval{i}"


def audit_split(train: Any, val: Any = None, test: Any = None, *, evals: Sequence[Any] = (),
                out_dir: str | os.PathLike | None = None, config: SplitConfig = SplitConfig(),
                progress: Progress | None = None) -> Report:
    """Audit ``train`` against ``val``/``test``/eval sets; publish the report directory; return the Report.

    Each data argument is a path (file, directory, glob), a pyarrow Table or a ``datasets`` object. The
    report is staged inside ``out_dir`` under a lock and published at the end, so an interrupted run leaves
    the previous report as it was.

    >>> report = audit_split("train.parquet", val="val.jsonl", out_dir="audit")   # doctest: +SKIP
    >>> report.summary["leaks"]["by_split"]["val"]["leaked_docs"]                 # doctest: +SKIP
    """
    if val is None and test is None and not evals:
        raise ConfigError("nothing to compare train with: give --val, --test or --eval")
    rc = config.read
    tr = config.train_split
    sources: dict[str, DocSource] = {tr: DocSource(train, split=tr, read=rc, progress=progress)}
    for name, data in (("val", val), ("test", test)):
        if data is not None:
            sources[name] = DocSource(data, split=name, read=rc, progress=progress)
    eval_sets: dict[str, dict] = {}
    for i, e in enumerate(evals):
        name = _eval_name(e, len(sources))
        if name in sources:
            raise ConfigError(f"two inputs are both named {name!r}; rename one eval file")
        es = EvalSource(e, split=name, read=rc, default_field=rc.eval_field, id_field=config.eval_id_field,
                        progress=progress)
        sources[name] = es
        eval_sets[name] = es.describe()
    record = {"eval_sets": eval_sets, "trivial": dataclasses.asdict(config.trivial), "inputs": {k: s.name for k, s in sources.items()}, "read": rc.to_dict(),
              "normalize": config.normalize.to_dict(), "exact": dataclasses.asdict(config.exact),
              "top": config.top, "fail_on": config.fail_on, "train_split": tr, "workers": config.workers,
              "train_sample": config.train_sample, "log": list(config.log)}
    inputs = [train, val, test, *evals]
    same = _same_inputs(sources)
    with Job("split", config, record, out_dir=out_dir, inputs=inputs, progress=progress) as job:
        report, stage = job.report, job.stage
        for a, b in same:
            report.warnings.append(f"{a} and {b} are the same input ({sources[a].name}): every document of one "
                                   f"is in the other, so the leak figures below say nothing about your splits")
        with job.phase("exact"):
            run_exact(sources, stage, normalize=config.normalize, config=config.exact, top=config.top,
                      train_split=tr, engine=job.engine).apply_to(report)
            report.summary["eval_sets"] = eval_sets
        if config.near is not None:
            with job.phase("near"):
                run_near(sources, config.near, stage, normalize=config.normalize, top=config.top, train_split=tr,
                         engine=job.engine, progress=job.progress).apply_to(report)
        if config.containment is not None:
            small = {k: s for k, s in sources.items() if k != tr}
            with job.phase("containment"):
                run_containment(small, sources[tr], config.containment, stage, normalize=config.normalize,
                                top=config.top, train_split=tr, progress=job.progress,
                                engine=job.engine).apply_to(report)
        bad = {k: s.bad_log for k, s in sources.items() if s.bad_log is not None}
        total = sum(bad.values(), BadRecordLog())
        report.bad_records = {"count": total.count, "by_split": {k: b.count for k, b in bad.items()},
                              "examples": [e.to_dict() for e in total.examples]}
        report.summary["documents"] = {k: s.docs for k, s in sources.items()}
        with job.phase("merge leaks"):
            merge_leaks(stage, report.files, report.summary["documents"], train_split=tr, top=config.top,
                        sources={k: s for k, s in sources.items() if k != tr}, normalize=config.normalize,
                        trivial=config.trivial).apply_to(report)
            mark_trivial(stage, report.files, (report.findings.get("exact") or {}).get("leaks") or [])
        report.summary["leaked_docs"] = report.summary["leaks"]["leaked_docs"]
        if config.model is not None:
            with job.phase("perplexity"):
                _perplexity(sources, config, job).apply_to(report)
        return job.finish()


def _perplexity(sources: dict[str, DocSource], config: SplitConfig, job: Job):
    """Score the non-train splits (and a hash-chosen sample of train) with the reference model; perplexity
    with and without the leaked documents, the train/val gap and the share the leaks explain."""
    from ..passes.score import check_comparable
    from .score import resolve_model, score_stream

    tr = config.train_split
    model, notes = resolve_model(config.model, fit_on=sources[tr], device=config.device,
                                 cache_dir=config.cache_dir, progress=job.progress)
    small = [s for k, s in sources.items() if k != tr]
    where: dict[tuple[str, str], str] = {}

    def batches():
        for s in small:
            for b in s():
                where.update(zip(zip(b.column("split").to_pylist(), b.column("doc_id").to_pylist()),
                                 b.column("source").to_pylist()))
                yield b

    run = score_stream(batches(), model=model, config=config.score, device=config.device, out_dir=job.stage,
                       cache_dir=config.cache_dir, progress=job.progress)
    scores = _with_source(run.table, where)
    train_scores = None
    if config.train_sample:
        sample = train_sample(sources[tr], config.train_sample)
        trun = score_stream([(d, t) for d, t, _ in sample], model=model, config=config.score, split=tr,
                            device=config.device, cache_dir=config.cache_dir, progress=job.progress)
        check_comparable(run.meta, trun.meta)        # same model, tokenizer and settings, or refuse
        train_scores = _with_source(trun.table, {(tr, d): src for d, _, src in sample})
        from ..io.atomic import write_parquet_atomic

        write_parquet_atomic(job.stage / "train_sample_scores.parquet", train_scores)
        notes.append(f"Train: a sample of {len(sample)} documents (the smallest content hashes, so the same "
                     f"sample every run) scored with the same model and settings.")
    logged = logged_losses(config.log, **config.log_read) if config.log else None
    res = explain_perplexity(scores, job.stage / "leaks.parquet", run.meta["model"], train_scores=train_scores,
                             reps=config.bootstrap, logged=logged)
    res.files["scores"] = "scores.parquet"
    if train_scores is not None:
        res.files["scores of the train sample"] = "train_sample_scores.parquet"
    res.config = {"model": run.meta["model"], "settings": run.meta["settings"]}
    res.summary["notes"] = notes + run.notes
    return res


def _with_source(table, where: dict[tuple[str, str], str]):
    import pyarrow as pa

    keys = zip(table["split"].to_pylist(), table["doc_id"].to_pylist())
    return table.append_column("source", pa.array([where.get(k, "") for k in keys], pa.string()))


def train_sample(source: DocSource, n: int) -> list[tuple[str, str, str]]:
    """The ``n`` train documents with the smallest xxh3-64 of their text: (doc_id, text, source), in hash
    order. Order-independent (the same sample however the files are batched), memory bounded by ``n``."""
    import heapq

    import xxhash

    heap: list[tuple[int, str, str, str]] = []        # max-heap by hash (negated)
    for b in source():
        for d, t, src in zip(b.column("doc_id").to_pylist(), b.column("text").to_pylist(),
                             b.column("source").to_pylist()):
            if not t:
                continue
            h = xxhash.xxh3_64_intdigest(t.encode("utf-8", "surrogatepass"))
            if len(heap) < n:
                heapq.heappush(heap, (-h, d, t, src))
            elif -heap[0][0] > h:
                heapq.heapreplace(heap, (-h, d, t, src))
    return [(d, t, src) for _, d, t, src in sorted(heap, key=lambda x: -x[0])]


def logged_losses(paths: Sequence[str], *, fmt: str | None = None, pattern: str | None = None,
                  step_column: str | None = None, metric: str | None = "loss",
                  eval_metric: str | None = None) -> dict[str, Any] | None:
    """The train and eval loss the run logged near its last eval step (what the user saw)."""
    import numpy as np

    from ..logs.analysis import EVAL_ALIASES, LOSS_ALIASES
    from ..logs.readers import read_logs

    t = read_logs(list(paths), fmt, pattern=pattern, step_column=step_column)
    metrics = set(t["metric"].to_pylist())
    tm = metric if metric in metrics else next((m for m in LOSS_ALIASES if m in metrics), None) \
        if metric in (None, "loss") else None
    em = eval_metric if eval_metric in metrics else next((m for m in EVAL_ALIASES if m in metrics), None) \
        if eval_metric is None else None
    if tm is None or em is None:
        raise ConfigError(f"--log {', '.join(map(str, paths))}: needs both a train loss and an eval loss; found "
                          f"metrics {sorted(metrics)[:20]}. Name them with --metric and --eval-metric")
    m = np.array(t["metric"].to_pylist(), dtype=object)
    steps, vals = t["step"].to_numpy(), t["value"].to_numpy()
    es, ev = steps[m == em], vals[m == em]
    ok = np.isfinite(ev)
    if not ok.any():
        raise ConfigError(f"--log: the eval loss {em!r} has no finite value")
    i = int(np.flatnonzero(ok)[-1])
    step = int(es[i])
    ts, tv = steps[m == tm], vals[m == tm]
    near = np.isfinite(tv) & (ts <= step)
    recent = tv[near][-10:] if near.any() else tv[np.isfinite(tv)][-10:]
    return {"step": step, "eval_metric": em, "eval_loss": float(ev[i]), "train_metric": tm,
            "train_loss": float(np.mean(recent)) if recent.size else None,
            "train_points": int(recent.size), "logs": [str(p) for p in paths]}


def _same_inputs(sources: dict[str, DocSource]) -> list[tuple[str, str]]:
    """Pairs of splits given the same file or directory."""
    seen: dict[str, str] = {}
    out = []
    for name, s in sources.items():
        if isinstance(s.data, (str, os.PathLike)):
            key = os.path.realpath(str(s.data))
            if key in seen:
                out.append((seen[key], name))
            else:
                seen[key] = name
    return out


def exit_code(report: Report, fail_on: str | float) -> int:
    """0 when nothing reaches ``fail_on``, 1 when something does."""
    if fail_on == "never":
        return 0
    if isinstance(fail_on, float):
        fracs = [c["leaked_doc_fraction"] for c in report.summary["leaks"]["by_split"].values()]
        return int(bool(fracs) and max(fracs) >= fail_on and max(fracs) > 0)
    if report.summary.get("leaked_docs", 0):
        return 1
    if fail_on == "duplicate" and report.summary["exact"]["duplicate_groups"]:
        return 1
    return 0
