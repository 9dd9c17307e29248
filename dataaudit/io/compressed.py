"""Open ``.gz`` / ``.zst`` files so that a truncated or corrupt stream is an ``InputError``, never short data.

Both decompressors hide truncation: ``zstandard``'s stream reader returns what it decoded so far and then
end-of-file (a ``.zst`` cut in half reads as fewer lines, or none), and gzip raises ``EOFError`` only once
the reader reaches the cut. So a zstd file's frames are walked first (headers and block headers only, by
seeking: no decompression) and must all be complete; a gzip stream's errors are mapped as they come. Either
way the error names the file, the compressed byte offset where it broke, and the fix.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from typing import BinaryIO

from ..errors import InputError

COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd")
_FIX = "re-download or re-compress it"
_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_SKIPPABLE = 0x184D2A50  # 0x184D2A50 ... 0x184D2A5F


class CompressedStreamError(InputError):
    """The compressed stream itself is truncated or corrupt (not one record in it)."""


def drain(fh: BinaryIO) -> None:
    """Read ``fh`` to its end, discarding: raises CompressedStreamError if the rest of the stream is broken.

    gzip checks its CRC only at the end of a member, so corruption first shows as garbled records: before
    blaming a record of a compressed file, a reader drains the stream to tell the two apart.
    """
    while fh.read(1 << 16):
        pass


def open_maybe_compressed(path: str) -> BinaryIO:
    """A binary file object over the decompressed bytes of ``path`` (``.gz``, ``.zst``/``.zstd``, or plain)."""
    low = path.lower()
    if not low.endswith(COMPRESSED_SUFFIXES):
        return open(path, "rb")
    raw = open(path, "rb")
    try:
        size = os.fstat(raw.fileno()).st_size
        if size == 0:
            raise CompressedStreamError(f"{path}: truncated {_kind(low)} file: it is empty (0 compressed bytes); "
                                        f"{_FIX}")
        if low.endswith(".gz"):
            inner = gzip.GzipFile(fileobj=raw)
        else:
            import zstandard

            check_zstd_frames(raw, path, size)
            raw.seek(0)
            inner = zstandard.ZstdDecompressor().stream_reader(raw, read_size=1 << 14, read_across_frames=True,
                                                                closefd=False)
        return io.BufferedReader(_Checked(inner, raw, path, size, _kind(low)), buffer_size=1 << 16)
    except BaseException:
        raw.close()
        raise


def _kind(low: str) -> str:
    return "gzip" if low.endswith(".gz") else "zstd"


class _Checked(io.RawIOBase):
    """Raw reads from a decompressor; every decompression error becomes a one-line InputError."""

    def __init__(self, inner, raw: BinaryIO, path: str, size: int, kind: str) -> None:
        self._inner, self._raw, self._path, self._size, self._kind = inner, raw, path, size, kind

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        try:
            data = self._inner.read(len(buf))
        except EOFError as e:  # gzip: the stream ended before its end-of-stream marker
            raise CompressedStreamError(f"{self._path}: truncated {self._kind} stream: the file ends at "
                                        f"compressed byte {self._size} before the end of the stream ({e}); "
                                        f"{_FIX}") from None
        except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            raise self._corrupt(e) from None
        except Exception as e:  # zstandard raises its own ZstdError
            if type(e).__name__ != "ZstdError":
                raise
            raise self._corrupt(e) from None
        n = len(data)
        buf[:n] = data
        return n

    def _corrupt(self, e: BaseException) -> CompressedStreamError:
        try:
            at = self._raw.tell()
        except (OSError, ValueError):
            at = self._size
        return CompressedStreamError(f"{self._path}: corrupt {self._kind} data near compressed byte {at} of "
                                     f"{self._size} ({e}); {_FIX}")

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._raw.close()
            super().close()


def check_zstd_frames(fh: BinaryIO, path: str, size: int) -> None:
    """Walk the zstd frames of ``fh`` (RFC 8878: frame header, block headers, checksum) without decoding.

    Raises InputError when a frame is cut off by the end of the file (truncated) or when bytes that should
    start a frame are not one (corrupt, or trailing garbage). Content errors inside blocks are left to the
    decompressor.
    """

    def read(pos: int, n: int, frame: int) -> bytes:
        fh.seek(pos)
        b = fh.read(n)
        if len(b) < n:
            raise CompressedStreamError(f"{path}: truncated zstd stream: the file ends at compressed byte {size}, "
                                        f"inside the frame that starts at byte {frame}; {_FIX}")
        return b

    pos = 0
    while pos < size:
        start = pos
        magic = int.from_bytes(read(pos, 4, start), "little")
        if magic & 0xFFFFFFF0 == _ZSTD_SKIPPABLE:
            pos += 8 + int.from_bytes(read(pos + 4, 4, start), "little")
            if pos > size:
                read(size, 1, start)
            continue
        if magic != _ZSTD_MAGIC:
            raise CompressedStreamError(f"{path}: corrupt zstd data at compressed byte {start} of {size}: expected the "
                                        f"start of a zstd frame, found {read(pos, 4, start).hex()}; {_FIX}")
        fhd = read(pos + 4, 1, start)[0]
        fcs_flag, single, checksum, dict_flag = fhd >> 6, (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3
        if fhd & 0x08:
            raise CompressedStreamError(f"{path}: corrupt zstd frame header at compressed byte {start} of {size} "
                                        f"(reserved bit set); {_FIX}")
        pos += 5 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag] + ((1 if single else 0), 2, 4, 8)[fcs_flag]
        while True:
            header = int.from_bytes(read(pos, 3, start), "little")
            last, btype, bsize = header & 1, (header >> 1) & 3, header >> 3
            if btype == 3:
                raise CompressedStreamError(f"{path}: corrupt zstd data at compressed byte {pos} of {size} (reserved "
                                            f"block type); {_FIX}")
            pos += 3 + (1 if btype == 1 else bsize)
            if last:
                break
        pos += 4 * checksum
        if pos > size:
            read(size, 1, start)
