"""Engines run the parallel parts of the passes; they know no pass by name.

A pass hands an engine generic tasks: a function, the initializer that sets up per-worker state (a model, a
MinHasher) and the items (batches of documents, candidate blocks). ``pool(init, initargs).map(fn, items)``
yields the results **in input order**, so findings never depend on completion order or worker count;
``thread_map(fn, items)`` is for work that releases the GIL (hashing) and needs no per-worker state.

``engine/local.py`` is the default (processes and threads on this machine); ``engine/ray.py`` (the ``ray``
extra) runs the pools as Ray actors, on a local runtime or a cluster, with the same results.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .local import LocalEngine

ENGINES = ("local", "ray")

RAY_HINT = "pip install 'dataaudit[ray]'"


def _requires(module: str, flag: str, pip: str) -> None:
    """One line with the pip command when ``module`` is not installed (checked before any work starts)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{flag} needs the {module!r} package, which is not installed; install it with: {pip}")


def get_engine(name: str = "local", *, workers: int = 1, address: str | None = None) -> Any:
    """The engine called ``name`` with ``workers`` workers (0: one per CPU core, or per cluster CPU on Ray).

    ``address`` is for ``ray`` only: None starts a local runtime, ``auto`` joins a running cluster.
    """
    if name == "local":
        if address is not None:
            raise ConfigError(f"--ray-address {address!r} is for --engine ray; add --engine ray or drop it")
        return LocalEngine(workers=workers)
    if name == "ray":
        _requires("ray", "--engine ray", RAY_HINT)
        from .ray import RayEngine

        return RayEngine(workers=workers, address=address)
    raise ConfigError(f"--engine {name!r}: unknown engine; choose one of {list(ENGINES)}")


__all__ = ["LocalEngine", "get_engine", "ENGINES"]
