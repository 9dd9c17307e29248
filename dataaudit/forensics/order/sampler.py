"""``sampler:`` and ``sequential:``: replay of the Hugging Face ``Trainer``'s data order.

What the Trainer does (transformers 5.24 ``Trainer._get_train_sampler`` returns a ``RandomSampler``;
accelerate 1.15 ``prepare_data_loader`` swaps it for ``SeedableRandomSampler`` since
``use_seedable_sampler=True`` is the default; the Trainer calls ``set_epoch(epoch)`` before each epoch):

* epoch ``e`` (0-based) visits ``torch.randperm(n, generator=torch.Generator().manual_seed(S + e))``, where
  ``S`` is ``TrainingArguments.data_seed`` if set, else ``seed`` (``torch.random.initial_seed()`` after the
  Trainer's ``set_seed``);
* the epoch is cut into micro-batches of ``batch`` (x ``world`` processes); the last one is short unless
  ``dataloader_drop_last``;
* ``accum`` micro-batches make one optimizer step; **an epoch ends with a (possibly shorter) step of the
  micro-batches left over**: steps never straddle two epochs. (The plain "contiguous slice of B x A x W
  over concatenated epochs" reading agrees only when the epoch length is a multiple of B x A x W; the
  tests run the real Trainer and match this module step for step.)

``sequential:`` is the same walk without the shuffle (``train_sampling_strategy="sequential"``, or any
unshuffled loop). See docs/forensics.md for what breaks the replay (group_by_length, custom samplers,
IterableDataset, ...).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from ...errors import InputError
from .base import OrderSpec, Piece, Placement, check_steps
from .textdata import count_documents, fetch_by_index, require_exact_rows


class TrainerOrder:
    """Step -> dataset indices for a shuffled (``sampler:``) or unshuffled (``sequential:``) epoch walk."""

    def __init__(self, *, n: int, batch: int, accum: int = 1, world: int = 1, drop_last: bool = False,
                 seed: int | None = None, epochs: int | None = None, source: str = "sampler",
                 data: Any = None, read: Any = None) -> None:
        if n < 1:
            raise InputError(f"{source}: the data holds no documents")
        self.kind = "sampler" if seed is not None else "sequential"
        self.source = source
        self.n, self.batch, self.accum, self.world = n, batch, accum, world
        self.drop_last, self.seed, self.epochs = drop_last, seed, epochs
        self.data, self.read = data, read
        micro = batch * world
        self.micro_per_epoch = n // micro if drop_last else math.ceil(n / micro)
        if self.micro_per_epoch == 0:
            raise InputError(f"{source}: {n} documents are fewer than one batch of {micro} with drop_last=1; "
                             f"check batch= and world=")
        self.used_per_epoch = min(n, self.micro_per_epoch * micro)
        self.steps_per_epoch = math.ceil(self.micro_per_epoch / accum)
        self._perms: dict[int, np.ndarray] = {}

    # -- the order ---------------------------------------------------------------------------------------
    def last_step(self) -> int | None:
        return None if self.epochs is None else self.epochs * self.steps_per_epoch

    def permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if self.seed is None:
                self._perms[epoch] = np.arange(self.n, dtype=np.int64)
            else:
                import torch

                g = torch.Generator().manual_seed(self.seed + epoch)
                self._perms[epoch] = torch.randperm(self.n, generator=g).numpy().astype(np.int64)
        return self._perms[epoch]

    def step_indices(self, step: int) -> np.ndarray:
        """Dataset indices of optimizer step ``step`` (1-based), in the order the batch holds them."""
        epoch, k = divmod(step - 1, self.steps_per_epoch)
        micro = self.batch * self.world
        lo = k * self.accum * micro
        hi = min((k + 1) * self.accum * micro, self.used_per_epoch)
        return self.permutation(epoch)[lo:hi]

    def indices(self, steps: Iterable[int]) -> dict[int, np.ndarray]:
        fix = "pass epochs= matching the run, or steps the log holds"
        return {s: self.step_indices(s) for s in check_steps(steps, self.last_step(), self.source, fix)}

    def pieces(self, steps: Iterable[int]) -> dict[int, list[Piece]]:
        by_step = self.indices(steps)
        docs: dict[int, tuple[str, str]] = {}
        if self.data is not None:
            docs = fetch_by_index(self.data, self.read, np.concatenate(list(by_step.values()) or [[]]).tolist())
        out: dict[int, list[Piece]] = {}
        for s, idx in by_step.items():
            row = []
            for pos, i in enumerate(idx.tolist()):
                doc_id, text = docs.get(i, (str(i), None))
                row.append(Piece(placement=Placement(step=s, position=pos, sample_id=i, doc_id=doc_id,
                                                     dataset_index=i), text=text))
            out[s] = row
        return out


def open_trainer_order(spec: OrderSpec, *, data: Any, read: Any) -> TrainerOrder:
    """``sampler:seed=S,batch=B[,accum=A][,world=W][,drop_last=0|1][,epochs=E][,n=N]`` or ``sequential:...``."""
    shuffled = spec.kind == "sampler"
    spec.check_keys(["seed", "batch", "accum", "world", "drop_last", "epochs", "n"])
    example = "sampler:seed=42,batch=8,accum=2" if shuffled else "sequential:batch=8"
    seed = spec.require_int("seed", minimum=0, example=example) if shuffled else None
    batch = spec.require_int("batch", example=example)
    n = spec.int_param("n", None, minimum=1)
    if n is None:
        if data is None:
            raise InputError(f"--order {spec.text}: the replay needs the number of documents: pass --data "
                             f"(the training set, in the order the run read it) or n=N in the spec")
        require_exact_rows(read, spec.text)
        n = count_documents(data, read)
    return TrainerOrder(n=n, batch=batch, accum=spec.int_param("accum", 1, minimum=1),
                        world=spec.int_param("world", 1, minimum=1), drop_last=spec.bool_param("drop_last"),
                        seed=seed, epochs=spec.int_param("epochs", None, minimum=1), source=f"--order {spec.text}",
                        data=data, read=read)
