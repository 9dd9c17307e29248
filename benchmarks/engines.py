"""The same split audit with ``--engine local`` and ``--engine ray``: wall time, driver peak memory, identical
findings, and Ray's overhead on one node as a ratio.

    python benchmarks/engines.py [--train 200000] [--val 20000] [--workers 2] [--repeat 3] [--quick]
                                 [--dir /tmp/da-engines]

Writes a random-word corpus once as Parquet under ``--dir`` (reused when present): val holds exact copies,
edited copies (near duplicates) and halves of train documents, so every pass has findings. Each run is a fresh
``python -m dataaudit split`` (exact, near, containment) in its own process, so the driver's peak RSS is that
process's own (Ray's raylet, GCS and actors are other processes and not counted; the local engine's worker
processes are not counted either: both columns are the driver's). With ``--engine ray`` and no address, the
run starts its own local Ray runtime, so the Ray figure includes the runtime's start (a few seconds), which
is what a one-node user pays; the near phase is also given alone. Every run's findings tables are compared
with the first local run's (table equality and file bytes). ``--quick``: 20k x 2k, one repeat.
Ends with ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from dataaudit.cli import main
rc = main(sys.argv[1:])
wall = time.perf_counter() - t0
print(json.dumps({"rc": rc, "wall": wall, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}),
      file=sys.stderr)
"""


def make_corpus(d: Path, n_train: int, n_val: int, seed: int = 0) -> tuple[Path, Path]:
    marker = d / f"corpus-{n_train}-{n_val}.done"
    if marker.exists():
        return d / "train", d / "val.parquet"
    (d / "train").mkdir(parents=True, exist_ok=True)
    for p in d.rglob("*.parquet"):
        p.unlink()
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(20000)], dtype=object)
    zipf = 1.0 / np.arange(1, len(vocab) + 1)
    zipf /= zipf.sum()

    def docs(n):
        lens = np.clip(rng.lognormal(np.log(120), 0.5, n).astype(int), 20, 1000)
        words = vocab[rng.choice(len(vocab), int(lens.sum()), p=zipf)].tolist()
        ends = np.cumsum(lens)
        return [" ".join(words[e - k:e]) for e, k in zip(ends.tolist(), lens.tolist())]

    src_idx = rng.choice(n_train, n_val // 2, replace=False)
    picked: dict[int, str] = {}
    shard = 50_000
    for s in range(0, n_train, shard):
        texts = docs(min(shard, n_train - s))
        for g in src_idx[(src_idx >= s) & (src_idx < s + len(texts))]:
            picked[int(g)] = texts[g - s]
        pq.write_table(pa.table({"id": [f"t{i}" for i in range(s, s + len(texts))], "text": texts}),
                       d / "train" / f"train-{s // shard:04d}.parquet")
    val = docs(n_val)
    for k, g in enumerate(src_idx):                  # half of val comes from train: copies, edits, halves
        w = picked[int(g)].split()
        if k % 3 == 0:
            val[k] = " ".join(w)
        elif k % 3 == 1:
            for j in rng.choice(len(w), max(1, len(w) // 10), replace=False):
                w[j] = f"edit{rng.integers(1 << 30)}"
            val[k] = " ".join(w)
        else:
            val[k] = " ".join(w[: len(w) // 2])
    pq.write_table(pa.table({"id": [f"v{i}" for i in range(n_val)], "text": val}), d / "val.parquet")
    marker.write_text("ok")
    return d / "train", d / "val.parquet"


def run(engine: str, workers: int, train: Path, val: Path, out: Path) -> dict:
    args = ["split", "--train", str(train), "--val", str(val), "--id-column", "id", "--out", str(out),
            "--engine", engine, "--workers", str(workers), "--quiet", "--format", "json", "--fail-on", "never"]
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, cwd=ROOT)
    outer = time.perf_counter() - t0
    stat = next((json.loads(line) for line in reversed(p.stderr.splitlines()) if line.startswith('{"rc"')), None)
    if p.returncode or stat is None or stat["rc"] not in (0, 1):
        raise SystemExit(f"{engine} run failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    report = json.loads((out / "report.json").read_text())
    phases = {ph["name"]: ph["seconds"] for ph in report.get("phases", [])}
    return {"wall_s": stat["wall"], "process_s": outer, "driver_peak_mb": stat["peak_mb"], "phases": phases,
            "leaked_docs": report["summary"].get("leaked_docs")}


def tables(out: Path) -> dict[str, tuple[pa.Table, bytes]]:
    return {str(p.relative_to(out)): (pq.read_table(p), p.read_bytes())
            for p in sorted(out.rglob("*.parquet")) if ".dataaudit" not in p.parts}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k][0].equals(b[k][0]) and a[k][1] == b[k][1] for k in a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", type=int, default=200_000)
    ap.add_argument("--val", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="20k x 2k, one repeat")
    ap.add_argument("--dir", default="/tmp/da-engines")
    a = ap.parse_args()
    if a.quick:
        a.train, a.val, a.repeat = 20_000, 2_000, 1
    d = Path(a.dir) / f"{a.train}x{a.val}"
    t0 = time.perf_counter()
    train, val = make_corpus(d, a.train, a.val)
    print(f"corpus {a.train:,} train x {a.val:,} val in {d} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    runs: dict[str, list[dict]] = {"local": [], "ray": []}
    ref = None
    identical = True
    for r in range(a.repeat):
        for engine in ("local", "ray"):                       # interleaved: load changes hit both alike
            out = Path(a.dir) / f"out-{engine}"
            res = run(engine, a.workers, train, val, out)
            t = tables(out)
            ref = ref or t
            identical &= same(ref, t)
            runs[engine].append(res)
            print(f"repeat {r + 1}/{a.repeat} {engine:5s}: {res['wall_s']:.1f} s, near {res['phases'].get('near')} s,"
                  f" driver peak {res['driver_peak_mb']:.0f} MB, leaked {res['leaked_docs']}", file=sys.stderr)

    def med(engine, key):
        return statistics.median(x[key] for x in runs[engine])

    def med_phase(engine, name):
        vals = [x["phases"].get(name) for x in runs[engine] if x["phases"].get(name) is not None]
        return statistics.median(vals) if vals else None

    result = {"train": a.train, "val": a.val, "workers": a.workers, "repeat": a.repeat, "cpus": os.cpu_count(),
              "identical_findings": identical}
    for engine in runs:
        result[engine] = {"wall_s": round(med(engine, "wall_s"), 2), "driver_peak_mb": round(med(engine, "driver_peak_mb")),
                          "phases_s": {n: med_phase(engine, n) for n in runs[engine][0]["phases"]}}
    result["ray_over_local_wall"] = round(result["ray"]["wall_s"] / result["local"]["wall_s"], 3)
    ln, rn = med_phase("local", "near"), med_phase("ray", "near")
    result["ray_over_local_near_phase"] = round(rn / ln, 3) if ln and rn else None
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
