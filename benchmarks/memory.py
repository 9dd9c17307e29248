"""Peak memory as the corpus grows 1x, 4x, 16x: the exact pass and scoring with the embedded byte model.

    python benchmarks/memory.py [--exact-mb 50] [--score-mb 0.25] [--repeat 1] [--quick] [--only exact|score]
                                [--workers 1 2] [--scales 1 4 16] [--untuned]

Every figure is the peak RSS (VmHWM) of a fresh child process that does only that work, read from /proc
while it runs (``_bench.run_child_rss``), never ``ru_maxrss`` inherited from the parent that generated the
corpus.
  exact   ``run_exact`` on train + val Parquet files (benchmarks/exact.py's generator: WikiText-2 vocabulary,
          1% adjacent exact copies, 5% copies of 50 boilerplate pages so duplicate groups grow with the
          corpus; val = 1% as many documents, half of them copies of train documents). Baseline, same run:
          the exact pass as it was before the bounded-memory change (commit 2502030, read from git), which
          grouped whole buckets in Python lists and collected every finding row in memory.
  score   ``dataaudit score DATA --model default`` (through ``api.score_corpus``, batches of 64 documents,
          ``ScoreConfig(chunk_docs=--chunk-docs)``) on WikiText-2 train-style paragraphs (test
          split, repeated with a number prefix so every document is new), model fitted once beforehand on
          WikiText-2 valid and cached (the fit is not measured); the score cache starts empty each run.
          One row per ``--workers`` count: with more than 1 the driver's peak and the largest worker's peak
          (every process of the tree is read from /proc). ``DATAAUDIT_MALLOC_TUNING=0`` in the environment
          (or ``--untuned`` for an extra 1-process row) measures scoring with glibc malloc left as it is.
  Reading: Parquet column chunks are read through a 1 MiB buffered stream (io/columnar.py PARQUET_BUFFER) and
          importing dataaudit sets MIMALLOC_PURGE_DELAY=0 for pyarrow's allocator (dataaudit/__init__.py);
          ``--untuned`` also measures the exact pass per size with the allocator setting off.
Prints each size's peak RSS and the ratio largest / smallest scale (flat = close to 1), and a RESULT line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _bench import add_common_args, result_line, run_child_rss, run_tree_rss, spread  # noqa: E402

CORPORA = Path(os.environ.get("DATAAUDIT_CORPORA", ROOT.parent / "shared" / "corpora"))
BEFORE = "2502030"      # the commit before the bounded exact pass


def child_exact(train: str, val: str, old: bool) -> dict:
    """Run the exact pass (the current one, or the one of commit BEFORE) on train + val; return its counts."""
    from dataaudit.config import ReadConfig
    from dataaudit.io.sources import DocSource

    if old:
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{BEFORE}:dataaudit/passes/exact.py"],
                             check=True, capture_output=True, text=True).stdout
        f = Path(tempfile.mkdtemp()) / "exact_before.py"
        f.write_text(src)
        spec = importlib.util.spec_from_file_location("dataaudit.passes._exact_before", f)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        run_exact = mod.run_exact
    else:
        from dataaudit.passes.exact import run_exact
    out = Path(tempfile.mkdtemp(prefix="mem-exact-"))
    rc = ReadConfig(id_column="id")
    try:
        res = run_exact({"train": DocSource(train, split="train", read=rc),
                         "val": DocSource(val, split="val", read=rc)}, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    s = res.summary["splits"]
    return {"docs": s["train"]["docs"] + s["val"]["docs"], "text_mb": (s["train"]["bytes"] + s["val"]["bytes"]) / 1e6,
            "dup_docs": s["train"]["dup_docs"], "leaked": s["val"]["leaked_docs"]}


def _untuned_env() -> dict:
    """The environment with dataaudit's allocator settings off (and none inherited from this process)."""
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_PURGE_DELAY"}
    return dict(env, DATAAUDIT_MALLOC_TUNING="0")


def _child(fn: str, *args, env: dict | None = None) -> tuple[float, float, dict]:
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import memory; "
            f"print(json.dumps(memory.{fn}(*{args!r})))")
    wall, peak, p = run_child_rss([sys.executable, "-c", code], env=env)
    if p.returncode:
        raise SystemExit(f"{fn} child failed: {p.stderr.strip().splitlines()[-3:]}")
    return wall, peak / 2**20, json.loads(p.stdout.strip().splitlines()[-1])


def _tree_peaks(cmd: list[str], env: dict | None = None) -> tuple[float, float, float, subprocess.CompletedProcess]:
    """Run ``cmd``; (wall s, its own peak RSS MB, the largest peak RSS MB of any process it started, result).
    Each process's ``VmHWM`` is read from /proc while it runs (children found through /proc/PID/task/*/children)."""
    wall, own, kids, done = run_tree_rss(cmd, env=env)
    return wall, own / 2**20, max(kids.values(), default=0) / 2**20, done


