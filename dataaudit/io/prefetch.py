"""Read ahead in a background thread, so decoding the next batch overlaps work on this one.

pyarrow's Parquet/CSV/IPC decoding and dataaudit's normalization both release the GIL, so on two cores the
exact pass runs at close to max(read, hash) instead of read + hash.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield ``items`` in order, producing up to ``depth`` ahead in a thread; errors re-raise here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for x in items:
                if stop.is_set():
                    return
                q.put((True, x))
            q.put((True, _DONE))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            q.put((False, e))

    t = threading.Thread(target=work, name="dataaudit-prefetch", daemon=True)
    t.start()
    try:
        while True:
            ok, x = q.get()
            if not ok:
                raise x
            if x is _DONE:
                return
            yield x
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.01)
