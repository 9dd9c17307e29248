"""dataaudit.interrupt: the guarantees behind "Ctrl-C always ends the run", each in a process of its own
(a SIGINT handler belongs to a process): a deferred block is never cut in two, a clean-up that blocks is
ended by the watchdog (workers killed, staging removed, exit 2), a second Ctrl-C ends the run at once, and
a process started with SIGINT ignored keeps ignoring it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@contextlib.contextmanager
def _children_get(disposition):
    """Start children with this SIGINT disposition: a handler here becomes the default action after exec,
    SIG_IGN stays ignored (no ``preexec_fn``: it can deadlock a child forked from a threaded pytest)."""
    old = signal.signal(signal.SIGINT, disposition)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _run(code: str, *, timeout: float = 60, ignore_sigint: bool = False) -> subprocess.CompletedProcess:
    with _children_get(signal.SIG_IGN if ignore_sigint else signal.default_int_handler):
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                              timeout=timeout)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1].startswith("Z")      # a zombie: dead, not yet reaped
    except OSError:
        return True


def test_a_deferred_block_finishes_before_the_interrupt():
    r = _run("""
        import os, signal, sys
        from dataaudit import interrupt
        assert interrupt.install()
        done = []
        try:
            with interrupt.deferred():
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):           # the handler has run by now: it must not have raised
                    sum(range(100))
                done.append("block")
            done.append("after")                # never reached: the interrupt comes as the block ends
        except KeyboardInterrupt:
            done.append("interrupt")
        print(",".join(done))
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "block,interrupt"


def test_a_blocked_cleanup_is_ended_by_the_watchdog(tmp_path):
    stage = tmp_path / "staging-x"
    pidfile = tmp_path / "child.pid"
    r_start = time.monotonic()
    r = _run(f"""
        import os, signal, subprocess, sys, time
        from dataaudit import interrupt
        interrupt.GRACE_S = 1.0
        interrupt.install()
        os.makedirs({str(stage)!r})
        interrupt.on_forced_exit({str(stage)!r})
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)
        except KeyboardInterrupt:
            time.sleep(120)                     # a clean-up that never ends
        print("not reached")
    """)
    took = time.monotonic() - r_start
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "interrupted" in r.stderr and "longer than 1 s" in r.stderr, r.stderr
    assert "not reached" not in r.stdout
    assert not stage.exists()
    assert took < 30, took
    pid = int(pidfile.read_text())
    for _ in range(50):                          # SIGKILLed: gone once its parent (init) reaps it
        if _gone(pid):
            break
        time.sleep(0.1)
    else:
        pytest.fail("the worker outlived the run")


def test_a_second_ctrl_c_ends_the_run_at_once():
    r = _run("""
        import os, signal, time
        from dataaudit import interrupt
        interrupt.install()
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)
        except KeyboardInterrupt:
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C again during a slow clean-up
            time.sleep(30)
        print("not reached")
    """, timeout=20)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "a second Ctrl-C" in r.stderr and "not reached" not in r.stdout


def test_sigint_ignored_at_start_stays_ignored():
    r = _run("""
        import os, signal
        from dataaudit import interrupt
        print(interrupt.install())
        os.kill(os.getpid(), signal.SIGINT)
        print("still here")
    """, ignore_sigint=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "still", "here"]


def test_a_pool_interrupted_while_it_is_made_is_terminated():
    """The Ctrl-C lands inside ``Pool()`` (here: as its worker-keeping thread starts). The pool is made whole,
    the interrupt comes after, and the pool's workers are terminated there and then (without the deferral
    nobody owned the half-made pool, and its workers lived on until the interpreter's exit)."""
    r = _run("""
        import multiprocessing, os, signal, threading
        from dataaudit import interrupt
        from dataaudit.engine.local import TaskPool
        interrupt.install()
        start = threading.Thread.start
        def start_then_ctrl_c(self):
            start(self)
            threading.Thread.start = start
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread.start = start_then_ctrl_c
        try:
            with TaskPool(2, None, ()) as pool:
                print("entered")
        except KeyboardInterrupt:
            print("interrupted", len(multiprocessing.active_children()))
    """, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["interrupted", "0"], r.stdout


def test_pool_terminate_that_would_block_for_ever_is_bounded():
    """multiprocessing's ``Pool.terminate()`` drains the task pipe once; a task the feeder thread starts to
    write just after (larger than the pipe buffer, as a batch of documents is) blocks it, and terminate's
    join of it, for ever. Made to happen here by slowing the feeder's write; ``TaskPool.close(error=True)``
    must still return in bounded time with no worker left."""
    r = _run("""
        import multiprocessing, sys, time
        from dataaudit.engine.local import TaskPool

        if __name__ == "__main__":
            tp = TaskPool(2, None, ())
            pool = tp._pool
            w = pool._inqueue._writer
            write = w._send_bytes
            def slow(buf):
                time.sleep(0.3)                 # the drain finds the pipe empty while this waits
                write(buf)
            w._send_bytes = slow
            pool.apply_async(time.sleep, (3,))
            pool.apply_async(time.sleep, (3,))  # both workers busy: nobody reads the pipe
            time.sleep(2.0)
            pool.apply_async(len, (b"x" * 2_000_000,))
            time.sleep(0.1)
            t0 = time.monotonic()
            tp.close(error=True)
            print(round(time.monotonic() - t0, 1), len(multiprocessing.active_children()))
    """, timeout=60)
    assert r.returncode == 0, r.stderr[-3000:]
    took, left = r.stdout.split()
    assert float(took) < 10 and left == "0", r.stdout
