"""The settings every job shares, and the ``--config FILE`` (TOML) layer: defaults < file < flags.

Each field carries its reason (as nanoGPT's ``GPTConfig`` does); ``__post_init__`` validates and raises
``ConfigError`` with a hint. The resolved configs are recorded in every report, so a number always travels
with the settings that produced it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError

OnBadRecord = Literal["fail", "skip"]


@dataclass(frozen=True, kw_only=True)
class ReadConfig:
    """How input files are read. One object, passed from the flags to every reader."""

    fmt: str | None = None              # input format; None: detect from each path
    text_column: str | None = None      # text column; None: auto-detect (text, content, ...)
    id_column: str | None = None        # id column; None: doc_id = "<source>:<row>"
    eval_field: str | None = None       # text field of --eval files (None: auto-detect)
    batch_size: int = 4096              # documents per Arrow batch; bounds memory
    on_bad_record: OnBadRecord = "fail"  # fail: stop at the first bad record; skip: count, locate, go on
    max_bad_records: int | float = 0.01  # with skip: fail past this many skipped records (an int >= 1) or
                                         # this share of all records read (a float < 1), so a broken file
                                         # cannot pass as a clean audit

    def __post_init__(self) -> None:
        if self.on_bad_record not in ("fail", "skip"):
            raise ConfigError(f"--on-bad-record must be 'fail' or 'skip', not {self.on_bad_record!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"--batch-size must be a positive integer, got {self.batch_size!r}")
        m = self.max_bad_records
        if isinstance(m, bool) or not isinstance(m, (int, float)) or m < 0 or (isinstance(m, float) and m >= 1):
            raise ConfigError(f"--max-bad-records {m!r}: give a count (an integer >= 0, e.g. 100) or a fraction "
                              f"below 1 (e.g. 0.01)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_max_bad(value: str) -> int | float:
    """``--max-bad-records`` text: ``100`` is a count, ``0.01`` or ``1%`` a fraction.

    >>> parse_max_bad("100"), parse_max_bad("0.5"), parse_max_bad("2%")
    (100, 0.5, 0.02)
    """
    v = value.strip()
    try:
        if v.endswith("%"):
            return float(v[:-1]) / 100.0
        if any(c in v for c in ".eE"):
            return float(v)
        return int(v)
    except ValueError:
        raise ConfigError(f"--max-bad-records {value!r}: give a count (e.g. 100) or a fraction (e.g. 0.01 or 1%)") \
            from None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a ``--config`` TOML file into a flat {flag_dest: value} mapping.

    Keys are flag names without the dashes, with ``-`` or ``_`` (``near-threshold`` = ``near_threshold``);
    tables are flattened (``[near] threshold = 0.8`` sets ``near_threshold``), so a file can mirror the
    command line or group settings by pass.
    """
    import tomllib

    p = Path(path)
    try:
        with open(p, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"--config {p}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"--config {p}: not valid TOML ({e})") from None
    out: dict[str, Any] = {}

    def walk(d: dict[str, Any], prefix: str) -> None:
        for k, v in d.items():
            key = (prefix + k).replace("-", "_")
            if isinstance(v, dict):
                walk(v, key + "_")
            else:
                out[key] = v

    walk(data, "")
    return out


@dataclass(frozen=True, kw_only=True)
class JobConfig:
    """What every job shares: how much it lists, where its parallel parts run."""

    top: int = 20                       # findings listed in report.json / report.md (the tables hold all)
    workers: int = 1                    # processes for the parallel parts of the passes; 0: one per CPU core
    engine: str = "local"               # what runs them: local (processes and threads here) or ray (actors)
    ray_address: str | None = None      # with engine "ray": None starts a local runtime with `workers` CPUs,
                                        # "auto" joins the running cluster, "ray://host:10001" that one

    def __post_init__(self) -> None:
        if isinstance(self.top, bool) or not isinstance(self.top, int) or self.top < 0:
            raise ConfigError(f"--top {self.top!r}: give a number of findings >= 0 (e.g. --top 20)")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ConfigError(f"--workers {self.workers!r}: give 0 (one per CPU core) or a positive integer")
        if self.ray_address is not None and (not isinstance(self.ray_address, str) or not self.ray_address):
            raise ConfigError(f"--ray-address {self.ray_address!r}: give auto, host:port or ray://host:port")

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to_dict() if hasattr(v, "to_dict") else (v if _plain(v) else repr(v))
        return out


def _plain(v: Any) -> bool:
    if v is None or isinstance(v, (str, int, float, bool)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_plain(x) for x in v)
    if isinstance(v, dict):
        return all(_plain(x) for x in v.values())
    return False


def check_bad_limit(bad: int, good: int, limit: int | float, *, what: str = "records", where: str = "") -> None:
    """Raise ``InputError`` when ``bad`` skipped records pass ``limit`` (a count, or a share of bad + good).

    >>> check_bad_limit(1, 999, 0.01)
    >>> check_bad_limit(5, 5, 3, where="x.jsonl")
    Traceback (most recent call last):
    ...
    dataaudit.errors.InputError: x.jsonl: 5 of 10 records (50.0%) were invalid and skipped, past --max-bad-records 3; fix the input, or raise --max-bad-records
    """
    from .errors import InputError

    total = bad + good
    over = bad > limit if isinstance(limit, int) else (total > 0 and bad / total > limit)
    if bad and over:
        share = bad / total if total else 1.0
        raise InputError(f"{where + ': ' if where else ''}{bad} of {total} {what} ({share:.1%}) were invalid and "
                         f"skipped, past --max-bad-records {limit}; fix the input, or raise --max-bad-records")
