"""Property tests for every reader: random bytes, valid files cut at random points, valid records with random
faults. Each read either raises a clean one-line DataAuditError naming the file, or returns every valid record
exactly once: never another exception type, never a silent loss."""

import csv
import gzip
import io
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataaudit.errors import BadRecordError, DataAuditError
from dataaudit.io.readers import read_documents
from dataaudit.records import BadRecordLog

zstandard = pytest.importorskip("zstandard")

# DATAAUDIT_FUZZ_EXAMPLES=2000 for a longer hunt; the default keeps the file near 15 s on 2 cores
FUZZ = settings(max_examples=int(os.environ.get("DATAAUDIT_FUZZ_EXAMPLES", 150)), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
corpora = st.lists(texts, min_size=1, max_size=30)


def _read(path, **kw):
    return [r for b in read_documents(path, **kw) for r in b.to_pylist()]


def _outcome(path, names, **kw):
    """The rows read, or None after a clean DataAuditError; any other exception fails the test."""
    try:
        return _read(path, **kw)
    except DataAuditError as e:
        msg = str(e)
        assert any(str(n) in msg for n in names), msg
        assert "\n" not in msg, msg
        return None


def _jsonl(docs):
    return b"".join(json.dumps({"id": str(i), "text": t}).encode() + b"\n" for i, t in enumerate(docs))


def _zstd(data):
    return zstandard.ZstdCompressor().compress(data)


def _zstd_streamed(data):
    c = zstandard.ZstdCompressor(write_content_size=False, level=1).compressobj()
    return c.compress(data) + c.flush()


COMPRESS = {".jsonl": lambda b: b, ".jsonl.gz": gzip.compress, ".jsonl.zst": _zstd, ".jsonl.zstd": _zstd_streamed}


def _pairs(rows):
    return [(r["doc_id"], r["text"]) for r in rows]


# ---- JSON lines: plain, .gz, .zst -------------------------------------------------------------------------

@FUZZ
@given(docs=corpora, cut=st.floats(0, 1), suffix=st.sampled_from(sorted(COMPRESS)),
       mode=st.sampled_from(["fail", "skip"]))
def test_jsonl_cut_anywhere(tmp_path, docs, cut, suffix, mode):
    blob = COMPRESS[suffix](_jsonl(docs))
    n = int(len(blob) * cut)
    p = tmp_path / f"cut{suffix}"
    p.write_bytes(blob[:n])
    got = _outcome(p, [p], id_column="id", on_bad_record=mode, max_bad_records=1)
    want = [(str(i), t) for i, t in enumerate(docs)]
    if n == len(blob):
        assert got is not None and _pairs(got) == want
    elif suffix != ".jsonl":
        assert got is None  # a cut compressed stream is always an error
    elif got is not None:  # plain text: the complete lines, each once, and nothing else
        whole = blob[:n].count(b"\n")
        assert _pairs(got) in (want[:whole], want[:whole + 1])


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from(sorted(COMPRESS)),
       mode=st.sampled_from(["fail", "skip"]))
def test_jsonl_random_bytes(tmp_path, data, suffix, mode):
    p = tmp_path / f"rand{suffix}"
    p.write_bytes(COMPRESS[suffix](data) if suffix == ".jsonl" else data)
    _outcome(p, [p], on_bad_record=mode, max_bad_records=0.5)


def _zstd_checked(data):
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)  # as the zstd CLI writes by default


@FUZZ
@given(docs=corpora, flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=3),
       codec=st.sampled_from(["gz", "zst"]), mode=st.sampled_from(["fail", "skip"]))
def test_compressed_bytes_flipped(tmp_path, docs, flips, codec, mode):
    # gzip's CRC32 and zstd's content checksum cover every byte: a flip is an error or changes nothing
    blob = bytearray(gzip.compress(_jsonl(docs)) if codec == "gz" else _zstd_checked(_jsonl(docs)))
    for at, x in flips:
        blob[min(int(at * len(blob)), len(blob) - 1)] ^= x
    p = tmp_path / f"flipped.jsonl.{codec}"
    p.write_bytes(bytes(blob))
    got = _outcome(p, [p], id_column="id", on_bad_record=mode, max_bad_records=0.5)
    if got is not None:
        assert _pairs(got) == [(str(i), t) for i, t in enumerate(docs)]


