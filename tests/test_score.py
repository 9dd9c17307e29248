"""Scoring core with a tiny random-initialised GPT-2 and a tokenizer trained here (no download)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from dataaudit.errors import ConfigError, ModelError  # noqa: E402
from dataaudit.model import load_model  # noqa: E402
from dataaudit.passes.score import (  # noqa: E402
    ScoreConfig, aggregate, check_comparable, doc_stats, plan_windows, read_scores, run_score, score,
    score_meta, score_texts, token_logprobs)

from _models import CORPUS, build_tiny_gpt2  # noqa: E402,F401  (other test files import them from here)

N_POS = 32


DOCS = ["short", "The quick brown fox jumps over the lazy dog. " * 4, "x", "",
        "A journey of a thousand miles begins with a single step. To be or not to be.",
        "café naïve résumé " * 7, "Colourless green ideas sleep furiously."]


# ---- window arithmetic ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,L,S,expected", [
    (2, 4, 4, [(0, 1, 1)]),
    (5, 4, 4, [(0, 4, 4)]),
    (6, 4, 4, [(0, 4, 4), (1, 5, 1)]),
    (9, 4, 4, [(0, 4, 4), (4, 8, 4)]),
    (10, 4, 1, [(0, 4, 4), (1, 5, 1), (2, 6, 1), (3, 7, 1), (4, 8, 1), (5, 9, 1)]),
    (10, 4, 3, [(0, 4, 4), (3, 7, 3), (5, 9, 2)]),
    (0, 4, 4, []),
])
def test_plan_windows_hand_cases(n, L, S, expected):
    assert plan_windows(n, L, S) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.integers(1, 40), st.data())
def test_plan_windows_scores_every_target_once(n, L, data):
    S = data.draw(st.integers(1, L))
    scored = []
    for a, e, k in plan_windows(n, L, S):
        assert 0 <= a < e and e - a <= L and 1 <= k <= e - a and e <= n - 1
        scored += list(range(e - k, e))          # target j predicts seq[j + 1]
        if a > 0:   # a later window uses its full length
            assert e - a == L
    assert scored == list(range(max(n - 1, 0)))


def test_plan_windows_rejects_bad_stride():
    with pytest.raises(ConfigError):
        plan_windows(10, 4, 5)


# ---- exactness --------------------------------------------------------------------------------------------

def same_table(a: pa.Table, b: pa.Table) -> bool:
    """Equal column by column, NaN equal to NaN (pyarrow's equals says NaN != NaN)."""
    if a.schema.names != b.schema.names or a.num_rows != b.num_rows:
        return False
    for name in a.schema.names:
        x, y = a[name].to_pylist(), b[name].to_pylist()
        for u, v in zip(x, y):
            if not (u == v or (isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v))):
                return False
    return True


def _alone(model, texts, cfg):
    return [score_texts(model, [t], cfg)[0] for t in texts]


@pytest.mark.parametrize("stride", [None, 5])
def test_batched_equals_unbatched(gpt2, stride):
    cfg = ScoreConfig(stride=stride)
    batched = score_texts(gpt2, DOCS, cfg)
    one_row = score_texts(gpt2, DOCS, ScoreConfig(stride=stride, batch_tokens=1))   # one window per batch
    alone = _alone(gpt2, DOCS, cfg)
    assert any(d["n_tokens"] > N_POS for d in batched), "some document must need several windows"
    for b, o, a in zip(batched, one_row, alone):
        assert b["n_tokens"] == o["n_tokens"] == a["n_tokens"]
        for x in (o, a):
            assert b["nll_sum"] == pytest.approx(x["nll_sum"], rel=1e-4, abs=1e-6)


