"""TensorBoard event files, read without TensorFlow, TensorBoard or protobuf.

Why not tensorboard's ``EventAccumulator``: it keeps a reservoir sample of each tag (default 1,000
scalars) and, on a ``SessionLog.START`` or an out-of-order step, purges the points after the restart
step. Both erase exactly the evidence a loss-spike audit needs. This reader keeps every point in file
order and records restarts as markers instead.

Framing (TFRecord, tensorflow/core/lib/io/record_writer.cc and the TFRecord format notes):
``uint64 length | uint32 masked_crc32c(length) | data[length] | uint32 masked_crc32c(data)``, little
endian, ``masked = ((crc >> 15 | crc << 17) + 0xa282ead8) mod 2**32`` with CRC-32C (Castagnoli).

Messages (field numbers from tensorboard/compat/proto/{event,summary,tensor}.proto, checked against
tensorboard 2.21's descriptors): Event{1 wall_time double, 2 step int64, 3 file_version string,
5 summary, 7 session_log{1 status: START=1, STOP=2, CHECKPOINT=3}}; Summary{1 repeated Value};
Value{1 tag, 2 simple_value float, 8 tensor, 9 metadata{1 plugin_data{1 plugin_name}}};
TensorProto{1 dtype, 4 tensor_content bytes, 5 float_val, 6 double_val, 7 int_val, 10 int64_val,
13 half_val}. Scalars written by ``tf.summary.scalar`` (TF2) or torch's SummaryWriter with new-style
summaries arrive as 0-d tensors; both forms are read.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import LogError
from . import tfblocks as _tfb
from .table import LogBuilder

# --- CRC-32C ---------------------------------------------------------------------------------------

def _make_table() -> list[int]:
    poly = 0x82F63B78  # reversed Castagnoli polynomial (RFC 3720 appendix B.4)
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        out.append(c)
    return out


_TABLE = _make_table()


def _crc32c_py(data: bytes) -> int:
    crc = 0xFFFFFFFF
    t = _TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _fast_crc():
    """A compiled CRC-32C if one happens to be installed (google-crc32c or crc32c); else pure Python."""
    try:
        import google_crc32c  # type: ignore

        return lambda b: google_crc32c.value(bytes(b))
    except ImportError:
        pass
    try:
        import crc32c  # type: ignore

        return crc32c.crc32c
    except ImportError:
        return _crc32c_py


crc32c = _fast_crc()


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --- minimal protobuf wire-format decoding ------------------------------------------------------------

def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """Yield (field number, wire type, value) of a serialized message; length-delimited values are bytes."""
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 1:
            val = buf[pos:pos + 8]
            pos += 8
        elif wt == 2:
            ln, pos = _varint(buf, pos)
            val = buf[pos:pos + ln]
            pos += ln
        elif wt == 5:
            val = buf[pos:pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wt} for field {num}")
        if pos > n:
            raise ValueError("message ends inside a field")
        yield num, wt, val


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


_DT = {1: "<f4", 2: "<f8", 3: "<i4", 9: "<i8", 19: "<f2"}  # DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64, DT_HALF


def _tensor_scalar(buf: bytes) -> float | None:
    """The value of a 0-d (or 1-element) numeric TensorProto; None for anything else."""
    dtype, content, vals = 0, b"", []
    for num, wt, val in fields(buf):
        if num == 1:
            dtype = val
        elif num == 4:
            content = val
        elif num == 5:
            vals.extend(np.frombuffer(val, "<f4").tolist() if wt == 2 else struct.unpack("<f", val))
        elif num == 6:
            vals.extend(np.frombuffer(val, "<f8").tolist() if wt == 2 else struct.unpack("<d", val))
        elif num in (7, 10):
            if wt == 2:  # packed varints
                p = 0
                while p < len(val):
                    v, p = _varint(val, p)
                    vals.append(_signed64(v))
            else:
                vals.append(_signed64(val))
        elif num == 13:  # half_val: uint16 bit patterns in int32 varints
            if wt == 2:
                p = 0
                while p < len(val):
                    v, p = _varint(val, p)
                    vals.append(float(np.array([v], "<u2").view("<f2")[0]))
            else:
                vals.append(float(np.array([val], "<u2").view("<f2")[0]))
    if content and dtype in _DT:
        arr = np.frombuffer(content, _DT[dtype])
        return float(arr[0]) if arr.size == 1 else None
    if len(vals) == 1:
        return float(vals[0])
    return None


def _value(buf: bytes) -> tuple[str, float | None, str]:
    """(tag, scalar or None, plugin name) of a Summary.Value."""
    tag, scalar, plugin, tensor = "", None, "", None
    for num, _wt, val in fields(buf):
        if num == 1:
            tag = bytes(val).decode("utf-8", "replace")
        elif num == 2:
            scalar = struct.unpack("<f", val)[0]
        elif num == 8:
            tensor = val
        elif num == 9:
            for n2, _w2, v2 in fields(val):
                if n2 == 1:
                    for n3, _w3, v3 in fields(v2):
                        if n3 == 1:
                            plugin = bytes(v3).decode("utf-8", "replace")
    if scalar is None and tensor is not None and plugin in ("scalars", ""):
        scalar = _tensor_scalar(tensor)
    return tag, scalar, plugin


# --- records -------------------------------------------------------------------------------------------

CHUNK_BYTES = 8 << 20   # bytes read at a time: memory is bounded by this and the largest record


def batches(path: str | os.PathLike, *, check_crc: bool = True, chunk_bytes: int = CHUNK_BYTES):
    """Yield (file offset of ``buf``, ``buf`` as uint8 array, record offsets in it, payload lengths) for the
    whole records of each chunk of ``path``, read ``chunk_bytes`` at a time (never the whole file).

    After the records before it, raises LogError naming the offset of a truncated record or of a CRC mismatch.
    """
    buf, base, need = b"", 0, 0
    with open(path, "rb") as f:
        while True:
            want = max(chunk_bytes, need)
            data = f.read(want)
            eof = len(data) < want
            buf = buf + data if buf else data
            n = base + len(buf)                      # file size, once eof
            offs_l, lens_l, stop, ln = _tfb.frame(buf, 0, len(buf))
            arr = np.frombuffer(buf, np.uint8)
            offs, lens = np.array(offs_l, np.int64), np.array(lens_l, np.int64)
            err = None
            bad = _tfb.check(arr, offs, lens) if check_crc else None
            if bad is not None:
                i, kind = bad
                pos = base + int(offs[i])
                err = (f"{path}: corrupt record length at byte offset {pos} (CRC mismatch); the file is damaged "
                       f"or not a TensorBoard event file") if kind == "length" else \
                    f"{path}: corrupt record data at byte offset {pos} (CRC mismatch)"
                offs, lens = offs[:i], lens[:i]
            elif stop < len(buf):
                pos = base + stop
                if ln is None:
                    if eof:
                        err = (f"{path}: truncated record header at byte offset {pos} ({n - pos} of 12 bytes); "
                               f"the file was cut off while being written. Points before this offset were read.")
                elif check_crc and masked_crc(buf[stop:stop + 8]) != struct.unpack_from("<I", buf, stop + 8)[0]:
                    err = (f"{path}: corrupt record length at byte offset {pos} (CRC mismatch); "
                           f"the file is damaged or not a TensorBoard event file")
                elif eof:
                    err = (f"{path}: truncated record at byte offset {pos}: needs {ln + 16} bytes, "
                           f"{n - pos} left; the file was cut off while being written")
            if offs.size:
                yield base, arr, offs, lens
            if err:
                raise LogError(err)
            if eof:
                return
            need = 0 if ln is None else ln + 16 - (len(buf) - stop)
            buf, base = buf[stop:], base + stop


def records(path: str | os.PathLike, *, check_crc: bool = True) -> Iterator[tuple[int, bytes]]:
    """Yield (byte offset, payload) of each TFRecord in ``path``, streamed (see ``batches``).

    Raises LogError naming the offset of a truncated record or of a CRC mismatch.
    """
    for base, arr, offs, lens in batches(path, check_crc=check_crc):
        for o, ln in zip(offs.tolist(), lens.tolist()):
            yield base + o, arr[o + 12:o + 12 + ln].tobytes()


def is_event_file(path: Path) -> bool:
    return "tfevents" in path.name


def event_files(path: Path) -> list[Path]:
    """Event files under ``path`` (itself if a file), sorted by directory then name (= creation time)."""
    if path.is_file():
        return [path]
    return sorted((p for p in path.rglob("*") if p.is_file() and is_event_file(p)),
                  key=lambda p: (str(p.parent), p.name))


def read_tfevents(path: Path, builder: LogBuilder, *, run: str | None = None, check_crc: bool = True,
                  on_bad: str = "skip") -> None:
    """Read every scalar of every event file under ``path`` into ``builder``.

    The run of an event file is its directory relative to ``path`` (TensorBoard's convention), or
    ``run`` / the directory name when ``path`` is a single file. A truncated or corrupt record ends that
    file: what came before is kept and the problem is recorded with its byte offset (``on_bad='fail'``
    raises instead).
    """
    files = event_files(path)
    if not files:
        raise LogError(f"no TensorBoard event files (*tfevents*) under {path}; pass the log directory "
                       f"that holds them or choose another --log-format")
    for i, f in enumerate(files):
        if run is not None:
            name = run
        elif path.is_file():
            name = f.parent.name or f.stem
        else:
            rel = f.parent.relative_to(path)
            name = path.name if str(rel) == "." else f"{path.name}/{rel.as_posix()}"
        seen = name in builder.runs
        info = builder.info(name, path, "tensorboard")
        start = len(builder)
        try:
            for base, arr, offs, lens in batches(f, check_crc=check_crc):
                _batch(base, arr, offs, lens, f, name, builder, info)
        except LogError as e:
            if on_bad == "fail":
                raise
            builder.bad_record(str(f), str(e).split(": ", 1)[-1])
        if seen and len(builder) > start:  # a second file for the same run: the writer was restarted
            info.markers.append({"step": builder.step_at(start), "kind": "new_file", "detail": f.name})


def _batch(base: int, arr: np.ndarray, offs: np.ndarray, lens: np.ndarray, f: Path, run: str,
           builder: LogBuilder, info) -> None:
    """The records of one chunk, in file order: one-scalar events decoded in bulk, the rest by ``_event``."""
    ok, wall, step, val, code, names = _tfb.scalars(arr, offs, lens)
    tags = pa.array([b.decode("utf-8", "replace") for b in names], pa.string())
    slow = np.flatnonzero(~ok).tolist()
    a = 0
    for b in slow + [offs.size]:
        if b > a:
            builder.add_columns(run, step[a:b], pc.take(tags, pa.array(code[a:b])), val[a:b], wall[a:b])
        if b < offs.size:
            o, ln = int(offs[b]), int(lens[b])
            _event(arr[o + 12:o + 12 + ln].tobytes(), f, base + o, run, builder, info)
        a = b + 1


def _event(payload: bytes, f: Path, off: int, run: str, builder: LogBuilder, info) -> None:
    wall, step, summary, session = float("nan"), 0, None, None
    try:
        for num, _wt, val in fields(payload):
            if num == 1:
                wall = struct.unpack("<d", val)[0]
            elif num == 2:
                step = _signed64(val)
            elif num == 5:
                summary = val
            elif num == 7:
                session = val
    except (ValueError, IndexError, struct.error) as e:
        builder.bad_record(str(f), f"undecodable Event at byte offset {off}: {e}")
        return
    if session is not None:
        status = next((v for n, _w, v in fields(session) if n == 1), 0)
        if status == 1:
            info.markers.append({"step": int(step), "kind": "session_start", "detail": f.name})
    if summary is None:
        return
    try:
        for num, _wt, val in fields(summary):
            if num != 1:
                continue
            tag, scalar, _plugin = _value(val)
            if scalar is not None:
                builder.add(run, step, tag, scalar, wall)
    except (ValueError, IndexError, struct.error) as e:
        builder.bad_record(str(f), f"undecodable Summary at byte offset {off}: {e}")