def child_score(data: str, cache: str, out: str, fit_on: str, chunk: int, workers: int = 1) -> dict:
    """``dataaudit score DATA --model default`` through the API, with ``chunk`` documents a scoring chunk
    and ``workers`` processes (more than 1: spawned workers score, the driver reads, merges and writes)."""
    from dataaudit.api.score import ScoreJobConfig, score_corpus
    from dataaudit.config import ReadConfig
    from dataaudit.passes.score import ScoreConfig

    cfg = ScoreJobConfig(model="default", fit_on=fit_on, cache_dir=cache, read=ReadConfig(id_column="id",
                         batch_size=64), score=ScoreConfig(chunk_docs=chunk), workers=workers)
    r = score_corpus(data, out_dir=out, config=cfg)
    return {"docs": r.summary["score"]["docs"]} if "score" in r.summary else {}


def _score_docs(path: Path, mb: float) -> int:
    """JSONL of WikiText-2 test paragraphs, repeated with a number prefix (all new texts), ~``mb`` MB."""
    paras = [p.strip() for p in (CORPORA / "wikitext-2" / "test.txt").read_text(encoding="utf-8").split("\n")
             if len(p.strip()) > 200]
    n = size = 0
    with open(path, "w", encoding="utf-8") as f:
        while size < mb * 1e6:
            t = f"{n}: {paras[n % len(paras)]}"
            f.write(json.dumps({"id": f"d{n}", "text": t}) + "\n")
            size += len(t.encode())
            n += 1
    return n


