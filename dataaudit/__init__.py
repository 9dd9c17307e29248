"""dataaudit: audit the data of language-model training runs.

The public API, imported lazily so that ``import dataaudit`` and ``dataaudit --help`` stay fast:

- ``audit_split(train, val, test, evals=..., out_dir=..., config=SplitConfig(...))``: leakage between splits
  (exact, near-duplicate, containment), optionally with perplexity with and without the leaked documents;
- ``score_corpus(data, out_dir=..., config=ScoreJobConfig(...))``: the scoring job; ``score(data, model=...)``,
  ``load_model(path)``, ``fit_default_model(corpus)``: reference-model scores as a table;
- ``analyze_spikes(logs, out_dir=..., config=SpikesConfig(...))``: the spikes job; ``read_logs(paths)``,
  ``detect_spikes(steps, values)``: its parts;
- ``read_documents(source, ...)``: any supported corpus as DOC_SCHEMA record batches;
- ``normalize(text)``, ``NormalizeConfig``: the one text normalization every pass uses.
"""

__version__ = "0.1.0"

import os as _os

# pyarrow allocates through its bundled mimalloc, which keeps freed pages for a while before returning them
# to the OS (MIMALLOC_PURGE_DELAY, in ms); a streaming pass frees a batch's buffers every few milliseconds, so
# the kept pages piled up and peak RSS grew with the corpus (benchmarks/memory.py: the exact pass 1.59x from 1x
# to 16x; with 0 and the buffered Parquet reads of io/columnar.py 1.13x). mimalloc reads the variable when
# libarrow loads, so this must run before pyarrow is first imported (a process that imported pyarrow earlier
# keeps its own setting); local workers inherit it, and the Ray engine passes it to a cluster's workers in the
# job's runtime environment (engine/ray.py). DATAAUDIT_MALLOC_TUNING=0 leaves it, and glibc's, as they are.
# Source: mimalloc's documentation, "Environment Options" (MIMALLOC_PURGE_DELAY).
if _os.environ.get("DATAAUDIT_MALLOC_TUNING", "1") != "0":
    _os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")

_EXPORTS = {
    "audit_split": "dataaudit.api", "SplitConfig": "dataaudit.api", "ReadConfig": "dataaudit.api",
    "score_corpus": "dataaudit.api", "ScoreJobConfig": "dataaudit.api",
    "analyze_spikes": "dataaudit.api", "SpikesConfig": "dataaudit.api",
    "score": "dataaudit.passes.score", "ScoreConfig": "dataaudit.passes.score",
    "load_model": "dataaudit.model", "fit_default_model": "dataaudit.model",
    "read_logs": "dataaudit.logs", "detect_spikes": "dataaudit.logs",
    "read_documents": "dataaudit.io.readers",
    "normalize": "dataaudit.text", "NormalizeConfig": "dataaudit.text",
    "DataAuditError": "dataaudit.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'dataaudit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(mod), name)
