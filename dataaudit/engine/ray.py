"""The Ray engine: the same seam as ``engine/local.py``, its pools made of Ray actors.

* ``pool(init, initargs)``: one actor per worker, each running ``init(*initargs)`` once in its constructor
  (one model per worker for scoring). ``.map(fn, items)`` submits ``fn(item)`` to the actor with the fewest
  tasks in flight, keeps at most ``2 x workers`` in flight and yields the results **in input order** (the
  head of the window is awaited, never "whichever finished first"), so a pass consumes exactly what the local
  engine gives it and writes the same bytes.
* Faults: actors are created with ``max_restarts`` and ``max_task_retries``; an actor whose process dies is
  restarted by Ray (its constructor, so ``init``, runs again) and its unfinished tasks are run again. Tasks are
  pure functions of their input, so a retried task returns what the first attempt would have. When the
  retries run out, the pass stops with a ``WorkerLostError`` naming the task (its position in the pass's
  input order and what its input was) and Ray's reason. An exception raised by ``fn`` itself is re-raised in
  the driver as it is (a ``ModelError`` stays a ``ModelError``), as with the local engine.
* ``thread_map`` runs on local threads in the driver, as the local engine does: its one user hashes slices
  of a batch the driver already holds (xxh3 releases the GIL and runs at GB/s); sending the slices to Ray
  tasks would copy every byte through the object store twice for work that costs less than the copy.

Ray is imported here only, when the engine is created (``get_engine("ray")`` checks first that it is
installed, so a missing package is one line with the pip command before any work starts).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from typing import Any, Callable, Iterable, Iterator

from ..errors import ConfigError, DataAuditError
from .local import LocalThreads, _copy_if_slice

RETRIES = 3          # restarts of a dead actor, and re-runs of each of its unfinished tasks
PARTITIONS: int | None = None      # band-key partitions when not given (None: 2 x workers)
SHARD_BYTES: int | None = None     # bytes per read shard when not given (None: io.shards.SHARD_BYTES)


class WorkerLostError(DataAuditError):
    """A task could not finish on Ray: its worker died more often than it may be restarted."""


def describe_item(item: Any) -> str:
    """What a task's input was, for an error message (sizes and doc ids, never document text)."""
    import pyarrow as pa

    if hasattr(item, "kind") and hasattr(item, "path") and hasattr(item, "read"):     # an io.shards.Shard
        where = f"rows from {item.row0}" if item.kind != "jsonl" else f"bytes {item.start}-{item.end}"
        return f"a {item.kind} shard of {item.path} ({where})"
    if isinstance(item, tuple) and len(item) == 3 and callable(item[0]):             # engine.pieces task
        return describe_item(item[1])
    if isinstance(item, (pa.RecordBatch, pa.Table)):
        if "doc_id" in item.schema.names and item.num_rows:
            ids = item.column("doc_id")
            return f"a batch of {item.num_rows} documents, doc_id {ids[0].as_py()} .. {ids[-1].as_py()}"
        return f"a batch of {item.num_rows} rows"
    if isinstance(item, (pa.Array, pa.ChunkedArray)):
        return f"a batch of {len(item)} texts"
    if isinstance(item, (list, tuple)):
        if item and all(isinstance(x, str) for x in item):
            return f"a batch of {len(item)} texts"
        parts = ", ".join(describe_item(x) for x in item[:4])
        return f"a tuple of ({parts}{', ...' if len(item) > 4 else ''})"
    if isinstance(item, dict):
        return f"a mapping of {len(item)} entries"
    if hasattr(item, "shape"):
        return f"an array of shape {tuple(item.shape)}"
    return type(item).__name__


class _Worker:
    """The actor: runs the pool's initializer once, then tasks (each ``fn(item)``)."""

    def __init__(self, init: Callable[..., None] | None, initargs: tuple) -> None:
        if init is not None:
            init(*initargs)

    def run(self, fn: Callable[[Any], Any], item: Any) -> Any:
        return fn(item)

    def pid(self) -> int:
        return os.getpid()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A host:port address that nothing listens on is one line now, not minutes of Ray's reconnect attempts."""
    import socket

    if address == "auto" or address.startswith("local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r}: give auto, host:port (the head's GCS port, 6379 by "
                          f"default) or ray://host:port (Ray Client, 10001 by default)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ConfigError(f"--ray-address {address!r}: nothing answers at {host}:{port} ({e.strerror or e}); "
                          f"check the address, or leave --ray-address out to start a local runtime") from None


