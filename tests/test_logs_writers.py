"""Readers on logs written by the real libraries (tensorboard, transformers, lightning, mlflow)."""

from __future__ import annotations

import math
import struct

import numpy as np
import pyarrow.compute as pc
import pytest

from dataaudit.errors import LogError
from dataaudit.logs import detect_format, log_metadata, read_logs


def _series(table, metric, run=None):
    t = table.filter(pc.equal(table["metric"], metric))
    if run is not None:
        t = t.filter(pc.equal(t["run"], run))
    return t["step"].to_pylist(), t["value"].to_pylist()


# --- TensorBoard ------------------------------------------------------------------------------------

def _tb_writer(logdir):
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(logdir))


def test_tensorboard_every_point_kept_including_rewind_and_tensor_scalars(tmp_path):
    w = _tb_writer(tmp_path / "run_a")
    n = 1500  # more than EventAccumulator's default reservoir of 1,000 scalars
    for s in range(n):
        w.add_scalar("train/loss", 3.0 - s * 1e-3, s)
    w.add_scalar("train/loss", float("nan"), n)
    # a restart from an earlier checkpoint: steps go back; TensorBoard would purge, we keep
    for s in range(1000, 1010):
        w.add_scalar("train/loss", 1.0 + s * 1e-4, s)
    for s in range(5):
        w.add_scalar("lr", 0.1 * s, s, new_style=True)  # written as a 0-d tensor (scalars plugin)
    w.close()
    assert detect_format(tmp_path / "run_a") == "tensorboard"
    t = read_logs(tmp_path / "run_a")
    steps, vals = _series(t, "train/loss")
    assert len(steps) == n + 1 + 10
    assert steps[:n] == list(range(n)) and steps[n] == n and steps[n + 1:] == list(range(1000, 1010))
    assert math.isnan(vals[n])
    assert vals[0] == pytest.approx(3.0) and vals[n + 1] == pytest.approx(1.1, rel=1e-6)
    lr_steps, lr_vals = _series(t, "lr")
    assert lr_steps == [0, 1, 2, 3, 4] and lr_vals == pytest.approx([0, 0.1, 0.2, 0.3, 0.4], rel=1e-6)
    wt = t["wall_time"].to_numpy()
    assert np.all(wt > 1e9)


def test_tensorboard_directory_of_runs_and_second_file_marker(tmp_path):
    for name in ("a", "b"):
        w = _tb_writer(tmp_path / name)
        for s in range(3):
            w.add_scalar("loss", 1.0, s)
        w.close()
    w = _tb_writer(tmp_path / "a")  # the job restarted: a second event file in the same run
    w.add_scalar("loss", 2.0, 3)
    w.close()
    t = read_logs(tmp_path)
    runs = sorted(set(t["run"].to_pylist()))
    assert runs == [f"{tmp_path.name}/a", f"{tmp_path.name}/b"]
    meta = log_metadata(t)
    kinds = [m["kind"] for m in meta["runs"][f"{tmp_path.name}/a"]["markers"]]
    assert kinds == ["new_file"]
    assert meta["runs"][f"{tmp_path.name}/a"]["markers"][0]["step"] == 3


def test_tensorboard_truncated_and_corrupt_files_name_the_offset(tmp_path):
    w = _tb_writer(tmp_path / "r")
    for s in range(10):
        w.add_scalar("loss", 1.0 + s, s)
    w.close()
    f = next((tmp_path / "r").glob("*tfevents*"))
    data = f.read_bytes()
    # offsets of every record
    offs, pos = [], 0
    while pos < len(data):
        (ln,) = struct.unpack("<Q", data[pos:pos + 8])
        offs.append(pos)
        pos += ln + 16
    f.write_bytes(data[: offs[-1] + 20])  # cut inside the last record
    t = read_logs(f)
    assert len(t) == 9  # the 9 complete scalars are kept
    bad = log_metadata(t)["bad_records"]
    assert bad["count"] == 1 and f"byte offset {offs[-1]}" in bad["examples"][0]["reason"]
    with pytest.raises(LogError, match=f"truncated record at byte offset {offs[-1]}"):
        read_logs(f, on_bad="fail")
    corrupt = bytearray(data)
    corrupt[offs[3] + 14] ^= 0xFF  # flip a payload byte of the 4th record
    f.write_bytes(bytes(corrupt))
    with pytest.raises(LogError, match=f"corrupt record data at byte offset {offs[3]}"):
        read_logs(f, on_bad="fail")


def test_crc32c_known_value():
    from dataaudit.logs.tfevents import _crc32c_py, masked_crc

    # RFC 3720 B.4 test vector: 32 bytes of zeros -> 0x8A9136AA
    assert _crc32c_py(bytes(32)) == 0x8A9136AA
    assert _crc32c_py(b"123456789") == 0xE3069283
    assert masked_crc(b"") == ((0 >> 15 | 0 << 17) + 0xA282EAD8) & 0xFFFFFFFF


# --- transformers Trainer state ---------------------------------------------------------------------

