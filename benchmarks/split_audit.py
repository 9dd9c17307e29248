"""Whole near-duplicate + containment audit of a big train split against a val split with planted leaks.

    python benchmarks/split_audit.py [--train 1000000] [--val 50000] [--workers 2] [--dir /tmp/da-bench]
                                     [--ref-train 50000]

Writes the corpus once as Parquet shards under ``--dir`` (reused when present), then, in this process:

1. the near-duplicate pass (``run_near``) over train + val read from Parquet with pyarrow;
2. the containment pass (``run_containment``), val indexed, train streamed;

and prints wall time and peak memory (this process + its worker processes, max RSS), then accuracy on the
planted leaks: ``--near-leaks`` val documents are edited copies of train documents with exact Jaccard
(word 5-gram sets, computed here) spread over 0.3..1.0, and ``--embedded`` short val documents (50-150 words)
are pasted inside train documents. Recall is measured on planted pairs with exact Jaccard >= threshold + 0.05,
precision as the share of reported pairs whose exact Jaccard (recomputed here in plain Python) reaches the
threshold. The reference point is datasketch ``MinHashLSH`` (in memory, same threshold and num_perm, its
default parameters) on a ``--ref-train`` subsample of train plus all planted val documents; its time is also
given scaled to the full train size (linear: insertion dominates).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from dataaudit.passes.near import NearConfig, run_near  # noqa: E402
from dataaudit.passes.overlap import ContainmentConfig, run_containment  # noqa: E402
from dataaudit.records import DOC_SCHEMA  # noqa: E402
from dataaudit.shingle import jaccard, shingles  # noqa: E402
from minhash import vocabulary  # noqa: E402


def _docs(rng, vocab, p, lengths) -> list[str]:
    out: list[str] = []
    vocab = vocab.astype(object)          # fixed-width numpy strings would cost maxlen x 4 bytes per word
    for c in range(0, len(lengths), 2000):
        ln = lengths[c:c + 2000]
        words = vocab[rng.choice(len(vocab), int(ln.sum()), p=p)].tolist()
        ends = np.cumsum(ln)
        out += [" ".join(words[e - n:e]) for e, n in zip(ends.tolist(), ln.tolist())]
    return out


def _edit(rng, text: str, rate: float) -> str:
    words = text.split()
    for j in rng.choice(len(words), int(round(rate * len(words))), replace=False):
        words[j] = f"edit{rng.integers(1 << 40)}"
    return " ".join(words)


def _write(path: Path, split: str, texts: list[str], start: int) -> None:
    n = len(texts)
    t = pa.table([pa.array([f"{split}-{i:07d}" for i in range(start, start + n)]), pa.array([split] * n),
                  pa.array(texts, pa.large_string()), pa.array([path.name] * n),
                  pa.array(np.arange(n), pa.int64())], schema=DOC_SCHEMA)
    pq.write_table(t, path, compression="zstd")


def make_corpus(d: Path, n_train: int, n_val: int, n_near: int, n_emb: int, seed: int = 0) -> dict:
    marker = d / "planted.npz"
    if marker.exists():
        z = np.load(marker, allow_pickle=True)
        return {k: z[k] for k in z.files}
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocab, p, _ = vocabulary(rng)
    shard = 50_000
    # planted: val[0:n_near] are edits of train[k * 7]; val[n_near:n_near+n_emb] are pasted into train[k * 7 + 3]
    near_src = np.arange(n_near) * 7
    emb_dst = np.arange(n_emb) * 7 + 3
    target = np.linspace(1.0, 0.3, n_near)
    rates = 1 - (2 * target / (1 + target)) ** (1 / 5)
    val_lengths = np.clip(rng.lognormal(np.log(250), 0.6, n_val).astype(int), 30, 3000)
    val_lengths[n_near:n_near + n_emb] = rng.integers(50, 151, n_emb)
    val = _docs(rng, vocab, p, val_lengths)
    near_truth = np.zeros(n_near)
    emb = {int(t): val[n_near + k] for k, t in enumerate(emb_dst)}
    for s in range(0, n_train, shard):
        n = min(shard, n_train - s)
        texts = _docs(rng, vocab, p, np.clip(rng.lognormal(np.log(250), 0.6, n).astype(int), 30, 3000))
        for k in np.flatnonzero((near_src >= s) & (near_src < s + n)):
            val[k] = _edit(rng, texts[near_src[k] - s], rates[k])
            near_truth[k] = jaccard(shingles(val[k]), shingles(texts[near_src[k] - s]))
        for g in range(s, s + n):
            if g in emb:
                w = texts[g - s].split()
                cut = int(rng.integers(0, len(w)))
                texts[g - s] = " ".join(w[:cut] + emb[g].split() + w[cut:])
        _write(d / f"train-{s // shard:04d}.parquet", "train", texts, s)
    _write(d / "val-0000.parquet", "val", val, 0)
    out = {"near_src": near_src, "near_truth": near_truth, "emb_dst": emb_dst, "n_near": np.array(n_near),
           "n_emb": np.array(n_emb)}
    np.savez(marker, **out)
    return out


def parquet_source(files: list[Path], batch_size: int = 4096):
    def make():
        for f in files:
            yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size)
    return make


def peak_mb() -> tuple[float, float]:
    """Max RSS of this process and of its largest finished child, MB (Linux reports KiB)."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


