"""The near pass with read tasks and the partitioned band shuffle (``--engine ray``): the same numbers as the
driver-side phases of ``near.py``, computed where the data is.

1. *sign*: one task per piece of each source (``engine/pieces.py``: a shard the worker reads, or a batch
   the driver read where a source cannot be sharded); the task signs its documents, writes their
   signatures, their band keys, hash-partitioned (``bands.write_keys``), and their doc ids and shingle
   counts (``docs<task>.arrow``, Arrow IPC) to the spill directory, and returns only its document count and
   its count of documents without shingles. The driver never holds text, signatures, band keys or a
   per-document array: ``PieceDocs`` fetches ids of the documents it is asked for (the pairs') by global
   index from the pieces' files, and split codes come from the piece's split (``task_codes`` + ``bases``);
2. *candidates*: one ``bands.partition_pairs`` task per partition; the union of their pairs;
3. *estimates*: the signature rows of candidate documents, read from the pieces' files;
4. *exact sets*: the pieces holding candidate documents are read again by tasks that write the sets of
   those documents to one spill file per piece (``sets<task>.u64``) and return their sizes only;
   verification tasks get (file, first hash, count) per document (``PieceSets.refs``) and read the sets
   themselves (``near_tasks._verify_task``), so the sets never pass through the driver.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from ..engine.pieces import Pieces
from . import bands as _bands
from . import lsh
from .near_tasks import _STATE, _sets_task, _sign_task


def _batches_texts(batches) -> tuple[list[pa.Array], list[pa.Array]]:
    ids, texts = [], []
    for b in batches:
        ids.append(b.column(b.schema.get_field_index("doc_id")).cast(pa.string()))
        texts.append(b.column(b.schema.get_field_index("text")))
    return ids, texts


def _sig_path(spill: Path, task: int) -> Path:
    return Path(spill) / f"sig{task:06d}.u32"


def _docs_path(spill: Path, task: int) -> Path:
    return Path(spill) / f"docs{task:06d}.arrow"


DOCS_SCHEMA = pa.schema([("doc_id", pa.string()), ("n_shingles", pa.int64())])


def sign_piece(batches, spill: str, partitions: int, task: int) -> tuple[int, int]:
    """(document count, documents without shingles) of one piece; its signatures, partitioned band keys,
    doc ids and shingle counts go to ``spill`` (each file written atomically: a retried task rewrites the
    same bytes)."""
    ids, texts = _batches_texts(batches)
    sigs, keys, counts = [], [], []
    for t in texts:
        s, k, c = _sign_task(t)
        sigs.append(s)
        keys.append(k)
        counts.append(c)
    num_perm = _STATE["config"].num_perm
    bands = _STATE["params"][0]
    sig = np.concatenate(sigs) if sigs else np.zeros((0, num_perm), np.uint32)
    key = np.concatenate(keys) if keys else np.zeros((0, bands), np.uint64)
    cnt = np.concatenate(counts).astype(np.int64) if counts else np.zeros(0, np.int64)
    path = _sig_path(Path(spill), task)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    np.ascontiguousarray(sig, dtype=np.uint32).tofile(tmp)
    os.replace(tmp, path)
    _bands.write_keys(Path(spill), task, key, cnt, partitions)
    doc_ids = pa.concat_arrays(ids) if ids else pa.array([], pa.string())
    path = _docs_path(Path(spill), task)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with ipc.new_file(str(tmp), DOCS_SCHEMA) as w:
        w.write_table(pa.table({"doc_id": doc_ids, "n_shingles": pa.array(cnt, pa.int64())}, schema=DOCS_SCHEMA))
    os.replace(tmp, path)
    return len(cnt), int((cnt == 0).sum())


class PieceDocs:
    """The documents of the read-task path: per piece only (first global index, size, split code, documents
    without shingles); ids and shingle counts stay in the pieces' ``docs<task>.arrow`` files and are read
    for the documents asked for only. Holds O(pieces) memory, not O(documents)."""

    def __init__(self, spill: Path, bases: np.ndarray, sizes: np.ndarray, task_codes: np.ndarray,
                 empties: np.ndarray, split_names: list[str]) -> None:
        self.spill, self.bases, self.sizes = Path(spill), bases, sizes
        self.task_codes, self.empties, self.split_names = task_codes, empties, list(split_names)

    def __len__(self) -> int:
        return int(self.sizes.sum())

    def _task_of(self, g: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.bases, g, side="right") - 1

    def codes_of(self, g: np.ndarray) -> np.ndarray:
        return self.task_codes[self._task_of(np.asarray(g, np.int64))] if len(g) else np.zeros(0, np.int16)

    def _column_of(self, g: np.ndarray, name: str) -> pa.Array:
        """Column ``name`` of the documents at global indices ``g`` (any order), read from their pieces'
        files through memory maps: only the rows asked for are materialized."""
        g = np.asarray(g, np.int64)
        order, groups = _by_task(self._task_of(g))
        parts = []
        for tt, lo, hi in groups:
            sel = order[lo:hi]
            with pa.memory_map(str(_docs_path(self.spill, tt))) as src:
                col = ipc.open_file(src).read_all().column(name)
                parts.append(col.take(pa.array(g[sel] - self.bases[tt], pa.int64())).combine_chunks())
        typ = DOCS_SCHEMA.field(name).type
        if not parts:
            return pa.array([], typ)
        got = pa.concat_arrays(parts)
        inv = np.empty(len(g), np.int64)
        inv[order] = np.arange(len(g))
        return got.take(pa.array(inv, pa.int64()))

    def ids_of(self, g: np.ndarray) -> pa.Array:
        return self._column_of(g, "doc_id")

    def n_shingles_of(self, g: np.ndarray) -> np.ndarray:
        return self._column_of(g, "n_shingles").to_numpy(zero_copy_only=False).astype(np.int64)

    def pick(self, idx: np.ndarray):
        """The report's view (``near_report.PickedDocs``) of the documents at sorted global indices ``idx``."""
        from .near_report import PickedDocs

        idx = np.asarray(idx, np.int64)
        counts = np.bincount(self.task_codes, weights=self.sizes, minlength=len(self.split_names)) \
            if len(self.sizes) else np.zeros(len(self.split_names))
        return PickedDocs(idx, self.ids_of(idx), self.codes_of(idx), self.split_names,
                          counts.astype(np.int64).tolist(), int(self.empties.sum()))


