"""The skip list: which steps to skip after a spike, and the line each framework takes.

Practice this follows: PaLM (Chowdhery et al. 2022, section 5.1, "Training Instability") restarted
training from a checkpoint about 100 steps before each spike and skipped roughly 200-500 data batches
around it, and the spikes did not come back; replaying the same batches from a different checkpoint did not
spike either, so a spike is the combination of data and optimizer state. BLOOM's chronicles did the same by
hand with Megatron-DeepSpeed's ``--skip-train-iteration-range``. Defaults here: restart ``restart_before``
(100) steps before the first skipped step, skip the mapped window (the spike step and the ``window`` steps
before it); widen with ``skip_before`` / ``skip_after`` to follow PaLM's wider skips.

Framework lines (each flag as its framework spells it):

* Megatron-LM: ``--iterations-to-skip 11234 11235 11236`` (a list of iterations; the training loop runs a
  dummy step for each, so consumed samples still advance);
* Megatron-DeepSpeed: ``--skip-train-iteration-range 11234-11236 ...`` (inclusive ranges). With several
  ranges its handling is fragile (bigscience-workshop/Megatron-DeepSpeed issue #230: a run resumed past the
  first range skipped only the later one); so list only the ranges at or after the iteration you resume from;
* metaseq: ``--skip-batches 11234-11236,...`` (by ``num_updates``; facebookresearch/metaseq PR #500);
* OLMo-core: ``TrainerConfig.steps_to_skip=[StepSkipRange(start=11234, stop=11237)]`` (half-open ranges,
  allenai/OLMo-core PR #430);
* Hugging Face / any: drop the listed dataset indices or doc ids from the training set and resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

WHY = ("PaLM (section 5.1) restarted about 100 steps before each spike and skipped the batches around it; "
       "the spikes did not return. A spike needs both the data and the optimizer state of that moment, so "
       "restarting earlier and not feeding the same batches again is the fix that has worked at scale.")


@dataclass(frozen=True, kw_only=True)
class SkipConfig:
    """Which steps the skip list recommends skipping around each spike."""

    restart_before: int = 100       # restart from a checkpoint this many steps before the first skipped step
    skip_before: int | None = None  # skip this many steps before the spike step (None: the mapped window)
    skip_after: int = 0             # and this many after it (PaLM skipped 200-500 batches in all)


def merge_ranges(steps: Iterable[int]) -> list[tuple[int, int]]:
    """Inclusive ranges of consecutive integers.

    >>> merge_ranges([5, 3, 4, 9, 10, 12])
    [(3, 5), (9, 10), (12, 12)]
    """
    out: list[list[int]] = []
    for s in sorted(set(steps)):
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return [(a, b) for a, b in out]


def skip_steps(spike_steps: Iterable[int], window: int, cfg: SkipConfig) -> dict[int, list[int]]:
    """{spike step: the steps to skip for it}."""
    before = window if cfg.skip_before is None else cfg.skip_before
    return {s: list(range(max(1, s - before), s + cfg.skip_after + 1)) for s in sorted(set(spike_steps))}


def _fmt_ranges(rs: list[tuple[int, int]], sep: str) -> str:
    return sep.join(f"{a}-{b}" if b != a else f"{a}" for a, b in rs)


def framework_lines(ranges: list[tuple[int, int]], *, dataset_indices: list[int], doc_ids: list[str]) -> dict[str, str]:
    steps = [s for a, b in ranges for s in range(a, b + 1)]
    olmo = ", ".join(f"StepSkipRange(start={a}, stop={b + 1})" for a, b in ranges)
    return {
        "megatron_lm": "--iterations-to-skip " + " ".join(map(str, steps)),
        "megatron_deepspeed": "--skip-train-iteration-range " + " ".join(f"{a}-{b}" for a, b in ranges),
        "metaseq": "--skip-batches " + _fmt_ranges(ranges, ","),
        "olmo_core": f"steps_to_skip=[{olmo}]",
        "hf_dataset_indices": " ".join(map(str, dataset_indices)) if dataset_indices else "",
        "doc_ids": " ".join(doc_ids),
    }


def build_skip(runs: dict[str, dict[str, Any]], *, window: int, cfg: SkipConfig = SkipConfig()
               ) -> tuple[dict[str, Any], list[str]]:
    """skip.json content and skip.txt lines.

    ``runs``: {run: {"spikes": [step...], "placements": {step: [Placement...]}, "suspect_doc_ids": [...]}}
    where placements covers every step to skip (the caller maps them).
    """
    out: dict[str, Any] = {"why": WHY, "settings": {"restart_before": cfg.restart_before, "window": window,
                                                     "skip_before": cfg.skip_before, "skip_after": cfg.skip_after},
                           "runs": {}}
    lines = ["# dataaudit skip list", f"# why: {WHY}", ""]
    for run, info in sorted(runs.items()):
        per = skip_steps(info.get("spikes", []), window, cfg)
        all_steps = sorted({s for v in per.values() for s in v})
        ranges = merge_ranges(all_steps)
        placements = info.get("placements", {})
        samples = sorted({p.sample_id for s in all_steps for p in placements.get(s, [])})
        indices = sorted({p.dataset_index for s in all_steps for p in placements.get(s, [])
                          if p.dataset_index is not None})
        docs = list(dict.fromkeys(p.doc_id for s in all_steps for p in placements.get(s, [])))
        restart = max(0, ranges[0][0] - cfg.restart_before - 1) if ranges else None
        entry = {
            "spikes": [{"spike_step": s, "skip_steps": [v[0], v[-1]],
                        "restart_from_step": max(0, v[0] - cfg.restart_before - 1)} for s, v in per.items()],
            "steps": all_steps,
            "step_ranges": [list(r) for r in ranges],
            "restart_from_step": restart,
            "sample_ranges": [[a, b + 1] for a, b in merge_ranges(samples)],
            "dataset_indices": indices,
            "doc_ids": docs,
            "suspect_doc_ids": list(info.get("suspect_doc_ids", [])),
            "frameworks": framework_lines(ranges, dataset_indices=indices, doc_ids=docs) if ranges else {},
        }
        out["runs"][run] = entry
        lines.append(f"run {run}:")
        if not ranges:
            lines.append("  no spikes: nothing to skip")
            continue
        lines.append(f"  restart from the last checkpoint at or before step {restart}, then skip steps "
                     f"{_fmt_ranges(ranges, ', ')} ({len(all_steps)} steps, {len(docs)} documents)")
        for k, v in entry["frameworks"].items():
            if v:
                lines.append(f"  {k}: {v}")
        if entry["suspect_doc_ids"]:
            lines.append("  or drop only the top suspects: " + " ".join(entry["suspect_doc_ids"]))
        lines.append("")
    return out, lines
