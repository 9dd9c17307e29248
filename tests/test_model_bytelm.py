"""The embedded byte-level default: fit, cache, save/reload, determinism, and scoring through it."""

from __future__ import annotations

import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dataaudit.errors import InputError, ModelError  # noqa: E402
from dataaudit.model import load_model, resolve_model  # noqa: E402
from dataaudit.model.bytelm import ByteLMConfig, fit_default_model, fit_key, sample_corpus  # noqa: E402
from dataaudit.passes.score import ScoreConfig, run_score, score_texts  # noqa: E402

TINY = ByteLMConfig(orders=4, buckets=4096, d_embed=8, d_hidden=32, max_length=64, steps=40, batch_size=8,
                    seq_len=32, lr=1e-2, warmup=5, sample_bytes=20_000)

WORDS = ("the cat sat on a mat while the dog ran to the park and a bird sang in the tree near the old house "
         "by the river").split()


def corpus(n=120, seed=0):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(3, 30)
        start = rng.randrange(len(WORDS))
        out.append(" ".join(WORDS[(start + i) % len(WORDS)] for i in range(k)) + ".")
    return out


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return fit_default_model(corpus(), config=TINY, cache_dir=cache, device="cpu"), cache


def test_fit_saves_and_reloads_with_identical_scores(fitted):
    model, _ = fitted
    docs = corpus(10, seed=1) + ["", "x", "\u00e9t\u00e9 \u2014 caf\u00e9"]
    a = score_texts(model, docs)
    again = load_model(model.name, device="cpu")
    assert again.kind == "bytelm" and again.fingerprint == model.fingerprint
    b = score_texts(again, docs)
    for x, y in zip(a, b):
        assert x["nll_sum"] == y["nll_sum"] and x["n_tokens"] == y["n_tokens"] == x["n_bytes"]


def test_second_fit_comes_from_the_cache(fitted):
    model, cache = fitted
    again = fit_default_model(list(reversed(corpus())), config=TINY, cache_dir=cache, device="cpu")
    assert again.fit_info["from_cache"] is True and again.fingerprint == model.fingerprint


def test_fit_is_deterministic_for_a_seed(tmp_path):
    a = fit_default_model(corpus(), config=TINY, cache_dir=tmp_path / "a", device="cpu")
    b = fit_default_model(corpus(), config=TINY, cache_dir=tmp_path / "b", device="cpu")
    assert a.fingerprint == b.fingerprint
    c = fit_default_model(corpus(), config=ByteLMConfig(**{**TINY.key_dict(), "seed": 1}),
                          cache_dir=tmp_path / "c", device="cpu")
    assert c.fingerprint != a.fingerprint


def test_a_fit_stopped_by_max_seconds_is_reported_and_never_cached_as_the_full_fit(fitted, tmp_path):
    import shutil

    from dataaudit.model.bytelm import DEFAULT_CONFIG

    full, cache = fitted
    # the default's step count does not depend on the wall clock: its stop is a safety far above a fit
    assert DEFAULT_CONFIG.max_seconds is None or DEFAULT_CONFIG.max_seconds >= 1800
    shutil.copytree(cache, tmp_path / "c")
    cut = ByteLMConfig(**{**TINY.key_dict(), "max_seconds": 1e-9})   # same cache key as TINY
    m = fit_default_model(corpus(), config=cut, cache_dir=tmp_path / "c", device="cpu", refit=True)
    fi = m.fit_info
    assert fi["stopped_by_max_seconds"] is True and fi["steps_done"] == 1 < fi["steps"] == TINY.steps
    assert "max_seconds" in fi["warning"] and "1 of 40 steps" in fi["warning"]
    assert m.fingerprint != full.fingerprint and "-stopped-1of40" in m.name
    assert load_model(m.name, device="cpu").fingerprint == m.fingerprint     # loadable with --model
    # the full fit's cache entry is untouched, and a stopped fit is never served for these settings
    again = fit_default_model(corpus(), config=TINY, cache_dir=tmp_path / "c", device="cpu")
    assert again.fit_info["from_cache"] is True and again.fingerprint == full.fingerprint
    fresh = fit_default_model(corpus(), config=cut, cache_dir=tmp_path / "d", device="cpu")
    assert fresh.fit_info["from_cache"] is False and fresh.fit_info["stopped_by_max_seconds"]
    assert fit_default_model(corpus(), config=TINY, cache_dir=tmp_path / "d", device="cpu"
                             ).fit_info["steps_done"] == TINY.steps


def test_sample_is_order_independent_and_bounded():
    docs = corpus(300)
    s1 = sample_corpus(docs, 2_000)
    s2 = sample_corpus(list(reversed(docs)), 2_000)
    assert s1 == s2
    total = sum(len(d) for _, d in s1)
    assert total >= 2_000 and total - max(len(d) for _, d in s1) < 2_000
    assert fit_key(s1, TINY) == fit_key(s2, TINY) != fit_key(sample_corpus(docs, 3_000), TINY)


