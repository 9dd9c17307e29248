"""What every reader shares: options, text-column detection, building DOC_SCHEMA batches, bad records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Literal, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import BadRecordError, ConfigError, InputError
from ..records import DOC_SCHEMA, BadRecord, BadRecordLog

#: Tried in order when --text-column is not given.
TEXT_COLUMN_CANDIDATES = ("text", "content", "document", "raw_content", "body", "article", "passage",
                          "sentence", "contents", "question", "prompt")

OnBadRecord = Literal["fail", "skip"]


@dataclass(kw_only=True)
class ReadOptions:
    """How to turn one source into documents (built by ``read_documents`` from a ``ReadConfig``), and the
    counts of one ``read_documents`` call, against which ``max_bad_records`` is checked."""

    name: str = "<source>"              # the source as the user gave it: named by limit and empty-input errors
    split: str = "data"                 # label stamped on every document of this source
    text_column: str | None = None      # None: first of TEXT_COLUMN_CANDIDATES present
    id_column: str | None = None        # None: doc_id is "<source>:<row>"
    batch_size: int = 4096              # documents per record batch: memory is bounded by this
    on_bad_record: OnBadRecord = "fail"  # fail: stop at the first bad record; skip: count, locate, go on
    max_bad_records: int | float = 0.01  # with skip: a count (int) or a share of records read (float < 1)
    bad_log: BadRecordLog = field(default_factory=BadRecordLog)
    progress: Callable[[int, int], None] | None = None  # called with (docs, text bytes) per batch
    good: int = 0                       # documents emitted by this call
    bad: int = 0                        # bad records skipped by this call (bad_log may be shared across calls)

    def __post_init__(self) -> None:
        if self.on_bad_record not in ("fail", "skip"):
            raise ConfigError(f"--on-bad-record must be 'fail' or 'skip', not {self.on_bad_record!r}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")


def plural(n: int, noun: str) -> str:
    """``plural(1, "bad record")`` -> ``"1 bad record"``; ``plural(2, "bad record")`` -> ``"2 bad records"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _past_limit(opts: ReadOptions) -> bool:
    m = opts.max_bad_records
    if isinstance(m, float):
        return opts.bad / (opts.good + opts.bad) > m
    return opts.bad > m


def _limit_error(opts: ReadOptions, where: str | None = None) -> InputError:
    past = f"past --max-bad-records {opts.max_bad_records}; fix the file, or raise --max-bad-records"
    if where is not None:  # stopped early, on a count: the total is not known yet
        was = "was" if opts.bad == 1 else "were"
        return InputError(f"{opts.name}: {plural(opts.bad, 'record')} {was} invalid and skipped (the last at "
                          f"{where}), {past}")
    total = opts.good + opts.bad
    return InputError(f"{opts.name}: {opts.bad} of {plural(total, 'record')} ({100.0 * opts.bad / total:.1f}%) "
                      f"were invalid and skipped, {past}")


def finish(opts: ReadOptions) -> None:
    """End of one source's stream: enforce --max-bad-records (a count or a share) and refuse empty input."""
    if opts.bad and _past_limit(opts):
        raise _limit_error(opts)
    if opts.good == 0:
        skipped = f" ({plural(opts.bad, 'bad record')} skipped)" if opts.bad else ""
        raise InputError(f"no documents read from {opts.name}{skipped}. Check the path, --input-format and "
                         f"--text-column")


def pick_text_column(columns: Sequence[str], opts: ReadOptions, source: str) -> str:
    """The text column: the one asked for, or the first known name present; else a one-line error."""
    if opts.text_column is not None:
        if opts.text_column not in columns:
            raise InputError(f"column {opts.text_column!r} not found in {source}; available: {list(columns)}. "
                             f"Pass --text-column with one of them")
        return opts.text_column
    for c in TEXT_COLUMN_CANDIDATES:
        if c in columns:
            return c
    raise InputError(f"no text column found in {source}; available: {list(columns)}. "
                     f"Pass --text-column NAME")


def check_id_column(columns: Sequence[str], opts: ReadOptions, source: str) -> None:
    if opts.id_column is not None and opts.id_column not in columns:
        raise InputError(f"id column {opts.id_column!r} not found in {source}; available: {list(columns)}. "
                         f"Pass --id-column with one of them, or leave it out to use <source>:<row>")


def bad_record(opts: ReadOptions, *, source: str, reason: str, row: int | None = None,
               line: int | None = None) -> None:
    """Fail (raise) or count-and-locate one bad record, according to --on-bad-record."""
    where = f"{source}" + (f" line {line}" if line is not None else "") + (
        f" row {row}" if row is not None and line is None else "")
    if opts.on_bad_record == "fail":
        raise BadRecordError(f"{where}: {reason}. Fix the record, or pass --on-bad-record skip to count "
                             f"and skip bad records", source=source, row=row, line=line, reason=reason)
    opts.bad_log.add(BadRecord(source=source, row=row, line=line, reason=reason))
    opts.bad += 1
    if not isinstance(opts.max_bad_records, float) and _past_limit(opts):
        raise _limit_error(opts, where)  # a count needs no total: stop now, not at the end