def _fn_name(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


class RayTaskPool:
    """``workers`` actors that ran ``init(*initargs)``; ``map`` yields results in input order."""

    def __init__(self, workers: int, init: Callable[..., None] | None, initargs: tuple, *,
                 retries: int = RETRIES) -> None:
        import ray

        self.n = workers
        self.retries = retries
        cls = ray.remote(num_cpus=1, max_restarts=retries, max_task_retries=retries)(_Worker)
        # large initializer arguments (a containment index's lookup part: tens of MB) go to the object store
        # once for all actors, and this pool keeps them in scope, so a restarted actor finds them again (Ray
        # would store them anyway, past 100 KB, without that guarantee: ray-project/ray#53727)
        self._initargs = ray.put(initargs) if len(ray.cloudpickle.dumps(initargs)) > 100_000 else initargs
        self.actors = [cls.remote(init, self._initargs) for _ in range(workers)]
        self._busy = [0] * workers

    def pids(self) -> list[int]:
        """The process id of each actor (waits until every actor is up)."""
        import ray

        return ray.get([a.pid.remote() for a in self.actors])

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """Results in input order; at most ``2 x workers`` tasks in flight (memory stays bounded)."""
        window: deque = deque()          # (position, actor index, ref, item description)
        pos = 0
        for it in items:
            k = min(range(self.n), key=self._busy.__getitem__)
            ref = self.actors[k].run.remote(fn, _copy_if_slice(it))
            self._busy[k] += 1
            window.append((pos, k, ref, it))
            pos += 1
            if len(window) >= 2 * self.n:
                yield self._result(fn, window.popleft())
        while window:
            yield self._result(fn, window.popleft())

    def _result(self, fn: Callable, entry: tuple) -> Any:
        import ray
        from ray import exceptions as rex

        pos, k, ref, item = entry
        try:
            return ray.get(ref)
        except rex.RayTaskError as e:          # fn raised: the pass sees its own exception, as locally
            cause = getattr(e, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise
        except (rex.RayActorError, rex.WorkerCrashedError, rex.ObjectLostError, rex.OutOfMemoryError) as e:
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise WorkerLostError(
                f"task {pos} of {_fn_name(fn)} (input: {describe_item(item)}) could not finish on Ray: its "
                f"worker died {self.retries + 1} times ({type(e).__name__}: {why}). Check the worker logs "
                f"(/tmp/ray/session_latest/logs) for memory or crashes; lower --batch-size or --workers, "
                f"or run with --engine local") from None
        finally:
            self._busy[k] -= 1

    def close(self, *, error: bool = False) -> None:
        import ray

        for a in self.actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001 - an actor already gone is what we want
                pass
        self.actors = []
        self._initargs = None

    def __enter__(self) -> "RayTaskPool":
        return self

    def __exit__(self, exc_type, *exc: Any) -> None:
        self.close(error=exc_type is not None)


class RayEngine(LocalThreads):
    """Ray actors for ``pool``, local threads for ``thread_map``.

    ``address``: None starts a local Ray runtime with ``workers`` CPUs (0: every core) and stops it on
    ``close()``; ``"auto"`` joins the cluster this machine belongs to; ``"ray://host:10001"`` or
    ``"host:6379"`` joins that one. A runtime already started in this process (``ray.init`` by the caller) is
    used as it is and left running. ``workers``: actors per pool (0: every CPU of the cluster).
    """

    name = "ray"

    def __init__(self, workers: int = 1, address: str | None = None, threads: int | None = None, *,
                 partitions: int | None = None, shard_bytes: int | None = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ConfigError(f"--workers {workers!r}: give 0 (every CPU of the cluster) or a positive integer")
        import ray

        self.address = address
        self._started = False
        if address is not None and not ray.is_initialized():
            _check_reachable(address)
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                                  "log_to_driver": False}
            try:
                if address is None:
                    # Ray notes on stderr that the runtime it starts uses token authentication, its secure default;
                    # for a runtime this process starts and stops itself there is nothing to act on, so the notice
                    # is left out (a cluster's own settings, with --ray-address, are not touched)
                    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
                    ray.init(num_cpus=workers or (os.cpu_count() or 1), **kw)
                else:
                    # a cluster's workers were not started from this process, so they do not inherit its allocator
                    # setting (dataaudit/__init__.py); the job's runtime environment hands it to them
                    env = {k: os.environ[k] for k in ("MIMALLOC_PURGE_DELAY", "DATAAUDIT_MALLOC_TUNING")
                           if k in os.environ}
                    if env:
                        kw["runtime_env"] = {"env_vars": env}
                    ray.init(address=address, **kw)
            except ConnectionError as e:
                raise ConfigError(f"--ray-address {address!r}: no Ray cluster answered ({e}); start one (Ray's "
                                  f"`ray start` on a head node), or leave --ray-address out to start a local runtime")
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 0))
        self.workers = workers or max(cpus, 1)
        self.threads = threads or min(os.cpu_count() or 1, 4)
        self._threads = None
        # the workers read the inputs (read tasks) and the band keys are shuffled into P hash partitions
        self.partitions = partitions or PARTITIONS or 2 * self.workers
        self.shard_bytes = shard_bytes or SHARD_BYTES
        try:
            self._address = ray.get_runtime_context().gcs_address
        except Exception:  # noqa: BLE001 - Ray Client has no GCS address to show
            self._address = address or "local"

    def pool(self, init: Callable[..., None] | None = None, initargs: tuple = ()) -> RayTaskPool:
        """``workers`` actors that ran ``init(*initargs)``; use it in a ``with`` block."""
        return RayTaskPool(self.workers, init, initargs)

    # thread_map: local threads, in order (see the module docstring for why local), from LocalThreads

    def close(self) -> None:
        self.close_threads()
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "address": self.address or "local", "cluster": self._address,
                "workers": self.workers, "threads": self.threads, "partitions": self.partitions}

    def __enter__(self) -> "RayEngine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
