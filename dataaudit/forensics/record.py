"""Record what each optimizer step of a Hugging Face ``Trainer`` actually saw: a ``manifest:`` order.

The honest fallback for any framework is to log the data order while training. For the HF ``Trainer``:

    from dataaudit.forensics.record import recording_trainer
    Trainer = recording_trainer()                    # a Trainer subclass
    trainer = Trainer(..., args=TrainingArguments(..., remove_unused_columns=False))
    trainer.train()                                  # dataset rows carry an integer "idx" column
    trainer.order_recorder.write_manifest("steps.jsonl")   # then: --order manifest:steps.jsonl

The subclass takes the ``idx`` key out of every micro-batch in ``compute_loss`` (so the model never sees
it) and files it under the optimizer step that micro-batch belongs to (the step counter is advanced after
the last micro-batch of a step). It reads the batch the model trains on, not the collator's call order:
accelerate's data loader fetches one batch ahead, so a collator-side record would be off by one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class OrderRecorder:
    """Dataset indices per optimizer step (1-based), in the order the micro-batches arrived."""

    def __init__(self, key: str = "idx") -> None:
        self.key = key                          # the batch key holding each row's dataset index
        self.steps: dict[int, list[int]] = {}   # step -> indices it trained on

    def add(self, step: int, ids: Any) -> None:
        self.steps.setdefault(step, []).extend(int(i) for i in ids.tolist())

    def write_manifest(self, path: str | Path) -> Path:
        p = Path(path)
        with open(p, "w", encoding="utf-8") as f:
            for s in sorted(self.steps):
                f.write(json.dumps({"step": s, "sample_ids": self.steps[s]}) + "\n")
        return p


def recording_trainer(base: Any = None, key: str = "idx") -> Any:
    """A subclass of ``base`` (default ``transformers.Trainer``) that records each step's dataset indices."""
    if base is None:
        from transformers import Trainer as base  # heavy import, only when asked

    class RecordingTrainer(base):  # type: ignore[misc, valid-type]
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.order_recorder = OrderRecorder(key)

        def compute_loss(self, model: Any, inputs: Any, *a: Any, **kw: Any) -> Any:
            ids = inputs.pop(self.order_recorder.key, None)
            if ids is not None and model.training:
                # global_step is the number of finished optimizer steps; this micro-batch belongs to the next
                self.order_recorder.add(self.state.global_step + 1, ids)
            return super().compute_loss(model, inputs, *a, **kw)

    return RecordingTrainer
