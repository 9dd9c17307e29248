"""Signals pass vs datatrove's Gopher quality, Gopher repetition, C4 and FineWeb filters.

    python benchmarks/signals.py [--corpora ../shared/corpora] [--datatrove-python /work/venvs/datatrove/bin/python]
                                 [--repeat 3] [--quick] [--junk-per-kind 50]

``--quick``: every 4th normal document and 10 junk documents per kind (a smoke check, under a minute).

Documents: WikiText-2 valid + test split into articles at ' = Title = ' lines, Tiny Shakespeare cut into
~2,000-character documents at line ends, and planted junk (base64, runs of one character, repeated lines,
boilerplate footers, lorem ipsum, code), each kind built on a clean document of the corpus. The same
documents go to both sides; datatrove runs in its own environment as a subprocess (this file, run with
--datatrove-worker, imports only the standard library and datatrove there).

Reports (a) pass/fail agreement per filter with every disagreement, (b) throughput in MB/s of text of our
pass vs datatrove's four filters on the same documents, one process each, medians of --repeat runs,
(c) planted-junk recall: junk flagged by at least one rule, and flagged by a rule its clean base document
does not fail; how many normal documents are flagged. Ends with a RESULT {json} line.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILTERS = ("gopher_quality", "gopher_repetition", "c4", "fineweb")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import add_common_args, ratio_spread, result_line, skipped, spread  # noqa: E402  (stdlib only)


# ---------------------------------------------------------------- corpus
def wikitext_articles(path: Path) -> list[str]:
    title = re.compile(r"^ = [^=].* = $")
    docs, cur = [], []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if title.match(line.rstrip("\n")) and cur:
            docs.append("".join(cur))
            cur = []
        cur.append(line)
    if cur:
        docs.append("".join(cur))
    return [d for d in docs if d.strip()]


def shakespeare_docs(path: Path, size: int = 2000) -> list[str]:
    docs, cur, n = [], [], 0
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        cur.append(line)
        n += len(line)
        if n >= size:
            docs.append("".join(cur))
            cur, n = [], 0
    if cur:
        docs.append("".join(cur))
    return docs


LOREM = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
         "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip "
         "ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu "
         "fugiat nulla pariatur.")
FOOTER = ("Home | About us | Contact | Careers | Press\nCopyright 2024 Example Media Group. All rights reserved.\n"
          "Privacy Policy | Terms of Use | Cookie Policy\nThis site uses cookies to improve your experience.\n"
          "Follow us on Facebook | Twitter | Instagram\nSign up for our newsletter")


def _code(rng: random.Random) -> str:
    out = []
    for i in range(rng.randint(4, 10)):
        name = rng.choice(["parse", "load", "merge", "emit", "scan"]) + f"_{i}"
        if rng.random() < 0.5:
            out.append(f"function {name}(a, b) {{\n  var x = a[{i}] + b;\n  if (x > {i}) {{\n    return x * 2;\n"
                       f"  }}\n  return {name}(x, b - 1);\n}}\n")
        else:
            out.append(f"def {name}(items, key=None):\n    out = {{}}\n    for k, v in items.items():\n"
                       f"        out[k] = v * {i} if key else v\n    return out\n")
    return "\n".join(out)


def planted_junk(clean: list[str], per_kind: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(kind, text, base text) triples: junk added to (or replacing) a clean document."""
    rng = random.Random(seed)
    out = []
    for kind in ("base64", "char_run", "repeated_lines", "footer", "lorem_ipsum", "code"):
        for _ in range(per_kind):
            base = rng.choice(clean)
            cut = base[: rng.randint(300, 1500)]
            if kind == "base64":
                blob = base64.b64encode(rng.randbytes(rng.randint(600, 3000))).decode()
                junk = cut + "\n" + "\n".join(blob[i:i + 76] for i in range(0, len(blob), 76)) + "\n"
            elif kind == "char_run":
                junk = cut + rng.choice("\\=-*.a ~_") * rng.randint(200, 3000) + "\n" + cut[:200]
            elif kind == "repeated_lines":
                line = rng.choice(["Click here to subscribe to our newsletter!", "Home > News > Latest",
                                   "Share this article on Facebook", "Read more..."])
                junk = cut + "\n" + "\n".join([line] * rng.randint(10, 40)) + "\n"
            elif kind == "footer":
                junk = cut + "\n\n" + "\n\n".join([FOOTER] * rng.randint(2, 6)) + "\n"
            elif kind == "lorem_ipsum":
                junk = "\n\n".join([LOREM] * rng.randint(1, 6)) + "\n"
                base = ""
            else:
                junk = _code(rng)
                base = ""
            out.append((kind, junk, base if base == "" else cut))
    return out


