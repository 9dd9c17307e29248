"""Readers: every supported source -> a stream of DOC_SCHEMA record batches, never the whole corpus in memory.

Formats (detected from the path, overridable with ``fmt``): ``jsonl`` (plain, .gz, .zst), ``parquet`` (a file,
a directory or a glob of shards), ``arrow`` (IPC file or stream, Feather v2), ``csv``/``tsv``, ``txt`` (a directory
of .txt files, one document per file), ``hf`` (a ``datasets`` ``save_to_disk`` directory); and through the Python
API, ``datasets.Dataset`` / ``IterableDataset`` / ``DatasetDict`` objects and pyarrow Tables.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa

from ..config import ReadConfig
from ..errors import DataAuditError, InputError
from .columnar import emit, read_arrow_file, read_hf_disk, read_hf_object, read_parquet_file, read_table
from .common import ReadOptions, bad_record, check_id_column, cut_last_line, finish, make_batch, pick_text_column
from .compressed import COMPRESSED_SUFFIXES, CompressedStreamError, drain, open_maybe_compressed

FORMATS = ("jsonl", "parquet", "arrow", "csv", "tsv", "txt", "hf")

_SUFFIXES = {
    ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
    ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow",
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "txt",
}


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
                         f"datasets save_to_disk directory. Point at the data files or pass --input-format")
    name = path.name.lower()
    for c in COMPRESSED_SUFFIXES:
        if name.endswith(c):
            name = name[: -len(c)]
            break
    fmt = _SUFFIXES.get(Path(name).suffix)
    if fmt is None or fmt == "txt":
        raise InputError(f"{p}: cannot tell the format from the name; pass --input-format with one of {list(FORMATS)} "
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


_CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(ReadConfig))


def read_documents(source: Any, read: ReadConfig | None = None, *, split: str = "data", bad_log=None,
                   progress: Callable[[int, int], None] | None = None, **overrides: Any) -> Iterator[pa.RecordBatch]:
    """Stream ``source`` as DOC_SCHEMA record batches of at most ``read.batch_size`` documents.

    ``source`` is a path (file, directory or glob), a pyarrow Table, or a ``datasets`` object. ``read`` says
    how (format, columns, batch size, bad-record policy); keywords named after ``ReadConfig`` fields override
    it (``read_documents(p, text_column="body", on_bad_record="skip")``). Bad records (invalid JSON, null or
    non-string text, undecodable bytes) raise ``BadRecordError`` with their location, or with
    ``on_bad_record="skip"`` are counted and located in ``bad_log`` and skipped, until more than
    ``max_bad_records`` of this call's records are bad. A truncated or corrupt file, and a source that
    yields no documents, raise ``InputError``. Errors about the source itself are raised by this call;
    errors found while reading, by the iteration.
    """
    read = read if read is not None else ReadConfig()
    if not isinstance(read, ReadConfig):
        raise TypeError(f"read_documents(): read must be a ReadConfig, not {type(read).__name__}")
    unknown = sorted(set(overrides) - _CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"read_documents() got an unexpected keyword argument {unknown[0]!r}; "
                        f"the ReadConfig fields are {sorted(_CONFIG_FIELDS)}")
    if overrides:
        read = dataclasses.replace(read, **overrides)
    name = str(source) if isinstance(source, (str, os.PathLike)) else (
        "<table>" if isinstance(source, pa.Table) else f"<{type(source).__name__}>")
    kw: dict[str, Any] = dict(name=name, split=split, text_column=read.text_column, id_column=read.id_column,
                              batch_size=read.batch_size, on_bad_record=read.on_bad_record,
                              max_bad_records=read.max_bad_records, progress=progress)
    if bad_log is not None:
        kw["bad_log"] = bad_log
    opts = ReadOptions(**kw)
    return _checked(_open_source(source, read.fmt, opts), opts)


def _open_source(source: Any, fmt: str | None, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    if isinstance(source, pa.Table):
        return read_table(source, "<table>", opts)
    if not isinstance(source, (str, os.PathLike)):
        return read_hf_object(source, opts)
    path = str(source)
    if fmt is None:
        fmt = detect_format(path)
    elif fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; pass --input-format with one of {list(FORMATS)}")
    elif not _is_glob(path) and not Path(path).exists():
        raise InputError(f"{path}: no such file or directory")
    if fmt == "tsv":
        return _read_csv(path, opts, delimiter="\t")
    reader = {"jsonl": _read_jsonl_files, "parquet": _read_parquet, "arrow": _read_arrow, "csv": _read_csv,
              "txt": _read_txt_dir, "hf": read_hf_disk}[fmt]
    return reader(path, opts)


def _checked(batches: Iterator[pa.RecordBatch], opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    yield from batches
    finish(opts)  # only once the stream is exhausted: a consumer that stops early is not an error


# ---- JSON lines -------------------------------------------------------------------------------------------

def _read_jsonl_files(path: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    for f in _files(path, (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst",
                           ".jsonl.zstd")):
        yield from _read_jsonl(f, opts)


_CUT = "; it is the last line and does not end with a newline: the file may be truncated"


def _read_jsonl(path: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    texts: list[str] = []
    ids: list[str] = []
    rows: list[int] = []
    cols: list[str] = []  # the text column, once the first object has named it
    row = -1

    def flush():
        b = make_batch(pa.array(texts, pa.large_string()), pa.array(rows, pa.int64()), path, opts,
                       pa.array(ids, pa.string()) if opts.id_column else None)
        texts.clear(), ids.clear(), rows.clear()
        return b

    try:
        with open_maybe_compressed(path) as fh:
            try:
                for lineno, raw in enumerate(fh, start=1):
                    if not raw.strip():
                        continue
                    row += 1
                    rec = _jsonl_record(raw, lineno, row, path, opts, cols)
                    if rec is None:
                        continue
                    texts.append(rec[0])
                    if opts.id_column:
                        ids.append(rec[1])
                    rows.append(row)
                    if len(texts) >= opts.batch_size:
                        yield flush()
            except CompressedStreamError:
                raise
            except DataAuditError:
                if path.lower().endswith(COMPRESSED_SUFFIXES):
                    drain(fh)  # a garbled record may be a corrupt stream (gzip checks its CRC at the end)
                raise
    except OSError as e:  # decompression errors arrive as CompressedStreamError
        raise InputError(f"{path}: cannot read ({e}); check the path and its permissions") from None
    if texts:
        yield flush()


def _jsonl_record(raw: bytes, lineno: int, row: int, path: str, opts: ReadOptions,
                  cols: list[str]) -> tuple[str, str] | None:
    """(text, id) of one JSON line, or None after reporting it as a bad record."""
    cut = "" if raw.endswith(b"\n") else _CUT  # only the last line can lack its newline

    def bad(reason: str) -> None:
        bad_record(opts, source=path, line=lineno, row=row, reason=reason)

    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        if cut:
            raise cut_last_line(path, lineno, f"not UTF-8: {e.reason} at byte {e.start}") from None
        return bad(f"line is not valid UTF-8 ({e.reason} at byte {e.start})")
    except ValueError as e:
        if cut:
            raise cut_last_line(path, lineno, f"invalid JSON: {e}") from None
        return bad(f"invalid JSON ({e})")
    if not isinstance(obj, dict):
        return bad(f"line is a JSON {type(obj).__name__}, not an object{cut}")
    if not cols:
        cols.append(pick_text_column(list(obj), opts, path))
        check_id_column(list(obj), opts, path)
    text = obj.get(cols[0])
    if not isinstance(text, str):
        why = "missing" if cols[0] not in obj else ("null" if text is None else f"a {type(text).__name__}, not a "
                                                                                 f"string")
        return bad(f"text field {cols[0]!r} is {why}")
    ident = None
    if opts.id_column:
        ident = obj.get(opts.id_column)
        if ident is None:
            return bad(f"id field {opts.id_column!r} is missing or null")
    return text, str(ident)


# ---- CSV / TSV ---------------------------------------------------------------------------------------------

def _read_csv(path: str, opts: ReadOptions, delimiter: str = ",") -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pcsv

    for f in _files(path, (".csv", ".tsv", ".tab")):
        delim = "\t" if f.lower().endswith((".tsv", ".tab")) else delimiter
        with open(f, "rb") as fh:
            head = fh.readline().decode("utf-8", errors="replace").rstrip("\r\n")
        if not head:
            raise InputError(f"{f}: empty file (no header line); check the path, or pass --input-format if it "
                             f"is not CSV/TSV")
        import csv

        try:
            columns = next(csv.reader([head], delimiter=delim))
        except csv.Error as e:
            raise InputError(f"{f}: cannot parse the header line ({e}); a {'TSV' if delim == chr(9) else 'CSV'} "
                             f"file starts with a line of column names") from None
        text_col = pick_text_column(columns, opts, f)
        check_id_column(columns, opts, f)
        types = {text_col: pa.large_binary()}
        if opts.id_column:
            types[opts.id_column] = pa.string()

        pending: list[DataAuditError] = []  # raised by us, not inside pyarrow's callback (it would print it)

        def on_invalid(row, _f=f):
            try:
                bad_record(opts, source=_f, line=row.number,
                           reason=f"expected {row.expected_columns} columns, found {row.actual_columns}")
            except DataAuditError as e:
                pending.append(e)
                return "error"
            return "skip"

        kind = "TSV" if delim == "\t" else "CSV"
        try:
            reader = pcsv.open_csv(
                f, read_options=pcsv.ReadOptions(block_size=1 << 22, use_threads=False),
                parse_options=pcsv.ParseOptions(delimiter=delim, newlines_in_values=True,
                                                invalid_row_handler=on_invalid),
                convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                    include_columns=list(types)))
        except pa.ArrowInvalid as e:
            if pending:
                raise pending[0] from None
            raise InputError(f"{f}: cannot parse as {kind} ({e})") from None
        try:
            row0 = 0
            while True:
                try:
                    b = reader.read_next_batch()
                except StopIteration:
                    break
                except pa.ArrowInvalid as e:
                    if pending:
                        raise pending[0] from None
                    raise InputError(f"{f}: cannot parse as {kind} ({e}); if the file was cut short, "
                                     f"re-download it") from None
                yield from emit(b, text_col, row0, f, opts)
                row0 += b.num_rows
        finally:
            reader.close()


# ---- columnar: Parquet, Arrow IPC (the formats themselves live in columnar.py) ----------------------------------

def _read_parquet(path: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    for f in _files(path, (".parquet", ".pq")):
        yield from read_parquet_file(f, opts)


def _read_arrow(path: str, opts: ReadOptions) -> Iterator[pa.RecordBatch]:
    for f in _files(path, (".arrow", ".feather", ".ipc")):
        yield from read_arrow_file(f, opts)


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
