"""Near-duplicate pass: shingles -> MinHash -> LSH bands -> candidate pairs -> exact Jaccard -> clusters.

Phases (each streams the sources, so memory is bounded by the batch size plus small per-document arrays):

1. *sign*: every document's normalized text is shingled (``dataaudit.shingle``), signed (``lsh.MinHasher``),
   and cut into band keys; signatures and keys are spilled to files in a temporary directory under the
   output directory (one file per band), only doc ids, split codes and shingle counts stay in memory (on
   read tasks not even those: they stay in the pieces' spill files, ``near_shards.PieceDocs``); the report
   gets the ids and split codes of the pair documents only (``docs.pick``, ``near_report.PickedDocs``);
2. *candidates*: band by band, the keys are sorted (numpy) and equal keys give candidate pairs, filtered by
   mode (``cross``: pairs of different splits, i.e. val x train, test x train, val x test; ``within``: pairs
   inside one split; ``both``);
3. *verify*: the documents that appear in a candidate pair are read again and their exact shingle sets
   (64-bit hashes) computed and spilled to disk (read back through a memory map, pairs in chunks, so memory
   holds the chunks in flight, not every candidate's set); every candidate gets its exact Jaccard and
   containment both ways. Candidates below the threshold are dropped *and counted*: that count over all
   candidates is the measured false-positive rate of the LSH step at these parameters;
4. *clusters*: union-find over the verified pairs; a cluster's id is the rank of its first member in input
   order, so ids are stable across runs, worker counts and batch sizes.

Engine: signatures, exact sets and verification are tasks an engine runs (``engine.pool(init).map``); results
are identical for any worker count because each task is a pure function of its input and results are
consumed in input order.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Literal

import numpy as np
import pyarrow as pa

from ..errors import ConfigError, InputError
from ..io.atomic import write_parquet_atomic
from ..records import PassResult
from ..shingle import hash_shingles, minhash_input, sha1_shingle_hashes
from ..text import DEFAULT_NORMALIZE, NormalizeConfig, normalize_array
from . import lsh
from .near_tasks import _init_worker, _sets_task, _sign_task, _verify_task  # noqa: F401 (worker tasks)

Sources = dict[str, Callable[[], Iterator[pa.RecordBatch]]]


@dataclass(frozen=True, kw_only=True)
class NearConfig:
    """Settings of the near-duplicate (MinHash + LSH) pass."""

    threshold: float = 0.8          # exact Jaccard of shingle sets at or above which two documents are near-duplicates
    num_perm: int = 128             # MinHash permutations: estimate sd is sqrt(J(1-J)/num_perm), ~0.035 at J=0.8
    ngram: int = 5                  # words per shingle (characters with char_ngrams): 5 words is the usual choice
    char_ngrams: bool = False       # shingle characters instead of words (for text without word boundaries)
    bands: int | None = None        # LSH bands; None: chosen from threshold and weights
    rows: int | None = None         # rows (permutations) per band; None: chosen from threshold and weights
    weights: tuple[float, float] = (0.05, 0.95)   # (false-positive, false-negative) weights: favour recall,
    #                                               since every candidate is verified exactly afterwards
    seed: int = 1                   # permutation seed, datasketch's meaning (MinHash(seed=...))
    scheme: Literal["affine32", "legacy"] = "affine32"   # datasketch's permutation scheme (2.x default / 1.x)
    hash: Literal["xxh3", "sha1"] = "xxh3"   # shingle hash: fast vectorized, or datasketch's sha1 (slow, compat)
    mode: Literal["cross", "within", "both"] = "cross"   # pairs across splits (leaks), inside splits, or both
    max_bucket: int = 1000          # a bucket bigger than this pairs each member with its first max_bucket only

    def __post_init__(self) -> None:
        if not isinstance(self.threshold, (int, float)) or not 0 < self.threshold <= 1:
            raise ConfigError(f"near threshold {self.threshold!r} is outside (0, 1]; pass e.g. --near-threshold 0.8")
        if not isinstance(self.num_perm, int) or not 1 <= self.num_perm <= 4096:
            raise ConfigError(f"num_perm {self.num_perm!r} must be an integer in 1..4096; 128 is the default")
        if not isinstance(self.ngram, int) or not 1 <= self.ngram <= 256:
            raise ConfigError(f"ngram {self.ngram!r} must be an integer in 1..256; 5 is the default")
        if (self.bands is None) != (self.rows is None):
            raise ConfigError("give both --bands and --rows, or neither (they are then chosen from --near-threshold)")
        if self.bands is not None:
            if self.bands < 1 or self.rows < 1:
                raise ConfigError(f"bands ({self.bands}) and rows ({self.rows}) must be positive")
            if self.bands * self.rows > self.num_perm:
                raise ConfigError(f"bands x rows = {self.bands} x {self.rows} = {self.bands * self.rows} exceeds "
                                  f"num_perm {self.num_perm}; lower --bands/--rows or raise --num-perm to at "
                                  f"least {self.bands * self.rows}")
        w = tuple(self.weights)
        if len(w) != 2 or min(w) < 0 or abs(sum(w) - 1.0) > 1e-9:
            raise ConfigError(f"weights {self.weights!r} must be two non-negative numbers summing to 1, "
                              "(false-positive weight, false-negative weight), e.g. (0.05, 0.95)")
        if self.scheme not in lsh.SCHEMES:
            raise ConfigError(f"scheme {self.scheme!r} unknown; choose one of {list(lsh.SCHEMES)}")
        if self.hash not in ("xxh3", "sha1"):
            raise ConfigError(f"hash {self.hash!r} unknown; choose 'xxh3' (fast) or 'sha1' (datasketch's)")
        if self.mode not in ("cross", "within", "both"):
            raise ConfigError(f"mode {self.mode!r} unknown; choose 'cross', 'within' or 'both'")
        if self.max_bucket < 1:
            raise ConfigError(f"max_bucket {self.max_bucket} must be at least 1")

    def lsh_params(self) -> tuple[int, int]:
        """(bands, rows): the given ones, or those minimizing the weighted FP/FN areas at ``threshold``."""
        if self.bands is not None:
            return self.bands, self.rows
        return lsh.optimal_params(self.threshold, self.num_perm, tuple(self.weights))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["weights"] = list(self.weights)
        d["bands"], d["rows"] = self.lsh_params()
        return d


def signatures(texts, config: NearConfig = NearConfig(),
               normalize: NormalizeConfig = DEFAULT_NORMALIZE) -> lsh.Signatures:
    """MinHash signatures (n x num_perm, uint32) of raw texts, exactly as the pass computes them.

    Turn one into a datasketch object with ``lsh.to_lean_minhash(sig[i], seed=config.seed,
    scheme=config.scheme)``.

    >>> sig = signatures(["the cat sat on the mat today", "The cat sat on the mat, today!"])
    >>> sig.shape, bool((sig[0] == sig[1]).all())          # equal after normalization
    ((2, 128), True)
    """
    arr = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(list(texts), pa.large_string())
    norm = normalize_array(arr, normalize)
    if config.hash == "sha1":
        sh = sha1_shingle_hashes(norm, config.ngram, char=config.char_ngrams)
    else:
        sh = hash_shingles(norm, config.ngram, char=config.char_ngrams)
    return lsh.MinHasher(config.num_perm, config.seed, config.scheme).signatures(
        sh.offsets, minhash_input(sh.hashes), shingle_hash=config.hash)


# ----------------------------------------------------------------------------------------------- the pass

@dataclass
class _Docs:
    """What phase 1 of the driver-side path keeps in memory per document: id, split code, shingle count.
    (The read-task path keeps them in the pieces' spill files instead: ``near_shards.PieceDocs``.)"""

    ids: list[pa.Array]
    split_codes: np.ndarray
    n_shingles: np.ndarray
    split_names: list[str]

    def __len__(self) -> int:
        return len(self.split_codes)

    def doc_ids(self) -> pa.Array:
        return pa.concat_arrays([a.cast(pa.string()) for a in self.ids]) if self.ids else pa.array([], pa.string())

    def pick(self, idx: np.ndarray):
        """The report's view (``near_report.PickedDocs``) of the documents at sorted global indices ``idx``."""
        from .near_report import PickedDocs

        idx = np.asarray(idx, np.int64)
        counts = np.bincount(self.split_codes, minlength=len(self.split_names)) if len(self) else \
            np.zeros(len(self.split_names), np.int64)
        return PickedDocs(idx, self.doc_ids().take(pa.array(idx, pa.int64())), self.split_codes[idx],
                          self.split_names, counts.tolist(), int((self.n_shingles == 0).sum()))


def _texts_of(make: Callable[[], Iterator[pa.RecordBatch]]) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
    for batch in make():
        yield batch, batch.column(batch.schema.get_field_index("text"))


def _sign_all(sources: Sources, cfg: NearConfig, runner, spill: Path, bands: int,
              progress) -> _Docs:
    ids, codes, counts = [], [], []
    band_files = [open(spill / f"band{i:03d}.u64", "wb") for i in range(bands)]
    sig_file = open(spill / "signatures.u32", "wb")
    try:
        for code, (split, make) in enumerate(sources.items()):
            batches: deque = deque()

            def texts():
                for batch, text in _texts_of(make):
                    batches.append(batch.column(batch.schema.get_field_index("doc_id")))
                    yield text

            for sig, keys, n_sh in runner.map(_sign_task, texts()):
                doc_id = batches.popleft()
                ids.append(doc_id)
                codes.append(np.full(len(sig), code, dtype=np.int16))
                counts.append(n_sh)
                sig_file.write(np.ascontiguousarray(sig).tobytes())
                for i in range(bands):
                    band_files[i].write(np.ascontiguousarray(keys[:, i]).tobytes())
                if progress:
                    progress(f"near: signatures {split}", len(sig))
    finally:
        sig_file.close()
        for f in band_files:
            f.close()
    cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt))
    return _Docs(ids, cat(codes, np.int16), cat(counts, np.int64), list(sources))


