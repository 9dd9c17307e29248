"""Documents of a text ``--data`` source, fetched by dataset index (file order) or by doc id.

Orders over text data (manifest, sampler, sequential) name documents by their row in ``--data`` or by their
id. The corpus is streamed once per request and only the wanted documents are kept, so memory is bounded by
the documents of the mapped steps, not by the corpus.
"""

from __future__ import annotations

from typing import Any, Iterable

from ...errors import ConfigError, InputError


def _batches(data: Any, read: Any):
    from ...io.readers import read_documents

    kw: dict[str, Any] = {}
    if read is not None:
        # keyword overrides work with both the old and the new read_documents signature
        kw = dict(fmt=read.fmt, text_column=read.text_column, id_column=read.id_column,
                  batch_size=read.batch_size, on_bad_record=read.on_bad_record)
    return read_documents(data, split="train", **kw)


def require_exact_rows(read: Any, what: str) -> None:
    """Orders that count rows (the sampler) break when bad records are skipped: the indices would shift."""
    if read is not None and getattr(read, "on_bad_record", "fail") == "skip":
        raise ConfigError(f"--order {what} counts documents in file order, and skipped bad records would shift "
                          f"every index after them; use --on-bad-record fail (the default) with this order")


def count_documents(data: Any, read: Any) -> int:
    n = 0
    for b in _batches(data, read):
        n += b.num_rows
    if n == 0:
        raise InputError(f"{data}: no documents; --data must be the training set the run read")
    return n


def fetch_by_index(data: Any, read: Any, indices: Iterable[int]) -> dict[int, tuple[str, str]]:
    """{dataset index: (doc_id, text)} for the wanted indices (0-based, in file order)."""
    want = sorted(set(int(i) for i in indices))
    out: dict[int, tuple[str, str]] = {}
    if not want:
        return out
    import numpy as np

    want_arr = np.asarray(want, dtype=np.int64)
    base = 0
    for b in _batches(data, read):
        lo, hi = np.searchsorted(want_arr, [base, base + b.num_rows])
        if hi > lo:
            ids = b.column("doc_id")
            texts = b.column("text")
            for i in want_arr[lo:hi].tolist():
                out[i] = (ids[i - base].as_py(), texts[i - base].as_py())
        base += b.num_rows
        if len(out) == len(want):
            break
    missing = [i for i in want if i not in out]
    if missing:
        raise InputError(f"{data}: has {base} documents but the order refers to index {missing[0]}; pass the "
                         f"training set the run read as --data (same files, same order)")
    return out


def fetch_by_id(data: Any, read: Any, ids: Iterable[str]) -> tuple[dict[str, tuple[int, str]], int]:
    """({doc_id: (dataset index, text)} for the wanted ids, documents scanned). Missing ids are left out."""
    want = set(ids)
    out: dict[str, tuple[int, str]] = {}
    base = 0
    for b in _batches(data, read):
        col = b.column("doc_id").to_pylist()
        hits = [j for j, d in enumerate(col) if d in want and d not in out]
        if hits:
            texts = b.column("text")
            for j in hits:
                out[col[j]] = (base + j, texts[j].as_py())
        base += b.num_rows
        if len(out) == len(want):
            break
    return out, base
