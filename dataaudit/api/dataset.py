"""The dataset report: what is in this corpus. Per-document signals (size, Gopher, C4, FineWeb, repetition,
runs; bits per byte with a model; exact and near duplicate membership) in ``docs.parquet`` keyed by doc_id,
beside the data (never editing it, as Dolma's attributes), and a corpus summary of fixed size (counts,
pre-binned histograms, top-k outliers, alerts) for report.json / report.md / report.html."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from ..config import JobConfig, ReadConfig
from ..errors import ConfigError
from ..io.common import recut
from ..io.sources import DocSource
from ..passes.exact import ExactConfig, run_exact
from ..passes.near import NearConfig, run_near
from ..passes.score import ScoreConfig
from ..passes.signals import DEFAULT_SIGNALS, Histogram, Outliers, SignalsConfig, SignalsSummary
from ..passes.signals.task import check_tokenizer, empty_signals, init_signals, signals_piece, signals_task
from ..progress import Progress
from ..records import Report
from ..text import DEFAULT_NORMALIZE, NormalizeConfig
from ._job import Job

FAIL_LEVELS = ("alert", "never")
BPB_BINS = tuple(round(i * 0.25, 2) for i in range(0, 41))     # 0 .. 10 bits per byte
EXCERPT = 300


@dataclass(frozen=True, kw_only=True)
class DatasetConfig(JobConfig):
    """Settings of ``dataaudit report``, recorded in the report."""

    read: ReadConfig = field(default_factory=ReadConfig)
    normalize: NormalizeConfig = DEFAULT_NORMALIZE            # for the duplicate passes
    exact: ExactConfig = field(default_factory=ExactConfig)
    near: NearConfig | None = field(default_factory=lambda: NearConfig(mode="within"))  # None skips near dups
    signals: SignalsConfig = DEFAULT_SIGNALS
    model: Any = None                    # reference model for bits per byte: DIR, 'default' (fit the byte LM), None
    tokenizer: str | None = None         # HF tokenizer DIR for the tokens column (tokenization only, no model)
    device: str = "auto"
    cache_dir: str | None = None
    score: ScoreConfig = field(default_factory=ScoreConfig)
    fail_on: str = "never"               # 'alert': exit 1 when the report raises an alert
    alert_share: float = 0.01            # a share of documents at or above this makes an alert

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fail_on not in FAIL_LEVELS:
            raise ConfigError(f"--fail-on {self.fail_on!r}: choose one of {list(FAIL_LEVELS)}")


def dataset_report(data: Any, *, out_dir: str | os.PathLike | None = None, config: DatasetConfig = DatasetConfig(),
                   progress: Progress | None = None) -> Report:
    """Report on the corpus ``data``: publish docs.parquet and the report into ``out_dir``; return the Report."""
    if config.tokenizer is not None:
        check_tokenizer(config.tokenizer)
    src = DocSource(data, split="data", read=config.read, progress=progress)
    record = {"data": src.name, "read": config.read.to_dict(), "normalize": config.normalize.to_dict(),
              "near": config.near.to_dict() if config.near else None, "top": config.top, "fail_on": config.fail_on,
              "signals": dataclasses.asdict(config.signals), "alert_share": config.alert_share,
              "tokenizer": os.fspath(config.tokenizer) if config.tokenizer is not None else None}
    with Job("report", config, record, out_dir=out_dir, inputs=[data], progress=progress) as job:
        report, stage = job.report, job.stage
        with job.phase("exact"):
            run_exact({"data": src}, stage, normalize=config.normalize, config=config.exact, top=config.top,
                      train_split="\x00none", engine=job.engine).apply_to(report)
        groups = _exact_groups(stage / "exact_duplicates.parquet")
        clusters: dict[str, int] = {}
        if config.near is not None:
            with job.phase("near"):
                run_near({"data": src}, config.near, stage, normalize=config.normalize, top=config.top,
                         train_split="\x00none", engine=job.engine, progress=job.progress).apply_to(report)
            clusters = _near_clusters(stage / "near_clusters.parquet")
        scores = None
        if config.model is not None:
            with job.phase("scoring"):
                scores = _score(src, config, job)
        with job.phase("signals"):
            _signals(src, config, job, groups, clusters, scores)
        report.summary["documents"] = src.docs
        report.bad_records = {"count": src.bad_log.count if src.bad_log else 0,
                              "examples": [e.to_dict() for e in (src.bad_log.examples if src.bad_log else [])]}
        with job.phase("excerpts"):
            _excerpts(src, report, job.engine)
        report.summary["alerts"] = alerts(report, config.alert_share)
        return job.finish()


def _exact_groups(path) -> dict[str, str]:
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["doc_id", "group_id"])
    return dict(zip(t["doc_id"].to_pylist(), t["group_id"].to_pylist()))


def _near_clusters(path) -> dict[str, int]:
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["doc_id", "cluster_id"])
    return dict(zip(t["doc_id"].to_pylist(), t["cluster_id"].to_pylist()))


def _score(src: DocSource, config: DatasetConfig, job: Job):
    from .score import resolve_model, score_stream

    model, notes = resolve_model(config.model, fit_on=src, device=config.device, cache_dir=config.cache_dir,
                                 progress=job.progress, read=config.read)
    run = score_stream(src(), model=model, config=config.score, device=config.device, out_dir=job.stage,
                       cache_dir=config.cache_dir, progress=job.progress, top_n=config.top, engine=job.engine)
    pr = run.to_pass_result()
    pr.summary["notes"] = notes + pr.summary.get("notes", [])
    pr.apply_to(job.report)
    return run.table


SCORE_COLS = ("n_tokens", "ppl", "bits_per_byte", "worst_start", "worst_end", "worst_bpb", "best_start", "best_end",
              "best_bpb")


def _signals(src: DocSource, config: DatasetConfig, job: Job, groups: dict[str, str], clusters: dict[str, int],
             scores: pa.Table | None) -> None:
    import pyarrow.parquet as pq

    summary, outliers = SignalsSummary(), Outliers(k=config.top)
    by_source: dict[str, dict[str, int]] = {}
    bpb_hist = None
    writer = None
    pos = 0
    tokens: int | None = 0 if (config.tokenizer is not None or scores is not None) else None
    # absolute: the workers of a cluster started elsewhere (`ray start`) do not run in our directory
    tok_dir = os.path.abspath(os.fspath(config.tokenizer)) if config.tokenizer is not None else None
    tables = _signal_tables(src, config, job, tok_dir)      # a generator: nothing starts before the loop
    try:
        # the tables come in the local reader's order on every engine; re-cut to ``read.batch_size`` rows
        # before anything else, so row groups, ``pos`` and what follows do not depend on how a shard read or
        # the local reader cut its batches: docs.parquet is the same for any --workers and --engine
        for t in recut(tables, config.read.batch_size):
            t = _annotate(t, groups, clusters, scores, pos, tok_dir is None).combine_chunks()
            if scores is not None:
                h = Histogram.of(t.column("bits_per_byte"), BPB_BINS)
                bpb_hist = h if bpb_hist is None else bpb_hist + h
            pos += t.num_rows
            if tokens is not None:
                tokens += int(pc.sum(t.column("tokens")).as_py() or 0)
            if writer is None:
                writer = pq.ParquetWriter(job.stage / "docs.parquet", t.schema, compression="zstd")
            writer.write_table(t)
            summary = summary + SignalsSummary.of(t)
            outliers = outliers.add(t)
            for s, nb, fl in zip(t.column("source").to_pylist(), t.column("n_bytes").to_pylist(),
                                 t.column("flags").to_pylist()):
                d = by_source.setdefault(s, {"documents": 0, "bytes": 0, "flagged": 0})
                d["documents"] += 1
                d["bytes"] += nb
                d["flagged"] += bool(fl)
        if writer is None:                   # no documents: the file with its columns and no rows
            t = _annotate(empty_signals(), groups, clusters, scores, 0, tok_dir is None)
            writer = pq.ParquetWriter(job.stage / "docs.parquet", t.schema, compression="zstd")
            writer.write_table(t)
    finally:
        tables.close()                       # the workers go now, also when a table failed above
        if writer is not None:
            writer.close()
    r = job.report
    r.summary["signals"] = summary.to_dict() | {"ranges": outliers.ranges_dict()}
    r.summary["tokens"] = tokens
    r.summary["tokens_from"] = ("tokenizer" if tok_dir is not None else "model" if scores is not None else None)
    if bpb_hist is not None:
        r.summary["signals"]["histograms"]["bits_per_byte"] = bpb_hist.to_dict()
    r.summary["sources"] = by_source if len(by_source) > 1 else {}
    r.findings["outliers"] = outliers.to_dict()
    r.files["per-document signals, duplicates and scores (keyed by doc_id)"] = "docs.parquet"


def _signal_tables(src: DocSource, config: DatasetConfig, job: Job, tok_dir: str | None) -> Iterator[pa.Table]:
    """The signals tables of ``src`` in the local reader's order. With read tasks (``--engine ray``) one task
    per piece (``engine/pieces.py``): the workers read their shards and send back signal columns only; else
    one task per batch the driver read. The tokenizer initializer runs once per worker either way."""
    from ..engine.pieces import Pieces, uses_read_tasks

    with job.engine.pool(init_signals, (config.signals, tok_dir)) as pool:
        if uses_read_tasks(job.engine):
            for tables in Pieces(job.engine, pool, src).map(signals_piece):
                yield from tables
        else:
            yield from pool.map(signals_task, src())


def _annotate(t: pa.Table, groups: dict[str, str], clusters: dict[str, int], scores: pa.Table | None, pos: int,
              tokens_from_model: bool) -> pa.Table:
    """A signals table plus duplicate membership and, with a model, its scores (rows ``pos`` onwards)."""
    ids = t.column("doc_id").to_pylist()
    t = t.append_column("exact_group", pa.array([groups.get(i) for i in ids], pa.string()))
    t = t.append_column("near_cluster", pa.array([clusters.get(i) for i in ids], pa.int64()))
    if scores is not None:
        part = scores.slice(pos, t.num_rows)
        for c in SCORE_COLS:
            t = t.append_column(c, part.column(c))
        if tokens_from_model:        # the tokens the model scored (its tokenizer; BOS excluded)
            t = t.set_column(t.schema.get_field_index("tokens"), "tokens", part.column("n_tokens"))
    return t


def excerpts_piece(batches, want: frozenset) -> dict[str, str]:
    """The excerpts of the documents of ``batches`` whose doc_id is in ``want`` (the first of each id)."""
    out: dict[str, str] = {}
    for b in batches:
        for d, t in zip(b.column("doc_id").to_pylist(), b.column("text").to_pylist()):
            if d in want and d not in out:
                out[d] = t[:EXCERPT]
    return out


def _excerpts(src: DocSource, report: Report, engine: Any = None) -> None:
    """Texts of the listed documents only (outliers, largest duplicate groups): a bounded second look. With
    read tasks (``--engine ray``) the workers look in their own shards and send back the excerpts only; else
    the driver reads until it has them all. Either way the first document of an id gives its excerpt."""
    want: set[str] = set()
    for sides in report.findings.get("outliers", {}).values():
        for rows in sides.values():
            want |= {r["doc_id"] for r in rows}
    for g in (report.findings.get("exact") or {}).get("duplicate_groups", []):
        want.add(g["first_doc_id"])
    for c in (report.findings.get("near") or {}).get("clusters", []):
        want.add(c["first_doc_id"])
    if not want:
        return
    from ..engine.pieces import Pieces, uses_read_tasks

    texts: dict[str, str] = {}
    if engine is not None and uses_read_tasks(engine):
        with engine.pool() as pool:
            for found in Pieces(engine, pool, src).map(excerpts_piece, frozenset(want), account=False):
                for d, t in found.items():
                    texts.setdefault(d, t)
    else:
        for b in src():
            for d, t in excerpts_piece([b], frozenset(want - texts.keys())).items():
                texts.setdefault(d, t)
            if len(texts) == len(want):
                break
    for sides in report.findings.get("outliers", {}).values():
        for rows in sides.values():
            for r in rows:
                r["excerpt"] = texts.get(r["doc_id"], "")
    for g in (report.findings.get("exact") or {}).get("duplicate_groups", []):
        g["excerpt"] = texts.get(g["first_doc_id"], "")
    for c in (report.findings.get("near") or {}).get("clusters", []):
        c["excerpt"] = texts.get(c["first_doc_id"], "")


RULE_WORDS = {"gopher_quality": "Gopher quality", "gopher_repetition": "Gopher repetition", "c4": "C4",
              "fineweb": "FineWeb"}


def rule_family(rule: str) -> str:
    """The filter a rule name belongs to (Gopher repetition rules are the duplicate and n-gram ones)."""
    import re

    if rule.startswith("gopher_"):
        return "gopher_repetition" if re.match(r"gopher_(dup_|top_|empty)", rule) else "gopher_quality"
    return rule.split("_", 1)[0] if rule.startswith(("c4_", "fineweb_")) else "extra"


def _size(n: int) -> str:
    """Bytes in words a reader takes in at a glance: ``312 B``, ``4.1 KB``, ``2.35 MB``, ``1.20 GB`` (SI units)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}" if unit != "KB" else f"{n / scale:.1f} KB"
    return f"{int(n)} B"


