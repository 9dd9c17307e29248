"""One table of leaked documents across the exact, near and containment passes, keyed by doc_id.

A validation document found by several passes is one leaked document: counts in the verdict and the
``--fail-on`` fraction are of distinct documents, with which passes found each.

Trivial leaks. Headings and boilerplate lines (WikiText's ``= = History = =``, a lone speaker tag such as
``ROMEO:``) are in train as surely as in val, and would fill the leak list. A leak is *trivial* when its
matched text is very short or very frequent (:class:`TrivialRule`): at most ``max_words`` words with a
letter or digit after normalization (``= = History = =`` has one: separators do not count), of the whole
document for exact and near leaks and of the matched spans for contained ones (a WikiText heading that the
containment pass matches whole inside a train article is trivial too), or the same text held by at least
``min_copies`` train documents (exact leaks). Trivial leaks stay in leaks.parquet (column
``trivial``) and in the tables, are counted apart (``trivial``), and are left out of ``leaked_docs``, the
verdict's headline, the perplexity explanation (trivial leaks stay in "without leaked") and ``--fail-on``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..io.atomic import write_parquet_atomic
from ..records import PassResult

LEAKS_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("split", pa.string()), ("exact", pa.bool_()),
    ("near_jaccard", pa.float64()), ("containment", pa.float64()), ("passes", pa.list_(pa.string())),
    ("train_doc_ids", pa.list_(pa.string())),
    ("trivial", pa.bool_()),            # very short or very frequent matched text (TrivialRule)
    ("matched_words", pa.int64()),      # words with a letter or digit in the matched text (normalized)
    ("excerpt", pa.string()),           # the document's text, truncated (for reading, not for matching)
])

MAX_TRAIN_IDS = 20
EXCERPT_CHARS = 200


@dataclass(frozen=True, kw_only=True)
class TrivialRule:
    """Which leaks are headings or boilerplate rather than contamination."""

    max_words: int = 4       # matched text of at most this many words is trivial ("= = History = =", "ROMEO:")
    min_copies: int = 10     # short text held by at least this many train documents is trivial (a template line)
    template_words: int = 32  # ... "short" meaning at most this many words: a long text repeated that often is
    #                           what a model memorizes (Carlini et al. 2022: memorization grows with the number
    #                           of copies), so it stays in the headline however often train repeats it

    def __post_init__(self) -> None:
        from ..errors import ConfigError

        if self.max_words < 0 or self.min_copies < 1 or self.template_words < 0:
            raise ConfigError(f"--trivial-words {self.max_words} must be >= 0 and --trivial-copies "
                              f"{self.min_copies} >= 1")

    def is_trivial(self, words: int, copies: int) -> bool:
        """Trivial: at most ``max_words`` words, or a short text (<= ``template_words``) in >= ``min_copies`` train docs.

        >>> r = TrivialRule()
        >>> r.is_trivial(1, 1), r.is_trivial(30, 12), r.is_trivial(30, 1), r.is_trivial(400, 50)
        (True, True, False, False)
        """
        return words <= self.max_words or (copies >= self.min_copies and words <= self.template_words)


def merge_leaks(stage: Path, files: dict[str, str], documents: dict[str, int], train_split: str = "train",
                top: int = 20, *, sources=None, normalize=None, trivial: TrivialRule = TrivialRule()) -> PassResult:
    """Read the passes' findings in ``stage`` and write ``leaks.parquet``; return counts per split.

    With ``sources`` (split -> batches of the non-train splits), the leaked documents' texts are looked up
    once more (those documents only) for their word counts and excerpts, and trivial leaks are classified;
    without, no leak is trivial.
    """
    rows: dict[tuple[str, str], dict] = {}
    copies: dict[tuple[str, str], int] = {}
    nbytes: dict[tuple[str, str], int] = {}
    spans: dict[tuple[str, str], int] = {}

    def get(doc_id: str, split: str) -> dict:
        key = (split, doc_id)
        r = rows.get(key)
        if r is None:
            r = rows[key] = {"doc_id": doc_id, "split": split, "exact": False, "near_jaccard": None,
                             "containment": None, "passes": [], "train_doc_ids": []}
        return r

    def add_ids(r: dict, ids) -> None:
        for i in ids or ():
            if len(r["train_doc_ids"]) >= MAX_TRAIN_IDS:
                break
            if i not in r["train_doc_ids"]:
                r["train_doc_ids"].append(i)

    if "exact_leaks" in files:
        for e in pq.read_table(stage / files["exact_leaks"], columns=["doc_id", "split", "train_doc_ids",
                                                                      "n_train_copies", "n_bytes"]).to_pylist():
            r = get(e["doc_id"], e["split"])
            copies[(e["split"], e["doc_id"])] = int(e["n_train_copies"])
            nbytes[(e["split"], e["doc_id"])] = int(e["n_bytes"] or 0)
            r["exact"] = True
            add_ids(r, e["train_doc_ids"])
    if "near_pairs" in files:
        t = pq.read_table(stage / files["near_pairs"], columns=["doc_id", "split", "other_doc_id", "other_split",
                                                                  "jaccard"])
        for p in t.to_pylist():
            if p["other_split"] == train_split and p["split"] != train_split:
                doc, split, other = p["doc_id"], p["split"], p["other_doc_id"]
            elif p["split"] == train_split and p["other_split"] != train_split:
                doc, split, other = p["other_doc_id"], p["other_split"], p["doc_id"]
            else:
                continue
            r = get(doc, split)
            r["near_jaccard"] = max(r["near_jaccard"] or 0.0, float(p["jaccard"]))
            add_ids(r, [other])
    if "containment" in files:
        t = pq.read_table(stage / files["containment"], columns=["doc_id", "split", "flagged", "containment",
                                                                   "train_doc_ids", "spans", "n_train_docs"])
        for c in t.to_pylist():
            if not c["flagged"]:
                continue
            r = get(c["doc_id"], c["split"])
            spans[(c["split"], c["doc_id"])] = [tuple(x) for x in c["spans"] or ()]
            copies.setdefault((c["split"], c["doc_id"]), 0)
            r["containment"] = float(c["containment"])
            add_ids(r, c["train_doc_ids"])
    for r in rows.values():
        r["passes"] = [p for p, on in (("exact", r["exact"]), ("near", r["near_jaccard"] is not None),
                                       ("containment", r["containment"] is not None)) if on]
    _classify(rows, copies, spans, sources, normalize, trivial)
    ordered = [rows[k] for k in sorted(rows)]
    table = pa.Table.from_pylist(ordered, schema=LEAKS_SCHEMA)
    write_parquet_atomic(stage / "leaks.parquet", table)

    by_split: dict[str, dict] = {}
    for name, docs in documents.items():
        if name == train_split:
            continue
        mine = [r for r in ordered if r["split"] == name and not r["trivial"]]
        by_split[name] = {
            "docs": docs, "leaked_docs": len(mine),
            "leaked_doc_fraction": len(mine) / docs if docs else 0.0,
            "exact": sum(r["exact"] for r in mine),
            "near_not_exact": sum(not r["exact"] and r["near_jaccard"] is not None for r in mine),
            "containment_only": sum(r["passes"] == ["containment"] for r in mine),
            "trivial": sum(r["split"] == name and r["trivial"] for r in ordered),
            # bytes of the (non-trivial) exact leaks, for the verdict's byte share
            "exact_bytes": sum(nbytes.get((name, r["doc_id"]), 0) for r in mine if r["exact"]),
            # trivial leaks each pass found (a document under every pass that found it): what the passes'
            # own counts hold besides the leaks above
            "trivial_by_pass": {p: sum(r["split"] == name and r["trivial"] and p in r["passes"] for r in ordered)
                                for p in ("exact", "near", "containment")},
        }
    listed = sorted(ordered, key=lambda r: (r["trivial"], r["exact"], -(r["near_jaccard"] or 0),
                                            -(r["containment"] or 0)))[:top]
    n_trivial = sum(r["trivial"] for r in ordered)
    return PassResult(name="leaks", summary={"by_split": by_split, "leaked_docs": len(ordered) - n_trivial,
                                             "trivial": n_trivial, "rule": vars(trivial).copy()},
                      findings={"leaked": listed}, files={"leaks": "leaks.parquet"})


def mark_trivial(stage: Path, files: dict[str, str], listed: list[dict]) -> None:
    """Set ``trivial`` on each row of a per-pass listing (e.g. the exact pass's largest leaks) from
    ``leaks.parquet``, so a list that holds trivial matches says which they are. Reads the trivial rows only."""
    if not listed or "leaks" not in files:
        return
    t = pq.read_table(stage / files["leaks"], columns=["doc_id", "split", "trivial"], filters=[("trivial", "=", True)])
    trivial = set(zip(t.column("split").to_pylist(), t.column("doc_id").to_pylist()))
    for r in listed:
        r["trivial"] = (r["split"], r["doc_id"]) in trivial


def matched_words(words: list[str], spans: list[tuple[int, int]] | None = None) -> int:
    """Words with a letter or digit among ``words`` (of the normalized text), or among the word positions
    ``spans`` cover (the containment pass's [start, end) ranges of the same split). Separators such as
    WikiText's ``=`` do not count, inside matched spans as in whole documents.

    >>> matched_words("= = accolades = =".split()), matched_words("= = accolades = =".split(), [(0, 5)])
    (1, 1)
    >>> matched_words("how now what is the matter".split(), [(0, 2), (1, 3)])
    3
    """
    if spans is None:
        return sum(any(ch.isalnum() for ch in w) for w in words)
    covered = {i for a, b in spans for i in range(max(a, 0), min(b, len(words)))}
    return sum(any(ch.isalnum() for ch in words[i]) for i in covered)


def _classify(rows: dict, copies: dict, spans: dict, sources, normalize, trivial: TrivialRule) -> None:
    """Set ``trivial``, ``matched_words`` and ``excerpt`` of every merged leak (a second look at its text)."""
    for r in rows.values():
        r.update(trivial=False, matched_words=None, excerpt=None)
    if sources is None or not rows:
        return
    from ..passes.exact import look_up_texts
    from ..text import DEFAULT_NORMALIZE, normalize_array

    wanted: dict[str, set[str]] = {}
    for split, doc_id in rows:
        wanted.setdefault(split, set()).add(doc_id)
    texts = look_up_texts(sources, wanted)
    keys = list(texts)
    norm = normalize_array(pa.array([texts[k] for k in keys], pa.large_string()),
                           normalize or DEFAULT_NORMALIZE).to_pylist() if keys else []
    words = {k: t.split() for k, t in zip(keys, norm)}
    for key, r in rows.items():
        if key not in texts:
            continue
        whole = r["exact"] or r["near_jaccard"] is not None or key not in spans
        w = matched_words(words[key], None if whole else spans[key])
        r["matched_words"] = w
        r["trivial"] = trivial.is_trivial(w, copies.get(key, 0))
        t = " ".join(texts[key].split())
        r["excerpt"] = t if len(t) <= EXCERPT_CHARS else t[: EXCERPT_CHARS - 3] + "..."
