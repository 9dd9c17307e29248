"""Benchmark contamination on real eval sets: recall of planted items, false flags on the others.

Train: WikiText-2 (valid + test, one document per article) and Tiny Shakespeare (one document per 40-line
chunk) from ../shared/corpora. Into it we plant items of the ten benchmark files of
../shared/corpora/eval-benchmarks (the exact files of Oren et al. 2023): per set, `--per-set` items as whole
train documents, as many inside long train documents, and as many cut to 5-12 words (their first words,
inside a long document). Then `dataaudit split --eval FILE:FIELDS ...` runs on all ten files, and we measure

- recall: flagged planted items / planted items, for items (or cuts) of 8+ words and of 5-7 words;
- false flags: flagged non-trivial items that were not planted and whose longest matched span is not
  verbatim in train; the others are real overlaps, in the original corpora or through a planted item that
  shares the text (BoolQ questions share passages, MNLI pairs premises).

``--repeat N`` runs the audit N times on the same files (median and range of its wall time; the findings are
those of the last run, and must not change between runs); ``--quick`` plants 5 items per set and mode and audits
once. Ends with a ``RESULT {json}`` line.

Usage: python benchmarks/contamination.py [--per-set 30] [--out DIR] [--repeat 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import add_common_args, result_line, skipped, spread  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"

FIELDS = {                     # the way each benchmark is shown to the model
    "boolq": "passage+question", "hellaswag": "ctx+endings", "mmlu_high_school_psychology": "input+A+B+C+D",
    "mmlu_professional_law": "input+A+B+C+D", "mmlu_professional_psychology": "input+A+B+C+D",
    "mnli": "sentence1+sentence2", "naturalquestions": "question", "openbookqa": "question.stem+question.choices",
    "piqa": "goal+sol1+sol2", "truthfulqa": "prompt",
}


def train_documents(corpora: Path) -> list[str]:
    docs = []
    for name in ("valid.txt", "test.txt"):
        cur: list[str] = []
        for line in (corpora / "wikitext-2" / name).read_text(encoding="utf-8").splitlines():
            s = line.strip()
            if s.startswith("= ") and not s.startswith("= =") and cur:
                docs.append("\n".join(cur))
                cur = []
            if s:
                cur.append(s)
        if cur:
            docs.append("\n".join(cur))
    lines = (corpora / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8").splitlines()
    docs += ["\n".join(lines[i:i + 40]) for i in range(0, len(lines), 40)]
    return docs


def plant(train: list[str], evals: dict[str, list[tuple[str, str]]], per_set: int, seed: int = 0):
    """Plant items into train; return {(set, doc_id): words of the planted text}."""
    rng = random.Random(seed)
    long_docs = [i for i, d in enumerate(train) if len(d.split()) > 300]
    planted: dict[tuple[str, str], int] = {}
    extra = []
    for name, items in evals.items():
        pick = rng.sample(range(len(items)), min(len(items), 3 * per_set))
        for k, idx in enumerate(pick):
            doc_id, text = items[idx]
            mode = ("whole", "inside", "cut")[k % 3]
            if mode == "cut":
                words = text.split()
                n = rng.randint(5, 12)
                if len(words) > n:                   # an item of 5-12 words: its first n words
                    text = " ".join(words[:n])
                    evals[name][idx] = (doc_id, text)
            if mode == "whole":
                extra.append(text)
            else:
                j = rng.choice(long_docs)
                w = train[j].split(" ")
                cut = rng.randint(0, len(w))
                train[j] = " ".join(w[:cut] + [text] + w[cut:])
            planted[(name, doc_id)] = len(text.split())
    return train + extra, planted


def _covered(words: list[str], n: int, text: str) -> bool:
    """Every word of a matched span lies in some n-gram found verbatim in ``text`` (a span is a union of
    matched n-grams, which may come from different places of train)."""
    cov = [False] * len(words)
    for i in range(max(1, len(words) - n + 1)):
        if " ".join(words[i:i + n]) in text:
            cov[i:i + n] = [True] * len(words[i:i + n])
    return all(cov)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-set", type=int, default=30, help="items planted per set and mode (default 30)")
    ap.add_argument("--corpora", type=Path, default=CORPORA)
    ap.add_argument("--out", type=Path, default=None)
    add_common_args(ap, repeat=1)
    a = ap.parse_args(argv)
    if a.quick:
        a.per_set, a.repeat = min(a.per_set, 5), 1
    if not (a.corpora / "eval-benchmarks").is_dir():
        print(f"corpora not found at {a.corpora}; nothing to measure", file=sys.stderr)
        skipped("contamination", f"corpora not found at {a.corpora}")
        return 0
    res = run(a.corpora, a.per_set, a.out, repeat=a.repeat)
    r8, r5 = res["recall_8plus"], res["recall_5to7"]
    print(f"recall 8+ words {r8['found']}/{r8['planted']}, 5-7 words {r5['found']}/{r5['planted']}; false flags "
          f"{res['false_flags']}; unplanted real overlaps {res['unplanted_real_overlaps']}, shared with planted "
          f"{res['unplanted_shared_with_planted']}; audit {res['seconds']['median']} s median "
          f"[{res['seconds']['min']}, {res['seconds']['max']}] over {a.repeat} run(s); same findings each run: "
          f"{res['same_findings_each_run']} (no baseline run here: see docs/contamination.md)")
    result_line("contamination", figures=res, per_set=a.per_set, quick=a.quick,
                packages=("dataaudit", "numpy", "pyarrow", "xxhash"))
    return 0


def run(corpora: Path, per_set: int, out: Path | None = None, repeat: int = 1) -> dict:
    import pyarrow.parquet as pq

    from dataaudit.api.split import SplitConfig, audit_split
    from dataaudit.io.evalsets import EvalSource
    from dataaudit.passes.near import NearConfig
    from dataaudit.text import normalize

    tmp = Path(tempfile.mkdtemp(prefix="contam-"))
    out = out or tmp / "report"
    bench = corpora / "eval-benchmarks"
    cfg = SplitConfig(near=NearConfig())
    evals: dict[str, list[tuple[str, str]]] = {}
    files = {}
    for name, fields in FIELDS.items():
        src = EvalSource(f"{bench / name}.jsonl:{fields}", split=name, read=cfg.read)
        evals[name] = [(d, t) for b in src() for d, t in zip(b.column("doc_id").to_pylist(),
                                                             b.column("text").to_pylist())]
    train = train_documents(corpora)
    base_train = "\n".join(normalize(t) for t in train)
    train, planted = plant(train, evals, per_set)
    for name, items in evals.items():                 # cut items are written as cut (they are the eval set)
        f = tmp / f"{name}.jsonl"
        with f.open("w") as fh:
            for d, t in items:
                fh.write(json.dumps({"id": d.split(":", 1)[1], "text": t}) + "\n")
        files[name] = f
    with (tmp / "train.jsonl").open("w") as fh:
        for i, t in enumerate(train):
            fh.write(json.dumps({"id": f"t{i}", "text": t}) + "\n")
    times, seen = [], set()
    for i in range(repeat):
        o = out if i == repeat - 1 else tmp / f"report-{i}"
        t0 = time.perf_counter()
        report = audit_split(tmp / "train.jsonl", evals=[f"{f}:text" for f in files.values()], out_dir=o, config=cfg)
        times.append(time.perf_counter() - t0)
        seen.add(json.dumps(sorted((r["split"], r["doc_id"]) for r in pq.read_table(o / "leaks.parquet").to_pylist())))
    leaks = pq.read_table(out / "leaks.parquet").to_pylist()
    flagged = {(r["split"], r["doc_id"]): r for r in leaks}
    cont = {(r["split"], r["doc_id"]): r for r in pq.read_table(out / "containment.parquet").to_pylist()}

    def recall(lo, hi):
        keys = [k for k, w in planted.items() if lo <= w <= hi]
        hit = [k for k in keys if k in flagged]
        return {"planted": len(keys), "found": len(hit), "recall": len(hit) / len(keys) if keys else None,
                "missed": [f"{s}:{d.split(':', 1)[1]}" for s, d in keys if (s, d) not in flagged][:10]}

    final_train = "\n".join(normalize(t) for t in train)
    false, real, shared, trivial_unplanted = [], [], [], 0
    for k, r in flagged.items():
        if k in planted:
            continue
        if r["trivial"]:
            trivial_unplanted += 1
            continue
        c = cont.get(k)
        text = c["excerpt"] if c and c["excerpt"] else normalize(dict(evals[k[0]])[k[1]])
        if text.endswith("..."):                     # a truncated excerpt: drop its last, maybe partial, word
            text = text[:-3].rsplit(" ", 1)[0]
        # a real overlap: the matched text is verbatim in the original corpora, or in train through a planted
        # item that shares it (BoolQ questions share passages; MNLI pairs share premises)
        n = c["ngram"] if c else len(text.split())
        w = text.split()
        where = real if _covered(w, n, base_train) else shared if _covered(w, n, final_train) else false
        where.append({"doc_id": k[1], "passes": r["passes"], "matched": text[:120]})
    cs = report.summary["containment"]
    return {"seconds": spread(times, 2), "same_findings_each_run": len(seen) == 1, "train_docs": len(train), "eval_items": {k: len(v) for k, v in evals.items()},
            "recall_8plus": recall(8, 10**9), "recall_5to7": recall(5, 7),
            "false_flags": len(false), "false_flag_examples": false[:10],
            "unplanted_real_overlaps": len(real), "real_overlap_examples": real[:10],
            "unplanted_shared_with_planted": len(shared), "shared_examples": shared[:5],
            "unplanted_trivial": trivial_unplanted,
            "ngram_by_split": cs["ngram_by_split"], "matched_whole": cs["matched_whole"],
            "too_short": cs["too_short"], "out": str(out)}


if __name__ == "__main__":
    raise SystemExit(main())