def _candidates(docs: _Docs, cfg: NearConfig, spill: Path, bands: int, stats: lsh.BucketStats) -> np.ndarray:
    pairs = np.zeros(0, np.int64)
    for i in range(bands):
        keys = np.fromfile(spill / f"band{i:03d}.u64", dtype=np.uint64)
        # documents without shingles share the all-max signature; they are not near-duplicates of anything
        keys = np.where(docs.n_shingles > 0, keys, np.arange(len(keys), dtype=np.uint64) | np.uint64(1 << 63))
        p = lsh.bucket_pairs(keys, docs.split_codes, cfg.mode, cfg.max_bucket, stats)
        if len(p):
            pairs = np.unique(np.concatenate((pairs, p)))
    return pairs


class _SetStore:
    """The exact shingle sets of the ``needed`` documents (sorted global indices), spilled to one file in that
    order and read back through a memory map: verification holds only the sets of the pairs in flight, so
    memory does not grow with the number of candidate documents."""

    def __init__(self, path: Path, needed: np.ndarray, sizes: np.ndarray) -> None:
        self.needed = needed
        self.sizes = sizes
        self.off = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        self.mm = np.memmap(path, dtype=np.uint64, mode="r") if self.off[-1] else np.zeros(0, np.uint64)

    def __getitem__(self, g: int) -> np.ndarray:
        k = int(np.searchsorted(self.needed, g))
        if k >= len(self.needed) or self.needed[k] != g:
            raise KeyError(g)
        return np.array(self.mm[self.off[k]:self.off[k + 1]])   # a copy: it may be pickled to a worker


