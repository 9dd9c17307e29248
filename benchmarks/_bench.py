"""What every benchmark shares: ``--quick`` / ``--repeat N``, medians with ranges, the ``RESULT {json}`` line.

A benchmark script does::

    from _bench import add_common_args, spread, result_line, run_child_rss

    ap = argparse.ArgumentParser(...); add_common_args(ap, repeat=3)
    ...
    times = [run() for _ in range(a.repeat)]
    result_line("name", figures={"docs_per_s": spread(rates)}, baselines={...}, ratios={...})

``spread`` gives the median and the range (never the best run); ``result_line`` adds the load average at the
end of the run, the versions of the packages named, and prints ``RESULT {json}`` as the last line.
``run_child_rss`` runs a command in a fresh process and reads that process's own peak RSS (``VmHWM``), so a
parent that grew while generating a corpus does not leak its peak into the figure (``ru_maxrss`` of
children is inherited across fork, which made an earlier exact-pass benchmark print the parent's peak).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Iterable, Sequence

DEFAULT_PACKAGES = ("dataaudit", "numpy", "pyarrow", "torch", "datasketch", "xxhash")


def add_common_args(ap: argparse.ArgumentParser, *, repeat: int = 3) -> None:
    """``--repeat N`` (median and range of N runs) and ``--quick`` (a smoke check under a minute)."""
    ap.add_argument("--repeat", type=int, default=repeat, help=f"runs per figure; median and range (default {repeat})")
    ap.add_argument("--quick", action="store_true", help="a smoke check: small inputs, one run, under a minute")


def spread(values: Iterable[float], digits: int = 4) -> dict[str, Any]:
    """Median, min, max and count of ``values`` (rounded): what a figure in a table quotes."""
    v = [float(x) for x in values]
    if not v:
        return {"median": None, "min": None, "max": None, "n": 0}
    r = (lambda x: round(x, digits)) if digits is not None else (lambda x: x)
    return {"median": r(statistics.median(v)), "min": r(min(v)), "max": r(max(v)), "n": len(v)}


def ratio_spread(num: Sequence[float], den: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """Per-repeat ratios num[i] / den[i] (runs paired in time, so load hits both alike), as a spread."""
    return spread([a / b for a, b in zip(num, den) if b], digits)


def versions(packages: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for p in packages:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = None
    return out


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def result_line(name: str, *, figures: dict, baselines: dict | None = None, ratios: dict | None = None,
                packages: Iterable[str] = DEFAULT_PACKAGES, **extra: Any) -> dict:
    """Print the ``RESULT {json}`` line (the last line a benchmark prints) and return its dict."""
    result = {"name": name, "date": time.strftime("%Y-%m-%d"), "figures": figures,
              "baselines": baselines or {}, "ratios": ratios or {}, **extra,
              "load_average": load_average(), "cpus": os.cpu_count(), "versions": versions(packages)}
    sys.stdout.flush()
    print("RESULT " + json.dumps(result, default=str), flush=True)
    return result


def skipped(name: str, why: str) -> None:
    """The RESULT line of a benchmark that could not run here (e.g. ``../shared/corpora`` absent)."""
    print("RESULT " + json.dumps({"name": name, "skipped": why}), flush=True)


def run_child_rss(cmd: Sequence[str], *, env: dict | None = None, timeout: float | None = None,
                  poll: float = 0.02) -> tuple[float, int, subprocess.CompletedProcess]:
    """Run ``cmd``; return (wall seconds, the child's own peak RSS in bytes, the finished process).

    The peak is the child's ``VmHWM`` read from /proc while it runs (the last value before it exits), which
    counts only that process; a command that starts grandchildren should be measured inside them.
    """
    t0 = time.perf_counter()
    p = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    peak = 0
    status = f"/proc/{p.pid}/status"
    while p.poll() is None:
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
                        break
        except OSError:
            pass
        if timeout is not None and time.perf_counter() - t0 > timeout:
            p.kill()
            break
        time.sleep(poll)
    out, err = p.communicate()
    wall = time.perf_counter() - t0
    return wall, peak, subprocess.CompletedProcess(p.args, p.returncode, out, err)


def hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def run_tree_rss(cmd: Sequence[str], poll: float = 0.05, env: dict | None = None) -> tuple[float, int, dict[int, int], subprocess.CompletedProcess]:
    """Like ``_bench.run_child_rss`` (the child's own VmHWM), plus the peak VmHWM of every descendant (the
    engine's worker processes), read from /proc while they run."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
        p = subprocess.Popen(list(cmd), stdout=so, stderr=se, text=True, env=env)
        peak, kids = 0, {}
        while p.poll() is None:
            peak = max(peak, hwm(p.pid))
            stack = children(p.pid)
            while stack:
                c = stack.pop()
                kids[c] = max(kids.get(c, 0), hwm(c))
                stack += children(c)
            time.sleep(poll)
        wall = time.perf_counter() - t0
        so.seek(0)
        se.seek(0)
        done = subprocess.CompletedProcess(cmd, p.returncode, so.read(), se.read())
    return wall, peak, {k: v for k, v in kids.items() if v}, done


def self_peak_rss() -> int:
    """This process's own peak RSS in bytes (``VmHWM``), for a benchmark that runs its work in a child."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0
