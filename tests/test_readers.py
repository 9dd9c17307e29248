import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataaudit.errors import BadRecordError, InputError
from dataaudit.io.readers import detect_format, read_documents
from dataaudit.records import DOC_SCHEMA, BadRecordLog


def _all(src, **kw):
    batches = list(read_documents(src, **kw))
    for b in batches:
        assert b.schema == DOC_SCHEMA
    return pa.Table.from_batches(batches, schema=DOC_SCHEMA).to_pylist() if batches else []


def _reference(corpus, name):
    return [json.loads(line) for line in (corpus / name).read_text().splitlines()]


@pytest.mark.parametrize("name", ["train.jsonl", "train.jsonl.gz", "train.jsonl.zst", "train_parquet",
                                  "train_parquet/*.parquet"])
def test_train_in_every_format(corpus, name):
    ref = _reference(corpus, "train.jsonl")
    rows = _all(str(corpus / name), split="train", id_column="id", batch_size=37)
    assert [r["doc_id"] for r in rows] == [r["id"] for r in ref]
    assert [r["text"] for r in rows] == [r["text"] for r in ref]
    assert {r["split"] for r in rows} == {"train"}


@pytest.mark.parametrize("name, fmt", [("val.jsonl", "jsonl"), ("val.parquet", "parquet"), ("val.csv", "csv"),
                                       ("val.tsv", "tsv")])
def test_val_formats_agree(corpus, name, fmt):
    ref = _reference(corpus, "val.jsonl")
    assert detect_format(corpus / name) == fmt
    rows = _all(corpus / name, id_column="id")  # val.parquet names its text column 'content': auto-detected
    assert [(r["doc_id"], r["text"]) for r in rows] == [(r["id"], r["text"]) for r in ref]


def test_arrow_and_txt_dir(corpus):
    arrow = _all(corpus / "test.arrow", id_column="id")
    txt = _all(corpus / "test_txt")
    assert detect_format(corpus / "test_txt") == "txt"
    assert sorted((r["doc_id"], r["text"]) for r in arrow) == sorted(
        (r["doc_id"].removesuffix(".txt"), r["text"]) for r in txt)


def test_default_ids_are_source_and_row(corpus):
    rows = _all(corpus / "val.jsonl")
    assert rows[3]["doc_id"] == f"{corpus / 'val.jsonl'}:3"
    assert [r["row"] for r in rows] == list(range(len(rows)))


def test_hf_round_trips(tmp_path, corpus):
    datasets = pytest.importorskip("datasets")
    ref = _reference(corpus, "val.jsonl")
    ds = datasets.Dataset.from_list(ref)
    ds.save_to_disk(str(tmp_path / "hf"))
    assert detect_format(tmp_path / "hf") == "hf"
    for src in (str(tmp_path / "hf"), ds, ds.to_iterable_dataset(), datasets.DatasetDict({"validation": ds}),
                ds.select(range(len(ds) - 1, -1, -1))):
        rows = _all(src, id_column="id", batch_size=16)
        got = [(r["doc_id"], r["text"]) for r in rows]
        want = [(r["id"], r["text"]) for r in ref]
        assert got == (want[::-1] if src is not ds and getattr(src, "_indices", None) is not None else want)
    # and back: our batches load into datasets unchanged
    table = pa.Table.from_batches(list(read_documents(ds, id_column="id")))
    again = datasets.Dataset(table)
    assert again["text"] == [r["text"] for r in ref]


def test_dataset_dict_needs_a_split():
    datasets = pytest.importorskip("datasets")
    dd = datasets.DatasetDict({"a": datasets.Dataset.from_dict({"text": ["x"]}),
                               "b": datasets.Dataset.from_dict({"text": ["y"]})})
    with pytest.raises(InputError, match="has splits"):
        _all(dd, split="val")
    assert [r["text"] for r in _all(dd, split="b")] == ["y"]


