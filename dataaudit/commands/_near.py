"""The near-duplicate flag group, shared by ``split`` and ``report`` (the commands that run the near pass)."""

from __future__ import annotations

import argparse

from ._common import DeprecatedAlias


def add_near_args(p: argparse.ArgumentParser, *, mode: str) -> None:
    """The near-duplicate pass (MinHash + LSH, every candidate verified): ``split`` and ``report``."""
    from ..passes.lsh import SCHEMES

    g = p.add_argument_group("near-duplicates (MinHash + LSH, every candidate verified)")
    g.add_argument("--no-near", action="store_true", help="skip the near-duplicate pass")
    g.add_argument("--near-threshold", type=float, default=0.8, metavar="J",
                   help="exact Jaccard for a near-duplicate (default 0.8)")
    g.add_argument("--threshold", dest="near_threshold", type=float, metavar="J", action=DeprecatedAlias,
                   help="deprecated alias of --near-threshold (kept for one release)")
    g.add_argument("--num-perm", type=int, default=128, metavar="N", help="MinHash permutations (default 128)")
    g.add_argument("--ngram", type=int, default=5, metavar="N",
                   help="words per shingle (characters with --char-ngrams)")
    g.add_argument("--char-ngrams", action="store_true", help="shingle characters instead of words")
    g.add_argument("--bands", type=int, default=None, metavar="N", help="LSH bands (with --rows; default: optimized)")
    g.add_argument("--rows", type=int, default=None, metavar="N", help="LSH rows per band (with --bands)")
    g.add_argument("--near-mode", choices=["cross", "within", "both"], default=mode,
                   help=f"pairs across splits (leaks), inside each split, or both (default {mode})")
    g.add_argument("--minhash-seed", type=int, default=1, metavar="N", help="permutation seed (datasketch's meaning)")
    g.add_argument("--minhash-scheme", choices=list(SCHEMES), default="affine32",
                   help="datasketch permutation scheme of the signatures (default affine32)")


def near_config(args: argparse.Namespace):
    """The NearConfig the near flags describe, or None with --no-near."""
    from ..passes.near import NearConfig

    if args.no_near:
        return None
    return NearConfig(threshold=args.near_threshold, num_perm=args.num_perm, ngram=args.ngram,
                      char_ngrams=args.char_ngrams, bands=args.bands, rows=args.rows, mode=args.near_mode,
                      seed=args.minhash_seed, scheme=args.minhash_scheme)
