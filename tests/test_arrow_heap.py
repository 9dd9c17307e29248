"""Memory of reading Parquet follows --batch-size, not the row-group size (io/columnar.py PARQUET_BUFFER), and
importing dataaudit sets pyarrow's allocator to return freed pages at once (dataaudit/__init__.py)."""

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

_READ = r"""
import json, sys
import dataaudit
from dataaudit.io import columnar
from dataaudit.io.common import ReadOptions
if sys.argv[2] == "whole":
    columnar.PARQUET_BUFFER = 0          # pyarrow's default: each column chunk read into memory at once
def status(key):
    return int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1]) // 1024
base = status("VmRSS")
n = sum(b.num_rows for b in columnar.read_parquet_file(sys.argv[1], ReadOptions(batch_size=256)))
print(json.dumps({"rows": n, "delta_mb": status("VmHWM") - base}))
"""


def _one_row_group(path, docs: int) -> int:
    """``docs`` documents of ~2.8 KB in ONE uncompressed row group; returns the text bytes."""
    base = [" ".join(f"w{(i * 7919 + k) % 5003:04d}x" for k in range(400)) for i in range(97)]
    texts = [f"{i} {base[i % 97]}" for i in range(docs)]
    pq.write_table(pa.table({"text": texts}), path, compression="none", row_group_size=1 << 30)
    return sum(len(t) for t in texts)


def _peak_delta(path, mode: str) -> int:
    p = subprocess.run([sys.executable, "-c", _READ, str(path), mode], capture_output=True, text=True, check=True)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["rows"] > 0
    return out["delta_mb"]


def test_a_huge_row_group_is_read_in_pieces(tmp_path):
    small, large = tmp_path / "small.parquet", tmp_path / "large.parquet"
    s_bytes = _one_row_group(small, 8000)
    l_bytes = _one_row_group(large, 32000)
    grown_mb = (l_bytes - s_bytes) / 2**20                       # ~68 MB more text in the one row group
    buffered = _peak_delta(large, "buffered") - _peak_delta(small, "buffered")
    whole = _peak_delta(large, "whole") - _peak_delta(small, "whole")
    # read whole, the peak grows by about the column chunk's growth; buffered it must not follow it
    assert whole > 0.7 * grown_mb, (whole, grown_mb)
    assert buffered < 0.3 * grown_mb, (buffered, grown_mb)


def _env_after_import(env: dict) -> str | None:
    code = "import os, dataaudit, pyarrow; print(os.environ.get('MIMALLOC_PURGE_DELAY', 'unset'))"
    full = {k: v for k, v in os.environ.items() if k not in ("MIMALLOC_PURGE_DELAY", "DATAAUDIT_MALLOC_TUNING")}
    p = subprocess.run([sys.executable, "-c", code], env={**full, **env}, capture_output=True, text=True, check=True)
    return p.stdout.strip()


def test_import_sets_mimalloc_purge_delay_unless_told_not_to():
    assert _env_after_import({}) == "0"
    assert _env_after_import({"MIMALLOC_PURGE_DELAY": "25"}) == "25"        # the user's own setting wins
    assert _env_after_import({"DATAAUDIT_MALLOC_TUNING": "0"}) == "unset"
