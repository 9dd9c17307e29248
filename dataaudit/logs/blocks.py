"""Text logs read in large blocks: the nanoGPT and Megatron readers of ``text.py``, vectorised with Arrow.

The file is read in blocks of ``BLOCK_BYTES`` cut after the last line break, so memory is bounded by the
block, not the file. Each block becomes an Arrow array of lines (newlines translated as Python's text mode
does: ``\\r\\n`` and ``\\r`` end a line; invalid UTF-8 replaced by U+FFFD as ``errors="replace"``).

Most lines of a training log have one of a few *shapes*: the same names in the same order, only the numbers
(and the spaces around them) changing. A shape is learned from a line that the per-line parser of ``text.py``
reads cleanly, as an anchored RE2 pattern that accepts only ASCII lines which that parser reads the same way
(the same literal names, numbers in the grammar of ``text._NUM``, spaces or tabs where the line regex allows
whitespace). Lines of a known shape are matched, split and cast in bulk (Arrow's float parsing is correctly
rounded, as Python's ``float`` is; the cases of ``_NUM`` were checked equal). Every other line that could
matter is read by the per-line parser itself, with its line number: nothing is judged differently, the
bulk path is only faster. ``tests/test_logs_blocks.py`` checks both readers give the same table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import LogError
from . import text as _t
from .table import LogBuilder

BLOCK_BYTES = 16 << 20     # 16 MiB of text per block (~200k nanoGPT lines)
MAX_SHAPES = 32            # shapes learned per file; later lines of new shapes are read line by line
_LEARN_TRIES = 64          # lines tried as new shapes per block

# text._NUM in RE2 (case-insensitive nan/inf spelled out; [0-9] as the lines are ASCII)
NUM = (r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
       r"|[-+]?(?:[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)")
_INT = r"[0-9]{1,18}"      # fits int64, as the table's step column
_WS = r"[ \t]"


def _lines_array(data: bytes, drop_last: bool) -> pa.Array:
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:   # invalid UTF-8: replaced as the per-line reader's errors="replace" does
            data = data.decode("utf-8", "replace").encode("utf-8")
    # one string holding the whole block, without a copy (pa.array([bytes]) copies slowly)
    arr = pa.LargeStringArray.from_buffers(1, pa.py_buffer(np.array([0, len(data)], np.int64)), pa.py_buffer(data))
    lines = pc.split_pattern(arr, "\n").flatten()
    return lines.slice(0, len(lines) - 1) if drop_last else lines


def iter_blocks(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, pa.Array, str | None]]:
    """Yield (line number of the block's first line, the block's lines, the cut line), line numbers from 1.

    The cut line is None but in the last block of a file whose last line has no newline: then it is that
    line, not in the block's lines (its number is the block's first line number plus their count)."""
    lineno, carry = 1, b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(block_bytes)
            if not chunk:
                break
            data = carry + chunk if carry else chunk
            cut = data.rfind(b"\n")
            cr = data.rfind(b"\r", 0, len(data) - 1)   # a bare \r ends a line too (not the last byte: \r\n)
            cut = max(cut, cr)
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1:]
            lines = _lines_array(data[:cut + 1], drop_last=True)
            yield lineno, lines, None
            lineno += len(lines)
    if carry.endswith(b"\r"):          # a bare \r as the file's last byte ends its last line
        yield lineno, _lines_array(carry, drop_last=True), None
    elif carry:
        lines = _lines_array(carry, drop_last=False)
        yield lineno, lines.slice(0, len(lines) - 1), lines[len(lines) - 1].as_py()


def _known_shapes(lines, rest: np.ndarray, shapes: list) -> tuple[list[tuple[Any, np.ndarray]], np.ndarray]:
    """Split the candidate line indices ``rest`` into (shape, lines it matches) for the shapes already learned,
    in the shapes' order, and the indices none of them matches."""
    hits: list[tuple[Any, np.ndarray]] = []
    for sh in shapes:
        m = _matches(lines, rest, sh.rx)
        if m.any():
            hits.append((sh, rest[m]))
            rest = rest[~m]
    return hits, rest


