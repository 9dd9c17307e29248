"""Verdicts on the real logs in ../shared/corpora/training-logs (skipped when absent), and on logs written by
the real libraries (TensorBoard, HF Trainer state; Lightning where installed) against their hand-built
equivalents."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dataaudit.logs import LOG_SCHEMA, analyze_table, read_logs

ROOT = Path(__file__).resolve().parents[1]
LOGS = Path(os.environ.get("DATAAUDIT_CORPORA", ROOT.parent / "shared" / "corpora")) / "training-logs"
corpora = pytest.mark.skipif(not LOGS.is_dir(), reason="../shared/corpora/training-logs not present")


def _runs(sub):
    return sorted((LOGS / "modded-nanogpt" / sub).glob("*.txt"))


@corpora
def test_value_embed_eval_below_train_reported_with_its_size():
    res, raw = analyze_table(read_logs(_runs("value-embed")))
    diag = res.summary["diagnosis"]
    assert len(diag) == 8
    # the trailing-median gap of diagnose.overfitting: eval below train at all 104 evals after warm-up,
    # median 0.035 nats (~1%), under the 2% alarm margin
    old = np.array([g["gap"] for g in raw["gap"] if g["step"] >= 100])
    assert old.size == 104 and (old < 0).all() and -0.04 < np.median(old) < -0.03
    below = sum(d["evidence"]["gap"]["eval_below_train"] for d in diag.values())
    of = sum(d["evidence"]["gap"]["of"] for d in diag.values())
    assert of == 104 and below >= 90        # lag-free train level: 96 of 104
    for d in diag.values():
        assert d["verdict"] == "healthy"
        v = d["evidence"]["patterns"]["val_below_train"]
        assert v["alarm"] is False and -0.02 < v["median_relative"] < -0.002
        assert "nats" in d["caveat"] and "under the 2% alarm margin" in d["caveat"] and "dropout" in d["caveat"]
        assert "spikes" in d["also"]          # the shared one-step spikes, linked, not the verdict
    assert "val_below_train in 8" in res.summary["diagnosis_line"]


@corpora
def test_window_warmup_and_scale_up_are_healthy():
    for sub, n in (("window-warmup", 3), ("scale-up-1b", 2)):
        res, _ = analyze_table(read_logs(_runs(sub)))
        verdicts = [d["verdict"] for d in res.summary["diagnosis"].values()]
        assert verdicts == ["healthy"] * n, (sub, verdicts)


@corpora
def test_chronicle_excerpts_are_cannot_tell_not_healthy():
    from dataaudit.logs import SpikeConfig
    t = read_logs(sorted((LOGS / "bigscience-chronicles").glob("*.md")))
    res, _ = analyze_table(t, config=SpikeConfig(min_history=1, warmup_steps=0))
    diag = res.summary["diagnosis"]
    assert "healthy" not in {d["verdict"] for d in diag.values()}
    short = [d for d in diag.values() if d["evidence"]["train_points"] < 20]
    assert short and all("all" in d["cannot_tell"] for d in short if d["verdict"] == "cannot_judge")
    assert all("divergence" not in d["cannot_tell"] and "overfitting" in d["cannot_tell"]
               for d in short if d["verdict"] == "divergence")
    # a climb that the divergence detector saw is a verdict even on a short excerpt; the rest cannot be told
    assert sorted(d["verdict"] for d in short).count("cannot_judge") == len(short) - 1
    (div,) = [(r, d) for r, d in diag.items() if d["verdict"] == "divergence"]
    assert div[0].startswith("tr8b-104B") and div[1]["evidence"]["patterns"]["divergence"]["step"] == 17064


# --- logs written by the real libraries -----------------------------------------------------------

S = np.arange(1, 1501)
E = np.arange(50, 1501, 50)


def _overfit(seed=0):
    rng = np.random.default_rng(seed)
    tr = (1 + 8 * np.exp(-S / 200) - 0.3 * S / 1500) * np.exp(rng.normal(0, 0.02, S.size))
    ev = (1.3 + 8 * np.exp(-E / 200) + 0.6 * np.clip((E - 500) / 1000, 0, None) ** 1.5) * \
        np.exp(rng.normal(0, 0.005, E.size))
    return tr, ev


def _hand(tr, ev, tm="loss", em="eval_loss"):
    rows = [(str("r"), int(s), tm, float(v)) for s, v in zip(S, tr)] + \
        [("r", int(s), em, float(v)) for s, v in zip(E, ev)]
    return pa.table({"run": [r[0] for r in rows], "step": [r[1] for r in rows], "metric": [r[2] for r in rows],
                     "value": [r[3] for r in rows], "wall_time": [float("nan")] * len(rows)}, schema=LOG_SCHEMA)


def _verdict(table):
    res, _ = analyze_table(table)
    (d,) = res.summary["diagnosis"].values()
    return d["verdict"], d["evidence"]["patterns"].get("overfitting", {}).get("best_eval_step")


def test_tensorboard_log_gives_the_hand_built_verdict(tmp_path):
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter
    tr, ev = _overfit()
    w = SummaryWriter(log_dir=str(tmp_path / "r"))
    for s, v in zip(S, tr):
        w.add_scalar("train/loss", float(v), int(s))
    for s, v in zip(E, ev):
        w.add_scalar("eval/loss", float(v), int(s))
    w.close()
    got = _verdict(read_logs(tmp_path / "r"))
    assert got == _verdict(_hand(tr, ev)) and got[0] == "overfitting"


def test_trainer_state_gives_the_hand_built_verdict(tmp_path):
    transformers = pytest.importorskip("transformers")
    tr, ev = _overfit(1)
    st = transformers.TrainerState()
    st.logging_steps = 1
    hist = [{"loss": float(v), "learning_rate": 1e-4, "epoch": s / 1500, "step": int(s)} for s, v in zip(S, tr)]
    for s, v in zip(E, ev):
        hist.insert(int(s), {"eval_loss": float(v), "eval_runtime": 1.0, "epoch": s / 1500, "step": int(s)})
    st.log_history = hist
    d = tmp_path / "checkpoint-1500"
    d.mkdir()
    st.save_to_json(str(d / "trainer_state.json"))
    got = _verdict(read_logs(d))
    assert got == _verdict(_hand(tr, ev)) and got[0] == "overfitting"


def test_lightning_csv_gives_the_hand_built_verdict(tmp_path):
    pytest.importorskip("lightning")
    from lightning.pytorch.loggers import CSVLogger
    tr, ev = _overfit(2)
    lg = CSVLogger(str(tmp_path), name="exp")
    evs = dict(zip(E.tolist(), ev))
    for s, v in zip(S, tr):
        lg.log_metrics({"train_loss": float(v)}, step=int(s))
        if int(s) in evs:
            lg.log_metrics({"val_loss": float(evs[int(s)])}, step=int(s))
    lg.save()
    lg.finalize("success")
    got = _verdict(read_logs(next(tmp_path.rglob("metrics.csv")).parent))
    assert got == _verdict(_hand(tr, ev, "train_loss", "val_loss")) and got[0] == "overfitting"
