"""Readers on hand-written fixtures: Megatron, nanoGPT, regex, generic CSV/JSONL/Parquet, W&B."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dataaudit.errors import ConfigError, LogError
from dataaudit.logs import LOG_SCHEMA, detect_format, log_metadata, read_logs


def _series(table, metric, run=None):
    t = table.filter(pc.equal(table["metric"], metric))
    if run is not None:
        t = t.filter(pc.equal(t["run"], run))
    return t["step"].to_pylist(), t["value"].to_pylist()


MEGATRON = (" iteration     {i}/  159576 | consumed samples:       {cs} | elapsed time per iteration (ms): 18706.1 |"
            " learning rate: 6.000E-05 | global batch size:    96 | lm loss: {loss} | loss scale: 2048.0 |"
            " grad norm: {gn} | num zeros: 0.0 | number of skipped iterations:   0 | number of nan iterations:   0 |")


def test_megatron_lines_among_prose_wrapped_and_validation(tmp_path):
    p = tmp_path / "chronicle.md"
    lines = ["# Chronicle", "", "Somewhere at iteration 7000 the loss jumped.", "```"]
    lines.append(MEGATRON.format(i=7000, cs=260912, loss="6.444662E+00", gn="98258.265"))
    lines.append(" validation loss at iteration 7000 | lm loss value: 7.174200E+00 | lm loss PPL: 1.305315E+03 |")
    lines.append("[default7]:" + MEGATRON.format(i=7010, cs=261872, loss="1.142026E+01", gn="219645.978"))
    # wrapped inside a word, as in the BLOOM chronicles
    wrapped = MEGATRON.format(i=7020, cs=262832, loss="nan", gn="1.5")
    cut1, cut2 = wrapped.index("learning rate:") + len("learning rate:"), wrapped.index("iterations:   0 | number of nan")
    lines += [wrapped[:cut1], wrapped[cut1:cut2 - 2], wrapped[cut2 - 2:]]
    lines += ["```", "", "More prose with iteration counts 12/13 but no log line.", "```",
              " iteration     8000/  159576 | consumed samples:       300000 | elapsed time per iteration (ms):",
              "```"]
    p.write_text("\n".join(lines) + "\n")
    assert detect_format(p) == "megatron"
    t = read_logs(p)
    assert t.schema.equals(LOG_SCHEMA)
    assert _series(t, "lm_loss", "chronicle@L4") == ([7000, 7010, 7020], pytest.approx([6.444662, 11.42026, math.nan],
                                                                                        nan_ok=True))
    assert _series(t, "grad_norm", "chronicle@L4")[1] == pytest.approx([98258.265, 219645.978, 1.5])
    assert _series(t, "consumed_samples", "chronicle@L4")[1] == [260912, 261872, 262832]
    assert _series(t, "val_lm_loss") == ([7000], [7.1742])
    assert "number_of_skipped_iterations" in set(t["metric"].to_pylist())
    bad = log_metadata(t)["bad_records"]
    assert bad["count"] == 1
    assert bad["examples"][0]["line"] == len(lines) - 1 and "no loss field" in bad["examples"][0]["reason"]


def test_nanogpt_lines_and_script_source_ignored(tmp_path):
    p = tmp_path / "run1.txt"
    p.write_text("\n".join([
        "import torch",
        "    print0(f'step:{step}/{args.num_iterations} val_loss:{val_loss:.4f}')",
        "step:0/3 val_loss:10.8258 train_time:0ms step_avg:nanms",
        "step:1/3 train_loss:10.8258 train_time:31869ms step_avg:nanms",
        "step:2/3 train_loss:9.5 train_time:32000ms step_avg:160.00ms",
        "step:3/3 train_loss:abc train_time:32100ms step_avg:160.00ms",
        "step:3/3 val_loss:8.9 train_time:32200ms step_avg:160.00ms",
    ]) + "\n")
    assert detect_format(p) == "nanogpt"
    t = read_logs(p)
    assert _series(t, "train_loss") == ([1, 2], [10.8258, 9.5])
    assert _series(t, "val_loss") == ([0, 3], [10.8258, 8.9])
    assert _series(t, "train_time_ms")[1][:2] == [0.0, 31869.0]
    bad = log_metadata(t)["bad_records"]
    assert bad["count"] == 1 and bad["examples"][0]["line"] == 6


def test_regex_reader_and_pattern_errors(tmp_path):
    p = tmp_path / "custom.log"
    p.write_text("epoch 1 it 10 loss=2.5 gn=1.0\nnoise\nepoch 1 it 20 loss=2.4 gn=0.9\n")
    t = read_logs(p, "regex", pattern=r"it (?P<step>\d+) loss=(?P<loss>\S+) gn=(?P<grad_norm>\S+)")
    assert _series(t, "loss") == ([10, 20], [2.5, 2.4])
    assert _series(t, "grad_norm") == ([10, 20], [1.0, 0.9])
    with pytest.raises(ConfigError, match="named group 'step'"):
        read_logs(p, "regex", pattern=r"loss=(?P<loss>\S+)")
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        read_logs(p, "regex", pattern=r"(?P<step")
    with pytest.raises(LogError, match="no line matches"):
        read_logs(p, "regex", pattern=r"iteration (?P<step>\d+) (?P<loss>\S+)")


def test_unknown_text_format_says_how_to_fix(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("nothing to see here\n")
    with pytest.raises(LogError, match="--log-format regex"):
        read_logs(p)
    with pytest.raises(LogError, match="does not exist"):
        read_logs(tmp_path / "missing.log")


def test_generic_csv_jsonl_parquet(tmp_path):
    c = tmp_path / "hist.csv"
    c.write_text("iteration,loss,acc\n1,2.0,0.1\n2,,0.2\nx,1.0,0.3\n3,1.5,0.4\n")
    t = read_logs(c)
    assert _series(t, "loss") == ([1, 3], [2.0, 1.5])
    assert _series(t, "acc") == ([1, 2, 3], [0.1, 0.2, 0.4])
    bad = log_metadata(t)["bad_records"]
    assert bad["count"] == 1 and bad["examples"][0]["line"] == 4
    j = tmp_path / "hist.jsonl"
    j.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": NaN}\n{bad json\n{"step": 3, "loss": 1.0}\n')
    t = read_logs(j)
    steps, vals = _series(t, "loss")
    assert steps == [1, 2, 3] and math.isnan(vals[1])
    assert log_metadata(t)["bad_records"]["examples"][0]["line"] == 3
    with pytest.raises(LogError, match="pass --step-column"):
        read_logs(_nostep(tmp_path))
    t = read_logs(j, step_column="step", metrics=["loss"])
    assert _series(t, "loss")[0] == [1, 2, 3]


def _nostep(tmp_path):
    p = tmp_path / "nostep.csv"
    p.write_text("a,loss\n1,2\n")
    return p


def test_wandb_export_and_run_dir(tmp_path):
    pq.write_table(pa.table({"_step": [0, 1, 2], "_timestamp": [1.7e9, 1.7e9 + 1, 1.7e9 + 2],
                             "_runtime": [0.0, 1.0, 2.0], "train/loss": [3.0, None, 2.5]}),
                   tmp_path / "export.parquet")
    assert detect_format(tmp_path / "export.parquet") == "wandb"
    t = read_logs(tmp_path / "export.parquet")
    assert _series(t, "train/loss") == ([0, 2], [3.0, 2.5])
    assert t["wall_time"].to_pylist()[0] == 1.7e9
    run = tmp_path / "wandb" / "run-20240101_000000-abc123"
    (run / "files").mkdir(parents=True)
    (run / "files" / "wandb-summary.json").write_text(json.dumps({"_step": 99, "loss": 1.25, "_runtime": 5}))
    assert detect_format(run) == "wandb"
    t = read_logs(run)
    assert _series(t, "loss", "abc123") == ([99], [1.25])
    assert log_metadata(t)["runs"]["abc123"]["markers"][0]["kind"] == "summary_only"


def test_same_run_name_from_two_paths_is_kept_apart(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d / "version_0").mkdir(parents=True)
        (tmp_path / d / "version_0" / "metrics.csv").write_text("epoch,step,train_loss\n0,0,1.0\n0,1,0.9\n")
    t = read_logs([tmp_path / "a" / "version_0", tmp_path / "b" / "version_0"])
    assert sorted(set(t["run"].to_pylist())) == ["b/version_0", "version_0"]
