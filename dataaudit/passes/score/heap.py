"""Keeping a scoring process's heap from growing with the corpus (glibc only; a no-op elsewhere).

Scoring allocates and frees tensors of a different shape every batch (windows are packed by length, so each
batch is rows x longest of its own). glibc's ``malloc`` serves a block of at least ``M_MMAP_THRESHOLD`` bytes
with its own ``mmap`` and returns it to the OS on ``free``; smaller blocks come from the heap (``brk``) and
per-thread arenas, where a freed block is kept for reuse. The threshold starts at 128 KiB but is *dynamic*:
each time a mmapped block is freed the threshold rises to that block's size (up to 32 MiB on 64-bit), so
after the first batches nearly every activation is carved from the heap, and the differently sized holes
they leave fragment it: peak RSS then grows with the number of batches, i.e. with the corpus, though no
object outlives its batch (measured with benchmarks/memory.py; see docs/scoring.md).

``bound_heap`` fixes the thresholds with ``mallopt(3)``. Setting ``M_MMAP_THRESHOLD`` explicitly also turns
the dynamic adjustment off; ``M_TRIM_THRESHOLD`` bounds the free memory kept at the top of the heap. Source:
the GNU C Library manual, "Malloc Tunable Parameters" (``M_MMAP_THRESHOLD``, ``M_TRIM_THRESHOLD``), and
mallopt(3) of the Linux man-pages ("Note: Nowadays, glibc uses a dynamic mmap threshold by default ...
the dynamic adjustment is disabled if any of M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, or M_MMAP_MAX
is set"). Tensors and numpy arrays at or above the threshold are then mapped and unmapped each batch
(cheap next to the forward pass that fills them); everything smaller behaves as before.

``trim`` is ``malloc_trim(0)``: hand the free pages of every arena back to the OS, once per chunk.
"""

from __future__ import annotations

import os

#: allocations of at least this many bytes get their own mapping (returned to the OS when freed). 256 KiB:
#: a batch's activations are tens of MiB, the Python and Arrow objects of a chunk mostly far smaller.
MMAP_THRESHOLD = 256 * 1024
#: free memory above this at the top of the heap is returned to the OS at once (glibc's default is 128 KiB,
#: but the dynamic threshold raises it to twice the mmap threshold, up to 64 MiB)
TRIM_THRESHOLD = 1024 * 1024

_M_TRIM_THRESHOLD = -1      # <malloc.h>
_M_MMAP_THRESHOLD = -3

_LIBC: list = []


def _libc():
    if not _LIBC:
        lib = None
        if os.name == "posix":
            try:
                import ctypes

                c = ctypes.CDLL("libc.so.6")
                if hasattr(c, "mallopt") and hasattr(c, "malloc_trim"):   # glibc (musl has neither)
                    lib = c
            except OSError:
                lib = None
        _LIBC.append(lib)
    return _LIBC[0]


def bound_heap(mmap_threshold: int | None = None, trim_threshold: int | None = None) -> bool:
    """Fix glibc's mmap and trim thresholds for this process (see the module docstring); True when set.

    ``DATAAUDIT_MALLOC_TUNING=0`` leaves malloc as it is (for measuring the difference)."""
    if os.environ.get("DATAAUDIT_MALLOC_TUNING", "1") == "0":
        return False
    c = _libc()
    if c is None:
        return False
    ok = c.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold or MMAP_THRESHOLD)) == 1
    ok = c.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold or TRIM_THRESHOLD)) == 1 and ok
    return ok


def trim() -> None:
    """``malloc_trim(0)``: give freed heap pages back to the OS (a no-op without glibc)."""
    c = _libc()
    if c is not None:
        c.malloc_trim(0)