def test_text_column_override_and_errors(tmp_path):
    pq.write_table(pa.table({"body": ["a", "b"], "content": ["c", "d"], "n": [1, 2]}), tmp_path / "t.parquet")
    assert [r["text"] for r in _all(tmp_path / "t.parquet")] == ["c", "d"]
    assert [r["text"] for r in _all(tmp_path / "t.parquet", text_column="body")] == ["a", "b"]
    with pytest.raises(InputError, match=r"column 'nope' not found .*available: \['body', 'content', 'n'\]"):
        _all(tmp_path / "t.parquet", text_column="nope")
    with pytest.raises(InputError, match="type int64, not string"):
        _all(tmp_path / "t.parquet", text_column="n")


@pytest.mark.parametrize("name, pattern, line", [
    ("bad_json.jsonl", "invalid JSON", 3),
    ("null_text.jsonl", "text field 'text' is null", 2),
    ("nonstring_text.jsonl", "is a int, not a string", 2),
    ("bad_utf8.jsonl", "not valid UTF-8", 2),
])
def test_bad_records_fail_with_location(broken, name, pattern, line):
    with pytest.raises(BadRecordError, match=pattern) as e:
        _all(broken / name)
    assert e.value.line == line
    assert f"line {line}" in str(e.value) and "--on-bad-record skip" in str(e.value)


@pytest.mark.parametrize("name, good", [("bad_json.jsonl", 3), ("null_text.jsonl", 1),
                                        ("nonstring_text.jsonl", 1), ("bad_utf8.jsonl", 1),
                                        ("null_text.parquet", 2)])
def test_bad_records_skip_counts_and_locates(broken, name, good):
    log = BadRecordLog()
    rows = _all(broken / name, on_bad_record="skip", max_bad_records=1, bad_log=log)
    assert len(rows) == good
    assert log.count == 1 and log.examples[0].source.endswith(name)
    assert log.examples[0].line is not None or log.examples[0].row == 1


def test_binary_text_with_bad_utf8(tmp_path):
    pq.write_table(pa.table({"text": pa.array([b"ok", b"caf\xe9", b"fine"], pa.binary())}), tmp_path / "b.parquet")
    with pytest.raises(BadRecordError, match="row 1: text is not valid UTF-8"):
        _all(tmp_path / "b.parquet")
    log = BadRecordLog()
    assert [r["text"] for r in _all(tmp_path / "b.parquet", on_bad_record="skip", max_bad_records=1,
                                              bad_log=log)] == ["ok", "fine"]
    assert log.examples[0].row == 1


@pytest.mark.parametrize("name, pattern", [
    ("truncated.parquet", "truncated Parquet file: .* ends at byte 17594 without the footer; re-download"),
    ("not_parquet.parquet", "not a readable Parquet file"),
    ("notes.xyz", "cannot tell the format"),
    ("no_text_column.parquet", r"no text column found .*available: \['id', 'html'\]. Pass --text-column"),
    ("no_text_column.jsonl", r"no text column found .*'body_html'"),
    ("truncated.jsonl.gz", "truncated"),
    ("missing.jsonl", "no such file or directory"),
])
def test_bad_files(broken, name, pattern):
    with pytest.raises(InputError, match=pattern):
        _all(broken / name)


def test_unknown_format_and_empty_glob(tmp_path):
    with pytest.raises(InputError, match="unknown format 'xml'"):
        _all(tmp_path, fmt="xml")
    with pytest.raises(InputError, match="no files match"):
        _all(str(tmp_path / "*.parquet"))


def test_streaming_batches_are_bounded(tmp_path):
    n = 10_000
    with gzip.open(tmp_path / "big.jsonl.gz", "wt") as f:
        for i in range(n):
            f.write(json.dumps({"text": f"document {i}"}) + "\n")
    sizes = [b.num_rows for b in read_documents(tmp_path / "big.jsonl.gz", batch_size=1000)]
    assert sizes == [1000] * 10
