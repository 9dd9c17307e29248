"""The block readers (logs/blocks.py, logs/tfblocks.py) give exactly the tables of the line / record readers."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from dataaudit.errors import LogError
from dataaudit.logs import blocks, text, tfblocks, tfevents
from dataaudit.logs.table import LogBuilder

LOGS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "training-logs"


def _both(fmt: str, path: Path, block_bytes: int):
    out = []
    for reader in (getattr(text, f"read_{fmt}"), getattr(blocks, f"read_{fmt}")):
        b = LogBuilder()
        kw = {} if reader.__module__.endswith("text") else {"block_bytes": block_bytes}
        try:
            reader(path, b, **kw)
            err = None
        except LogError as e:
            err = str(e)
        out.append((b.table(), err))
    return out


def assert_same(fmt: str, path: Path, block_bytes: int) -> int:
    (ta, ea), (tb, eb) = _both(fmt, path, block_bytes)
    assert ea == eb
    assert ta.schema.metadata == tb.schema.metadata     # runs, markers, bad records with their line numbers
    for c in ("run", "step", "metric"):
        assert ta[c].to_pylist() == tb[c].to_pylist(), c
    for c in ("value", "wall_time"):
        assert np.array_equal(ta[c].to_numpy(), tb[c].to_numpy(), equal_nan=True), c
    return ta.num_rows


NANO = [
    "import torch",
    "    print0(f'step:{step}/{args.num_iterations} val_loss:{val_loss:.4f}')",
    "step:0/9 val_loss:10.8258 train_time:0ms step_avg:nanms",
    "step:1/9 train_loss:10.8258 train_time:31869ms step_avg:nanms",
    "step:2/9 train_loss:9.5 train_time:32000ms step_avg:160.00ms",
    "step:3/9 train_loss:abc train_time:32100ms step_avg:160.00ms",
    "  step:4/9\ttrain_loss:1e-3   train_time:1.ms step_avg:.5ms  ",
    "step:5/9 train_loss:NaN train_time:7s step_avg:inf",
    "step:6/9 train_loss:-Infinity train_time:7S step_avg:+1.5E+2ms",
    "step:٧/9 train_loss:1.0",                       # an Arabic-Indic digit: \d in Python, not [0-9]
    "step:8/9 train_loss:2.0\x0b",                  # vertical tab: whitespace for re, not for the shape
    "step:8/9 tráin_loss:2.0 train_time:1ms",        # non-ASCII name
    "step:9/9 train_loss:2.5 train_time:9ms step_avg:160.00ms",
    "step:10/9",
    "step:3/9 train_loss:8.9 train_time:32200ms step_avg:160.00ms",   # a rewind
]


@pytest.mark.parametrize("block_bytes", [7, 50, 333, 1 << 20])
@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_nanogpt_blocks_equal_lines(tmp_path, block_bytes, ending):
    p = tmp_path / "run.txt"
    body = ending.join(NANO * 3)
    p.write_bytes(body.encode() + b"\n\xff\xfe step:11/9 train_loss:1.0\n" + body.encode()[:40])  # cut last line
    assert assert_same("nanogpt", p, block_bytes) > 20


MEGA = (" iteration {i:>8}/  159576 | consumed samples: {cs:>10} | elapsed time per iteration (ms): 18706.1 |"
        " learning rate: 6.000E-05 | global batch size:    96 | lm loss: {loss} | loss scale: 2048.0 |"
        " grad norm: {gn} | num zeros: 0.0 | number of skipped iterations:   0 | number of nan iterations:   0 |")


def _mega_lines():
    lines = ["Some prose about iteration counts 12/13.", "starting iteration loop"]
    for i in range(1, 40):
        lines.append(MEGA.format(i=i * 10, cs=i * 960, loss=f"{6 + 1 / i:.6E}", gn=f"{1 + i / 7:.3f}"))
        if i % 9 == 0:
            lines.append(f" validation loss at iteration {i * 10} | lm loss value: 7.174200E+00 | lm loss PPL: 1.3E+03 |")
        if i == 13:  # wrapped inside a word, over three lines
            w = MEGA.format(i=135, cs=99, loss="nan", gn="1.5")
            lines += [w[:120], w[120:200], w[200:]]
        if i == 17:
            lines.append("[default7]:" + MEGA.format(i=175, cs=1, loss="inf", gn="2"))
        if i == 21:
            lines.append(" iteration      215/  159576 | loss scale: 1024.0 | grad norm: 3.0 |")   # fp16 skip
            lines.append(" iteration      216/  159576 | consumed samples: 5 | grad norm: 3.0 |")   # no loss: bad
            lines.append(" ITERATION      217/  159576 | lm loss: 1.0 |\t")
            lines.append(" iteration      218/  159576 | lm loss: 1.0 | ✓ note")
    lines.append(" iteration     9000/  159576 | consumed samples: 1 | elapsed time per iteration (ms):")   # cut
    return lines


@pytest.mark.parametrize("block_bytes", [64, 1000, 4096, 1 << 20])
def test_megatron_blocks_equal_lines(tmp_path, block_bytes):
    p = tmp_path / "m.log"
    p.write_text("\n".join(_mega_lines()) + "\n")
    assert assert_same("megatron", p, block_bytes) > 300
    md = tmp_path / "chronicle.md"
    md.write_text("# notes\n```\n" + "\n".join(_mega_lines()[:20]) + "\n```\n")
    assert_same("megatron", md, block_bytes)


def test_no_log_lines_same_error(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("nothing\nstep:1/2\n")
    (_, ea), (_, eb) = _both("nanogpt", p, 1 << 20)
    assert ea == eb and "no 'step:N/M" in ea


@pytest.mark.skipif(not LOGS.exists(), reason="shared/corpora/training-logs not present")
def test_real_logs_blocks_equal_lines():
    files = sorted((LOGS / "modded-nanogpt").rglob("*.txt"))[:6]
    for f in files:
        assert assert_same("nanogpt", f, 1 << 16) > 1000
    for f in sorted((LOGS / "bigscience-chronicles").glob("*.md")):
        assert_same("megatron", f, 1 << 16)


# --- TensorBoard ---------------------------------------------------------------------------------------

def _tb(tmp_path, n=300):
    pytest.importorskip("torch")
    pytest.importorskip("tensorboard")   # the writer; the reader under test needs neither
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(log_dir=str(tmp_path / "r"))
    for s in range(n):
        w.add_scalar("train/loss", 2.0 + np.sin(s), s)
        if s % 7 == 0:
            w.add_scalar("lr", 1e-3 / (1 + s), s)
    for s in range(50, 60):   # a rewind
        w.add_scalar("train/loss", 3.0, s)
    w.add_scalar("train/loss", 1.0, -5)
    w.add_scalar("train/loss", 1.0, 2 ** 40)
    w.close()
    return next((tmp_path / "r").glob("*tfevents*"))


def _read_tb(f, chunk, slow=False, monkeypatch=None):
    if slow:
        orig = tfblocks.scalars

        def none(*a):
            r = orig(*a)
            r[0][:] = False
            return r
        monkeypatch.setattr(tfevents._tfb, "scalars", none)
    monkeypatch.setattr(tfevents, "CHUNK_BYTES", chunk)
    b = LogBuilder()
    tfevents.read_tfevents(f, b)
    monkeypatch.undo()
    return b.table()


@pytest.mark.parametrize("chunk", [40, 1000, 1 << 20])
def test_tensorboard_bulk_decode_equals_record_decode(tmp_path, monkeypatch, chunk):
    f = _tb(tmp_path)
    ta = _read_tb(f, chunk, monkeypatch=monkeypatch)
    tb = _read_tb(f, 1 << 20, slow=True, monkeypatch=monkeypatch)
    assert ta.num_rows == 300 + 43 + 12
    for c in ("run", "step", "metric"):
        assert ta[c].to_pylist() == tb[c].to_pylist()
    for c in ("value", "wall_time"):
        assert np.array_equal(ta[c].to_numpy(), tb[c].to_numpy(), equal_nan=True)
    assert ta["step"].to_pylist()[-2:] == [-5, 2 ** 40]


def test_vectorised_crc_equals_python_crc():
    rng = np.random.default_rng(0)
    mat = rng.integers(0, 256, (50, 13), dtype=np.uint8)
    got = tfblocks.masked_crc_rows(mat)
    assert got.tolist() == [tfevents.masked_crc(bytes(r)) for r in mat]


@pytest.mark.parametrize("chunk", [37, 4096])
def test_tensorboard_truncated_and_corrupt_in_a_later_chunk(tmp_path, monkeypatch, chunk):
    f = _tb(tmp_path, 100)
    data = f.read_bytes()
    offs, pos = [], 0
    while pos < len(data):
        offs.append(pos)
        pos += struct.unpack("<Q", data[pos:pos + 8])[0] + 16
    monkeypatch.setattr(tfevents, "CHUNK_BYTES", chunk)
    f.write_bytes(data[: offs[-3] + 20])
    with pytest.raises(LogError, match=f"truncated record at byte offset {offs[-3]}: needs"):
        list(tfevents.records(f))
    f.write_bytes(data[: offs[-3] + 5])
    with pytest.raises(LogError, match=rf"truncated record header at byte offset {offs[-3]} \(5 of 12"):
        list(tfevents.records(f))
    for at, what in ((offs[60] + 14, "data"), (offs[61] + 2, "length")):
        bad = bytearray(data)
        bad[at] ^= 0xFF
        f.write_bytes(bytes(bad))
        got = []
        with pytest.raises(LogError, match=f"corrupt record {what} at byte offset {offs[60 if what == 'data' else 61]}"):
            for off, _p in tfevents.records(f):
                got.append(off)
        assert got == offs[:60 if what == "data" else 61]
