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
  ``MinHasher.signatures`` (it takes their low 32 bits; the cast is timed), C kernel and numpy path.

Ends with one ``RESULT {json}`` line: figures, baselines, ratios (medians), load average, versions.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")   # rensa: one thread, as every other contender here

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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

def ours_raw(raw: pa.Array, num_perm: int) -> float:
    hasher = lsh.MinHasher(num_perm, 1)
    t = time.perf_counter()
    for b in batches(raw):
        sh = hash_shingles(normalize_array(b), 5)
        hasher.signatures(sh.offsets, minhash_input(sh.hashes))
    return time.perf_counter() - t


def ours_norm(norm: pa.Array, num_perm: int) -> float:
    hasher = lsh.MinHasher(num_perm, 1)
    t = time.perf_counter()
    for b in batches(norm):
        sh = hash_shingles(b, 5)
        hasher.signatures(sh.offsets, minhash_input(sh.hashes))
    return time.perf_counter() - t


def rensa_text(texts: list[str], num_perm: int, chunk: int = 2048) -> float:
    from rensa import RMinHash

    t = time.perf_counter()
    for s in range(0, len(texts), chunk):
        RMinHash.digest_matrix_from_token_sets([py_shingles(x) for x in texts[s:s + chunk]], num_perm, 1)
    return time.perf_counter() - t


def datasketch_text(texts: list[str], num_perm: int) -> float:
    from datasketch import MinHash

    t = time.perf_counter()
    for x in texts:
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch([s.encode() for s in py_shingles(x)])
    return time.perf_counter() - t


def kernel_inputs(norm: pa.Array):
    sh = hash_shingles(norm, 5)
    return sh.offsets, sh.hashes


def ours_kernel(offsets, hashes, num_perm: int, accelerated: bool) -> float:
    hasher = lsh.MinHasher(num_perm, 1, accelerated=accelerated)
    t = time.perf_counter()
    hasher.signatures(offsets, minhash_input(hashes))
    return time.perf_counter() - t


def rensa_kernel(offsets, hashes, num_perm: int) -> float:
    from rensa import RMinHash

    off = offsets.astype(np.uint64)
    t = time.perf_counter()
    RMinHash.digest_matrix_from_flat_token_hashes(hashes, off, num_perm, 1)
    return time.perf_counter() - t


# ---------------------------------------------------------------------------------------------- driver

