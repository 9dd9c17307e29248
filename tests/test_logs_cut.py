"""A text log cut mid-line (its last line has no newline): the cut line is a bad record with its line number,
its values are not read, on the line readers (logs/text.py) and the block readers (logs/blocks.py) alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dataaudit.cli import main
from dataaudit.errors import LogError
from dataaudit.logs import blocks, log_metadata, read_logs, text
from dataaudit.logs.table import LogBuilder

LOGS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "training-logs"


def _read(fmt: str, path: Path, reader: str, block_bytes: int = 1 << 20, **kw) -> LogBuilder:
    b = LogBuilder()
    if reader == "lines":
        getattr(text, f"read_{fmt}")(path, b, **kw)
    else:
        getattr(blocks, f"read_{fmt}")(path, b, block_bytes=block_bytes, **kw)
    return b


def _bad(b: LogBuilder) -> list[tuple[int | None, str]]:
    return [(e.line, e.reason) for e in b.bad.examples]


def _nano(n: int) -> list[str]:
    return [f"step:{s}/{n} train_loss:{3 + 1 / s:.4f} train_time:{s * 100}ms step_avg:100.00ms" for s in range(1, n + 1)]


READERS = [("lines", 1 << 20), ("blocks", 1 << 20), ("blocks", 64), ("blocks", 7)]


@pytest.mark.parametrize("reader,block_bytes", READERS)
@pytest.mark.parametrize("cut_at", ["step:30/30 train_loss:3.03", "step:30/30 train_lo", "step:3", "step:"])
def test_nanogpt_cut_last_line_is_a_located_bad_record(tmp_path, reader, block_bytes, cut_at):
    lines = _nano(29)
    p = tmp_path / "run.txt"
    p.write_text("\n".join(lines) + "\n" + cut_at)
    b = _read("nanogpt", p, reader, block_bytes)
    bad = _bad(b)
    assert len(bad) == 1 and bad[0][0] == 30, bad
    assert "no newline" in bad[0][1] and "cut mid-line" in bad[0][1]
    t = b.table()
    assert 30 not in t["step"].to_pylist()            # "train_loss:3.03" of "3.0333" is not read as a value
    assert sorted(set(t["step"].to_pylist())) == list(range(1, 30))


@pytest.mark.parametrize("reader,block_bytes", READERS)
@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_nanogpt_whole_file_has_no_bad_record(tmp_path, reader, block_bytes, ending):
    p = tmp_path / "run.txt"
    p.write_bytes((ending.join(_nano(30)) + ending).encode())
    b = _read("nanogpt", p, reader, block_bytes)
    assert _bad(b) == [] and sorted(set(b.table()["step"].to_pylist())) == list(range(1, 31))


@pytest.mark.parametrize("reader,block_bytes", READERS)
def test_nanogpt_prose_without_newline_is_not_a_bad_record(tmp_path, reader, block_bytes):
    p = tmp_path / "run.txt"
    p.write_text("\n".join(_nano(30)) + "\npeak memory consumption: 30 GiB")
    assert _bad(_read("nanogpt", p, reader, block_bytes)) == []


MEGA = (" iteration {i:>8}/  159576 | consumed samples: {cs:>10} | lm loss: {loss:.6E} | loss scale: 2048.0 |"
        " grad norm: 1.5 | number of skipped iterations:   0 |")


def _mega(n: int) -> list[str]:
    return [MEGA.format(i=i, cs=i * 96, loss=3 + 1 / i) for i in range(1, n + 1)]


@pytest.mark.parametrize("reader,block_bytes", READERS)
@pytest.mark.parametrize("how", ["head", "no_pipe", "wrapped", "markdown"])
def test_megatron_cut_last_record_is_a_located_bad_record(tmp_path, reader, block_bytes, how):
    lines = _mega(29)
    last = MEGA.format(i=30, cs=30 * 96, loss=3.5)
    p = tmp_path / ("c.md" if how == "markdown" else "m.log")
    if how == "head":          # cut inside the record, after its head: "lm loss: 3.5" of "3.500000E+00"
        tail = last[:last.index("lm loss:") + 12]
        body = lines
    elif how == "no_pipe":     # cut before the head's '|'
        tail, body = " iteration       30/  1595", lines
    elif how == "wrapped":     # a record wrapped over two lines, the file ending inside the second
        tail, body = last[60:100], lines + [last[:60]]
    else:
        tail, body = last[:50], ["# notes", "```"] + lines
    p.write_text("\n".join(body) + "\n" + tail)
    b = _read("megatron", p, reader, block_bytes)
    bad = _bad(b)
    assert len(bad) == 1 and bad[0][0] == len(body) + 1, bad
    assert "no newline" in bad[0][1]
    if how == "wrapped":
        assert f"from line {len(body)}" in bad[0][1] and "iteration 30" in bad[0][1]
    t = b.table()
    assert 30 not in t["step"].to_pylist() and len(set(t["step"].to_pylist())) == 29


@pytest.mark.parametrize("reader,block_bytes", READERS)
def test_nanogpt_whole_last_line_without_newline_is_read(tmp_path, reader, block_bytes):
    """A whole last line (it ends with its ms field) that only lacks the newline is read, not a bad record:
    the final val_loss of a finished run written without a trailing newline is not lost."""
    lines = _nano(29) + ["step:30/30 val_loss:3.2751 train_time:3000ms step_avg:100.00ms"]
    p = tmp_path / "run.txt"
    p.write_text("\n".join(lines))
    b = _read("nanogpt", p, reader, block_bytes)
    t = b.table()
    assert _bad(b) == [] and sorted(set(t["step"].to_pylist())) == list(range(1, 31))
    last = {m: v for s, m, v in zip(t["step"].to_pylist(), t["metric"].to_pylist(), t["value"].to_pylist())
            if s == 30}
    assert last.get("val_loss") == pytest.approx(3.2751)


@pytest.mark.parametrize("reader,block_bytes", READERS)
def test_a_log_whose_only_step_line_is_cut_says_so(tmp_path, reader, block_bytes):
    p = tmp_path / "one.txt"
    p.write_text("step:1/10 train_loss:3.4567 train_ti")
    with pytest.raises(LogError, match="the only one, line 1, is cut mid-line"):
        _read("nanogpt", p, reader, block_bytes)
    p.write_text("some prose, no step lines\n")
    with pytest.raises(LogError, match="no 'step:N/M name:value' lines found"):
        _read("nanogpt", p, reader, block_bytes)


@pytest.mark.parametrize("reader,block_bytes", READERS)
def test_megatron_whole_record_without_newline_is_read(tmp_path, reader, block_bytes):
    p = tmp_path / "m.log"
    p.write_text("\n".join(_mega(30)))       # the last record ends with '|': complete, only the newline is missing
    b = _read("megatron", p, reader, block_bytes)
    assert _bad(b) == [] and sorted(set(b.table()["step"].to_pylist())) == list(range(1, 31))


def test_regex_cut_last_line(tmp_path):
    p = tmp_path / "r.log"
    p.write_text("".join(f"step {s} loss {2 + 1 / s:.4f}\n" for s in range(1, 30)) + "step 30 loss 2.0")
    b = LogBuilder()
    text.read_regex(p, b, pattern=r"step (?P<step>\d+) loss (?P<loss>\S+)")
    assert _bad(b)[0][0] == 30 and len(_bad(b)) == 1 and 30 not in b.table()["step"].to_pylist()


def test_read_logs_and_cli_on_a_cut_log(tmp_path, capsys):
    n = 300
    p = tmp_path / "live.txt"
    p.write_text("\n".join(_nano(n)) + "\nstep:301/400 train_loss:3.0")
    with pytest.raises(LogError, match=r"line 301: .*cut mid-line"):
        read_logs(p, on_bad="fail")
    meta = log_metadata(read_logs(p))["bad_records"]
    assert meta["count"] == 1 and meta["examples"][0]["line"] == 301
    out = tmp_path / "o"
    assert main(["spikes", "--log", str(p), "--out", str(out), "-q"]) == 2       # default: --on-bad-record fail
    assert "line 301" in capsys.readouterr().err
    assert main(["spikes", "--log", str(p), "--out", str(out), "-q", "--on-bad-record", "skip"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["bad_records"]["count"] == 1 and rep["bad_records"]["examples"][0]["line"] == 301
    assert rep["summary"]["points"] == n


@pytest.mark.skipif(not LOGS.exists(), reason="shared/corpora/training-logs not present")
@pytest.mark.parametrize("fmt,src", [("nanogpt", "modded-nanogpt/value-embed/00008ea0-21dd-442a-82ee-d12799249d0f.txt"),
                                     ("megatron", "bigscience-chronicles/tr8-104B-wide_chronicles.md")])
def test_real_log_cut_mid_line(tmp_path, fmt, src):
    data = (LOGS / src).read_bytes()
    anchor = b"step:1000/" if fmt == "nanogpt" else b" iteration     7010/"
    at = data.index(anchor) + len(anchor) + 30           # inside that line
    p = tmp_path / Path(src).name
    p.write_bytes(data[:at])
    lineno = data[:at].count(b"\n") + 1
    whole = LogBuilder()
    getattr(text, f"read_{fmt}")(LOGS / src, whole)
    for reader, bb in (("lines", 0), ("blocks", 1 << 20), ("blocks", 4096)):
        b = _read(fmt, p, reader, bb)
        bad = [e for e in b.bad.examples if "cut mid-line" in e.reason]
        assert [e.line for e in bad] == [lineno]
        t, tw = b.table(), whole.table()
        k = t.num_rows
        assert k > 0 and t["step"].to_pylist() == tw["step"].to_pylist()[:k]   # the lines before it, unchanged
        assert np.array_equal(t["value"].to_numpy(), tw["value"].to_numpy()[:k], equal_nan=True)
