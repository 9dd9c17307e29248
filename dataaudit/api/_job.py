"""What every job does around its passes: a Report, named timed phases, an engine, staging and publishing."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import contextlib

from .. import interrupt
from ..config import JobConfig
from ..engine import get_engine
from ..io.publish import Publisher
from ..progress import NullProgress, Progress
from ..records import Report
from ..report import write_report


class Job:
    """``with Job(kind, config, out_dir, inputs) as job:`` run passes into ``job.stage``; ``job.finish()``.

    With ``out_dir`` the output is staged inside it under a lock and published by ``finish()`` (see
    ``io/publish.py``); without, it is staged in a temporary directory that is removed afterwards (the
    Report is still returned). Leaving the block on an error publishes nothing.
    """

    def __init__(self, kind: str, config: JobConfig, record: dict[str, Any], *, out_dir: str | os.PathLike | None,
                 inputs: Iterable[Any] = (), progress: Progress | None = None) -> None:
        self.report = Report(kind=kind, config=record)
        self.config = config
        self.progress = progress or NullProgress()
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self._inputs = list(inputs)
        self._pub: Publisher | None = None
        self._tmp: str | None = None
        self.stage: Path = Path()
        self.engine: Any = None

    def __enter__(self) -> "Job":
        model = getattr(self.config, "model", None)
        if model is None and hasattr(self.config, "forensics"):
            model = self.config.forensics.model
        if model is not None:
            from ..model import check_model

            check_model(model)          # a missing path or package fails now, not after the passes
        # the engine first: a missing optional package (ray) or an unreachable cluster stops the job before
        # any output directory is locked or staged
        self.engine = get_engine(self.config.engine, workers=self.config.workers,
                                 address=getattr(self.config, "ray_address", None))
        try:
            if self.out_dir is not None:
                with interrupt.deferred():   # owned before a Ctrl-C can come, so __exit__ removes its staging
                    self._pub = Publisher(self.out_dir, self._inputs).__enter__()
                self.stage = self._pub.stage
            else:
                with interrupt.deferred():
                    self._tmp = tempfile.mkdtemp(prefix="dataaudit-")
                self.stage = Path(self._tmp)
            self.report.config["engine"] = self.engine.describe()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """A named phase: timed into the report, announced through the progress object."""
        with self.report.phase(name), self.progress.phase(name):
            yield

    def finish(self) -> Report:
        """Render the report into the stage and publish the stage into ``out_dir``."""
        write_report(self.report, self.stage)
        if self._pub is not None:
            self._pub.publish()
        return self.report

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.engine is not None:
                self.engine.close()
        finally:
            if self._pub is not None:
                self._pub.__exit__(*exc)
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
