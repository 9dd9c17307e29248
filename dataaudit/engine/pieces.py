"""Map a function over the documents of a source, where the engine says the workers read the inputs.

``Pieces(engine, runner, source)`` is re-iterable: each pass over it gives the same pieces in the local
reader's order. A piece is a ``Shard`` (``io/shards.py``: the worker reads it with our readers) when the
engine has read tasks on (the Ray engine; ``engine.partitions`` set) and the source can be sharded, else a
DOC_SCHEMA batch the driver read (as before, for sources no worker can open: Tables, ``datasets`` objects,
eval files, a directory of .txt files).

``pieces.map(fn, *extra)`` runs ``fn(batches, *extra)`` on the workers, one task per piece, and yields the
results in piece order. On the first pass over a sharded source its bad-record counts are replayed on the
driver (``shards.SourceAccount``): the same ``--max-bad-records`` error, the same log as one local read.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator

from ..io import shards as _shards
from .local import _copy_if_slice


def uses_read_tasks(engine: Any) -> bool:
    """Whether passes should use read tasks and the partitioned shuffle on this engine."""
    return bool(getattr(engine, "partitions", None))


def run_piece(task: tuple) -> tuple[Any, Any]:
    """The worker side: read the piece (a shard, or a batch the driver sent) and run the function on it."""
    fn, item, extra = task
    if isinstance(item, _shards.Shard):
        stats = _shards.ShardRead()
        return fn(_shards.read(item, stats), *extra), stats
    return fn(iter([item]), *extra), None


# ``count_lines`` of JSONL ranges already counted in this process, by (file, range, size, mtime): every pass of
# a run plans its own Pieces, and a report's passes would otherwise count the lines of every file 3-4 times.
# A file that changes size or mtime is counted again. Bounded: the oldest entries go past _COUNTS_MAX.
_COUNTS: dict[tuple, tuple[int, int, tuple]] = {}
_COUNTS_MAX = 1 << 16


def _count_key(s: Any) -> tuple | None:
    if s.kind != "jsonl":
        return None
    try:
        st = os.stat(os.path.join(s.cwd, s.path))
    except OSError:
        return None                      # the task itself gives the error
    return (os.path.realpath(os.path.join(s.cwd, s.path)), s.start, s.end, st.st_size, st.st_mtime_ns)


def _counts(runner: Any, plan: list) -> list[tuple[int, int, tuple]]:
    keys = [_count_key(s) for s in plan]
    todo = [i for i, k in enumerate(keys) if k is None or k not in _COUNTS]
    got = dict(zip(todo, runner.map(_shards.count_lines, [plan[i] for i in todo]))) if todo else {}
    for i, c in got.items():
        if keys[i] is not None:
            _COUNTS[keys[i]] = c
    while len(_COUNTS) > _COUNTS_MAX:
        _COUNTS.pop(next(iter(_COUNTS)))
    return [got[i] if i in got else _COUNTS[k] for i, k in enumerate(keys)]


class Pieces:
    """The pieces of one source, planned once (JSONL line offsets counted by worker tasks)."""

    def __init__(self, engine: Any, runner: Any, source: Any) -> None:
        self.source = source
        self.runner = runner
        shard_bytes = getattr(engine, "shard_bytes", None) or _shards.SHARD_BYTES
        plan = _shards.plan(source, shard_bytes)
        if plan is not None and any(s.kind == "jsonl" for s in plan):
            plan = _shards.with_offsets(plan, _counts(runner, plan))
        self.shards = plan

    def items(self) -> Iterator[Any]:
        if self.shards is not None:
            yield from self.shards
        else:
            yield from self.source()

    def map(self, fn: Callable[..., Any], *extra: Any, select: Callable[[int, Any], Any] | None = None,
            account: bool = True) -> Iterator[Any]:
        """``fn(batches, *extra)`` per piece, results in order. ``select(k, item)``, when given, returns the
        last argument for piece ``k`` or None to skip the piece (no result for it). ``account``: replay the
        shards' bad-record counts (a pass that reads every document; off for re-reads of a few)."""
        account = _shards.SourceAccount(self.source) if self.shards is not None and account else None

        def tasks():
            for k, item in enumerate(self.items()):
                args = extra
                if select is not None:
                    arg = select(k, item)
                    if arg is None:
                        continue
                    args = (*extra, arg)
                yield (fn, item if isinstance(item, _shards.Shard) else _copy_if_slice(item), args)

        for payload, stats in self.runner.map(run_piece, tasks()):
            if account is not None and stats is not None:
                account.add(stats)
            yield payload
        if account is not None:
            account.finish()