FAULTS = [b'{"id": "x", "text": ', b"[1, 2]", b'{"id": "x", "text": null}', b'{"id": "x", "text": 7}',
          b'{"id": "x", "text": "caf\xe9"}', b'{"id": null, "text": "no id"}', b"\xff\xfe"]


@FUZZ
@given(docs=corpora, faults=st.lists(st.tuples(st.integers(0, 30), st.sampled_from(FAULTS)), max_size=6),
       suffix=st.sampled_from(sorted(COMPRESS)))
def test_jsonl_records_with_faults(tmp_path, docs, faults, suffix):
    lines = [(False, json.dumps({"id": str(i), "text": t}).encode()) for i, t in enumerate(docs)]
    for at, bad in sorted(faults, reverse=True):
        lines.insert(min(at, len(lines)), (True, bad))
    p = tmp_path / f"faulty{suffix}"
    p.write_bytes(COMPRESS[suffix](b"\n".join(line for _, line in lines) + b"\n"))
    want = [(str(i), t) for i, t in enumerate(docs)]
    log = BadRecordLog()
    got = _read(p, id_column="id", on_bad_record="skip", max_bad_records=100, bad_log=log)
    assert _pairs(got) == want and log.count == len(faults)
    if faults:
        with pytest.raises(BadRecordError) as e:
            _read(p, id_column="id")
        assert str(p) in str(e.value) and e.value.line == 1 + [bad for bad, _ in lines].index(True)
    else:
        assert _pairs(_read(p, id_column="id")) == want


# ---- CSV / TSV ---------------------------------------------------------------------------------------------

def _csv(docs, delim):
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(["id", "text"])
    for i, t in enumerate(docs):
        w.writerow([str(i), t])
    return buf.getvalue().encode()


csv_texts = st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"),
                             max_size=30), min_size=1, max_size=20)


@FUZZ
@given(docs=csv_texts, suffix=st.sampled_from([".csv", ".tsv"]), cut=st.floats(0, 1),
       mode=st.sampled_from(["fail", "skip"]))
def test_csv_round_trip_and_cut(tmp_path, docs, suffix, cut, mode):
    blob = _csv(docs, "\t" if suffix == ".tsv" else ",")
    want = [(str(i), t) for i, t in enumerate(docs)]
    p = tmp_path / f"full{suffix}"
    p.write_bytes(blob)
    assert _pairs(_read(p, id_column="id")) == want
    n = int(len(blob) * cut)
    q = tmp_path / f"cut{suffix}"
    q.write_bytes(blob[:n])
    got = _outcome(q, [q], id_column="id", on_bad_record=mode, max_bad_records=1)
    if got is not None:  # a CSV cut inside a field is still a row: at most the last one can be short
        got = _pairs(got)
        assert got[:-1] == want[: len(got) - 1] and len(got) <= len(want)
        last_id, last_text = got[-1]
        assert last_id == want[len(got) - 1][0] and want[len(got) - 1][1].startswith(last_text)


@FUZZ
@given(docs=csv_texts, ragged=st.lists(st.integers(0, 20), max_size=4, unique=True))
def test_csv_ragged_rows_are_bad_records(tmp_path, docs, ragged):
    rows = [[str(i), t] for i, t in enumerate(docs)]
    for at in sorted(ragged, reverse=True):
        rows.insert(min(at, len(rows)), ["r", "x", "extra"])
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows([["id", "text"]] + rows)
    p = tmp_path / "ragged.csv"
    p.write_text(buf.getvalue())
    log = BadRecordLog()
    got = _read(p, id_column="id", on_bad_record="skip", max_bad_records=100, bad_log=log)
    assert _pairs(got) == [(str(i), t) for i, t in enumerate(docs)] and log.count == len(ragged)
    if ragged:
        with pytest.raises(BadRecordError, match="expected 2 columns, found 3") as e:
            _read(p, id_column="id")
        assert str(p) in str(e.value)


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".tsv"]))
def test_csv_random_bytes(tmp_path, data, suffix):
    p = tmp_path / f"rand{suffix}"
    p.write_bytes(data)
    _outcome(p, [p], on_bad_record="skip", max_bad_records=0.5, text_column=None)


