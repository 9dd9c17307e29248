"""Cheap per-document features that need no model: what junk that spikes a loss looks like.

Each is a pure function of the text; ``features(text)`` returns them all. The list follows what was found
in real spikes and filters: runs of one character (BLOOM's chronicles found runs of backslashes in the
spiking samples), the share of the most repeated word n-gram (Gopher's repetition filters), OLMo's
repetition check (a unit of 1-13 tokens repeated 32+ times in a row, ``InstanceFilterConfig`` in OLMo-core;
applied here to characters, or to tokens where the data holds tokens), the zlib compression ratio,
the share of non-alphanumeric characters, and the share of base64/hex-like runs.

>>> f = features("ab" * 40)
>>> f["repeat_period"], f["repeat_count"], f["longest_run"]
(2, 40, 1)
>>> features("x = " + "\\\\" * 50)["longest_run_char"]
'\\\\'
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from typing import Any

import numpy as np

MAX_CHARS = 1_000_000   # features look at the first million characters: enough to see junk, bounded cost
_B64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
_HEX = re.compile(r"(?:0x)?[0-9a-fA-F]{16,}")

#: name -> (transform, direction, scale floor). direction "high": only large values are suspicious;
#: "both": either tail. The floor keeps a control set of all-zeros (no base64 anywhere) from making any
#: nonzero value infinitely unusual.
FEATURES: dict[str, tuple[str, str, float]] = {
    "length": ("log", "both", 0.25),
    "longest_run": ("log", "high", 0.15),
    "top_ngram_share": ("id", "high", 0.05),
    "repeat_count": ("log", "high", 0.15),
    "zlib_ratio": ("id", "both", 0.02),
    "nonalnum_share": ("id", "high", 0.02),
    "b64hex_share": ("id", "high", 0.02),
}


def longest_run(text: str) -> tuple[int, str]:
    """Length and character of the longest run of one character.

    >>> longest_run("aabbbbc")
    (4, 'b')
    """
    if not text:
        return 0, ""
    a = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    change = np.flatnonzero(a[1:] != a[:-1]) + 1
    bounds = np.concatenate([[0], change, [a.size]])
    lens = np.diff(bounds)
    k = int(np.argmax(lens))
    return int(lens[k]), text[int(bounds[k])]


def repetition(units: np.ndarray, max_period: int = 13) -> tuple[int, int]:
    """(period, count) of the most repeated unit of 1..max_period elements repeated back to back.

    OLMo-core's instance filter drops a sequence where some period in 1..13 repeats 32+ times.

    >>> repetition(np.array([1, 2, 3] * 10 + [9]))
    (3, 10)
    """
    best = (0, 1)
    n = units.size
    for p in range(1, min(max_period, n - 1) + 1):
        eq = units[p:] == units[:-p]
        if not eq.any():
            continue
        d = np.diff(np.concatenate([[0], eq.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        longest = int((ends - starts).max())
        count = longest // p + 1
        if count > best[1]:
            best = (p, count)
    return best


def top_ngram_share(text: str, n: int = 3) -> float:
    """Share of characters covered by the most frequent word n-gram (counted with repeats, as Gopher)."""
    words = text.split()
    if len(words) < n + 1:
        return 0.0
    grams = Counter(zip(*(words[i:] for i in range(n))))
    gram, count = grams.most_common(1)[0]
    if count < 2:
        return 0.0
    chars = sum(len(w) for w in words)
    return min(1.0, count * sum(len(w) for w in gram) / max(1, chars))


def b64hex_share(text: str) -> float:
    """Share of characters inside base64-like runs (24+ chars mixing letters and digits) or hex runs (16+)."""
    if not text:
        return 0.0
    covered = 0
    for m in _B64.finditer(text):
        s = m.group()
        if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
            covered += len(s)
    for m in _HEX.finditer(text):
        s = m.group()
        if any(c.isdigit() for c in s) and any(c.isalpha() for c in s) and not _B64.fullmatch(s):
            covered += len(s)
    return min(1.0, covered / len(text))


def features(text: str, tokens: np.ndarray | None = None) -> dict[str, Any]:
    """All cheap features of one document (its first MAX_CHARS characters)."""
    t = text[:MAX_CHARS]
    run, run_char = longest_run(t)
    units = tokens if tokens is not None and tokens.size else np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32)
    period, count = repetition(units[:200_000])
    raw = t.encode("utf-8", errors="surrogatepass")
    nonalnum = sum(1 for c in t if not c.isalnum() and not c.isspace())
    return {
        "length": len(text),
        "longest_run": run,
        "longest_run_char": run_char,
        "top_ngram_share": top_ngram_share(t),
        "repeat_period": period,
        "repeat_count": count,
        "zlib_ratio": len(zlib.compress(raw, 6)) / len(raw) if raw else 1.0,
        "nonalnum_share": nonalnum / len(t) if t else 0.0,
        "b64hex_share": b64hex_share(t),
    }


def transform(name: str, values: np.ndarray) -> np.ndarray:
    kind = FEATURES[name][0] if name in FEATURES else "id"
    v = np.asarray(values, dtype=np.float64)
    return np.log1p(np.maximum(v, 0)) if kind == "log" else v