def _exact_sets(sources: Sources, needed: np.ndarray, runner, n_docs: int,
                progress, spill: Path) -> _SetStore:
    """Shingle sets of the documents in ``needed`` (global indices), read by streaming the sources again and
    written to ``spill/sets.u64`` in ``needed`` order."""
    sizes = np.zeros(len(needed), dtype=np.int64)
    done = 0
    base = 0
    order: deque = deque()
    path = spill / "sets.u64"

    def tasks():
        nonlocal base
        for split, make in sources.items():
            for _batch, text in _texts_of(make):
                n = len(text)
                lo, hi = np.searchsorted(needed, [base, base + n])
                sel = needed[lo:hi]
                base += n
                if len(sel):
                    order.append(sel)
                    yield text.take(pa.array(sel - (base - n)))
    with open(path, "wb") as f:
        for result in runner.map(_sets_task, tasks()):
            sel = order.popleft()            # results come back in task order, so in ``needed`` order
            for s in result:
                f.write(np.ascontiguousarray(s, dtype=np.uint64).tobytes())
                sizes[done] = len(s)
                done += 1
            if progress:
                progress("near: verify (re-read)", len(sel))
    if base != n_docs or done != len(needed):
        raise InputError(f"the sources gave {base} documents on the second read but {n_docs} on the first; "
                         "near-duplicate verification needs inputs that do not change during the run")
    return _SetStore(path, needed, sizes)