def test_matches_transformers_loss(gpt2):
    """Our NLL of a document that fits = transformers' own mean loss x scored tokens, BOS prefixed."""
    hf, tok = gpt2.model, gpt2.tok
    for text in DOCS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        if not ids or len(ids) + 1 > N_POS:
            continue
        x = torch.tensor([[tok.bos_token_id] + ids])
        with torch.no_grad():
            loss = hf(input_ids=x, labels=x).loss.item()
        ours = score_texts(gpt2, [text])[0]
        assert ours["n_tokens"] == len(ids)
        assert ours["nll_sum"] == pytest.approx(loss * len(ids), rel=1e-4)


def test_long_document_matches_transformers_sliding_window(gpt2):
    """A document longer than the context: per window, transformers' full logits and cross-entropy on the
    last k targets only, summed, equal our nll_sum (chunked log-softmax, batched windows)."""
    import torch.nn.functional as F

    hf, tok = gpt2.model, gpt2.tok
    text = DOCS[1] * 2
    seq = [tok.bos_token_id] + tok(text, add_special_tokens=False)["input_ids"]
    L, S = N_POS, 7
    total = 0.0
    for a, e, k in plan_windows(len(seq), L, S):
        with torch.no_grad():
            logits = hf(input_ids=torch.tensor([seq[a:e]])).logits[0]
        total += F.cross_entropy(logits[-k:], torch.tensor(seq[e - k + 1:e + 1]), reduction="sum").item()
    ours = score_texts(gpt2, [text], ScoreConfig(stride=S))[0]
    assert len(seq) - 1 > L and ours["n_tokens"] == len(seq) - 1
    assert ours["nll_sum"] == pytest.approx(total, rel=1e-4)


def test_bos_never_scores_first_token_as_context(gpt2):
    ids = gpt2.tok(DOCS[4], add_special_tokens=False)["input_ids"]
    d = score_texts(gpt2, [DOCS[4]], ScoreConfig(bos="never"))[0]
    assert d["n_tokens"] == len(ids) - 1
    assert score_texts(gpt2, ["x"], ScoreConfig(bos="never"))[0]["n_tokens"] == 0


def test_token_logprobs_are_log_probabilities(gpt2):
    seq = np.array([0] + gpt2.tok(DOCS[0] * 3, add_special_tokens=False)["input_ids"])
    lp = token_logprobs(gpt2, [seq], max_length=N_POS, stride=N_POS, batch_tokens=64)[0]
    assert lp.shape == (len(seq) - 1,) and np.all(lp < 0) and np.all(np.isfinite(lp))


def test_doc_stats_hand_case():
    lp = np.log(np.array([0.5, 0.125, 0.25, 0.5, 0.5]))
    text = "ab\u00e9cd"           # 5 chars, 6 bytes; one token per char
    d = doc_stats(text, lp, np.arange(5), np.arange(1, 6), min_k=0.4, window_tokens=2)
    nll = -lp.sum()
    assert d["nll_sum"] == pytest.approx(nll) and d["n_bytes"] == 6 and d["n_tokens"] == 5
    assert d["ppl"] == pytest.approx(math.exp(nll / 5))
    assert d["bits_per_byte"] == pytest.approx(nll / (6 * math.log(2)))
    assert d["min_k"] == pytest.approx((math.log(0.125) + math.log(0.25)) / 2)   # lowest 2 of 5
    assert (d["worst_start"], d["worst_end"]) == (1, 3)                        # 'b\u00e9': 0.125 and 0.25
    assert d["worst_nll"] == pytest.approx(-(math.log(0.125) + math.log(0.25)) / 2)
    assert d["worst_bpb"] == pytest.approx(5 / 3)                               # 3 + 2 bits over 3 bytes
    assert (d["best_start"], d["best_end"]) == (3, 5)                          # 'cd': 1 + 1 bits, the lowest
    assert d["best_nll"] == pytest.approx(math.log(2)) and d["best_bpb"] == pytest.approx(1.0)
    import zlib
    zb = len(zlib.compress(text.encode(), 6))
    assert d["zlib_bytes"] == zb and d["zlib_ratio"] == pytest.approx((nll / 5) / zb)


