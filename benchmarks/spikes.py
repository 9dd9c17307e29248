"""Benchmark: spike detection over a 1M-step loss log (target < 10 s), beside a naive pandas baseline.

    python benchmarks/spikes.py [--steps 1000000] [--text]

The curve: a decaying loss with log-normal per-step noise (sigma 2%) and 50 planted spikes (x1.5).
Timed, in one run on the same data:
  * dataaudit.logs.score_series  (causal trailing median + successive-difference scale, numpy blocks)
  * dataaudit.logs.analyze_table on the in-memory table (all diagnoses, no plots, no files)
  * baseline: pandas rolling(50).median().shift(1) and a rolling median of |x - median| (the usual
    pandas way to write a rolling robust z; no warm-up, no events)
  * with --text: writing a 1M-line nanoGPT log and reading it back with read_logs
Both detectors are scored on recall of the planted spikes and on flagged points elsewhere.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa


def make_curve(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    s = np.arange(n, dtype=np.int64)
    v = (2.5 + 8.0 * np.exp(-s / 3000.0)) * np.exp(0.02 * rng.standard_normal(n))
    planted = np.sort(rng.choice(np.arange(1000, n), size=50, replace=False))
    v[planted] *= 1.5
    return s, v, planted


def pandas_baseline(v: np.ndarray, window: int = 50, threshold: float = 6.0) -> np.ndarray:
    import pandas as pd

    x = pd.Series(np.log(v))
    med = x.rolling(window).median().shift(1)
    mad = (x - med).abs().rolling(window).median().shift(1)
    z = (x - med) / (1.4826 * mad)
    return np.flatnonzero((z > threshold).to_numpy())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--text", action="store_true", help="also time writing + reading a text log")
    a = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from dataaudit.logs import analyze_table, read_logs, score_series
    from dataaudit.logs.table import LOG_SCHEMA

    s, v, planted = make_curve(a.steps)
    pset = set(planted.tolist())

    t0 = time.perf_counter()
    sc = score_series(s, v)
    t_detect = time.perf_counter() - t0
    found = {x["step"] for x in sc.spikes}
    rec = len(found & pset) / len(pset)
    extra = len(found - pset)

    table = pa.table({"run": pa.array(["bench"] * a.steps), "step": pa.array(s), "metric": pa.array(["loss"] * a.steps),
                      "value": pa.array(v), "wall_time": pa.array(np.full(a.steps, np.nan))}, schema=LOG_SCHEMA)
    t0 = time.perf_counter()
    rep, _ = analyze_table(table)
    t_analyze = time.perf_counter() - t0

    t0 = time.perf_counter()
    flagged = pandas_baseline(v)
    t_pandas = time.perf_counter() - t0
    bset = set(flagged.tolist())
    b_rec = len(bset & pset) / len(pset)
    b_extra = len(bset - pset)

    print(f"steps: {a.steps:,}   planted spikes: {len(pset)}")
    print(f"{'method':<46} {'seconds':>8} {'recall':>7} {'other flags':>12} {'per 1k steps':>13}")
    print(f"{'dataaudit score_series (detection)':<46} {t_detect:8.2f} {rec:7.2f} {extra:12d} {1000 * extra / a.steps:13.4f}")
    print(f"{'dataaudit analyze_table (all diagnoses)':<46} {t_analyze:8.2f} {'':>7} "
          f"{rep.summary['spikes'] - len(pset & {x['step'] for x in sc.spikes}):12d}")
    print(f"{'baseline pandas rolling median/MAD (z>6)':<46} {t_pandas:8.2f} {b_rec:7.2f} {b_extra:12d} "
          f"{1000 * b_extra / a.steps:13.4f}")
    if a.text:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "run.txt"
            t0 = time.perf_counter()
            with open(p, "w") as f:
                for i in range(a.steps):
                    f.write(f"step:{i}/{a.steps} train_loss:{v[i]:.4f} train_time:{i}ms step_avg:1.00ms\n")
            t_write = time.perf_counter() - t0
            t0 = time.perf_counter()
            t = read_logs(p)
            t_read = time.perf_counter() - t0
            print(f"{'write 1M-line nanoGPT text log (setup)':<46} {t_write:8.2f}")
            print(f"{'read_logs of that text log':<46} {t_read:8.2f}   rows={t.num_rows:,}")


if __name__ == "__main__":
    main()
