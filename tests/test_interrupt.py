"""Ctrl-C always ends the run: SIGINT at random points of a split audit (1 and 2 workers), every run must
exit within a timeout, say it was interrupted, and leave no staging behind and the previous report intact."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

TRIES = 30          # 30 random points x ~1.5 s: the 50 would cost the CI budget for little more cover


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("sigint")
    rng = random.Random(0)
    words = [f"w{i}" for i in range(3000)]
    with open(d / "train.jsonl", "w") as f:
        for i in range(30000):
            f.write(json.dumps({"text": " ".join(rng.choices(words, k=60))}) + "\n")
    with open(d / "val.jsonl", "w") as f:
        for i in range(3000):
            f.write(json.dumps({"text": " ".join(rng.choices(words, k=60))}) + "\n")
    return d


def _marked(marker: str) -> list[tuple[int, str]]:
    """Processes whose environment holds ``marker`` (a run and everything it started), with their command."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if b"\0" + marker.encode() + b"\0" not in b"\0" + f.read():
                    continue
            with open(f"/proc/{name}/stat", "rb") as f:
                if f.read().rsplit(b") ", 1)[1].startswith(b"Z"):
                    continue                           # a zombie holds nothing
            with open(f"/proc/{name}/cmdline", "rb") as f:
                found.append((int(name), f.read().replace(b"\0", b" ").decode(errors="replace")[:120]))
        except OSError:
            continue
    return found


@contextlib.contextmanager
def _children_see_ctrl_c():
    """A run must see Ctrl-C even where pytest was started with SIGINT ignored (nohup, `cmd &`): a handler
    here is the default action in a child after exec (SIG_IGN would be inherited). No ``preexec_fn``: in a
    pytest made threaded by a Ray runtime it can deadlock the child before exec."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds a run's processes through /proc")
def test_sigint_at_random_points_always_ends_the_run(big_corpus, tmp_path):
    """Ends: the command exits and no process it started (pool workers, the resource tracker) is left. Its
    stderr goes to a file, so a straggler cannot hide behind an open pipe; where a run does not end, the
    failure says which process is left and, for the command itself, where its threads stood (faulthandler
    on SIGABRT)."""
    out = tmp_path / "r"
    base = [sys.executable, "-m", "dataaudit", "split", "--train", str(big_corpus / "train.jsonl"),
            "--val", str(big_corpus / "val.jsonl"), "--out", str(out), "--quiet", "--fail-on", "never"]
    done = subprocess.run(base, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    before = (out / "report.json").read_text()
    rng = random.Random(1)
    outcomes = {"interrupted": 0, "finished": 0, "published, then interrupted": 0, "ended by the watchdog": 0}
    for k in range(TRIES):
        workers = 1 + k % 2
        marker = f"DATAAUDIT_SIGINT_TRY={os.getpid()}-{k}"
        env = dict(os.environ, PYTHONFAULTHANDLER="1", DATAAUDIT_SIGINT_TRY=marker.split("=")[1])
        errf = tmp_path / f"err{k}.txt"
        with open(errf, "w") as ef, _children_see_ctrl_c():
            p = subprocess.Popen(base + ["--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=ef,
                                 env=env)
            time.sleep(rng.uniform(0.2, 2.0))
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGABRT)          # faulthandler writes every thread's stack to errf
                time.sleep(2)
                left = _marked(marker)
                for pid, _ in left:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                pytest.fail(f"try {k}: the run did not end within 30 s of SIGINT (workers {workers}); "
                            f"processes left: {left}; its stderr:\n{errf.read_text()[-6000:]}")
        left = _marked(marker)
        for _ in range(50):                            # the tracker goes once the last worker has gone
            if not left:
                break
            time.sleep(0.1)
            left = _marked(marker)
        for pid, _ in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        err = errf.read_text()
        assert not left, (k, workers, p.returncode, left, err[-3000:])
        if p.returncode == 0:
            outcomes["finished"] += 1        # it had finished before the signal: a complete new report
            before = (out / "report.json").read_text()
        elif "published in full" in err:     # the Ctrl-C came during or after the publish: a new report, whole
            assert p.returncode == 2, (k, p.returncode, err)
            outcomes["published, then interrupted"] += 1
            new = json.loads((out / "report.json").read_text())
            assert new["kind"] == "split" and (out / "report.md").exists(), k
            before = (out / "report.json").read_text()
        else:
            # 2: our handler's exit; -SIGINT: the interpreter re-raised the signal while shutting down after
            # the handler had run (seen once in 30 tries with 2 workers). Either way the run ended at once.
            assert p.returncode in (2, -signal.SIGINT), (k, p.returncode, err)
            assert "interrupted" in err, (k, p.returncode, err)
            # the watchdog's exit is the promise kept (ended within GRACE_S), counted apart
            outcomes["ended by the watchdog" if "ended at once" in err else "interrupted"] += 1
            assert (out / "report.json").read_text() == before
        assert not list((out / ".dataaudit").glob("staging*")), (k, p.returncode, err[-3000:])
    assert outcomes["interrupted"] + outcomes["ended by the watchdog"] >= TRIES // 2, outcomes
    print("outcomes:", outcomes)


def test_ctrl_c_wrapped_by_python_is_still_reported_as_interrupted(monkeypatch, capsys):
    """A SIGINT that lands while a class is being set up (a lazy import mid-run) reaches main as Python wraps
    it: on 3.11 ``RuntimeError: Error calling __set_name__`` with the KeyboardInterrupt as its cause (seen on
    CI at try 9 of the test above). It must read as an interruption, not as an internal error."""
    from dataaudit import cli

    class Field:
        def __set_name__(self, owner, name):
            raise KeyboardInterrupt

    def dispatch(argv):
        type("RunInfo", (), {"markers": Field()})     # the same path as a class body of a lazily imported module
        return 0

    def wrapped(argv):                                  # the same shape made by hand: 3.12+ no longer wraps
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance 'markers' in 'RunInfo'") from e

    def during_cleanup(argv):                           # an error raised while handling the Ctrl-C
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise OSError("could not remove the staging directory")

    for f in (dispatch, wrapped, during_cleanup):
        monkeypatch.setattr(cli, "_dispatch", f)
        assert cli.main(["split"]) == 2
        err = capsys.readouterr().err
        assert "interrupted" in err and "internal error" not in err, (f.__name__, err)

    def broken(argv):                                   # a real crash still says internal error
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_dispatch", broken)
    assert cli.main(["split"]) == 2
    assert "internal error: RuntimeError: boom" in capsys.readouterr().err
