"""Faults the readers must turn into the right error: truncated or corrupt files are input errors, bad records
are counted against --max-bad-records, empty input is an error, and every message points the right way."""

import gzip
import json
import sys

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from dataaudit.config import ReadConfig
from dataaudit.errors import BadRecordError, ConfigError, DataAuditError, InputError
from dataaudit.io.readers import read_documents
from dataaudit.records import BadRecordLog


def _records(n=2000):
    return [{"id": str(i), "text": f"document number {i} " * 5} for i in range(n)]


def _jsonl_bytes(recs):
    return b"".join(json.dumps(r).encode() + b"\n" for r in recs)


def _read(path, **kw):
    return [r for b in read_documents(path, **kw) for r in b.to_pylist()]


def _zstd(data):
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def _zstd_streamed(data):
    """As the zstd CLI writes from a pipe: no content size in the frame header, several blocks."""
    import zstandard

    c = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    return c.compress(data) + c.flush()


def _table(n=2000):
    recs = _records(n)
    return pa.table({"id": [r["id"] for r in recs], "text": [r["text"] for r in recs]})


# ---- 1. truncated / corrupt compressed streams and files ---------------------------------------------------

@pytest.mark.parametrize("compress, suffix", [(_zstd, ".jsonl.zst"), (_zstd_streamed, ".jsonl.zst"),
                                              (gzip.compress, ".jsonl.gz")])
@pytest.mark.parametrize("frac", [0.6, 0.5, 0.02])
@pytest.mark.parametrize("mode", ["fail", "skip"])
def test_truncated_compressed_jsonl_is_an_input_error(tmp_path, compress, suffix, frac, mode):
    blob = compress(_jsonl_bytes(_records()))
    p = tmp_path / f"cut{suffix}"
    p.write_bytes(blob[: int(len(blob) * frac)])
    with pytest.raises(InputError) as e:
        _read(p, on_bad_record=mode, max_bad_records=0.5)
    assert not isinstance(e.value, BadRecordError)
    msg = str(e.value)
    assert str(p) in msg and "truncated" in msg and "re-download or re-compress it" in msg
    assert f"byte {p.stat().st_size}" in msg  # where it broke: the end of the file, inside a frame / member
    assert "\n" not in msg


@pytest.mark.parametrize("compress, suffix", [(_zstd, ".jsonl.zst"), (gzip.compress, ".jsonl.gz")])
@pytest.mark.parametrize("mode", ["fail", "skip"])
def test_corrupt_compressed_jsonl_names_the_offset(tmp_path, compress, suffix, mode):
    blob = bytearray(compress(_jsonl_bytes(_records())))
    mid = len(blob) // 2
    blob[mid: mid + 64] = bytes(64)  # a run of zeros in the middle of the compressed data
    p = tmp_path / f"bad{suffix}"
    p.write_bytes(bytes(blob))
    with pytest.raises(InputError) as e:
        _read(p, on_bad_record=mode, max_bad_records=0.9)  # garbled lines come first: not their fault
    assert not isinstance(e.value, BadRecordError)
    assert str(p) in str(e.value) and "compressed byte" in str(e.value) and "re-download" in str(e.value)


@pytest.mark.parametrize("suffix", [".jsonl.zst", ".jsonl.gz"])
def test_empty_compressed_file_is_an_input_error(tmp_path, suffix):
    p = tmp_path / f"empty{suffix}"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="truncated") as e:
        _read(p)
    assert str(p) in str(e.value) and not isinstance(e.value, BadRecordError)


def test_trailing_garbage_after_zstd_frame_is_an_input_error(tmp_path):
    p = tmp_path / "tail.jsonl.zst"
    p.write_bytes(_zstd(_jsonl_bytes(_records(10))) + b"garbage!")
    with pytest.raises(InputError, match="compressed byte"):
        _read(p)


@pytest.mark.parametrize("compress, suffix", [(_zstd, ".jsonl.zst"), (_zstd_streamed, ".jsonl.zst"),
                                              (gzip.compress, ".jsonl.gz")])
