"""The exact pass's bounded-memory paths (bucket cut by more hash bits, one huge group streamed, findings
merged from sorted runs on disk) give the same tables as grouping everything at once."""

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from dataaudit.passes.exact import ExactConfig, run_exact
from dataaudit.records import DOC_SCHEMA
from dataaudit.text import normalize


def _sources(splits: dict[str, list[tuple[str, str]]], batch: int):
    tables = {s: pa.Table.from_pylist([{"doc_id": d, "split": s, "text": t, "source": s, "row": i}
                                       for i, (d, t) in enumerate(docs)], schema=DOC_SCHEMA)
              for s, docs in splits.items()}
    return {s: (lambda t=t: t.to_batches(max_chunksize=batch)) for s, t in tables.items()}


def _tables(path):
    return pq.read_table(path / "exact_duplicates.parquet"), pq.read_table(path / "exact_leaks.parquet")


def _reference(splits, max_train_ids=20):
    """Grouping by a plain dict over whole splits: what the pass must produce, sorted the documented way."""
    groups: dict[str, list[tuple[int, str, str, int]]] = {}
    seq = 0
    for s, docs in splits.items():
        for d, t in docs:
            groups.setdefault(normalize(t), []).append((seq, d, s, len(t.encode())))
            seq += 1
    dups, leaks = [], []
    import xxhash
    for key, members in groups.items():
        gid = xxhash.xxh3_128_hexdigest(key.encode())
        by: dict[str, list] = {}
        for m in members:
            by.setdefault(m[2], []).append(m)
        for s, ms in by.items():
            if len(ms) > 1:
                dups += [(m[1], s, gid, len(ms), ms[0][1], m is ms[0], m[3], m[0]) for m in ms]
        tr = by.get("train", [])
        if tr:
            leaks += [(m[1], s, gid, m[3], len(tr), [x[1] for x in tr[:max_train_ids]], m[0])
                      for s, ms in by.items() if s != "train" for m in ms]
    dups.sort(key=lambda r: (r[1], r[2], not r[5], r[0], r[7]))
    leaks.sort(key=lambda r: (r[1], r[0], r[2], r[6]))
    return [r[:7] for r in dups], [r[:6] for r in leaks]


def _rows(t: pa.Table) -> list[tuple]:
    return [tuple(r.values()) for r in t.to_pylist()]


words = st.sampled_from(["a", "B", "c!", " ", "É", "e\u0301"])
texts = st.lists(words, max_size=3).map("".join)
ids = st.sampled_from(["x", "y", "z"]) | st.integers(0, 10**6).map(str)     # doc_ids may repeat
split_docs = st.lists(st.tuples(ids, texts), max_size=40)


@settings(max_examples=15, deadline=None)
@given(split_docs, split_docs, split_docs, st.integers(2, 9), st.sampled_from([1, 2, 5, 64]),
       st.integers(1, 4))
def test_tiny_bound_gives_the_unsplit_tables(tmp_path_factory, train, val, test, bound, buckets, batch):
    splits = {"train": train, "val": val, "test": test}
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    ra = run_exact(_sources(splits, batch), a, config=ExactConfig(max_bucket_rows=bound, n_buckets=buckets))
    rb = run_exact(_sources(splits, batch), b)   # same batches: excerpts of repeated doc_ids follow them
    ta, tb = _tables(a), _tables(b)
    assert ta[0].equals(tb[0]) and ta[1].equals(tb[1])
    assert ra.summary == rb.summary and ra.findings == rb.findings
    dups, leaks = _reference(splits)
    assert _rows(tb[0]) == dups and _rows(tb[1]) == leaks


def test_one_huge_group_is_streamed_and_cut_buckets_are_removed(tmp_path):
    # 300 copies of one text (one hash: no cut can separate them) plus distinct documents, bound 16
    train = [(f"t{i}", "Same  text" if i % 2 else f"doc {i}") for i in range(600)]
    val = [(f"v{i}", "same TEXT") for i in range(40)] + [("v-other", "doc 4")]
    splits = {"train": train, "val": val}
    a, b = tmp_path / "a", tmp_path / "b"
    ra = run_exact(_sources(splits, 64), a, config=ExactConfig(max_bucket_rows=16, n_buckets=2, max_train_ids=5))
    rb = run_exact(_sources(splits, 64), b, config=ExactConfig(max_train_ids=5))
    ta, tb = _tables(a), _tables(b)
    assert ta[0].equals(tb[0]) and ta[1].equals(tb[1])
    assert ra.summary == rb.summary and ra.findings == rb.findings
    dups, leaks = _reference(splits, max_train_ids=5)
    assert _rows(ta[0]) == dups and _rows(ta[1]) == leaks
    assert ra.summary["splits"]["val"]["leaked_docs"] == 41 and ra.summary["splits"]["train"]["dup_docs"] == 299
    assert sorted(p.name for p in a.iterdir()) == ["exact_duplicates.parquet", "exact_leaks.parquet"]


def test_merge_of_many_runs_keeps_order(tmp_path):
    from dataaudit.passes.exact_spill import RunWriter, merge_runs

    keys = [("k", "ascending"), ("seq", "ascending")]
    w = RunWriter(tmp_path, "r", keys, 23)
    import random
    rng = random.Random(0)
    vals = [(rng.choice("abcde") * rng.randint(1, 3), i) for i in range(2000)]
    for j in range(0, 2000, 10):
        w.add(pa.table({"k": [v[0] for v in vals[j:j + 10]], "seq": [v[1] for v in vals[j:j + 10]]}))
    runs = w.close()
    assert len(runs) > 40      # more than FAN_IN: merged in passes
    out = []
    merge_runs(runs, None, keys, 100, lambda t: out.extend(zip(t["k"].to_pylist(), t["seq"].to_pylist())))
    assert out == sorted(vals)


def test_buckets_grouped_in_a_process_pool_give_the_same_tables(tmp_path):
    from dataaudit.engine import get_engine

    train = [(f"t{i}", f"text {i % 37}") for i in range(400)]
    val = [(f"v{i}", f"TEXT  {i % 50}") for i in range(60)]
    splits = {"train": train, "val": val}
    with get_engine("local", workers=2) as eng:
        ra = run_exact(_sources(splits, 50), tmp_path / "a", config=ExactConfig(max_bucket_rows=8), engine=eng)
    rb = run_exact(_sources(splits, 50), tmp_path / "b")
    ta, tb = _tables(tmp_path / "a"), _tables(tmp_path / "b")
    assert ta[0].equals(tb[0]) and ta[1].equals(tb[1]) and ra.summary == rb.summary
    assert ra.summary["splits"]["val"]["leaked_docs"] == sum(1 for _, t in val if int(t.split()[1]) < 37)
