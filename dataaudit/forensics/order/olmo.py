"""``olmo:PATH,batch=B,seq=L[,dtype=uint16|uint32][,eos=ID]``: OLMo's persisted data order.

Format facts (allenai/OLMo ``olmo/data/memmap_dataset.py``, ``olmo/data/iterable_dataset.py``,
``scripts/inspect_train_data.py``):

* ``global_indices.npy`` is a raw ``uint32`` memory map of instance indices, **without** a ``.npy`` header
  (written with ``np.memmap``); step ``s`` (1-based) trains on entries ``[(s-1)*B, s*B)`` where ``B`` is the
  global train batch size (the script computes "examples seen before step s" as ``(s-1)*B``).
* ``--data`` is the list of token files of the config's ``data.paths``, **in that order**: raw memory maps
  of ``dtype`` tokens (``data.memmap_dtype``, uint16 by default). Each file holds ``size // (L * itemsize)``
  instances of ``L`` = ``max_sequence_length`` tokens; a file's remainder is dropped; instance indices
  count through the files in order.
* Documents end with EOS (``eos=``, or the ``--tokenizer``'s ``eos_token_id``). Where Dolma-style metadata
  sits beside a token file (``part-0001.csv.gz`` beside ``part-0001.npy``: rows ``start,end,id,src,loc``,
  token offsets within the file), documents are cut at its boundaries and carry the original ``id``;
  otherwise a document is named ``<file stem>@<token offset of its first token>``.
* ``PATH`` may also be a run's ``data-indices/`` directory of ``rank*.tsv.gz`` files (lines
  ``step<TAB>index<TAB>index...``); ranks are concatenated in rank order.
"""

from __future__ import annotations

import csv
import glob
import gzip
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ...errors import ConfigError, InputError
from .base import OrderSpec, Piece, Placement, check_steps, load_decoder