def build_corpus(corpora: Path, per_kind: int) -> list[dict]:
    wiki = [t for f in ("valid.txt", "test.txt") for t in wikitext_articles(corpora / "wikitext-2" / f)]
    shake = shakespeare_docs(corpora / "tinyshakespeare" / "input.txt")
    docs = [{"id": f"wiki:{i}", "kind": "wikitext", "text": t, "base": None} for i, t in enumerate(wiki)]
    docs += [{"id": f"shakespeare:{i}", "kind": "shakespeare", "text": t, "base": None} for i, t in enumerate(shake)]
    for i, (kind, text, base) in enumerate(planted_junk(wiki + shake, per_kind)):
        docs.append({"id": f"junk:{kind}:{i}", "kind": "junk:" + kind, "text": text, "base": base or None})
    return docs


# ---------------------------------------------------------------- datatrove side (its own venv)
def datatrove_worker(inp: str, out: str, repeat: int) -> None:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)
    from datatrove.utils.text import split_into_words

    docs = [json.loads(line) for line in open(inp, encoding="utf-8")]
    filters = {"gopher_quality": GopherQualityFilter(), "gopher_repetition": GopherRepetitionFilter(),
               "c4": C4QualityFilter(), "fineweb": FineWebQualityFilter()}
    texts = [d["text"] for d in docs]
    split_into_words("warm up the tokenizer")

    def one(text, f):
        try:
            r = f.filter(Document(text=text, id="x"))
        except ZeroDivisionError:
            return [False, "ZeroDivisionError"]
        return [True, None] if r is True else [False, r[1] if isinstance(r, tuple) else None]

    times, results = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = [{name: one(t, f) for name, f in filters.items()} for t in texts]
        times.append(time.perf_counter() - t0)
        results = res
    info = []
    for t in texts:
        w = split_into_words(t)
        info.append({"tokens": len(w)})
    json.dump({"results": results, "times": times, "info": info}, open(out, "w"))