def _sets_path(spill: Path, task: int) -> Path:
    return Path(spill) / f"sets{task:06d}.u64"


def sets_piece(batches, spill: str, which: tuple[int, np.ndarray]) -> np.ndarray:
    """Exact shingle sets of the piece's documents at local positions ``sel`` (``which`` = (its task number,
    sel)), written one after another to the piece's file in the spill directory; returns their sizes only (the
    sets never reach the driver)."""
    task, sel = which
    _, texts = _batches_texts(batches)
    sets = _sets_task(pa.concat_arrays([t.cast(pa.large_string()) for t in texts]).take(pa.array(sel, pa.int64()))) \
        if texts else []
    path = _sets_path(Path(spill), task)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        for x in sets:
            f.write(np.ascontiguousarray(x, dtype=np.uint64).tobytes())
    os.replace(tmp, path)
    return np.array([len(x) for x in sets], dtype=np.int64)


class PieceSets:
    """The exact sets of the ``needed`` documents (sorted global indices), in one spill file per piece.
    ``refs(gs)`` gives each document's (file, first hash, count) for a verification task, which reads the sets
    itself (``near_tasks._verify_task``); ``sizes`` are the set sizes in ``needed`` order."""

    def __init__(self, needed: np.ndarray, sizes: np.ndarray, files: list[str], file_of: np.ndarray) -> None:
        self.needed, self.sizes, self.files, self.file_of = needed, sizes, files, file_of
        # within its file, a document's set starts after the sets of the earlier needed documents of that file;
        # ``file_of`` is non-decreasing (filled piece by piece), so that is the running total of sizes minus the
        # running total at the file's first document: one pass, not one scan of ``needed`` per file
        if len(file_of) and np.any(np.diff(file_of) < 0):
            raise ValueError("PieceSets: file_of must be non-decreasing")
        before = np.cumsum(sizes) - sizes
        self.start = (before - before[np.searchsorted(file_of, file_of)]).astype(np.int64)

    def refs(self, gs) -> dict[int, tuple[str, int, int]]:
        k = np.searchsorted(self.needed, np.asarray(gs, np.int64))
        return {int(g): (self.files[int(self.file_of[i])], int(self.start[i]), int(self.sizes[i]))
                for g, i in zip(gs, k.tolist())}