def stats(xs: list[float]) -> dict:
    return {"median": float(np.median(xs)), "min": float(min(xs)), "max": float(max(xs)), "n": len(xs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--doc-bytes", type=int, default=4096)
    ap.add_argument("--ref-docs", type=int, default=2_000, help="documents given to datasketch")
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="2,000 documents, 2 repeats (a smoke check, < 1 min)")
    a = ap.parse_args()
    if a.quick:
        a.docs, a.ref_docs, a.repeat = 2_000, 300, 2
    docs = make_corpus(a.docs, a.doc_bytes)
    if docs is None:
        print("benchmarks/minhash.py: ../shared/corpora (or $DATAAUDIT_CORPORA) not found: nothing to measure; "
              "skipped")
        print("RESULT " + json.dumps({"name": "minhash", "skipped": "corpora absent"}))
        return
    try:
        import rensa
        rensa_version = getattr(rensa, "__version__", None) or _dist_version("rensa")
    except ImportError:
        rensa = None
        rensa_version = None
    raw = pa.array(docs, pa.large_string())
    norm = normalize_array(raw)
    norm_list = norm.to_pylist()
    ref = norm_list[: a.ref_docs]
    offsets, hashes = kernel_inputs(norm)
    n_sh = int(offsets[-1])
    mb = sum(len(x.encode()) for x in docs) / 1e6
    print(f"corpus: {a.docs} documents of ~{a.doc_bytes} bytes from real paragraphs (WikiText-2, Tiny Shakespeare), "
          f"{mb:.0f} MB raw, {n_sh / a.docs:.0f} word 5-gram shingles/doc; num_perm {a.num_perm}; "
          f"1 process, 1 thread each; {a.repeat} repeats; minhash kernel: {lsh.MinHasher.kernel()}", flush=True)

    runs: dict[str, list[float]] = {}   # docs/s (or shingles/s for the kernels), one per repeat
    for r in range(a.repeat):
        runs.setdefault("dataaudit_raw_text", []).append(a.docs / ours_raw(raw, a.num_perm))
        runs.setdefault("dataaudit_normalized_text", []).append(a.docs / ours_norm(norm, a.num_perm))
        if rensa is not None:
            runs.setdefault("rensa_python_shingling", []).append(a.docs / rensa_text(norm_list, a.num_perm))
        runs.setdefault("datasketch_python_shingling", []).append(len(ref) / datasketch_text(ref, a.num_perm))
        runs.setdefault("kernel_dataaudit_c", []).append(n_sh / ours_kernel(offsets, hashes, a.num_perm, True))
        runs.setdefault("kernel_dataaudit_numpy", []).append(
            n_sh / ours_kernel(offsets, hashes, a.num_perm, False))
        if rensa is not None:
            runs.setdefault("kernel_rensa", []).append(n_sh / rensa_kernel(offsets, hashes, a.num_perm))
        print(f"  repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in runs.items()), flush=True)

    fig = {k: stats(v) for k, v in runs.items()}
    unit = {k: ("shingles/s" if k.startswith("kernel") else "docs/s") for k in fig}
    print("\nmedian [min, max] over repeats:")
    for k, s in fig.items():
        print(f"  {k:<30} {s['median']:>14,.0f} {unit[k]:<10} [{s['min']:,.0f}, {s['max']:,.0f}]")

    def ratio(x, y):
        if x not in runs or y not in runs:
            return None
        per = [p / q for p, q in zip(runs[x], runs[y])]   # ratio within each repeat: same load
        return {"median": float(np.median(per)), "min": float(min(per)), "max": float(max(per))}

    ratios = {
        "raw_text_vs_rensa_python_shingling": ratio("dataaudit_raw_text", "rensa_python_shingling"),
        "normalized_text_vs_rensa_python_shingling": ratio("dataaudit_normalized_text", "rensa_python_shingling"),
        "raw_text_vs_datasketch": ratio("dataaudit_raw_text", "datasketch_python_shingling"),
        "kernel_c_vs_rensa_kernel": ratio("kernel_dataaudit_c", "kernel_rensa"),
        "kernel_c_vs_numpy": ratio("kernel_dataaudit_c", "kernel_dataaudit_numpy"),
    }
    targets = {"raw_text_vs_rensa_python_shingling": 4.0, "kernel_c_vs_rensa_kernel": 1 / 1.5}
    print("\nratios (per repeat, then median [min, max]):")
    for k, v in ratios.items():
        if v is None:
            print(f"  {k}: n/a (rensa not installed: pip install rensa)")
            continue
        t = targets.get(k)
        verdict = "" if t is None else (f"  target >= {t:.2f}: " + ("met" if v["median"] >= t else "NOT met"))
        print(f"  {k:<44} {v['median']:.2f}x [{v['min']:.2f}, {v['max']:.2f}]{verdict}")
    load = os.getloadavg()
    print(f"load average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    import datasketch

    result = {
        "name": "minhash", "docs": a.docs, "doc_bytes": a.doc_bytes, "ref_docs": a.ref_docs,
        "shingles": n_sh, "num_perm": a.num_perm, "repeat": a.repeat, "quick": a.quick,
        "kernel": lsh.MinHasher.kernel(), "figures": {k: v for k, v in fig.items() if k.startswith(("dataaudit", "kernel_dataaudit"))},
        "baselines": {k: v for k, v in fig.items() if not k.startswith(("dataaudit", "kernel_dataaudit"))},
        "units": unit, "ratios": ratios, "targets": targets, "load_average": [round(x, 2) for x in load],
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "pyarrow": pa.__version__,
                     "datasketch": _dist_version("datasketch") or getattr(datasketch, "__version__", None),
                     "rensa": rensa_version},
    }
    print("RESULT " + json.dumps(result))


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
