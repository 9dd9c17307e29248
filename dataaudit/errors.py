"""Error hierarchy. Only ``cli.py`` maps these to exit codes (all of them exit 2).

Every message names the offending value and says how to fix it, e.g.
``column 'text' not found in train.parquet; available: ['content', 'id']. Pass --text-column content``.
The class says how far to unwind (as dolma's core/errors.py does): a ``BadRecordError`` concerns one
record and may be skipped under ``--on-bad-record skip``; everything else stops the run.
"""

from __future__ import annotations


class DataAuditError(Exception):
    """Base class of every error dataaudit raises on purpose."""

    exit_code = 2


class ConfigError(DataAuditError):
    """A setting is invalid (bad value, conflicting flags)."""


class InputError(DataAuditError):
    """An input file is missing, unreadable, of an unknown format, or structurally wrong."""


class BadRecordError(InputError):
    """One record is invalid (bad JSON line, null or non-string text, undecodable bytes).

    Carries its location so that ``--on-bad-record skip`` can count and report it.
    """

    def __init__(self, message: str, *, source: str, row: int | None = None, line: int | None = None,
                 reason: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.row = row
        self.line = line
        self.reason = reason or message


class ModelError(DataAuditError):
    """A reference model cannot be loaded or used."""


class LogError(InputError):
    """A training log cannot be read (unknown format, truncated, corrupt)."""