def test_concatenated_frames_and_members_read_fully(tmp_path, compress, suffix):
    a, b = _records(300)[:120], _records(300)[120:]
    p = tmp_path / f"multi{suffix}"
    p.write_bytes(compress(_jsonl_bytes(a)) + compress(_jsonl_bytes(b)))
    assert [r["doc_id"] for r in _read(p, id_column="id")] == [r["id"] for r in a + b]


def test_zstd_skippable_frame_is_read_past(tmp_path):
    recs = _records(50)
    skippable = (0x184D2A50).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"hello"
    p = tmp_path / "skip.jsonl.zst"
    p.write_bytes(skippable + _zstd(_jsonl_bytes(recs)))
    assert len(_read(p)) == 50


def test_truncated_parquet_names_the_size_and_the_fix(tmp_path):
    pq.write_table(_table(), tmp_path / "full.parquet", row_group_size=300)
    blob = (tmp_path / "full.parquet").read_bytes()
    p = tmp_path / "cut.parquet"
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(InputError) as e:
        _read(p)
    msg = str(e.value)
    assert str(p) in msg and "truncated" in msg and f"byte {len(blob) // 2}" in msg and "re-download" in msg


def _ipc_file(path, table):
    with pa.ipc.new_file(str(path), table.schema) as w:
        for b in table.to_batches(max_chunksize=300):
            w.write_batch(b)


def _ipc_stream(path, table, close=True):
    sink = pa.OSFile(str(path), "wb")
    w = pa.ipc.new_stream(sink, table.schema)
    for b in table.to_batches(max_chunksize=300):
        w.write_batch(b)
    if close:
        w.close()
    sink.close()


@pytest.mark.parametrize("kind", ["file", "stream", "feather"])
def test_truncated_arrow_is_an_input_error(tmp_path, kind):
    full = tmp_path / f"full.{kind}"
    if kind == "file":
        _ipc_file(full, _table())
    elif kind == "stream":
        _ipc_stream(full, _table())
    else:
        feather.write_feather(_table(), str(full))
    blob = full.read_bytes()
    p = tmp_path / ("cut.feather" if kind == "feather" else "cut.arrow")
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(InputError) as e:
        _read(p)
    msg = str(e.value)
    assert str(p) in msg and "truncated" in msg and f"byte {len(blob) // 2}" in msg and "re-download" in msg


def test_arrow_stream_cut_at_a_batch_boundary_is_truncated(tmp_path):
    p = tmp_path / "open.arrow"
    _ipc_stream(p, _table(), close=False)  # the writer never wrote its end-of-stream marker
    with pytest.raises(InputError, match="end-of-stream marker") as e:
        _read(p)
    assert str(p) in str(e.value) and f"byte {p.stat().st_size}" in str(e.value)


def test_complete_arrow_stream_and_file_read_fully(tmp_path):
    _ipc_stream(tmp_path / "s.arrow", _table(700))
    _ipc_file(tmp_path / "f.arrow", _table(700))
    for name in ("s.arrow", "f.arrow"):
        assert [r["doc_id"] for r in _read(tmp_path / name, id_column="id")] == [str(i) for i in range(700)]


@pytest.mark.parametrize("cut", [30, 1])
def test_jsonl_cut_mid_line_is_an_input_error_even_with_skip(tmp_path, cut):
    data = _jsonl_bytes(_records(100))
    p = tmp_path / "cut.jsonl"
    p.write_bytes(data[:-1 - cut])                    # the newline and some bytes of the last record gone
    for mode in ("fail", "skip"):
        log = BadRecordLog()
        with pytest.raises(InputError, match="truncated JSON Lines file") as e:
            _read(p, on_bad_record=mode, bad_log=log)
        assert not isinstance(e.value, BadRecordError) and f"{p} line 100" in str(e.value)
        assert "re-download" in str(e.value) and log.count == 0
    p.write_bytes(data[:-1])                          # only the final newline missing: a complete file
    assert len(_read(p)) == 100


def test_eval_file_cut_mid_line_is_an_input_error(tmp_path):
    from dataaudit.config import ReadConfig
    from dataaudit.io.evalsets import EvalSource

    p = tmp_path / "boolq.jsonl"
    p.write_bytes(b'{"question": "is it", "passage": "a passage"}\n{"question": "is it not", "pass')
    src = EvalSource(str(p), split="boolq", read=ReadConfig(on_bad_record="skip"))
    with pytest.raises(InputError, match="truncated JSON Lines file") as e:
        list(src())
    assert f"{p} line 2" in str(e.value)


