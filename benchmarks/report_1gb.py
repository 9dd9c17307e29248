"""`dataaudit report` (no model) on a ~1 GB corpus: wall time, peak memory, report.html size, MB/s.

    python benchmarks/report_1gb.py [--mb 1000] [--workers 2] [--repeat 1] [--quick] [--keep]
                                    [--corpora ../shared/corpora] [--datatrove-python /work/venvs/datatrove/bin/python]

Corpus (built once per size and seed under /tmp, Parquet shards): WikiText-2 valid+test paragraphs and Tiny
Shakespeare speeches, each drawn in 8 variants (sentences shuffled, ~3% of words mutated: case, digits,
made-up words, so the vocabulary keeps growing as real text does), combined 2-12 per document; 2% of
documents are exact copies of an earlier one, 2% near copies (~5% of words changed), 0.2% planted junk
(base64, runs of one character, repeated lines, footers, lorem ipsum, code; benchmarks/signals.py).

Runs ``dataaudit report DIR --out OUT --workers N`` (no model; exact and near duplicates and the signals
pass) as a subprocess and reports: wall time; peak RSS of the driver (its own VmHWM) and of each worker
process (its grandchildren, read from /proc while it runs); report.html size (target < 2 MB); throughput
in MB of text per second; the report's own phase timings (which pass dominates). Baseline in the same run:
datatrove's four filters (Gopher quality, Gopher repetition, C4, FineWeb) on a sample of the same documents
in its own environment, one process (the whole corpus would take hours), as MB/s. Ends with RESULT.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _bench import add_common_args, load_average, result_line, run_tree_rss, skipped, spread  # noqa: E402

HTML_LIMIT = 2_000_000


# ---------------------------------------------------------------- corpus
def _paragraphs(corpora: Path) -> list[str]:
    out = []
    for f in ("valid.txt", "test.txt"):
        for p in (corpora / "wikitext-2" / f).read_text(encoding="utf-8").split("\n"):
            if len(p.strip()) > 40 and not p.startswith(" = "):
                out.append(p.strip())
    for p in (corpora / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8").split("\n\n"):
        if p.strip():
            out.append(p.strip())
    return out


_SENT = re.compile(r"(?<=[.!?]) ")


def _variant(p: str, rng: random.Random) -> str:
    sents = _SENT.split(p) if "\n" not in p else p.split("\n")
    if len(sents) > 2 and rng.random() < 0.5:
        rng.shuffle(sents)
    words = ((" " if "\n" not in p else "\n").join(sents)).split(" ")
    for _ in range(max(1, len(words) // 33)):                  # ~3% of words mutated
        i = rng.randrange(len(words))
        r = rng.random()
        if r < 0.3:
            words[i] = words[i].upper()
        elif r < 0.6:
            words[i] = words[i] + str(rng.randrange(1000))
        else:
            words[i] = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 11)))
    return " ".join(words)


def _near_copy(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(max(1, len(words) // 20)):                 # ~5% of words changed
        words[rng.randrange(len(words))] = rng.choice(("the", "a", "of", "river", "city", "new", "old"))
    return " ".join(words)


def build_corpus(corpora: Path, mb: float, out: Path, seed: int = 0) -> dict:
    """Parquet shards (id, text) of about ``mb`` MB of text in ``out``; returns counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from signals import planted_junk

    rng = random.Random(seed)
    paras = _paragraphs(corpora)
    pool = [_variant(p, rng) for p in paras for _ in range(8)]
    junk = [t for _, t, _ in planted_junk(paras[:2000], per_kind=max(2, int(mb * 0.35)), seed=seed)]
    out.mkdir(parents=True, exist_ok=True)
    target = int(mb * 1e6)
    shard_bytes = max(target // 8, 1)
    total = n = shard = 0
    recent: list[str] = []
    counts = {"docs": 0, "exact_copies": 0, "near_copies": 0, "junk": 0}
    ids, texts, size = [], [], 0

    def flush():
        nonlocal ids, texts, size, shard
        if ids:
            pq.write_table(pa.table({"id": ids, "text": texts}), out / f"shard-{shard:03d}.parquet",
                           row_group_size=8192, compression="zstd")
            shard += 1
        ids, texts, size = [], [], 0

    while total < target:
        r = rng.random()
        if r < 0.02 and recent:
            text, kind = rng.choice(recent), "exact_copies"
        elif r < 0.04 and recent:
            text, kind = _near_copy(rng.choice(recent), rng), "near_copies"
        elif r < 0.042:
            text, kind = rng.choice(junk), "junk"
        else:
            k = rng.randint(2, 12)
            text, kind = "\n\n".join(rng.choice(pool) for _ in range(k)), None
            if len(recent) < 5000:
                recent.append(text)
            else:
                recent[rng.randrange(5000)] = text
        if kind:
            counts[kind] += 1
        b = len(text.encode("utf-8"))
        ids.append(f"d{n}")
        texts.append(text)
        n += 1
        total += b
        size += b
        if size >= shard_bytes:
            flush()
    flush()
    counts["docs"] = n
    counts["mb"] = round(total / 1e6, 2)
    (out / "corpus.json").write_text(json.dumps(counts))
    return counts


# ---------------------------------------------------------------- measuring a process tree
# ---------------------------------------------------------------- baseline: datatrove on a sample
def datatrove_sample(data: Path, sample_mb: float, python: str) -> float | None:
    """datatrove's four filters on the first ``sample_mb`` MB of documents, one process: MB/s."""
    import pyarrow.parquet as pq

    if not Path(python).exists():
        return None
    texts, size = [], 0
    for f in sorted(data.glob("*.parquet")):
        for t in pq.read_table(f, columns=["text"]).column("text").to_pylist():
            texts.append(t)
            size += len(t.encode("utf-8"))
            if size >= sample_mb * 1e6:
                break
        if size >= sample_mb * 1e6:
            break
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = Path(tmp) / "in.jsonl", Path(tmp) / "out.json"
        inp.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
        subprocess.run([python, str(HERE / "signals.py"), "--repeat", "1", "--datatrove-worker", str(inp),
                        str(outp)], check=True, capture_output=True)
        secs = json.loads(outp.read_text())["times"][0]
    return size / 1e6 / secs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    ap.add_argument("--mb", type=float, default=1000.0, help="corpus size in MB of text (default 1000)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--datatrove-python", default="/work/venvs/datatrove/bin/python")
    ap.add_argument("--datatrove-mb", type=float, default=4.0, help="baseline sample size in MB (default 4)")
    ap.add_argument("--keep", action="store_true", help="keep the corpus under /tmp for the next run")
    add_common_args(ap, repeat=1)
    a = ap.parse_args(argv)
    if a.quick:
        a.mb, a.datatrove_mb = 20.0, 1.0
    if not (a.corpora / "wikitext-2" / "valid.txt").exists():
        skipped("report_1gb", f"{a.corpora} has no WikiText-2")
        return 0
    data = Path(tempfile.gettempdir()) / f"dataaudit-report-bench-{int(a.mb)}mb"
    if not (data / "corpus.json").exists():
        shutil.rmtree(data, ignore_errors=True)
        t0 = time.perf_counter()
        build_corpus(a.corpora, a.mb, data)
        print(f"built {data} in {time.perf_counter() - t0:.0f} s", flush=True)
    info = json.loads((data / "corpus.json").read_text())
    print(f"corpus: {info}", flush=True)
    walls, rates, drivers, workers_peak, html, phases = [], [], [], [], [], []
    try:
        for r in range(a.repeat):
            out = Path(tempfile.mkdtemp(prefix="dataaudit-report-bench-out-"))
            cmd = [sys.executable, "-m", "dataaudit", "report", str(data), "--id-column", "id", "--out",
                   str(out / "r"), "--workers", str(a.workers), "-q"]
            load0 = load_average()
            wall, peak, kids, done = run_tree_rss(cmd)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"dataaudit report exited {done.returncode}")
            rep = json.loads((out / "r" / "report.json").read_text())
            size = (out / "r" / "report.html").stat().st_size
            tm = {p["name"]: p["seconds"] for p in rep.get("phases") or []}
            walls.append(wall)
            rates.append(info["mb"] / wall)
            drivers.append(peak / 1e6)
            workers_peak.append(max(kids.values(), default=0) / 1e6)
            html.append(size)
            phases.append(tm)
            print(f"run {r + 1}: {wall:.1f} s, {info['mb'] / wall:.2f} MB/s, driver peak {peak / 1e6:.0f} MB, "
                  f"worker peaks {sorted(round(v / 1e6) for v in kids.values())} MB, report.html {size / 1e3:.1f} KB, "
                  f"load {load0} -> {load_average()}; phases {json.dumps(tm)}", flush=True)
            shutil.rmtree(out, ignore_errors=True)
        dt = datatrove_sample(data, a.datatrove_mb, a.datatrove_python)
    finally:
        if not a.keep:
            shutil.rmtree(data, ignore_errors=True)
    med = spread(rates, 3)
    print(f"dataaudit report, {info['mb']} MB, {a.workers} workers: {spread(walls, 1)['median']} s, "
          f"{med['median']} MB/s; report.html {max(html) / 1e3:.1f} KB (limit {HTML_LIMIT / 1e6:.0f} MB: "
          f"{'met' if max(html) < HTML_LIMIT else 'NOT met'})")
    if dt:
        print(f"baseline: datatrove's four filters alone, 1 process, {a.datatrove_mb} MB sample: {dt:.3f} MB/s "
              f"(the whole report vs those filters: {med['median'] / dt:.1f}x)")
    result_line("report_1gb", figures={"mb": info["mb"], "docs": info["docs"], "workers": a.workers,
                                       "wall_s": spread(walls, 1), "mb_per_s": med,
                                       "driver_peak_mb": spread(drivers, 0), "worker_peak_mb": spread(workers_peak, 0),
                                       "report_html_bytes": max(html), "html_under_2mb": max(html) < HTML_LIMIT,
                                       "phases_s": phases},
                baselines={"datatrove_filters_mb_per_s": round(dt, 4) if dt else None,
                           "datatrove_sample_mb": a.datatrove_mb},
                ratios={"report_vs_datatrove_filters": round(med["median"] / dt, 2) if dt else None},
                corpus=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
