"""Text normalization and shingling: pure functions shared by every pass.

One normalization, defined once over Arrow arrays (``normalize_array``) so that the exact pass, the MinHash
pass and the containment pass all see the same text. ``normalize`` is the same function on one string.

Steps, in order (each can be switched off in ``NormalizeConfig``):

1. Unicode NFKC (compatibility forms fold: ligatures, full-width letters, non-breaking spaces);
2. lower case (Unicode, code point by code point);
3. punctuation (Unicode category P*) replaced by a space, so ``"end.Start"`` does not become one word;
4. optional digit folding: every decimal digit becomes ``0`` (dates and counts stop mattering);
5. whitespace (any Unicode space or separator) collapsed to one space, ends trimmed.

Worked examples (defaults: NFKC, lower, punctuation, whitespace; no digit folding):

>>> normalize("  Hello,\\tWORLD!  ")
'hello world'
>>> normalize("\\ufb01ne caf\\u00e9")          # the 'fi' ligature and a precomposed e-acute
'fine café'
>>> normalize("ＡＢＣ\\u00a0123")               # full-width letters, a non-breaking space
'abc 123'
>>> normalize("Call 555-0199 on 2024-01-02", NormalizeConfig(digits=True))
'call 000 0000 on 0000 00 00'
>>> normalize("Keep, the. Punct!", NormalizeConfig(punctuation=False))
'keep, the. punct!'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .errors import ConfigError

_PUNCT_RE = r"\p{P}"
_DIGIT_RE = r"\p{Nd}"
_SPACE_RE = r"[\s\p{Z}\x{0b}\x{85}\x{1c}-\x{1f}]+"


@dataclass(frozen=True, kw_only=True)
class NormalizeConfig:
    """How text is normalized before hashing or shingling. Recorded in every report."""

    nfkc: bool = True  # fold Unicode compatibility forms, so visually equal text hashes equal
    lower: bool = True  # case is rarely what makes two documents different documents
    punctuation: bool = True  # quote styles and stray commas should not hide a copy
    digits: bool = False  # off by default: numbers often *are* the content (tables, math)
    whitespace: bool = True  # re-wrapped or re-indented text is the same text

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NormalizeConfig":
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown normalization setting(s) {sorted(unknown)}; "
                              f"known: {[f.name for f in dataclasses.fields(cls)]}")
        return cls(**d)


DEFAULT_NORMALIZE = NormalizeConfig()


def normalize_array(texts: pa.Array | pa.ChunkedArray, config: NormalizeConfig = DEFAULT_NORMALIZE) -> pa.Array:
    """Normalize an Arrow string array (vectorized, releases the GIL). Nulls stay null."""
    out = texts
    if config.nfkc:
        out = pc.utf8_normalize(out, form="NFKC")
    if config.lower:
        out = pc.utf8_lower(out)
    if config.punctuation:
        out = pc.replace_substring_regex(out, _PUNCT_RE, " ")
    if config.digits:
        out = pc.replace_substring_regex(out, _DIGIT_RE, "0")
    if config.whitespace:
        out = pc.replace_substring_regex(out, _SPACE_RE, " ")
        out = pc.utf8_trim(out, characters=" ")
    if config.nfkc and (config.lower or config.punctuation or config.digits):
        # lower-casing can leave text that is no longer in NFKC form (rare: e.g. some Greek and
        # Cherokee code points); a second NFKC pass makes the function idempotent.
        out = pc.utf8_normalize(out, form="NFKC")
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    return out


def _ascii_table(config: NormalizeConfig) -> bytes:
    """A 256-byte translation table doing, on ASCII text, what ``normalize_array`` does."""
    t = bytearray(range(256))
    if config.lower:
        for c in range(ord("A"), ord("Z") + 1):
            t[c] = c + 32
    if config.punctuation:  # the ASCII members of Unicode category P*
        for c in b"!\"#%&'()*,-./:;?@[\\]_{}":
            t[c] = 32
    if config.digits:
        for c in range(ord("0"), ord("9") + 1):
            t[c] = ord("0")
    if config.whitespace:  # the ASCII members of _SPACE_RE
        for c in b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f":
            t[c] = 32
    return bytes(t)


_TABLES: dict[NormalizeConfig, bytes] = {}


def normalized_bytes(texts: pa.Array | pa.ChunkedArray,
                     config: NormalizeConfig = DEFAULT_NORMALIZE) -> list[bytes]:
    """``normalize_array`` as a list of UTF-8 ``bytes``, with a fast path for ASCII documents.

    ASCII documents (most of an English corpus) are normalized with one byte-translation of the whole batch
    and ``bytes.split``/``join`` per document, several times faster than the regex path; the rest go through
    ``normalize_array``. Tests assert both paths give the same bytes. Nulls come back as ``b""``.
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not (pa.types.is_large_string(texts.type) or pa.types.is_string(texts.type)):
        texts = texts.cast(pa.large_string())
    n = len(texts)
    if n == 0:
        return []
    table = _TABLES.get(config)
    if table is None:
        table = _TABLES[config] = _ascii_table(config)
    is_ascii = pc.fill_null(pc.string_is_ascii(texts), True)
    import numpy as np

    off_type = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    offs = np.frombuffer(texts.buffers()[1], dtype=off_type)[texts.offset: texts.offset + n + 1]
    data_buf = texts.buffers()[2]
    lo, hi = int(offs[0]), int(offs[-1])
    blob = (data_buf.to_pybytes()[lo:hi] if data_buf is not None else b"").translate(table)
    starts = (offs[:-1] - lo).tolist()
    ends = (offs[1:] - lo).tolist()
    if config.whitespace:
        out = [b" ".join(blob[a:b].split()) for a, b in zip(starts, ends)]
    else:
        out = [blob[a:b] for a, b in zip(starts, ends)]
    if not pc.all(is_ascii).as_py():
        idx = pc.indices_nonzero(pc.invert(is_ascii))
        slow = normalize_array(pc.take(texts, idx), config)
        for i, v in zip(idx.to_pylist(), slow.to_pylist()):
            out[i] = v.encode("utf-8") if v is not None else b""
    if texts.null_count:
        for i in pc.indices_nonzero(pc.is_null(texts)).to_pylist():
            out[i] = b""
    return out


def normalize(text: str, config: NormalizeConfig = DEFAULT_NORMALIZE) -> str:
    """Normalize one string; exactly ``normalize_array`` on a one-element array."""
    return normalize_array(pa.array([text], type=pa.string()), config)[0].as_py()
