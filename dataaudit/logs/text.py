"""Text logs: Megatron / Megatron-DeepSpeed iteration lines, nanoGPT ``step:N/M`` lines, a user regex.

Lines that are not log lines (prose, code, the training script a nanoGPT log starts with) are ignored;
a line that *starts* like a log line but cannot be read (a wrapped or truncated line, a number that is
not a number) is recorded as a bad record with its line number, never skipped silently.

Megatron (megatron/training.py ``training_log``; the BigScience chronicles quote it verbatim)::

    iteration     7000/  159576 | consumed samples: 260912 | ... | lm loss: 6.444662E+00 | grad norm: 98258.265 |
    validation loss at iteration 7000 | lm loss value: 7.174200E+00 | lm loss PPL: 1.305315E+03 |

Each ``key: number`` field becomes a metric with a normalized name (``lm loss`` -> ``lm_loss``,
``elapsed time per iteration (ms)`` -> ``elapsed_time_per_iteration_ms``); validation fields get a
``val_`` prefix (``val_lm_loss``). A line cut by a terminal or an editor (it does not end with ``|``)
is joined with the next lines until it does. Megatron prints the loss averaged over ``--log-interval``
iterations.

nanoGPT / modded-nanogpt (``print0(f"step:{step}/{n} train_loss:{x} train_time:{t}ms ...")``)::

    step:918/1530 train_loss:4.8203 train_time:160338ms step_avg:175.03ms
    step:1000/1530 val_loss:3.5310 train_time:...

Markdown files (``.md``): each fenced code block is a separate excerpt and becomes its own run
``<stem>@L<line>`` (chronicles quote unrelated moments of training; joining them would invent rewinds).

A file cut mid-line: when the last line has no newline and is (or starts like) a log line that is not
complete (a nanoGPT or regex line, which have no end marker but the newline ``print`` writes; a Megatron
record that does not end with ``|``), it is a bad record with its line number (``CUT_REASON``) and none of
its values are read: a number cut short ("train_loss:3.4" of "3.4567") would enter the curve as a wrong
value. It is a bad record rather than an input error because the same file is what a log still being
written looks like, and ``--on-bad-record`` then decides (``fail``, the default of ``dataaudit spikes``,
stops; ``skip`` counts it and goes on). A whole nanoGPT or Megatron line that only lacks the newline is read.
(A JSON Lines corpus cut mid-record is an input error instead: ``io.common.cut_last_line``.)
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError, LogError
from .table import LogBuilder

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|infinity)"
MEGATRON_HEAD = re.compile(r"\biteration\s+(\d+)\s*/\s*(\d+)\s*\|", re.IGNORECASE)
MEGATRON_VALID = re.compile(r"\b(?:validation|valid)\s+loss\s+at\s+iteration\s+(\d+)\s*\|", re.IGNORECASE)
_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9 _\-/().]*?)\s*:\s*(" + _NUM + r")\s*(?=\||$)", re.IGNORECASE)
NANOGPT = re.compile(r"^\s*step:(\d+)/(\d+)((?:\s+\w+:\S+)+)\s*$")
NANOGPT_START = re.compile(r"^\s*step:\d+/\d+\s")
_NANO_FIELD = re.compile(r"(\w+):(" + _NUM + r")(ms|s)?$", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")


# Megatron's own field names: a line wrapped inside a word ("iteratio\nns") is rejoined with a space, so
# keys are matched against these with spaces removed (megatron/training.py training_log).
_MEGATRON_KEYS = ("consumed samples", "consumed tokens", "elapsed time per iteration (ms)",
                  "elapsed time per iteration (s)", "learning rate", "global batch size", "lm loss",
                  "loss scale", "grad norm", "num zeros", "number of skipped iterations",
                  "number of nan iterations", "samples per second", "TFLOPs", "params norm",
                  "lm loss value", "lm loss PPL")
_DESPACED = {re.sub(r"\s+", "", k.lower()): k for k in _MEGATRON_KEYS}


def _megatron_key(key: str) -> str:
    return norm_key(_DESPACED.get(re.sub(r"\s+", "", key.lower()), key))


def norm_key(key: str) -> str:
    """``'elapsed time per iteration (ms)'`` -> ``'elapsed_time_per_iteration_ms'``."""
    key = re.sub(r"[^0-9a-zA-Z]+", "_", key.strip().lower())
    return key.strip("_")


#: The reason of the bad record of a last line cut mid-line (``what``: the kind of line).
CUT_REASON = ("{what} is the last line and has no newline: the file is cut mid-line (truncated, or still being "
              "written); its values are not read, as they may be cut short")
NANOGPT_CUT = re.compile(r"^\s*step:")      # a nanoGPT line, whole or cut
# a nanoGPT line's last field is a time in ms (``train_time:264608ms step_avg:174.08ms``): a last line that
# ends with one is whole, only its newline is missing, and is read as any other line
NANOGPT_END = re.compile(r"\S+:(?:[\d.]+|nan)ms\s*$")
MEGATRON_CUT = re.compile(r"^\s*(?:\[[^\]]*\]:)?\s*(?:iteration\s+\d|(?:validation|valid)\s+loss\b)", re.IGNORECASE)


def _lines(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line number, line without its newline, whether it had one): only the last line can lack it."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f, 1):
            if line.endswith("\n"):
                yield i, line[:-1], True
            else:
                yield i, line, False


def nanogpt_whole(line: str) -> bool:
    """Whether a last line without its newline is a whole nanoGPT line (ends with its ms field)."""
    return bool(NANOGPT_CUT.match(line) and NANOGPT_END.search(line))


def nanogpt_cut(path: Path, builder: LogBuilder, lineno: int, line: str) -> bool:
    """The last line of a nanoGPT log without its newline: a bad record when it starts like a log line and
    is not whole (``nanogpt_whole`` lines are read by the caller). Whether it was one."""
    if NANOGPT_CUT.match(line):
        builder.bad_record(str(path), CUT_REASON.format(what="a 'step:' line"), line=lineno)
        return True
    return False


def sniff_text(path: Path, limit: int = 2_000_000) -> str | None:
    """'megatron' or 'nanogpt' if the first ``limit`` bytes hold such a line, else None."""
    n = 0
    for _i, line, _ended in _lines(path):
        if MEGATRON_HEAD.search(line) or MEGATRON_VALID.search(line):
            return "megatron"
        if NANOGPT.match(line):
            return "nanogpt"
        n += len(line) + 1
        if n > limit:
            break
    return None


def megatron_fields(text: str) -> tuple[int, list[tuple[str, float]], bool, bool]:
    """(step, [(metric, value)], has_loss, has_scale) of one whole Megatron record (a head line, joined)."""
    m = MEGATRON_VALID.search(text)
    prefix = "val_"
    if m is None:
        m = MEGATRON_HEAD.search(text)
        prefix = ""
    pts = []
    has_loss = has_scale = False
    for fm in _FIELD.finditer(text[m.end():]):
        key = _megatron_key(fm.group(1))
        if prefix and key.endswith("_value"):
            key = key[: -len("_value")]
        pts.append((prefix + key, float(fm.group(2))))
        has_loss = has_loss or key.endswith("loss")
        has_scale = has_scale or key == "loss_scale"
    return int(m.group(1)), pts, has_loss, has_scale


class MegatronLines:
    """The line-by-line Megatron state machine: ``feed`` each line in order, then ``finish``.

    Each record goes to ``emit(lineno, run, step, points)``; a record without a loss to ``builder.bad_record``.
    ``pending`` is not None while a wrapped record waits for its end (the block reader reads such lines here).
    """

    def __init__(self, path: Path, builder: LogBuilder, emit, *, run: str | None = None) -> None:
        self.path, self.builder, self.emit = path, builder, emit
        self.base = run or path.stem
        self.markdown = path.suffix.lower() in (".md", ".markdown")
        self.name = self.base
        self.pending: tuple[int, str] | None = None   # a record whose line was wrapped, waiting for its end
        self.cont: list[str] = []
        self.n_records = 0

    def flush(self, lineno: int, text: str) -> None:
        step, pts, has_loss, has_scale = megatron_fields(text)
        self.builder.info(self.name, self.path, "megatron")
        self.emit(lineno, self.name, step, pts)
        if has_loss:
            self.n_records += 1
        elif has_scale:
            # Megatron prints no loss for an iteration the fp16 loss scaler skipped (an overflow: the loss
            # scale halves on that line); a real log line, kept as loss_scale / grad norm points
            self.n_records += 1
        else:
            self.builder.bad_record(str(self.path), f"Megatron line for iteration {step} has no loss field "
                                    f"(a skipped iteration, or a wrapped, truncated or edited line)", line=lineno)

    def _flush_pending(self) -> None:
        self.flush(self.pending[0], self.pending[1] + " " + " ".join(self.cont))
        self.pending, self.cont = None, []

    def _cut(self, lineno: int, what: str) -> None:
        self.builder.bad_record(str(self.path), CUT_REASON.format(what=what), line=lineno)

    def feed(self, lineno: int, line: str, ended: bool = True) -> None:
        """One line; ``ended=False`` for a last line without its newline (a record it leaves open is cut)."""
        if self.markdown and _FENCE.match(line):
            if self.pending is not None:
                self._flush_pending()
            self.name = f"{self.base}@L{lineno}"
            return
        head = MEGATRON_HEAD.search(line) or MEGATRON_VALID.search(line)
        whole = line.rstrip().endswith("|")
        if self.pending is not None:
            if head or len(self.cont) >= 4:
                self._flush_pending()
            elif not ended and not whole:   # the file ends inside a wrapped record
                step = MEGATRON_HEAD.search(self.pending[1]) or MEGATRON_VALID.search(self.pending[1])
                self._cut(lineno, f"a Megatron record (iteration {step.group(1)}, from line {self.pending[0]})")
                self.pending, self.cont = None, []
                return
            else:  # a wrapped line goes on until a line ends with '|'
                self.cont.append(line.strip())
                if whole:
                    self._flush_pending()
                return
        if head:
            if whole:
                self.flush(lineno, line)
            elif not ended:
                self._cut(lineno, f"a Megatron record (iteration {head.group(1)}) not ending with '|'")
            else:
                self.pending, self.cont = (lineno, line), []
        elif not ended and MEGATRON_CUT.match(line):
            self._cut(lineno, "a Megatron line cut before its first '|'")

    def finish(self) -> None:
        if self.pending is not None:
            self._flush_pending()
        if self.n_records == 0:
            raise LogError(f"{self.path}: no Megatron 'iteration N/ M | ... | lm loss: X |' lines found; "
                           f"pick the right --log-format or pass --pattern with named groups")


def read_megatron(path: Path, builder: LogBuilder, *, run: str | None = None) -> None:
    """Line by line (the reference for ``blocks.read_megatron``, which reads large blocks at once)."""
    def emit(_lineno, name, step, pts):
        for key, val in pts:
            builder.add(name, step, key, val)

    st = MegatronLines(path, builder, emit, run=run)
    for lineno, line, ended in _lines(path):
        st.feed(lineno, line, ended)
    st.finish()


NANO_NOT_FIELDS = "line starts like 'step:N/M' but has no 'name:value' fields"


def nanogpt_line(line: str) -> tuple[int | None, list[tuple[str, float]], list[str]] | None:
    """None for a line that is not a nanoGPT log line; else (step or None, [(metric, value)], bad reasons)."""
    m = NANOGPT.match(line)
    if m is None:
        return (None, [], [NANO_NOT_FIELDS]) if NANOGPT_START.match(line) else None
    pts, bad = [], []
    for tok in m.group(3).split():
        fm = _NANO_FIELD.match(tok)
        if fm is None:
            bad.append(f"field {tok!r} is not name:number")
            continue
        val = float(fm.group(2))
        unit = fm.group(3)
        key = fm.group(1) + (f"_{unit.lower()}" if unit else "")
        if key == "step_avg_ms" and math.isnan(val):
            continue  # modded-nanogpt prints step_avg:nanms before timing starts: not a measurement
        pts.append((key, val))
    return int(m.group(1)), pts, bad


NANO_NONE = "no 'step:N/M name:value' lines found; pick the right --log-format or pass --pattern with named groups"


def read_nanogpt(path: Path, builder: LogBuilder, *, run: str | None = None) -> None:
    """Line by line (the reference for ``blocks.read_nanogpt``, which reads large blocks at once)."""
    name = run or path.stem
    n = 0
    cut_at = None
    for lineno, line, ended in _lines(path):
        if not ended and not nanogpt_whole(line):
            cut_at = lineno if nanogpt_cut(path, builder, lineno, line) else None
            continue
        r = nanogpt_line(line)
        if r is None:
            continue
        step, pts, bad = r
        if step is not None:
            builder.info(name, path, "nanogpt")
        for reason in bad:
            builder.bad_record(str(path), reason, line=lineno)
        for key, val in pts:
            builder.add(name, step, key, val)
            n += 1
    if n == 0:
        raise LogError(f"{path}: {nano_none(cut_at)}")


def nano_none(cut_at: int | None) -> str:
    """The no-lines error, naming the cut last line when that was the only 'step:' line."""
    if cut_at is None:
        return NANO_NONE
    return (f"no whole 'step:N/M name:value' line found: the only one, line {cut_at}, is cut mid-line (no newline "
            f"at the end of the file: truncated, or still being written)")


def compile_pattern(pattern: str) -> re.Pattern:
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise ConfigError(f"--pattern {pattern!r} is not a valid regular expression: {e}") from None
    if "step" not in rx.groupindex:
        raise ConfigError(f"--pattern {pattern!r} needs a named group 'step', e.g. "
                          r"'step (?P<step>\d+) loss (?P<loss>\S+)'; every other named group is a metric")
    if len(rx.groupindex) < 2:
        raise ConfigError(f"--pattern {pattern!r} has no metric group: add one such as (?P<loss>\\S+)")
    return rx


def read_regex(path: Path, builder: LogBuilder, *, pattern: str, run: str | None = None) -> None:
    """Every line matching ``pattern`` (searched, not anchored) gives one point per named group."""
    rx = compile_pattern(pattern)
    name = run or path.stem
    metrics = [g for g in rx.groupindex if g not in ("step", "wall_time", "run")]
    n = 0
    for lineno, line, ended in _lines(path):
        m = rx.search(line)
        if m is None:
            continue
        if not ended:
            builder.bad_record(str(path), CUT_REASON.format(what="a line matching --pattern"), line=lineno)
            continue
        builder.info(m.groupdict().get("run") or name, path, "regex")
        try:
            step = int(float(m.group("step")))
        except (TypeError, ValueError):
            builder.bad_record(str(path), f"step {m.group('step')!r} is not a number", line=lineno)
            continue
        wall = m.groupdict().get("wall_time")
        for g in metrics:
            raw = m.group(g)
            if raw is None:
                continue
            try:
                val = float(raw)
                wt = float(wall) if wall else math.nan
            except ValueError:
                builder.bad_record(str(path), f"group {g!r}: {raw!r} is not a number", line=lineno)
                continue
            builder.add(m.groupdict().get("run") or name, step, g, val, wt)
            n += 1
    if n == 0:
        raise LogError(f"{path}: no line matches --pattern {pattern!r}")
