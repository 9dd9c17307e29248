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
