"""Scoring with bounded memory: the scores table streamed to Parquet batch by batch, aggregates summed on the
way, and the score cache looked up a chunk at a time against an index of hashes rather than loaded whole."""

import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash

from dataaudit.config import ReadConfig
from dataaudit.passes.score import CACHE_SCHEMA, ScoreCache, ScoreConfig, aggregate, run_score
from test_score import DOCS, same_table


def _row(h: str, v: float) -> dict:
    r = {f.name: None for f in CACHE_SCHEMA}
    r.update(doc_hash=h, n_tokens=1, n_bytes=1, nll_sum=v)
    return r


def _h(i: int) -> str:
    return xxhash.xxh3_128_hexdigest(str(i).encode())


def test_cache_lookup_over_shards_pending_and_repeats(tmp_path):
    c = ScoreCache(tmp_path, "k", every_docs=10**9, every_seconds=1e9)
    c.put([_row(_h(i), float(i)) for i in range(0, 50)])            # shard 1
    c.put([_row(_h(i), float(i)) for i in range(50, 90)])           # shard 2
    c.add([_row(_h(i), float(i)) for i in range(90, 95)])           # pending
    c.add([_row(_h(3), 999.0)])                                      # already cached: ignored
    want = [_h(i) for i in (94, 7, 1000, 60, 3, 3, 89, 90)] + ["0" * 32]
    got = c.get_many(want)
    assert [g and g["nll_sum"] for g in got] == [94.0, 7.0, None, 60.0, 3.0, 3.0, 89.0, 90.0, None]
    c.flush()
    again = ScoreCache(tmp_path, "k")                                 # reopened: 3 shards, index only
    assert len(again.shards) == 3 and len(again) == 95
    assert [g and g["nll_sum"] for g in again.get_many(want)] == [94.0, 7.0, None, 60.0, 3.0, 3.0, 89.0, 90.0,
                                                                  None]
    assert again.get(_h(1000)) is None and again.get(_h(42))["nll_sum"] == 42.0


def test_first_shard_wins_and_prefix_collisions_are_checked(tmp_path):
    c = ScoreCache(tmp_path, "k", every_docs=10**9, every_seconds=1e9)
    a, b = "ab" * 8 + "00" * 8, "ab" * 8 + "11" * 8                    # same first 64 bits, other hashes
    c.put([_row(a, 1.0)])
    # a second shard with the same hash a (as a concurrent run could write) and b
    pq.write_table(pa.Table.from_pylist([_row(a, 2.0), _row(b, 3.0)], schema=CACHE_SCHEMA),
                   c.dir / "part-99999999999999999999-0.parquet")
    d = ScoreCache(tmp_path, "k")
    assert [g["nll_sum"] for g in d.get_many([a, b, a])] == [1.0, 3.0, 1.0]
    assert d.get("ab" * 8 + "22" * 8) is None


def test_streamed_table_equals_in_memory_run(gpt2, tmp_path):
    docs = [(f"d{i}", DOCS[i % len(DOCS)] + " " * (i % 3)) for i in range(40)]
    cfg = ScoreConfig(chunk_docs=6)
    mem = run_score(docs, model=gpt2, config=cfg, use_cache=False, split="val")
    disk = run_score(docs, model=gpt2, config=cfg, use_cache=False, split="val", out_dir=tmp_path)
    assert disk._table is None and disk.path == tmp_path / "scores.parquet"
    back = pq.read_table(tmp_path / "scores.parquet")
    assert same_table(back, mem.table) and back.schema.metadata == mem.table.schema.metadata
    assert pq.ParquetFile(disk.path).metadata.num_row_groups == 7       # one per chunk of 6: streamed
    assert disk.read(["doc_id"]).column(0).to_pylist() == [d for d, _ in docs]
    s, ref = disk.summary(), aggregate(back)
    for k in ("docs", "empty_docs", "tokens", "bytes"):
        assert s[k] == ref[k]
    assert s["nll_sum"] == pytest.approx(ref["nll_sum"], rel=1e-12) and math.isfinite(s["ppl"])
    assert s["by_split"].keys() == ref["by_split"].keys() == {"val"}


def test_streamed_run_with_cache_hits_and_an_error_leaves_no_file(gpt2, tmp_path):
    docs = [(f"d{i}", DOCS[i % len(DOCS)]) for i in range(20)]
    cfg = ScoreConfig(chunk_docs=4)
    first = run_score(docs, model=gpt2, config=cfg, cache_dir=tmp_path / "c", out_dir=tmp_path / "a")
    second = run_score(docs, model=gpt2, config=cfg, cache_dir=tmp_path / "c", out_dir=tmp_path / "b")
    assert second.cached == 20 and second.scored == 0
    assert same_table(pq.read_table(tmp_path / "a" / "scores.parquet"), pq.read_table(tmp_path / "b" / "scores.parquet"))
    assert first.summary()["tokens"] == second.summary()["tokens"]

    def bad():
        yield from docs[:8]
        raise RuntimeError("reader failed")

    with pytest.raises(RuntimeError):
        run_score(bad(), model=gpt2, config=cfg, use_cache=False, out_dir=tmp_path / "e", read=ReadConfig())
    assert not (tmp_path / "e" / "scores.parquet").exists()
    assert not (tmp_path / "e").exists() or not list((tmp_path / "e").iterdir())    # no temporary file left
