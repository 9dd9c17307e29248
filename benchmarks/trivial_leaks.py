"""How many of the leaks `dataaudit split` reports on real split pairs are trivial (headings, lone speaker
tags), and what the non-trivial rest is.

Split pairs, from ../shared/corpora (WikiText-2's train.txt is not there, so its valid.txt plays train):

- wikitext2-rows: WikiText-2 valid vs test, one document per non-empty line: the rows of the Hugging Face
  `wikitext` dataset, headings (`= = History = =`) included;
- wikitext2-articles: the same files, one document per article (as benchmarks/contamination.py);
- shakespeare-paragraphs: Tiny Shakespeare, the first 90% of the characters vs the last 10% (nanoGPT's
  and char-rnn's split), one document per blank-line paragraph (a speech with its speaker tag);
- shakespeare-lines: the same split, one document per non-empty line.

For each, `dataaudit split --train T --val V --id-column id` (defaults: exact, near, containment passes);
counted from leaks.parquet: leaked documents, trivial ones (and why: few words or many train copies),
non-trivial ones, and for each non-trivial one whether its text occurs verbatim (lower-cased, punctuation
dropped) in a train document it names: a real overlap, not a false flag. A sample of the non-trivial ones
is printed to read. The baseline is the leak list without the trivial rule (every leak in the headline).

    python benchmarks/trivial_leaks.py [--quick] [--repeat N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import add_common_args, result_line, skipped, spread  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("DATAAUDIT_CORPORA") or ROOT.parent / "shared" / "corpora")


def wikitext_rows(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]


def wikitext_articles(path: Path) -> list[str]:
    docs, cur = [], []
    for s in wikitext_rows(path):
        if s.startswith("= ") and not s.startswith("= =") and cur:     # " = Title = " starts an article
            docs.append("\n".join(cur))
            cur = []
        cur.append(s)
    return docs + (["\n".join(cur)] if cur else [])


def shakespeare(unit: str) -> tuple[list[str], list[str]]:
    text = (CORPORA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    cut = int(len(text) * 0.9)                   # nanoGPT's data/shakespeare prepare.py: first 90% train
    sep = "\n\n" if unit == "paragraphs" else "\n"
    return tuple([p.strip() for p in part.split(sep) if p.strip()] for part in (text[:cut], text[cut:]))


def pairs(quick: bool) -> dict[str, tuple[list[str], list[str]]]:
    wt = CORPORA / "wikitext-2"
    out = {"wikitext2-rows": (wikitext_rows(wt / "valid.txt"), wikitext_rows(wt / "test.txt")),
           "shakespeare-lines": shakespeare("lines")}
    if not quick:
        out["wikitext2-articles"] = (wikitext_articles(wt / "valid.txt"), wikitext_articles(wt / "test.txt"))
        out["shakespeare-paragraphs"] = shakespeare("paragraphs")
    return out


def plain(t: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", t.lower()).split())


def run_pair(name: str, train: list[str], val: list[str], work: Path, sample: int) -> dict:
    import pyarrow.parquet as pq

    d = work / name
    d.mkdir(parents=True, exist_ok=True)
    for split, docs in (("train", train), ("val", val)):
        (d / f"{split}.jsonl").write_text("".join(json.dumps({"id": f"{split}:{i}", "text": t}) + "\n"
                                                  for i, t in enumerate(docs)))
    cmd = [sys.executable, "-m", "dataaudit", "split", "--train", str(d / "train.jsonl"), "--val",
           str(d / "val.jsonl"), "--id-column", "id", "--out", str(d / "audit"), "--format", "json", "--quiet",
           "--fail-on", "never"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"{name}: {r.stderr.strip()}")
    s = json.loads(r.stdout)["summary"]
    rows = pq.read_table(d / "audit" / "leaks.parquet").to_pylist()
    rule = s["leaks"]["rule"]
    triv = [x for x in rows if x["trivial"]]
    rest = [x for x in rows if not x["trivial"]]
    tr = {f"train:{i}": plain(t) for i, t in enumerate(train)}
    vt = {f"val:{i}": t for i, t in enumerate(val)}
    verbatim = sum(any(plain(vt[x["doc_id"]]) in tr[i] for i in x["train_doc_ids"] if i in tr) for x in rest)
    res = {"train_docs": len(train), "val_docs": len(val), "leaks": len(rows), "trivial": len(triv),
           "trivial_few_words": sum((x["matched_words"] or 0) <= rule["max_words"] for x in triv),
           "non_trivial": len(rest), "non_trivial_verbatim_in_train": verbatim,
           "by_pass": {p: sum(p in x["passes"] for x in rows) for p in ("exact", "near", "containment")},
           "headline": s["leaked_docs"], "wall_s": wall,
           "top_trivial": _top([x["excerpt"] for x in triv], 5),
           "sample_non_trivial": [{"doc_id": x["doc_id"], "passes": x["passes"], "words": x["matched_words"],
                                   "containment": x["containment"], "excerpt": x["excerpt"][:120]}
                                  for x in rest[:sample]]}
    print(f"{name}: {len(train)} train / {len(val)} val documents; {len(rows)} leaks (exact {res['by_pass']['exact']}"
          f", near {res['by_pass']['near']}, containment {res['by_pass']['containment']}); trivial {len(triv)} "
          f"({res['trivial_few_words']} by <= {rule['max_words']} words); non-trivial {len(rest)}, of which "
          f"{verbatim} verbatim in a named train document; {wall:.1f} s")
    print(f"  most frequent trivial texts: {res['top_trivial']}")
    for x in res["sample_non_trivial"]:
        print(f"  non-trivial {x['doc_id']} {'+'.join(x['passes'])} words={x['words']} "
              f"containment={x['containment']}: {x['excerpt']!r}")
    return res


def _top(texts: list[str], k: int) -> list[list]:
    c: dict[str, int] = {}
    for t in texts:
        c[t] = c.get(t, 0) + 1
    return [[t, n] for t, n in sorted(c.items(), key=lambda x: (-x[1], x[0]))[:k]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(ap, repeat=1)
    ap.add_argument("--sample", type=int, default=12, help="non-trivial leaks printed per pair")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if not (CORPORA / "wikitext-2" / "valid.txt").exists() or not (CORPORA / "tinyshakespeare").is_dir():
        skipped("trivial_leaks", f"{CORPORA} not present")
        return
    work = Path(a.out or tempfile.mkdtemp(prefix="trivial-leaks-"))
    reps = 1 if a.quick else a.repeat
    runs = [{n: run_pair(n, tr, va, work / f"r{i}", a.sample) for n, (tr, va) in pairs(a.quick).items()}
            for i in range(reps)]
    last = runs[-1]
    figures = {n: {k: v for k, v in r.items() if k not in ("wall_s", "sample_non_trivial", "top_trivial")}
               | {"wall_s": spread([x[n]["wall_s"] for x in runs], 2)} for n, r in last.items()}
    total = sum(r["leaks"] for r in last.values())
    triv = sum(r["trivial"] for r in last.values())
    print(f"all pairs: {total} leaks, {triv} trivial ({triv / total:.1%}), {total - triv} in the headline"
          if total else "all pairs: no leaks")
    result_line("trivial_leaks", figures=figures,
                baselines={n: {"headline_without_rule": r["leaks"]} for n, r in last.items()},
                ratios={n: {"headline_with_rule_over_without": (r["headline"] / r["leaks"]) if r["leaks"] else None}
                        for n, r in last.items()},
                trivial_share=(triv / total) if total else None, quick=a.quick)


if __name__ == "__main__":
    main()
