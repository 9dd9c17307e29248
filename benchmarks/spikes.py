"""Benchmark: ``dataaudit spikes`` end to end (read + detect + report with plots) on a 1M-line text log and a
1M-point TensorBoard file (target < 10 s each), detection alone, and baselines from the same run.

    python benchmarks/spikes.py [--steps 1000000] [--repeat 3] [--quick] [--cache-dir /tmp/...]

The curve: a decaying loss with log-normal per-step noise (sigma 2%) and 50 planted spikes (x1.5). Written as
a modded-nanoGPT text log (``step:N/M train_loss:X train_time:Tms step_avg:A ms``, a val_loss line every 250
steps, a script header as the real logs have) and as a TensorBoard event file written by torch's
SummaryWriter (one point every 0.5 s of wall time; cached under --cache-dir, writing 1M points takes minutes).

Timed, each --repeat times, median and range:
  * end to end: ``python -m dataaudit spikes --log LOG --out DIR`` as a subprocess (imports, reading, all
    diagnoses, Parquet tables, report.json/md/html, PNG plots), for the text log and the TensorBoard file;
    wall seconds and the child's CPU seconds (user + system: what a quiet machine's wall time approaches);
  * detection alone: ``dataaudit.logs.score_series`` on the in-memory series;
  * baseline detection: pandas rolling(50).median().shift(1) and a rolling median of |x - median| (the usual
    pandas way to write a causal robust z; no warm-up, no events);
  * baseline reading: the text log with pandas (``Series.str.extract`` of step and train_loss over the lines),
    the TensorBoard file with tensorboard's EventAccumulator (size_guidance 0: every point kept);
  * baseline pipeline = baseline reading + baseline detection (no report: less work than dataaudit's run).
Recall of the planted spikes is read from the run's spikes.parquet (and from the pandas flags).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import add_common_args, load_average, ratio_spread, result_line, spread  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def make_curve(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    s = np.arange(n, dtype=np.int64)
    v = (2.5 + 8.0 * np.exp(-s / 3000.0)) * np.exp(0.02 * rng.standard_normal(n))
    planted = np.sort(rng.choice(np.arange(1000, n), size=50, replace=False))
    v[planted] *= 1.5
    return s, v, planted


def write_text(path: Path, v: np.ndarray) -> None:
    n = v.size
    with open(path, "w") as f:
        f.write("import os\nimport torch\n    print0(f'step:{step}/{args.num_iterations} val_loss:{val_loss:.4f}')\n")
        for i in range(n):
            f.write(f"step:{i}/{n} train_loss:{v[i]:.4f} train_time:{i * 170}ms step_avg:170.00ms\n")
            if i % 250 == 0:
                f.write(f"step:{i}/{n} val_loss:{v[i] * 1.02:.4f} train_time:{i * 170}ms step_avg:170.00ms\n")


def write_tb(logdir: Path, v: np.ndarray) -> None:
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(log_dir=str(logdir), max_queue=10000, flush_secs=600)
    for i in range(v.size):
        w.add_scalar("train/loss", float(v[i]), i, walltime=1.7e9 + 0.5 * i)
    w.close()


def pandas_detect(v: np.ndarray, window: int = 50, threshold: float = 6.0) -> np.ndarray:
    import pandas as pd

    x = pd.Series(np.log(v))
    med = x.rolling(window).median().shift(1)
    mad = (x - med).abs().rolling(window).median().shift(1)
    z = (x - med) / (1.4826 * mad)
    return np.flatnonzero((z > threshold).to_numpy())


def pandas_read_text(path: Path) -> np.ndarray:
    import pandas as pd

    with open(path, encoding="utf-8", errors="replace") as f:
        lines = pd.Series(f.read().splitlines())
    got = lines.str.extract(r"^step:(\d+)/\d+ train_loss:(\S+)").dropna()
    return got[1].astype(float).to_numpy()


def tb_read_baseline(logdir: Path) -> np.ndarray:
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(logdir), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    return np.array([e.value for e in acc.Scalars("train/loss")])


def run_cli(log: Path, out: Path) -> tuple[float, float, set[int]]:
    """(wall seconds, the child's CPU seconds (user + system), spike steps found)."""
    import resource

    import pyarrow.parquet as pq

    cmd = [sys.executable, "-m", "dataaudit", "spikes", "--log", str(log), "--out", str(out), "--fail-on", "never"]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if p.returncode != 0:
        raise SystemExit(f"dataaudit spikes failed ({p.returncode}): {p.stderr[-2000:]}")
    return wall, cpu, set(pq.read_table(out / "spikes.parquet")["step"].to_pylist())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "dataaudit-bench-spikes"),
                    help="where the generated logs are kept between runs")
    add_common_args(ap, repeat=3)
    a = ap.parse_args()
    if a.quick:
        a.steps, a.repeat = 100_000, 1
    sys.path.insert(0, str(ROOT))
    from dataaudit.logs import score_series

    s, v, planted = make_curve(a.steps)
    pset = set(planted.tolist())
    cache = Path(a.cache_dir) / f"n{a.steps}_seed0"
    cache.mkdir(parents=True, exist_ok=True)
    text = cache / "run.txt"
    if not text.exists():
        t0 = time.perf_counter()
        write_text(cache / "run.tmp", v)
        os.replace(cache / "run.tmp", text)
        print(f"wrote {text} ({text.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")
    tb = cache / "tb"
    done = cache / "tb.done"
    if not done.exists():
        t0 = time.perf_counter()
        for f in tb.glob("*tfevents*") if tb.exists() else []:
            f.unlink()
        write_tb(tb, v)
        done.write_text("ok")
        print(f"wrote {tb} with SummaryWriter in {time.perf_counter() - t0:.1f} s (cached)")
    times: dict[str, list[float]] = {k: [] for k in (
        "e2e_text", "e2e_tensorboard", "e2e_text_cpu", "e2e_tensorboard_cpu", "detect", "pandas_detect", "pandas_read_text", "tb_accumulator_read")}
    recall = {}
    with tempfile.TemporaryDirectory() as d:
        for r in range(a.repeat):
            w, cpu, found = run_cli(text, Path(d) / f"text{r}")
            times["e2e_text"].append(w)
            times["e2e_text_cpu"].append(cpu)
            recall["text"] = (len(found & pset) / len(pset), len(found - pset))
            w, cpu, found = run_cli(tb, Path(d) / f"tb{r}")
            times["e2e_tensorboard"].append(w)
            times["e2e_tensorboard_cpu"].append(cpu)
            recall["tensorboard"] = (len(found & pset) / len(pset), len(found - pset))
            t0 = time.perf_counter()
            sc = score_series(s, v)
            times["detect"].append(time.perf_counter() - t0)
            got = {x["step"] for x in sc.spikes}
            recall["detect"] = (len(got & pset) / len(pset), len(got - pset))
            t0 = time.perf_counter()
            flagged = set(pandas_detect(v).tolist())
            times["pandas_detect"].append(time.perf_counter() - t0)
            recall["pandas"] = (len(flagged & pset) / len(pset), len(flagged - pset))
            t0 = time.perf_counter()
            pv = pandas_read_text(text)
            times["pandas_read_text"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            tv = tb_read_baseline(tb)
            times["tb_accumulator_read"].append(time.perf_counter() - t0)
            assert pv.size == a.steps and tv.size == a.steps, (pv.size, tv.size)
    pipe_text = [x + y for x, y in zip(times["pandas_read_text"], times["pandas_detect"])]
    pipe_tb = [x + y for x, y in zip(times["tb_accumulator_read"], times["pandas_detect"])]
    print(f"steps: {a.steps:,}   planted spikes: {len(pset)}   repeats: {a.repeat}   load {load_average()}")
    print(f"{'what':<58} {'median s':>9} {'range':>15} {'recall':>7} {'others':>7}")

    def row(label, vals, rec=None):
        sp = spread(vals, 2)
        rc = f"{rec[0]:7.2f} {rec[1]:7d}" if rec else ""
        rng = f"[{sp['min']}, {sp['max']}]"
        print(f"{label:<58} {sp['median']:9.2f} {rng:>15} {rc}")

    row("dataaudit spikes, text log, end to end (subprocess)", times["e2e_text"], recall["text"])
    row("dataaudit spikes, TensorBoard file, end to end", times["e2e_tensorboard"], recall["tensorboard"])
    row("  text run: CPU seconds of the process (user + system)", times["e2e_text_cpu"])
    row("  TensorBoard run: CPU seconds of the process", times["e2e_tensorboard_cpu"])
    row("dataaudit score_series (detection alone)", times["detect"], recall["detect"])
    row("baseline: pandas rolling median/MAD (z>6)", times["pandas_detect"], recall["pandas"])
    row("baseline: pandas str.extract read of the text log", times["pandas_read_text"])
    row("baseline: tensorboard EventAccumulator read (all points)", times["tb_accumulator_read"])
    row("baseline pipeline, text (pandas read + pandas detect)", pipe_text)
    row("baseline pipeline, TensorBoard (accumulator + pandas)", pipe_tb)
    ratios = {"e2e_text_vs_pandas_pipeline": ratio_spread(times["e2e_text"], pipe_text),
              "e2e_tb_vs_accumulator_pipeline": ratio_spread(times["e2e_tensorboard"], pipe_tb),
              "detect_vs_pandas_detect": ratio_spread(times["detect"], times["pandas_detect"])}
    print("ratios (dataaudit time / baseline time, per repeat; < 1 = dataaudit faster):",
          {k: r["median"] for k, r in ratios.items()})
    result_line("spikes", figures={k: spread(times[k], 3) for k in ("e2e_text", "e2e_tensorboard", "e2e_text_cpu",
                                                          "e2e_tensorboard_cpu", "detect")}
                | {"recall_text": recall["text"][0], "recall_tensorboard": recall["tensorboard"][0],
                   "other_spikes_text": recall["text"][1]},
                baselines={"pandas_detect": spread(times["pandas_detect"], 3),
                           "pandas_read_text": spread(times["pandas_read_text"], 3),
                           "tb_accumulator_read": spread(times["tb_accumulator_read"], 3),
                           "pandas_pipeline_text": spread(pipe_text, 3), "pipeline_tb": spread(pipe_tb, 3),
                           "pandas_recall": recall["pandas"][0], "pandas_other_flags": recall["pandas"][1]},
                ratios=ratios, steps=a.steps, target_s=10.0,
                packages=("dataaudit", "numpy", "pyarrow", "pandas", "matplotlib", "tensorboard", "torch"))


if __name__ == "__main__":
    main()
