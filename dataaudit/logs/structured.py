"""Structured logs: HF Trainer state, Lightning CSVLogger, W&B exports/run dirs, generic CSV/JSONL/Parquet.

* ``trainer_state.json`` (transformers ``TrainerState.save_to_json``): ``log_history`` is a list of dicts
  with ``step`` and ``epoch`` and either train keys (``loss``, ``grad_norm``, ``learning_rate``) or eval
  keys (``eval_loss``, ``eval_runtime``...). ``logging_steps`` > 1 means each train ``loss`` is the mean
  over that many steps (Trainer accumulates ``tr_loss`` between logs), which hides one-step spikes.
* Lightning ``CSVLogger`` ``metrics.csv``: one row per ``log_metrics`` call, columns ``epoch``, ``step``
  and every metric ever logged; cells of metrics not logged in that call are empty (sparse columns).
* W&B: an exported history (CSV or Parquet; ``_step`` is the step, ``_timestamp`` the wall time) and a
  local run directory ``wandb/run-*/files/`` (``wandb-history.jsonl`` when present; ``wandb-summary.json``
  only holds final values and is read as one point per metric at ``_step``).
* Generic CSV / JSONL / Parquet: one row per step, ``step_column`` names the step, every other numeric
  column (or the ones in ``metrics``) is a metric.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Iterable

from ..errors import LogError
from .table import LogBuilder

_STEP_CANDIDATES = ("step", "_step", "global_step", "iteration", "iter", "trainer/global_step")
_TIME_CANDIDATES = ("wall_time", "_timestamp", "timestamp", "time")
_SKIP = {"epoch", "_runtime", "_timestamp", "timestamp", "wall_time", "time"}


def _number(v: Any) -> float | None:
    """A float for numbers and numeric strings ('nan' and 'inf' included); None for empty/other."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        try:
            return float(s)
        except ValueError:
            return None
    return None


def read_trainer_state(path: Path, builder: LogBuilder, *, run: str | None = None) -> None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise LogError(f"{path}: not valid JSON at line {e.lineno} column {e.colno}: {e.msg}; "
                       f"is the file truncated?") from None
    if not isinstance(state, dict) or "log_history" not in state:
        raise LogError(f"{path}: no 'log_history' key; this is not a transformers trainer_state.json")
    name = run or (path.parent.name if path.parent.name else path.stem)
    info = builder.info(name, path, "trainer_state")
    ls = state.get("logging_steps")
    if isinstance(ls, (int, float)) and ls > 1:
        info.averaged_over = int(ls)
    for i, entry in enumerate(state["log_history"]):
        if not isinstance(entry, dict) or "step" not in entry:
            builder.bad_record(str(path), "log_history entry without 'step'", row=i)
            continue
        step = int(entry["step"])
        for k, v in entry.items():
            if k in ("step", "epoch"):
                continue
            x = _number(v)
            if x is None:
                if not isinstance(v, str) and v is not None and not isinstance(v, (dict, list)):
                    builder.bad_record(str(path), f"log_history[{i}].{k} = {v!r} is not a number", row=i)
                continue
            builder.add(name, step, k, x)


def _rows_csv(path: Path) -> tuple[list[str], Iterable[tuple[int, dict[str, str]]]]:
    f = open(path, newline="", encoding="utf-8", errors="replace")
    reader = csv.DictReader(f)
    header = reader.fieldnames or []

    def gen():
        with f:
            for i, row in enumerate(reader):
                yield i + 2, row  # line 1 is the header
    return list(header), gen()