def test_empty_document_has_no_perplexity():
    d = doc_stats("", np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                  min_k=0.2, window_tokens=4)
    assert d["n_tokens"] == 0 and math.isnan(d["ppl"]) and d["worst_start"] is None and d["best_start"] is None


# ---- the driver: cache, Parquet, aggregates ---------------------------------------------------------------

def test_cache_is_hit_on_second_run(gpt2, tmp_path):
    first = run_score(DOCS[:4], model=gpt2, cache_dir=tmp_path)
    assert first.scored == 4 and first.cached == 0
    second = run_score(DOCS, model=gpt2, cache_dir=tmp_path)    # 3 new documents
    assert second.cached == 4 and second.scored == 3
    third = run_score(DOCS, model=gpt2, cache_dir=tmp_path)
    assert third.cached == len(DOCS) and third.scored == 0 and third.tokens_scored == 0
    assert same_table(third.table, second.table)
    other = run_score(DOCS, model=gpt2, cache_dir=tmp_path, config=ScoreConfig(stride=5))   # other settings
    assert other.cached == 0


def test_duplicate_texts_are_scored_once(gpt2, tmp_path):
    run = run_score([("a", DOCS[1]), ("b", DOCS[1])], model=gpt2, cache_dir=tmp_path)
    assert run.table["nll_sum"][0] == run.table["nll_sum"][1]
    assert run.table["doc_id"].to_pylist() == ["a", "b"]


def test_scores_round_trip_through_parquet(gpt2, tmp_path):
    t = score(DOCS, model=gpt2, out_dir=tmp_path / "out", use_cache=False)
    back, meta = read_scores(tmp_path / "out" / "scores.parquet")
    assert same_table(back, t)
    assert meta["model"]["fingerprint"] == gpt2.fingerprint
    assert meta["model"]["tokenizer"] == gpt2.tokenizer_id
    s = meta["settings"]
    assert s["max_length"] == N_POS and s["stride"] == N_POS and s["bos"] == "auto" and s["bos_token_id"] == 0


def test_accepts_record_batches(gpt2):
    from dataaudit.records import DOC_SCHEMA

    b = pa.RecordBatch.from_pylist([{"doc_id": f"d{i}", "split": "val", "text": t, "source": "mem", "row": i}
                                    for i, t in enumerate(DOCS)], schema=DOC_SCHEMA)
    t = score([b], model=gpt2, use_cache=False)
    assert t["doc_id"].to_pylist() == [f"d{i}" for i in range(len(DOCS))]
    assert set(t["split"].to_pylist()) == {"val"}


def test_aggregate_is_token_weighted(gpt2):
    t = score(DOCS, model=gpt2, use_cache=False)
    agg = aggregate(t)
    nll = sum(t["nll_sum"].to_pylist())
    tok = sum(t["n_tokens"].to_pylist())
    assert agg["ppl"] == pytest.approx(math.exp(nll / tok))
    assert agg["bits_per_byte"] == pytest.approx(nll / (sum(t["n_bytes"].to_pylist()) * math.log(2)))
    assert agg["empty_docs"] == 1
    mean_ppl = np.nanmean(t["ppl"].to_numpy(zero_copy_only=False))
    assert agg["ppl"] != pytest.approx(mean_ppl)   # not a mean of per-document perplexities


def test_refuses_ppl_across_tokenizers(gpt2):
    m = score_meta(score(DOCS[:2], model=gpt2, use_cache=False))
    other = {**m, "model": {**m["model"], "tokenizer": "bytes:256"}}
    check_comparable(m, m)
    with pytest.raises(ConfigError, match="bits_per_byte"):
        check_comparable(m, other, "ppl")
    check_comparable(m, other, "bits_per_byte")


def test_max_length_beyond_context_is_an_error(gpt2):
    with pytest.raises(ConfigError, match="--max-length"):
        score_texts(gpt2, ["abc"], ScoreConfig(max_length=N_POS * 2))


# ---- loading errors ---------------------------------------------------------------------------------------

