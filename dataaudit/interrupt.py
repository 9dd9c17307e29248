"""Ctrl-C always ends the run, within a bounded time, and never half-publishes.

``install()`` (called by the command-line entry point) puts in a SIGINT handler that:

- raises ``KeyboardInterrupt`` in the main thread, as Python's own handler does, so every ``finally`` and
  ``with`` block cleans up (pools terminated, staging removed, the previous report left as it was);
- holds the interrupt back inside ``deferred()`` blocks (creating a process pool, publishing the outputs),
  and raises it when the block ends: a pool is then always complete and owned by someone who terminates it,
  and a report is either published whole or not at all;
- starts a watchdog on the first Ctrl-C: if the run has not ended ``GRACE_S`` seconds later (a cleanup that
  blocks), it kills the run's worker processes, removes the staging directories registered with
  ``on_forced_exit`` and exits with status 2. A second Ctrl-C does the same at once.

A process started with SIGINT ignored (``nohup``, a background job of a non-interactive shell) keeps
ignoring it: ``install()`` leaves that disposition alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from typing import Callable, Iterator

GRACE_S = 10.0               # a normal interrupted run ends in well under a second; 10 s is generous
_MESSAGE = "dataaudit: interrupted; the previous report (if any) was left as it was"

_lock = threading.Lock()
_state = {"count": 0, "deferred": 0, "pending": False, "installed": False}
_staging: set[str] = set()


def install() -> bool:
    """Use this module's SIGINT handler in this process (main thread only); whether it was installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, None):
        return False
    signal.signal(signal.SIGINT, _handler)
    _state["installed"] = True
    return True


def interrupted() -> bool:
    """Whether a Ctrl-C reached this process's handler."""
    return _state["count"] > 0


def _handler(signum, frame) -> None:
    _state["count"] += 1
    if _state["count"] > 1:
        _force_exit("a second Ctrl-C")
    threading.Thread(target=_watchdog, name="dataaudit-interrupt-watchdog", daemon=True).start()
    if _state["deferred"]:
        _state["pending"] = True
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A block that a Ctrl-C does not cut in two: the ``KeyboardInterrupt`` comes when it ends."""
    _state["deferred"] += 1
    try:
        yield
    finally:
        _state["deferred"] -= 1
        if not _state["deferred"] and _state["pending"]:
            _state["pending"] = False
            if sys.exc_info()[0] is None:
                raise KeyboardInterrupt


def on_forced_exit(path: str | os.PathLike) -> Callable[[], None]:
    """Register a staging directory to remove if the watchdog ends the run; returns the unregister call."""
    p = os.fspath(path)
    with _lock:
        _staging.add(p)

    def forget() -> None:
        with _lock:
            _staging.discard(p)
    return forget


def _watchdog() -> None:
    time.sleep(GRACE_S)
    end = time.monotonic() + 3 * GRACE_S       # a publish in progress (a few renames) is let finish
    while _state["deferred"] and time.monotonic() < end:
        time.sleep(0.05)
    _force_exit(f"the clean-up took longer than {GRACE_S:.0f} s")


def _descendants(root: int) -> list[int]:
    """The processes under ``root`` (Linux ``/proc``; elsewhere the multiprocessing children)."""
    try:
        parent: dict[int, int] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat", "rb") as f:
                        stat = f.read()
                except OSError:
                    continue
                parent[int(name)] = int(stat[stat.rindex(b")") + 2:].split()[1])
    except OSError:
        import multiprocessing

        return [p.pid for p in list(multiprocessing.process._children) if p.pid]  # type: ignore[attr-defined]
    out, todo = [], [root]
    while todo:
        cur = todo.pop()
        kids = [pid for pid, pp in parent.items() if pp == cur]
        out += kids
        todo += kids
    return out


def _tracker_pid() -> int | None:
    """multiprocessing's resource tracker: left alive, it removes the run's semaphores once we are gone."""
    with contextlib.suppress(Exception):
        from multiprocessing import resource_tracker

        return resource_tracker._resource_tracker._pid  # type: ignore[attr-defined]
    return None


def kill_workers() -> int:
    """SIGKILL every process this one started (but the resource tracker); how many there were."""
    keep = _tracker_pid()
    pids = [p for p in _descendants(os.getpid()) if p != keep]
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def _force_exit(why: str) -> None:
    kill_workers()
    with _lock:
        for p in list(_staging):
            shutil.rmtree(p, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.write(2, f"{_MESSAGE} (ended at once: {why})\n".encode())
    os._exit(2)
