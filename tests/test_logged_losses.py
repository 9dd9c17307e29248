"""`split --log`: the train and eval loss the run logged near its last eval step, from a Trainer state file
and from a TensorBoard file written by torch's SummaryWriter."""

from __future__ import annotations

import json

import pytest

from dataaudit.api.split import logged_losses
from dataaudit.errors import ConfigError


def test_trainer_state(tmp_path):
    hist = [{"loss": 3.0 - 0.01 * s, "step": s} for s in range(1, 101)]
    hist += [{"eval_loss": 2.5, "step": 50}, {"eval_loss": 2.1, "step": 100}]
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": hist}))
    lg = logged_losses([str(tmp_path / "trainer_state.json")])
    assert lg["step"] == 100 and lg["eval_loss"] == pytest.approx(2.1)
    # the mean of the last 10 train points at or before the eval step: steps 91..100
    assert lg["train_loss"] == pytest.approx(sum(3.0 - 0.01 * s for s in range(91, 101)) / 10)
    assert lg["train_metric"] == "loss" and lg["eval_metric"] == "eval_loss"


def test_tensorboard_written_by_summarywriter(tmp_path):
    tb = pytest.importorskip("torch.utils.tensorboard")
    w = tb.SummaryWriter(log_dir=str(tmp_path / "tb"))
    for s in range(1, 61):
        w.add_scalar("train/loss", 2.0 - 0.005 * s, s)
    w.add_scalar("eval/loss", 1.9, 30)
    w.add_scalar("eval/loss", 1.6, 60)
    w.close()
    lg = logged_losses([str(tmp_path / "tb")])
    assert lg["step"] == 60 and lg["eval_loss"] == pytest.approx(1.6)
    assert lg["train_loss"] == pytest.approx(sum(2.0 - 0.005 * s for s in range(51, 61)) / 10, rel=1e-6)


def test_a_log_without_eval_loss_says_which_flags_name_it(tmp_path):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": [{"loss": 1.0, "step": 1}]}))
    with pytest.raises(ConfigError, match="--eval-metric"):
        logged_losses([str(tmp_path / "trainer_state.json")])


def test_split_refuses_scores_of_different_tokenizers():
    from dataaudit.passes.score import check_comparable

    a = {"model": {"tokenizer": "gpt2"}}
    with pytest.raises(ConfigError, match="bits_per_byte"):
        check_comparable(a, {"model": {"tokenizer": "utf8-bytes+bos:257"}})
    check_comparable(a, {"model": {"tokenizer": "gpt2"}})