def _one_line_model_error(path):
    with pytest.raises(ModelError) as e:
        load_model(path, device="cpu")
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400
    return msg


def test_missing_model_path_is_one_line_error(tmp_path):
    assert "does not exist" in _one_line_model_error(str(tmp_path / "nope"))


def test_not_a_model_dir_is_one_line_error(tmp_path):
    assert "config.json" in _one_line_model_error(str(tmp_path))
    f = tmp_path / "weights.bin"
    f.write_bytes(b"xx")
    assert "is a file" in _one_line_model_error(str(f))


def test_not_a_causal_lm_is_one_line_error(tmp_path):
    from transformers import ViTConfig

    ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(tmp_path)
    assert "not a causal language model" in _one_line_model_error(str(tmp_path))


def test_unknown_name_is_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "local Hugging Face cache" in _one_line_model_error("no-such-org/no-such-model")


# ---- GPU --------------------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(gpt2_dir):
    cpu = score_texts(load_model(gpt2_dir, device="cpu"), DOCS, ScoreConfig(precision="fp32"))
    gpu_model = load_model(gpt2_dir, device="cuda")
    fp32 = score_texts(gpu_model, DOCS, ScoreConfig(precision="fp32"))
    bf16 = score_texts(gpu_model, DOCS)   # auto = bf16 autocast on CUDA
    for c, g, b in zip(cpu, fp32, bf16):
        assert g["nll_sum"] == pytest.approx(c["nll_sum"], rel=1e-3, abs=1e-4)
        assert b["nll_sum"] == pytest.approx(c["nll_sum"], rel=5e-2, abs=1e-2)


def test_dropping_the_padding_mask_changes_nothing(gpt2):
    """The HF backend skips the attention mask when a probe shows right padding cannot reach real tokens;
    scoring with the mask forced on gives the same numbers."""
    assert gpt2._mask is False
    fast = score_texts(gpt2, DOCS)
    gpt2._mask = True
    try:
        masked = score_texts(gpt2, DOCS)
    finally:
        gpt2._mask = False
    for a, b in zip(fast, masked):
        assert a["nll_sum"] == pytest.approx(b["nll_sum"], rel=1e-5, abs=1e-6)


def test_top_and_bottom_lists_keep_the_earlier_of_equal_documents(tmp_path):
    from dataaudit.model.bytelm import ByteLMConfig, fit_default_model
    from dataaudit.passes.score import run_score

    cfg = ByteLMConfig(orders=3, buckets=1024, d_embed=8, d_hidden=16, max_length=64, steps=5, batch_size=4,
                       seq_len=32, sample_bytes=5_000, min_steps=1)
    docs = ["the same words again"] * 6 + ["zq xv jk wp"] * 6
    m = fit_default_model(docs, config=cfg, cache_dir=tmp_path, device="cpu")
    run = run_score(docs, model=m, use_cache=False, top_n=3)
    assert len(run.top) == 3 and len({t["bits_per_byte"] for t in run.top}) == 1   # copies: equal scores
    ids = [t["doc_id"] for t in run.top]
    rows = run.table.to_pylist()
    hi = max(r["bits_per_byte"] for r in rows)
    want = [r["doc_id"] for r in rows if r["bits_per_byte"] == hi][:3]
    assert ids == want                                          # the first three copies, in order
    lo = min(r["bits_per_byte"] for r in rows)
    assert [t["doc_id"] for t in run.bottom] == [r["doc_id"] for r in rows if r["bits_per_byte"] == lo][:3]


def test_a_tiny_corpus_with_short_windows_fits():
    from dataaudit.model.bytelm import ByteLMConfig, train

    cfg = ByteLMConfig(orders=4, buckets=4096, d_embed=8, d_hidden=32, max_length=64, steps=3, batch_size=8,
                       seq_len=32, min_steps=1, warmup=1)
    _net, info = train([(1, b"hi")], cfg)      # 3 bytes of stream, repeat spans up to 63: tiled to fit
    assert info["steps_done"] == 3
