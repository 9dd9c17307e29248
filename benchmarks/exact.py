"""Exact-pass throughput beside the raw pyarrow read rate of the same Parquet file, in one run.

    python benchmarks/exact.py [--gb 1.0] [--data benchmarks/_data] [--repeat 3] [--quick]

Generates (once, cached) a Parquet corpus of at least --gb GB on disk: documents of realistic, mixed
lengths (log-normal, median ~2 KB) built from WikiText-2's vocabulary when ../shared/corpora is present,
else from generated words, each made unique by its number, plus 1% planted exact duplicates. Then, each in
its own process so peak memory is its own:
  raw   pyarrow.parquet.ParquetFile(pre_buffer=False).iter_batches over the file (its columns: id, text),
        the read rate to compare with (pre_buffer=False is both faster and bounded in memory here, and is how
        dataaudit reads);
  exact dataaudit's exact pass on the same file (read -> normalize -> xxh3-128 -> on-disk grouping ->
        findings, then the excerpts of the listed groups and leaks: one more streamed look at the input);
  exact0 the same pass with excerpt_chars=0 (no excerpt look-up): where the time of that second read goes.
Raw and exact runs alternate (--repeat triples). Prints MB/s of text as median [range], the median and range
of the per-repeat ratios (target >= 0.60 for the default pass), each process's own peak RSS (VmHWM of that
child, target < 1 GB) and CPU seconds (user + system, all threads: a figure the machine's load moves far
less than wall time), and a RESULT line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _bench import add_common_args, ratio_spread, result_line, run_child_rss, spread  # noqa: E402


def _vocab() -> list[str]:
    wt = Path(os.environ.get("DATAAUDIT_CORPORA", ROOT.parent / "shared" / "corpora")) / "wikitext-2" / "valid.txt"
    if wt.exists():
        return wt.read_text(encoding="utf-8").split()
    rng = random.Random(0)
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(20000)]


def make_corpus(path: Path, gb: float, seed: int = 0, *, boilerplate: float = 0.0, val: Path | None = None,
                chunk: int = 20000) -> None:
    """At least ``gb`` GB of Parquet (id, text) at ``path``. ``boilerplate``: that share of documents are
    copies of one of 50 fixed pages (case/whitespace varied), so duplicate groups grow with the corpus;
    ``val``: also write a val file of 1% as many documents, half of them copies of train documents."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    words = _vocab()
    pool = []
    for _ in range(5000):
        n = max(20, int(rng.lognormvariate(5.8, 0.9)))  # words; median ~330 words ~ 2 KB
        pool.append(" ".join(rng.choices(words, k=n)))
    pages = [f"Terms of use, page {k}: " + pool[k] for k in range(50)]
    tmp = path.with_suffix(".tmp")
    writer = vwriter = None
    written = 0
    i = 0
    target = gb * 1e9
    while written < target:
        texts, ids = [], []
        for _ in range(chunk):
            base = pool[rng.randrange(len(pool))]
            cut = rng.randrange(len(base) // 2)
            text = f"Document {i}: " + base[cut:] + " " + base[:cut]
            if rng.random() < 0.01 and texts:  # planted exact duplicate (case/whitespace changed)
                text = "  " + texts[-1].upper() + "\n"
            elif rng.random() < boilerplate:
                text = rng.choice(pages)
                text = text.upper() if rng.random() < 0.5 else text + "  "
            texts.append(text)
            ids.append(f"doc-{i}")
            i += 1
        t = pa.table({"id": ids, "text": texts})
        if writer is None:
            writer = pq.ParquetWriter(tmp, t.schema)
        writer.write_table(t, row_group_size=chunk)
        if val is not None:
            vt = [texts[rng.randrange(len(texts))] if k % 2 else f"Held out {i}-{k}: " + pool[rng.randrange(5000)]
                  for k in range(chunk // 100)]
            v = pa.table({"id": [f"val-{i}-{k}" for k in range(chunk // 100)], "text": vt})
            if vwriter is None:
                vwriter = pq.ParquetWriter(val.with_suffix(".tmp"), v.schema)
            vwriter.write_table(v)
        written = tmp.stat().st_size
    writer.close()
    if vwriter is not None:
        vwriter.close()
        os.replace(val.with_suffix(".tmp"), val)
    os.replace(tmp, path)


def child_raw(path: str) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    nbytes = docs = 0
    for b in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=4096):  # the whole file: id + text
        nbytes += pc.sum(pc.binary_length(b.column("text"))).as_py()
        docs += b.num_rows
    return {"seconds": time.perf_counter() - t0, "text_bytes": nbytes, "docs": docs, "cpu_s": _cpu()}


def _cpu() -> float:
    import resource

    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def child_exact(path: str, excerpts: bool = True) -> dict:
    from dataaudit.config import ReadConfig
    from dataaudit.io.sources import DocSource
    from dataaudit.passes.exact import ExactConfig, run_exact

    t0 = time.perf_counter()
    out = Path(tempfile.mkdtemp(prefix="exact-bench-"))
    src = DocSource(path, split="train", read=ReadConfig(id_column="id"))
    try:
        res = run_exact({"train": src}, out, config=ExactConfig() if excerpts else ExactConfig(excerpt_chars=0))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    s = res.summary["splits"]["train"]
    return {"seconds": time.perf_counter() - t0, "text_bytes": s["bytes"], "docs": s["docs"],
            "dup_docs": s["dup_docs"], "cpu_s": _cpu()}


def child_exact0(path: str) -> dict:
    return child_exact(path, excerpts=False)


def run_child(kind: str, path: Path) -> dict:
    """One measurement in a fresh process: its own wall time and its own peak RSS (VmHWM), never a parent's."""
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import exact; "
            f"print(json.dumps(exact.child_{kind}({str(path)!r})))")
    _wall, peak, p = run_child_rss([sys.executable, "-c", code])
    if p.returncode:
        raise SystemExit(f"{kind} child failed: {p.stderr.strip().splitlines()[-1:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["peak_rss_mb"] = peak / 2**20
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.0, help="corpus size on disk (GB)")
    ap.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "_data")
    add_common_args(ap, repeat=3)
    args = ap.parse_args()
    if args.quick:
        args.gb, args.repeat = 0.02, 1
    args.data.mkdir(parents=True, exist_ok=True)
    path = args.data / f"exact-{args.gb:g}gb.parquet"
    if not path.exists():
        t0 = time.perf_counter()
        make_corpus(path, args.gb)
        print(f"generated {path} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    size = path.stat().st_size
    runs: dict[str, list[dict]] = {"raw": [], "exact": [], "exact0": []}
    for _ in range(args.repeat):            # alternated, so each exact run is paired with a raw run in time
        for kind in ("raw", "exact", "exact0"):
            runs[kind].append(run_child(kind, path))
    mb = runs["raw"][0]["text_bytes"] / 1e6
    rate = {k: [mb / r["seconds"] for r in v] for k, v in runs.items()}
    rss = {k: [r["peak_rss_mb"] for r in v] for k, v in runs.items()}
    cpu = {k: [r["cpu_s"] for r in v] for k, v in runs.items()}
    print(f"corpus: {path.name}, {size / 1e9:.2f} GB on disk, {runs['raw'][0]['docs']:,} docs, {mb:,.0f} MB of "
          f"text (cpu count {os.cpu_count()}, {args.repeat} repeats, runs alternated; median [min, max])")
    for k, label in (("raw", "raw pyarrow read"), ("exact", "dataaudit exact pass"),
                     ("exact0", "  without excerpts")):
        r, m, c = spread(rate[k], 1), spread(rss[k], 0), spread(cpu[k], 1)
        print(f"{label:22} {r['median']:7.1f} MB/s [{r['min']}, {r['max']}]   peak RSS {m['median']:.0f} MB "
              f"[{m['min']:.0f}, {m['max']:.0f}]   CPU {c['median']} s [{c['min']}, {c['max']}]")
    ratio = ratio_spread(rate["exact"], rate["raw"])
    ratio0 = ratio_spread(rate["exact0"], rate["raw"])
    cpu_ratio = ratio_spread(cpu["raw"], cpu["exact"])
    cpu_ratio0 = ratio_spread(cpu["raw"], cpu["exact0"])
    print(f"exact / raw rate: {ratio['median']} [{ratio['min']}, {ratio['max']}] (target >= 0.60); "
          f"exact peak RSS max {max(rss['exact']):.0f} MB (target < 1024); duplicates found: "
          f"{runs['exact'][0]['dup_docs']:,}")
    print(f"without excerpts / raw rate: {ratio0['median']} [{ratio0['min']}, {ratio0['max']}]; CPU seconds raw / "
          f"exact: {cpu_ratio['median']} [{cpu_ratio['min']}, {cpu_ratio['max']}], raw / without excerpts: "
          f"{cpu_ratio0['median']} [{cpu_ratio0['min']}, {cpu_ratio0['max']}]")
    result_line("exact", figures={"exact_mb_per_s": spread(rate["exact"], 1),
                                  "exact_peak_rss_mb": spread(rss["exact"], 0),
                                  "exact_cpu_s": spread(cpu["exact"], 2),
                                  "exact_no_excerpts_mb_per_s": spread(rate["exact0"], 1),
                                  "exact_no_excerpts_cpu_s": spread(cpu["exact0"], 2)},
                baselines={"raw_pyarrow_mb_per_s": spread(rate["raw"], 1),
                           "raw_peak_rss_mb": spread(rss["raw"], 0), "raw_cpu_s": spread(cpu["raw"], 2)},
                ratios={"exact_over_raw": ratio, "exact_no_excerpts_over_raw": ratio0,
                        "raw_cpu_over_exact_cpu": cpu_ratio, "raw_cpu_over_exact_no_excerpts_cpu": cpu_ratio0},
                corpus={"gb_on_disk": round(size / 1e9, 3), "text_mb": round(mb),
                                                          "docs": runs["raw"][0]["docs"]},
                targets={"exact_over_raw": ">= 0.60", "peak_rss_mb": "< 1024"}, quick=args.quick)


if __name__ == "__main__":
    main()