def _verify(pairs_a: np.ndarray, pairs_b: np.ndarray, sets: _SetStore, runner,
            chunk: int = 2000) -> np.ndarray:
    def tasks():
        for c in range(0, len(pairs_a), chunk):
            a, b = pairs_a[c:c + chunk], pairs_b[c:c + chunk]
            need = np.unique(np.concatenate((a, b))).tolist()
            # on read tasks the sets are in the pieces' spill files: the task gets where they are, not them
            yield a, b, (sets.refs(need) if hasattr(sets, "refs") else {g: sets[g] for g in need})
    parts = list(runner.map(_verify_task, tasks()))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _estimates(spill: Path, n_docs: int, num_perm: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not len(a):
        return np.zeros(0)
    sig = np.memmap(spill / "signatures.u32", dtype=np.uint32, mode="r", shape=(n_docs, num_perm))
    out = np.empty(len(a))
    for c in range(0, len(a), 65536):
        out[c:c + 65536] = (sig[a[c:c + 65536]] == sig[b[c:c + 65536]]).mean(axis=1)
    del sig
    return out


def run_near(sources: Sources, config: NearConfig, out_dir: Path, *, normalize: NormalizeConfig = DEFAULT_NORMALIZE,
             top: int = 20, train_split: str = "train", engine=None,
             progress: Callable[[str, int], None] | None = None) -> PassResult:
    """Run the near-duplicate pass over ``sources`` (split -> callable giving a fresh batch iterator).

    Writes ``near_pairs.parquet`` and ``near_clusters.parquet`` into ``out_dir``; ``top`` pairs and clusters
    are listed in the result; pairs with ``train_split`` report the *other* document as the leaked one.
    Signatures and verification run as tasks on ``engine`` (default: in-process).
    """
    from ..engine import LocalEngine
    from ..engine.pieces import uses_read_tasks
    from .near_report import build_result

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bands, rows = config.lsh_params()
    spill = Path(tempfile.mkdtemp(prefix=".near-spill-", dir=out_dir))
    engine = engine or LocalEngine(workers=1)
    runner = engine.pool(_init_worker, (config, normalize))
    stats = lsh.BucketStats()
    failed = True
    try:
        if uses_read_tasks(engine):           # the workers read, sign and shuffle (near_shards.py)
            from .near_shards import ShardedNear

            sharded = ShardedNear(sources, config, engine, runner, spill, bands, progress)
            docs = sharded.sign()
            a, b = lsh.unpack_pairs(sharded.candidates(stats))
            est = sharded.estimates(config.num_perm, a, b) if len(a) else np.zeros(0)
        else:
            docs = _sign_all(sources, config, runner, spill, bands, progress)
            n_docs = len(docs)
            packed = _candidates(docs, config, spill, bands, stats)
            a, b = lsh.unpack_pairs(packed)
            est = _estimates(spill, n_docs, config.num_perm, a, b)
        n_docs = len(docs)
        needed = np.unique(np.concatenate((a, b))) if len(a) else np.zeros(0, np.int64)
        picked = docs.pick(needed)            # ids and split codes of the pair documents only
        del docs
        if len(needed):
            if uses_read_tasks(engine):
                sets = sharded.exact_sets(needed)
            else:
                sets = _exact_sets(sources, needed, runner, n_docs, progress, spill)
            inter = _verify(a, b, sets, runner)
            size = sets.sizes
            del sets                          # close the memory map before the spill directory goes
        else:
            inter = np.zeros(0, np.int64)
            size = np.zeros(0, np.int64)
        failed = False
    finally:
        runner.close(error=failed)
        shutil.rmtree(spill, ignore_errors=True)
    size_a = size[np.searchsorted(needed, a)] if len(a) else np.zeros(0, np.int64)
    size_b = size[np.searchsorted(needed, b)] if len(a) else np.zeros(0, np.int64)
    union = size_a + size_b - inter
    jac = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    keep = jac >= config.threshold - 1e-12
    return build_result(config=config, normalize=normalize, docs=picked, bands=bands, rows=rows, stats=stats,
                        a=a, b=b, est=est, inter=inter, size_a=size_a, size_b=size_b, jac=jac, keep=keep,
                        out_dir=out_dir, top=top, train_split=train_split)
