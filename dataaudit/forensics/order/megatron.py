"""``megatron:PATH,batch=GB[,split=train][,extra=1]``: Megatron's indexed dataset and GPTDataset index maps.

Format facts (megatron-core ``datasets/indexed_dataset.py`` and ``datasets/gpt_dataset.py``; the same
layout as Megatron-DeepSpeed's ``MMapIndexedDataset`` that BLOOM used):

* ``--data PREFIX`` names ``PREFIX.bin`` (tokens) and ``PREFIX.idx``: header ``MMIDIDX\\x00\\x00``, version
  (``<Q``, 1), dtype code (``<B``: 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, 7 float32,
  8 uint16), sequence count (``<Q``), document count (``<Q``), then ``int32`` sequence lengths, ``int64``
  byte pointers into ``.bin``, ``int64`` document indices (sequence index ranges, starting at 0);
* ``PATH`` is the index cache: ``<hash>-GPTDataset-<split>-{document,sample,shuffle}_index.npy`` (beside
  ``...-description.txt``), the older ``*_doc_idx.npy`` / ``*_sample_idx.npy`` / ``*_shuffle_idx.npy``, a
  directory holding one such set, or the common prefix of the three files;
* global sample ``i`` is ``j = shuffle_index[i]``; ``sample_index[j]`` and ``sample_index[j+1]`` are
  (position in ``document_index``, token offset) of its first and last document; the sample runs to the
  last document's offset **inclusive** when ``add_extra_token_to_sequence`` (``extra=1``, the default);
  ``document_index`` holds sequence indices of the indexed dataset (the documents);
* iteration ``i`` trains on global samples ``[consumed(i-1), consumed(i))``, ``consumed`` read from the
  log's ``consumed samples:`` field (exact under batch-size ramp-up); without the log field,
  ``[(i-1)*GB, i*GB)``. Doc ids are the sequence indices in the indexed dataset.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ...errors import InputError
from .base import OrderSpec, Piece, Placement, check_steps, load_decoder

HEADER = b"MMIDIDX\x00\x00"
DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32,
          8: np.uint16}
_AFFIXES = (("document_index.npy", "sample_index.npy", "shuffle_index.npy"),
            ("doc_idx.npy", "sample_idx.npy", "shuffle_idx.npy"))


class IndexedDataset:
    """Read-only view of a Megatron ``.bin``/``.idx`` pair (memory-mapped)."""

    def __init__(self, prefix: str | Path) -> None:
        p = str(prefix)
        for suf in (".bin", ".idx"):
            if p.endswith(suf):
                p = p[: -len(suf)]
        self.prefix = p
        idx, bin_ = Path(p + ".idx"), Path(p + ".bin")
        for f in (idx, bin_):
            if not f.is_file():
                raise InputError(f"--data {prefix}: {f} not found; pass the dataset prefix (the path without "
                                 f".bin/.idx)")
        fix = "the index is truncated or not a Megatron .idx file; re-run tools/preprocess_data.py"
        with open(idx, "rb") as f:
            head = f.read(9)
            if head != HEADER:
                raise InputError(f"{idx}: wrong magic {head!r}, expected {HEADER!r}; not a Megatron mmap index "
                                 f"(the old 'cached' format is not supported)")
            rest = f.read(8 + 1 + 8 + 8)
            if len(rest) < 25:
                raise InputError(f"{idx}: header cut short; {fix}")
            version, code, n_seq, n_doc = struct.unpack("<QBQQ", rest)
        if version != 1:
            raise InputError(f"{idx}: index version {version}; this reader knows version 1")
        if code not in DTYPES:
            raise InputError(f"{idx}: unknown dtype code {code}; {fix}")
        self.dtype = DTYPES[code]
        off = 9 + 25
        need = off + n_seq * 4 + n_seq * 8 + n_doc * 8
        size = idx.stat().st_size
        if size < need:
            raise InputError(f"{idx}: {size} bytes, but its header promises {n_seq} sequences and {n_doc} "
                             f"document indices ({need} bytes); {fix}")
        buf = np.memmap(idx, mode="r", dtype=np.uint8)
        self.sequence_lengths = np.frombuffer(buf, dtype=np.int32, count=n_seq, offset=off)
        self.sequence_pointers = np.frombuffer(buf, dtype=np.int64, count=n_seq, offset=off + n_seq * 4)
        self.document_indices = np.frombuffer(buf, dtype=np.int64, count=n_doc, offset=off + n_seq * 12)
        self.tokens = np.memmap(bin_, mode="r", dtype=np.uint8)
        itemsize = np.dtype(self.dtype).itemsize
        if n_seq and int(self.sequence_pointers[-1]) + int(self.sequence_lengths[-1]) * itemsize > self.tokens.size:
            raise InputError(f"{bin_}: shorter than its index says ({self.tokens.size} bytes); the .bin is "
                             f"truncated or belongs to another .idx")

    def __len__(self) -> int:
        return int(self.sequence_lengths.size)

    def get(self, i: int, offset: int = 0, length: int | None = None) -> np.ndarray:
        n = int(self.sequence_lengths[i])
        if length is None:
            length = n - offset
        ptr = int(self.sequence_pointers[i]) + offset * np.dtype(self.dtype).itemsize
        return np.frombuffer(self.tokens, dtype=self.dtype, count=length, offset=ptr)


def find_index_files(path: str | Path, split: str = "train") -> tuple[Path, Path, Path]:
    """(document_index, sample_index, shuffle_index) paths from a cache directory, file or prefix."""
    p = Path(path)
    cands: list[tuple[Path, Path, Path]] = []
    if p.is_dir():
        for doc_affix, sample_affix, shuffle_affix in _AFFIXES:
            for d in sorted(p.glob(f"*{doc_affix}")):
                base = str(d)[: -len(doc_affix)]
                trio = (d, Path(base + sample_affix), Path(base + shuffle_affix))
                if all(t.is_file() for t in trio):
                    cands.append(trio)
        if len(cands) > 1:
            named = [c for c in cands if f"-{split}-" in c[0].name or f"_{split}_" in c[0].name]
            if len(named) == 1:
                cands = named
            else:
                raise InputError(f"{p}: holds {len(cands)} index sets ({[c[0].name for c in cands]}); pass the "
                                 f"prefix of one, e.g. --order megatron:{str(cands[0][0])[:-len('document_index.npy')]}")
    else:
        s = str(p)
        for affixes in _AFFIXES:
            for a in affixes:
                if s.endswith(a):
                    s = s[: -len(a)]
            trio = tuple(Path(s + a) for a in affixes)
            if all(t.is_file() for t in trio):
                cands.append(trio)  # type: ignore[arg-type]
                break
    if not cands:
        raise InputError(f"--order megatron:{path}: no document_index/sample_index/shuffle_index .npy files; "
                         f"pass the GPTDataset index cache directory (path_to_cache) or the files' common prefix")
    return cands[0]


def _load_npy(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npy {what} ({e}); the file is truncated or not Megatron's; "
                         f"delete the cache and let Megatron rebuild it") from None


class MegatronOrder:
    kind = "megatron"

    def __init__(self, path: str | Path, *, data: Any, batch: int, split: str = "train", extra: int = 1,
                 consumed: Mapping[int, int] | None = None, tokenizer: Any = None) -> None:
        if data is None:
            raise InputError("--order megatron: needs --data, the indexed dataset prefix (PREFIX.bin/.idx)")
        self.dataset = IndexedDataset(data)
        doc, sample, shuffle = find_index_files(path, split)
        self.source = str(doc)
        self.document_index = _load_npy(doc, "document index")
        self.sample_index = _load_npy(sample, "sample index")
        self.shuffle_index = _load_npy(shuffle, "shuffle index")
        if self.sample_index.ndim != 2 or self.sample_index.shape[1] != 2:
            raise InputError(f"{sample}: expected shape (samples + 1, 2), got {self.sample_index.shape}")
        if self.shuffle_index.size > self.sample_index.shape[0] - 1:
            raise InputError(f"{shuffle}: {self.shuffle_index.size} entries but the sample index holds "
                             f"{self.sample_index.shape[0] - 1} samples; the files come from different builds")
        self.batch, self.extra = batch, extra
        self.consumed = dict(consumed or {})
        self.decoder = load_decoder(tokenizer)

    def n_samples(self) -> int:
        return int(self.shuffle_index.size)

    def last_step(self) -> int | None:
        if self.consumed:
            ok = [s for s, c in self.consumed.items() if c <= self.n_samples()]
            return max(ok) if ok else 0
        return self.n_samples() // self.batch

    def sample_range(self, step: int) -> tuple[int, int]:
        """Global samples [lo, hi) of iteration ``step``: from the log's consumed samples when given."""
        if step in self.consumed:
            hi = int(self.consumed[step])
            lo = int(self.consumed[step - 1]) if (step - 1) in self.consumed else hi - self.batch
            return max(0, lo), hi
        return (step - 1) * self.batch, step * self.batch

    def sample_pieces(self, i: int) -> list[tuple[int, int, int, int]]:
        """(sequence index, offset in it, token_start, token_end in the sample) of each document of sample i."""
        j = int(self.shuffle_index[i])
        b, bo = (int(x) for x in self.sample_index[j])
        e, eo = (int(x) for x in self.sample_index[j + 1])
        out, pos = [], 0
        for k in range(b, e + 1):
            seq = int(self.document_index[k])
            off = bo if k == b else 0
            end = eo + self.extra if k == e else int(self.dataset.sequence_lengths[seq])
            n = max(0, end - off)
            out.append((seq, off, pos, pos + n))
            pos += n
        return out

    def pieces(self, steps: Iterable[int]) -> dict[int, list[Piece]]:
        fix = "pass batch= (the global batch size) or the log's consumed samples, and steps the run reached"
        out: dict[int, list[Piece]] = {}
        for s in check_steps(steps, self.last_step(), self.source, fix):
            lo, hi = self.sample_range(s)
            if hi > self.n_samples():
                raise InputError(f"{self.source}: iteration {s} needs samples up to {hi} but the index holds "
                                 f"{self.n_samples()}; check batch= and that --order and --data match")
            row: list[Piece] = []
            for i in range(lo, hi):
                for seq, off, ts, te in self.sample_pieces(i):
                    text = None
                    if self.decoder is not None:
                        text = self.decoder(self.dataset.get(seq, off, te - ts).tolist())
                    row.append(Piece(placement=Placement(step=s, position=len(row), sample_id=i, doc_id=str(seq),
                                                         token_start=ts, token_end=te, doc_token_start=off),
                                     text=text))
            out[s] = row
        return out


def open_megatron(spec: OrderSpec, *, data: Any, consumed: Mapping[int, int] | None = None,
                  tokenizer: Any = None) -> MegatronOrder:
    spec.check_keys(["batch", "split", "extra"])
    ex = "megatron:cache/,batch=512"
    return MegatronOrder(spec.path or "", data=data, batch=spec.require_int("batch", example=ex),
                         split=spec.params.get("split", "train"), extra=spec.int_param("extra", 1, minimum=0),
                         consumed=consumed, tokenizer=tokenizer)
