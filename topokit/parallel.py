"""Where parallel work runs: this machine's cores, or a Dask distributed cluster.

Sweeps and per-filter scoring fan out with joblib. By default joblib runs them in local worker
processes. With a Dask scheduler address (``scheduler="tcp://host:8786"``, or the environment
variable ``TOPOKIT_SCHEDULER``, which ``topokit reproduce --scheduler`` sets for the notebooks),
:func:`backend` connects to that cluster and switches joblib to its Dask backend, so the same
calls run on the cluster's workers with nothing else changed.

Before any work is sent, :func:`connect` checks, within seconds, that the scheduler answers and
that every worker can import the same topokit code as this process; either failure is a clear
error that says what to do. Results come back to this process, which writes the cache, so a
lost cluster loses no finished run.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator, Optional

__all__ = ["SchedulerError", "backend", "connect", "scheduler_address"]


class SchedulerError(RuntimeError):
    """The Dask scheduler cannot be reached, or its workers cannot run topokit."""


def scheduler_address(scheduler: Optional[str] = None) -> Optional[str]:
    """The scheduler to use: ``scheduler`` if given, else ``$TOPOKIT_SCHEDULER``, else None (local)."""
    address = scheduler if scheduler is not None else os.environ.get("TOPOKIT_SCHEDULER", "")
    address = str(address).strip()
    return address or None


def _worker_topokit_version() -> Optional[str]:
    """Run on each worker: the code version of the topokit it imports (None if it cannot)."""
    try:
        return _code_version()
    except Exception:  # noqa: BLE001 - any import failure means the worker cannot run topokit
        return None


def _code_version() -> str:
    import importlib

    from .cache import code_version

    names = ["activations", "data", "models", "training", "topology"]
    mods = [importlib.import_module(f"topokit.{n}") for n in names]
    return code_version(*mods)


def connect(address: str, timeout: float = 5.0):
    """A ``dask.distributed.Client`` for ``address``, checked before any work is sent.

    Raises
    ------
    SchedulerError
        When the scheduler does not answer within ``timeout`` seconds (the message names the
        address and how to start a scheduler), when it has no workers, or when a worker cannot
        import topokit or imports a different version of its code.
    """
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - distributed is a dependency
        raise SchedulerError("running on a Dask cluster needs the 'distributed' package: "
                             "pip install distributed") from exc
    try:
        client = Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerError(
            f"no Dask scheduler answered at {address} within {timeout:g} s ({type(exc).__name__}). Start one "
            f"with `dask scheduler` on that host and at least one worker with `dask worker {address}` (each "
            "worker needs topokit installed), or leave out --scheduler / unset TOPOKIT_SCHEDULER to run locally"
        ) from None
    try:
        _check_workers(client, address)
    except BaseException:
        client.close()
        raise
    return client


def _check_workers(client, address: str) -> None:
    """Every worker imports topokit, with the same code as this process."""
    versions = client.run(_worker_topokit_version)
    if not versions:
        raise SchedulerError(f"the Dask scheduler at {address} has no workers: start some with "
                             f"`dask worker {address}`")
    ours = _code_version()
    lacking = sorted(w for w, v in versions.items() if v is None)
    other = sorted(w for w, v in versions.items() if v is not None and v != ours)
    if lacking or other:
        parts = ([f"cannot import topokit: {', '.join(lacking)}"] if lacking else []) + (
            [f"run a different version of topokit's code: {', '.join(other)}"] if other else [])
        raise SchedulerError(
            f"workers of the Dask scheduler at {address} " + "; ".join(parts)
            + ". Install this same topokit on every worker (e.g. `pip install -e /path/to/topokit` in the "
            "workers' environment) and restart them"
        )


@contextlib.contextmanager
def backend(scheduler: Optional[str] = None, timeout: float = 5.0) -> Iterator[Optional[object]]:
    """Run joblib work inside this block on a Dask cluster, if one is named; else locally.

    Yields the ``Client`` (or None when running locally). Without a scheduler, joblib's current
    backend is left as it is, so a caller's own ``joblib.parallel_config`` still applies.
    """
    address = scheduler_address(scheduler)
    if address is None:
        yield None
        return
    import joblib

    client = connect(address, timeout=timeout)
    try:
        with client.as_current(), joblib.parallel_config(backend="dask"):
            yield client
    finally:
        client.close()