def _matches(lines: pa.Array, idx: np.ndarray, rx: str) -> np.ndarray:
    """Boolean mask over ``idx``: which of those lines match ``rx`` (RE2, unanchored unless ^/$)."""
    if idx.size == 0:
        return np.zeros(0, bool)
    sub = lines.take(pa.array(idx))
    return pc.match_substring_regex(sub, rx).to_numpy(zero_copy_only=False).astype(bool, copy=False)


class _Rows:
    """Rows of one block from several sources, put back in line order at the end."""

    def __init__(self) -> None:
        self.line: list[np.ndarray] = []
        self.step: list[np.ndarray] = []
        self.metric: list[np.ndarray] = []   # codes into self.names
        self.value: list[np.ndarray] = []
        self.run: list[np.ndarray] = []      # codes into self.runs
        self.names: dict[str, int] = {}
        self.runs: dict[str, int] = {}

    def code(self, name: str) -> int:
        return self.names.setdefault(name, len(self.names))

    def run_code(self, run: str) -> int:
        return self.runs.setdefault(run, len(self.runs))

    def add(self, line, step, metric, value, run: int) -> None:
        self.line.append(np.asarray(line, np.int64))
        self.step.append(np.asarray(step, np.int64))
        self.metric.append(np.asarray(metric, np.int64))
        self.value.append(np.asarray(value, np.float64))
        self.run.append(np.full(len(self.line[-1]), run, np.int64))

    def add_points(self, lineno: int, run: str, step: int, pts: list[tuple[str, float]]) -> None:
        if pts:
            self.add(np.full(len(pts), lineno), np.full(len(pts), step), [self.code(k) for k, _ in pts],
                     [v for _, v in pts], self.run_code(run))

    def flush(self, builder: LogBuilder) -> int:
        if not self.line:
            return 0
        line = np.concatenate(self.line)
        cols = [np.concatenate(c) for c in (self.step, self.metric, self.value, self.run)]
        if len(self.line) > 1 and np.any(np.diff(line) < 0):
            o = np.argsort(line, kind="stable")   # stable: a line's own fields keep their order
            cols = [c[o] for c in cols]
        step, metric, value, run = cols
        names = pa.array(list(self.names), pa.string())
        runs = list(self.runs)
        run_col = runs[0] if len(runs) == 1 else pc.take(pa.array(runs, pa.string()), pa.array(run))
        builder.add_columns(run_col, step, pc.take(names, pa.array(metric)), value)
        self.line, self.step, self.metric, self.value, self.run = [], [], [], [], []
        return line.size


# --- nanoGPT -----------------------------------------------------------------------------------------