_NPY_MAGIC = b"\x93NUMPY"
_DTYPES = {"uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64, "int32": np.int32}


def _raw_memmap(path: Path, dtype: Any, what: str) -> np.memmap:
    with open(path, "rb") as f:
        head = f.read(6)
    if head == _NPY_MAGIC:
        raise InputError(f"{path}: has a NumPy .npy header, but OLMo reads {what} as a raw memory map "
                         f"(np.memmap, no header); pass the file the run wrote, or rewrite it with "
                         f"np.memmap(path, mode='w+', dtype=...)")
    size = path.stat().st_size
    item = np.dtype(dtype).itemsize
    if size % item:
        raise InputError(f"{path}: {size} bytes is not a whole number of {np.dtype(dtype).name} values; the file "
                         f"is truncated, or dtype= is wrong")
    if size == 0:
        raise InputError(f"{path}: empty file")
    return np.memmap(path, dtype=dtype, mode="r")


def token_paths(data: Any) -> list[Path]:
    """--data for OLMo: a file, a directory (its *.npy, sorted), a glob, or a list in config order."""
    if data is None:
        raise InputError("--order olmo: needs --data, the token files of the run's data.paths in config order")
    items = list(data) if isinstance(data, (list, tuple)) else [data]
    out: list[Path] = []
    for it in items:
        s = str(it)
        if any(c in s for c in "*?["):
            hits = sorted(glob.glob(s))
            if not hits:
                raise InputError(f"--data {s}: the glob matches no file")
            out += [Path(h) for h in hits]
        elif os.path.isdir(s):
            hits = sorted(Path(s).glob("*.npy"))
            if not hits:
                raise InputError(f"--data {s}: no .npy token files in this directory")
            out += hits
        elif os.path.isfile(s):
            out.append(Path(s))
        else:
            raise InputError(f"--data {s}: no such file or directory")
    return out


class _Meta:
    """Dolma metadata of one token file: document start offsets and ids (loaded on first use)."""

    def __init__(self, path: Path) -> None:
        starts, ends, ids = [], [], []
        try:
            with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
                for i, row in enumerate(csv.reader(f)):
                    if i == 0 and row and row[0] == "start":
                        continue
                    if len(row) < 3:
                        raise InputError(f"{path}:{i + 1}: expected start,end,id,src,loc")
                    starts.append(int(row[0]))
                    ends.append(int(row[1]))
                    ids.append(row[2])
        except (OSError, EOFError, ValueError, gzip.BadGzipFile) as e:
            raise InputError(f"{path}: unreadable Dolma metadata ({e}); expected gzip CSV rows "
                             f"start,end,id,src,loc") from None
        self.starts = np.asarray(starts, dtype=np.int64)
        self.ends = np.asarray(ends, dtype=np.int64)
        self.ids = ids


class OlmoOrder:
    kind = "olmo"

    def __init__(self, path: str | Path, *, data: Any, batch: int, seq: int, dtype: str = "uint16",
                 eos: int | None = None, tokenizer: Any = None, decode: bool = True) -> None:
        if dtype not in _DTYPES:
            raise ConfigError(f"--order olmo: dtype={dtype!r}; use one of {sorted(_DTYPES)} (data.memmap_dtype)")
        self.path = Path(path)
        self.source = str(self.path)
        self.batch, self.seq, self.dtype = batch, seq, _DTYPES[dtype]
        self.files = token_paths(data)
        self.tokens = [_raw_memmap(p, self.dtype, "token files") for p in self.files]
        counts = np.array([t.size // seq for t in self.tokens], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self.n_instances = int(self.offsets[-1])
        if self.n_instances == 0:
            raise InputError(f"--data: the token files hold fewer than seq={seq} tokens; check seq= and dtype=")
        self.decoder = load_decoder(tokenizer) if decode else None
        if eos is None and tokenizer is not None and not callable(tokenizer):
            eos = self._tokenizer_eos(tokenizer)
        self.eos = eos
        self._meta: dict[int, _Meta | None] = {}
        self._doc_start_cache: dict[tuple[int, int], int] = {}
        self.steps_table: dict[int, list[int]] | None = None
        if self.path.is_dir():
            self._read_data_indices(self.path)
            self.indices = None
        elif self.path.is_file():
            self.indices = _raw_memmap(self.path, np.uint32, "global_indices.npy")
        else:
            raise InputError(f"--order olmo:{self.path}: no such file; pass the run's global_indices.npy or its "
                             f"data-indices/ directory")

    @staticmethod
    def _tokenizer_eos(tokenizer: Any) -> int | None:
        tok = tokenizer
        if not hasattr(tok, "eos_token_id"):
            from transformers import AutoTokenizer
            tok = AutoTokenizer.from_pretrained(str(tokenizer), local_files_only=True)
        return tok.eos_token_id

    def _read_data_indices(self, d: Path) -> None:
        files = sorted(d.glob("rank*.tsv.gz"), key=lambda p: int("".join(c for c in p.name if c.isdigit()) or 0))
        if not files:
            raise InputError(f"{d}: no rank*.tsv.gz files; pass OLMo's data-indices/ directory or global_indices.npy")
        table: dict[int, list[int]] = {}
        for p in files:
            try:
                with gzip.open(p, "rt") as f:
                    for ln, line in enumerate(f, 1):
                        parts = line.rstrip("\n").split("\t")
                        try:
                            step, idx = int(parts[0]), [int(x) for x in parts[1:] if x]
                        except ValueError:
                            raise InputError(f"{p}:{ln}: expected step<TAB>index<TAB>... integers") from None
                        table.setdefault(step, []).extend(idx)
            except (OSError, EOFError, gzip.BadGzipFile) as e:
                raise InputError(f"{p}: unreadable ({e}); is it truncated?") from None
        self.steps_table = table

    # -- the order ---------------------------------------------------------------------------------------
    def last_step(self) -> int | None:
        if self.steps_table is not None:
            return max(self.steps_table) if self.steps_table else 0
        return int(self.indices.size // self.batch)

    def instances(self, steps: Iterable[int]) -> dict[int, np.ndarray]:
        fix = "check batch= (the global train batch size) and that the run got that far"
        out: dict[int, np.ndarray] = {}
        for s in check_steps(steps, self.last_step(), self.source, fix):
            if self.steps_table is not None:
                if s not in self.steps_table:
                    raise InputError(f"{self.source}: step {s} is not in the data-indices files")
                idx = np.asarray(self.steps_table[s], dtype=np.int64)
            else:
                idx = np.asarray(self.indices[(s - 1) * self.batch: s * self.batch], dtype=np.int64)
            bad = idx[idx >= self.n_instances]
            if bad.size:
                raise InputError(f"{self.source}: step {s} uses instance {int(bad[0])} but --data holds "
                                 f"{self.n_instances} instances of seq={self.seq}; pass the token files of "
                                 f"data.paths in config order, with the run's seq= and dtype=")
            out[s] = idx
        return out

    def _metadata(self, fi: int) -> _Meta | None:
        if fi not in self._meta:
            p = self.files[fi]
            m = p.with_name(p.name[: -len(p.suffix)] + ".csv.gz") if p.suffix else None
            self._meta[fi] = _Meta(m) if m is not None and m.is_file() else None
        return self._meta[fi]

    def _doc_start(self, fi: int, pos: int) -> int:
        """Token offset (within file ``fi``) of the document holding ``pos``: one past the previous EOS."""
        key = (fi, pos)
        if key in self._doc_start_cache:
            return self._doc_start_cache[key]
        tok = self.tokens[fi]
        hi, chunk, start = pos, 4096, 0
        while hi > 0:
            lo = max(0, hi - chunk)
            hits = np.flatnonzero(np.asarray(tok[lo:hi]) == self.eos)
            if hits.size:
                start = lo + int(hits[-1]) + 1
                break
            hi, chunk = lo, min(chunk * 4, 1 << 24)
        self._doc_start_cache[key] = start
        return start

    def split_instance(self, inst: int) -> list[tuple[int, int, str, int, int]]:
        """(token_start, token_end, doc_id, doc_token_start, file_offset) of each document in instance ``inst``."""
        fi = int(np.searchsorted(self.offsets, inst, side="right") - 1)
        local = inst - int(self.offsets[fi])
        base = local * self.seq
        meta = self._metadata(fi)
        stem = self.files[fi].stem
        out = []
        if meta is not None:
            p = base
            while p < base + self.seq:
                r = int(np.searchsorted(meta.starts, p, side="right") - 1)
                if r < 0 or p >= meta.ends[r]:   # tokens outside any document (padding): one piece
                    nxt = int(meta.starts[r + 1]) if r + 1 < meta.starts.size else base + self.seq
                    end = min(base + self.seq, max(nxt, p + 1))
                    out.append((p - base, end - base, f"{stem}@{p}", 0, p))
                else:
                    end = min(base + self.seq, int(meta.ends[r]))
                    out.append((p - base, end - base, meta.ids[r], p - int(meta.starts[r]), p))
                p = end
            return out
        if self.eos is None:
            raise ConfigError(f"--order olmo: documents are cut at EOS tokens; pass eos=ID in the spec or "
                              f"--tokenizer DIR (no Dolma metadata beside {self.files[fi]})")
        toks = np.asarray(self.tokens[fi][base: base + self.seq])
        ends = (np.flatnonzero(toks == self.eos) + 1).tolist()
        if not ends or ends[-1] != self.seq:
            ends.append(self.seq)
        s = 0
        for e in ends:
            ds = self._doc_start(fi, base + s) if s == 0 else base + s
            out.append((s, e, f"{stem}@{ds}", base + s - ds, base + s))
            s = e
        return out

    def pieces(self, steps: Iterable[int]) -> dict[int, list[Piece]]:
        out: dict[int, list[Piece]] = {}
        for s, idx in self.instances(steps).items():
            row: list[Piece] = []
            for inst in idx.tolist():
                fi = int(np.searchsorted(self.offsets, inst, side="right") - 1)
                for ts, te, doc_id, dts, foff in self.split_instance(inst):
                    text = None
                    if self.decoder is not None:
                        text = self.decoder(np.asarray(self.tokens[fi][foff: foff + te - ts]).tolist())
                    row.append(Piece(placement=Placement(step=s, position=len(row), sample_id=inst, doc_id=doc_id,
                                                         token_start=ts, token_end=te, doc_token_start=dts),
                                     text=text))
            out[s] = row
        return out


def open_olmo(spec: OrderSpec, *, data: Any, tokenizer: Any = None) -> OlmoOrder:
    spec.check_keys(["batch", "seq", "dtype", "eos"])
    ex = "olmo:global_indices.npy,batch=512,seq=2048,dtype=uint16,eos=50279"
    return OlmoOrder(spec.path or "", data=data, batch=spec.require_int("batch", example=ex),
                     seq=spec.require_int("seq", example=ex), dtype=spec.params.get("dtype", "uint16"),
                     eos=spec.int_param("eos", None, minimum=0), tokenizer=tokenizer)