def _score_cmd(data: Path, cache: Path, out: Path, fit_on: Path) -> list[str]:
    return [str(Path(sys.executable).with_name("dataaudit")), "score", str(data), "--model", "default",
            "--fit-on", str(fit_on), "--cache-dir", str(cache), "--out", str(out), "--batch-size", "64",
            "--id-column", "id", "--quiet"]     # the warm-up fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exact-mb", type=float, default=50.0, help="text of the 1x exact corpus (MB)")
    ap.add_argument("--score-mb", type=float, default=0.25, help="text of the 1x scoring corpus (MB)")
    ap.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "_data")
    ap.add_argument("--chunk-docs", type=int, default=128, help="ScoreConfig.chunk_docs (default 128; the "
                    "CLI's is 2,048, so a 1x corpus smaller than that measures a growing first chunk)")
    ap.add_argument("--only", choices=("exact", "score"), help="run one half only")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="scoring rows: worker processes "
                    "(default 1 2; with more than 1 the peak of the driver and of the largest worker)")
    ap.add_argument("--untuned", action="store_true", help="also rows with the allocators left as they are "
                    "(DATAAUDIT_MALLOC_TUNING=0: glibc malloc for scoring, see dataaudit/passes/score/heap.py; "
                    "pyarrow's mimalloc for both, see dataaudit/__init__.py): a 1-process scoring row and an "
                    "exact row per size")
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16], help="corpus sizes (default 1 4 16)")
    ap.add_argument("--no-before", action="store_true", help="skip the pre-change exact pass baseline")
    add_common_args(ap, repeat=1)
    a = ap.parse_args()
    import exact as exact_bench

    scales = tuple(a.scales)
    top = scales[-1]
    chunk = 20000
    if a.quick:
        a.exact_mb, a.score_mb, a.repeat, chunk = 2.5, 0.02, 1, 1000
    a.data.mkdir(parents=True, exist_ok=True)
    have_git = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{BEFORE}:dataaudit/passes/exact.py"],
                              capture_output=True).returncode == 0
    before = have_git and not a.no_before
    ex: dict[int, dict] = {}
    for s in scales if a.only != "score" else ():
        gb = a.exact_mb * s / 1.5e3          # ~1.5 bytes of text per byte of Parquet
        train = a.data / f"mem-train-{gb:.4g}gb-{chunk}.parquet"
        val = train.with_name(train.stem.replace("train", "val") + ".parquet")
        if not train.exists() or not val.exists():
            exact_bench.make_corpus(train, gb, boilerplate=0.05, val=val, chunk=chunk)
        now, old, untuned = [], [], []
        for _ in range(a.repeat):
            now.append(_child("child_exact", str(train), str(val), False))
            if before:
                old.append(_child("child_exact", str(train), str(val), True))
            if a.untuned:
                untuned.append(_child("child_exact", str(train), str(val), False,
                                      env=_untuned_env()))
        info = now[0][2]
        ex[s] = {"text_mb": round(info["text_mb"], 1), "docs": info["docs"], "dup_docs": info["dup_docs"],
                 "leaked": info["leaked"], "peak_mb": spread([r[1] for r in now], 0),
                 "seconds": spread([r[0] for r in now], 1)}
        if before:
            assert old[0][2] == info, (old[0][2], info)       # same findings counts before and after
            ex[s]["before_peak_mb"] = spread([r[1] for r in old], 0)
            ex[s]["before_seconds"] = spread([r[0] for r in old], 1)
        if untuned:
            ex[s]["untuned_peak_mb"] = spread([r[1] for r in untuned], 0)
        print(f"exact {s:2d}x: {info['text_mb']:7.1f} MB text, {info['docs']:,} docs, {info['dup_docs']:,} dup, "
              f"{info['leaked']:,} leaked: peak RSS {ex[s]['peak_mb']['median']:.0f} MB"
              + (f" (before: {ex[s]['before_peak_mb']['median']:.0f} MB)" if before else "")
              + (f" (untuned allocator: {ex[s]['untuned_peak_mb']['median']:.0f} MB)" if untuned else ""), flush=True)
    ratios = {f"exact_peak_{top}x_over_{scales[0]}x": round(ex[top]["peak_mb"]["median"] / ex[scales[0]]["peak_mb"]["median"], 3)} \
        if ex else {}
    if before and ex:
        ratios[f"before_exact_peak_{top}x_over_{scales[0]}x"] = round(ex[top]["before_peak_mb"]["median"]
                                                        / ex[scales[0]]["before_peak_mb"]["median"], 3)
    if a.untuned and ex:
        ratios[f"untuned_exact_peak_{top}x_over_{scales[0]}x"] = round(ex[top]["untuned_peak_mb"]["median"]
                                                         / ex[scales[0]]["untuned_peak_mb"]["median"], 3)
    sc: dict[int, dict] = {}
    valid = CORPORA / "wikitext-2" / "valid.txt"
    fit_on = a.data / "mem-fit-wikitext2-valid.jsonl"
    cache = a.data / "mem-score-cache"
    skipped = None
    if a.only == "exact":
        skipped = "--only exact"
    elif not valid.exists():
        skipped = f"{CORPORA} absent"
    elif a.quick and not (cache.is_dir() and any(p.name != "scores" for p in cache.iterdir())):
        skipped = "--quick: no fitted byte model cached yet (a full run fits it once, ~2 min)"
    else:
        with open(fit_on, "w", encoding="utf-8") as f:
            for k, para in enumerate(p for p in valid.read_text(encoding="utf-8").split("\n") if p.strip()):
                f.write(json.dumps({"id": f"v{k}", "text": para.strip()}) + "\n")
        warm = a.data / "mem-score-warm.jsonl"
        _score_docs(warm, 0.01)
        o = Path(tempfile.mkdtemp(prefix="mem-score-"))
        subprocess.run(_score_cmd(warm, cache, o / "out", fit_on), check=True, capture_output=True)  # fit, cache
        for w in list(a.workers) + (["1-untuned"] if a.untuned else []):
            env = _untuned_env() if w == "1-untuned" else None
            nw, w = (1 if env else w), str(w)
            sc[w] = {}
            for s in scales:
                data = a.data / f"mem-score-{a.score_mb * s:g}mb.jsonl"
                n = _score_docs(data, a.score_mb * s)
                runs = []
                for _ in range(a.repeat):
                    shutil.rmtree(cache / "scores", ignore_errors=True)     # every document scored, cache filled
                    shutil.rmtree(o / "out", ignore_errors=True)
                    code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import memory; "
                            f"print(json.dumps(memory.child_score(*{(str(data), str(cache), str(o / 'out'), str(fit_on), a.chunk_docs, nw)!r})))")
                    wall, own, worker, p = _tree_peaks([sys.executable, "-c", code], env)
                    if p.returncode:
                        raise SystemExit(f"child_score failed: {p.stderr.strip().splitlines()[-3:]}")
                    runs.append((wall, own, worker))
                r = sc[w][s] = {"text_mb": round(a.score_mb * s, 3), "docs": n,
                                "peak_mb": spread([x[1] for x in runs], 0), "seconds": spread([x[0] for x in runs], 1)}
                if nw > 1:
                    r["worker_peak_mb"] = spread([x[2] for x in runs], 0)
                print(f"score workers={w} {s:2d}x: {a.score_mb * s:g} MB text, {n:,} docs: peak RSS "
                      f"{r['peak_mb']['median']:.0f} MB" + (f" (driver), {r['worker_peak_mb']['median']:.0f} MB "
                      f"(largest worker)" if nw > 1 else "") + f" in {r['seconds']['median']:.0f} s", flush=True)
            if len(scales) > 1:
                ratios[f"score_w{w}_peak_{top}x_over_{scales[0]}x"] = round(
                    sc[w][top]["peak_mb"]["median"] / sc[w][scales[0]]["peak_mb"]["median"], 3)
                if nw > 1:
                    ratios[f"score_w{w}_worker_peak_{top}x_over_{scales[0]}x"] = round(
                        sc[w][top]["worker_peak_mb"]["median"] / sc[w][scales[0]]["worker_peak_mb"]["median"], 3)
        shutil.rmtree(o, ignore_errors=True)
    if skipped:
        print(f"score: skipped ({skipped})")
    print("ratios: " + ", ".join(f"{k} {v}" for k, v in ratios.items()))
    result_line("memory", figures={"exact": ex, "score": sc}, baselines={"exact_before": {
        s: ex[s].get("before_peak_mb") for s in ex} if before else {}}, ratios=ratios,
        score_skipped=skipped, quick=a.quick)


if __name__ == "__main__":
    main()
