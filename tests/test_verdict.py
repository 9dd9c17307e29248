"""The per-run verdict (logs/verdict.py): every pattern of the diagnosis table on synthetic curves at several
noise levels, 'cannot tell', the false-verdict rate on noisy healthy curves, and the report section."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dataaudit.errors import ConfigError
from dataaudit.logs import LOG_SCHEMA, analyze_table
from dataaudit.logs.verdict import PRIORITY, RULES, VERDICTS, VerdictConfig, diagnosis_line, judge_run

N = 2000            # train steps
EVERY = 50          # eval interval
S = np.arange(1, N + 1)
E = np.arange(EVERY, N + 1, EVERY)


def _base(s, floor=2.0, amp=8.0, tau=300.0):
    return floor + amp * np.exp(-np.asarray(s, float) / tau)


def _noisy(v, sigma, rng):
    return np.asarray(v, float) * np.exp(rng.normal(0, sigma, np.shape(v)))


def _table(train, evals=None, run="r", train_steps=S, eval_steps=E):
    rows = {"run": [], "step": [], "metric": [], "value": [], "wall_time": []}
    for metric, steps, vals in [("train_loss", train_steps, train)] + (
            [("val_loss", eval_steps, evals)] if evals is not None else []):
        rows["run"] += [run] * len(steps)
        rows["step"] += [int(s) for s in steps]
        rows["metric"] += [metric] * len(steps)
        rows["value"] += [float(v) for v in vals]
        rows["wall_time"] += [float("nan")] * len(steps)
    return pa.table(rows, schema=LOG_SCHEMA)


def _judge(train, evals=None, **kw):
    res, _ = analyze_table(_table(train, evals, **kw))
    return res.summary["diagnosis"]["r"], res


def _curves(pattern: str, sigma: float, seed: int = 0):
    """(train, eval or None) of one pattern; eval noise is a third of the train noise (an eval averages
    many batches)."""
    rng = np.random.default_rng(seed)
    es = sigma / 3
    if pattern == "healthy":
        return _noisy(_base(S), sigma, rng), _noisy(_base(E) * 1.02, es, rng)
    if pattern == "overfitting":
        tr = _base(S, floor=1.0) - 0.3 * S / N
        ev = _base(E, floor=1.3) + 0.6 * np.clip((E - 700) / (N - 700), 0, None) ** 1.5
        return _noisy(tr, sigma, rng), _noisy(ev, es, rng)
    if pattern == "severe_overfitting":
        return _noisy(0.02 + 5 * np.exp(-S / 200), sigma, rng), _noisy(2.5 + 2 * np.exp(-E / 200), es, rng)
    if pattern == "underfitting":
        return _noisy(6 + 4 * np.exp(-S / 100), sigma, rng), _noisy(6.05 + 4 * np.exp(-E / 100), es, rng)
    if pattern == "oscillating":
        sign = np.where(np.arange(E.size) % 2 == 0, 1.0, -1.0)
        return _noisy(_base(S), 0.25, rng), _noisy(_base(E) * (1 + 0.15 * sign), es, rng)
    if pattern == "val_spikes":
        ev = _noisy(_base(E) * 1.02, es, rng)
        ev[[12, 22, 31]] *= 1.3
        return _noisy(_base(S), sigma, rng), ev
    if pattern == "early_plateau":
        def f(s):
            s = np.asarray(s, float)
            return np.where(s < 400, 10.0, 2 + 8 * np.exp(-(s - 400) / 300))
        return _noisy(f(S), sigma, rng), _noisy(f(E) * 1.02, es, rng)
    if pattern == "fast_collapse":
        tr = 0.01 + 8 * np.exp(-S / 50)
        return _noisy(tr, sigma, rng), _noisy(0.009 + 8 * np.exp(-E / 50), es, rng)
    if pattern == "val_below_train":
        return _noisy(_base(S), sigma, rng), _noisy(_base(E) * 0.93, es, rng)
    if pattern == "spikes":       # a spike that does not come back for 150 steps (PaLM restarts for these)
        tr = _base(S)
        tr[(S >= 1000) & (S < 1150)] *= 1.2
        return _noisy(tr, sigma, rng), _noisy(_base(E) * 1.02, es, rng)
    if pattern == "divergence":
        tr = _base(S) * np.exp(np.clip(S - 1500, 0, None) / 200)
        ev = _base(E) * 1.02 * np.exp(np.clip(E - 1500, 0, None) / 200)
        return _noisy(tr, sigma, rng), _noisy(ev, es, rng)
    raise KeyError(pattern)


NOISE = (0.005, 0.02, 0.05)
PATTERNS = [p for p in VERDICTS if p != "cannot_judge"]


@pytest.mark.parametrize("sigma", NOISE)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_each_pattern_is_recognised_at_several_noise_levels(pattern, sigma):
    if pattern == "spikes" and sigma > 0.02:
        pytest.skip("a 20% step is not a spike at the detector's z > 6 when per-step noise is 5%")
    d, _ = _judge(*_curves(pattern, sigma))
    assert d["verdict"] == pattern, (d["verdict"], d["also"], d["evidence"].get("patterns"))
    assert d["fix"] == RULES[pattern]["fix"] or d["fix"].startswith(RULES[pattern]["fix"])


def test_healthy_is_said_with_its_evidence():
    d, res = _judge(*_curves("healthy", 0.02))
    assert d["verdict"] == "healthy" and d["also"] == [] and d["cannot_tell"] == {}
    ev = d["evidence"]
    assert ev["train"]["trend"] in ("falling", "flat") and ev["gap"]["small"] and ev["gap"]["stable"]
    assert abs(ev["gap"]["median_relative"] - 0.02) < 0.01          # the planted 2% gap, measured lag-free
    assert res.summary["diagnosis_line"] == "diagnosis: healthy 1 of 1"


def test_overfitting_names_the_best_eval_step():
    d, _ = _judge(*_curves("overfitting", 0.02))
    best = d["evidence"]["patterns"]["overfitting"]["best_eval_step"]
    ss = np.arange(1, N + 1)
    true = _base(ss, floor=1.3) + 0.6 * np.clip((ss - 700) / (N - 700), 0, None) ** 1.5
    assert abs(best - int(ss[np.argmin(true)])) <= 150          # the noiseless minimum is at step 1230
    assert f"step {best}" in d["fix"]


def test_severe_overfitting_also_lists_overfitting():
    d, _ = _judge(*_curves("severe_overfitting", 0.02))
    assert d["verdict"] == "severe_overfitting"
    assert d["evidence"]["patterns"]["severe_overfitting"]["train_end"] < 0.1


def test_val_spikes_steps_are_the_planted_ones():
    d, _ = _judge(*_curves("val_spikes", 0.005))
    assert d["evidence"]["patterns"]["val_spikes"]["steps"] == [int(E[i]) for i in (12, 22, 31)]
    assert "dataaudit split" in d["fix"] and "eval mode" in d["fix"]


def test_val_below_train_reported_with_its_size_below_the_alarm_margin():
    rng = np.random.default_rng(3)
    d, _ = _judge(_noisy(_base(S), 0.02, rng), _noisy(_base(E) * 0.99, 0.005, rng))
    assert d["verdict"] == "healthy" and "val_below_train" in d["also"]
    v = d["evidence"]["patterns"]["val_below_train"]
    assert v["alarm"] is False and -0.02 < v["median_relative"] < -0.003
    assert "under the 2% alarm margin" in d["caveat"] and "dropout" in d["caveat"]
    d2, _ = _judge(*_curves("val_below_train", 0.02))
    assert d2["evidence"]["patterns"]["val_below_train"]["alarm"] is True
    assert "augmentation" in d2["caveat"]


def test_transient_spikes_stay_healthy_and_are_linked():
    rng = np.random.default_rng(4)
    tr = _noisy(_base(S), 0.01, rng)
    tr[[500, 1200]] *= 1.5                                  # one-step spikes that recover at once
    d, res = _judge(tr, _noisy(_base(E) * 1.02, 0.003, rng))
    assert d["verdict"] == "healthy" and d["also"] == ["spikes"]
    assert sorted(d["evidence"]["patterns"]["spikes"]["steps"]) == [501, 1201]
    assert res.summary["spikes"] == 2


def test_no_eval_curve_is_cannot_tell_never_healthy():
    rng = np.random.default_rng(5)
    d, _ = _judge(_noisy(_base(S), 0.02, rng))
    assert d["verdict"] == "cannot_judge"
    assert set(d["cannot_tell"]) == {"overfitting", "severe_overfitting", "val_spikes", "val_below_train", "healthy"}
    assert "no eval metric" in d["caveat"] and "--eval-metric" in d["caveat"]
    assert "train curve shows no problem" in d["evidence"]["train_only"]


def test_train_only_patterns_still_judged_without_eval():
    d, _ = _judge(_curves("underfitting", 0.02)[0])
    assert d["verdict"] == "underfitting" and "overfitting" in d["cannot_tell"]
    d, _ = _judge(_curves("divergence", 0.02)[0])
    assert d["verdict"] == "divergence"


def test_too_few_points_and_too_few_evals_are_cannot_tell():
    rng = np.random.default_rng(6)
    d = judge_run(np.arange(10), _noisy(_base(np.arange(10)), 0.02, rng))
    assert d["verdict"] == "cannot_judge" and "only 10 finite train point" in d["cannot_tell"]["all"]
    d, _ = _judge(_noisy(_base(S), 0.02, rng), _noisy(_base([900, 1900]), 0.005, rng), eval_steps=[900, 1900])
    assert d["verdict"] == "cannot_judge"
    assert "only 2 eval point(s)" in d["cannot_tell"]["overfitting"]


def test_sparse_evals_are_warned():
    rng = np.random.default_rng(7)
    s = np.arange(1, 20001)
    es = np.arange(2500, 20001, 2500)
    res, _ = analyze_table(_table(_noisy(_base(s, tau=3000), 0.02, rng), _noisy(_base(es, tau=3000), 0.005, rng),
                                  train_steps=s, eval_steps=es))
    d = res.summary["diagnosis"]["r"]
    assert "evals are sparse" in d["caveat"]
    assert any("evals are sparse" in w for w in res.warnings)


def test_false_verdict_rate_on_noisy_healthy_curves():
    """Measured: 0 wrong verdicts in 3 x 40 noisy healthy curves (sigma 0.5%, 2%, 5%); allowed: 2 (docs/spikes.md)."""
    wrong = []
    for sigma in NOISE:
        for seed in range(40):
            d, _ = _judge(*_curves("healthy", sigma, seed=100 + seed))
            if d["verdict"] != "healthy":
                wrong.append((sigma, seed, d["verdict"]))
    assert len(wrong) <= 2, wrong


def test_priority_and_names_are_consistent():
    assert set(PRIORITY) | {"healthy", "cannot_judge"} == set(VERDICTS) == set(RULES)
    for r in RULES.values():
        assert r["rule"] and r["fix"] and r["source"]


def test_config_is_recorded_and_validated():
    from dataaudit.logs import DiagnoseConfig
    assert DiagnoseConfig().to_dict()["verdict"]["leak_margin"] == 0.02
    with pytest.raises(ConfigError):
        VerdictConfig(collapse_fraction=0)
    with pytest.raises(ConfigError):
        VerdictConfig(smooth_min=10, smooth_max=5)


def test_diagnosis_line_across_runs():
    a = {"verdict": "healthy", "also": ["spikes"], "evidence": {"patterns": {}}}
    b = {"verdict": "overfitting", "also": [], "evidence": {"patterns": {}}}
    assert diagnosis_line({"x": a, "y": a, "z": b}) == "diagnosis: healthy 2 of 3, overfitting 1 of 3; also spikes in 2"


def test_report_section_renders_verdict_fix_and_rules():
    from dataaudit.records import Report
    from dataaudit.report.markdown import render_section
    from dataaudit.report.sections import diagnosis
    res, _ = analyze_table(_table(*_curves("overfitting", 0.02)))
    rep = Report(kind="spikes", config={})
    rep.summary, rep.findings = res.summary, res.findings
    secs = diagnosis.sections(rep)
    assert [s.key for s in secs] == ["diagnosis", "diagnosis_rules"]
    text = "\n".join(line for s in secs for line in render_section(s))
    assert "**overfitting**" in text and "early stopping" in text and "Goodfellow" in text
    assert diagnosis.sections(Report(kind="spikes", config={})) == []