def make_batch(texts: pa.Array, rows: pa.Array, source: str, opts: ReadOptions,
               ids: pa.Array | None = None) -> pa.RecordBatch:
    """Assemble one DOC_SCHEMA batch from a (valid, non-null) text array and its 0-based source rows."""
    n = len(texts)
    opts.good += n
    if ids is None:
        ids = pc.binary_join_element_wise(pa.array([source] * n, pa.string()),
                                          pc.cast(rows, pa.string()), ":") if n else pa.array([], pa.string())
    elif ids.type != pa.string():
        ids = pc.cast(ids, pa.string())
    batch = pa.RecordBatch.from_arrays(
        [ids, pa.array([opts.split] * n, pa.string()), pc.cast(texts, pa.large_string()),
         pa.array([source] * n, pa.string()), pc.cast(rows, pa.int64())],
        schema=DOC_SCHEMA)
    if opts.progress is not None:
        opts.progress(n, pc.sum(pc.binary_length(batch.column(2))).as_py() or 0)
    return batch


def clean_text_array(texts: pa.Array, rows: pa.Array, source: str, opts: ReadOptions,
                     ids: pa.Array | None = None) -> pa.RecordBatch | None:
    """Check one column chunk of text (type, nulls, UTF-8), report bad rows, return the good ones as a batch."""
    if pa.types.is_null(texts.type):
        texts = pa.nulls(len(texts), pa.string())
    was_null = pc.is_null(texts)  # rows that fail UTF-8 decoding become null too, but are reported once
    if pa.types.is_binary(texts.type) or pa.types.is_large_binary(texts.type):
        texts = _decode_binary(texts, rows, source, opts)
    elif not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        raise InputError(f"text column in {source} has type {texts.type}, not string. "
                         f"Pass --text-column naming a string column")
    else:
        try:
            texts.validate(full=True)
        except pa.ArrowInvalid:
            texts = _decode_binary(pc.cast(texts.view(pa.large_binary() if pa.types.is_large_string(texts.type)
                                                      else pa.binary()), pa.large_binary()), rows, source, opts)
    if ids is not None and ids.null_count:
        for i in pc.indices_nonzero(pc.is_null(ids)).to_pylist():
            if texts[i].is_valid:
                bad_record(opts, source=source, row=rows[i].as_py(), reason="null id in the id column")
        texts = pc.if_else(pc.is_null(ids), pa.scalar(None, texts.type), texts)
    if texts.null_count:
        mask = pc.is_valid(texts)
        for i in pc.indices_nonzero(pc.invert(mask)).to_pylist():
            if was_null[i].as_py():  # (null ids and bad UTF-8 were reported above)
                bad_record(opts, source=source, row=rows[i].as_py(), reason="text is null")
        texts, rows = texts.filter(mask), rows.filter(mask)
        ids = ids.filter(mask) if ids is not None else None
    if len(texts) == 0:
        return None
    return make_batch(texts, rows, source, opts, ids)


def _decode_binary(texts: pa.Array, rows: pa.Array, source: str, opts: ReadOptions) -> pa.Array:
    try:
        return pc.cast(texts, pa.large_string())
    except pa.ArrowInvalid:
        out = []
        for i, v in enumerate(texts.to_pylist()):
            if v is None:
                out.append(None)
                continue
            try:
                out.append(v.decode("utf-8"))
            except UnicodeDecodeError as e:
                bad_record(opts, source=source, row=rows[i].as_py(),
                           reason=f"text is not valid UTF-8 ({e.reason} at byte {e.start})")
                out.append(None)
        return pa.array(out, pa.large_string())


def rebatch(batches, size: int):
    """Split each RecordBatch into batches of at most ``size`` rows (zero-copy slices; never merges two inputs,
    so a reader's cuts stay where its row groups or lines put them). ``recut`` merges as well as splits."""
    for b in batches:
        for off in range(0, b.num_rows, size):
            yield b.slice(off, size)


def recut(parts: Iterable[pa.Table | pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """The rows of ``parts`` (tables or record batches), in order, as tables of exactly ``rows`` rows (the last
    one shorter), each in one chunk: the cuts depend on the row order only, never on how the rows came in, so
    files written from them are the same bytes whatever the upstream batching (engines, flush sizes)."""
    held: list[pa.Table] = []
    n = 0
    for p in parts:
        if p.num_rows == 0:
            continue
        held.append(pa.Table.from_batches([p]) if isinstance(p, pa.RecordBatch) else p)
        n += p.num_rows
        if n < rows:
            continue
        whole = pa.concat_tables(held)
        start = 0
        while n - start >= rows:
            yield whole.slice(start, rows).combine_chunks()
            start += rows
        held = [whole.slice(start)] if start < n else []
        n -= start
    if n:
        yield pa.concat_tables(held).combine_chunks()


def cut_last_line(path: str, lineno: int, why: str) -> InputError:
    """The error for a JSON Lines file whose last line does not parse and has no newline: the file was cut
    off (a copy or download that stopped), so it is an input error, never a bad record to skip, whatever
    ``--on-bad-record`` says (a complete file's last line either parses or is an ordinary bad record)."""
    return InputError(f"{path} line {lineno}: truncated JSON Lines file: the last line is not valid ({why}) and "
                      f"does not end with a newline; re-download or re-write the file")
