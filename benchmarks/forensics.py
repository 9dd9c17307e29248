"""Forensics mapping throughput: a 1M-step OLMo-style order, 1,000 spike steps resolved to documents.

Builds (once, in a temp dir) raw uint16 token files holding 1M instances of ``--seq`` tokens with documents
ending in EOS, and a raw uint32 ``global_indices.npy`` of 1M steps x ``--batch`` instances (as OLMo writes
them), then times ``OlmoOrder.pieces`` for 1,000 random steps (no decoding): median of ``--repeats`` runs,
with the peak RSS growth. ``--repeat N``: the median and range of N runs; ``--quick``: 100k steps, 100k instances,
200 spike steps, one run. Ends with a ``RESULT {json}`` line.

    python benchmarks/forensics.py [--steps 1000000] [--batch 64] [--seq 64] [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import add_common_args, result_line, spread  # noqa: E402

from dataaudit.forensics.order.olmo import OlmoOrder  # noqa: E402


def build(d: Path, steps: int, batch: int, seq: int, instances: int) -> tuple[Path, list[Path]]:
    rng = np.random.default_rng(0)
    files = []
    per_file = instances // 4
    for f in range(4):
        p = d / f"part-{f}.npy"
        mm = np.memmap(p, dtype=np.uint16, mode="w+", shape=(per_file * seq,))
        chunk = 1 << 22
        for lo in range(0, mm.size, chunk):
            n = min(chunk, mm.size - lo)
            t = rng.integers(1, 50_000, size=n, dtype=np.uint16)
            t[rng.random(n) < 1 / 300] = 0          # documents of ~300 tokens, EOS = 0
            mm[lo:lo + n] = t
        mm.flush()
        files.append(p)
    gi = d / "global_indices.npy"
    mm = np.memmap(gi, dtype=np.uint32, mode="w+", shape=(steps * batch,))
    chunk = 1 << 24
    for lo in range(0, mm.size, chunk):
        n = min(chunk, mm.size - lo)
        mm[lo:lo + n] = rng.integers(0, per_file * 4, size=n, dtype=np.uint32)
    mm.flush()
    return gi, files


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--instances", type=int, default=1_000_000)
    ap.add_argument("--spikes", type=int, default=1000)
    add_common_args(ap, repeat=3)
    ap.add_argument("--repeats", type=int, dest="repeat", help=argparse.SUPPRESS)   # the older spelling
    a = ap.parse_args()
    if a.quick:
        a.steps, a.instances, a.spikes, a.repeat = min(a.steps, 100_000), min(a.instances, 100_000), \
            min(a.spikes, 200), 1
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        gi, files = build(Path(tmp), a.steps, a.batch, a.seq, a.instances)
        build_s = time.perf_counter() - t0
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        times, n_pieces = [], 0
        steps = np.random.default_rng(1).choice(np.arange(1, a.steps + 1), size=a.spikes, replace=False).tolist()
        for _ in range(a.repeat):
            o = OlmoOrder(gi, data=files, batch=a.batch, seq=a.seq, eos=0, decode=False)
            t0 = time.perf_counter()
            got = o.pieces(steps)
            times.append(time.perf_counter() - t0)
            n_pieces = sum(len(v) for v in got.values())
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        res = {"order_steps": a.steps, "global_batch": a.batch, "seq": a.seq,
               "resolved_steps": a.spikes, "instances": a.spikes * a.batch, "documents": n_pieces,
               "seconds": spread(times, 3), "steps_per_s": spread([a.spikes / t for t in times], 1),
               "median_s": round(statistics.median(times), 3), "runs_s": [round(t, 3) for t in times],
               "indices_file_mb": round(gi.stat().st_size / 2**20, 1),
               "rss_growth_mb": round((rss1 - rss0) / 1024, 1), "build_s": round(build_s, 1)}
    print(f"resolved {a.spikes} steps of a {a.steps:,}-step order ({n_pieces:,} documents): "
          f"{res['seconds']['median']} s median [{res['seconds']['min']}, {res['seconds']['max']}] over {a.repeat} "
          f"runs, {res['steps_per_s']['median']:,} steps/s; RSS growth {res['rss_growth_mb']} MB (no baseline: "
          f"nothing else maps OLMo's global_indices.npy to documents)")
    result_line("forensics_olmo_mapping", figures=res, quick=a.quick, packages=("dataaudit", "numpy"))


if __name__ == "__main__":
    main()
