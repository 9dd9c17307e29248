"""Scoring faults: empty input, a killed or interrupted run resumes from the cache, a damaged cache shard is
counted, warned about and rescored; engine workers give the in-process scores."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from dataaudit.errors import InputError  # noqa: E402
from dataaudit.model import load_model  # noqa: E402
from dataaudit.passes.score import ScoreConfig, run_score  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex every jolly box".split()
DOCS = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(3 + (i * 5) % 40)) + f" {i}." for i in range(40)]


def _shard_rows(cache_dir: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(p).num_rows for p in cache_dir.glob("scores/*/part-*.parquet"))


# ---- empty input ------------------------------------------------------------------------------------------

def test_score_cli_on_an_empty_file_is_exit_2(gpt2_dir, tmp_path, capsys):
    from dataaudit.cli import main

    (tmp_path / "empty.jsonl").write_text("")
    code = main(["score", str(tmp_path / "empty.jsonl"), "--model", gpt2_dir, "--out", str(tmp_path / "o"),
                 "--cache-dir", str(tmp_path / "c"), "--quiet"])
    cap = capsys.readouterr()
    assert code == 2 and "empty.jsonl" in cap.err and "nan" not in cap.out
    assert not (tmp_path / "o" / "report.json").exists()


@pytest.mark.parametrize("data", [[], (), "gen", "table", "batches"])
def test_sources_that_yield_nothing_are_input_errors(gpt2, tmp_path, data):
    from dataaudit.records import DOC_SCHEMA

    data = {"gen": (x for x in []), "table": pa.table({"text": pa.array([], pa.string())}),
            "batches": [DOC_SCHEMA.empty_table().to_batches() or pa.RecordBatch.from_pylist([], schema=DOC_SCHEMA)]
            }.get(data, data) if isinstance(data, str) else data
    with pytest.raises(InputError, match="no documents"):
        run_score(data, model=gpt2, cache_dir=tmp_path)


def test_score_corpus_job_refuses_an_empty_list(gpt2, tmp_path):
    from dataaudit.api import ScoreJobConfig, score_corpus

    with pytest.raises(InputError, match="no documents"):
        score_corpus([], out_dir=tmp_path / "o", config=ScoreJobConfig(model=gpt2, cache_dir=str(tmp_path)))


# ---- resume -----------------------------------------------------------------------------------------------

KILLER = """
import os, signal, sys
sys.path.insert(0, sys.argv[3])
from test_score_faults import DOCS
from dataaudit.model import load_model
from dataaudit.passes.score import ScoreConfig, run_score
m = load_model(sys.argv[1], device="cpu")
seen = [0]
def progress(event, **counts):
    seen[0] += 1
    if seen[0] == int(sys.argv[4]):
        os.kill(os.getpid(), signal.SIGKILL)        # no finally, no flush: only what was already written
run_score(DOCS, model=m, cache_dir=sys.argv[2], progress=progress,
          config=ScoreConfig(batch_tokens=96, cache_every_docs=1, **eval(sys.argv[5])))
