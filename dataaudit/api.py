"""The Python API: what the CLI calls and what users call.

>>> from dataaudit.api import audit_split                                   # doctest: +SKIP
>>> report = audit_split("train.parquet", val="val.jsonl", out_dir="audit") # doctest: +SKIP
>>> report.summary["exact"]["splits"]["val"]["leaked_docs"]                 # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import ConfigError
from .io.sources import DocSource
from .passes.exact import ExactConfig, run_exact
from .passes.leaks import merge_leaks
from .records import Report
from .report import phase, write_report
from .text import DEFAULT_NORMALIZE, NormalizeConfig


@dataclass(frozen=True, kw_only=True)
class ReadConfig:
    """How input files are read."""

    fmt: str | None = None              # None: detect from each path
    text_column: str | None = None      # None: auto-detect (text, content, ...)
    id_column: str | None = None        # None: doc_id = "<source>:<row>"
    eval_field: str | None = None       # text field of --eval JSONL files (None: auto-detect)
    batch_size: int = 4096              # documents per Arrow batch; bounds memory
    on_bad_record: str = "fail"         # fail | skip (skipped records are counted and located)


def _default(module: str):
    if module == "near":
        from .passes.near import NearConfig

        return NearConfig()
    from .passes.overlap import ContainmentConfig

    return ContainmentConfig()


@dataclass(frozen=True, kw_only=True)
class SplitConfig:
    """Settings of a split audit, recorded in its report."""

    read: ReadConfig = field(default_factory=ReadConfig)
    normalize: NormalizeConfig = DEFAULT_NORMALIZE
    exact: ExactConfig = field(default_factory=ExactConfig)
    near: Any = field(default_factory=lambda: _default("near"))          # NearConfig; None skips the MinHash pass
    containment: Any = field(default_factory=lambda: _default("overlap"))  # ContainmentConfig; None skips it
    top: int = 20                       # findings listed in report.json / report.md (tables hold all)
    fail_on: str = "leak"               # the CLI's exit-1 level, recorded so a report says how it was judged
    model: Any = None                   # reference model for val perplexity with/without leaks: a local HF causal
                                        # LM or byte-LM directory, a loaded ReferenceModel, "default" (fit the
                                        # embedded byte LM on a sample of train), or None (no scoring)
    device: str = "auto"                # where the reference model runs: auto | cpu | cuda | mps


def _staging(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))


def _publish(stage: Path, out: Path) -> None:
    """Move a finished report into place: findings files first, report.json last."""
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(os.listdir(stage), key=lambda n: (n in ("report.json", "report.md"), n))
    for name in names:
        target = out / name
        if target.is_dir() and not (stage / name).is_dir():
            shutil.rmtree(target)
        if (stage / name).is_dir() and target.exists():
            shutil.rmtree(target)
        os.replace(stage / name, target)
    shutil.rmtree(stage, ignore_errors=True)


def audit_split(train: Any, val: Any = None, test: Any = None, *, evals: Sequence[Any] = (),
                out_dir: str | os.PathLike, config: SplitConfig = SplitConfig(),
                progress: Callable[[str, int, int], None] | None = None) -> Report:
    """Audit ``train`` against ``val``/``test``/eval sets; write the report directory; return the Report.

    Each data argument is a path (file, directory, glob), a pyarrow Table or a ``datasets`` object.
    The report is assembled in a staging directory and moved into ``out_dir`` at the end, so an
    interrupted run leaves no half-written report.
    """
    if val is None and test is None and not evals:
        raise ConfigError("nothing to compare train with: give --val, --test or --eval")
    rc = config.read
    kw = dict(fmt=rc.fmt, text_column=rc.text_column, id_column=rc.id_column, batch_size=rc.batch_size,
              on_bad_record=rc.on_bad_record, progress=progress)
    sources: dict[str, DocSource] = {"train": DocSource(train, split="train", **kw)}
    if val is not None:
        sources["val"] = DocSource(val, split="val", **kw)
    if test is not None:
        sources["test"] = DocSource(test, split="test", **kw)
    for e in evals:
        name = Path(str(e)).name.split(".")[0] if isinstance(e, (str, os.PathLike)) else f"eval{len(sources)}"
        if name in sources:
            raise ConfigError(f"two inputs are both named {name!r}; rename one eval file")
        sources[name] = DocSource(e, split=name, **{**kw, "fmt": None, "text_column": rc.eval_field,
                                                    "id_column": None})
    out = Path(out_dir)
    report = Report(kind="split", config={
        "inputs": {k: s.name for k, s in sources.items()}, "read": asdict(rc),
        "normalize": config.normalize.to_dict(), "exact": asdict(config.exact), "top": config.top,
        "fail_on": config.fail_on})
    stage = _staging(out)
    try:
        with phase(report, "exact"):
            run_exact(sources, stage, normalize=config.normalize, config=config.exact,
                      top=config.top).apply_to(report)
        if config.near is not None:
            from .passes.near import run_near

            with phase(report, "near"):
                run_near(sources, config.near, stage, normalize=config.normalize).apply_to(report)
        if config.containment is not None:
            from .passes.overlap import run_containment

            small = {k: s for k, s in sources.items() if k != "train"}
            with phase(report, "containment"):
                run_containment(small, sources["train"], config.containment, stage,
                                normalize=config.normalize).apply_to(report)
        bad = [(k, s.bad_log) for k, s in sources.items() if s.bad_log is not None]
        report.bad_records = {"count": sum(b.count for _, b in bad),
                              "by_split": {k: b.count for k, b in bad},
                              "examples": [e.to_dict() for _, b in bad for e in b.examples][:1000]}
        report.summary["documents"] = {k: s.docs for k, s in sources.items()}
        with phase(report, "merge leaks"):
            merge_leaks(stage, report.files, report.summary["documents"], top=config.top).apply_to(report)
        report.summary["leaked_docs"] = report.summary["leaks"]["leaked_docs"]
        if config.model is not None:
            with phase(report, "perplexity"):
                _perplexity(sources, config, stage).apply_to(report)
        first = {"Verdict": _verdict(report)}
        for title in ("Leaked documents, all passes", "Validation perplexity with and without the leaked documents"):
            if title in report.sections:
                first[title] = report.sections.pop(title)
        report.sections = {**first, **report.sections}
        write_report(report, stage)
        _publish(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return report


def _perplexity(sources: dict[str, DocSource], config: SplitConfig, stage: Path):
    """Score the non-train splits with the reference model; perplexity with and without leaked documents."""
    from .passes.explain import explain_perplexity
    from .passes.score import run_score

    model = config.model
    if isinstance(model, str) and model == "default":
        from .model.bytelm import fit_default_model

        model = fit_default_model(sources["train"](), device=config.device)
    small = [s for k, s in sources.items() if k != "train"]
    run = run_score((b for s in small for b in s()), model=model, device=config.device, out_dir=stage)
    res = explain_perplexity(run.table, stage / "leaks.parquet", run.meta["model"])
    res.files["scores"] = "scores.parquet"
    res.config = {"model": run.meta["model"], "settings": run.meta["settings"]}
    res.summary["notes"] = run.notes
    return res


def _verdict(report: Report) -> str:
    """The few sentences a person reads first."""
    lines = []
    exact = report.summary["exact"]["splits"]
    leaks = report.summary["leaks"]["by_split"]
    for name, c in leaks.items():
        e = exact[name]
        s = (f"- **{c['leaked_docs']} of {c['docs']}** {name} documents ({c['leaked_doc_fraction']:.1%}) also occur "
             f"in train: {c['exact']} exact copies after normalization ({e['leaked_byte_fraction']:.1%} of the "
             f"split's bytes)")
        if "near" in report.summary:
            s += f", {c['near_not_exact']} near copies"
        if "containment" in report.summary:
            s += f", {c['containment_only']} contained in longer train documents"
        lines.append(s + ".")
    ppl = (report.summary.get("perplexity") or {}).get("by_split") or {}
    for name, r in ppl.items():
        rise = r.get("ppl_rise_without_leaked")
        if r["leaked_only"]["docs"] and rise is not None:
            lines.append(f"- {name} perplexity is {r['all']['ppl']:.4g} with the leaked documents and "
                         f"{r['without_leaked']['ppl']:.4g} without them ({rise:+.1%}).")
    t = exact.get("train")
    if t:
        lines.append(f"- train has {t['dup_docs']} exact duplicate documents ({t['dup_doc_fraction']:.1%}) in "
                     f"{t['dup_groups']} groups.")
    if report.bad_records.get("count"):
        lines.append(f"- {report.bad_records['count']} bad records were skipped (see Bad records).")
    if report.summary.get("leaked_docs"):
        lines.append("\nLeaked documents make validation perplexity look better than the model is: drop them "
                     "from the evaluation (or from train) before comparing runs.")
    else:
        lines.append("\nNo leaks found by the passes that ran.")
    return "\n".join(lines)
