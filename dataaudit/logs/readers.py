"""``read_logs``: any supported training log(s) -> one long Arrow table (see ``table.LOG_SCHEMA``).

The format is detected from the path (and, for text, the first lines) and can be forced with ``fmt``:

=================  ==========================================================================
fmt                what
=================  ==========================================================================
tensorboard        ``*tfevents*`` files, or a directory holding them (each subdirectory is a run)
trainer_state      transformers ``trainer_state.json`` (or a checkpoint directory holding one)
lightning          Lightning CSVLogger ``metrics.csv`` (or its ``version_N`` directory)
mlflow             MLflow file store: ``mlruns/``, an experiment or a run directory
mlflow-sqlite      MLflow SQLite tracking database (``*.db``, ``*.sqlite``)
wandb              W&B exported history (CSV/Parquet with ``_step``) or a local run directory
megatron           Megatron / Megatron-DeepSpeed text logs (Markdown: one run per code block)
nanogpt            nanoGPT / modded-nanogpt ``step:N/M train_loss:X`` lines
regex              any text log, with ``pattern`` (named groups: ``step`` + one per metric)
csv, jsonl, parquet  generic rows with a step column (``step_column``) and metric columns
=================  ==========================================================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, LogError
from ..records import BadRecordLog
from . import blocks as _blocks
from . import mlflow as _mlflow
from . import structured as _st
from . import text as _text
from . import tfevents as _tb
from .table import LogBuilder

FORMATS = ("tensorboard", "trainer_state", "lightning", "mlflow", "mlflow-sqlite", "wandb", "megatron",
           "nanogpt", "regex", "csv", "jsonl", "parquet")


def _csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return [c.strip() for c in f.readline().strip().split(",")]


def detect_format(path: str | os.PathLike) -> str:
    """Guess the log format of ``path``; raises LogError with the list of formats when it cannot."""
    p = Path(path)
    if not p.exists():
        raise LogError(f"log {p} does not exist")
    if p.is_dir():
        if any(_tb.is_event_file(q) for q in p.rglob("*tfevents*")):
            return "tensorboard"
        if (p / "trainer_state.json").exists():
            return "trainer_state"
        if (p / "metrics.csv").exists():
            return "lightning"
        if (p / "files" / "wandb-summary.json").exists() or (p / "files" / "wandb-history.jsonl").exists() \
                or (p / "wandb-summary.json").exists():
            return "wandb"
        if _mlflow.mlflow_run_dirs(p):
            return "mlflow"
        raise LogError(f"cannot tell the log format of directory {p}; pass --log-format, one of {FORMATS}")
    name, suf = p.name.lower(), p.suffix.lower()
    if _tb.is_event_file(p):
        return "tensorboard"
    if name == "trainer_state.json":
        return "trainer_state"
    if suf in (".db", ".sqlite", ".sqlite3"):
        return "mlflow-sqlite"
    if suf == ".csv":
        head = _csv_header(p)
        if "_step" in head:
            return "wandb"
        if name == "metrics.csv" and "step" in head and "epoch" in head:
            return "lightning"
        return "csv"
    if suf == ".parquet":
        import pyarrow.parquet as pq

        return "wandb" if "_step" in pq.read_schema(p).names else "parquet"
    if suf in (".jsonl", ".ndjson"):
        return "jsonl"
    if suf == ".json":
        try:
            with open(p, encoding="utf-8") as f:
                head = f.read(4096)
            if '"log_history"' in head or '"best_metric"' in head:
                return "trainer_state"
        except OSError:
            pass
        return "jsonl"
    kind = _text.sniff_text(p)
    if kind:
        return kind
    raise LogError(f"cannot tell the log format of {p}: no Megatron 'iteration N/ M |' or nanoGPT "
                   f"'step:N/M' lines. Pass --log-format (one of {FORMATS}) or --log-format regex "
                   f"--pattern 'step (?P<step>\\d+) loss (?P<loss>\\S+)'")


def read_log(path: str | os.PathLike, fmt: str | None = None, *, builder: LogBuilder | None = None,
             run: str | None = None, pattern: str | None = None, step_column: str | None = None,
             metrics: Sequence[str] | None = None, check_crc: bool = True, on_bad: str = "skip") -> LogBuilder:
    """Read one log path into ``builder`` (a new one if None) and return the builder."""
    b = builder if builder is not None else LogBuilder()
    p = Path(path)
    if not p.exists():
        raise LogError(f"log {p} does not exist")
    fmt = fmt or detect_format(p)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown log format {fmt!r}; choose one of {FORMATS}")
    if pattern and fmt != "regex":
        raise ConfigError("--pattern is only used with --log-format regex")
    ml = list(metrics) if metrics else None
    if fmt == "tensorboard":
        _tb.read_tfevents(p, b, run=run, check_crc=check_crc, on_bad=on_bad)
    elif fmt == "trainer_state":
        _st.read_trainer_state(p / "trainer_state.json" if p.is_dir() else p, b, run=run)
    elif fmt == "lightning":
        f = p / "metrics.csv" if p.is_dir() else p
        _st.read_table_rows(f, b, fmt="lightning", run=run or f.parent.name, step_column=step_column or "step",
                            metrics=ml)
    elif fmt == "mlflow":
        _mlflow.read_mlflow_files(p, b, run=run)
    elif fmt == "mlflow-sqlite":
        _mlflow.read_mlflow_sqlite(p, b, run=run)
    elif fmt == "wandb":
        if p.is_dir():
            _st.read_wandb_dir(p, b, run=run)
        else:
            _st.read_table_rows(p, b, fmt="wandb", run=run, step_column=step_column or "_step", metrics=ml)
    elif fmt == "megatron":
        _blocks.read_megatron(p, b, run=run)
    elif fmt == "nanogpt":
        _blocks.read_nanogpt(p, b, run=run)
    elif fmt == "regex":
        if not pattern:
            raise ConfigError("--log-format regex needs --pattern with named groups, e.g. "
                              r"'step (?P<step>\d+) loss (?P<loss>\S+)'")
        _text.read_regex(p, b, pattern=pattern, run=run)
    else:  # csv / jsonl / parquet
        _st.read_table_rows(p, b, fmt=fmt, run=run, step_column=step_column, metrics=ml)
    if on_bad == "fail" and b.bad.count:
        e = b.bad.examples[0]
        where = f" line {e.line}" if e.line is not None else (f" row {e.row}" if e.row is not None else "")
        raise LogError(f"{e.source}{where}: {e.reason} (--on-bad-record fail; use skip to count and go on)")
    return b


def read_logs(paths: str | os.PathLike | Sequence[str | os.PathLike], fmt: str | None = None, *,
              pattern: str | None = None, step_column: str | None = None, metrics: Sequence[str] | None = None,
              check_crc: bool = True, on_bad: str = "skip", bad_records: BadRecordLog | None = None) -> pa.Table:
    """Read training logs into one long table ``run, step, metric, value, wall_time``.

    Rows keep log order within each run (steps going backwards stay). Run information and the
    bad-record log are in the schema metadata (``dataaudit.logs.log_metadata(table)``); pass
    ``bad_records`` to also collect them into your own log. ``on_bad='fail'`` raises on the first bad
    record instead of counting it.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ConfigError("no log given; pass --log PATH (a file or a directory)")
    if on_bad not in ("skip", "fail"):
        raise ConfigError(f"on_bad={on_bad!r}; choose 'skip' or 'fail'")
    b = LogBuilder(bad_records)
    for p in map(Path, paths):
        part = read_log(p, fmt, pattern=pattern, step_column=step_column, metrics=metrics,
                        check_crc=check_crc, on_bad=on_bad)
        rename = {}
        for name in part.runs:
            new, k = name, 2
            while new in b.runs:  # the same run name from two paths (two metrics.csv in version_0/...)
                new = f"{p.parent.name}/{name}" if k == 2 else f"{name}#{k}"
                k += 1
            rename[name] = new
        for name, info in part.runs.items():
            b.runs[rename[name]] = info
        rows = part.rows()
        if any(k != v for k, v in rename.items()):
            enc = pc.dictionary_encode(rows["run"]).combine_chunks()
            names = pa.array([rename.get(x, x) for x in enc.dictionary.to_pylist()], pa.string())
            rows = rows.set_column(0, "run", pc.take(names, enc.indices))
        b.add_table(rows)
        for e in part.bad.examples:
            b.bad.add(e)
        b.bad.count += part.bad.count - len(part.bad.examples)
    if len(b) == 0:
        raise LogError(f"no points read from {[str(p) for p in paths]}; "
                       f"{b.bad.count} line(s) could not be read" + (
                           f", first: {b.bad.examples[0].reason}" if b.bad.examples else ""))
    return b.table()


__all__ = ["FORMATS", "detect_format", "read_log", "read_logs"]