raise SystemExit("not killed")
"""


@pytest.mark.parametrize("extra", ["{}"])   # one chunk: killed inside it, before any chunk ended
def test_killed_run_resumes_from_the_cache(gpt2_dir, gpt2, tmp_path, extra):
    proc = subprocess.run([sys.executable, "-c", KILLER, gpt2_dir, str(tmp_path), str(ROOT / "tests"), "12", extra],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -9, proc.stderr[-2000:]
    kept = _shard_rows(tmp_path)
    assert 0 < kept < len(DOCS)          # some, not all, documents were scored and written before the kill
    run = run_score(DOCS, model=gpt2, cache_dir=tmp_path, config=ScoreConfig(batch_tokens=96))
    assert run.cached == kept and run.scored == len(DOCS) - kept
    fresh = run_score(DOCS, model=gpt2, use_cache=False, config=ScoreConfig(batch_tokens=96))
    for a, b in zip(run.table["nll_sum"].to_pylist(), fresh.table["nll_sum"].to_pylist()):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-6)


def test_interrupted_run_keeps_what_it_finished(gpt2, tmp_path):
    class Stop(Exception):
        pass

    calls = [0]

    def progress(event, **counts):
        calls[0] += 1
        if counts["docs"] >= 16:
            raise Stop

    with pytest.raises(Stop):
        run_score(DOCS, model=gpt2, cache_dir=tmp_path, progress=progress, config=ScoreConfig(chunk_docs=8))
    kept = _shard_rows(tmp_path)
    assert kept >= 16
    run = run_score(DOCS, model=gpt2, cache_dir=tmp_path, config=ScoreConfig(chunk_docs=8))
    assert run.cached == kept and run.scored == len(DOCS) - kept


def test_cache_is_written_while_a_long_chunk_is_scored(gpt2, tmp_path):
    """With one chunk of everything, finished documents reach the cache before the chunk ends."""
    sizes = []

    def progress(event, **counts):
        sizes.append(_shard_rows(tmp_path))

    run_score(DOCS, model=gpt2, cache_dir=tmp_path, progress=progress,
              config=ScoreConfig(batch_tokens=96, cache_every_docs=4))
    assert len(sizes) > 3 and 0 < sizes[len(sizes) // 2] < len(DOCS)
    assert _shard_rows(tmp_path) == len(DOCS)


# ---- damaged cache ----------------------------------------------------------------------------------------

def test_damaged_cache_shard_is_counted_warned_and_rescored(gpt2, tmp_path):
    first = run_score(DOCS, model=gpt2, cache_dir=tmp_path, config=ScoreConfig(chunk_docs=10, cache_every_docs=10))
    shards = sorted(tmp_path.glob("scores/*/part-*.parquet"))
    assert len(shards) >= 2 and first.warnings == []
    import pyarrow.parquet as pq

    lost = pq.read_metadata(shards[0]).num_rows
    shards[0].write_bytes(shards[0].read_bytes()[: 40])       # cut: not a readable Parquet file
    again = run_score(DOCS, model=gpt2, cache_dir=tmp_path, config=ScoreConfig(chunk_docs=10))
    assert again.scored == lost and again.cached == len(DOCS) - lost
    assert len(again.warnings) == 1 and "1 damaged score-cache shard" in again.warnings[0]
    assert shards[0].name in again.warnings[0]
    assert not shards[0].exists() and shards[0].with_name(shards[0].name + ".damaged").exists()
    res = again.to_pass_result()
    assert res.warnings == again.warnings                       # the job puts it in report.warnings
    third = run_score(DOCS, model=gpt2, cache_dir=tmp_path)
    assert third.warnings == [] and third.cached == len(DOCS)


def test_damaged_cache_warning_reaches_the_report(gpt2, tmp_path):
    from dataaudit.api import ScoreJobConfig, score_corpus

    cfg = ScoreJobConfig(model=gpt2, cache_dir=str(tmp_path / "c"))
    score_corpus(DOCS[:5], config=cfg)
    for p in (tmp_path / "c").glob("scores/*/part-*.parquet"):
        p.write_bytes(b"not parquet")
    report = score_corpus(DOCS[:5], out_dir=tmp_path / "o", config=cfg)
    assert any("damaged score-cache shard" in w for w in report.warnings)
    assert report.summary["score"]["docs_scored_now"] == 5


# ---- the engine seam --------------------------------------------------------------------------------------

def test_engine_workers_give_the_in_process_scores(tmp_path):
    """Chunks scored in two worker processes (each loads the model from its directory once) give the same
    table, bit for bit, as scoring in this process, with and without the cache (repeats across chunks)."""
    from dataaudit.engine import LocalEngine
    from dataaudit.model.bytelm import ByteLMConfig, fit_default_model

    cfg = ByteLMConfig(orders=3, buckets=1024, d_embed=8, d_hidden=16, max_length=64, steps=5, batch_size=4,
                       seq_len=32, sample_bytes=5_000, min_steps=1)
    m = fit_default_model(DOCS, config=cfg, cache_dir=tmp_path / "m", device="cpu")
    docs = DOCS[:20] + DOCS[5:15]                 # repeats that land in later chunks
    sc = ScoreConfig(chunk_docs=6, window_tokens=8)
    alone = run_score(docs, model=m, config=sc, cache_dir=tmp_path / "a")
    with LocalEngine(workers=2) as eng:
        pooled = run_score(docs, model=m, config=sc, cache_dir=tmp_path / "b", engine=eng)
        nocache = run_score(docs, model=m, config=sc, use_cache=False, engine=eng)
    ref = run_score(docs, model=m, config=sc, use_cache=False)
    for a, b in ((alone, pooled), (ref, nocache)):
        ta, tb = a.table.to_pylist(), b.table.to_pylist()
        assert len(ta) == len(docs)
        for x, y in zip(ta, tb):
            assert {k: v for k, v in x.items() if not (isinstance(v, float) and math.isnan(v))} == \
                {k: v for k, v in y.items() if not (isinstance(v, float) and math.isnan(v))}
        assert (a.scored, a.cached) == (b.scored, b.cached)
        assert a.top == b.top and a.bottom == b.bottom
    assert alone.cached == 10