# ---- Parquet, Arrow IPC ------------------------------------------------------------------------------------

def _write_columnar(path, kind, docs):
    t = pa.table({"id": [str(i) for i in range(len(docs))], "text": docs})
    if kind == "parquet":
        pq.write_table(t, str(path), row_group_size=7)
    elif kind == "arrow-file":
        with pa.ipc.new_file(str(path), t.schema) as w:
            for b in t.to_batches(max_chunksize=7):
                w.write_batch(b)
    else:
        with pa.ipc.new_stream(str(path), t.schema) as w:
            for b in t.to_batches(max_chunksize=7):
                w.write_batch(b)


KINDS = {"parquet": ".parquet", "arrow-file": ".arrow", "arrow-stream": ".arrow"}


@FUZZ
@given(docs=corpora, kind=st.sampled_from(sorted(KINDS)), cut=st.floats(0, 1))
def test_columnar_cut_anywhere(tmp_path, docs, kind, cut):
    full = tmp_path / f"full{KINDS[kind]}"
    _write_columnar(full, kind, docs)
    blob = full.read_bytes()
    n = int(len(blob) * cut)
    p = tmp_path / f"cut{KINDS[kind]}"
    p.write_bytes(blob[:n])
    got = _outcome(p, [p], id_column="id")
    if n == len(blob):
        assert got is not None and _pairs(got) == [(str(i), t) for i, t in enumerate(docs)]
    else:
        assert got is None


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".parquet", ".arrow", ".feather"]),
       prefix=st.sampled_from([b"", b"PAR1", b"ARROW1\x00\x00", b"\xff\xff\xff\xff"]))
def test_columnar_random_bytes(tmp_path, data, suffix, prefix):
    p = tmp_path / f"rand{suffix}"
    p.write_bytes(prefix + data)
    assert _outcome(p, [p]) is None


@FUZZ
@given(docs=st.lists(st.one_of(st.none(), texts, st.binary(max_size=10)), min_size=1, max_size=30),
       kind=st.sampled_from(sorted(KINDS)))
def test_columnar_records_with_faults(tmp_path, docs, kind):
    # text as binary: None and undecodable bytes are bad records; everything else is read exactly once
    raw = [d.encode() if isinstance(d, str) else d for d in docs]
    t = pa.table({"id": [str(i) for i in range(len(raw))], "text": pa.array(raw, pa.binary())})
    p = tmp_path / f"faulty{KINDS[kind]}"
    if kind == "parquet":
        pq.write_table(t, str(p), row_group_size=7)
    else:
        with (pa.ipc.new_file if kind == "arrow-file" else pa.ipc.new_stream)(str(p), t.schema) as w:
            w.write_table(t, max_chunksize=7)

    def decodes(b):
        try:
            b.decode("utf-8")
            return True
        except UnicodeDecodeError:
            return False

    want = [(str(i), b.decode()) for i, b in enumerate(raw) if b is not None and decodes(b)]
    log = BadRecordLog()
    got = _outcome(p, [p], id_column="id", on_bad_record="skip", max_bad_records=100, bad_log=log)
    if want:
        assert got is not None and _pairs(got) == want and log.count == len(raw) - len(want)
    else:
        assert got is None  # nothing readable: an empty input


# ---- a directory of .txt files -----------------------------------------------------------------------------

@FUZZ
@given(files=st.lists(st.binary(max_size=60), min_size=1, max_size=8), mode=st.sampled_from(["fail", "skip"]))
def test_txt_dir_random_bytes(tmp_path, files, mode):
    d = tmp_path / "docs"
    d.mkdir(exist_ok=True)
    for old in d.iterdir():
        old.unlink()
    for i, data in enumerate(files):
        (d / f"{i:02d}.txt").write_bytes(data)
    names = [d] + [d / f"{i:02d}.txt" for i in range(len(files))]
    got = _outcome(d, names, on_bad_record=mode, max_bad_records=100)
    good = []
    for i, data in enumerate(files):
        try:
            good.append((f"{i:02d}.txt", data.decode("utf-8")))
        except UnicodeDecodeError:
            pass
    if got is None:
        assert mode == "fail" and len(good) < len(files) or not good
    else:
        assert _pairs(got) == good
