"""Text -> MinHash signature throughput: dataaudit beside datasketch and rensa, same shingles, same run.

    python benchmarks/minhash.py [--docs 100000] [--ref-docs 5000] [--num-perm 128]

Corpus: ``--docs`` documents of realistic length (log-normal, median ~350 words) sampled from the word
frequencies of WikiText-2 (``../shared/corpora/wikitext-2``, or $DATAAUDIT_CORPORA) when present, else from a
Zipf vocabulary. Everything is normalized once up front (dataaudit.text.normalize_array) so all contenders
start from the same normalized text and the same word 5-gram shingles.

Rows printed:
- dataaudit, 1 and 2 processes: normalized text -> shingle hashes -> signatures (vectorized numpy);
  also raw text (normalization included) for 1 process;
- datasketch ``MinHash.update_batch`` and rensa ``RMinHash.update``, on ``--ref-docs`` documents (they are
  slower; docs/s and MB/s are rates, so the subsample does not bias them): once *including* building the
  shingle strings in Python from the same normalized text (the same text -> signature quantity), and once
  on pre-built shingle lists (their kernel alone).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dataaudit.passes import lsh  # noqa: E402
from dataaudit.passes.near import NearConfig, _Runner, _sign_task  # noqa: E402
from dataaudit.shingle import hash_shingles, minhash_input  # noqa: E402
from dataaudit.text import normalize_array  # noqa: E402


def corpora_dir() -> Path | None:
    p = Path(os.environ.get("DATAAUDIT_CORPORA", ROOT.parent / "shared" / "corpora"))
    return p if p.is_dir() else None


def vocabulary(rng) -> tuple[np.ndarray, np.ndarray, str]:
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


def make_corpus(n_docs: int, seed: int = 0) -> tuple[list[str], str]:
    rng = np.random.default_rng(seed)
    vocab, p, what = vocabulary(rng)
    lengths = np.clip(rng.lognormal(np.log(350), 0.6, n_docs).astype(int), 20, 5000)
    ids = rng.choice(len(vocab), int(lengths.sum()), p=p)
    words = vocab[ids]
    ends = np.cumsum(lengths)
    docs = [" ".join(words[e - n:e]) for e, n in zip(ends, lengths)]
    return docs, what


def batches(arr: pa.Array, size: int = 4096):
    for s in range(0, len(arr), size):
        yield arr.slice(s, size)


def run_ours(norm: pa.Array, num_perm: int) -> float:
    hasher = lsh.MinHasher(num_perm, 1)
    t = time.perf_counter()
    for b in batches(norm):
        sh = hash_shingles(b, 5)
        hasher.signatures(sh.offsets, minhash_input(sh.hashes))
    return time.perf_counter() - t


def run_ours_raw(raw: pa.Array, num_perm: int) -> float:
    hasher = lsh.MinHasher(num_perm, 1)
    t = time.perf_counter()
    for b in batches(raw):
        sh = hash_shingles(normalize_array(b), 5)
        hasher.signatures(sh.offsets, minhash_input(sh.hashes))
    return time.perf_counter() - t


def run_ours_workers(raw: pa.Array, num_perm: int, workers: int) -> float:
    """Through the pass's own process pool (normalization included, as in the pass)."""
    runner = _Runner(NearConfig(num_perm=num_perm, workers=workers), normalize_array.__defaults__[0])
    try:
        list(runner.map(_sign_task, batches(raw.slice(0, 4096))))   # warm the workers up (imports)
        t = time.perf_counter()
        for _ in runner.map(_sign_task, batches(raw)):
            pass
        return time.perf_counter() - t
    finally:
        runner.close()


def py_shingles(text: str, n: int = 5) -> list[str]:
    w = text.split()
    if len(w) < n:
        return [" ".join(w)] if w else []
    return [" ".join(w[i:i + n]) for i in range(len(w) - n + 1)]


def run_datasketch(texts: list[str], num_perm: int, prebuilt: bool) -> float:
    from datasketch import MinHash

    sh = [[s.encode() for s in py_shingles(t)] for t in texts] if prebuilt else None
    t0 = time.perf_counter()
    for i, t in enumerate(texts):
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch(sh[i] if prebuilt else [s.encode() for s in py_shingles(t)])
    return time.perf_counter() - t0


def run_rensa(texts: list[str], num_perm: int, prebuilt: bool) -> float:
    from rensa import RMinHash

    sh = [py_shingles(t) for t in texts] if prebuilt else None
    t0 = time.perf_counter()
    for i, t in enumerate(texts):
        m = RMinHash(num_perm=num_perm, seed=1)
        m.update(sh[i] if prebuilt else py_shingles(t))
        m.digest()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--ref-docs", type=int, default=5_000, help="documents given to datasketch and rensa")
    ap.add_argument("--num-perm", type=int, default=128)
    a = ap.parse_args()
    t = time.perf_counter()
    docs, what = make_corpus(a.docs)
    raw = pa.array(docs, pa.large_string())
    norm = normalize_array(raw)
    mb = norm.nbytes / 1e6
    print(f"corpus: {a.docs} docs from {what}, {mb:.0f} MB normalized text, "
          f"{np.mean([len(d.split()) for d in docs[:2000]]):.0f} words/doc (made in {time.perf_counter() - t:.0f} s); "
          f"num_perm {a.num_perm}, word 5-grams; {os.cpu_count()} cores (shared: figures vary with load)")
    ref = norm.slice(0, a.ref_docs).to_pylist()
    ref_mb = sum(len(x.encode()) for x in ref) / 1e6
    rows = []

    def row(name, n_docs, n_mb, secs):
        rows.append((name, n_docs / secs, n_mb / secs))
        print(f"  {name:<58} {n_docs / secs:>10,.0f} docs/s {n_mb / secs:>8.1f} MB/s  ({n_docs} docs, {secs:.1f} s)",
              flush=True)

    row("dataaudit, 1 process (normalized text -> signature)", a.docs, mb, run_ours(norm, a.num_perm))
    row("dataaudit, 1 process (raw text, normalization included)", a.docs, mb, run_ours_raw(raw, a.num_perm))
    row("dataaudit, 2 processes (raw text, normalization included)", a.docs, mb,
        run_ours_workers(raw, a.num_perm, 2))
    row("datasketch MinHash.update_batch (+ Python shingling)", len(ref), ref_mb,
        run_datasketch(ref, a.num_perm, False))
    row("datasketch MinHash.update_batch (pre-built shingles)", len(ref), ref_mb,
        run_datasketch(ref, a.num_perm, True))
    try:
        import rensa  # noqa: F401
    except ImportError:
        print("  rensa: not installed (pip install rensa) -- skipped")
    else:
        row("rensa RMinHash (+ Python shingling)", len(ref), ref_mb, run_rensa(ref, a.num_perm, False))
        row("rensa RMinHash (pre-built shingles)", len(ref), ref_mb, run_rensa(ref, a.num_perm, True))
    ours = rows[0][1]
    same = max(r[1] for r in rows if "+ Python shingling" in r[0])
    kernel = max(r[1] for r in rows if "pre-built" in r[0])
    print(f"dataaudit (1 process) vs the faster reference: {ours / same:.2f}x on the same text -> signature "
          f"work, {ours / kernel:.2f}x against their kernels alone (shingles built for them, untimed); target 2x")


if __name__ == "__main__":
    main()
