"""Word tokens, lines and the flat-array helpers every signal family shares.

Words. datatrove splits words with spaCy's blank English tokenizer; dataaudit does not depend on spaCy, so
``word_tokens`` is one regular expression written to give the same tokens on ordinary English: whitespace
separates, punctuation is a token of its own, contractions split (``it's`` -> ``it``, ``'s``), an ellipsis
or a rule of hyphens is one token, numbers keep their inner ``.``/``,``/``:`` and URLs stay whole.

>>> word_tokens("First Citizen: it's 3.5 km... U.S. e-mail!")
['First', 'Citizen', ':', 'it', "'s", '3.5', 'km', '...', 'U.S.', 'e', '-', 'mail', '!']

Symbols. A token is a symbol when each of its characters is Unicode punctuation (P*), a symbol (S*) or a
control/format character (C*); datatrove uses a hand-written punctuation set instead (docs/signals.md).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_CONTRACTION = r"(?:[sSdDmM]|ll|LL|re|RE|ve|VE)\b"
_ABBREV = (r"(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Mt|vs|etc|Inc|Ltd|Co|Corp|Prof|Gen|Col|Lt|Sgt|Capt|Rev|Gov|Sen|Rep|"
           r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.(?!\w)")
TOKEN_RE = re.compile(
    r"(?:https?://|www\.)\S+"                 # URLs whole, as spaCy's url_match
    r"|(?:[^\W\d_]\.){2,}"                    # U.S., e.g.
    r"|" + _ABBREV +                           # Mr., Dr., Jan. (spaCy's tokenizer exceptions)
    r"|['’]" + _CONTRACTION +                  # 's 'll 're 've 'd 'm
    r"|n['’]t\b"                              # n't (after the word, see below)
    r"|\w+?(?=n['’]t\b)"                      # do of don't
    r"|\w+(?:(?:(?<=\d)[.,:](?=\d)|\.(?=\w)|['’](?!" + _CONTRACTION + r"|t\b)|(?<=\d)[–/](?=\d)|/(?=[a-z]))\w+)*"
    r"|\.{2,}|-{2,}|@[-.,]@|/{2,}"            # ellipsis, rules, WikiText's @-@ @.@ @,@, //
    r"|\S"                                    # any other character is a token of its own
)
word_tokens = TOKEN_RE.findall

#: Sentence-final characters (Unicode Sentence_Terminal, the common ones): FineWeb's line ends, C4's
#: sentence breaks.
TERMINAL = frozenset(".!?" + "։؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼。꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？｡")

#: What ``str.splitlines`` splits on, in RE2 syntax.
LINE_BREAK_RE2 = r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x{85}\x{2028}\x{2029}]"


@lru_cache(maxsize=1 << 16)
def token_kind(tok: str) -> int:
    """Bit 1: symbol-only token; bit 2: holds an alphabetic character (``str.isalpha``); bit 4: all punctuation
    (spaCy's ``is_punct``, for sentence breaks)."""
    import unicodedata

    cats = [unicodedata.category(c) for c in tok]
    kind = 1 if all(c[0] in "PSC" for c in cats) else 0
    if any(c.isalpha() for c in tok):
        kind |= 2
    if all(c[0] == "P" for c in cats):
        kind |= 4
    return kind


def split_lists(lists: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(flat values, offsets) of a list array."""
    offsets = np.asarray(lists.offsets, dtype=np.int64)
    flat = lists.values.slice(offsets[0], offsets[-1] - offsets[0]) if len(lists) else lists.values.slice(0, 0)
    return flat, offsets - offsets[0]


def splitlines(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """``str.splitlines`` of every text at once: (flat lines, offsets per text)."""
    parts = pc.split_pattern_regex(texts, pattern=LINE_BREAK_RE2)
    flat, offsets = split_lists(parts)
    # split gives a last empty piece where the text ends with a break (or is empty): splitlines does not
    n = len(offsets) - 1
    last = offsets[1:] - 1
    lens = np.asarray(pc.binary_length(flat), dtype=np.int64) if len(flat) else np.zeros(0, np.int64)
    drop = np.zeros(len(flat), dtype=bool)
    has = offsets[1:] > offsets[:-1]
    cand = last[has]
    drop[cand[lens[cand] == 0]] = True
    keep = ~drop
    new_counts = np.diff(offsets) - np.bincount(np.repeat(np.arange(n), np.diff(offsets))[drop], minlength=n)
    new_offsets = np.concatenate([[0], np.cumsum(new_counts)]).astype(np.int64)
    return flat.filter(pa.array(keep)), new_offsets


def seg_ids(offsets: np.ndarray) -> np.ndarray:
    """Segment index of each flat element, from offsets."""
    return np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))


def seg_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of each segment (empty segments give 0)."""
    c = np.concatenate([[0], np.cumsum(values, dtype=np.float64)])
    return c[offsets[1:]] - c[offsets[:-1]]


def seg_max(values: np.ndarray, offsets: np.ndarray, empty: float = 0) -> np.ndarray:
    """Maximum of each segment (``empty`` for empty segments)."""
    n = len(offsets) - 1
    out = np.full(n, empty, dtype=np.float64)
    has = offsets[1:] > offsets[:-1]
    if has.any():
        out[has] = np.maximum.reduceat(values, offsets[:-1][has])
    return out


def dense_ids(keys: pa.Array | np.ndarray) -> np.ndarray:
    """Dense ids numbered in order of first appearance (Arrow's hash dictionary encoding)."""
    arr = keys if isinstance(keys, (pa.Array, pa.ChunkedArray)) else pa.array(keys)
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    return np.asarray(enc.indices, dtype=np.int64)


def dup_stats(pieces: pa.Array, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per segment: (pieces, pieces equal to an earlier piece of the same segment, characters of those).

    Gopher's "duplicate line/paragraph" counts: the first copy is not a duplicate, every later copy is.
    """
    n = len(offsets) - 1
    counts = np.diff(offsets)
    if len(pieces) == 0:
        z = np.zeros(n, dtype=np.int64)
        return counts, z, z
    seg = seg_ids(offsets)
    ids = dense_ids(pieces)
    key = dense_ids(seg * (int(ids.max()) + 1) + ids)
    first = np.zeros(len(key), dtype=bool)
    new = key > np.concatenate([[-1], np.maximum.accumulate(key)[:-1]])
    first[new] = True
    dup = ~first
    lens = np.asarray(pc.utf8_length(pieces), dtype=np.int64)
    return (counts, np.bincount(seg[dup], minlength=n).astype(np.int64),
            np.bincount(seg[dup], weights=lens[dup], minlength=n).astype(np.int64))
