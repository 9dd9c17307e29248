r"""Word tokens, lines and the flat-array helpers every signal family shares.

Words. datatrove splits words with spaCy's blank English tokenizer; dataaudit does not depend on spaCy, so
``word_tokens`` is one regular expression plus two exception lists written to give spaCy's tokens on
English: whitespace separates, punctuation at a word's edge is a token of its own (but ``-`` ``/`` ``\``
``|`` ``~`` runs stay attached), ``'s`` splits, other contractions only after pronouns/auxiliaries, numbers
keep their inner ``.``/``,``/``:``, abbreviations and URLs stay whole (docs/signals.md lists the rest).

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

_ABBREV = (r"(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Mt|vs|etc|Inc|Ltd|Co|Corp|Gov|Sen|Rep|"
           r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|[A-Za-z])\.(?![\w.])")
_ATTACH = r"[-/@\\^|~•]"          # characters spaCy never splits off a word's edge
_CORE = (r"[^\W_](?:[^\W_]|_(?=[^\W_])|(?<=\d)[.,:](?=\d)|\.(?=\w)|['’](?![sS]\b)(?=\w)|(?<=\d)[–/](?=\d)|[(\[+](?=\w)|/(?=\d)|[,.;:!?]-{2,}(?=\w))*")
TOKEN_RE = re.compile(
    r"(?:https?://|www\.)\S+"                 # URLs whole, as spaCy's url_match
    r"|(?:[^\W\d_]\.){2,}"                    # U.S., e.g.
    r"|" + _ABBREV +                           # Mr., Dr., Jan. (spaCy's tokenizer exceptions)
    r"|['’][sS]\b"                            # possessive 's
    r"|(?<!\S)['’](?:em|re|ll)\b"      # 'em, 're at the start of a word
    r"|" + _CORE + r"(?:[,.;:!?]?" + _ATTACH + r"+(?!\S)|[$%+=§€£]+(?!\S))?"   # word, with a trailing rule
    r"|@[-.,]@"                               # WikiText's @-@ @.@ @,@
    r"|(?<!\S)" + _ATTACH + r"+(?:" + _CORE + r")?"  # a rule of -, /, \, |, ~ and a word it leads
    r"|" + _ATTACH + r"+"
    r"|\.{2,}"                                # ellipsis
    r"|\S"                                    # any other character is a token of its own
)
_find = TOKEN_RE.findall
#: spaCy's tokenizer exceptions split these contractions (and no others): I'll, you're, don't, can't ...
_PRONOUNS = frozenset("i you he she it we they who what that there here where how when why this".split())
_AUX = frozenset("do does did is are was were has have had could would should must might need ca wo ai sha "
                 "dare ought".split())
_CANNOT = frozenset(("cannot", "Cannot", "CANNOT"))
_SPLIT_RE = re.compile(r"^(\w+)((?:['’](?:ll|re|ve|d|m|LL|RE|VE|D|M))|n['’]t|N['’]T)$")


def _split_contractions(toks: list[str]) -> list[str]:
    out = []
    for t in toks:
        m = _SPLIT_RE.match(t) if ("'" in t or "’" in t) else None
        if m and (m.group(1).lower() in (_AUX if m.group(2)[0] in "nN" else _PRONOUNS)):
            out += [m.group(1), m.group(2)]
        else:
            out.append(t)
    return out


def line_tokens(line: str) -> list[str]:
    """Word tokens of one line (see the module docstring)."""
    toks = _find(line)
    if "'" in line or "’" in line:
        toks = _split_contractions(toks)
    if "annot" in line:
        toks = [x for t in toks for x in ((t[:3], t[3:]) if t in _CANNOT else (t,))]
    return toks


def word_tokens(text: str) -> list[str]:
    """Word tokens of a text: the tokens of its lines, in order."""
    return [t for line in text.splitlines() for t in line_tokens(line)]


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


def _factorize():
    """pandas.factorize when pandas is installed (it is with ``datasets``), else Arrow's dictionary encoding:
    both number values in order of first appearance."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas comes with datasets
        return lambda a: np.asarray(pc.dictionary_encode(pa.array(a)).indices, dtype=np.int64)
    return lambda a: pd.factorize(a, sort=False)[0].astype(np.int64, copy=False)


_FACT = None
_CHUNK = 1 << 14   # hash tables of this many keys stay in cache: 3-6x faster than one table per batch


def dense_ids(keys: pa.Array | np.ndarray, cuts: np.ndarray | None = None) -> np.ndarray:
    """Dense ids of ``keys`` numbered in order of first appearance.

    With ``cuts`` (sorted positions where a key can never equal a key before it, e.g. document starts when
    keys carry their document), the keys are numbered in cache-sized pieces cut there; ids stay globally
    distinct and in first-appearance order, so the result is the same.
    """
    global _FACT
    if _FACT is None:
        _FACT = _factorize()
    if isinstance(keys, (pa.Array, pa.ChunkedArray)):
        enc = pc.dictionary_encode(keys)
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks()
        return np.asarray(enc.indices, dtype=np.int64)
    n = len(keys)
    if cuts is None or n <= 2 * _CHUNK:
        return _FACT(keys)
    bounds = np.unique(cuts[np.searchsorted(cuts, np.arange(_CHUNK, n, _CHUNK))
                            .clip(max=len(cuts) - 1)])
    bounds = np.concatenate([[0], bounds[(bounds > 0) & (bounds < n)], [n]])
    out = np.empty(n, dtype=np.int64)
    base = 0
    for a, b in zip(bounds[:-1], bounds[1:]):
        ids = _FACT(keys[a:b])
        out[a:b] = ids + base
        base += int(ids.max()) + 1 if b > a else 0
    return out


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
