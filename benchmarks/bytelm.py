"""Benchmark of the embedded byte-level default (issue 3 targets), in one run:

1. fit it on 1 MB of English text (WikiText-2 valid paragraphs) and time the fit (target: < 3 min on 2 cores);
2. bits per byte on held-out English text (WikiText-2 test paragraphs; target <= 2.6);
3. AUROC separating planted junk (random base64, long runs of one character, a repeated short n-gram,
   shuffled words) from held-out normal paragraphs, by bits per byte, by the worst window, and by the
   two-sided distance from typical bits per byte (target >= 0.99).

    python benchmarks/bytelm.py [--seed S] [--config JSON] [--steps N] [--heldout-bytes N] [--threads 2]

Needs ../shared/corpora (or $DATAAUDIT_CORPORA); exits 0 with a message when it is absent. The machine is
shared, so the load average before and after is printed beside the timings.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def corpora() -> Path | None:
    p = Path(os.environ.get("DATAAUDIT_CORPORA") or ROOT.parent / "shared" / "corpora")
    return p if (p / "wikitext-2" / "valid.txt").exists() else None


def paragraphs(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def auroc(pos: list[float], neg: list[float]) -> float:
    """Probability that a random positive outscores a random negative (ties count half): Mann-Whitney U."""
    allv = sorted([(v, 1) for v in pos] + [(v, 0) for v in neg])
    rank_sum, i = 0.0, 0
    while i < len(allv):
        j = i
        while j < len(allv) and allv[j][0] == allv[i][0]:
            j += 1
        avg = (i + j + 1) / 2.0           # 1-based average rank of the tie block
        rank_sum += avg * sum(1 for k in range(i, j) if allv[k][1])
        i = j
    n1, n0 = len(pos), len(neg)
    return (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0)


#: which side of normal text each kind of junk falls on, fixed in advance (not chosen from the results)
SIDE = {"base64": "high", "char_run": "low", "repeated_ngram": "low", "shuffled_words": "high"}


LOCAL_SIDE = {"base64": "high", "backslash_run": "low", "repeated_ngram": "low"}


def make_local_junk(normal: list[str], rng: random.Random) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {k: [] for k in LOCAL_SIDE}
    for t in normal:
        k = len(t) // 2
        out["base64"].append(t[:k] + base64.b64encode(rng.randbytes(75)).decode() + t[k:])
        out["backslash_run"].append(t[:k] + "\\" * 100 + t[k:])
        out["repeated_ngram"].append(t[:k] + ("lorem ipsum " * 9)[:100] + t[k:])
    return out


def make_junk(normal: list[str], rng: random.Random, per_kind: int) -> dict[str, list[str]]:
    lengths = [len(t) for t in normal]
    junk: dict[str, list[str]] = {"base64": [], "char_run": [], "repeated_ngram": [], "shuffled_words": []}
    words = " ".join(normal).split()
    for i in range(per_kind):
        n = rng.choice(lengths)
        junk["base64"].append(base64.b64encode(rng.randbytes(n)).decode()[:n])
        junk["char_run"].append(rng.choice("a=-*.x0 ") * n)
        gram = " ".join(rng.choice(words) for _ in range(rng.randint(1, 3))) + " "
        junk["repeated_ngram"].append((gram * (n // len(gram) + 1))[:n])
        src = normal[(i * 7919) % len(normal)].split()
        rng.shuffle(src)
        junk["shuffled_words"].append(" ".join(src))
    return junk


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None, help="override ByteLMConfig.steps")
    ap.add_argument("--seed", type=int, default=0, help="ByteLMConfig.seed (weights init and batch order)")
    ap.add_argument("--config", default="{}", help='other ByteLMConfig fields as JSON, e.g. \'{"batch_size": 16}\'')
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--heldout-bytes", type=int, default=300_000, help="held-out test text scored for bits/byte")
    ap.add_argument("--per-kind", type=int, default=300, help="junk documents per kind")
    ap.add_argument("--normal", type=int, default=400, help="normal test paragraphs (>= 200 characters)")
    args = ap.parse_args()
    c = corpora()
    if c is None:
        print("benchmarks/bytelm.py: ../shared/corpora not found (set DATAAUDIT_CORPORA); skipped")
        return 0
    import torch

    torch.set_num_threads(args.threads)
    from dataaudit.model.bytelm import ByteLMConfig, fit_default_model
    from dataaudit.passes.score import ScoreConfig, aggregate, score

    over = json.loads(args.config)
    if args.steps is not None:
        over["steps"] = args.steps
    cfg = ByteLMConfig(**{**over, "seed": args.seed})
    fit_docs = paragraphs(c / "wikitext-2" / "valid.txt")
    test = paragraphs(c / "wikitext-2" / "test.txt")
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        model = fit_default_model(fit_docs, config=cfg, cache_dir=tmp, device="cpu", refit=True)
        fit_s = time.perf_counter() - t0
        fi = model.fit_info
        load1 = os.getloadavg()[0]
        # held-out: every paragraph of WikiText-2 test, in order, until --heldout-bytes
        held, nb = [], 0
        for t in test:
            if nb >= args.heldout_bytes:
                break
            held.append(t)
            nb += len(t.encode())
        t1 = time.perf_counter()
        ht = score(held, model=model, use_cache=False, config=ScoreConfig())
        score_s = time.perf_counter() - t1
        agg = aggregate(ht)
        # junk vs normal: normal = long-enough test paragraphs after the held-out block
        rng = random.Random(0)
        rest = [t for t in test[len(held):] if len(t) >= 200]
        rng.shuffle(rest)
        normal = rest[: args.normal]
        junk = make_junk(rest[args.normal:], rng, args.per_kind)
        docs = normal + [d for k in junk for d in junk[k]]
        st = score(docs, model=model, use_cache=False)
        # local junk: 100 characters of it inserted mid-paragraph, read by the worst window (random text) or
        # the best window (a run, a repeat); against the same normal paragraphs, untouched
        local = make_local_junk(normal, random.Random(1))
        sl_ = {k: score(v, model=model, use_cache=False) for k, v in local.items()}
    bpb = st["bits_per_byte"].to_pylist()
    wb = st["worst_bpb"].to_pylist()
    # model bits/byte over zlib bits/byte: how much better than a generic compressor the model does
    # (the idea of Carlini et al. 2021's zlib score, per byte so that length cancels)
    zr = [b / (8 * z / n) for b, z, n in zip(bpb, st["zlib_bytes"].to_pylist(), st["n_bytes"].to_pylist())]
    nn = len(normal)
    med = sorted(bpb[:nn])[nn // 2]
    dev = [abs(math.log(b / med)) for b in bpb]
    print(f"machine: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, load average "
          f"{load0:.2f} before / {load1:.2f} after the fit (shared machine)")
    print(f"fit: WikiText-2 valid paragraphs, sample {fi['sample_docs']} docs / {fi['sample_bytes']:,} bytes, "
          f"{fi['steps_done']}/{fi['steps']} steps x {cfg.batch_size} x {cfg.seq_len} bytes, seed {cfg.seed}, params {model.describe()['params']:,}, "
          f"{fit_s:.1f} s (target < 180 s), train bits/byte (EMA) {fi['train_bits_per_byte_ema']}")
    print(f"held-out: WikiText-2 test, first {len(held)} paragraphs / {agg['bytes']:,} bytes: "
          f"{agg['bits_per_byte']:.3f} bits per byte (target <= 2.6); scored in {score_s:.1f} s "
          f"({agg['tokens'] / score_s:,.0f} bytes/s)")
    print(f"junk vs normal ({nn} normal test paragraphs >= 200 chars; {args.per_kind} junk per kind); "
          f"median normal bits/byte {med:.3f}")
    print("AUROC on the side each kind is flagged (decided before measuring: random text and shuffled words "
          "cost more than normal text, runs and repeats less), then the one two-sided score for all kinds")
    print(f"{'kind':<16} {'side':>5} {'mean bpb':>9} {'AUROC bpb':>10} {'AUROC worst':>12} "
          f"{'AUROC |log bpb/median|':>23} {'AUROC bpb/zlib (high)':>19}")
    pos = nn
    allj_dev = []

    def sided(a: float, side: str) -> float:
        return a if side == "high" else 1.0 - a   # low side: a junk document scoring lower is the hit

    for k, ds in junk.items():
        sl = slice(pos, pos + len(ds))
        pos += len(ds)
        allj_dev += dev[sl]
        side = SIDE[k]
        print(f"{k:<16} {side:>5} {sum(bpb[sl]) / len(ds):>9.3f} {sided(auroc(bpb[sl], bpb[:nn]), side):>10.4f} "
              f"{sided(auroc(wb[sl], wb[:nn]), side):>12.4f} {auroc(dev[sl], dev[:nn]):>23.4f} "
              f"{auroc(zr[sl], zr[:nn]):>19.4f}")
    print(f"{'all junk':<16} {'both':>5} {'':>9} {'':>10} {'':>12} {auroc(allj_dev, dev[:nn]):>23.4f}")
    print("local junk: 100 characters inserted in the middle of each normal paragraph, AUROC against the "
          "untouched paragraphs by the worst window (high side) and the best window (low side)")
    wn_ = st["worst_bpb"].to_pylist()[:nn]
    bn_ = st["best_bpb"].to_pylist()[:nn]
    for k, t in sl_.items():
        side = LOCAL_SIDE[k]
        a = auroc(t["worst_bpb"].to_pylist(), wn_) if side == "high" else \
            1.0 - auroc(t["best_bpb"].to_pylist(), bn_)
        print(f"  {k:<22} {side:>5} window: AUROC {a:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