class _NanoShape:
    def __init__(self, line: str) -> None:
        m = _t.NANOGPT.match(line)
        if m is None or not line.isascii() or "\f" in line or "\v" in line:
            raise ValueError("not a shape")
        parts, self.metrics, self.cut = [], [], []
        for tok in m.group(3).split():
            fm = _t._NANO_FIELD.match(tok)
            if fm is None:
                raise ValueError("bad field")
            key, unit = fm.group(1), fm.group(3) or ""
            parts.append(_WS + "+" + re.escape(key) + ":(?:" + NUM + ")" + re.escape(unit))
            self.metrics.append(key + (f"_{unit.lower()}" if unit else ""))
            self.cut.append((len(key) + 1, len(unit)))
        self.rx = "^" + _WS + "*step:" + _INT + "/" + _INT + "".join(parts) + _WS + "*$"

    def parse(self, lines: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values[n_lines, n_metrics]) of lines known to match this shape."""
        k = len(self.metrics)
        toks = pc.ascii_split_whitespace(pc.ascii_trim_whitespace(lines)).flatten()
        n = len(lines)
        head = toks.take(pa.array(np.arange(0, n * (k + 1), k + 1)))
        step = pc.list_element(pc.split_pattern(pc.utf8_slice_codeunits(head, 5), "/", max_splits=1), 0)
        steps = pc.cast(step, pa.int64()).to_numpy()
        vals = np.empty((n, k))
        for j, (a, b) in enumerate(self.cut):
            tok = toks.take(pa.array(np.arange(j + 1, n * (k + 1), k + 1)))
            tok = pc.utf8_slice_codeunits(tok, a, -b) if b else pc.utf8_slice_codeunits(tok, a)
            vals[:, j] = pc.cast(tok, pa.float64()).to_numpy(zero_copy_only=False)
        return steps, vals


def read_nanogpt(path: Path, builder: LogBuilder, *, run: str | None = None,
                 block_bytes: int = BLOCK_BYTES) -> None:
    """``text.read_nanogpt``, block by block (same table, same bad records)."""
    name = run or path.stem
    shapes: list[_NanoShape] = []
    tried: set[str] = set()
    n = 0
    cut_at = None
    rows = _Rows()
    rc = rows.run_code(name)
    for base, lines, cut in iter_blocks(path, block_bytes):
        rest = np.flatnonzero(pc.match_substring(lines, "step:").to_numpy(zero_copy_only=False))
        hits, rest = _known_shapes(lines, rest, shapes)
        tries = 0
        while rest.size and len(shapes) < MAX_SHAPES and tries < _LEARN_TRIES:
            cand = [i for i in rest[:_LEARN_TRIES].tolist() if lines[i].as_py() not in tried]
            if not cand:
                break
            for i in cand:
                tries += 1
                line = lines[i].as_py()
                tried.add(line)
                try:
                    sh = _NanoShape(line)
                except ValueError:
                    continue
                m = _matches(lines, rest, sh.rx)
                if m.any():   # the line itself matches, unless RE2 and re disagree: then it is read below
                    shapes.append(sh)
                    hits.append((sh, rest[m]))
                    rest = rest[~m]
                    break
            else:
                break
        for sh, idx in hits:
            steps, vals = sh.parse(lines.take(pa.array(idx)))
            k = len(sh.metrics)
            codes = np.array([rows.code(mm) for mm in sh.metrics])
            keep = np.ones(vals.shape, bool)
            for j, mm in enumerate(sh.metrics):
                if mm == "step_avg_ms":   # as text.nanogpt_line: step_avg:nanms is not a measurement
                    keep[:, j] = ~np.isnan(vals[:, j])
            keep = keep.ravel()
            rows.add(np.repeat(base + idx, k)[keep], np.repeat(steps, k)[keep], np.tile(codes, idx.size)[keep],
                     vals.ravel()[keep], rc)
        if hits:
            builder.info(name, path, "nanogpt")
        def per_line(line: str, lineno: int) -> None:
            r = _t.nanogpt_line(line)
            if r is None:
                return
            step, pts, bad = r
            if step is not None:
                builder.info(name, path, "nanogpt")
            for reason in bad:
                builder.bad_record(str(path), reason, line=lineno)
            rows.add_points(lineno, name, step, pts)

        for i in rest.tolist():   # the per-line parser, for every other line that could matter
            per_line(lines[i].as_py(), base + i)
        if cut is not None and _t.nanogpt_whole(cut):        # whole, only the newline missing: read it
            per_line(cut, base + len(lines))
        elif cut is not None and _t.nanogpt_cut(path, builder, base + len(lines), cut):
            cut_at = base + len(lines)
        n += rows.flush(builder)
    if n == 0:
        raise LogError(f"{path}: {_t.nano_none(cut_at)}")


# --- Megatron ----------------------------------------------------------------------------------------

class _MegaShape:
    def __init__(self, line: str) -> None:
        if not line.isascii() or not line.endswith("|") and not re.search(r"\|[ \t]+$", line):
            raise ValueError("not a whole line")
        m = _t.MEGATRON_VALID.search(line)
        valid = m is not None
        if m is None:
            m = _t.MEGATRON_HEAD.search(line)
        if m is None:
            raise ValueError("no head")
        prefix = line[:m.start()]
        low = prefix.lower()
        if "iteration" in low or "valid" in low:
            raise ValueError("a head inside the prefix")
        words = re.findall(r"[A-Za-z]+", m.group(0))
        if valid:
            head = (_WS + "+").join(map(re.escape, words)) + _WS + "+" + _INT + _WS + r"*\|"
        else:
            head = re.escape(words[0]) + _WS + "+" + _INT + _WS + "*/" + _WS + "*" + _INT + _WS + r"*\|"
        fields = list(_t._FIELD.finditer(line[m.end():]))
        step, pts, has_loss, has_scale = _t.megatron_fields(line)
        if not fields or not (has_loss or has_scale) or len(pts) != len(fields):
            raise ValueError("no loss")
        self.metrics = [k for k, _ in pts]
        self.rx = ("^" + re.escape(prefix) + head + "".join(
            _WS + "*" + re.escape(f.group(1)) + _WS + "*:" + _WS + "*(?:" + NUM + ")" + _WS + r"*\|"
            for f in fields) + _WS + "*$")
        self.head_tok = prefix.count("|")          # the token (split at '|') that holds the head
        self.step_rx = r"(?i)iteration" + _WS + "+(?P<step>" + _INT + ")"

    def parse(self, lines: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        k, h = len(self.metrics), self.head_tok
        per = h + 1 + k + 1
        n = len(lines)
        toks = pc.split_pattern(lines, "|").flatten()
        head = toks.take(pa.array(np.arange(h, n * per, per)))
        steps = pc.cast(pc.struct_field(pc.extract_regex(head, self.step_rx), [0]), pa.int64()).to_numpy()
        vals = np.empty((n, k))
        for j in range(k):
            tok = toks.take(pa.array(np.arange(h + 1 + j, n * per, per)))
            num = pc.ascii_trim_whitespace(pc.list_element(pc.split_pattern(tok, ":", max_splits=1), 1))
            vals[:, j] = pc.cast(num, pa.float64()).to_numpy(zero_copy_only=False)
        return steps, vals


def read_megatron(path: Path, builder: LogBuilder, *, run: str | None = None,
                  block_bytes: int = BLOCK_BYTES) -> None:
    """``text.read_megatron``, block by block (same table, same bad records). Markdown files (one run per code
    block, small) and any block from its first line of an unknown shape are read by the line state machine."""
    rows = _Rows()
    st = _t.MegatronLines(path, builder, lambda ln, nm, s, p: rows.add_points(ln, nm, s, p), run=run)
    shapes: list[_MegaShape] = []
    tried: set[str] = set()
    for base, lines, cut in iter_blocks(path, block_bytes):
        start = 0   # lines before ``start`` were read by the bulk path
        if st.pending is None and not st.markdown:
            cand = pc.or_(pc.match_substring(lines, "iteration", ignore_case=True),
                          pc.invert(pc.string_is_ascii(lines)))
            rest = np.flatnonzero(cand.to_numpy(zero_copy_only=False))
            hits, rest = _known_shapes(lines, rest, shapes)
            first_other, tries, pos = None, 0, 0
            while pos < rest.size:
                i = int(rest[pos])
                line = lines[i].as_py()
                if not (_t.MEGATRON_HEAD.search(line) or _t.MEGATRON_VALID.search(line)):
                    pos += 1   # not a record: ignored, as the line reader does
                    continue
                sh = None
                if len(shapes) < MAX_SHAPES and tries < _LEARN_TRIES and line not in tried:
                    tries += 1
                    tried.add(line)
                    try:
                        sh = _MegaShape(line)
                    except ValueError:
                        sh = None
                if sh is not None:
                    m = _matches(lines, rest[pos:], sh.rx)
                    if m[0]:   # the line itself matches, unless RE2 and re disagree: then it is read below
                        shapes.append(sh)
                        hits.append((sh, rest[pos:][m]))
                        rest = np.concatenate([rest[:pos], rest[pos:][~m]])
                        continue
                first_other = i
                break
            start = len(lines) if first_other is None else first_other
            for sh, idx in hits:
                idx = idx[idx < start]
                if not idx.size:
                    continue
                steps, vals = sh.parse(lines.take(pa.array(idx)))
                k = len(sh.metrics)
                codes = np.array([rows.code(mm) for mm in sh.metrics])
                rows.add(np.repeat(base + idx, k), np.repeat(steps, k), np.tile(codes, idx.size), vals.ravel(),
                         rows.run_code(st.name))
                builder.info(st.name, path, "megatron")
                st.n_records += idx.size
        for i in range(start, len(lines)):
            st.feed(base + i, lines[i].as_py())
        if cut is not None:
            st.feed(base + len(lines), cut, ended=False)
        rows.flush(builder)
    st.finish()
    rows.flush(builder)