def test_model_learned_the_corpus(fitted):
    model, _ = fitted
    rng = random.Random(3)
    normal = score_texts(model, corpus(20, seed=5))
    junk = score_texts(model, ["".join(chr(rng.randrange(33, 127)) for _ in range(80)) for _ in range(20)])
    worst_normal = max(d["bits_per_byte"] for d in normal)
    best_junk = min(d["bits_per_byte"] for d in junk)
    assert worst_normal < best_junk


def test_causal_and_batched_equals_unbatched(fitted):
    model, _ = fitted
    text = " ".join(corpus(30, seed=2))          # several windows of 64 bytes
    lp = model.encode([text])[0]
    assert len(lp.ids) > 3 * TINY.max_length
    cfg = ScoreConfig(stride=16)
    batched = score_texts(model, [text, "short one", text[:100]], cfg)
    alone = [score_texts(model, [t], ScoreConfig(stride=16, batch_tokens=1))[0] for t in [text, "short one", text[:100]]]
    for x, y in zip(batched, alone):
        assert x["nll_sum"] == pytest.approx(y["nll_sum"], rel=1e-5)
    # a change at the end does not change the score of what came before
    ids = torch.tensor([[256] + list(b"the cat sat on")])
    ids2 = ids.clone()
    ids2[0, -1] = ord("X")
    with torch.inference_mode():
        h1 = model.hidden(ids, None)
        h2 = model.hidden(ids2, None)
    assert torch.equal(h1[:, :-1], h2[:, :-1]) and not torch.equal(h1[:, -1], h2[:, -1])


def test_worst_window_offsets_are_characters(fitted):
    model, _ = fitted
    text = "the cat sat on a mat " * 3 + "\u00e9\u00e9\u00e9\u00e9 QZXJ \u00e9\u00e9" + " the dog ran" * 3
    d = score_texts(model, [text], ScoreConfig(window_tokens=8))[0]
    assert 0 <= d["worst_start"] < d["worst_end"] <= len(text)
    assert "QZXJ"[:1] in text[d["worst_start"] - 8:d["worst_end"] + 8] or "\u00e9" in text[d["worst_start"]:d["worst_end"]]


def test_score_without_model_fits_on_data_and_says_so(tmp_path):
    m, notes = resolve_model(None, corpus=corpus(40), cache_dir=tmp_path, fit_config=TINY, device="cpu")
    run = run_score(corpus(40), model=m, config=ScoreConfig(), cache_dir=tmp_path)
    assert run.meta["model"]["kind"] == "bytelm"
    assert any("No model given" in n and "the data itself" in n for n in notes)
    m2, notes2 = resolve_model(None, corpus=corpus(40, seed=9), corpus_name="the --fit-on corpus",
                               cache_dir=tmp_path, fit_config=TINY, device="cpu")
    run2 = run_score(corpus(40), model=m2, cache_dir=tmp_path)
    assert any("--fit-on corpus" in n for n in notes2)
    assert run2.meta["model"]["fingerprint"] != run.meta["model"]["fingerprint"]


def test_one_shot_iterator_without_model_is_an_error(tmp_path):
    from dataaudit.errors import ConfigError

    with pytest.raises(ConfigError, match="fit_on"):
        resolve_model(None, corpus=iter(corpus(5)), cache_dir=tmp_path, fit_config=TINY)
    with pytest.raises(ConfigError, match="fit_on"):
        run_score(iter(corpus(5)), model=None, cache_dir=tmp_path)


def test_empty_corpus_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no non-empty documents"):
        fit_default_model(["", ""], config=TINY, cache_dir=tmp_path)


