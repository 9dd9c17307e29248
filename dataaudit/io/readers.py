"""Readers: every supported source -> a stream of DOC_SCHEMA record batches, never the whole corpus in memory.

Formats (detected from the path, overridable with ``fmt``): ``jsonl`` (plain, .gz, .zst), ``parquet`` (a file,
a directory or a glob of shards), ``arrow`` (IPC file or stream, Feather v2), ``csv``/``tsv``, ``txt`` (a directory
of .txt files, one document per file), ``hf`` (a ``datasets`` ``save_to_disk`` directory); and through the Python
API, ``datasets.Dataset`` / ``IterableDataset`` / ``DatasetDict`` objects and pyarrow Tables.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa

from ..errors import InputError
from .common import (ReadOptions, bad_record, check_id_column, clean_text_array, make_batch,
                     pick_text_column, rebatch)

FORMATS = ("jsonl", "parquet", "arrow", "csv", "tsv", "txt", "hf")

_SUFFIXES = {
    ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
    ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow",
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "txt",
}
_COMPRESSION = (".gz", ".zst", ".zstd")


def _is_glob(s: str) -> bool:
    return any(ch in s for ch in "*?[")


def detect_format(path: str | os.PathLike) -> str:
    """Guess the format from the path; raise InputError naming the fix when it cannot."""
    p = str(path)
    if _is_glob(p):
        matches = sorted(glob.glob(p))
        if not matches:
            raise InputError(f"no files match {p!r}. Check the pattern (quote it so the shell does not expand it)")
        return detect_format(matches[0])
    path = Path(p)
    if not path.exists():
        raise InputError(f"{p}: no such file or directory")
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "state.json").exists() or (
                path / "dataset_dict.json").exists():
            return "hf"
        for pattern, fmt in (("*.parquet", "parquet"), ("*.txt", "txt"), ("*.arrow", "arrow"),
                             ("*.jsonl*", "jsonl")):
            if any(path.rglob(pattern)):
                return fmt
        raise InputError(f"{p}: directory holds no .parquet, .txt, .arrow or .jsonl files and is not a "
                         f"datasets save_to_disk directory. Point at the data files or pass --format")
    name = path.name.lower()
    for c in _COMPRESSION:
        if name.endswith(c):
            name = name[: -len(c)]
            break
    fmt = _SUFFIXES.get(Path(name).suffix)
    if fmt is None or fmt == "txt":
        raise InputError(f"{p}: cannot tell the format from the name; pass --format with one of {list(FORMATS)} "
                         f"(a single .txt file is not a corpus: give a directory of .txt files)")
    return fmt


def _files(path: str, suffixes: tuple[str, ...]) -> list[str]:
    if _is_glob(path):
        files = sorted(glob.glob(path))
    elif Path(path).is_dir():
        files = sorted(str(f) for f in Path(path).rglob("*") if f.is_file() and f.name.lower().endswith(suffixes)
                       and not f.name.startswith("."))
    else:
        files = [path]
    if not files:
        raise InputError(f"{path}: no {'/'.join(suffixes)} files found")
    return files


def read_documents(source: Any, *, split: str = "data", fmt: str | None = None, text_column: str | None = None,
                   id_column: str | None = None, batch_size: int = 4096, on_bad_record: str = "fail",
                   bad_log=None, progress: Callable[[int, int], None] | None = None) -> Iterator[pa.RecordBatch]:
    """Stream ``source`` as DOC_SCHEMA record batches of at most ``batch_size`` documents.

    ``source`` is a path (file, directory or glob), a pyarrow Table, or a ``datasets`` object. Bad records
    (invalid JSON, null or non-string text, undecodable bytes) raise ``BadRecordError`` with their location,
    or with ``on_bad_record="skip"`` are counted and located in ``bad_log`` and skipped.
    """
    kw: dict[str, Any] = dict(split=split, text_column=text_column, id_column=id_column, batch_size=batch_size,
                              on_bad_record=on_bad_record, progress=progress)
    if bad_log is not None:
        kw["bad_log"] = bad_log
    opts = ReadOptions(**kw)
    if isinstance(source, pa.Table):
        return _read_table(source, "<table>", opts)
    if not isinstance(source, (str, os.PathLike)):
        return _read_hf_object(source, opts)
    path = str(source)
    if fmt is None:
        fmt = detect_format(path)
    elif fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {list(FORMATS)}")
    elif not _is_glob(path) and not Path(path).exists():
        raise InputError(f"{path}: no such file or directory")
    reader = {"jsonl": _read_jsonl_files, "parquet": _read_parquet, "arrow": _read_arrow, "csv": _read_csv,
              "tsv": _read_csv, "txt": _read_txt_dir, "hf": _read_hf_disk}[fmt]
    if fmt == "tsv":
        return _read_csv(path, opts, delimiter="\t")
    return reader(path, opts)


# ---- JSON lines -------------------------------------------------------------------------------------------

def _open_maybe_compressed(path: str):
    low = path.lower()
    raw = open(path, "rb")
    try:
        if low.endswith(".gz"):
            return gzip.GzipFile(fileobj=raw)
        if low.endswith((".zst", ".zstd")):
            import zstandard

            return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    except Exception:
        raw.close()
        raise
    return raw


def _read_jsonl_files(path: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    for f in _files(path, (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst",
                           ".jsonl.zstd")):
        yield from _read_jsonl(f, opts)


def _read_jsonl(path: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    texts: list[str] = []
    ids: list[str] = []
    rows: list[int] = []
    text_col: str | None = None
    row = -1

    def flush():
        b = make_batch(pa.array(texts, pa.large_string()), pa.array(rows, pa.int64()), path, opts,
                       pa.array(ids, pa.string()) if opts.id_column else None)
        texts.clear(), ids.clear(), rows.clear()
        return b

    try:
        with _open_maybe_compressed(path) as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                row += 1
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    bad_record(opts, source=path, line=lineno, row=row,
                               reason=f"line is not valid UTF-8 ({e.reason} at byte {e.start})")
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    bad_record(opts, source=path, line=lineno, row=row, reason=f"invalid JSON ({e})")
                    continue
                if not isinstance(obj, dict):
                    bad_record(opts, source=path, line=lineno, row=row,
                               reason=f"line is a JSON {type(obj).__name__}, not an object")
                    continue
                if text_col is None:
                    text_col = pick_text_column(list(obj), opts, path)
                    check_id_column(list(obj), opts, path)
                text = obj.get(text_col)
                if not isinstance(text, str):
                    why = "missing" if text_col not in obj else ("null" if text is None else
                                                                  f"a {type(text).__name__}, not a string")
                    bad_record(opts, source=path, line=lineno, row=row, reason=f"text field {text_col!r} is {why}")
                    continue
                if opts.id_column:
                    ident = obj.get(opts.id_column)
                    if ident is None:
                        bad_record(opts, source=path, line=lineno, row=row,
                                   reason=f"id field {opts.id_column!r} is missing or null")
                        continue
                    ids.append(str(ident))
                texts.append(text)
                rows.append(row)
                if len(texts) >= opts.batch_size:
                    yield flush()
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot read ({e}); the file may be truncated or not what its name says") from e
    except Exception as e:  # zstandard raises its own ZstdError
        if type(e).__name__ == "ZstdError":
            raise InputError(f"{path}: corrupt zstd stream ({e})") from e
        raise
    if texts:
        yield flush()


# ---- CSV / TSV ---------------------------------------------------------------------------------------------

def _read_csv(path: str, opts: ReadOptions, delimiter: str = ",") -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pcsv

    for f in _files(path, (".csv", ".tsv", ".tab")):
        delim = "\t" if f.lower().endswith((".tsv", ".tab")) else delimiter
        with open(f, "rb") as fh:
            head = fh.readline().decode("utf-8", errors="replace").rstrip("\r\n")
        if not head:
            raise InputError(f"{f}: empty file (no header line)")
        import csv

        columns = next(csv.reader([head], delimiter=delim))
        text_col = pick_text_column(columns, opts, f)
        check_id_column(columns, opts, f)
        types = {text_col: pa.large_binary()}
        if opts.id_column:
            types[opts.id_column] = pa.string()

        def on_invalid(row, _f=f):
            bad_record(opts, source=_f, line=row.number,
                       reason=f"expected {row.expected_columns} columns, found {row.actual_columns}")
            return "skip"

        try:
            reader = pcsv.open_csv(
                f, read_options=pcsv.ReadOptions(block_size=1 << 22, use_threads=False),
                parse_options=pcsv.ParseOptions(delimiter=delim, newlines_in_values=True,
                                                invalid_row_handler=on_invalid),
                convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                    include_columns=list(types)))
            row0 = 0
            for b in reader:
                yield from _emit(b, text_col, row0, f, opts)
                row0 += b.num_rows
        except pa.ArrowInvalid as e:
            raise InputError(f"{f}: cannot parse as {'TSV' if delim == chr(9) else 'CSV'} ({e})") from e


# ---- columnar: Parquet, Arrow IPC, HF datasets --------------------------------------------------------------

def _emit(batch, text_col: str, row0: int, source: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
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


def _read_parquet(path: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    for f in _files(path, (".parquet", ".pq")):
        try:
            pf = pq.ParquetFile(f, pre_buffer=False)  # pre_buffer caches ahead: RSS grew with file size
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"{f}: not a readable Parquet file ({e}). Re-export it, or pass --format "
                             f"if it is another format") from e
        names = pf.schema_arrow.names
        text_col = pick_text_column(names, opts, f)
        check_id_column(names, opts, f)
        cols = [text_col] + ([opts.id_column] if opts.id_column and opts.id_column != text_col else [])
        row0 = 0
        try:
            for b in pf.iter_batches(batch_size=opts.batch_size, columns=cols, use_threads=True):
                yield from _emit(b, text_col, row0, f, opts)
                row0 += b.num_rows
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"{f}: corrupt Parquet data near row {row0} ({e})") from e


def _read_arrow(path: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    for f in _files(path, (".arrow", ".feather", ".ipc")):
        try:
            source = pa.memory_map(f, "r")
            try:
                reader = pa.ipc.open_file(source)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            except pa.ArrowInvalid:
                source.seek(0)
                reader = pa.ipc.open_stream(source)
                batches = iter(reader)
            names = reader.schema.names
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"{f}: not an Arrow IPC / Feather v2 file ({e})") from e
        text_col = pick_text_column(names, opts, f)
        check_id_column(names, opts, f)
        row0 = 0
        try:
            for b in batches:
                yield from _emit(b, text_col, row0, f, opts)
                row0 += b.num_rows
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"{f}: corrupt Arrow data near row {row0} ({e})") from e


def _read_table(table: pa.Table, source: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    text_col = pick_text_column(table.column_names, opts, source)
    check_id_column(table.column_names, opts, source)
    row0 = 0
    for b in table.to_batches(max_chunksize=opts.batch_size):
        yield from _emit(b, text_col, row0, source, opts)
        row0 += b.num_rows


def _read_hf_disk(path: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    import datasets

    try:
        ds = datasets.load_from_disk(path)
    except Exception as e:  # datasets raises FileNotFoundError / ValueError variants
        raise InputError(f"{path}: not a datasets save_to_disk directory ({e})") from e
    return _read_hf_object(ds, opts, source=path)


def _read_hf_object(ds: Any, opts: ReadOptions, source: str | None = None) -> Iterator[pa.RecordBatch]:
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
            yield from _emit(b, text_col, row0, name, opts)
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
        yield from _emit(b, text_col, row0, name, opts)
        row0 += b.num_rows


# ---- a directory of .txt files ------------------------------------------------------------------------------

def _read_txt_dir(path: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    root = Path(path)
    files = _files(path, (".txt",))
    texts: list[str] = []
    ids: list[str] = []
    rows: list[int] = []
    for i, f in enumerate(files):
        try:
            text = Path(f).read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            bad_record(opts, source=f, row=i, reason=f"file is not valid UTF-8 ({e.reason} at byte {e.start})")
            continue
        texts.append(text)
        ids.append(str(Path(f).relative_to(root)) if root.is_dir() else f)
        rows.append(i)
        if len(texts) >= opts.batch_size:
            yield make_batch(pa.array(texts, pa.large_string()), pa.array(rows, pa.int64()), path, opts,
                             pa.array(ids, pa.string()))
            texts, ids, rows = [], [], []
    if texts:
        yield make_batch(pa.array(texts, pa.large_string()), pa.array(rows, pa.int64()), path, opts,
                         pa.array(ids, pa.string()))
