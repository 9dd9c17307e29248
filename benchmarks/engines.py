"""The same split audit with ``--engine local`` and ``--engine ray``: wall time, driver peak memory, identical
findings, and Ray's overhead on one node as a ratio.

    python benchmarks/engines.py [--train 200000] [--val 20000] [--workers 2] [--repeat 3] [--quick]
                                 [--dir /tmp/da-engines] [--passes all|exact|near|containment]

Writes a random-word corpus once as Parquet under ``--dir`` (reused when present; train in files of
``--row-group`` rows per row group, so the Ray engine's read tasks have shards to hand out): val holds exact
copies, edited copies (near duplicates) and halves of train documents, so every pass has findings. Each run
is a fresh ``python -m dataaudit split`` (exact, near, containment) in its own process, and the driver's peak
RSS is that process's own ``VmHWM`` (``_bench.run_child_rss``; Ray's raylet, GCS and actors are other
processes and not counted; the local engine's worker processes are not counted either: both columns are the
driver's). With ``--engine ray`` and no address, the
run starts its own local Ray runtime, so the Ray figure includes the runtime's start (a few seconds), which
is what a one-node user pays; the near phase is also given alone. Every run's findings tables are compared
with the first local run's (table equality and file bytes). ``--quick``: 20k x 2k, one repeat.
Ends with ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import add_common_args, ratio_spread, result_line, run_child_rss, spread  # noqa: E402

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from dataaudit.cli import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "wall": time.perf_counter() - t0}), file=sys.stderr)
"""


def make_corpus(d: Path, n_train: int, n_val: int, seed: int = 0, row_group: int = 10_000) -> tuple[Path, Path]:
    marker = d / f"corpus-{n_train}-{n_val}-rg{row_group}.done"
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
                       d / "train" / f"train-{s // shard:04d}.parquet", row_group_size=row_group)
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
    pq.write_table(pa.table({"id": [f"v{i}" for i in range(n_val)], "text": val}), d / "val.parquet",
                   row_group_size=row_group)
    marker.write_text("ok")
    return d / "train", d / "val.parquet"


PASSES = {"all": [], "exact": ["--no-near", "--no-containment"], "near": ["--no-containment"],
          "containment": ["--no-near"]}


def run(engine: str, workers: int, train: Path, val: Path, out: Path, passes: str = "all") -> dict:
    args = ["split", "--train", str(train), "--val", str(val), "--id-column", "id", "--out", str(out),
            "--engine", engine, "--workers", str(workers), "--quiet", "--format", "json", "--fail-on", "never",
            *PASSES[passes]]
    outer, peak, p = run_child_rss([sys.executable, "-c", CHILD, *args], env={**os.environ, "PYTHONPATH": str(ROOT)})
    stat = next((json.loads(line) for line in reversed(p.stderr.splitlines()) if line.startswith('{"rc"')), None)
    if p.returncode or stat is None or stat["rc"] not in (0, 1):
        raise SystemExit(f"{engine} run failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    report = json.loads((out / "report.json").read_text())
    phases = {ph["name"]: ph["seconds"] for ph in report.get("phases", [])}
    return {"wall_s": stat["wall"], "process_s": outer, "driver_peak_mb": peak / 2**20, "phases": phases,
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
    ap.add_argument("--row-group", type=int, default=10_000, help="rows per Parquet row group of the corpus")
    ap.add_argument("--dir", default="/tmp/da-engines")
    ap.add_argument("--passes", choices=sorted(PASSES), default="all",
                    help="the split's passes: all, or exact alone, or exact + near / exact + containment "
                         "(where the driver's peak memory comes from)")
    add_common_args(ap, repeat=3)
    a = ap.parse_args()
    if a.quick:
        a.train, a.val, a.repeat = 20_000, 2_000, 1
    d = Path(a.dir) / f"{a.train}x{a.val}"
    t0 = time.perf_counter()
    train, val = make_corpus(d, a.train, a.val, row_group=a.row_group)
    print(f"corpus {a.train:,} train x {a.val:,} val in {d} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    runs: dict[str, list[dict]] = {"local": [], "ray": []}
    ref = None
    identical = True
    for r in range(a.repeat):
        for engine in ("local", "ray"):                       # interleaved: load changes hit both alike
            out = Path(a.dir) / f"out-{engine}"
            res = run(engine, a.workers, train, val, out, a.passes)
            t = tables(out)
            ref = ref or t
            identical &= same(ref, t)
            runs[engine].append(res)
            print(f"repeat {r + 1}/{a.repeat} {engine:5s}: {res['wall_s']:.1f} s, phases {res['phases']}, "
                  f"driver peak {res['driver_peak_mb']:.0f} MB, leaked {res['leaked_docs']}, load "
                  f"{os.getloadavg()[0]:.1f}", file=sys.stderr)

    def col(engine, key):
        return [x[key] for x in runs[engine]]

    def phase(engine, name):
        return [x["phases"][name] for x in runs[engine] if x["phases"].get(name) is not None]

    figures = {}
    for engine in runs:
        figures[engine] = {"wall_s": spread(col(engine, "wall_s"), 2),
                           "driver_peak_mb": spread(col(engine, "driver_peak_mb"), 0),
                           "phases_s": {n: spread(phase(engine, n), 2) for n in runs[engine][0]["phases"]}}
        print(f"{engine:5s}: wall {figures[engine]['wall_s']}, driver peak {figures[engine]['driver_peak_mb']} MB")
    ratios = {"ray_over_local_wall": ratio_spread(col("ray", "wall_s"), col("local", "wall_s")),
              "ray_over_local_driver_peak": ratio_spread(col("ray", "driver_peak_mb"), col("local", "driver_peak_mb")),
              "ray_over_local_exact_phase": ratio_spread(phase("ray", "exact"), phase("local", "exact")),
              "ray_over_local_near_phase": ratio_spread(phase("ray", "near"), phase("local", "near")),
              "ray_over_local_containment_phase": ratio_spread(phase("ray", "containment"),
                                                               phase("local", "containment"))}
    print(f"ray / local: {ratios}")
    result_line("engines", figures={"ray": figures["ray"]}, baselines={"local": figures["local"]}, ratios=ratios,
                packages=("dataaudit", "numpy", "pyarrow", "ray"), train=a.train, val=a.val, workers=a.workers,
                repeat=a.repeat, passes=a.passes, identical_findings=identical, leaked_docs=runs["local"][0]["leaked_docs"])


if __name__ == "__main__":
    main()