def _rows_jsonl(path: Path, builder: LogBuilder):
    def gen():
        with open(path, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    builder.bad_record(str(path), f"invalid JSON ({e.msg})", line=lineno)
                    continue
                if not isinstance(obj, dict):
                    builder.bad_record(str(path), "JSON line is not an object", line=lineno)
                    continue
                yield lineno, obj
    return gen()


def _rows_parquet(path: Path):
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    header = pf.schema_arrow.names

    def gen():
        row = 0
        for batch in pf.iter_batches(batch_size=65536):
            for rec in batch.to_pylist():
                row += 1
                yield row, rec
    return header, gen()


def read_table_rows(path: Path, builder: LogBuilder, *, fmt: str, run: str | None = None,
                    step_column: str | None = None, metrics: list[str] | None = None,
                    time_column: str | None = None) -> None:
    """Generic wide rows -> long points. ``fmt`` in csv / jsonl / parquet / lightning / wandb."""
    name = run or (path.parent.name if fmt == "lightning" else path.stem)
    if path.suffix == ".parquet":
        header, rows = _rows_parquet(path)
    elif path.suffix in (".jsonl", ".json", ".ndjson"):
        header, rows = None, _rows_jsonl(path, builder)
    else:
        header, rows = _rows_csv(path)
    builder.info(name, path, fmt)
    step_col = step_column
    tcol = time_column
    loc = "row" if path.suffix == ".parquet" else "line"
    n = 0
    first = True
    for where, row in rows:
        if first:
            first = False
            keys = header or list(row)
            step_col = step_col or next((c for c in _STEP_CANDIDATES if c in keys), None)
            if step_col is None or step_col not in keys:
                raise LogError(f"{path}: no step column {step_col or ''} among {list(keys)[:20]}; "
                               f"pass --step-column NAME")
            tcol = tcol or next((c for c in _TIME_CANDIDATES if c in keys), None)
        kw = {loc: where}
        s = _number(row.get(step_col))
        if s is None or not math.isfinite(s):
            if row.get(step_col) not in (None, ""):
                builder.bad_record(str(path), f"{step_col} = {row.get(step_col)!r} is not a number", **kw)
            else:
                builder.bad_record(str(path), f"row has no value in step column {step_col!r}", **kw)
            continue
        wall = _number(row.get(tcol)) if tcol else None
        if wall is not None and wall > 1e11:  # milliseconds since the epoch
            wall /= 1000.0
        cols = metrics if metrics else [k for k in row if k != step_col and k not in _SKIP]
        for k in cols:
            v = row.get(k)
            x = _number(v)
            if x is None:
                if isinstance(v, str) and v.strip() and metrics:
                    builder.bad_record(str(path), f"{k} = {v!r} is not a number", **kw)
                continue
            builder.add(name, int(s), k, x, math.nan if wall is None else wall)
            n += 1
    if first:
        raise LogError(f"{path}: no rows")
    if metrics:
        missing = [m for m in metrics if header is not None and m not in header]
        if missing:
            raise LogError(f"{path}: metric column(s) {missing} not found; available: {header}")


def read_wandb_dir(path: Path, builder: LogBuilder, *, run: str | None = None) -> None:
    """A local W&B run directory (``wandb/run-<date>-<id>`` or its ``files/``)."""
    files = path / "files" if (path / "files").is_dir() else path
    name = run or (path.name.split("-")[-1] if path.name.startswith(("run-", "offline-run-")) else path.name)
    hist = files / "wandb-history.jsonl"
    summ = files / "wandb-summary.json"
    if hist.exists():
        read_table_rows(hist, builder, fmt="wandb", run=name)
    elif summ.exists():
        try:
            d = json.loads(summ.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise LogError(f"{summ}: not valid JSON ({e.msg} at line {e.lineno})") from None
        step = int(d.get("_step", 0))
        info = builder.info(name, path, "wandb-summary")
        info.markers.append({"step": step, "kind": "summary_only",
                             "detail": "wandb-summary.json holds final values only; export the history "
                                       "(run.history() or the CSV download) to audit the curve"})
        for k, v in d.items():
            x = _number(v)
            if x is not None and not k.startswith("_"):
                builder.add(name, step, k, x, _number(d.get("_timestamp")) or math.nan)
    else:
        raise LogError(f"{path}: a W&B run directory without files/wandb-history.jsonl or "
                       f"wandb-summary.json; newer wandb keeps history only in the binary .wandb file: "
                       f"export it with `wandb.Api().run(...).history()` to CSV and pass that file")
