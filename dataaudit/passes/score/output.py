"""The scores table as it is produced: written to Parquet a batch at a time (or kept, when the caller asked for
an in-memory table) with its token-weighted aggregates summed on the way, so nothing needs the whole table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .stats import LN2


class Totals:
    """``stats.aggregate`` computed batch by batch: sums per split, added in batch order (as Arrow sums the
    chunks of a table made of these batches)."""

    def __init__(self) -> None:
        self.all = self._zero()
        self.by: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _zero() -> dict[str, Any]:
        return {"docs": 0, "empty_docs": 0, "tokens": 0, "bytes": 0, "nll_sum": 0.0}

    @staticmethod
    def _acc(d: dict[str, Any], b) -> None:
        d["docs"] += b.num_rows
        d["empty_docs"] += int(pc.sum(pc.equal(b["n_tokens"], 0)).as_py() or 0)
        d["tokens"] += int(pc.sum(b["n_tokens"]).as_py() or 0)
        d["bytes"] += int(pc.sum(b["n_bytes"]).as_py() or 0)
        d["nll_sum"] += float(pc.sum(b["nll_sum"]).as_py() or 0.0)

    def add(self, b: pa.RecordBatch) -> None:
        if not b.num_rows:
            return
        self._acc(self.all, b)
        for s in pc.unique(b["split"]).to_pylist():
            self._acc(self.by.setdefault(s, self._zero()), b.filter(pc.equal(b["split"], s)))

    @staticmethod
    def _done(d: dict[str, Any]) -> dict[str, Any]:
        tok, byt, nll = d["tokens"], d["bytes"], d["nll_sum"]
        return {**d, "ppl": math.exp(nll / tok) if tok else math.nan,
                "bits_per_byte": nll / (byt * LN2) if byt else math.nan}

    def result(self) -> dict[str, Any]:
        out = self._done(self.all)
        out["by_split"] = {s: self._done(self.by[s]) for s in sorted(self.by)}
        return out


class Output:
    """Rows of the scores table in input order: to ``path`` (Parquet, zstd, renamed into place on ``close``;
    ``abort`` deletes it), or to memory when ``path`` is None."""

    def __init__(self, path: Path | None, schema: pa.Schema) -> None:
        self.path, self.schema, self.totals = path, schema, Totals()
        self.batches: list[pa.RecordBatch] = []
        self._writer = self._cm = None
        if path is not None:
            import pyarrow.parquet as pq

            from ...io.atomic import atomic_path

            self._cm = atomic_path(path)
            tmp = self._cm.__enter__()
            self._writer = pq.ParquetWriter(tmp, schema, compression="zstd")

    def write(self, batch: pa.RecordBatch) -> None:
        batch = batch.replace_schema_metadata(self.schema.metadata)
        self.totals.add(batch)
        if self._writer is not None:
            self._writer.write_batch(batch)
        else:
            self.batches.append(batch)

    def close(self) -> tuple[pa.Table | None, Path | None, dict[str, Any]]:
        """(in-memory table or None, written path or None, the aggregates)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._cm.__exit__(None, None, None)
            return None, self.path, self.totals.result()
        return pa.Table.from_batches(self.batches, schema=self.schema), None, self.totals.result()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            try:
                self._cm.__exit__(RuntimeError, RuntimeError("scoring stopped"), None)
            except RuntimeError:
                pass
