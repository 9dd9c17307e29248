"""The local engine: an ordered, bounded-window process pool and a thread pool, both stoppable.

Both pools belong to one engine object and are shut down by ``close()`` (or leaving ``with``), so Ctrl-C
never leaves an idle worker thread or process that keeps the interpreter from exiting.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Callable, Iterable, Iterator

from .. import interrupt
from ..errors import ConfigError


def _copy_if_slice(item: Any) -> Any:
    """A pyarrow slice pickles with its parent's whole buffers: copy it out before it goes to a worker."""
    import pyarrow as pa

    if isinstance(item, pa.Array):
        return pa.concat_arrays([item])
    if isinstance(item, pa.RecordBatch):
        return pa.RecordBatch.from_arrays([pa.concat_arrays([c]) for c in item.columns], schema=item.schema)
    return item


def _worker_start(init: Callable[..., None] | None, initargs: tuple) -> None:
    """A pool worker ignores Ctrl-C: the terminal sends SIGINT to the whole process group, and a worker that
    died of it while blocked reading the task queue would hold the queue's lock for ever, so the driver's
    ``Pool.terminate()`` (which takes that lock) hung and the run never ended (seen on CI: a SIGINT 0.2-2 s
    into a 2-worker split). The driver handles the Ctrl-C and terminates the workers (SIGTERM)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if init is not None:
        init(*initargs)


def _terminate(pool: Any, timeout: float = 3.0) -> None:
    """``pool.terminate(); pool.join()``, in bounded time. multiprocessing's terminate can block for ever: it
    drains the task pipe once, and a task the feeder thread starts writing just after (a batch of documents
    is far larger than the 64 KiB pipe buffer) blocks that thread, and the ``join`` of it, with no reader
    left (tests/test_interrupt_guard.py makes it happen). Past ``timeout`` the workers are killed instead and
    the stuck daemon thread is left to end with the process."""
    import threading

    def stop() -> None:
        pool.terminate()
        pool.join()

    t = threading.Thread(target=stop, name="dataaudit-pool-stop", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        for p in list(getattr(pool, "_pool", None) or ()):
            try:
                p.kill()
                p.join(1.0)
            except Exception:  # noqa: BLE001 - already gone
                pass


class TaskPool:
    """Runs ``fn(item)`` for items in order: in-process with one worker, else in a spawned process pool."""

    def __init__(self, workers: int, init: Callable[..., None] | None, initargs: tuple) -> None:
        self.n = workers
        self._pool = None
        if init is not None:
            init(*initargs)              # the in-process path (and the driver) needs the state too
        if workers > 1:
            import multiprocessing as mp

            # A Ctrl-C inside Pool() would leave a half-made pool nobody owns: its workers and its
            # worker-keeping thread would live on until the interpreter's exit. So the pool is made whole
            # and owned here first, the interrupt comes after, and close() terminates it at once.
            try:
                with interrupt.deferred():
                    self._pool = mp.get_context("spawn").Pool(workers, initializer=_worker_start,
                                                              initargs=(init, initargs))
            except BaseException:
                self.close(error=True)
                raise

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """Results in input order; at most ``2 x workers`` tasks in flight (memory stays bounded)."""
        if self._pool is None:
            for it in items:
                yield fn(it)
            return
        window: deque = deque()
        for it in items:
            window.append(self._pool.apply_async(fn, (_copy_if_slice(it),)))
            if len(window) >= 2 * self.n:
                yield window.popleft().get()
        while window:
            yield window.popleft().get()

    def close(self, *, error: bool = False) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            if error:
                _terminate(pool)
            else:
                pool.close()
                pool.join()

    def __enter__(self) -> "TaskPool":
        return self

    def __exit__(self, exc_type, *exc: Any) -> None:
        self.close(error=exc_type is not None)


class LocalThreads:
    """The thread pool both engines use for GIL-releasing work on the driver (``threads``, ``_threads``)."""

    threads: int = 1
    _threads: Any = None

    def thread_map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``[fn(x) for x in items]`` on the engine's threads (for GIL-releasing work), in order."""
        items = list(items)
        if self.threads == 1 or len(items) < 2:
            return [fn(x) for x in items]
        if self._threads is None:
            from concurrent.futures import ThreadPoolExecutor

            self._threads = ThreadPoolExecutor(self.threads, thread_name_prefix="dataaudit-worker")
        return list(self._threads.map(fn, items))

    def close_threads(self) -> None:
        """Shut the threads down (queued work cancelled), so Ctrl-C never waits on an idle worker."""
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)
            self._threads = None


class LocalEngine(LocalThreads):
    """Processes and threads on this machine.

    ``workers``: processes for ``pool`` (0: one per CPU core). ``threads``: threads for ``thread_map`` (None:
    one per core up to 4; threads cost little and only GIL-releasing work goes to them).
    """

    name = "local"

    def __init__(self, workers: int = 1, threads: int | None = None, *, partitions: int | None = None,
                 shard_bytes: int | None = None) -> None:
        if not isinstance(workers, int) or workers < 0:
            raise ConfigError(f"--workers {workers!r}: give 0 (one per CPU core) or a positive integer")
        self.workers = workers or (os.cpu_count() or 1)
        self.threads = threads or min(os.cpu_count() or 1, 4)
        self._threads = None
        # read tasks and the partitioned band shuffle (what the Ray engine does) are off by default here:
        # the driver reads and sorts bands as before; tests turn them on to check both give the same tables
        self.partitions = partitions
        self.shard_bytes = shard_bytes

    def pool(self, init: Callable[..., None] | None = None, initargs: tuple = ()) -> TaskPool:
        """A process pool whose workers ran ``init(*initargs)``; use it in a ``with`` block."""
        return TaskPool(self.workers, init, initargs)

    def close(self) -> None:
        self.close_threads()

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "workers": self.workers, "threads": self.threads}

    def __enter__(self) -> "LocalEngine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
