"""MLflow tracking data: the file store and the SQLite tracking database, read without mlflow.

File store (mlflow/store/tracking/file_store.py): ``mlruns/<experiment_id>/<run_id>/metrics/<key>``,
one line per logged point ``<timestamp ms> <value> <step>`` (very old files omit the step); keys with
``/`` are nested directories; the run's name is ``run_name`` in ``<run_id>/meta.yaml`` or the tag file
``tags/mlflow.runName``.

SQLite (mlflow/store/tracking/dbmodels/models.py): table ``metrics(key, value, timestamp, run_uuid,
step, is_nan)``; ``is_nan`` marks NaN values (stored as 0); run names are in ``runs(run_uuid, name)``.
"""

from __future__ import annotations

import math
import re
import sqlite3
from pathlib import Path

from ..errors import LogError
from .table import LogBuilder


def is_mlflow_run_dir(p: Path) -> bool:
    return (p / "metrics").is_dir() and (p / "meta.yaml").exists()


def mlflow_run_dirs(path: Path) -> list[Path]:
    """Run directories under ``path`` (an mlruns root, an experiment directory, or one run)."""
    if is_mlflow_run_dir(path):
        return [path]
    out = sorted(p.parent for p in path.rglob("meta.yaml") if is_mlflow_run_dir(p.parent))
    return out


def _run_name(run_dir: Path) -> str:
    meta = run_dir / "meta.yaml"
    try:
        text = meta.read_text(encoding="utf-8")
        m = re.search(r"^run_name:\s*(.+?)\s*$", text, re.MULTILINE)
        if m and m.group(1) not in ("''", '""', "null"):
            return m.group(1).strip("'\"")
    except OSError:
        pass
    tag = run_dir / "tags" / "mlflow.runName"
    if tag.exists():
        return tag.read_text(encoding="utf-8").strip() or run_dir.name
    return run_dir.name


def read_mlflow_files(path: Path, builder: LogBuilder, *, run: str | None = None) -> None:
    dirs = mlflow_run_dirs(path)
    if not dirs:
        raise LogError(f"{path}: no MLflow run directory (<run_id>/meta.yaml + metrics/) found; pass an "
                       f"mlruns directory, an experiment directory or a run directory")
    names: dict[str, int] = {}
    for d in dirs:
        name = run or _run_name(d)
        if name in names and len(dirs) > 1:  # two runs with one display name: keep them apart
            name = f"{name}-{d.name[:8]}"
        names[name] = 1
        builder.info(name, d, "mlflow")
        mdir = d / "metrics"
        for f in sorted(p for p in mdir.rglob("*") if p.is_file()):
            key = f.relative_to(mdir).as_posix()
            with open(f, encoding="utf-8", errors="replace") as fh:
                for lineno, line in enumerate(fh, 1):
                    parts = line.split()
                    if not parts:
                        continue
                    try:
                        ts = float(parts[0]) / 1000.0
                        val = float(parts[1])
                        step = int(parts[2]) if len(parts) > 2 else 0
                    except (ValueError, IndexError):
                        builder.bad_record(str(f), f"expected '<timestamp> <value> <step>', got {line.strip()!r}",
                                           line=lineno)
                        continue
                    builder.add(name, step, key, val, ts)


def read_mlflow_sqlite(path: Path, builder: LogBuilder, *, run: str | None = None) -> None:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise LogError(f"{path}: cannot open as SQLite: {e}") from None
    try:
        cols = {r[1] for r in con.execute("PRAGMA table_info(metrics)")}
        if not {"key", "value", "timestamp", "run_uuid", "step"} <= cols:
            raise LogError(f"{path}: no MLflow 'metrics' table (key, value, timestamp, run_uuid, step); "
                           f"is this an MLflow tracking database?")
        names = {}
        try:
            names = {u: n for u, n in con.execute("SELECT run_uuid, name FROM runs")}
        except sqlite3.Error:
            pass
        nan_col = "is_nan" if "is_nan" in cols else "0"
        # rowid order is insertion order: it keeps rewinds as they were logged
        q = (f"SELECT run_uuid, key, value, timestamp, step, {nan_col} FROM metrics "
             f"ORDER BY run_uuid, key, timestamp, rowid")
        for uuid, key, value, ts, step, is_nan in con.execute(q):
            name = run or names.get(uuid) or uuid
            builder.info(name, path, "mlflow-sqlite")
            val = math.nan if is_nan else float(value)
            builder.add(name, int(step or 0), key, val, (ts or math.nan) / 1000.0)
    except sqlite3.DatabaseError as e:
        raise LogError(f"{path}: SQLite error {e}; is this an MLflow tracking database?") from None
    finally:
        con.close()