def test_invalid_line_in_the_middle_does_not_say_truncated(tmp_path):
    p = tmp_path / "mid.jsonl"
    p.write_bytes(b'{"text": "a"}\n{"text": \n{"text": "b"}\n')
    with pytest.raises(BadRecordError) as e:
        _read(p)
    assert "truncated" not in str(e.value)


# ---- 2. one ReadConfig -------------------------------------------------------------------------------------

def test_read_documents_takes_a_read_config_and_overrides(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"body": "x", "k": 1}\n{"body": "y", "k": 2}\n')
    cfg = ReadConfig(text_column="body", id_column="k", batch_size=1)
    batches = list(read_documents(p, cfg, split="val"))
    assert [b.num_rows for b in batches] == [1, 1]
    assert [r["doc_id"] for b in batches for r in b.to_pylist()] == ["1", "2"]
    assert {r["split"] for b in batches for r in b.to_pylist()} == {"val"}
    # keywords override fields of the config
    assert [b.num_rows for b in read_documents(p, cfg, batch_size=5)] == [2]
    assert [r["text"] for r in _read(p, text_column="body", fmt="jsonl")] == ["x", "y"]


def test_unknown_keyword_is_a_type_error(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "x"}\n')
    with pytest.raises(TypeError, match="text_col"):
        read_documents(p, text_col="text")


def test_invalid_override_is_a_config_error(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "x"}\n')
    with pytest.raises(ConfigError, match="--on-bad-record"):
        read_documents(p, on_bad_record="ignore")


# ---- 3. the limit on skipped records -----------------------------------------------------------------------

def _mixed(path, good, bad, bad_first=False):
    goods = [json.dumps({"text": f"doc {i}"}) for i in range(good)]
    bads = ["{not json"] * bad
    path.write_text("\n".join(bads + goods if bad_first else goods + bads) + "\n")
    return path


def test_fraction_limit_is_checked_at_the_end(tmp_path):
    p = _mixed(tmp_path / "train.jsonl", good=90, bad=10)
    with pytest.raises(InputError) as e:
        _read(p, on_bad_record="skip", max_bad_records=0.05)
    msg = str(e.value)
    assert not isinstance(e.value, BadRecordError)
    assert msg.startswith(f"{p}: 10 of 100 records (10.0%) were invalid and skipped, past --max-bad-records 0.05")
    assert "raise --max-bad-records" in msg
    assert len(_read(p, on_bad_record="skip", max_bad_records=0.1)) == 90  # at the limit: allowed


def test_default_limit_stops_a_mostly_broken_file(tmp_path):
    p = _mixed(tmp_path / "train.jsonl", good=20, bad=20)
    with pytest.raises(InputError, match=r"20 of 40 records \(50.0%\).*--max-bad-records 0.01"):
        _read(p, on_bad_record="skip")


def test_count_limit_stops_as_soon_as_it_is_passed(tmp_path):
    p = _mixed(tmp_path / "train.jsonl", good=1000, bad=10, bad_first=True)
    it = read_documents(p, on_bad_record="skip", max_bad_records=5, batch_size=10)
    with pytest.raises(InputError, match="past --max-bad-records 5"):
        next(it)  # before any batch is yielded
    assert len(_read(p, on_bad_record="skip", max_bad_records=10)) == 1000


def test_zero_allows_no_skipped_record(tmp_path):
    p = _mixed(tmp_path / "train.jsonl", good=1000, bad=1)
    with pytest.raises(InputError, match=r"1 record was invalid and skipped \(the last at .*line 1001\)"):
        _read(p, on_bad_record="skip", max_bad_records=0)


def test_limit_counts_per_call_with_a_shared_log(tmp_path):
    log = BadRecordLog()
    for name in ("a.jsonl", "b.jsonl"):
        p = _mixed(tmp_path / name, good=9, bad=1)
        assert len(_read(p, on_bad_record="skip", max_bad_records=1, bad_log=log)) == 9
    assert log.count == 2