def alerts(report: Report, share: float) -> list[dict[str, Any]]:
    """What a person should look at first, in words, with the numbers (each a dict: kind, share, text)."""
    s = report.summary
    n = max(s.get("documents", 0), 1)
    out = []
    ex = (s.get("exact") or {}).get("splits", {}).get("data")
    if ex and ex["dup_docs"] / n >= share:
        out.append({"kind": "exact_duplicates", "share": ex["dup_docs"] / n,
                    "text": f"{ex['dup_docs'] / n:.1%} of documents are exact duplicates of another "
                            f"({ex['dup_docs']} documents, {_size(ex['dup_bytes'])}) in {ex['dup_groups']} groups"})
    nr = s.get("near")
    if nr and nr.get("verified_pairs"):
        out.append({"kind": "near_duplicates", "share": None,
                    "text": f"{nr['verified_pairs']} verified near-duplicate pairs in {nr['clusters']} clusters "
                            f"(largest {nr['largest_cluster']} documents)"})
    sig = s.get("signals") or {}
    rules = sig.get("rules", {})
    for f, cnt in (sig.get("fails") or {}).items():
        if cnt / n >= share:
            top = [r for r in rules if rule_family(r) == f][:2]
            out.append({"kind": f"fails_{f}", "share": cnt / n,
                        "text": f"{cnt / n:.1%} of documents fail {RULE_WORDS.get(f, f)}"
                                + (f": mostly {', '.join(top)}" if top else "")})
    runs = sig.get("histograms", {}).get("longest_run")
    if runs:
        big = sum(c for e, c in zip(runs["edges"], runs["counts"]) if e >= 1024) + runs["above"]
        if big:
            out.append({"kind": "long_runs", "share": big / n,
                        "text": f"{big} documents hold a run of 1,024+ copies of one character"})
    enc = sig.get("histograms", {}).get("encoded_share")
    if enc:
        hi = sum(c for e, c in zip(enc["edges"], enc["counts"]) if e >= 0.5) + enc["above"]
        if hi / n >= share or hi >= 10:
            out.append({"kind": "encoded", "share": hi / n,
                        "text": f"{hi} documents are half or more base64/hex-like text"})
    return out