class ShardedNear:
    """The phases of the near pass on read tasks and partitions; ``sign`` first, then the others."""

    def __init__(self, sources, cfg, engine, runner, spill: Path, bands: int, progress) -> None:
        self.sources, self.cfg, self.engine, self.runner = sources, cfg, engine, runner
        self.spill, self.bands, self.progress = Path(spill).resolve(), bands, progress
        self.partitions = int(engine.partitions)
        self.pieces = {split: Pieces(engine, runner, src) for split, src in sources.items()}

    def sign(self) -> PieceDocs:
        task_codes, sizes, empties = [], [], []
        task = 0
        for code, (split, pieces) in enumerate(self.pieces.items()):
            first = task

            def number(k, _item, first=first):
                return first + k

            for n, n_empty in pieces.map(sign_piece, str(self.spill), self.partitions, select=number):
                task_codes.append(code)
                sizes.append(n)
                empties.append(n_empty)
                task += 1
                if self.progress:
                    self.progress(f"near: signatures {split}", n)
        self.task_codes = np.array(task_codes, np.int16)
        self.sizes = np.array(sizes, np.int64)
        self.bases = np.concatenate(([0], np.cumsum(self.sizes)[:-1])).astype(np.int64) if sizes else \
            np.zeros(0, np.int64)
        self.docs = PieceDocs(self.spill, self.bases, self.sizes, self.task_codes, np.array(empties, np.int64),
                              list(self.sources))
        return self.docs

    def candidates(self, stats: lsh.BucketStats) -> np.ndarray:
        tasks = ((str(self.spill), p, self.partitions, self.bases, self.task_codes, self.bands,
                  self.cfg.mode, self.cfg.max_bucket) for p in range(self.partitions))
        out = []
        for pairs, st in self.runner.map(_bands.partition_pairs, tasks):
            _bands.merge_stats(stats, st)
            if len(pairs):
                out.append(pairs)
        return np.unique(np.concatenate(out)) if out else np.zeros(0, np.int64)

    def _task_of(self, g: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.bases, g, side="right") - 1

    def _sig_rows(self, g: np.ndarray, num_perm: int) -> np.ndarray:
        out = np.empty((len(g), num_perm), np.uint32)
        order, groups = _by_task(self._task_of(g))
        for tt, lo, hi in groups:
            m = order[lo:hi]
            mm = np.memmap(_sig_path(self.spill, tt), dtype=np.uint32, mode="r").reshape(-1, num_perm)
            out[m] = mm[g[m] - self.bases[tt]]
            del mm
        return out

    def estimates(self, num_perm: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.empty(len(a))
        for c in range(0, len(a), 65536):
            sa, sb = self._sig_rows(a[c:c + 65536], num_perm), self._sig_rows(b[c:c + 65536], num_perm)
            out[c:c + 65536] = (sa == sb).mean(axis=1)
        return out

    def exact_sets(self, needed: np.ndarray) -> PieceSets:
        """The sets of ``needed`` (sorted global indices): the pieces holding them are read again by tasks that
        write the sets to one spill file per piece (``sets_piece``) and return their sizes."""
        t_of = self._task_of(needed)
        sizes = np.zeros(len(needed), dtype=np.int64)
        files: list[str] = []
        file_of = np.full(len(needed), -1, dtype=np.int64)
        done = 0
        task = 0
        for split, pieces in self.pieces.items():
            first = task
            n_pieces = int((self.task_codes == list(self.pieces).index(split)).sum())
            lo = np.searchsorted(t_of, first)
            hi = np.searchsorted(t_of, first + n_pieces)

            def select(k, _item, first=first):
                tt = first + k
                i, j = np.searchsorted(t_of, [tt, tt + 1])
                return needed[i:j] - self.bases[tt] if j > i else None

            if hi > lo:
                wanted = np.unique(t_of[lo:hi]).tolist()      # the pieces that have candidates, in order
                results = pieces.map(sets_piece, str(self.spill), select=_numbered(select, first), account=False)
                try:
                    for k, result in enumerate(results):
                        if k >= len(wanted):                    # a source that gives more pieces the second time
                            raise _changed(done + len(result), len(needed))
                        tt = wanted[k]
                        n = len(result)
                        if done + n > len(needed):
                            raise _changed(done + n, len(needed))
                        sizes[done:done + n] = result
                        file_of[done:done + n] = len(files)
                        files.append(str(_sets_path(self.spill, tt)))
                        done += n
                        if self.progress:
                            self.progress("near: verify (re-read)", n)
                finally:
                    close = getattr(results, "close", None)
                    if close:
                        close()                                 # stops the tasks still in flight on an error
            task += n_pieces
        if done != len(needed):
            raise _changed(done, len(needed))
        return PieceSets(needed, sizes, files, file_of)


def _changed(got: int, want: int):
    from ..errors import InputError

    return InputError(f"the sources gave {got} of {want} candidate documents on the second read; "
                      "near-duplicate verification needs inputs that do not change during the run")


def _by_task(t: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """``(order, [(task, lo, hi), ...])``: ``order[lo:hi]`` are the positions of ``t`` equal to ``task``, in
    their order; one sort and one search, so grouping costs O(n log n) whatever the number of pieces."""
    order = np.argsort(t, kind="stable")
    ts = t[order]
    u = np.unique(ts)
    lo, hi = np.searchsorted(ts, u), np.searchsorted(ts, u, side="right")
    return order, list(zip(u.tolist(), lo.tolist(), hi.tolist()))


def _numbered(select, first: int):
    """``select`` for ``Pieces.map`` that also passes the piece's task number (where its sets file goes)."""
    def sel(k, item):
        arg = select(k, item)
        return None if arg is None else (first + k, arg)
    return sel