def test_damaged_model_dir_is_one_line_error(fitted, tmp_path):
    import shutil

    model, _ = fitted
    bad = tmp_path / "bad"
    shutil.copytree(model.name, bad)
    (bad / "model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ModelError) as e:
        load_model(bad, device="cpu")
    assert "\n" not in str(e.value) and "byte-level" in str(e.value)


def test_encode_offsets_are_per_character():
    from dataaudit.model.bytelm import ByteLMModel, _build

    m = ByteLMModel(_build(TINY), TINY, name="t", device="cpu")
    enc = m.encode(["a\u00e9b"])[0]
    assert enc.ids.tolist() == [97, 0xC3, 0xA9, 98]
    assert enc.starts.tolist() == [0, 1, 1, 2] and enc.ends.tolist() == [1, 2, 2, 3]
    assert np.all(enc.ids < 256)


def test_prev_occurrence_matches_a_brute_force_scan():
    from dataaudit.model.bytelm import _prev_occurrence

    g = torch.Generator().manual_seed(0)
    key = torch.randint(0, 5, (3, 40), generator=g)
    prev = _prev_occurrence(key).reshape(3, 40)
    for b in range(3):
        for t in range(40):
            earlier = [s for s in range(t) if key[b, s] == key[b, t]]
            want = b * 40 + earlier[-1] if earlier else -1
            assert int(prev[b, t]) == want


def test_word_hash_depends_on_previous_and_current_word_only():
    from dataaudit.model.bytelm import VOCAB, _word_hash

    def wh(text, j=0):
        ids = torch.tensor([[VOCAB] * 4 + [256] + list(text.encode())])
        hashes, _key = _word_hash(ids, 4, ids.shape[1] - 4, history=2)
        return hashes[j][0, 1:].tolist()   # per byte of text

    a, b, c = wh("red cat sat"), wh("big red cat"), wh("big fat cat")
    assert a[6] == b[10]          # "red ca" | "...red ca": same previous word, same partial word
    assert b[10] != c[10]         # previous word differs
    assert a[4] != a[5]           # the partial word grows
    # the word history: j = 1 is the last whole word, j = 2 the one before, each on its own
    p1, p2, q1, q2 = wh("one big red ca", 1), wh("one big red ca", 2), wh("two big red co", 1), wh("two big red co", 2)
    assert p1[-1] == q1[-1] and p2[-1] == q2[-1]          # "red", "big" whatever came before or after
    assert p1[-1] != p2[-1]                               # different words, different hashes
    r1, r2 = wh("a red big ca", 1), wh("a red big ca", 2)
    # the word trigram (last with trigram=True): the two previous words and the partial word, nothing older
    def tri(text):
        ids = torch.tensor([[VOCAB] * 4 + [256] + list(text.encode())])
        hashes, _key = _word_hash(ids, 4, ids.shape[1] - 4, history=2, trigram=True)
        assert all(torch.equal(x, y) for x, y in zip(hashes, _word_hash(ids, 4, ids.shape[1] - 4, history=2)[0]))
        return hashes[-1][0, 1:].tolist()

    assert tri("one big red ca")[-1] == tri("two big red ca")[-1]
    assert len({tri("one big red ca")[-1], tri("one bog red ca")[-1], tri("one big rod ca")[-1],
                tri("one big red co")[-1]}) == 4
    assert r1[-1] != p2[-1] and r2[-1] != p1[-1]          # the slot is part of the hash ("big" 1 vs 2)
    assert r1[-1] == wh("x big ca", 1)[-1]                # "big" as word 1, whatever the text
    assert wh("red ca", 2)[-1] == wh("blue ca", 2)[-1]    # before the first word: the same empty word


def test_word_match_predicts_the_documents_own_words():
    from dataaudit.model.bytelm import VOCAB, _follower, _word_hash

    text = b"the zebra ran far and the zebra sat"
    ids = torch.tensor([[256] + list(text)])
    x = torch.cat([torch.full((1, 4), VOCAB), ids], 1)
    _h, key = _word_hash(x, 4, ids.shape[1])
    pred = _follower(key, ids)[0].tolist()
    second = text.index(b"zebra", 5) + 1          # + 1 for the BOS
    # inside the second "zebra", each partial word was seen once before: the next byte is predicted
    assert [pred[second + i] for i in range(4)] == list(b"ebra")
    # right after "the " the word that followed "the" before is predicted ("z")
    assert pred[second - 1] == ord("z")
    # the first "zebra" has no earlier occurrence: nothing to predict from its 3rd byte on
    first = text.index(b"zebra") + 1
    assert pred[first + 2] == VOCAB


def test_match_features_make_repeats_cheap_and_stay_causal(fitted):
    model, _ = fitted
    rng = random.Random(7)
    grams = ["".join(chr(rng.randrange(97, 123)) for _ in range(12)) + " " for _ in range(20)]
    once = score_texts(model, grams)
    four = score_texts(model, [g * 4 for g in grams])      # 52 bytes: inside one 64-byte window
    # without the copy features each repeat would cost about as much as the first time (ratio ~1)
    for a, b in zip(once, four):
        assert b["bits_per_byte"] < 0.6 * a["bits_per_byte"]
    # the copy source is strictly earlier: changing a later repeat leaves earlier positions alone
    ids = torch.tensor([[256] + list(b"abcdefghijk abcdefghijk abcdefghijk")])
    ids2 = ids.clone()
    ids2[0, -3] = ord("Z")
    with torch.inference_mode():
        assert torch.equal(model.hidden(ids, None)[:, :-3], model.hidden(ids2, None)[:, :-3])


def test_random_repeats_make_runs_of_unseen_bytes_cheap(tmp_path):
    # the corpus has only lowercase words: "*", "=" and "#" are never a target in the sample, so without
    # random-byte repeat windows a run of them stays expensive however long it repeats
    runs = ["*" * 100, "=" * 100, "#" * 100]
    got = {}
    for rr in (0, 1):
        cfg = ByteLMConfig(**{**TINY.key_dict(), "random_repeats": rr, "steps": 100, "seq_len": 64,
                              "max_length": 128})
        m = fit_default_model(corpus(), config=cfg, cache_dir=tmp_path / str(rr), device="cpu")
        got[rr] = [r["bits_per_byte"] for r in score_texts(m, runs)]
    for without, with_ in zip(got[0], got[1]):
        assert with_ < 0.6 * without


def test_old_format_models_still_load(tmp_path):
    import json
    import shutil

    from dataaudit.model.bytelm import load_bytelm

    old = ByteLMConfig(**{**TINY.key_dict(), "word_history": 0, "word_match": False, "random_repeats": 0,
                          "max_epochs": None})
    m = fit_default_model(corpus(), config=old, cache_dir=tmp_path / "c", device="cpu")
    d = tmp_path / "old"
    shutil.copytree(m.name, d)
    meta = json.loads((d / "bytelm.json").read_text())
    for k in ("word_history", "word_match", "random_repeats", "max_epochs", "word_trigram"):   # format 2
        del meta["config"][k]                                                               # predates them
    meta["format"] = 2
    (d / "bytelm.json").write_text(json.dumps(meta))
    back = load_bytelm(d)
    assert back.cfg == old
    text = ["the dog ran to the park"]
    assert score_texts(back, text)[0]["nll_sum"] == pytest.approx(score_texts(m, text)[0]["nll_sum"], rel=1e-6)
    # format 3 (word history and word match, no word trigram): a format-3 default loads as it was
    cfg3 = ByteLMConfig(**{**TINY.key_dict(), "word_trigram": False})
    m3 = fit_default_model(corpus(), config=cfg3, cache_dir=tmp_path / "c3", device="cpu")
    d3 = tmp_path / "old3"
    shutil.copytree(m3.name, d3)
    meta = json.loads((d3 / "bytelm.json").read_text())
    del meta["config"]["word_trigram"]
    meta["format"] = 3
    (d3 / "bytelm.json").write_text(json.dumps(meta))
    back3 = load_bytelm(d3)
    assert back3.cfg == cfg3 and back3.fingerprint == m3.fingerprint


def test_a_small_sample_gets_fewer_steps():
    from dataaudit.model.bytelm import planned_steps

    cfg = ByteLMConfig(steps=300, batch_size=24, seq_len=512, max_epochs=8.0)
    assert planned_steps(cfg, 1_002_824) == 300                 # 1 MB: 3.7 passes, the budget holds
    assert planned_steps(cfg, 190_000) == 124                   # ceil(8 x 190,000 / 12,288)
    assert planned_steps(ByteLMConfig(max_epochs=None), 190_000) == 300
    assert planned_steps(cfg, 10) == 60                         # min_steps: the MLP needs some steps
    assert planned_steps(ByteLMConfig(steps=40, min_steps=60), 10) == 40   # never above the budget
    with pytest.raises(Exception, match="max_epochs"):
        ByteLMConfig(max_epochs=0)


def test_best_window_finds_a_run_inside_normal_text(fitted, tmp_path):
    model, _ = fitted
    rng = random.Random(4)
    base = " ".join(rng.choice(WORDS) for _ in range(120))   # words in random order: no cheap stretch
    k = len(base) // 2
    docs = [base, base[:k] + "\\" * 120 + base[k:]]
    run = run_score(docs, model=model, use_cache=False, config=ScoreConfig(window_tokens=16))
    rows = run.table.to_pylist()
    s0, s1 = rows[1]["best_start"], rows[1]["best_end"]
    assert k <= s0 < s1 <= k + 120 and set(docs[1][s0:s1]) == {"\\"}   # the lowest-loss span is in the run
    assert rows[1]["best_bpb"] < 0.5 * rows[0]["best_bpb"]
    # the report lists the lowest bits-per-byte documents (lowest first) with that span, beside the highest
    assert [t["bits_per_byte"] for t in run.bottom] == sorted(r["bits_per_byte"] for r in rows)
    entry = next(t for t in run.bottom if t["doc_id"] == rows[1]["doc_id"])
    assert entry["excerpt"] == docs[1][s0:s1] and entry["best_bpb"] == rows[1]["best_bpb"]
    from dataaudit.records import Report
    from dataaudit.report.sections.score import sections

    report = Report(kind="score", config={})
    run.to_pass_result().apply_to(report)
    assert "Lowest bits per byte" in [s.title for s in sections(report)]
