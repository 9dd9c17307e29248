"""`dataaudit spikes` and analyze_spikes end to end on generated logs: exit codes, JSON, files, groups."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from dataaudit.cli import main
from dataaudit.errors import LogError
from dataaudit.api import SpikesConfig, analyze_spikes
from dataaudit.logs import read_logs


def write_nanogpt(path, values, val_every=250):
    lines = ["# the training script would be here", "print0(f'step:{step}/{n} train_loss:{x}')"]
    n = len(values)
    for i, v in enumerate(values, 1):
        lines.append(f"step:{i}/{n} train_loss:{v:.4f} train_time:{i * 100}ms step_avg:100.00ms")
        if i % val_every == 0:
            lines.append(f"step:{i}/{n} val_loss:{v * 1.02:.4f} train_time:{i * 100}ms step_avg:100.00ms")
    path.write_text("\n".join(lines) + "\n")
    return path


def runs(tmp_path, k=3, n=1200, shared=(700,), own=None):
    """k runs of the same 'data order': shared spikes at the same steps, plus optional per-run ones."""
    paths = []
    for r in range(k):
        rng = np.random.default_rng(r)
        s = np.arange(1, n + 1)
        v = (3.0 + 6.0 * np.exp(-s / 200.0)) * np.exp(0.015 * rng.standard_normal(n))
        for at in shared:
            v[at - 1] *= 1.5
        if own and r in own:
            v[own[r] - 1] *= 1.5
        paths.append(write_nanogpt(tmp_path / f"run{r}.txt", v))
    return paths


def test_cli_groups_shared_spikes_and_exit_1(tmp_path, capsys):
    paths = runs(tmp_path, own={1: 900})
    out = tmp_path / "out"
    code = main(["spikes", "--log", *map(str, paths), "--out", str(out), "--format", "json"])
    assert code == 1
    rep = json.loads(capsys.readouterr().out)
    assert rep["kind"] == "spikes" and rep["schema_version"] == 2
    assert [(g["step"], g["n_runs"]) for g in rep["findings"]["groups"]] == [(700, 3)]
    assert rep["summary"]["spikes"] == 4 and rep["summary"]["isolated_spikes"] == 1
    t = pq.read_table(out / "spikes.parquet").to_pylist()
    assert sorted((x["run"], x["step"]) for x in t) == [("run0", 700), ("run1", 700), ("run1", 900), ("run2", 700)]
    assert {x["group"] for x in t if x["step"] == 700} == {0}
    md = (out / "report.md").read_text()
    assert "## Spikes shared across runs" in md and "plots/all_runs.png" in md
    assert (out / "plots" / "all_runs.png").stat().st_size > 1000
    assert (out / "plots" / "run0.png").exists()
    assert json.loads((out / "report.json").read_text())["summary"] == rep["summary"]


def test_cli_exit_0_without_spikes_and_fail_on_levels(tmp_path, capsys):
    paths = runs(tmp_path, k=1, shared=())
    assert main(["spikes", "--log", str(paths[0]), "--out", str(tmp_path / "o1"), "--no-plots"]) == 0
    paths = runs(tmp_path, k=1, shared=(700,))
    args = ["spikes", "--log", str(paths[0]), "--out", str(tmp_path / "o2"), "--no-plots"]
    assert main(args) == 1
    assert main(args + ["--fail-on", "divergence"]) == 0
    assert main(args + ["--fail-on", "never"]) == 0
    capsys.readouterr()


def test_cli_nan_is_divergence(tmp_path, capsys):
    p = write_nanogpt(tmp_path / "r.txt", np.r_[np.full(300, 3.0) * np.exp(0.01 * np.sin(np.arange(300))),
                                              [np.nan] * 5])
    code = main(["spikes", "--log", str(p), "--out", str(tmp_path / "o"), "--fail-on", "divergence",
                 "--format", "json", "--no-plots"])
    rep = json.loads(capsys.readouterr().out)
    assert code == 1 and rep["summary"]["severity"] == "divergence"
    assert rep["findings"]["divergence"][0]["step"] == 301
    assert rep["findings"]["divergence"][0]["kind"] == "nan"


def test_cli_errors_exit_2(tmp_path, capsys):
    assert main(["spikes", "--log", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    p = write_nanogpt(tmp_path / "r.txt", np.full(50, 2.0))
    assert main(["spikes", "--log", str(p), "--metric", "accuracy", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no run has the metric 'accuracy'" in err and "train_loss" in err
    assert main(["spikes", "--log", str(p), "--baseline-window", "2", "--out", str(tmp_path / "o")]) == 2
    capsys.readouterr()
    assert main(["spikes", "--log", str(p), "--window", "2", "--out", str(tmp_path / "o")]) == 2   # no --order
    assert "--baseline-window" in capsys.readouterr().err


def test_api_on_table_and_trainer_state_warning(tmp_path):
    hist = [{"loss": 2.0 - 0.001 * s, "grad_norm": 1.0, "step": s} for s in range(10, 3000, 10)]
    hist[150]["loss"] = 5.0
    hist[149]["grad_norm"] = 50.0
    hist[150]["grad_norm"] = 60.0
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": hist, "logging_steps": 10}))
    t = read_logs(tmp_path / "trainer_state.json")
    rep = analyze_spikes([tmp_path / "trainer_state.json"], table=t)
    sp = rep.findings["spikes"]
    assert [x["step"] for x in sp] == [hist[150]["step"]]
    assert sp[0]["grad_relation"] == "precedes" and sp[0]["grad_norm_spike"] == hist[149]["step"]
    assert any("mean over 10 steps" in w for w in rep.warnings)


def test_rewinds_reported_and_plotted(tmp_path):
    lines = []
    for s in list(range(1, 600)) + list(range(500, 800)):
        lines.append(f"step:{s}/800 train_loss:{3.0 + 0.01 * np.sin(s):.4f} train_time:1ms step_avg:1.00ms")
    (tmp_path / "r.txt").write_text("\n".join(lines) + "\n")
    rep = analyze_spikes(tmp_path / "r.txt", out_dir=tmp_path / "o")
    ev = [e for e in rep.findings["events"] if e["kind"] == "rewind"]
    assert ev == [{**ev[0], "step": 500, "from_step": 599}]
    assert (tmp_path / "o" / "plots" / "r.png").exists()
    assert rep.summary["severity"] == "info"


@pytest.mark.parametrize("bad", ["not a number line\nstep:1/2 train_loss:x train_time:1ms\n"])
def test_bad_records_in_report(tmp_path, bad):
    good = "".join(f"step:{s}/300 train_loss:{2 + 0.01 * np.cos(s):.4f} train_time:1ms\n" for s in range(2, 300))
    (tmp_path / "r.txt").write_text(bad + good)
    with pytest.raises(LogError, match="line 2"):          # the default is to stop at a damaged record
        analyze_spikes(tmp_path / "r.txt")
    rep = analyze_spikes(tmp_path / "r.txt", config=SpikesConfig(on_bad_record="skip"))
    assert rep.bad_records["count"] == 1 and rep.bad_records["examples"][0]["line"] == 2
    assert main(["spikes", "--log", str(tmp_path / "r.txt"), "--out", str(tmp_path / "o"),
                 "--on-bad-record", "fail"]) == 2


def test_a_log_where_nothing_can_be_judged_is_not_clean(tmp_path, capsys):
    log = tmp_path / "short.txt"
    log.write_text("".join(f"step:{s}/10 train_loss:{2 + 0.01 * s:.4f} train_time:1ms\n" for s in range(1, 10)))
    assert main(["spikes", "--log", str(log), "--out", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "no point could be judged" in err and "--min-history" in err and err.count("\n") == 1
    assert main(["spikes", "--log", str(log), "--out", str(tmp_path / "o"), "-q", "--min-history", "3",
                 "--warmup-steps", "0", "--baseline-window", "5"]) == 0


def test_megatron_fp16_skipped_iteration_is_not_a_bad_record(tmp_path):
    lines = []
    for i in range(1, 200):
        loss = "" if i == 150 else f"lm loss: {3 - i * 0.001:.6E} | "
        scale = 8192.0 if i >= 150 else 16384.0
        lines.append(f" iteration {i:8d}/ 1000 | consumed samples: {i * 8:8d} | {loss}loss scale: {scale} | "
                     f"grad norm: 1.0 | number of skipped iterations: {int(i == 150):3d} |")
    (tmp_path / "m.log").write_text("\n".join(lines) + "\n")
    t = read_logs(tmp_path / "m.log")
    from dataaudit.logs import log_metadata

    assert log_metadata(t)["bad_records"]["count"] == 0
    steps = [s for s, m in zip(t["step"].to_pylist(), t["metric"].to_pylist()) if m == "loss_scale"]
    assert 150 in steps
