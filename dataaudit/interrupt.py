"""Ctrl-C always ends the run, within a bounded time, and never half-publishes.

``install()`` (called by the command-line entry point) puts in a SIGINT handler and a watchdog thread:

- the first Ctrl-C raises ``KeyboardInterrupt`` in the main thread, as Python's own handler does, so every
  ``finally`` and ``with`` block cleans up (pools terminated, staging removed, the previous report left as
  it was); later ones raise nothing (a clean-up is never cut in two), they go to the watchdog;
- inside ``deferred()`` blocks (creating a process pool, publishing the outputs) the interrupt is held back
  and raised when the block ends: a pool is then always whole and owned by code that terminates it, and a
  report is published whole or not at all;
- the watchdog hears of each Ctrl-C from the C-level signal handler (``signal.set_wakeup_fd``), so it knows
  even while the main thread sits in a long C call that runs no Python handler. If the run has not ended
  ``GRACE_S`` seconds after the first Ctrl-C (a clean-up that blocks), or at a second Ctrl-C, it lets a
  publish in progress finish (at most ``PUBLISH_WAIT_S``), kills the run's worker processes, removes the
  staging directories registered with ``on_forced_exit`` and exits with status 2.

A process started with SIGINT ignored (``nohup``, a background job of a non-interactive shell) keeps
ignoring it: ``install()`` leaves that disposition alone. A main thread that holds the GIL for ever is the
one case nothing in Python can end; Ctrl-\\ (SIGQUIT) or SIGKILL still do.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import threading
import time
from typing import Callable, Iterator

GRACE_S = 10.0               # a normal interrupted run ends in well under a second; 10 s is generous
PUBLISH_WAIT_S = 5.0         # a publish is a few renames
_LEFT = "dataaudit: interrupted; the previous report (if any) was left as it was"
_DONE = "dataaudit: interrupted after the new report was published in full"

_state = {"count": 0, "deferred": 0, "publishing": 0, "pending": False, "published": False, "installed": False}
_staging: set[str] = set()


def install() -> bool:
    """Use this module's SIGINT handler and watchdog in this process (main thread only); whether it did."""
    if _state["installed"]:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, None):
        return False
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    except (ValueError, OSError):
        os.close(r)
        os.close(w)
        r = None                 # the watchdog then learns of Ctrl-C from the Python handler's count
    signal.signal(signal.SIGINT, _handler)
    threading.Thread(target=_watchdog, args=(r,), name="dataaudit-interrupt-watchdog", daemon=True).start()
    _state["installed"] = True
    return True


def interrupted() -> bool:
    """Whether a Ctrl-C reached this process's handler."""
    return _state["count"] > 0


def message() -> str:
    """What an interrupted run says last: whether its new report was published (in full) or not at all."""
    return _DONE if _state["published"] else _LEFT


def new_run() -> None:
    """A command starts: nothing of it is published yet."""
    _state["published"] = False


def note_published() -> None:
    """The outputs of this run are in place (``io/publish.py``): an interrupt from now on says so."""
    _state["published"] = True


def _handler(signum, frame) -> None:
    _state["count"] += 1
    if _state["count"] > 1:
        return                   # the watchdog ends the run; a clean-up is not interrupted half-way
    if _state["deferred"]:
        _state["pending"] = True
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def deferred(*, publishing: bool = False) -> Iterator[None]:
    """A block that a Ctrl-C does not cut in two: the ``KeyboardInterrupt`` comes when it ends (if it ends
    with an error, that error goes on and ends the run). ``publishing``: the watchdog, too, lets it finish."""
    _state["deferred"] += 1
    _state["publishing"] += publishing
    ok = False
    try:
        yield
        ok = True
    finally:
        _state["deferred"] -= 1
        _state["publishing"] -= publishing
        if not _state["deferred"] and _state["pending"]:
            _state["pending"] = False
            if ok:
                raise KeyboardInterrupt


def on_forced_exit(path: str | os.PathLike) -> Callable[[], None]:
    """Register a staging directory to remove if the watchdog ends the run; returns the unregister call."""
    p = os.fspath(path)
    _staging.add(p)
    return lambda: _staging.discard(p)


def _watchdog(r: int | None) -> None:
    seen, deadline = 0, None
    while True:
        wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
        if r is not None:
            with contextlib.suppress(OSError, ValueError):
                if select.select([r], [], [], wait)[0]:
                    seen += os.read(r, 512).count(bytes([signal.SIGINT]))
        else:
            time.sleep(wait)
        presses = max(seen, _state["count"])
        if presses and deadline is None:
            deadline = time.monotonic() + GRACE_S
        if presses >= 2:
            _force_exit("a second Ctrl-C")
        if deadline is not None and time.monotonic() >= deadline:
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
    end = time.monotonic() + PUBLISH_WAIT_S
    while _state["publishing"] and time.monotonic() < end:
        time.sleep(0.02)
    kill_workers()
    for _ in range(3):
        with contextlib.suppress(RuntimeError):      # the set changed under us: read it again
            for p in list(_staging):
                shutil.rmtree(p, ignore_errors=True)
            break
    with contextlib.suppress(OSError):
        os.write(2, f"{message()} (ended at once: {why})\n".encode())
    os._exit(2)
