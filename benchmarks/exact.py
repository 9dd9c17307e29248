"""Exact-pass throughput beside the raw pyarrow read rate of the same Parquet file, in one run.

    python benchmarks/exact.py [--gb 1.0] [--data benchmarks/_data]

Generates (once, cached) a Parquet corpus of at least --gb GB on disk: documents of realistic, mixed
lengths (log-normal, median ~2 KB) built from WikiText-2's vocabulary when ../shared/corpora is present,
else from generated words, each made unique by its number, plus 1% planted exact duplicates. Then, each in
its own process so peak memory is its own:
  raw   pyarrow.parquet.ParquetFile(pre_buffer=False).iter_batches over the file (its columns: id, text),
        the read rate to compare with (pre_buffer=False is both faster and bounded in memory here, and is how
        dataaudit reads);
  exact dataaudit's exact pass on the same file (read -> normalize -> xxh3-128 -> on-disk grouping).
Prints MB/s of text for both, their ratio (target >= 0.60), and each process's peak RSS (target < 1 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _vocab() -> list[str]:
    wt = Path(os.environ.get("DATAAUDIT_CORPORA", ROOT.parent / "shared" / "corpora")) / "wikitext-2" / "valid.txt"
    if wt.exists():
        return wt.read_text(encoding="utf-8").split()
    rng = random.Random(0)
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(20000)]


def make_corpus(path: Path, gb: float, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    words = _vocab()
    pool = []
    for _ in range(5000):
        n = max(20, int(rng.lognormvariate(5.8, 0.9)))  # words; median ~330 words ~ 2 KB
        pool.append(" ".join(rng.choices(words, k=n)))
    tmp = path.with_suffix(".tmp")
    writer = None
    written = 0
    i = 0
    target = gb * 1e9
    while written < target:
        texts, ids = [], []
        for _ in range(20000):
            base = pool[rng.randrange(len(pool))]
            cut = rng.randrange(len(base) // 2)
            text = f"Document {i}: " + base[cut:] + " " + base[:cut]
            if rng.random() < 0.01 and texts:  # planted exact duplicate (case/whitespace changed)
                text = "  " + texts[-1].upper() + "\n"
            texts.append(text)
            ids.append(f"doc-{i}")
            i += 1
        t = pa.table({"id": ids, "text": texts})
        if writer is None:
            writer = pq.ParquetWriter(tmp, t.schema)
        writer.write_table(t, row_group_size=20000)
        written = tmp.stat().st_size
    writer.close()
    os.replace(tmp, path)


def child_raw(path: str) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    nbytes = docs = 0
    for b in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=4096):  # the whole file: id + text
        nbytes += pc.sum(pc.binary_length(b.column("text"))).as_py()
        docs += b.num_rows
    return {"seconds": time.perf_counter() - t0, "text_bytes": nbytes, "docs": docs}


def child_exact(path: str) -> dict:
    from dataaudit.io.sources import DocSource
    from dataaudit.passes.exact import run_exact

    t0 = time.perf_counter()
    out = Path(tempfile.mkdtemp(prefix="exact-bench-"))
    src = DocSource(path, split="train", id_column="id")
    res = run_exact({"train": src}, out)
    s = res.summary["splits"]["train"]
    return {"seconds": time.perf_counter() - t0, "text_bytes": s["bytes"], "docs": s["docs"],
            "dup_docs": s["dup_docs"]}


def run_child(kind: str, path: Path) -> dict:
    code = (f"import json, resource, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import exact; "
            f"r = exact.child_{kind}({str(path)!r}); "
            f"r['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(r))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.0, help="corpus size on disk (GB)")
    ap.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "_data")
    ap.add_argument("--repeat", type=int, default=2, help="alternate raw/exact runs this many times, keep the best")
    args = ap.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    path = args.data / f"exact-{args.gb:g}gb.parquet"
    if not path.exists():
        t0 = time.perf_counter()
        make_corpus(path, args.gb)
        print(f"generated {path} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    size = path.stat().st_size
    best: dict[str, dict] = {}
    for _ in range(args.repeat):
        for kind in ("raw", "exact"):
            r = run_child(kind, path)
            if kind not in best or r["seconds"] < best[kind]["seconds"]:
                best[kind] = r
    raw, ex = best["raw"], best["exact"]
    mb = raw["text_bytes"] / 1e6
    print(f"corpus: {path.name}, {size / 1e9:.2f} GB on disk, {raw['docs']:,} docs, {mb:,.0f} MB of text "
          f"(cpu count {os.cpu_count()}, best of {args.repeat})")
    print(f"{'':24}{'seconds':>9}{'MB/s':>9}{'peak RSS MB':>13}")
    print(f"{'raw pyarrow read':24}{raw['seconds']:9.1f}{mb / raw['seconds']:9.0f}{raw['peak_rss_mb']:13.0f}")
    print(f"{'dataaudit exact pass':24}{ex['seconds']:9.1f}{mb / ex['seconds']:9.0f}{ex['peak_rss_mb']:13.0f}")
    ratio = raw["seconds"] / ex["seconds"]
    print(f"exact / raw rate: {ratio:.2f} (target >= 0.60); exact peak RSS {ex['peak_rss_mb']:.0f} MB "
          f"(target < 1024); duplicates found: {ex['dup_docs']:,}")


if __name__ == "__main__":
    main()