def test_limit_applies_to_columnar_and_csv_readers(tmp_path):
    pq.write_table(pa.table({"text": ["a", None, None, "d"]}), tmp_path / "t.parquet")
    (tmp_path / "t.csv").write_text("id,text\n1,a\n2,b,extra\n3,c\n4,d,e\n")
    for name in ("t.parquet", "t.csv"):
        with pytest.raises(InputError, match=r"2 of 4 records \(50.0%\)"):
            _read(tmp_path / name, on_bad_record="skip")
        assert len(_read(tmp_path / name, on_bad_record="skip", max_bad_records=2)) == 2


# ---- 4. empty input ----------------------------------------------------------------------------------------

def test_empty_file_is_an_input_error(broken):
    with pytest.raises(InputError, match="no documents read from .*empty.jsonl.*--input-format and --text-column"):
        _read(broken / "empty.jsonl")


def test_all_records_skipped_is_an_input_error_with_grammar(tmp_path):
    p = _mixed(tmp_path / "one.jsonl", good=0, bad=1)
    with pytest.raises(InputError, match=r"no documents read from .*one.jsonl \(1 bad record skipped\)"):
        _read(p, on_bad_record="skip", max_bad_records=5)
    p = _mixed(tmp_path / "two.jsonl", good=0, bad=2)
    with pytest.raises(InputError, match=r"\(2 bad records skipped\)"):
        _read(p, on_bad_record="skip", max_bad_records=5)


def test_empty_table_is_an_input_error():
    with pytest.raises(InputError, match="no documents read from <table>"):
        _read(pa.table({"text": pa.array([], pa.string())}))


# ---- 5. messages -------------------------------------------------------------------------------------------

def test_hints_name_input_format_not_format(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.bin").write_bytes(b"x")
    (tmp_path / "notes.xyz").write_text("x")
    (tmp_path / "not.parquet").write_text("hello, not parquet")
    for src in (tmp_path / "d", tmp_path / "notes.xyz", tmp_path / "not.parquet"):
        with pytest.raises(InputError) as e:
            _read(src)
        assert "--input-format" in str(e.value) and "--format " not in str(e.value) + " "


def test_ragged_csv_row_is_a_clean_bad_record(tmp_path, monkeypatch):
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    p = tmp_path / "r.csv"
    p.write_text("id,text\n1,hello\n2,world,extra\n3,ok\n")
    with pytest.raises(BadRecordError, match="line 3: expected 2 columns, found 3") as e:
        _read(p)
    assert str(p) in str(e.value) and e.value.line == 3
    import gc

    gc.collect()
    assert unraisable == []


def test_every_fault_is_one_line_naming_the_file(tmp_path):
    p = tmp_path / "cut.jsonl.zst"
    p.write_bytes(_zstd(_jsonl_bytes(_records()))[:100])
    for kw in ({}, {"on_bad_record": "skip"}):
        with pytest.raises(DataAuditError) as e:
            _read(p, **kw)
        assert "\n" not in str(e.value) and str(p) in str(e.value)


def test_undecodable_binary_text_is_counted_once(tmp_path):
    pq.write_table(pa.table({"text": pa.array([b"ok", b"caf\xe9", b"fine"], pa.binary())}), tmp_path / "b.parquet")
    log = BadRecordLog()
    assert len(_read(tmp_path / "b.parquet", on_bad_record="skip", max_bad_records=5, bad_log=log)) == 2
    assert log.count == 1


def test_row_with_null_text_and_null_id_is_not_lost_silently(tmp_path):
    pq.write_table(pa.table({"id": ["a", None, "c"], "text": ["x", None, "z"]}), tmp_path / "t.parquet")
    log = BadRecordLog()
    assert len(_read(tmp_path / "t.parquet", id_column="id", on_bad_record="skip", max_bad_records=5,
                     bad_log=log)) == 2
    assert log.count == 1 and log.examples[0].row == 1


def test_csv_count_limit_is_raised_cleanly(tmp_path, monkeypatch):
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    p = tmp_path / "r.csv"
    p.write_text("id,text\n1,a\n2,b,extra\n3,c\n")
    with pytest.raises(InputError, match=r"1 record was invalid and skipped \(the last at .*r.csv line 3\)"):
        _read(p, on_bad_record="skip", max_bad_records=0)
    import gc

    gc.collect()
    assert unraisable == []