class ChildPeak:
    """Samples VmHWM (peak RSS) of this process's children from /proc every 0.2 s (Linux)."""

    def __init__(self) -> None:
        import threading

        self.peak_kb = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        me = str(os.getpid())
        while not self._stop.wait(0.2):
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                if fields.get("PPid", "").strip() == me and "VmHWM" in fields:
                    self.peak_kb = max(self.peak_kb, int(fields["VmHWM"].split()[0]))

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        return self.peak_kb / 1024


def reference_datasketch(train_files, val_texts: list[str], n_train: int, threshold: float, num_perm: int):
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    t = time.perf_counter()
    done = 0
    from dataaudit.text import normalize_array

    for batch in parquet_source(train_files)():
        for doc_id, text in zip(batch.column(0).to_pylist(), normalize_array(batch.column(2)).to_pylist()):
            m = MinHash(num_perm=num_perm, seed=1)
            m.update_batch([s.encode() for s in shingles(text, normalization=None)])
            lsh.insert(doc_id, m, check_duplication=False)
            done += 1
            if done >= n_train:
                break
        if done >= n_train:
            break
    found = []
    for text in normalize_array(pa.array(val_texts, pa.large_string())).to_pylist():
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch([s.encode() for s in shingles(text, normalization=None)])
        found.append(lsh.query(m))
    return time.perf_counter() - t, done, found, (lsh.b, lsh.r)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=1_000_000)
    ap.add_argument("--val", type=int, default=50_000)
    ap.add_argument("--near-leaks", type=int, default=1000)
    ap.add_argument("--embedded", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--ref-train", type=int, default=50_000, help="train docs given to datasketch (0: skip)")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/dataaudit-bench"))
    ap.add_argument("--make-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    d = a.dir / f"t{a.train}-v{a.val}"
    t0 = time.perf_counter()
    if a.make_only:
        make_corpus(d, a.train, a.val, a.near_leaks, a.embedded)
        return
    # the corpus is made in a child process so that its memory does not count in the audit's peak
    import subprocess

    subprocess.run([sys.executable, __file__, "--make-only", *sys.argv[1:]], check=True)
    planted = make_corpus(d, a.train, a.val, a.near_leaks, a.embedded)
    train_files = sorted(d.glob("train-*.parquet"))
    val_files = [d / "val-0000.parquet"]
    size = sum(f.stat().st_size for f in train_files + val_files) / 1e6
    text_mb = sum(pq.ParquetFile(f).metadata.row_group(0).column(2).total_uncompressed_size
                  for f in train_files + val_files) / 1e6
    print(f"corpus: {a.train} train + {a.val} val docs, ~{text_mb:.0f} MB of text ({size:.0f} MB zstd Parquet) "
          f"in {d} (ready after {time.perf_counter() - t0:.0f} s); {a.near_leaks} planted near-duplicates, "
          f"{a.embedded} embedded val docs; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at start", flush=True)

    sources = {"train": parquet_source(train_files), "val": parquet_source(val_files)}
    out = a.dir / "out"
    children = ChildPeak()
    t = time.perf_counter()
    near = run_near(sources, NearConfig(threshold=a.threshold, workers=a.workers), out)
    t_near = time.perf_counter() - t
    t = time.perf_counter()
    cont = run_containment({"val": sources["val"]}, sources["train"], ContainmentConfig(), out)
    t_cont = time.perf_counter() - t
    self_mb, _ = peak_mb()
    child_mb = children.stop()
    total = t_near + t_cont
    print(f"dataaudit near + containment: {total / 60:.1f} min wall (near {t_near:.0f} s, containment "
          f"{t_cont:.0f} s), peak RSS {self_mb:.0f} MB main process, {child_mb:.0f} MB largest worker; "
          f"load average {os.getloadavg()[0]:.1f} at end", flush=True)
    s = near.summary
    print(f"  near: LSH {s['bands']}x{s['rows']}, {s['candidates']} candidates, {s['verified_pairs']} verified, "
          f"{s['dropped_candidates']} dropped (measured FP rate {s['measured_false_positive_rate']:.2%}); "
          f"P(candidate) at 0.80/0.85/0.90: {s['detection_curve']['0.80']}/{s['detection_curve']['0.85']}/"
          f"{s['detection_curve']['0.90']}")

    # accuracy on planted leaks
    pairs = pq.read_table(out / "near_pairs.parquet").to_pylist()
    n_near = int(planted["n_near"])
    truth = {f"val-{k:07d}": (f"train-{int(planted['near_src'][k]):07d}", float(planted["near_truth"][k]))
             for k in range(n_near)}
    got = {(r["doc_id"], r["other_doc_id"]) for r in pairs}
    must = [(v, tr) for v, (tr, j) in truth.items() if j >= a.threshold + 0.05]
    recall = sum((v, tr) in got for v, tr in must) / max(len(must), 1)
    planted_pairs = {(v, tr) for v, (tr, _) in truth.items()}
    bad = [r for r in pairs if (r["doc_id"], r["other_doc_id"]) in planted_pairs
           and truth[r["doc_id"]][1] < a.threshold - 1e-9]
    other = [r for r in pairs if (r["doc_id"], r["other_doc_id"]) not in planted_pairs]
    precision = 1 - (len(bad) + sum(r["jaccard"] < a.threshold for r in other)) / max(len(pairs), 1)
    est_err = np.array([r["estimated_jaccard"] - r["jaccard"] for r in pairs])
    jj = np.array([r["jaccard"] for r in pairs])
    z = np.abs(est_err) / np.maximum(np.sqrt(jj * (1 - jj) / 128), 1e-9)
    print(f"  near accuracy: recall {recall:.4f} on {len(must)} planted pairs with exact J >= "
          f"{a.threshold + 0.05:.2f}; precision {precision:.4f} ({len(pairs)} reported, {len(other)} unplanted); "
          f"|estimate - exact|: mean {np.abs(est_err).mean():.4f}, share within 3 sd "
          f"{float(np.mean(z[jj < 1] <= 3)) if (jj < 1).any() else 1.0:.3f}")
    ct = pq.read_table(out / "containment.parquet").to_pylist()
    n_emb = int(planted["n_emb"])
    emb_ids = {f"val-{n_near + k:07d}": f"train-{int(planted['emb_dst'][k]):07d}" for k in range(n_emb)}
    flagged = {r["doc_id"]: r for r in ct if r["flagged"]}
    c_recall = sum(v in flagged and tr in flagged[v]["train_doc_ids"] for v, tr in emb_ids.items()) / n_emb
    unexpected = set(flagged) - set(emb_ids) - set(truth)
    print(f"  containment: recall {c_recall:.4f} on {n_emb} embedded docs of 50-150 words; "
          f"{len(flagged)} flagged in all, of which {len(set(flagged) & set(truth))} are the planted near-duplicates "
          f"and {len(unexpected)} neither planted kind; {cont.summary['boilerplate_ngrams']} boilerplate n-grams",
          flush=True)

    if a.ref_train:
        n_ref_val = n_near
        vt = pq.read_table(val_files[0]).column("text").to_pylist()[:n_ref_val]
        before = peak_mb()[0]
        secs, done, found, (b, r) = reference_datasketch(train_files, vt, a.ref_train, a.threshold, 128)
        rs = [truth[f"val-{k:07d}"] for k in range(n_ref_val)]
        sub_must = [(k, tr) for k, (tr, j) in enumerate(rs) if j >= a.threshold + 0.05 and int(tr[6:]) < done]
        ref_recall = sum(tr in found[k] for k, tr in sub_must) / max(len(sub_must), 1)
        print(f"datasketch MinHashLSH (in memory, {b} bands x {r} rows, no verification): {done} train + "
              f"{n_ref_val} val docs in {secs:.0f} s -> ~{secs * a.train / done / 60:.0f} min scaled to {a.train} "
              f"train docs (near pass only, 1 process); recall {ref_recall:.4f} on the {len(sub_must)} planted "
              f"pairs with J >= {a.threshold + 0.05:.2f} in the subsample; main-process peak RSS "
              f"{peak_mb()[0]:.0f} MB (was {before:.0f} MB before it)", flush=True)


if __name__ == "__main__":
    main()
