"""Near-duplicate audit of train x val on web-like pages built from real text, beside datasketch MinHashLSH.

    python benchmarks/split_audit.py [--train 40000] [--val 4000] [--planted 1000] [--threshold 0.8]
                                     [--repeat 3] [--quick] [--dir /tmp/dataaudit-bench-near]

Corpus (made once under ``--dir`` from ``../shared/corpora`` or $DATAAUDIT_CORPORA; without them the benchmark
says so and exits 0): pages of 40 sites, each with its own header (navigation) and footer (licence, links)
around real paragraphs (WikiText-2, Tiny Shakespeare): article pages (1-4 paragraphs), short pages (one short
paragraph: mostly boilerplate) and templated pages (one of 12 fill-in templates with slot values). Val holds
pages made the same way plus ``--planted`` edited copies of train pages (words replaced, a paragraph dropped,
some moved to another site's header and footer), with their exact Jaccard (word 5-gram sets) recorded.

Contenders, same process count (1), in full (no subsample, nothing scaled), each ``--repeat`` times:

- dataaudit ``run_near`` (MinHash + LSH with our recall-favouring bands, every candidate verified exactly);
- datasketch ``MinHashLSH(params=(b, r))`` with the SAME bands and rows as ours, and with its defaults
  (``threshold=...``: balanced weights), train inserted and val queried, its default sha1 shingle hash on
  the same normalized text and shingles; its candidates then verified by exact Jaccard in Python (the work
  a user must add to get pairs rather than candidates), timed separately.

Accuracy: recall on the planted pairs with exact J >= threshold + 0.05, and on every pair with exact J >=
threshold that any contender verified (the union); candidate counts; the verification cost. Ends with one
``RESULT {json}`` line (medians and ranges over repeats, ratios, load average, versions).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
from dataaudit.records import DOC_SCHEMA  # noqa: E402
from dataaudit.shingle import shingles  # noqa: E402
from dataaudit.text import normalize_array  # noqa: E402
from minhash import paragraphs  # noqa: E402

N_SITES = 40
TEMPLATES = [
    "{a} is a {b} in the {c} region . it was first recorded in {y} and has a population of {n} . the {b} is known "
    "for its {d} and its annual {e} festival . visitors reach it by {f} from {g} .",
    "product {a} : a {b} {c} made of {d} . weight {n} grams , size {y} mm . ships in {f} days from our {g} "
    "warehouse . customers who bought this also bought {e} .",
    "{a} ( born {y} ) is a {b} {c} . {a} studied {d} at the university of {g} and won the {e} prize in {n} .",
    "the {a} {b} game ended {n} to {y} . {c} scored twice for the home side , while {d} was sent off after "
    "a clash with {e} . next week the team travels to {g} .",
    "recipe : {a} {b} . ingredients : {n} cups of {c} , {y} spoons of {d} , a pinch of {e} . bake at {n} "
    "degrees for {y} minutes and serve with {f} .",
    "weather for {a} : {b} skies with {c} winds . high of {n} , low of {y} . tomorrow {d} with a chance of {e} "
    "in the {f} .",
    "job posting : {a} is hiring a {b} {c} in {g} . requirements : {n} years of {d} , knowledge of {e} . "
    "salary from {y} . apply by {f} .",
    "{a} hotel in {g} : {n} rooms , {b} breakfast , {c} pool . rated {y} by {d} guests . close to {e} and {f} .",
    "release notes for {a} version {n} . {y} : fixed a {b} bug in the {c} module . added support for {d} and "
    "{e} . removed the deprecated {f} option .",
    "court report : {a} of {g} was fined {n} for {b} {c} on {y} . the magistrate noted the {d} and the {e} .",
    "{a} {b} for sale in {g} : {n} bedrooms , {y} square metres , {c} garden , near {d} . contact {e} .",
    "obituary : {a} , {n} , of {g} , died on {y} . a {b} {c} , {a} loved {d} and {e} . services at {f} .",
]


def _words(rng, pool: list[str], k: int) -> str:
    return " ".join(pool[int(i)] for i in rng.integers(0, len(pool), k))


def _site(rng, i: int, paras: list[str], vocab: list[str]) -> tuple[str, str]:
    name = f"site{i:02d}"
    nav = " | ".join(vocab[int(j)] for j in rng.integers(0, len(vocab), int(rng.integers(8, 16))))
    header = f"{name} home | {nav} | search | log in"
    p = paras[int(rng.integers(len(paras)))].split()
    footer = (f"copyright {2000 + i} {name} . all rights reserved . " + " ".join(p[: int(rng.integers(15, 35))])
              + f" . privacy policy | terms of use | contact {name} | cookie settings")
    return header, footer


def _page(rng, sites, paras, vocab, short_paras) -> tuple[str, int]:
    s = int(rng.integers(len(sites)))
    head, foot = sites[s]
    kind = rng.random()
    if kind < 0.6:
        body = "\n\n".join(paras[int(j)] for j in rng.integers(0, len(paras), int(rng.integers(1, 5))))
    elif kind < 0.8:
        body = short_paras[int(rng.integers(len(short_paras)))]
    else:
        t = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        slot = {k: _words(rng, vocab, int(rng.integers(1, 3))) for k in "abcdefg"}
        body = t.format(y=int(rng.integers(1800, 2030)), n=int(rng.integers(1, 5000)), **slot)
    return f"{head}\n\n{body}\n\n{foot}", s


def _edit(rng, text: str, sites, rate: float) -> str:
    parts = text.split("\n\n")
    if len(parts) > 3 and rng.random() < 0.3:               # drop one body paragraph
        del parts[int(rng.integers(1, len(parts) - 1))]
    if rng.random() < 0.2:                                  # republished on another site
        h, f = sites[int(rng.integers(len(sites)))]
        parts[0], parts[-1] = h, f
    words = "\n\n".join(parts).split(" ")
    for j in rng.choice(len(words), int(round(rate * len(words))), replace=False):
        words[j] = f"edit{rng.integers(1 << 30)}"
    return " ".join(words)


def _jaccard(x: str, y: str) -> float:
    a, b = set(shingles(x)), set(shingles(y))
    return len(a & b) / max(len(a | b), 1)


def make_corpus(d: Path, n_train: int, n_val: int, n_planted: int, seed: int = 0) -> dict | None:
    marker = d / "planted.json"
    if marker.exists():
        return json.loads(marker.read_text())
    paras = paragraphs()
    if paras is None:
        return None
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocab = sorted({w for p in paras[:3000] for w in p.lower().split() if w.isalpha()})
    short = [p for p in paras if len(p.split()) <= 60] or paras
    sites = [_site(rng, i, paras, vocab) for i in range(N_SITES)]
    train = [_page(rng, sites, paras, vocab, short)[0] for _ in range(n_train)]
    val = [_page(rng, sites, paras, vocab, short)[0] for _ in range(n_val)]
    src = rng.choice(n_train, n_planted, replace=False)
    planted = []
    for k, s in enumerate(src):
        rate = float(rng.uniform(0.0, 0.04))
        text = _edit(rng, train[s], sites, rate)
        planted.append({"val": f"val-{n_val + k:07d}", "train": f"train-{int(s):07d}", "jaccard": 0.0})
        val.append(text)
    nv = normalize_array(pa.array(val[n_val:], pa.large_string())).to_pylist()
    nt = normalize_array(pa.array([train[s] for s in src], pa.large_string())).to_pylist()
    for p, x, y in zip(planted, nv, nt):
        p["jaccard"] = _jaccard(x, y)
    for split, texts in (("train", train), ("val", val)):
        n = len(texts)
        t = pa.table([pa.array([f"{split}-{i:07d}" for i in range(n)]), pa.array([split] * n),
                      pa.array(texts, pa.large_string()), pa.array([f"{split}.parquet"] * n),
                      pa.array(np.arange(n), pa.int64())], schema=DOC_SCHEMA)
        pq.write_table(t, d / f"{split}.parquet", compression="zstd")
    info = {"planted": planted, "n_train": n_train, "n_val": len(val)}
    marker.write_text(json.dumps(info))
    return info


def source(path: Path, batch_size: int = 4096):
    def make():
        yield from pq.ParquetFile(path).iter_batches(batch_size=batch_size)
    return make


# ------------------------------------------------------------------------------------------ contenders

def run_ours(d: Path, out: Path, threshold: float) -> dict:
    marks: dict[str, float] = {}
    t0 = time.perf_counter()

    def progress(phase, n):
        marks.setdefault(str(phase), time.perf_counter() - t0)

    res = run_near({"train": source(d / "train.parquet"), "val": source(d / "val.parquet")},
                   NearConfig(threshold=threshold), out, progress=progress)   # engine: in-process, 1 worker
    wall = time.perf_counter() - t0
    s = res.summary
    pairs = pq.read_table(out / "near_pairs.parquet", columns=["doc_id", "other_doc_id", "jaccard"]).to_pylist()
    return {"wall_s": wall, "phases_s": marks, "bands": s["bands"], "rows": s["rows"],
            "candidates": s["candidates"], "verified": s["verified_pairs"], "dropped": s["dropped_candidates"],
            "pairs": {(p["doc_id"], p["other_doc_id"]) for p in pairs}}


def run_datasketch(d: Path, threshold: float, params) -> dict:
    from datasketch import MinHash, MinHashLSH

    kw = {"params": params} if params else {}
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=128, **kw)
    texts: dict[str, str] = {}
    for batch in source(d / "train.parquet")():
        for doc_id, text in zip(batch.column(0).to_pylist(), normalize_array(batch.column(2)).to_pylist()):
            m = MinHash(num_perm=128, seed=1)
            m.update_batch([s.encode() for s in shingles(text, normalization=None)])
            lsh.insert(doc_id, m, check_duplication=False)
            texts[doc_id] = text
    cands = []
    for batch in source(d / "val.parquet")():
        for doc_id, text in zip(batch.column(0).to_pylist(), normalize_array(batch.column(2)).to_pylist()):
            m = MinHash(num_perm=128, seed=1)
            m.update_batch([s.encode() for s in shingles(text, normalization=None)])
            texts[doc_id] = text
            cands += [(doc_id, t) for t in lsh.query(m)]
    t_index = time.perf_counter() - t0
    t1 = time.perf_counter()
    sets: dict[str, set] = {}

    def S(k):
        if k not in sets:
            sets[k] = set(shingles(texts[k], normalization=None))
        return sets[k]

    verified = set()
    for v, t in cands:
        a, b = S(v), S(t)
        if len(a & b) / max(len(a | b), 1) >= threshold - 1e-12:
            verified.add((v, t))
    t_verify = time.perf_counter() - t1
    return {"wall_s": t_index + t_verify, "index_query_s": t_index, "verify_s": t_verify,
            "bands": lsh.b, "rows": lsh.r, "candidates": len(cands), "verified": len(verified),
            "pairs": verified, "candidate_set": set(cands)}


def stats(xs):
    return {"median": float(np.median(xs)), "min": float(min(xs)), "max": float(max(xs)), "n": len(xs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=40_000)
    ap.add_argument("--val", type=int, default=4_000)
    ap.add_argument("--planted", type=int, default=1_000)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="3,000 train x 300 val, 1 repeat (a smoke check)")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/dataaudit-bench-near"))
    a = ap.parse_args()
    if a.quick:
        a.train, a.val, a.planted, a.repeat = 3_000, 300, 150, 1
    d = a.dir / f"t{a.train}-v{a.val}-p{a.planted}"
    t = time.perf_counter()
    info = make_corpus(d, a.train, a.val, a.planted)
    if info is None:
        print("benchmarks/split_audit.py: ../shared/corpora (or $DATAAUDIT_CORPORA) not found: skipped")
        print("RESULT " + json.dumps({"name": "split_audit_near", "skipped": "corpora absent"}))
        return
    mb = sum(pq.ParquetFile(d / f).metadata.row_group(0).column(2).total_uncompressed_size
             for f in ("train.parquet", "val.parquet")) / 1e6
    planted = info["planted"]
    must = {(p["val"], p["train"]) for p in planted if p["jaccard"] >= a.threshold + 0.05}
    print(f"corpus: {a.train} train x {info['n_val']} val web-like pages from real paragraphs ({N_SITES} sites' "
          f"headers/footers, templated and short pages), ~{mb:.0f} MB of text; {len(planted)} planted edited copies, "
          f"{len(must)} with exact J >= {a.threshold + 0.05:.2f} (ready in {time.perf_counter() - t:.0f} s); "
          f"1 process each; {a.repeat} repeats; load average {os.getloadavg()[0]:.2f} at start", flush=True)

    runs: dict[str, list[dict]] = {"dataaudit": [], "datasketch_same_bands": [], "datasketch_default": []}
    for r in range(a.repeat):
        ours = run_ours(d, a.dir / "out", a.threshold)
        runs["dataaudit"].append(ours)
        runs["datasketch_same_bands"].append(run_datasketch(d, a.threshold, (ours["bands"], ours["rows"])))
        runs["datasketch_default"].append(run_datasketch(d, a.threshold, None))
        print(f"  repeat {r + 1}: " + ", ".join(f"{k} {v[-1]['wall_s']:.1f} s" for k, v in runs.items()), flush=True)

    union = set().union(*(x["pairs"] for v in runs.values() for x in v))
    rows = {}
    for k, v in runs.items():
        last = v[-1]
        rows[k] = {
            "bands": last["bands"], "rows": last["rows"], "wall_s": stats([x["wall_s"] for x in v]),
            "candidates": last["candidates"], "verified_pairs": last["verified"],
            "recall_planted": sum(p in last["pairs"] for p in must) / max(len(must), 1),
            "recall_all_true_pairs": len(last["pairs"] & union) / max(len(union), 1),
        }
        if "verify_s" in last:
            rows[k]["index_query_s"] = stats([x["index_query_s"] for x in v])
            rows[k]["verify_s"] = stats([x["verify_s"] for x in v])
            rows[k]["candidate_recall_planted"] = sum(p in last["candidate_set"] for p in must) / max(len(must), 1)
        else:
            rows[k]["phases_s"] = last["phases_s"]
    print("\nmedian wall [min, max] over repeats; candidates and recall from the last repeat:")
    for k, v in rows.items():
        extra = (f", of which index+query {v['index_query_s']['median']:.1f} s, verification {v['verify_s']['median']:.1f} s"
                 if "verify_s" in v else "")
        print(f"  {k:<22} {v['bands']:>2}x{v['rows']:<2} {v['wall_s']['median']:7.1f} s "
              f"[{v['wall_s']['min']:.1f}, {v['wall_s']['max']:.1f}]{extra}; {v['candidates']} candidates, "
              f"{v['verified_pairs']} verified pairs; recall {v['recall_planted']:.4f} on {len(must)} planted, "
              f"{v['recall_all_true_pairs']:.4f} on all {len(union)} pairs with J >= {a.threshold}")

    def ratio(x, y):
        per = [q["wall_s"] / p["wall_s"] for p, q in zip(runs[x], runs[y])]
        return {"median": float(np.median(per)), "min": float(min(per)), "max": float(max(per))}

    ratios = {"speedup_vs_datasketch_same_bands": ratio("dataaudit", "datasketch_same_bands"),
              "speedup_vs_datasketch_default": ratio("dataaudit", "datasketch_default")}
    for k, v in ratios.items():
        print(f"  {k}: {v['median']:.2f}x [{v['min']:.2f}, {v['max']:.2f}]")
    load = os.getloadavg()
    print(f"load average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    from importlib.metadata import version

    result = {"name": "split_audit_near", "train": a.train, "val": info["n_val"], "planted": len(planted),
              "planted_above_threshold": len(must), "true_pairs_union": len(union), "threshold": a.threshold,
              "repeat": a.repeat, "quick": a.quick, "text_mb": round(mb, 1),
              "figures": {"dataaudit": rows["dataaudit"]},
              "baselines": {k: v for k, v in rows.items() if k != "dataaudit"}, "ratios": ratios,
              "load_average": [round(x, 2) for x in load],
              "versions": {"python": platform.python_version(), "numpy": np.__version__, "pyarrow": pa.__version__,
                           "datasketch": version("datasketch")}}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
