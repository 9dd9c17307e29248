"""Text -> MinHash signature throughput: dataaudit beside rensa and datasketch, same text, same shingles, same run.

    python benchmarks/minhash.py [--docs 20000] [--doc-bytes 4096] [--ref-docs 2000] [--num-perm 128]
                                 [--repeat 5] [--quick]

Corpus: ``--docs`` documents of about ``--doc-bytes`` bytes each, made of real paragraphs (WikiText-2 valid and
test, Tiny Shakespeare speeches, from ``../shared/corpora`` or $DATAAUDIT_CORPORA) drawn at random and joined
until the document is long enough, cut at a word boundary. Without the corpora the benchmark says so and
exits 0 (nothing to measure on).

Everything is single-process and single-threaded (``RAYON_NUM_THREADS=1`` for rensa, set before it is
imported). Contenders, each timed ``--repeat`` times (median and range, never the best):

- dataaudit, raw text -> signature: normalization (C), shingle hashes (numpy/Arrow), MinHash (the C kernel);
- dataaudit, normalized text -> signature (the same input rensa and datasketch get);
- rensa ``RMinHash.digest_matrix_from_token_sets`` (its bulk path) on word 5-gram shingle strings built in
  Python from the same normalized text (``text.split()`` and ``" ".join``), shingling timed: text -> signature;
- datasketch ``MinHash.update_batch`` on the same shingle bytes (+ Python shingling), on ``--ref-docs``
  documents (it is slow; docs/s are rates, so the subsample does not bias them);
- the MinHash step alone on the same pre-hashed shingles (our 64-bit shingle hashes of the corpus):
  rensa's kernel ``RMinHash.digest_matrix_from_flat_token_hashes`` (it takes the 64-bit hashes) against
  ``MinHasher.signatures`` (it takes their low 32 bits; the cast is timed), C kernel and numpy path; on
  an AVX-512 CPU the AVX2 kernel too (``_fastminhash.set_kernel("avx2")``), same run.

Every contender is timed by the wall clock and by the CPU time of this process (``time.process_time``: on
a shared machine it leaves out the time other processes hold the core, so its ratios move less); the
kernels, being short, run three times per repeat, alternating, and each repeat keeps their median. The
kernels are also timed at 4x ``--num-perm``: rensa 0.5.0's ``digest_matrix_from_flat_token_hashes`` does
not evaluate ``num_perm`` permutations per token (its time per token barely depends on ``num_perm``: one
mix and one bucket update per token, then a per-document pass over the buckets; see docs/near.md), while
datasketch's schemes, which ours reproduce bit for bit, cost one multiply-add-min per permutation and token.
rensa's kernel is also timed on the same shingles grouped ten documents to one, at both ``num_perm``.

Ends with one ``RESULT {json}`` line (``_bench.result_line``): figures, baselines, per-repeat ratios as
median and range, load average, versions.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")   # rensa: one thread, as every other contender here
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # no idle BLAS threads spinning inside the CPU-time figure

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import add_common_args, ratio_spread, result_line, skipped, spread  # noqa: E402

from dataaudit.passes import lsh  # noqa: E402
from dataaudit.shingle import hash_shingles, minhash_input  # noqa: E402
from dataaudit.text import normalize_array  # noqa: E402


def corpora_dir() -> Path | None:
    p = Path(os.environ.get("DATAAUDIT_CORPORA", ROOT.parent / "shared" / "corpora"))
    return p if p.is_dir() else None


def vocabulary(rng) -> tuple[np.ndarray, np.ndarray, str]:
    """WikiText-2 word frequencies (used by benchmarks/split_audit.py's filler documents)."""
    c = corpora_dir()
    if c and (c / "wikitext-2" / "valid.txt").exists():
        words = []
        for f in ("valid.txt", "test.txt"):
            words += (c / "wikitext-2" / f).read_text(encoding="utf-8").split()
        vocab, counts = np.unique(np.array(words), return_counts=True)
        return vocab, counts / counts.sum(), "WikiText-2 word frequencies"
    n = 50_000
    vocab = np.array(["".join(rng.choice(list("etaoinshrdlucmfwypvbgkjqxz"), int(rng.integers(2, 10))))
                      for _ in range(n)])
    p = 1 / np.arange(1, n + 1)
    return vocab, p / p.sum(), "Zipf vocabulary (corpora absent)"


def paragraphs() -> list[str] | None:
    """Real paragraphs: WikiText-2 lines of 20+ words (headings dropped), Tiny Shakespeare speeches."""
    c = corpora_dir()
    if c is None:
        return None
    out: list[str] = []
    for f in ("valid.txt", "test.txt"):
        p = c / "wikitext-2" / f
        if p.exists():
            out += [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()
                    if len(ln.split()) >= 20 and not ln.strip().startswith("=")]
    p = c / "tinyshakespeare" / "input.txt"
    if p.exists():
        out += [s.strip() for s in p.read_text(encoding="utf-8").split("\n\n") if len(s.split()) >= 20]
    return out or None


def make_corpus(n_docs: int, doc_bytes: int, seed: int = 0) -> list[str] | None:
    paras = paragraphs()
    if paras is None:
        return None
    rng = np.random.default_rng(seed)
    order = rng.integers(0, len(paras), n_docs * max(4, doc_bytes // 200))
    docs, pos = [], 0
    for _ in range(n_docs):
        parts, size = [], 0
        while size < doc_bytes:
            t = paras[order[pos % len(order)]]
            pos += 1
            parts.append(t)
            size += len(t) + 2
        text = "\n\n".join(parts)[:doc_bytes]
        docs.append(text[: text.rfind(" ")] if " " in text else text)
    return docs


def batches(arr: pa.Array, size: int = 2048):
    for s in range(0, len(arr), size):
        yield arr.slice(s, size)


def py_shingles(text: str, n: int = 5) -> list[str]:
    w = text.split()
    if len(w) < n:
        return [" ".join(w)] if w else []
    return [" ".join(w[i:i + n]) for i in range(len(w) - n + 1)]


# ------------------------------------------------------------------------------------------ contenders
# each returns (wall seconds, CPU seconds)

def _timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def ours_raw(raw: pa.Array, num_perm: int) -> tuple[float, float]:
    hasher = lsh.MinHasher(num_perm, 1)

    def go():
        for b in batches(raw):
            sh = hash_shingles(normalize_array(b), 5)
            hasher.signatures(sh.offsets, minhash_input(sh.hashes))
    return _timed(go)


def ours_norm(norm: pa.Array, num_perm: int) -> tuple[float, float]:
    hasher = lsh.MinHasher(num_perm, 1)

    def go():
        for b in batches(norm):
            sh = hash_shingles(b, 5)
            hasher.signatures(sh.offsets, minhash_input(sh.hashes))
    return _timed(go)


def rensa_text(texts: list[str], num_perm: int, chunk: int = 2048) -> tuple[float, float]:
    from rensa import RMinHash

    def go():
        for s in range(0, len(texts), chunk):
            RMinHash.digest_matrix_from_token_sets([py_shingles(x) for x in texts[s:s + chunk]], num_perm, 1)
    return _timed(go)


def datasketch_text(texts: list[str], num_perm: int) -> tuple[float, float]:
    from datasketch import MinHash

    def go():
        for x in texts:
            m = MinHash(num_perm=num_perm, seed=1)
            m.update_batch([s.encode() for s in py_shingles(x)])
    return _timed(go)


def kernel_inputs(norm: pa.Array):
    sh = hash_shingles(norm, 5)
    return sh.offsets, sh.hashes


def ours_kernel(offsets, hashes, num_perm: int, accelerated: bool = True, kernel: str = "auto"):
    """``MinHasher.signatures`` on the pre-hashed shingles (the 32-bit input step, a view, is timed);
    ``kernel`` forces one C kernel (``_fastminhash.set_kernel``), "auto" the best this CPU runs."""
    hasher = lsh.MinHasher(num_perm, 1, accelerated=accelerated)

    def go():
        if lsh._fast is not None:
            lsh._fast.set_kernel(kernel)
        try:
            hasher.signatures(offsets, minhash_input(hashes))
        finally:
            if lsh._fast is not None:
                lsh._fast.set_kernel("auto")
    return go


def rensa_kernel(offsets, hashes, num_perm: int):
    from rensa import RMinHash

    off = offsets.astype(np.uint64)
    return lambda: RMinHash.digest_matrix_from_flat_token_hashes(hashes, off, num_perm, 1)


def alternate(fns: dict, times: int = 3) -> dict[str, tuple[float, float]]:
    """Run each function ``times`` times, alternating; the median wall and CPU seconds of each."""
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    for _ in range(times):
        for k, fn in fns.items():
            runs[k].append(_timed(fn))
    return {k: (float(np.median([w for w, _ in v])), float(np.median([c for _, c in v]))) for k, v in runs.items()}


# ---------------------------------------------------------------------------------------------- driver

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--doc-bytes", type=int, default=4096)
    ap.add_argument("--ref-docs", type=int, default=2_000, help="documents given to datasketch")
    ap.add_argument("--num-perm", type=int, default=128)
    add_common_args(ap, repeat=5)
    a = ap.parse_args()
    if a.quick:
        a.docs, a.ref_docs, a.repeat = 2_000, 300, 2
    docs = make_corpus(a.docs, a.doc_bytes)
    if docs is None:
        print("benchmarks/minhash.py: ../shared/corpora (or $DATAAUDIT_CORPORA) not found: nothing to measure; "
              "skipped")
        skipped("minhash", "corpora absent")
        return
    try:
        import rensa  # noqa: F401
    except ImportError:
        rensa = None
    raw = pa.array(docs, pa.large_string())
    norm = normalize_array(raw)
    norm_list = norm.to_pylist()
    ref = norm_list[: a.ref_docs]
    offsets, hashes = kernel_inputs(norm)
    n_sh = int(offsets[-1])
    mb = sum(len(x.encode()) for x in docs) / 1e6
    big = 4 * a.num_perm
    long_offsets = np.unique(np.append(offsets[::10], offsets[-1]))
    best_kernel = lsh.MinHasher.kernel()
    print(f"corpus: {a.docs} documents of ~{a.doc_bytes} bytes from real paragraphs (WikiText-2, Tiny Shakespeare), "
          f"{mb:.0f} MB raw, {n_sh / a.docs:.0f} word 5-gram shingles/doc; num_perm {a.num_perm}; "
          f"1 process, 1 thread each; {a.repeat} repeats; minhash kernel: {lsh.MinHasher.kernel()}", flush=True)

    wall: dict[str, list[float]] = {}   # docs/s (shingles/s for the kernels), one per repeat, by the wall clock
    cpu: dict[str, list[float]] = {}    # the same by CPU time

    def add(name, count, wc):
        wall.setdefault(name, []).append(count / wc[0])
        cpu.setdefault(name, []).append(count / max(wc[1], 1e-9))

    for r in range(a.repeat):
        add("dataaudit_raw_text", a.docs, ours_raw(raw, a.num_perm))
        add("dataaudit_normalized_text", a.docs, ours_norm(norm, a.num_perm))
        if rensa is not None:
            add("rensa_python_shingling", a.docs, rensa_text(norm_list, a.num_perm))
        add("datasketch_python_shingling", len(ref), datasketch_text(ref, a.num_perm))
        fns = {"kernel_dataaudit_c": ours_kernel(offsets, hashes, a.num_perm),
               f"kernel_dataaudit_c_{big}perm": ours_kernel(offsets, hashes, big)}
        if best_kernel == "avx512":   # the previous kernel beside it, same run
            fns["kernel_dataaudit_c_avx2"] = ours_kernel(offsets, hashes, a.num_perm, kernel="avx2")
        if rensa is not None:
            fns["kernel_rensa"] = rensa_kernel(offsets, hashes, a.num_perm)
            fns[f"kernel_rensa_{big}perm"] = rensa_kernel(offsets, hashes, big)
            # the same shingles as documents ten times longer: rensa's time per token, alone
            fns["kernel_rensa_long_docs"] = rensa_kernel(long_offsets, hashes, a.num_perm)
            fns[f"kernel_rensa_long_docs_{big}perm"] = rensa_kernel(long_offsets, hashes, big)
        for k, wc in alternate(fns).items():
            add(k, n_sh, wc)
        add("kernel_dataaudit_numpy", n_sh, _timed(ours_kernel(offsets, hashes, a.num_perm, accelerated=False)))
        print(f"  repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in wall.items()), flush=True)

    unit = {k: ("shingles/s" if k.startswith("kernel") else "docs/s") for k in wall}
    print("\nmedian [min, max] over repeats, by the wall clock | by CPU time:")
    for k in wall:
        w, c = spread(wall[k], 1), spread(cpu[k], 1)
        print(f"  {k:<34} {w['median']:>14,.0f} [{w['min']:,.0f}, {w['max']:,.0f}] | "
              f"{c['median']:,.0f} [{c['min']:,.0f}, {c['max']:,.0f}] {unit[k]}")

    pairs = {
        "raw_text_vs_rensa_python_shingling": ("dataaudit_raw_text", "rensa_python_shingling"),
        "normalized_text_vs_rensa_python_shingling": ("dataaudit_normalized_text", "rensa_python_shingling"),
        "raw_text_vs_datasketch": ("dataaudit_raw_text", "datasketch_python_shingling"),
        "kernel_c_vs_rensa_kernel": ("kernel_dataaudit_c", "kernel_rensa"),
        f"kernel_c_vs_rensa_kernel_{big}perm": (f"kernel_dataaudit_c_{big}perm", f"kernel_rensa_{big}perm"),
        "kernel_c_vs_numpy": ("kernel_dataaudit_c", "kernel_dataaudit_numpy"),
        "kernel_c_vs_c_avx2": ("kernel_dataaudit_c", "kernel_dataaudit_c_avx2"),
        # time per shingle at 4x num_perm over time at num_perm: 4 for a per-permutation kernel
        f"kernel_c_slowdown_{big}_vs_{a.num_perm}perm": ("kernel_dataaudit_c", f"kernel_dataaudit_c_{big}perm"),
        f"kernel_rensa_slowdown_{big}_vs_{a.num_perm}perm": ("kernel_rensa", f"kernel_rensa_{big}perm"),
        f"kernel_rensa_long_docs_slowdown_{big}_vs_{a.num_perm}perm": ("kernel_rensa_long_docs",
                                                                     f"kernel_rensa_long_docs_{big}perm"),
    }
    ratios = {}
    for k, (x, y) in pairs.items():
        if x in wall and y in wall:
            ratios[k] = ratio_spread(wall[x], wall[y])
            ratios[k + "_cpu"] = ratio_spread(cpu[x], cpu[y])
    targets = {"raw_text_vs_rensa_python_shingling": 4.0, "kernel_c_vs_rensa_kernel": round(1 / 1.5, 3)}
    print("\nratios (per repeat, then median [min, max]; wall clock | CPU time):")
    for k in pairs:
        if k not in ratios:
            print(f"  {k}: n/a (not run here: rensa not installed, or no AVX-512 for the avx2 comparison)")
            continue
        v, c = ratios[k], ratios[k + "_cpu"]
        t = targets.get(k)
        verdict = "" if t is None else (f"  target >= {t:.2f}: " + ("met" if v["median"] >= t else "NOT met")
                                        + " (wall), " + ("met" if c["median"] >= t else "NOT met") + " (CPU)")
        print(f"  {k:<44} {v['median']:.2f}x [{v['min']:.2f}, {v['max']:.2f}] | "
              f"{c['median']:.2f}x [{c['min']:.2f}, {c['max']:.2f}]{verdict}")
    load = os.getloadavg()
    print(f"load average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    ours = ("dataaudit", "kernel_dataaudit")
    result_line(
        "minhash",
        figures={k: {"wall": spread(wall[k], 1), "cpu": spread(cpu[k], 1), "unit": unit[k]}
                 for k in wall if k.startswith(ours)},
        baselines={k: {"wall": spread(wall[k], 1), "cpu": spread(cpu[k], 1), "unit": unit[k]}
                   for k in wall if not k.startswith(ours)},
        ratios=ratios, targets=targets, docs=a.docs, doc_bytes=a.doc_bytes, ref_docs=a.ref_docs, shingles=n_sh,
        num_perm=a.num_perm, repeat=a.repeat, quick=a.quick, kernel=lsh.MinHasher.kernel(),
        packages=("dataaudit", "numpy", "pyarrow", "datasketch", "rensa", "xxhash"))


if __name__ == "__main__":
    main()
