"""Detection on synthetic curves with planted spikes, NaNs, plateaus, rewinds, climbs; false alarms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataaudit.errors import ConfigError
from dataaudit.logs import DiagnoseConfig, SpikeConfig, detect_spikes, score_series
from dataaudit.logs import diagnose as dg


def curve(n=3000, seed=0, noise=0.02):
    """A decaying loss with multiplicative log-normal noise."""
    rng = np.random.default_rng(seed)
    s = np.arange(n)
    return s, (2.5 + 8.0 * np.exp(-s / 300.0)) * np.exp(noise * rng.standard_normal(n))


def test_planted_spikes_exact_steps_and_measurements():
    s, v = curve()
    base = v.copy()
    v[800] *= 1.6                     # one-step spike
    v[1500:1504] *= 1.5               # four-step spike
    v[2200] *= 2.5                    # a big one, slow recovery: 1.3x for 30 more steps
    v[2201:2231] *= 1.3
    spikes = detect_spikes(s, v)
    assert [x["step"] for x in spikes] == [800, 1500, 2200]
    a, b, c = spikes
    assert a["points"] == 1 and a["duration_steps"] == 1 and a["steps_to_recover"] == 1
    assert a["value"] == v[800] and a["peak_step"] == 800
    assert a["baseline"] == pytest.approx(np.median(base[750:800]), rel=0.03)
    assert b["points"] == 4 and b["duration_steps"] == 4 and b["steps_to_recover"] == 4
    assert c["peak_step"] == 2200 and c["peak"] == v[2200]
    assert c["points"] >= 2 and c["steps_to_recover"] >= 30   # stays above the baseline while 1.3x
    assert all(x["score"] > 6 for x in spikes)


def test_no_false_alarms_on_spike_free_noise():
    total, judged = 0, 0
    for seed in range(5):
        s, v = curve(n=20000, seed=seed)
        sc = score_series(s, v)
        total += len(sc.spikes)
        judged += int(sc.judged.sum())
    # Gaussian log-noise: z > 6 has probability ~1e-9 per point; allow for MAD estimation error
    assert judged > 90000
    assert total <= 1


def test_causal_future_points_do_not_change_the_past():
    s, v = curve(n=1200, seed=3)
    v[600] *= 1.8
    full = score_series(s, v)
    part = score_series(s[:700], v[:700])
    np.testing.assert_array_equal(full.z[:700], part.z)
    assert [x["step"] for x in part.spikes] == [600]


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=150, max_value=900), st.floats(min_value=1.3, max_value=5.0),
       st.integers(min_value=0, max_value=10_000))
def test_property_a_planted_spike_is_found_at_its_step(at, factor, seed):
    s, v = curve(n=1000, seed=seed, noise=0.01)
    v[at] *= factor
    assert at in [x["step"] for x in detect_spikes(s, v)]


def test_warmup_and_min_history_are_not_judged():
    s, v = curve(n=500)
    v[50] *= 3       # inside warm-up (default 100 steps)
    v[300] *= 3
    assert [x["step"] for x in detect_spikes(s, v)] == [300]
    assert [x["step"] for x in detect_spikes(s, v, warmup_steps=0)] == [50, 300]
    sc = score_series(s, v, SpikeConfig(warmup_steps=0))
    assert not sc.judged[:20].any() and sc.judged[20]


def test_nan_and_inf_are_divergence_not_spikes():
    s, v = curve(n=1000)
    v[700] = np.nan
    v[900:] = np.inf
    sc = score_series(s, v)
    assert sc.spikes == []
    div = dg.divergence(sc, DiagnoseConfig())
    assert div[0]["kind"] == "nan" and div[0]["step"] == 700 and div[0]["count"] == 101


def test_sustained_climb_is_divergence():
    s, v = curve(n=2000)
    v[1500:] *= np.exp(np.linspace(0, 1.5, 500))  # climbs to 4.5x and never comes back
    sc = score_series(s, v)
    div = dg.divergence(sc, DiagnoseConfig())
    climbs = [d for d in div if d["kind"] == "climb"]
    assert len(climbs) == 1 and climbs[0]["to_end"]
    # the trailing median crosses +25% after log(1.25)/1.5*500 = 37 steps of climbing, plus lag
    assert 1530 <= climbs[0]["step"] <= 1600
    s2, v2 = curve(n=2000)
    assert [d for d in dg.divergence(score_series(s2, v2), DiagnoseConfig()) if d["kind"] == "climb"] == []


def test_plateau_exact_range():
    s, v = curve(n=600)
    v[300:340] = 3.1415
    p = dg.plateaus(s, v, DiagnoseConfig())
    assert p == [{"kind": "plateau", "step": 300, "end_step": 339, "points": 40, "value": 3.1415,
                  "detail": p[0]["detail"]}]
    assert dg.plateaus(*curve(n=600), DiagnoseConfig()) == []


def test_rewind_repeat_and_wall_gap():
    steps = np.array(list(range(0, 100)) + list(range(80, 120)) + [119, 120])
    wall = np.arange(steps.size, dtype=float)
    wall[120:] += 5000.0   # the job was down for 5000 s before the point at index 120
    ev = dg.restarts(steps, wall, DiagnoseConfig())
    kinds = {e["kind"]: e for e in ev}
    assert kinds["rewind"]["step"] == 80 and kinds["rewind"]["from_step"] == 99
    assert kinds["rewind"]["replayed_steps"] == 20
    assert kinds["repeated_step"]["step"] == 119 and kinds["repeated_step"]["count"] == 1
    assert kinds["restart"]["step"] == steps[120]


def test_grad_relation_and_groups():
    loss = [{"run": "a", "step": 100, "peak": 2.0, "baseline": 1.0, "score": 9.0},
            {"run": "b", "step": 100, "peak": 3.0, "baseline": 1.0, "score": 8.0},
            {"run": "a", "step": 500, "peak": 2.0, "baseline": 1.0, "score": 7.0},
            {"run": "c", "step": 503, "peak": 2.0, "baseline": 1.0, "score": 7.0}]
    dg.grad_relation(loss, [{"step": 97}, {"step": 500}, {"step": 504}], DiagnoseConfig())
    assert [x["grad_relation"] for x in loss] == ["precedes", "precedes", "coincides", "follows"]
    groups = dg.group_across_runs(loss, 3, DiagnoseConfig())
    assert [(g["step"], g["runs"]) for g in groups] == [(100, ["a", "b"])]
    assert groups[0]["median_peak_ratio"] == 2.5 and [x["group"] for x in loss] == [0, 0, None, None]
    groups = dg.group_across_runs(loss, 3, DiagnoseConfig(group_tolerance=3))
    assert [(g["step"], g["runs"]) for g in groups] == [(100, ["a", "b"]), (500, ["a", "c"])]


def test_overfitting_and_leak_warning():
    s, v = curve(n=2000, noise=0.01)
    sc = score_series(s, v)
    es = np.arange(200, 2000, 200)
    train_at = 2.5 + 8.0 * np.exp(-es / 300.0)
    # eval follows train until step 1000, then rises 3% per eval while train keeps falling
    ev = np.where(es <= 1000, train_at * 1.05, 1.05 * train_at[es == 1000][0] * (1 + 0.03 * (es - 1000) / 200))
    found, gap, warns = dg.overfitting(sc, es, ev, DiagnoseConfig(), 100)
    assert found and found[0]["kind"] == "overfitting" and found[0]["best_eval_step"] == 1000
    assert found[0]["step"] == 1200
    assert dg.overfitting(sc, es, train_at * 1.05, DiagnoseConfig(), 100)[0] == []
    assert len(gap) == es.size and warns == []
    _, _, warns = dg.overfitting(sc, es, train_at * 0.9, DiagnoseConfig(), 100)
    assert warns and "leakage" in warns[0]


def test_logging_warnings():
    assert "mean over 10 steps" in dg.logging_warnings("r", np.arange(0, 100, 10), 10, "trainer_state")[0]
    assert "every 10 steps" in dg.logging_warnings("r", np.arange(0, 100, 10), None, "megatron")[0]
    assert dg.logging_warnings("r", np.arange(100), None, "nanogpt") == []


def test_config_errors_say_the_fix():
    with pytest.raises(ConfigError, match="min_history"):
        SpikeConfig(window=10, min_history=20)
    with pytest.raises(ConfigError, match="transform='none'"):
        score_series(np.arange(5), np.array([1.0, -1, 2, 3, 4]), SpikeConfig(transform="log", min_history=2,
                                                                             window=3))


def test_values_at_or_below_zero_use_a_linear_scale():
    rng = np.random.default_rng(1)
    v = rng.normal(0, 1, 1000)
    v[500] = 40.0
    sc = score_series(np.arange(1000), v)
    assert not sc.log and [x["step"] for x in sc.spikes] == [500]
