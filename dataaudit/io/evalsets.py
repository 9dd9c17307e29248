"""Evaluation sets as they come: ``--eval FILE[:FIELD[+FIELD...]]`` read into documents.

A benchmark file is a table of items, not of documents: the text a model sees is often several fields (a
question and its choices), sometimes nested (OpenBookQA's ``question.stem``) or a list (HellaSwag's
``endings``, OpenBookQA's ``question.choices``, a list of ``{"text", "label"}`` dicts). This module turns each
item into one document:

- ``FIELD`` is a dotted path into the record (``question.stem``); a list on the way is mapped over, and a
  list of dicts yields each dict's ``text`` (else its first string value);
- several fields (``question.stem+question.choices``) are joined with :data:`JOINER` (a newline), each list
  element on its own line: the way a prompt shows them, and whitespace to every pass;
- with no field, the file's fields are matched against the layouts of common benchmarks
  (:data:`KNOWN_LAYOUTS`), then against one-field names (:data:`TEXT_FIELDS`); when nothing fits, the error
  lists the fields and the flag to pass.

doc_ids are relative: ``<set>:<id>`` with the item's own id field (``id``, ``idx``, ``pairID``... or
``--eval-id-field``), else ``<set>:<row>`` (``boolq:17``), so a report reads the same on every machine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import pyarrow as pa

from ..errors import ConfigError, InputError
from ..records import DOC_SCHEMA, BadRecordLog
from .common import ReadOptions, bad_record, cut_last_line, finish

JOINER = "\n"

#: (fields that must all be present -> the fields audited), most specific first
KNOWN_LAYOUTS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("question.stem", "question.choices"), ("question.stem", "question.choices")),   # OpenBookQA, ARC
    (("ctx", "endings"), ("ctx", "endings")),                                          # HellaSwag
    (("input", "A", "B", "C", "D"), ("input", "A", "B", "C", "D")),                    # MMLU (lm-eval layout)
    (("question", "choices"), ("question", "choices")),                                # MMLU (HF layout)
    (("goal", "sol1", "sol2"), ("goal", "sol1", "sol2")),                              # PIQA
    (("premise", "hypothesis"), ("premise", "hypothesis")),                            # NLI
    (("sentence1", "sentence2"), ("sentence1", "sentence2")),                          # MNLI, RTE
    (("passage", "question"), ("passage", "question")),                                # BoolQ
    (("context", "question"), ("context", "question")),                                # SQuAD
)
TEXT_FIELDS = ("text", "content", "document", "question", "prompt", "input", "query", "problem", "sentence",
               "premise", "goal", "ctx", "context", "passage", "instruction")
ID_FIELDS = ("id", "idx", "pairID", "question_id", "qid", "example_id", "uid", "guid", "ID", "task_id")


def parse_eval_spec(spec: Any) -> tuple[Any, tuple[str, ...] | None]:
    """``"boolq.jsonl:question+passage"`` -> (path, fields); a path that exists as given keeps its colons.

    >>> parse_eval_spec("obqa.jsonl:question.stem+question.choices")
    ('obqa.jsonl', ('question.stem', 'question.choices'))
    >>> parse_eval_spec("nq.jsonl")
    ('nq.jsonl', None)
    """
    if not isinstance(spec, (str, os.PathLike)):
        return spec, None
    s = str(spec)
    if os.path.exists(s) or ":" not in s:
        return spec, None
    path, _, tail = s.rpartition(":")
    fields = tuple(f.strip() for f in tail.split("+"))
    if not path or not all(fields):
        raise ConfigError(f"--eval {s!r}: write FILE:FIELD or FILE:FIELD+FIELD (e.g. obqa.jsonl:question.stem+"
                          f"question.choices)")
    return path, fields


def _get(rec: Any, path: str) -> Any:
    cur = rec
    for part in path.split("."):
        if isinstance(cur, list):
            cur = [c.get(part) if isinstance(c, dict) else None for c in cur]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


def _has(rec: dict, path: str) -> bool:
    return _get(rec, path) is not None


def _flatten(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, bool):
        return []
    if isinstance(v, (int, float)):
        return [str(v)]
    if isinstance(v, dict):
        if isinstance(v.get("text"), str):
            return [v["text"]]
        return next(([x] for x in v.values() if isinstance(x, str)), [])
    if isinstance(v, (list, tuple)):
        return [s for x in v for s in _flatten(x)]
    return [str(v)]


def item_text(rec: dict, fields: Sequence[str]) -> str:
    """The text of one item: each field's strings (list elements one per line) joined with ``JOINER``.

    >>> item_text({"question": {"stem": "Why?", "choices": [{"text": "a", "label": "A"}, {"text": "b"}]}},
    ...           ["question.stem", "question.choices"])
    'Why?\\na\\nb'
    """
    return JOINER.join(s for f in fields for s in _flatten(_get(rec, f)) if s)


def _field_names(rec: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in rec.items():
        out.append(prefix + k)
        if isinstance(v, dict):
            out += _field_names(v, prefix + k + ".")
    return out


def detect_fields(rec: dict, source: str) -> tuple[str, ...]:
    """The fields audited when none is given: a known benchmark layout, else one text-like field."""
    for need, fields in KNOWN_LAYOUTS:
        if all(_has(rec, f) for f in need):
            return fields
    for f in TEXT_FIELDS:
        if _flatten(_get(rec, f)):
            return (f,)
    raise InputError(f"no text field found in {source}; fields: {_field_names(rec)}. Pass --eval "
                     f"{source}:FIELD (several: FIELD+FIELD, nested: a.b) or --eval-field NAME")


@dataclass
class _Rows:
    """Records of one eval file as dicts, with their 1-based line numbers (JSONL) or None."""

    path: str
    fmt: str

    def __iter__(self) -> Iterator[tuple[int, int | None, Any]]:
        if self.fmt == "jsonl":
            from .compressed import open_maybe_compressed

            with open_maybe_compressed(self.path) as fh:
                row = 0
                for line_no, raw in enumerate(fh, 1):
                    if not raw.strip():
                        continue
                    try:
                        yield row, line_no, json.loads(raw)
                    except (ValueError, UnicodeDecodeError) as e:
                        if not raw.endswith(b"\n"):          # only the last line lacks it: the file was cut off
                            raise cut_last_line(self.path, line_no, str(e)) from None
                        yield row, line_no, e
                    row += 1
        elif self.fmt == "json":
            with open(self.path, "rb") as fh:
                data = json.load(fh)
            if isinstance(data, dict):        # {"data": [...]} or {"split": [...]}
                data = next((v for v in data.values() if isinstance(v, list)), [data])
            for row, rec in enumerate(data):
                yield row, None, rec
        else:
            import pyarrow.dataset as ds

            fmt = {"parquet": "parquet", "arrow": "ipc", "csv": "csv", "tsv": "csv"}[self.fmt]
            kw = {}
            if self.fmt == "tsv":
                import pyarrow.csv as pcsv

                kw["format"] = ds.CsvFileFormat(parse_options=pcsv.ParseOptions(delimiter="\t"))
            else:
                kw["format"] = fmt
            row = 0
            for b in ds.dataset(self.path, **kw).to_batches():
                for rec in b.to_pylist():
                    yield row, None, rec
                    row += 1


def _format(path: str) -> str:
    low = path.lower()
    for suf in (".gz", ".zst", ".zstd", ".bz2", ".xz"):
        if low.endswith(suf):
            low = low[: -len(suf)]
    if low.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if low.endswith(".json"):
        with open(path, "rb") as fh:
            head = fh.read(4096).lstrip()
        return "json" if head.startswith(b"[") or (head.startswith(b"{") and b"\n{" not in head) else "jsonl"
    for ext in ("parquet", "arrow", "csv", "tsv"):
        if low.endswith("." + ext):
            return ext
    if low.endswith(".feather") or low.endswith(".ipc"):
        return "arrow"
    raise InputError(f"{path}: unknown eval file format; use JSONL, JSON, Parquet, Arrow, CSV or TSV")


class EvalSource:
    """Calling it returns a fresh iterator of DOC_SCHEMA batches of one eval set (the ``DocSource`` interface).

    The fields and the id field are settled when it is built (from the first record), so a file with no
    usable field fails before any pass runs, and the report can say what was audited.
    """

    def __init__(self, spec: Any, *, split: str, read: Any, fields: Sequence[str] | None = None,
                 default_field: str | None = None, id_field: str | None = None, progress: Any = None) -> None:
        data, spec_fields = parse_eval_spec(spec)
        self.data, self.split, self.read, self.progress = data, split, read, progress
        self.bad_log: BadRecordLog | None = None
        self.docs = 0
        self.name = str(data) if isinstance(data, (str, os.PathLike)) else f"<{type(data).__name__}>"
        fields = tuple(fields or spec_fields or ((default_field,) if default_field else ()))
        self.fields_from = "flag" if spec_fields else ("--eval-field" if fields else "detected")
        if isinstance(data, (str, os.PathLike)):
            p = str(data)
            if not os.path.isfile(p):
                raise InputError(f"--eval {p}: no such file")
            self.fmt = _format(p)
        else:
            self.fmt = "table"
        first = next((rec for _, _, rec in self._records() if isinstance(rec, dict)), None)
        if first is None:
            raise InputError(f"no records read from eval file {self.name}")
        if not fields:
            fields = detect_fields(first, self.name)
        else:
            missing = [f for f in fields if not _has(first, f)]
            if missing:
                raise InputError(f"field {missing[0]!r} not found in {self.name}; fields: {_field_names(first)}. "
                                 f"Pass --eval {self.name}:FIELD[+FIELD...] or --eval-field NAME")
        self.fields = tuple(fields)
        if id_field is not None and id_field not in first:
            raise InputError(f"id field {id_field!r} not found in {self.name}; fields: {list(first)}. "
                             f"Pass --eval-id-field NAME")
        self.id_field = id_field or next((f for f in ID_FIELDS if f in first and first[f] is not None), None)

    def describe(self) -> dict[str, Any]:
        """What the report records about this set."""
        return {"file": self.name, "fields": list(self.fields), "fields_from": self.fields_from,
                "joiner": JOINER, "id_field": self.id_field}

    def _records(self) -> Iterator[tuple[int, int | None, Any]]:
        if self.fmt != "table":
            yield from _Rows(str(self.data), self.fmt)
            return
        data = self.data
        if hasattr(data, "to_pylist"):
            recs: Any = data.to_pylist()
        else:                                   # a datasets.Dataset or any iterable of dicts
            recs = data
        for row, rec in enumerate(recs):
            yield row, None, rec

    def __call__(self) -> Iterator[pa.RecordBatch]:
        first = self.bad_log is None
        rc = self.read
        opts = ReadOptions(name=self.name, split=self.split, batch_size=rc.batch_size,
                           on_bad_record=rc.on_bad_record, max_bad_records=rc.max_bad_records)
        seen: set[str] = set()
        ids, texts, rows = [], [], []
        for row, line, rec in self._records():
            if not isinstance(rec, dict):
                why = f"invalid JSON ({rec})" if isinstance(rec, Exception) else "not an object"
                bad_record(opts, source=self.name, reason=why, row=row, line=line)
                continue
            text = item_text(rec, self.fields)
            if not text.strip():
                bad_record(opts, source=self.name, reason=f"no text in {'+'.join(self.fields)}", row=row, line=line)
                continue
            key = rec.get(self.id_field) if self.id_field else None
            doc_id = f"{self.split}:{key if key is not None else row}"
            if doc_id in seen:                  # an id field that is not unique: keep the row
                doc_id = f"{doc_id}#{row}"
            seen.add(doc_id)
            ids.append(doc_id)
            texts.append(text)
            rows.append(row)
            opts.good += 1
            if len(ids) >= rc.batch_size:
                yield self._batch(ids, texts, rows)
                ids, texts, rows = [], [], []
        if ids:
            yield self._batch(ids, texts, rows)
        finish(opts)
        if first:
            self.bad_log, self.docs = opts.bad_log, opts.good

    def _batch(self, ids, texts, rows) -> pa.RecordBatch:
        n = len(ids)
        if self.progress is not None:
            self.progress.advance(f"reading {self.split}", n)
        src = Path(self.name).name if self.fmt != "table" else self.name
        return pa.RecordBatch.from_arrays(
            [pa.array(ids, pa.string()), pa.array([self.split] * n, pa.string()), pa.array(texts, pa.large_string()),
             pa.array([src] * n, pa.string()), pa.array(rows, pa.int64())], schema=DOC_SCHEMA)
