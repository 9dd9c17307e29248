"""Engines run the parallel parts of the passes; they know no pass by name.

A pass hands an engine generic tasks: a function, the initializer that sets up per-worker state (a model, a
MinHasher) and the items (batches of documents, candidate blocks). ``pool(init, initargs).map(fn, items)``
yields the results **in input order**, so findings never depend on completion order or worker count;
``thread_map(fn, items)`` is for work that releases the GIL (hashing) and needs no per-worker state.

``engine/local.py`` is the default (processes and threads on this machine); a Ray engine plugs in behind
the same two methods.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .local import LocalEngine

ENGINES = ("local",)


def get_engine(name: str = "local", *, workers: int = 1, address: str | None = None) -> Any:
    """The engine called ``name`` with ``workers`` workers (0: one per CPU core)."""
    if name == "local":
        return LocalEngine(workers=workers)
    raise ConfigError(f"--engine {name!r}: unknown engine; choose one of {list(ENGINES)}")


__all__ = ["LocalEngine", "get_engine", "ENGINES"]
