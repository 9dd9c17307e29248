"""TensorBoard event files streamed in bounded chunks, with checksums and scalar decoding vectorised in numpy.

``frame`` walks the TFRecord framing (``uint64 length | uint32 masked_crc32c(length) | data | uint32
masked_crc32c(data)``, tensorflow/core/lib/io/record_writer.cc) over one chunk; ``check`` verifies the CRC-32C
(Castagnoli, RFC 3720 B.4; the same table as ``tfevents._crc32c_py``) of many records at once, one byte column
at a time over all records of one length; ``scalars`` decodes the common one-scalar Event layout
(``wall_time``, ``step``, one ``Summary.Value{tag, simple_value}``, as torch's and tf1's SummaryWriter write
it) without a Python loop. Every other record is left to the field-by-field decoder of ``tfevents``.
"""

from __future__ import annotations

import struct

import numpy as np

_POLY = 0x82F63B78  # reversed Castagnoli polynomial


def _table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(_POLY), t >> 1).astype(np.uint32)
    return t


_T = _table()
_MASK_DELTA = np.uint32(0xA282EAD8)


def masked_crc_rows(mat: np.ndarray) -> np.ndarray:
    """Masked CRC-32C of each row of a uint8 matrix (rows of equal length)."""
    crc = np.full(mat.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for j in range(mat.shape[1]):
        crc = _T[(crc ^ mat[:, j]) & 0xFF] ^ (crc >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    return ((crc >> 15) | (crc << 17)) + _MASK_DELTA   # uint32 arithmetic wraps mod 2**32


def frame(buf: bytes, start: int, end: int) -> tuple[list[int], list[int], int, int | None]:
    """Records that lie whole inside ``buf[start:end]``: (record offsets, payload lengths, where the walk
    stopped, the length the record there announced or None when fewer than 12 header bytes were left)."""
    offs, lens = [], []
    pos = start
    unpack = struct.unpack_from
    while end - pos >= 12:
        (ln,) = unpack("<Q", buf, pos)
        if pos + ln + 16 > end:
            return offs, lens, pos, ln
        offs.append(pos)
        lens.append(ln)
        pos += ln + 16
    return offs, lens, pos, None


def check(arr: np.ndarray, offs: np.ndarray, lens: np.ndarray) -> tuple[int, str] | None:
    """The first record (index, 'length' or 'data') whose checksum is wrong, or None."""
    bad_head = np.zeros(offs.size, bool)
    bad_data = np.zeros(offs.size, bool)
    if offs.size:
        hdr = arr[offs[:, None] + np.arange(8)]
        stored = arr[offs[:, None] + np.arange(8, 12)].copy().view("<u4").ravel()
        bad_head = masked_crc_rows(hdr) != stored
        for ln in np.unique(lens):
            sel = np.flatnonzero(lens == ln)
            o = offs[sel] + 12
            mat = arr[o[:, None] + np.arange(ln)] if ln else np.zeros((sel.size, 0), np.uint8)
            st = arr[(o + ln)[:, None] + np.arange(4)].copy().view("<u4").ravel()
            bad_data[sel] = masked_crc_rows(mat) != st
    bad = np.flatnonzero(bad_head | bad_data)
    if not bad.size:
        return None
    i = int(bad[0])
    return i, "length" if bad_head[i] else "data"


def scalars(arr: np.ndarray, offs: np.ndarray, lens: np.ndarray):
    """Decode records of the layout ``09 <f8 wall> [10 <varint step>] 2a L1 0a L2 0a LT <tag> 15 <f4 value>``.

    Returns (mask of decoded records, wall, step, value, tag code per record, tag names (bytes))."""
    n = offs.size
    ok = np.zeros(n, bool)
    wall = np.full(n, np.nan)
    step = np.zeros(n, np.int64)
    val = np.full(n, np.nan)
    code = np.full(n, -1, np.int64)
    names: list[bytes] = []
    p = offs + 12                                     # payload start
    lim = lens.astype(np.int64)
    if n == 0:
        return ok, wall, step, val, code, names
    big = int(lim.max())
    get = lambda k: np.where(k < lim, arr[np.minimum(p + np.minimum(k, big), arr.size - 1)], 0xFF)  # noqa: E731
    b0 = get(np.zeros(n, np.int64))
    cand = (b0 == 0x09) & (lim >= 9 + 2 + 2 + 2 + 5)
    has_step = get(np.full(n, 9)) == 0x10
    # varint length of the step (1..10 bytes) where field 2 is present
    vlen = np.zeros(n, np.int64)
    done = ~has_step
    s = np.zeros(n, np.uint64)
    for k in range(10):
        b = get(np.full(n, 10 + k)).astype(np.uint64)
        act = ~done
        s = np.where(act, s | ((b & np.uint64(0x7F)) << np.uint64(7 * k)), s)
        vlen = np.where(act, k + 1, vlen)
        done = done | (b < 0x80)
    cand &= done & ~((vlen == 10) & (get(np.full(n, 19)) > 1))   # a step past 2**64: left to tfevents
    q = 9 + np.where(has_step, 1 + vlen, 0)           # index of the Summary field key
    l1 = get(q + 1)
    l2 = get(q + 3)
    lt = get(q + 5)
    cand &= (get(q) == 0x2A) & (get(q + 2) == 0x0A) & (get(q + 4) == 0x0A)
    cand &= (l1 < 0x80) & (l2 < 0x80) & (lt < 0x80)
    cand &= (q + 2 + l1 == lim) & (l1 == l2 + 2) & (l2 == lt + 2 + 5)
    cand &= get(q + 6 + lt) == 0x15
    idx = np.flatnonzero(cand)
    if idx.size == 0:
        return ok, wall, step, val, code, names
    ok[idx] = True
    pi = p[idx]
    wall[idx] = arr[pi[:, None] + np.arange(1, 9)].copy().view("<f8").ravel()
    step[idx] = np.where(has_step[idx], s[idx], 0).view(np.int64)
    vo = pi + q[idx] + 7 + lt[idx]
    val[idx] = arr[vo[:, None] + np.arange(4)].copy().view("<f4").ravel().astype(np.float64)
    to = pi + q[idx] + 6
    for ln in np.unique(lt[idx]):
        sel = np.flatnonzero(lt[idx] == ln)
        mat = arr[to[sel][:, None] + np.arange(int(ln))]
        left = np.arange(sel.size)
        while left.size:   # one pass per distinct tag (a log has a few); np.unique(axis=0) sorts, far slower
            first = mat[left[0]]
            eq = (mat[left] == first).all(axis=1)
            code[idx[sel[left[eq]]]] = len(names)
            names.append(first.tobytes())
            left = left[~eq]
    return ok, wall, step, val, code, names
