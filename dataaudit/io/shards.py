"""Read tasks: a source cut into shards a worker can read on its own, with the local reader's doc ids.

A ``Shard`` is a small descriptor (path, a range, the ``ReadConfig``), never data: a worker reads it with our
own readers and returns only what its task computes (hashes, signatures). Shards are

* Parquet: a file x a run of consecutive row groups (rows numbered from the row group's first row, as the
  local reader numbers them over the whole file);
* JSON lines, uncompressed: a file x a byte range cut at line boundaries (a line belongs to the shard in
  which it starts). Row and line numbers of a range depend on the lines before it, so a planning step
  counts the lines of every range (``count_lines``, run as worker tasks) and each shard gets its first row and
  line; the text column is the one the file's first JSON object gives, as in ``readers._read_jsonl``;
* any other file the per-file readers take (compressed JSONL, Arrow IPC, CSV/TSV): the whole file.

A source that is none of these (a directory of .txt files, a ``datasets`` object, a Table, an eval file) is
not sharded: the driver reads it as before (``plan`` returns None).

Doc ids are ``<file>:<row>`` (or the id column) exactly as ``read_documents`` makes them, and shards come in
the local reader's file order, so documents come in the same order with the same ids. Bad records: a worker
reads its shard without a limit and returns its counts and log; ``SourceAccount`` on the driver replays them
in shard order against ``--max-bad-records``, so the same error (the same record named) or the same log
results as from one local read.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from typing import Any, Iterator

import pyarrow as pa

from ..config import ReadConfig
from ..records import BadRecord, BadRecordLog
from . import readers
from .columnar import PARQUET_BUFFER, emit, read_arrow_file, read_parquet_file
from .common import ReadOptions, _limit_error, _past_limit, check_id_column, finish, make_batch, pick_text_column
from .compressed import COMPRESSED_SUFFIXES

SHARD_BYTES = 64 << 20          # target bytes per shard (Parquet: row-group bytes; JSONL: file bytes)

_SUFFIXES = {"jsonl": (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst",
                       ".jsonl.zstd"),
             "parquet": (".parquet", ".pq"), "arrow": (".arrow", ".feather", ".ipc"),
             "csv": (".csv", ".tsv", ".tab"), "tsv": (".csv", ".tsv", ".tab")}   # as readers.py lists them


@dataclass(frozen=True)
class Shard:
    """What a worker needs to read one piece of a source (no data)."""

    kind: str                  # "parquet" (row groups start..end), "jsonl" (bytes start..end), or a format
    path: str                  # the file, as the local reader names it (doc ids are "<path>:<row>")
    read: ReadConfig
    split: str
    start: int = 0
    end: int = -1
    row0: int = 0              # the first row's number in its file
    line0: int = 0             # lines of the file before this shard (JSONL)
    cols: tuple = ()           # the file's text column, when an earlier shard of it settled it (JSONL)
    cwd: str = ""              # the driver's working directory: a relative path is opened from there


@dataclass
class ShardRead:
    """What reading one shard counted: documents, bad records (with their log), text bytes."""

    good: int = 0
    bad: int = 0
    text_bytes: int = 0
    log: BadRecordLog = dataclasses.field(default_factory=BadRecordLog)


def plan(source: Any, shard_bytes: int = SHARD_BYTES) -> list[Shard] | None:
    """The shards of a ``DocSource`` in the local reader's order, or None when it cannot be sharded.

    JSONL ranges come without their row and line offsets: run ``count_lines`` on each (as worker tasks) and
    pass the counts to ``with_offsets``.
    """
    from .sources import DocSource

    if type(source) is not DocSource:            # eval files (fields, layouts) and others: the driver reads
        return None
    data, read = source.data, source.read
    if not isinstance(data, (str, os.PathLike)) or not isinstance(read, ReadConfig):
        return None
    path = str(data)
    fmt = read.fmt or readers.detect_format(path)
    if fmt not in _SUFFIXES:
        return None
    out: list[Shard] = []
    for f in readers._files(path, _SUFFIXES[fmt]):
        if fmt == "parquet":
            out += _parquet_shards(f, read, source.split, shard_bytes)
        elif fmt == "jsonl" and not f.lower().endswith(COMPRESSED_SUFFIXES):
            out += _jsonl_shards(f, read, source.split, shard_bytes)
        else:
            out.append(Shard("tsv" if fmt == "tsv" else _format_of(f, fmt), f, read, source.split))
    cwd = os.getcwd()
    return [dataclasses.replace(s, cwd=cwd) for s in out]


def _at_driver_cwd(shard: Shard) -> None:
    """A worker (a Ray actor runs in its own directory) opens a relative path from the driver's directory, so
    the path, and the doc ids made from it, stay as the user gave them."""
    if shard.cwd and not os.path.isabs(shard.path) and os.getcwd() != shard.cwd:
        os.chdir(shard.cwd)


def _format_of(f: str, fmt: str) -> str:
    return "jsonl-file" if fmt == "jsonl" else fmt


def _parquet_shards(f: str, read: ReadConfig, split: str, shard_bytes: int) -> list[Shard]:
    import pyarrow.parquet as pq

    try:
        md = pq.ParquetFile(f, pre_buffer=False).metadata
    except Exception:  # noqa: BLE001 - an unreadable file: the per-file reader gives its own error
        return [Shard("parquet-file", f, read, split)]
    out, s, acc, row0, rows = [], 0, 0, 0, 0
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        acc += rg.total_byte_size
        rows += rg.num_rows
        if acc >= shard_bytes or i == md.num_row_groups - 1:
            out.append(Shard("parquet", f, read, split, start=s, end=i + 1, row0=row0))
            s, acc, row0 = i + 1, 0, row0 + rows
            rows = 0
    return out or [Shard("parquet-file", f, read, split)]


def _jsonl_shards(f: str, read: ReadConfig, split: str, shard_bytes: int) -> list[Shard]:
    size = os.path.getsize(f)
    cuts = [0]
    with open(f, "rb") as fh:
        for k in range(1, max(1, -(-size // max(shard_bytes, 1)))):
            fh.seek(max(k * shard_bytes - 1, cuts[-1]))
            fh.readline()                            # to the start of the next line
            pos = fh.tell()
            if cuts[-1] < pos < size:
                cuts.append(pos)
    cuts.append(size)
    return [Shard("jsonl", f, read, split, start=a, end=b) for a, b in zip(cuts[:-1], cuts[1:])]


def count_lines(shard: Shard) -> tuple[int, int, tuple]:
    """(lines, non-blank lines, text column if this range's first JSON object names it) of a JSONL range."""
    import json

    lines = rows = 0
    col: tuple = ()
    if shard.kind != "jsonl":
        return 0, 0, ()
    _at_driver_cwd(shard)
    with open(shard.path, "rb") as fh:
        fh.seek(shard.start)
        pos = shard.start
        for raw in fh:
            if pos >= shard.end:
                break
            pos += len(raw)
            lines += 1
            if raw.strip():
                rows += 1
                if not col:
                    try:
                        obj = json.loads(raw.decode("utf-8"))
                    except ValueError:
                        continue
                    if isinstance(obj, dict):
                        col = (list(obj),)
    return lines, rows, col


def with_offsets(shards: list[Shard], counts: list[tuple[int, int, tuple]]) -> list[Shard]:
    """JSONL ranges given their first row and line number, and the text column once an earlier range of the
    same file settled it (``counts``: ``count_lines`` of each shard, in order)."""
    out, file, row0, line0, keys = [], None, 0, 0, None
    for s, (lines, rows, col) in zip(shards, counts):
        if s.kind != "jsonl":
            out.append(s)
            continue
        if s.path != file:
            file, row0, line0, keys = s.path, 0, 0, None
        cols: tuple = ()
        if keys is not None:                     # the file's first object is in an earlier range
            try:
                cols = (pick_text_column(keys, _opts(s), s.path),)
            except Exception:  # noqa: BLE001 - that error belongs to the range that holds the object
                cols = ()
        out.append(dataclasses.replace(s, row0=row0, line0=line0, cols=cols))
        if keys is None and col:
            keys = col[0]
        row0 += rows
        line0 += lines
    return out


def _opts(shard: Shard, bad_log: BadRecordLog | None = None) -> ReadOptions:
    r = shard.read
    limit: int | float = r.max_bad_records
    if r.on_bad_record == "skip":
        limit = sys.maxsize                      # the driver applies the limit over the whole source
    kw: dict[str, Any] = dict(name=shard.path, split=shard.split, text_column=r.text_column,
                              id_column=r.id_column, batch_size=r.batch_size, on_bad_record=r.on_bad_record,
                              max_bad_records=limit)
    if bad_log is not None:
        kw["bad_log"] = bad_log
    return ReadOptions(**kw)


def read(shard: Shard, stats: ShardRead) -> Iterator[pa.RecordBatch]:
    """DOC_SCHEMA batches of one shard (in a worker); ``stats`` holds its counts once it is exhausted."""
    r = shard.read
    m = r.max_bad_records
    keep = max(1000, m + 1) if isinstance(m, int) and r.on_bad_record == "skip" else 1000
    stats.log = BadRecordLog(keep=keep)          # enough to name the record at which the limit is passed
    _at_driver_cwd(shard)
    opts = _opts(shard, stats.log)
    if shard.kind == "parquet":
        it = _read_row_groups(shard, opts)
    elif shard.kind == "jsonl":
        it = _read_range(shard, opts)
    elif shard.kind == "jsonl-file":
        it = readers._read_jsonl(shard.path, opts)
    elif shard.kind == "parquet-file":
        it = read_parquet_file(shard.path, opts)
    elif shard.kind == "arrow":
        it = read_arrow_file(shard.path, opts)
    else:
        it = readers._read_csv(shard.path, opts, delimiter="\t" if shard.kind == "tsv" else ",")
    import pyarrow.compute as pc

    for b in it:
        stats.text_bytes += pc.sum(pc.binary_length(b.column(2))).as_py() or 0
        yield b
    stats.good, stats.bad = opts.good, opts.bad


def _read_row_groups(shard: Shard, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    from ..errors import InputError

    f = shard.path
    pf = pq.ParquetFile(f, pre_buffer=False, buffer_size=PARQUET_BUFFER, page_checksum_verification=True)
    names = pf.schema_arrow.names
    text_col = pick_text_column(names, opts, f)
    check_id_column(names, opts, f)
    cols = [text_col] + ([opts.id_column] if opts.id_column and opts.id_column != text_col else [])
    row0 = shard.row0
    try:
        for b in pf.iter_batches(batch_size=opts.batch_size, row_groups=list(range(shard.start, shard.end)),
                                 columns=cols, use_threads=True):
            yield from emit(b, text_col, row0, f, opts)
            row0 += b.num_rows
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{f}: corrupt Parquet data near row {row0} (row groups {shard.start}-{shard.end - 1}; "
                         f"{e}); re-download or re-write the file") from None


def _read_range(shard: Shard, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    """``readers._read_jsonl`` over one byte range, numbering rows and lines from the shard's offsets."""
    path = shard.path
    texts: list[str] = []
    ids: list[str] = []
    rows: list[int] = []
    cols = list(shard.cols)
    row = shard.row0 - 1

    def flush():
        b = make_batch(pa.array(texts, pa.large_string()), pa.array(rows, pa.int64()), path, opts,
                       pa.array(ids, pa.string()) if opts.id_column else None)
        texts.clear(), ids.clear(), rows.clear()
        return b

    with open(path, "rb") as fh:
        fh.seek(shard.start)
        pos = shard.start
        for lineno, raw in enumerate(fh, start=shard.line0 + 1):
            if pos >= shard.end:
                break
            pos += len(raw)
            if not raw.strip():
                continue
            row += 1
            rec = readers._jsonl_record(raw, lineno, row, path, opts, cols)
            if rec is None:
                continue
            texts.append(rec[0])
            if opts.id_column:
                ids.append(rec[1])
            rows.append(row)
            if len(texts) >= opts.batch_size:
                yield flush()
    if texts:
        yield flush()


class SourceAccount:
    """The driver's side of one sharded source: replays each shard's counts in order, as one local read
    would have counted them (the same ``--max-bad-records`` error, naming the same record), and on the
    first complete pass gives the ``DocSource`` its bad-record log and document count."""

    def __init__(self, source: Any) -> None:
        r: ReadConfig = source.read
        self.source = source
        self.first = source.bad_log is None
        self.opts = ReadOptions(name=source.name, split=source.split, batch_size=r.batch_size,
                                on_bad_record=r.on_bad_record, max_bad_records=r.max_bad_records)

    def add(self, stats: ShardRead) -> None:
        o = self.opts
        if isinstance(o.max_bad_records, int) and not isinstance(o.max_bad_records, bool):
            for rec in stats.log.examples:       # a count: the local reader stops at the record past it
                o.bad += 1
                o.bad_log.add(rec)
                if _past_limit(o):
                    raise _limit_error(o, _where(rec))
            o.bad_log.count += stats.bad - len(stats.log.examples)
            o.bad += stats.bad - len(stats.log.examples)
        else:
            o.bad_log = o.bad_log + stats.log
            o.bad += stats.bad
        o.good += stats.good
        if self.first and getattr(self.source, "progress", None) is not None:
            self.source.progress.advance(f"reading {self.source.split}", stats.good)

    def finish(self) -> None:
        finish(self.opts)
        if self.first and self.source.bad_log is None:
            log = self.opts.bad_log
            self.source.bad_log = BadRecordLog(count=log.count, examples=log.examples[:BadRecordLog.keep])
            self.source.docs = self.opts.good


def _where(rec: BadRecord) -> str:
    return f"{rec.source}" + (f" line {rec.line}" if rec.line is not None else "") + (
        f" row {rec.row}" if rec.row is not None and rec.line is None else "")
