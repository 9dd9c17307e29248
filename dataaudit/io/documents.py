"""Anything to documents: paths, Tables, record batches, strings, (doc_id, text) pairs, as chunks.

The scorer and the byte model's sampler take data in every form a person has at hand; this adapter turns it
into chunks of ``(doc_ids, splits, texts)``. Paths, pyarrow Tables and ``datasets`` objects go through
``read_documents`` (with one ``ReadConfig``); a ``DocSource`` (or any callable returning batches) is called;
anything else is iterated as record batches, strings or pairs. A source that yields no document at all is an
``InputError``, as it is for the readers.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Iterator

import pyarrow as pa

from ..config import ReadConfig
from ..errors import InputError


def _name(data: Any) -> str:
    if isinstance(data, (str, os.PathLike)):
        return str(data)
    return getattr(data, "name", None) or f"<{type(data).__name__}>"


def iter_docs(data: Any, read: ReadConfig = ReadConfig(), *, chunk: int | None = None, split: str = "data",
              bad_log=None) -> Iterator[tuple[list[str], list[str], list[str]]]:
    """``data`` as chunks of at most ``chunk`` (default ``read.batch_size``) ``(doc_ids, splits, texts)``.

    ``data``: a path, a pyarrow Table, a ``datasets`` object (all read by ``read_documents`` with ``read``),
    a callable returning record batches (a ``DocSource``), a record batch, or an iterable of DOC_SCHEMA record
    batches / Tables, strings (doc ids "0", "1", ...) or (doc_id, text) pairs. Raises ``InputError`` when
    nothing at all comes out of it.
    """
    chunk = chunk or read.batch_size
    if isinstance(data, (str, os.PathLike)) or isinstance(data, pa.Table) or \
            type(data).__module__.startswith("datasets"):
        from .readers import read_documents

        batches: Iterable[Any] = read_documents(data, read, split=split, bad_log=bad_log, batch_size=chunk)
    elif isinstance(data, pa.RecordBatch):
        batches = [data]
    elif callable(data) and not isinstance(data, type):
        batches = data()
    else:
        batches = data
    ids: list[str] = []
    splits: list[str] = []
    texts: list[str] = []
    n = 0
    for item in batches:
        first = len(texts)
        if isinstance(item, (pa.RecordBatch, pa.Table)):
            if "text" not in item.schema.names:
                raise InputError(f"record batch has no 'text' column; columns: {item.schema.names}. Read the "
                                 f"data with dataaudit.io.readers.read_documents(..., text_column=...)")
            t = item.column("text").to_pylist()
            ids += item.column("doc_id").to_pylist() if "doc_id" in item.schema.names \
                else [str(n + i) for i in range(len(t))]
            splits += item.column("split").to_pylist() if "split" in item.schema.names else [split] * len(t)
            texts += t
            n += len(t)
        elif isinstance(item, str):
            ids.append(str(n)); splits.append(split); texts.append(item); n += 1
        elif isinstance(item, tuple) and len(item) == 2:
            ids.append(str(item[0])); splits.append(split); texts.append(item[1]); n += 1
        else:
            raise InputError(f"cannot read an item of type {type(item).__name__} as a document; pass a path, a "
                             f"pyarrow Table, DOC_SCHEMA record batches, strings, or (doc_id, text) pairs")
        for k in range(first, len(texts)):
            if not isinstance(texts[k], str):
                raise InputError(f"document {ids[k]!r} has text of type {type(texts[k]).__name__}, not a string; "
                                 f"read the data with on_bad_record='skip' to count and skip such records")
        while len(texts) >= chunk:
            yield ids[:chunk], splits[:chunk], texts[:chunk]
            ids, splits, texts = ids[chunk:], splits[chunk:], texts[chunk:]
    if texts:
        yield ids, splits, texts
    elif n == 0:
        raise InputError(f"{_name(data)}: no documents; give a source with at least one document")
