"""The Python API: one function per job, each returning a Report and publishing its output directory.

- ``audit_split(train, val, test, evals=..., out_dir=..., config=SplitConfig(...))``: leakage between splits;
- ``score_corpus(data, out_dir=..., config=ScoreJobConfig(...))``: reference-model scores per document;
- ``analyze_spikes(logs, out_dir=..., config=SpikesConfig(...))``: loss spikes and curve diagnoses.

>>> from dataaudit.api import audit_split, SplitConfig, ReadConfig              # doctest: +SKIP
>>> report = audit_split("train.parquet", val="val.jsonl", out_dir="audit")   # doctest: +SKIP
>>> report.summary["exact"]["splits"]["val"]["leaked_docs"]                 # doctest: +SKIP
"""

from ..config import JobConfig, ReadConfig
from .score import ScoreJobConfig, score_corpus
from .spikes import SpikesConfig, analyze_spikes
from .split import SplitConfig, audit_split

__all__ = ["audit_split", "score_corpus", "analyze_spikes", "SplitConfig", "ScoreJobConfig", "SpikesConfig",
           "ReadConfig", "JobConfig"]
