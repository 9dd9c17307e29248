"""The scoring process's heap bound (passes/score/heap.py): set on glibc, off when asked, scores unchanged."""

import os

from dataaudit.passes.score import heap


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


def test_bound_heap_sets_the_thresholds_on_glibc():
    assert heap.bound_heap() is _glibc()
    heap.trim()                                  # never raises, with or without glibc


def test_bound_heap_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("DATAAUDIT_MALLOC_TUNING", "0")
    assert heap.bound_heap() is False
