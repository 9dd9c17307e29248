"""The driver-side index arithmetic of the near pass on read tasks (``passes/near_shards.py``): grouping global
indices by piece and locating each candidate's set in its piece's file, checked against plain loops; and a
source that gives more documents on the second read is an input error, never silently cut."""

from __future__ import annotations

import numpy as np
import pytest

from dataaudit.errors import InputError
from dataaudit.passes.near_shards import PieceSets, ShardedNear, _by_task


@pytest.mark.parametrize("seed", range(5))
def test_by_task_matches_a_loop(seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 1 + seed * 7, size=200 + seed)
    order, groups = _by_task(t)
    assert [g[0] for g in groups] == sorted(set(t.tolist()))
    for task, lo, hi in groups:
        assert order[lo:hi].tolist() == np.flatnonzero(t == task).tolist()     # positions, in their order


@pytest.mark.parametrize("seed", range(5))
def test_piece_sets_start_matches_a_loop(seed):
    rng = np.random.default_rng(seed)
    n = 300
    file_of = np.sort(rng.integers(0, 12, size=n))
    sizes = rng.integers(0, 50, size=n)
    ps = PieceSets(np.arange(n) * 3, sizes, [f"f{k}" for k in range(12)], file_of)
    want = np.zeros(n, np.int64)
    for k in np.unique(file_of):
        m = np.flatnonzero(file_of == k)
        want[m] = np.concatenate(([0], np.cumsum(sizes[m])[:-1]))
    assert ps.start.tolist() == want.tolist()
    refs = ps.refs([0, 3 * (n - 1)])
    assert refs[0] == (f"f{file_of[0]}", 0, int(sizes[0]))
    assert refs[3 * (n - 1)] == (f"f{file_of[-1]}", int(want[-1]), int(sizes[-1]))


def test_piece_sets_refuse_unordered_files():
    with pytest.raises(ValueError):
        PieceSets(np.arange(3), np.ones(3, np.int64), ["a", "b"], np.array([1, 0, 1]))


class _Pieces:
    def __init__(self, results):
        self.results, self.closed = results, False

    def map(self, fn, *args, **kw):
        try:
            yield from self.results
        finally:
            self.closed = True


def _near(tmp_path, results):
    nr = ShardedNear.__new__(ShardedNear)
    nr.spill, nr.progress = tmp_path, None
    nr.pieces = {"train": _Pieces(results)}
    nr.task_codes = np.zeros(2, np.int16)
    nr.sizes = np.array([10, 10], np.int64)
    nr.bases = np.array([0, 10], np.int64)
    return nr


def test_second_read_with_more_pieces_is_an_input_error(tmp_path):
    needed = np.array([1, 2, 11])                       # two in piece 0, one in piece 1
    ok = _near(tmp_path, [np.array([5, 6]), np.array([7])]).exact_sets(needed)
    assert ok.sizes.tolist() == [5, 6, 7] and ok.start.tolist() == [0, 5, 0]
    for results in ([np.array([5, 6]), np.array([7]), np.array([8])],     # one piece more
                    [np.array([5, 6]), np.array([7, 9])],                  # one document more
                    [np.array([5, 6])]):                                   # one piece fewer
        nr = _near(tmp_path, results)
        with pytest.raises(InputError, match="second read"):
            nr.exact_sets(needed)
        assert nr.pieces["train"].closed

