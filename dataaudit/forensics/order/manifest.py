"""``manifest:PATH``: the run recorded what each step saw.

Formats (detected from the suffix):

* JSON lines (``.jsonl``, ``.json``, ``.gz``): one line per step, ``{"step": 12, "doc_ids": ["a", "b"]}``,
  or ``{"step": 12, "sample_ids": [17, 3]}`` with dataset indices (rows of ``--data`` in file order), as
  ``dataaudit.forensics.record`` writes for the HF Trainer;
* CSV / Parquet: one row per document with a ``step`` column and ``doc_id`` (or ``sample_id``); row order
  within a step is the batch order.

Steps are 1-based, as the training log numbers them. A step listed twice is an input error: a manifest
appended to by a restarted run must be cut back to the restart first (the later lines are what ran).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Iterable

from ...errors import InputError
from .base import OrderSpec, Piece, Placement, check_steps
from .textdata import fetch_by_id, fetch_by_index, require_exact_rows

_FIX = "the manifest must hold one entry per step, as {\"step\": N, \"doc_ids\": [...]}"


class ManifestOrder:
    kind = "manifest"

    def __init__(self, path: str | Path, *, data: Any = None, read: Any = None) -> None:
        self.path = Path(path)
        self.source = str(self.path)
        if not self.path.is_file():
            raise InputError(f"--order manifest:{self.path}: no such file; pass the JSONL/CSV/Parquet file the "
                             f"run wrote")
        low = self.path.name.lower()
        self.fmt = "parquet" if low.endswith(".parquet") else "csv" if low.endswith((".csv", ".csv.gz")) else "jsonl"
        self.data, self.read = data, read
        self._steps: list[int] | None = None

    # -- reading -----------------------------------------------------------------------------------------
    def _rows(self, wanted: set[int] | None) -> dict[int, tuple[str, list]]:
        """{step: (key, ids)} for the wanted steps (all when None); key is 'doc_ids' or 'sample_ids'."""
        if self.fmt == "jsonl":
            return self._rows_jsonl(wanted)
        return self._rows_table(wanted)

    def _rows_jsonl(self, wanted: set[int] | None) -> dict[int, tuple[str, list]]:
        out: dict[int, tuple[str, list]] = {}
        first_line: dict[int, int] = {}
        opener = gzip.open if self.path.name.lower().endswith(".gz") else open
        try:
            with opener(self.path, "rt", encoding="utf-8") as f:
                for ln, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise InputError(f"{self.path}:{ln}: not valid JSON ({e.msg}); {_FIX}") from None
                    if not isinstance(rec, dict) or not isinstance(rec.get("step"), int):
                        raise InputError(f"{self.path}:{ln}: no integer \"step\"; {_FIX}")
                    s = rec["step"]
                    if s in first_line:
                        raise InputError(f"{self.path}:{ln}: step {s} already listed on line {first_line[s]}; "
                                         f"keep the entries of the run that continued (cut the manifest back "
                                         f"to the restart)")
                    first_line[s] = ln
                    if wanted is not None and s not in wanted:
                        continue
                    key = "doc_ids" if "doc_ids" in rec else "sample_ids" if "sample_ids" in rec else None
                    if key is None or not isinstance(rec[key], list):
                        raise InputError(f"{self.path}:{ln}: step {s} has no \"doc_ids\" or \"sample_ids\" "
                                         f"list; {_FIX}")
                    ids = rec[key]
                    if key == "sample_ids" and not all(isinstance(i, int) and i >= 0 for i in ids):
                        raise InputError(f"{self.path}:{ln}: sample_ids must be dataset indices (integers "
                                         f">= 0); use \"doc_ids\" for string ids")
                    out[s] = (key, [str(i) for i in ids] if key == "doc_ids" else ids)
        except (OSError, EOFError, UnicodeDecodeError) as e:
            raise InputError(f"{self.path}: cannot be read ({e}); is it truncated?") from None
        self._steps = sorted(first_line)
        return out

    def _rows_table(self, wanted: set[int] | None) -> dict[int, tuple[str, list]]:
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            if self.fmt == "parquet":
                import pyarrow.parquet as pq
                t = pq.read_table(self.path)
            else:
                from pyarrow import csv
                t = csv.read_csv(self.path, convert_options=csv.ConvertOptions(
                    column_types={"doc_id": pa.string()}))
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"{self.path}: not a readable {self.fmt} table ({e})") from None
        cols = set(t.column_names)
        key = "doc_id" if "doc_id" in cols else "sample_id" if "sample_id" in cols else None
        if "step" not in cols or key is None:
            raise InputError(f"{self.path}: needs columns 'step' and 'doc_id' (or 'sample_id'); found "
                             f"{sorted(cols)}")
        try:
            steps = t.column("step").cast(pa.int64()).to_pylist()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InputError(f"{self.path}: column 'step' must hold integers") from None
        ids = t.column(key).to_pylist() if key == "sample_id" else pc.cast(t.column(key), pa.string()).to_pylist()
        out: dict[int, tuple[str, list]] = {}
        for s, i in zip(steps, ids):
            if s is None or i is None:
                raise InputError(f"{self.path}: empty 'step' or '{key}' cell; every row names one document")
            if wanted is None or s in wanted:
                out.setdefault(s, ("doc_ids" if key == "doc_id" else "sample_ids", []))[1].append(i)
        self._steps = sorted(set(steps))
        return out

    # -- the order ---------------------------------------------------------------------------------------
    def available_steps(self) -> list[int]:
        if self._steps is None:
            self._rows(set())
        return list(self._steps or [])

    def last_step(self) -> int | None:
        st = self.available_steps()
        return st[-1] if st else None

    def pieces(self, steps: Iterable[int]) -> dict[int, list[Piece]]:
        want = check_steps(steps, None, self.source, "")
        rows = self._rows(set(want))
        missing = [s for s in want if s not in rows]
        if missing:
            st = self._steps or []
            span = f"steps {st[0]}..{st[-1]}" if st else "no steps"
            raise InputError(f"{self.path}: step {missing[0]} is not in the manifest (it holds {span}, "
                             f"{len(st)} in all); record every step, or analyze steps it holds")
        by_id: dict[str, tuple[int, str]] = {}
        by_index: dict[int, tuple[str, str]] = {}
        if self.data is not None:
            doc_ids = {i for s in want if rows[s][0] == "doc_ids" for i in rows[s][1]}
            sample_ids = {i for s in want if rows[s][0] == "sample_ids" for i in rows[s][1]}
            if doc_ids:
                by_id, scanned = fetch_by_id(self.data, self.read, doc_ids)
                lost = sorted(doc_ids - set(by_id))
                if lost:
                    raise InputError(f"{self.path}: doc_id {lost[0]!r} (and {len(lost) - 1} more) not found in "
                                     f"--data ({scanned} documents); pass the training set and its id column "
                                     f"(--id-column)")
            if sample_ids:
                require_exact_rows(self.read, f"manifest:{self.path} (sample_ids)")
                by_index = fetch_by_index(self.data, self.read, sample_ids)
        out: dict[int, list[Piece]] = {}
        for s in want:
            key, ids = rows[s]
            row = []
            for pos, i in enumerate(ids):
                if key == "doc_ids":
                    idx, text = by_id.get(i, (None, None))
                    pl = Placement(step=s, position=pos, sample_id=idx if idx is not None else pos, doc_id=i,
                                   dataset_index=idx)
                else:
                    doc_id, text = by_index.get(i, (str(i), None))
                    pl = Placement(step=s, position=pos, sample_id=i, doc_id=doc_id, dataset_index=i)
                row.append(Piece(placement=pl, text=text))
            out[s] = row
        return out


def open_manifest(spec: OrderSpec, *, data: Any, read: Any) -> ManifestOrder:
    spec.check_keys([])
    return ManifestOrder(spec.path or "", data=data, read=read)
