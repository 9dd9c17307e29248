"""Columnar readers: Parquet, Arrow IPC (file, stream, Feather v2), pyarrow Tables and ``datasets`` objects.

A truncated or corrupt Parquet or Arrow file is an ``InputError`` naming the file, the byte where it broke
and the fix, never a short read: a Parquet file must end with its footer, an Arrow IPC file with its footer
and an IPC stream with its end-of-stream marker (a stream cut at a batch boundary otherwise reads as a
smaller, valid one).
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import pyarrow as pa

from ..errors import InputError
from .common import ReadOptions, check_id_column, clean_text_array, pick_text_column, rebatch

#: Parquet column chunks are read through a buffered stream of this many bytes (pyarrow's ``buffer_size``)
#: instead of whole: with 0 (pyarrow's default) each column chunk of a row group is read into memory at once,
#: so peak RSS follows the writer's row-group size (tens to hundreds of MB of text) rather than --batch-size.
PARQUET_BUFFER = 1 << 20

_FIX = "re-download or re-export it"
_ARROW_MAGIC = b"ARROW1"
_IPC_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"  # continuation marker + zero metadata length


def emit(batch, text_col: str, row0: int, source: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    """One batch of a columnar source -> checked DOC_SCHEMA batches of at most ``opts.batch_size`` rows."""
    for b in rebatch([batch], opts.batch_size):
        rows = pa.array(range(row0, row0 + b.num_rows), pa.int64())
        row0 += b.num_rows
        ids = b.column(opts.id_column) if opts.id_column else None
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        texts = b.column(text_col)
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        out = clean_text_array(texts, rows, source, opts, ids)
        if out is not None:
            yield out


def _head_tail(f: str) -> tuple[int, bytes, bytes]:
    with open(f, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(8)
        fh.seek(max(0, size - 8))
        return size, head, fh.read(8)


# ---- Parquet -------------------------------------------------------------------------------------------------

def read_parquet_file(f: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    size, head, tail = _head_tail(f)
    if head[:4] == b"PAR1" and tail[-4:] != b"PAR1":
        raise InputError(f"{f}: truncated Parquet file: it starts as Parquet but ends at byte {size} without "
                         f"the footer; {_FIX}")
    try:  # pre_buffer caches ahead: RSS grew with file size; buffer_size: see PARQUET_BUFFER
        pf = pq.ParquetFile(f, pre_buffer=False, buffer_size=PARQUET_BUFFER, page_checksum_verification=True)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{f}: not a readable Parquet file ({size} bytes; {e}). If it is Parquet, "
                         f"{_FIX}; if it is another format, pass --input-format") from None
    names = pf.schema_arrow.names
    text_col = pick_text_column(names, opts, f)
    check_id_column(names, opts, f)
    cols = [text_col] + ([opts.id_column] if opts.id_column and opts.id_column != text_col else [])
    row0 = 0
    try:
        for b in pf.iter_batches(batch_size=opts.batch_size, columns=cols, use_threads=True):
            yield from emit(b, text_col, row0, f, opts)
            row0 += b.num_rows
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{f}: corrupt Parquet data near row {row0} ({_row_group_bytes(pf, row0)}; {e}); "
                         f"{_FIX}") from None


def _row_group_bytes(pf, row: int) -> str:
    """Where row ``row`` lives: "row group 3, bytes 1024-2048" (from the footer's column-chunk offsets)."""
    md = pf.metadata
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        if row < rg.num_rows:
            chunks = [rg.column(j) for j in range(rg.num_columns)]
            start = min(c.dictionary_page_offset or c.data_page_offset for c in chunks)
            end = max((c.dictionary_page_offset or c.data_page_offset) + c.total_compressed_size for c in chunks)
            return f"row group {i}, bytes {start}-{end}"
        row -= rg.num_rows
    return "after the last row group"


# ---- Arrow IPC -------------------------------------------------------------------------------------------------

def read_arrow_file(f: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    size, head, tail = _head_tail(f)
    is_file = head[:6] == _ARROW_MAGIC
    if is_file and tail[-6:] != _ARROW_MAGIC:
        raise InputError(f"{f}: truncated Arrow IPC file: it ends at byte {size} without the file footer; "
                         f"{_FIX}")
    try:
        source = pa.memory_map(f, "r")
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{f}: cannot read ({e}); check the path") from None
    with source:
        try:
            if is_file:
                reader = pa.ipc.open_file(source)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            else:
                reader = pa.ipc.open_stream(source)
                batches = iter(reader)
            names = reader.schema.names
        except (pa.ArrowException, OSError) as e:
            what = "a corrupt Arrow IPC file" if is_file else "not an Arrow IPC / Feather v2 file"
            raise InputError(f"{f}: {what} ({size} bytes; {e}). If it is Arrow, {_FIX}; if it is another "
                             f"format, pass --input-format") from None
        text_col = pick_text_column(names, opts, f)
        check_id_column(names, opts, f)
        row0 = 0
        try:
            for b in batches:
                yield from emit(b, text_col, row0, f, opts)
                row0 += b.num_rows
        except (pa.ArrowException, OSError) as e:
            raise InputError(f"{f}: truncated or corrupt Arrow data at byte {source.tell()} of {size}, near row "
                             f"{row0} ({e}); {_FIX}") from None
    if not is_file and tail != _IPC_EOS:
        raise InputError(f"{f}: truncated Arrow IPC stream: it ends at byte {size} after row {row0} without "
                         f"the end-of-stream marker; {_FIX}")


# ---- in-memory tables and datasets -----------------------------------------------------------------------------

def read_table(table: pa.Table, source: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    text_col = pick_text_column(table.column_names, opts, source)
    check_id_column(table.column_names, opts, source)
    row0 = 0
    for b in table.to_batches(max_chunksize=opts.batch_size):
        yield from emit(b, text_col, row0, source, opts)
        row0 += b.num_rows


def read_hf_disk(path: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    import datasets

    try:
        ds = datasets.load_from_disk(path)
    except Exception as e:  # datasets raises FileNotFoundError / ValueError variants
        raise InputError(f"{path}: not a datasets save_to_disk directory ({e})") from e
    return read_hf_object(ds, opts, source=path)


def read_hf_object(ds: Any, opts: ReadOptions, source: str | None = None) -> Iterator[pa.RecordBatch]:
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a dependency
        raise InputError(f"cannot read {type(ds).__name__}: the datasets package is missing") from e
    if isinstance(ds, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        if opts.split in ds:
            ds = ds[opts.split]
        elif len(ds) == 1:
            ds = next(iter(ds.values()))
        else:
            raise InputError(f"{source or 'DatasetDict'} has splits {list(ds)}, none named {opts.split!r}; "
                             f"pass one split, e.g. dataset[{list(ds)[0]!r}]")
    name = source or f"<{type(ds).__name__}>"
    if isinstance(ds, datasets.Dataset):
        return _iter_hf_dataset(ds, name, opts)
    if isinstance(ds, datasets.IterableDataset):
        return _iter_hf_iterable(ds, name, opts)
    raise InputError(f"cannot read a {type(ds).__name__}: give a path, a pyarrow Table or a datasets "
                     f"Dataset / IterableDataset")


def _iter_hf_dataset(ds, name: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    text_col = pick_text_column(ds.column_names, opts, name)
    check_id_column(ds.column_names, opts, name)
    row0 = 0
    for t in ds.with_format("arrow").iter(batch_size=opts.batch_size):
        for b in t.to_batches():
            yield from emit(b, text_col, row0, name, opts)
            row0 += b.num_rows


def _iter_hf_iterable(ds, name: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    text_col = None
    row0 = 0
    for chunk in ds.iter(batch_size=opts.batch_size):
        if text_col is None:
            text_col = pick_text_column(list(chunk), opts, name)
            check_id_column(list(chunk), opts, name)
        cols = {text_col: chunk[text_col]}
        if opts.id_column:
            cols[opts.id_column] = [None if v is None else str(v) for v in chunk[opts.id_column]]
        try:
            b = pa.RecordBatch.from_pydict(cols)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise InputError(f"{name}: column {text_col!r} does not hold strings near row {row0}. "
                             f"Pass --text-column naming a string column") from None
        yield from emit(b, text_col, row0, name, opts)
        row0 += b.num_rows