def test_trainer_state_train_and_eval_entries(tmp_path):
    transformers = pytest.importorskip("transformers")
    st = transformers.TrainerState()
    st.logging_steps = 10
    st.log_history = [{"loss": 2.5, "grad_norm": 1.2, "learning_rate": 1e-4, "epoch": 0.1, "step": 10},
                      {"loss": 2.0, "grad_norm": 0.9, "learning_rate": 1e-4, "epoch": 0.2, "step": 20},
                      {"eval_loss": 2.1, "eval_runtime": 1.5, "epoch": 0.2, "step": 20},
                      {"loss": "oops", "step": 30},
                      {"train_runtime": 10.0, "train_loss": 2.2, "epoch": 0.3, "step": 30}]
    d = tmp_path / "checkpoint-30"
    d.mkdir()
    st.save_to_json(str(d / "trainer_state.json"))
    assert detect_format(d) == "trainer_state"
    t = read_logs(d)
    assert _series(t, "loss") == ([10, 20], [2.5, 2.0])
    assert _series(t, "eval_loss") == ([20], [2.1])
    assert _series(t, "grad_norm") == ([10, 20], [1.2, 0.9])
    meta = log_metadata(t)
    assert meta["runs"]["checkpoint-30"]["averaged_over"] == 10


def test_trainer_state_truncated_json_is_a_clear_error(tmp_path):
    p = tmp_path / "trainer_state.json"
    p.write_text('{"log_history": [{"loss": 1.0, "step": 1}, {"lo')
    with pytest.raises(LogError, match="not valid JSON at line 1"):
        read_logs(p)


# --- Lightning CSVLogger ----------------------------------------------------------------------------

def test_lightning_csvlogger_sparse_columns(tmp_path):
    pytest.importorskip("lightning")
    from lightning.pytorch.loggers import CSVLogger

    lg = CSVLogger(str(tmp_path), name="exp")
    for s in range(6):
        lg.log_metrics({"train_loss": 3.0 - 0.1 * s}, step=s)
        if s % 3 == 2:
            lg.log_metrics({"val_loss": 2.9 - 0.1 * s, "epoch": 0}, step=s)
    lg.save()
    lg.finalize("success")
    csvp = next(tmp_path.rglob("metrics.csv"))
    assert detect_format(csvp) == "lightning"
    assert detect_format(csvp.parent) == "lightning"
    t = read_logs(csvp.parent)
    assert _series(t, "train_loss")[0] == [0, 1, 2, 3, 4, 5]
    assert _series(t, "val_loss") == ([2, 5], pytest.approx([2.7, 2.4]))
    assert "epoch" not in set(t["metric"].to_pylist())
    assert log_metadata(t)["bad_records"]["count"] == 0


# --- MLflow -----------------------------------------------------------------------------------------

def test_mlflow_file_store_written_by_client(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    e = c.create_experiment("exp")
    r = c.create_run(e, run_name="baseline")
    for s in range(5):
        c.log_metric(r.info.run_id, "train/loss", 2.0 - 0.1 * s, step=s)
    c.log_metric(r.info.run_id, "train/loss", float("nan"), step=5)
    c.log_metric(r.info.run_id, "grad_norm", 1.0, step=0)
    assert detect_format(tmp_path / "mlruns") == "mlflow"
    t = read_logs(tmp_path / "mlruns")
    assert set(t["run"].to_pylist()) == {"baseline"}
    steps, vals = _series(t, "train/loss")
    assert steps == [0, 1, 2, 3, 4, 5] and vals[:5] == pytest.approx([2.0, 1.9, 1.8, 1.7, 1.6])
    assert math.isnan(vals[5])
    assert np.all(t["wall_time"].to_numpy() > 1e9)
    # a damaged metric line is reported with file and line
    f = next((tmp_path / "mlruns").rglob("metrics/grad_norm"))
    f.write_text(f.read_text() + "garbage\n")
    bad = log_metadata(read_logs(tmp_path / "mlruns"))["bad_records"]
    assert bad["count"] == 1 and bad["examples"][0]["line"] == 2


@pytest.mark.slow
def test_mlflow_sqlite_written_by_client(tmp_path):
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("alembic")
    from mlflow.tracking import MlflowClient

    db = tmp_path / "mlflow.db"
    c = MlflowClient(tracking_uri=f"sqlite:///{db}", registry_uri=(tmp_path / "reg").as_uri())
    e = c.create_experiment("exp")
    r = c.create_run(e, run_name="sql-run")
    for s in range(4):
        c.log_metric(r.info.run_id, "loss", 1.0 + s, step=s)
    c.log_metric(r.info.run_id, "loss", float("nan"), step=4)
    assert detect_format(db) == "mlflow-sqlite"
    t = read_logs(db)
    steps, vals = _series(t, "loss", "sql-run")
    assert steps == [0, 1, 2, 3, 4] and vals[:4] == [1.0, 2.0, 3.0, 4.0] and math.isnan(vals[4])