# ---------------------------------------------------------------- our side and the comparison
def run_ours(docs: list[dict], repeat: int, batch_size: int = 1000):
    import pyarrow as pa

    from dataaudit.passes.signals import compute_signals_batch
    from dataaudit.records import DOC_SCHEMA

    rows = [{"doc_id": d["id"], "split": "bench", "text": d["text"], "source": d["kind"], "row": i}
            for i, d in enumerate(docs)]
    table = pa.Table.from_pylist(rows, schema=DOC_SCHEMA)
    batches = table.to_batches(max_chunksize=batch_size)
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = pa.concat_tables([compute_signals_batch(b) for b in batches])
        times.append(time.perf_counter() - t0)
    return out, times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    ap.add_argument("--datatrove-python", default="/work/venvs/datatrove/bin/python")
    add_common_args(ap, repeat=3)
    ap.add_argument("--junk-per-kind", type=int, default=50)
    ap.add_argument("--datatrove-worker", nargs=2, metavar=("IN", "OUT"))
    ap.add_argument("--json-out", type=Path, help="also write the full comparison here")
    a = ap.parse_args(argv)
    if a.datatrove_worker:
        datatrove_worker(*a.datatrove_worker, a.repeat)
        return 0
    sys.path.insert(0, str(ROOT))
    if not (a.corpora / "wikitext-2" / "valid.txt").exists():
        skipped("signals", f"{a.corpora} has no WikiText-2")
        return 0
    if not Path(a.datatrove_python).exists():
        raise SystemExit(f"signals: the baseline's Python {a.datatrove_python} does not exist; make it with "
                         f"`python3 -m venv /work/venvs/datatrove && /work/venvs/datatrove/bin/pip install datatrove "
                         f"spacy regex` (datatrove's filters need spacy and regex, no model download), or pass --datatrove-python")
    if a.quick:
        a.repeat, a.junk_per_kind = 1, 10
    docs = build_corpus(a.corpora, a.junk_per_kind)
    if a.quick:
        docs = [d for i, d in enumerate(d for d in docs if not d["kind"].startswith("junk:")) if i % 4 == 0] + \
            [d for d in docs if d["kind"].startswith("junk:")]
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = Path(tmp) / "docs.jsonl", Path(tmp) / "dt.json"
        with open(inp, "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps({"text": d["text"]}) + "\n")
        subprocess.run([a.datatrove_python, __file__, "--repeat", str(a.repeat), "--datatrove-worker",
                        str(inp), str(outp)], check=True)
        dt = json.loads(outp.read_text())
    ours, our_times = run_ours(docs, a.repeat)
    o = ours.to_pylist()

    # (a) agreement
    disagreements, agree = [], {}
    for f in FILTERS:
        same = 0
        for d, mine, theirs, info in zip(docs, o, dt["results"], dt["info"]):
            ok_t, reason = theirs[f]
            if mine[f] == ok_t:
                same += 1
            else:
                fam = {"gopher_quality": "gopher_", "gopher_repetition": "gopher_", "c4": "c4_",
                       "fineweb": "fineweb_"}[f]
                disagreements.append({"doc_id": d["id"], "filter": f, "ours_pass": mine[f], "datatrove_pass": ok_t,
                                      "datatrove_reason": reason, "our_flags": [r for r in mine["flags"]
                                                                                if r.startswith(fam)],
                                      "our_tokens": None, "datatrove_tokens": info["tokens"],
                                      "gopher_words": mine["gopher_words"], "c4_sentences": mine["c4_sentences"]})
        agree[f] = same / len(docs)

    # (b) throughput
    ours_mbs = mb / statistics.median(our_times)
    dt_mbs = mb / statistics.median(dt["times"])

    # (c) junk recall
    import pyarrow as pa

    from dataaudit.passes.signals import compute_signals_batch
    from dataaudit.records import DOC_SCHEMA

    junk = [(d, r) for d, r in zip(docs, o) if d["kind"].startswith("junk:")]
    bases = [d["base"] or "" for d, _ in junk]
    base_rows = compute_signals_batch(pa.RecordBatch.from_pylist(
        [{"doc_id": str(i), "split": "b", "text": t, "source": "b", "row": i} for i, t in enumerate(bases)],
        schema=DOC_SCHEMA)).to_pylist()
    by_kind: dict[str, list[int]] = {}
    recall_any = recall_new = 0
    for (d, r), b, btext in zip(junk, base_rows, bases):
        new = set(r["flags"]) - (set(b["flags"]) if btext else set())
        recall_any += bool(r["flags"])
        recall_new += bool(new)
        k = by_kind.setdefault(d["kind"][5:], [0, 0, 0])
        k[0] += 1
        k[1] += bool(r["flags"])
        k[2] += bool(new)
    normal = [r for d, r in zip(docs, o) if not d["kind"].startswith("junk:")]
    normal_flagged = sum(bool(r["flags"]) for r in normal)
    normal_extra = sum(bool({"long_char_run", "encoded_run"} & set(r["flags"])) for r in normal)
    normal_fail = {f: sum(not r[f] for r in normal) for f in FILTERS}

    print(f"documents: {len(docs)} ({len(normal)} normal, {len(junk)} planted junk), {mb:.2f} MB of text")
    print("(a) pass/fail agreement with datatrove:")
    for f in FILTERS:
        n_dis = sum(x["filter"] == f for x in disagreements)
        print(f"    {f:18s} {agree[f]:.4f}  ({n_dis} disagreements)")
    for x in disagreements:
        print(f"    - {x['doc_id']} {x['filter']}: ours {'pass' if x['ours_pass'] else 'fail'} {x['our_flags']}, "
              f"datatrove {'pass' if x['datatrove_pass'] else 'fail'} ({x['datatrove_reason']}); "
              f"gopher_words={x['gopher_words']} c4_sentences={x['c4_sentences']} "
              f"datatrove_tokens={x['datatrove_tokens']}")
    print(f"(b) throughput, 1 process, median of {a.repeat}: ours {ours_mbs:.2f} MB/s "
          f"({statistics.median(our_times):.2f} s), datatrove's four filters {dt_mbs:.3f} MB/s "
          f"({statistics.median(dt['times']):.2f} s): {ours_mbs / dt_mbs:.1f}x")
    print(f"(c) planted junk flagged by >= 1 rule: {recall_any}/{len(junk)} = {recall_any / len(junk):.3f}; "
          f"by a rule its clean base does not fail: {recall_new}/{len(junk)} = {recall_new / len(junk):.3f}")
    for k, (n, a1, a2) in by_kind.items():
        print(f"    {k:15s} {a1}/{n} any rule, {a2}/{n} new rule")
    print(f"    normal documents flagged by >= 1 rule: {normal_flagged}/{len(normal)} "
          f"(by the run/encoded rules: {normal_extra}); failing each filter: {normal_fail}")
    result = {
        "documents": len(docs), "mb": round(mb, 3),
        "agreement": {f: round(agree[f], 4) for f in FILTERS},
        "disagreements": len(disagreements),
        "ours_mb_s": round(ours_mbs, 3), "datatrove_mb_s": round(dt_mbs, 4),
        "speedup": round(ours_mbs / dt_mbs, 2),
        "junk_recall_any_rule": round(recall_any / len(junk), 4),
        "junk_recall_new_rule": round(recall_new / len(junk), 4),
        "normal_flagged": normal_flagged, "normal_docs": len(normal), "normal_flagged_extra_rules": normal_extra,
    }
    if a.json_out:
        a.json_out.write_text(json.dumps({"result": result, "disagreements": disagreements}, indent=1))
    ours_rates = [mb / t for t in our_times]
    dt_rates = [mb / t for t in dt["times"]]
    result_line("signals", figures={**result, "ours_mb_s_spread": spread(ours_rates, 3)},
                baselines={"datatrove_mb_s": spread(dt_rates, 4)},
                ratios={"speedup_per_repeat": ratio_spread(ours_rates, dt_rates)}, quick=a.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
