import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataaudit.api import ReadConfig, SplitConfig, audit_split
from dataaudit.passes.exact import ExactConfig, hash_batch, run_exact
from dataaudit.records import DOC_SCHEMA
from dataaudit.text import normalize

import xxhash


def test_hash_is_xxh3_128_of_normalized_text():
    texts = pa.array(["Hello,  World!", "hello world", "other"], pa.large_string())
    h = hash_batch(texts).to_pylist()
    assert h[0] == h[1] != h[2]
    assert h[2] == xxhash.xxh3_128_digest(normalize("other").encode())


def test_planted_fixture_duplicates_found_and_nothing_else(corpus, expected, tmp_path):
    cfg = SplitConfig(read=ReadConfig(id_column="id"))
    report = audit_split(corpus / "train.jsonl", corpus / "val.jsonl", corpus / "test.arrow", out_dir=tmp_path,
                         config=cfg)
    leaks = pq.read_table(tmp_path / "exact_leaks.parquet").to_pylist()
    got = {r["doc_id"]: sorted(r["train_doc_ids"]) for r in leaks}
    assert got == expected["exact_leaks"]
    dups = pq.read_table(tmp_path / "exact_duplicates.parquet").to_pylist()
    groups: dict[tuple, list] = {}
    for r in dups:
        groups.setdefault((r["split"], r["group_id"]), []).append(r["doc_id"])
    train_groups = sorted(sorted(v) for (s, _), v in groups.items() if s == "train")
    val_groups = sorted(sorted(v) for (s, _), v in groups.items() if s == "val")
    assert train_groups == sorted(expected["train_dup_groups"])
    assert val_groups == sorted(expected["val_dup_groups"])
    s = report.summary["exact"]["splits"]
    assert s["val"]["leaked_docs"] == 7 and s["test"]["leaked_docs"] == 1
    assert s["train"]["dup_docs"] == 5 and s["train"]["dup_groups"] == 5
    # bytes are counted over the original text of each leaked document
    val_bytes = {r["id"]: len(r["text"].encode()) for r in
                 pa.Table.from_pylist([__import__("json").loads(line) for line in
                                       (corpus / "val.jsonl").read_text().splitlines()]).to_pylist()}
    assert s["val"]["leaked_bytes"] == sum(val_bytes[k] for k in expected["exact_leaks"] if k.startswith("val"))
    # every first member is flagged exactly once per group
    firsts = [r for r in dups if r["is_first"]]
    assert len(firsts) == len(groups)


def _table(docs, prefix):
    split = {"t": "train", "v": "val"}[prefix]
    return pa.Table.from_pylist([{"doc_id": f"{prefix}{i}", "split": split, "text": t, "source": prefix, "row": i}
                                 for i, t in enumerate(docs)], schema=DOC_SCHEMA)


def _run(tmp_path, train, val, batch, buckets):
    srcs = {"train": lambda: _table(train, "t").to_batches(max_chunksize=batch),
            "val": lambda: [b for b in _table(val, "v").to_batches(max_chunksize=batch)]}
    res = run_exact(srcs, tmp_path, config=ExactConfig(n_buckets=buckets))
    leaks = pq.read_table(tmp_path / "exact_leaks.parquet").to_pylist()
    dups = pq.read_table(tmp_path / "exact_duplicates.parquet").to_pylist()
    return res.summary, leaks, dups


words = st.sampled_from(["a", "B", "c!", "d", " ", "É", "e\u0301"])
docs = st.lists(st.lists(words, max_size=4).map("".join), max_size=25)


@settings(max_examples=40, deadline=None)
@given(docs, docs, st.integers(1, 9), st.sampled_from([1, 3, 64, 256]))
def test_results_do_not_depend_on_batch_size_or_buckets(tmp_path_factory, train, val, batch, buckets):
    a = _run(tmp_path_factory.mktemp("a"), train, val, batch, buckets)
    b = _run(tmp_path_factory.mktemp("b"), train, val, 1000, 64)
    assert a == b
    # brute force: a val doc leaks iff its normalized text equals some train doc's
    norm_train = {normalize(t) for t in train}
    assert {r["doc_id"] for r in a[1]} == {f"v{i}" for i, t in enumerate(val) if normalize(t) in norm_train}


@settings(max_examples=25, deadline=None)
@given(docs, docs)
def test_leaks_are_symmetric(tmp_path_factory, x, y):
    """Swapping which split is 'train' swaps the leak relation, never changes which texts are shared."""
    _, l1, _ = _run(tmp_path_factory.mktemp("a"), x, y, 7, 8)
    _, l2, _ = _run(tmp_path_factory.mktemp("b"), y, x, 7, 8)
    shared1 = {normalize(y[int(r["doc_id"][1:])]) for r in l1}
    shared2 = {normalize(x[int(r["doc_id"][1:])]) for r in l2}
    assert shared1 == shared2


def test_spill_files_are_removed(tmp_path):
    _run(tmp_path, ["x", "y"], ["x"], 1, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exact_duplicates.parquet", "exact_leaks.parquet"]


def test_threaded_hashing_matches_one_piece():
    from dataaudit.passes.exact import _digests
    from dataaudit.text import DEFAULT_NORMALIZE

    texts = pa.array([f"Doc {i % 700}: Ünïcode {'x' * (i % 700 % 13)}  TEXT" for i in range(3001)], pa.large_string())
    whole = hash_batch(texts).to_pylist()
    assert b"".join(whole) == _digests(texts, DEFAULT_NORMALIZE)
    assert whole[5] == whole[705] != whole[6]


def test_excerpts_are_the_listed_documents_own_text(tmp_path):
    """Excerpts come from the excerpt file by position: each is the start of that very document's text (with
    its whitespace collapsed, non-ASCII kept), wherever in the input it sits, and 0 excerpt chars gives none."""
    filler = [(f"f{i}", f"filler document number {i} " * 3) for i in range(3000)]
    late = [("g1", "Ünïcode  copy\tÀ " + "x" * 300), ("g2", "ünïcode copy à " + "x" * 300)]   # same normalized
    train = {"doc_id": [d for d, _ in filler + late], "text": [t for _, t in filler + late]}
    val = {"doc_id": ["v1", "v2"], "text": ["filler document number 2999 " * 3, "not anywhere"]}

    def table(cols, split):
        return pa.Table.from_pylist([{"doc_id": d, "split": split, "text": t, "source": split, "row": i}
                                     for i, (d, t) in enumerate(zip(cols["doc_id"], cols["text"]))],
                                    schema=DOC_SCHEMA)

    def sources():
        return {"train": lambda: table(train, "train").to_batches(max_chunksize=512),
                "val": lambda: table(val, "val").to_batches(max_chunksize=512)}

    res = run_exact(sources(), tmp_path / "a", config=ExactConfig(excerpt_chars=40))
    groups = {g["first_doc_id"]: g for g in res.findings["duplicate_groups"]}
    assert groups["g1"]["excerpt"] == ("Ünïcode copy À " + "x" * 300)[:37] + "..."
    assert "seq" not in groups["g1"]
    (leak,) = res.findings["leaks"]
    assert leak["doc_id"] == "v1" and leak["excerpt"] == ("filler document number 2999 " * 3).strip()[:37] + "..."
    res0 = run_exact(sources(), tmp_path / "b", config=ExactConfig(excerpt_chars=0))
    assert all("excerpt" not in g for g in res0.findings["duplicate_groups"])
