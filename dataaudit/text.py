"""Text normalization: the one function every pass uses (shingles are in ``dataaudit.shingle``).

One normalization, defined once (``reference_normalize_array``, Arrow kernels) and computed fast by
``normalize_array`` / ``normalized_blob`` (a C pass over a per-code-point table), so that the exact pass, the MinHash
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


def reference_normalize_array(texts: pa.Array | pa.ChunkedArray,
                              config: NormalizeConfig = DEFAULT_NORMALIZE) -> pa.Array:
    """The definition of the normalization, in Arrow compute kernels (slow: regexes). Nulls stay null.

    ``normalize_array`` gives the same result fast; tests check the two agree.
    """
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


_UNSAFE = 255


def _composition_seconds() -> set[int]:
    """BMP code points that can be the second half of a canonical composition (NFC_QC=Maybe and kin).

    A document holding one of them may compose across characters under NFKC, so it takes the reference path.
    """
    import unicodedata

    out = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V and T jamo (algorithmic)
    for cp in range(0x10000):
        dec = unicodedata.decomposition(chr(cp))
        if dec and not dec.startswith("<"):
            parts = dec.split()
            if len(parts) == 2:
                out.add(int(parts[1], 16))
    return out


def _codepoint_table(config: NormalizeConfig):
    """Per BMP code point, its normalized form computed by the reference path itself, or 'unsafe'.

    A code point is safe when normalizing it alone and concatenating gives the same bytes as normalizing
    the whole text: its decomposition starts with a non-combining character that cannot compose with what
    precedes it, and its normalized form holds only such characters. Tests check the equality on random text.
    """
    import unicodedata

    import numpy as np

    seconds = _composition_seconds()
    cps = [c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    chars = pa.array([chr(c) for c in cps], pa.string())
    per_char = dataclasses.replace(config, whitespace=False)
    mapped = reference_normalize_array(chars, per_char)
    if config.whitespace:
        mapped = pc.replace_substring_regex(mapped, _SPACE_RE, " ")
    map_off = np.zeros(0x10000, np.int32)
    map_len = np.full(0x10000, _UNSAFE, np.uint8)
    pool = bytearray()

    def ok(ch: str) -> bool:
        return unicodedata.combining(ch) == 0 and ord(ch) not in seconds

    for c, m in zip(cps, mapped.to_pylist()):
        ch = chr(c)
        d = unicodedata.normalize("NFKD", ch) if config.nfkc else ch
        mb = m.encode("utf-8")
        if (d and not ok(d[0])) or not all(ok(x) for x in m) or len(mb) > 4 * len(ch.encode("utf-8")):
            continue
        map_off[c] = len(pool)
        map_len[c] = len(mb)
        pool += mb
    assert (map_len[:128] == 1).all(), "the C path assumes every ASCII code point maps to one byte"
    return map_off.tobytes(), map_len.tobytes(), bytes(pool)


_TABLES: dict[NormalizeConfig, tuple] = {}


def _cached_table(config: NormalizeConfig) -> tuple:
    """``_codepoint_table`` cached on disk (~0.5 MB; building it takes about a second).

    Keyed by the settings and the Unicode versions of Python and pyarrow, so a new release rebuilds it.
    Under $DATAAUDIT_CACHE, else $XDG_CACHE_HOME/dataaudit, else ~/.cache/dataaudit; an unwritable cache
    directory only costs the rebuild.
    """
    import hashlib
    import os
    import unicodedata
    from pathlib import Path

    base = os.environ.get("DATAAUDIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "dataaudit")
    key = hashlib.sha1(repr((sorted(config.to_dict().items()), unicodedata.unidata_version, pa.__version__,
                             _SPACE_RE, _PUNCT_RE, _DIGIT_RE, 1)).encode()).hexdigest()[:16]
    path = Path(base) / f"normtable-{key}.bin"
    try:
        blob = path.read_bytes()
        if len(blob) > 0x50000:
            return blob[:0x40000], blob[0x40000:0x50000], blob[0x50000:]
    except OSError:
        pass
    table = _codepoint_table(config)
    try:
        from .io.atomic import write_bytes_atomic

        write_bytes_atomic(path, b"".join(table))
    except OSError:
        pass
    return table

try:  # the optional C accelerator (setup.py); results are identical without it
    from . import _fastnorm as _fast
except ImportError:  # pragma: no cover - depends on the build
    _fast = None


def _as_string_array(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not (pa.types.is_large_string(texts.type) or pa.types.is_string(texts.type)):
        texts = texts.cast(pa.large_string())
    return texts


def _c_args(texts: pa.Array, config: NormalizeConfig) -> tuple:
    """The arguments of the C functions (``_fastnorm.normalize_batch`` / ``hash_batch``) for a non-empty
    string or large_string array: its data buffer, int64 offsets, the code-point table, collapse."""
    import numpy as np

    table = _TABLES.get(config)
    if table is None:
        table = _TABLES[config] = _cached_table(config)
    n = len(texts)
    off_type = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    offs = np.frombuffer(texts.buffers()[1], dtype=off_type)[texts.offset: texts.offset + n + 1]
    data_buf = texts.buffers()[2]
    return (data_buf if data_buf is not None else b"", offs.astype(np.int64, copy=False), *table,
            config.whitespace)


def _overrides(texts: pa.Array, unsafe: bytes, config: NormalizeConfig) -> dict[int, bytes]:
    """The documents the C path leaves to the reference path (``unsafe`` flags them), and the nulls (b"")."""
    import numpy as np

    overrides: dict[int, bytes] = {}
    slow_idx = np.flatnonzero(np.frombuffer(unsafe, np.uint8))
    if len(slow_idx):
        slow = reference_normalize_array(pc.take(texts, pa.array(slow_idx)), config)
        for i, v in zip(slow_idx.tolist(), slow.to_pylist()):
            overrides[i] = v.encode("utf-8") if v is not None else b""
    if texts.null_count:
        for i in pc.indices_nonzero(pc.is_null(texts)).to_pylist():
            overrides[i] = b""
    return overrides


def normalized_blob(texts: pa.Array | pa.ChunkedArray,
                    config: NormalizeConfig = DEFAULT_NORMALIZE) -> tuple[bytes, list[int], dict[int, bytes]]:
    """The normalized texts of a batch as one blob: ``(blob, offsets, overrides)``.

    Document ``i`` is ``overrides[i]`` if present, else ``blob[offsets[i]:offsets[i+1]]``. This is the
    zero-copy form that shingling consumes; ``normalized_bytes`` is the same as a list.
    With the C accelerator, each document is normalized in one pass through a per-code-point table that
    the reference path built (a document holding a code point whose normalization depends on its
    neighbours, or one outside the BMP, takes the reference path and lands in ``overrides``).
    Without it, everything takes the reference path. Tests assert both give the same bytes. Nulls are b"".
    """
    texts = _as_string_array(texts)
    n = len(texts)
    if n == 0:
        return b"", [0], {}
    if _fast is None:
        out = [b"" if v is None else v.encode("utf-8")
               for v in reference_normalize_array(texts, config).to_pylist()]
        offsets = [0]
        for x in out:
            offsets.append(offsets[-1] + len(x))
        return b"".join(out), offsets, {}
    import numpy as np

    blob, new_offs, unsafe = _fast.normalize_batch(*_c_args(texts, config))
    return blob, np.frombuffer(new_offs, np.int64).tolist(), _overrides(texts, unsafe, config)


_XXH3_BOUND: list[bool] = []     # [] until tried, then [whether _fastnorm.hash_batch may be used]
_XXH3_CHECK = ["", "Hello, WORLD!", "x" * 17, "caf\u00e9 " * 40, "\ufb01ne  \t text " * 300]


def _bind_xxh3() -> bool:
    """Bind the C hasher to XXH3_128bits of the ``xxhash`` package's own extension (it exports the symbol),
    else of the system libxxhash; use it only if it gives ``xxhash.xxh3_128_digest``'s bytes on samples of
    every XXH3 length class (0, 1-16, 17-128, 129-240 and long inputs)."""
    if _XXH3_BOUND:
        return _XXH3_BOUND[0]
    ok = False
    if _fast is not None and hasattr(_fast, "bind_xxh3"):
        import ctypes.util

        import xxhash

        lib = getattr(getattr(xxhash, "_xxhash", None), "__file__", None)
        for path in (lib, ctypes.util.find_library("xxhash"), "libxxhash.so.0"):
            try:
                bound = bool(path) and _fast.bind_xxh3(path)
            except (OSError, ValueError):
                bound = False
            if bound:
                texts = pa.array(_XXH3_CHECK, pa.string())
                digests, _ = _fast.hash_batch(*_c_args(texts, DEFAULT_NORMALIZE))
                want = b"".join(xxhash.xxh3_128_digest(x) for x in normalized_bytes(texts))
                if digests == want:
                    ok = True
                    break
    _XXH3_BOUND.append(ok)
    return ok


def normalized_digests(texts: pa.Array | pa.ChunkedArray, config: NormalizeConfig = DEFAULT_NORMALIZE) -> bytes | None:
    """XXH3-128 digests (16 bytes each, canonical big-endian, as ``xxhash.xxh3_128_digest``) of the normalized
    texts, normalized and hashed in one C pass (``_fastnorm.hash_batch``: each document is normalized into a
    small scratch buffer and hashed there, no blob of the batch). The documents left to the reference path
    are hashed here. None without the C accelerator or without an XXH3 function to bind (``_bind_xxh3``)."""
    if not _bind_xxh3():
        return None
    import xxhash

    texts = _as_string_array(texts)
    if len(texts) == 0:
        return b""
    digests, unsafe = _fast.hash_batch(*_c_args(texts, config))
    overrides = _overrides(texts, unsafe, config)
    if not overrides:
        return digests
    out = bytearray(digests)
    for i, v in overrides.items():
        out[16 * i: 16 * i + 16] = xxhash.xxh3_128_digest(v)
    return bytes(out)


def normalized_bytes(texts: pa.Array | pa.ChunkedArray,
                     config: NormalizeConfig = DEFAULT_NORMALIZE) -> list[bytes]:
    """``normalize_array`` as a list of UTF-8 ``bytes`` (fast: see ``normalized_blob``)."""
    blob, o, overrides = normalized_blob(texts, config)
    out = [blob[a:b] for a, b in zip(o[:-1], o[1:])]
    for i, v in overrides.items():
        out[i] = v
    return out


def normalize_array(texts: pa.Array | pa.ChunkedArray, config: NormalizeConfig = DEFAULT_NORMALIZE) -> pa.Array:
    """Normalize an Arrow string array; returns a large_string array (nulls stay null).

    The same result as ``reference_normalize_array``, computed by the fast path of ``normalized_blob``
    (the normalized text is wrapped as an Arrow array without a copy).
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    blob, offsets, overrides = normalized_blob(texts, config)
    n = len(texts)
    if not overrides and not texts.null_count:
        import numpy as np

        return pa.LargeStringArray.from_buffers(n, pa.py_buffer(np.asarray(offsets, np.int64).tobytes()),
                                                pa.py_buffer(blob))
    out = [blob[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    for i, v in overrides.items():
        out[i] = v
    valid = pc.is_valid(texts).to_pylist() if texts.null_count else None
    return pa.array([x.decode("utf-8") if valid is None or valid[i] else None for i, x in enumerate(out)],
                    pa.large_string())


def normalize(text: str, config: NormalizeConfig = DEFAULT_NORMALIZE) -> str:
    """Normalize one string; exactly ``normalize_array`` on a one-element array."""
    return normalize_array(pa.array([text], type=pa.string()), config)[0].as_py()
