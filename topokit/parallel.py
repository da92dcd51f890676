"""Where parallel work runs: this machine's cores, or a Dask distributed cluster.

Sweeps and per-filter scoring fan out with joblib. By default joblib runs them in local worker
processes. With a Dask scheduler address (``scheduler="tcp://host:8786"``, or the environment
variable ``TOPOKIT_SCHEDULER``, which ``topokit reproduce --scheduler`` sets for the notebooks),
:func:`backend` connects to that cluster and switches joblib to its Dask backend, so the same
calls run on the cluster's workers with nothing else changed.

Before any work is sent, :func:`connect` checks, within one deadline (``timeout``, 30 s by
default), that a Dask scheduler answers at the address and that every worker can import the same
topokit code as this process; any failure -- nothing listening, another kind of service (a web
server, one that sends other bytes, stays silent or hangs up), missing or mismatched workers --
is a clear :class:`SchedulerError` that names the address and says what to do. Results come back to this process, which writes the cache, so a
lost cluster loses no finished run.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import re
import socket
import struct
import sys
import threading
import time
from typing import Callable, Iterator, Optional, Tuple

from ._checks import InvalidParameterError, integer, real

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


_HANDSHAKE_KEYS = ("compression", "python", "pickle-protocol")
#: The largest handshake accepted from a peer (a scheduler's is about 60 bytes): a length prefix
#: above this is refused before anything is allocated for it.
_MAX_HANDSHAKE_BYTES = 64 * 1024
_ADDRESS = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>\[[^\]/]+\]|[^:/\s\[\]]+)?"
                      r"(?::(?P<port>[^/]*))?/?$")
_START_HINT = ("Start one with `dask scheduler` (older Dask: `dask-scheduler`) on that host, which listens on "
               "tcp://<host>:8786, and at least one worker with `dask worker tcp://<host>:8786` (each worker "
               "needs topokit installed); then pass that tcp://<host>:8786 address. Or leave out --scheduler / "
               "unset TOPOKIT_SCHEDULER to run locally")


def _parse_address(address) -> Tuple[str, Optional[str], Optional[int]]:
    """``(scheme, host, port)`` of a scheduler address; a malformed one is refused with the fix.

    ``tcp://host:port`` and ``tls://host:port`` (IPv6 hosts in brackets) need a host and a port in
    1-65535; ``inproc://...`` (a scheduler in this same process) is passed on as it is.
    """
    fix = "pass the scheduler's address such as tcp://127.0.0.1:8786 (what `dask scheduler` prints)"
    if not isinstance(address, str):
        raise InvalidParameterError(f"the scheduler address must be a string, got {type(address).__name__}; {fix}")
    if address.startswith("inproc://"):
        if len(address.strip()) == len("inproc://"):
            raise InvalidParameterError(
                f"the scheduler address {address!r} names no scheduler; pass the scheduler_address of a cluster "
                "started in this process, or " + fix.removeprefix("pass "))
        return "inproc", None, None
    m = _ADDRESS.match(address)
    if m is None:
        raise InvalidParameterError(
            f"the scheduler address must look like tcp://host:port, tls://host:port or inproc://..., got "
            f"{address!r}; {fix}")
    scheme = m["scheme"].lower()
    if scheme not in ("tcp", "tls"):
        web = (" (a Dask dashboard, often http://host:8787, is a web page, not the scheduler)"
               if scheme in ("http", "https") else "")
        raise InvalidParameterError(
            f"the scheduler address must start with tcp://, tls:// or inproc://, got {address!r}{web}; {fix}")
    if not m["host"]:
        raise InvalidParameterError(f"the scheduler address {address!r} names no host; {fix}")
    if m["port"] is None or not m["port"].isdigit():
        raise InvalidParameterError(
            f"the scheduler address {address!r} needs a port number after the host (a scheduler listens on "
            f"8786 by default); {fix}")
    port = integer(int(m["port"]), f"the port of the scheduler address {address!r}", minimum=1, maximum=65535,
                   fix=fix)
    return scheme, m["host"].strip("[]"), port


def _not_a_scheduler(address: str, timeout: float, why: str) -> "SchedulerError":
    return SchedulerError(f"no Dask scheduler answered at {address} within {timeout:g} s: {why}. {_START_HINT}")


def _recv_exactly(sock: socket.socket, n: int, deadline: float) -> bytes:
    """``n`` bytes from ``sock`` before ``deadline`` (``socket.timeout`` / ``EOFError`` otherwise)."""
    chunks, got = [], 0
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        sock.settimeout(left)
        chunk = sock.recv(min(n - got, 65536))
        if not chunk:
            raise EOFError(got)
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _handshake_frame() -> bytes:
    """Our side of Dask's comm handshake, framed as ``distributed.comm.tcp`` frames it."""
    import msgpack

    body = msgpack.dumps({"compression": None, "python": tuple(sys.version_info)[:3],
                          "pickle-protocol": pickle.HIGHEST_PROTOCOL}, use_bin_type=True)
    prelude = struct.pack("QQ", 1, len(body))
    return struct.pack("Q", len(prelude) + len(body)) + prelude + body


def _probe_tcp(address: str, host: str, port: int, timeout: float, deadline: float) -> None:
    """Check, with a plain socket and nothing allocated on the peer's word, that a Dask server listens.

    A Dask scheduler sends its handshake (an 8-byte length, a frame count and lengths, then a small
    msgpack mapping with ``compression``, ``python`` and ``pickle-protocol``) as soon as a
    connection opens, without waiting for the client. Anything else -- silence (an HTTP server waits
    for a request), other bytes, a length prefix above :data:`_MAX_HANDSHAKE_BYTES`, a closed
    connection, a refused one -- is a :class:`SchedulerError` before ``deadline``. distributed's own
    client is only created after this check, since it trusts the peer's length prefix (a service
    that is not Dask made it try to allocate exabytes) and waits for the handshake without a timeout.
    """
    import msgpack

    try:
        sock = socket.create_connection((host, port), timeout=max(1e-3, deadline - time.monotonic()))
    except ConnectionRefusedError:
        raise _not_a_scheduler(address, timeout, "the connection was refused (nothing listens on that port; if a "
                               "scheduler is starting, wait until it prints 'Scheduler at: tcp://...')") from None
    except socket.gaierror as exc:
        raise _not_a_scheduler(address, timeout, f"the host name {host!r} does not resolve ({exc})") from None
    except (socket.timeout, TimeoutError):
        raise _not_a_scheduler(address, timeout, "the connection could not be opened in time (a firewall, or a "
                               "host that is down)") from None
    except OSError as exc:
        raise _not_a_scheduler(address, timeout, f"the connection failed ({exc})") from None
    with contextlib.closing(sock):
        what, head = "a Dask handshake", b""
        try:
            head = _recv_exactly(sock, 8, deadline)
            (n,) = struct.unpack("Q", head)
            if not 16 <= n <= _MAX_HANDSHAKE_BYTES:
                raise ValueError(f"a length prefix of {n} bytes")
            what = f"all of the {n}-byte handshake it announced"
            packed = _recv_exactly(sock, n, deadline)
            (count,) = struct.unpack_from("Q", packed)
            if not 1 <= count <= 8 or 8 * (1 + count) > n:
                raise ValueError(f"a frame count of {count}")
            lengths = struct.unpack_from(f"{count}Q", packed, 8)
            if sum(lengths) != n - 8 * (1 + count):
                raise ValueError("frame lengths that do not add up")
            start = 8 * (1 + count)
            info = msgpack.loads(packed[start:start + lengths[0]], raw=False, strict_map_key=False)
            if not isinstance(info, dict) or not all(k in info for k in _HANDSHAKE_KEYS):
                raise ValueError("a message that is not a Dask handshake")
        except (socket.timeout, TimeoutError):
            raise _not_a_scheduler(
                address, timeout, f"the peer accepted the connection but did not send {what} (a Dask scheduler sends "
                "one at once; this looks like another service, e.g. a web server or the dashboard port)") from None
        except EOFError:
            raise _not_a_scheduler(address, timeout, f"the peer closed the connection without sending {what} "
                                   "(another service listens there)") from None
        except OSError as exc:
            raise _not_a_scheduler(address, timeout, f"the connection broke while waiting for {what} "
                                   f"({exc})") from None
        except (ValueError, TypeError, struct.error, msgpack.UnpackException) as exc:
            if head.startswith((b"HTTP/", b"<")):
                got = "an HTTP reply (a web server)"
            elif head.startswith(b"SSH-"):
                got = "an SSH banner (an SSH server)"
            elif isinstance(exc, ValueError) and not isinstance(exc, msgpack.UnpackException):
                got = f"{exc} (the first bytes were {head!r})"
            else:
                got = f"bytes that do not decode (the first were {head!r})"
            raise _not_a_scheduler(address, timeout, f"the peer answered with {got}, which a Dask scheduler does "
                                   "not send (another service listens there)") from None
        try:  # complete the handshake, so that the scheduler logs no aborted connection
            sock.settimeout(max(1e-3, deadline - time.monotonic()))
            sock.sendall(_handshake_frame())
        except OSError:
            pass
#: Seconds :func:`connect` and :func:`backend` allow by default for the whole check. Not less:
#: for the version check, each worker imports topokit and torch, which took 8-11 s on a cold,
#: loaded 2-core machine (0.02 s once imported); a peer that is not Dask and stays silent costs
#: this long, every other failure (refused, other bytes, hung up) is reported at once.
DEFAULT_TIMEOUT = 30.0

#: Extra seconds the caller waits past the deadline, so that a step's own timeout message (which
#: names what did not answer) arrives before the generic one.
_GRACE_S = 0.25


def connect(address: str, timeout: float = DEFAULT_TIMEOUT):
    """A ``dask.distributed.Client`` for ``address``, checked before any work is sent.

    One deadline, ``timeout`` seconds from the call, covers everything: opening the connection,
    the scheduler's handshake (checked on a plain socket first, see :func:`_probe_tcp`, so that a
    service that is not Dask can neither hang the call nor make it allocate what its bytes claim),
    creating the client, and asking every worker which topokit it imports.

    Parameters
    ----------
    address : str
        ``tcp://host:port`` (what ``dask scheduler`` prints; port 8786 by default),
        ``tls://host:port``, or ``inproc://...`` for a scheduler in this process.
    timeout : float
        Seconds, > 0, for the whole check (default :data:`DEFAULT_TIMEOUT`, 30 s). Workers import
        topokit (and torch) for the version check, which takes seconds on a cold worker.

    Raises
    ------
    topokit._checks.InvalidParameterError
        When ``address`` or ``timeout`` is malformed (before any connection is tried).
    SchedulerError
        When no Dask scheduler answers at ``address`` before the deadline -- nothing listens, or
        another service (a web server, anything that sends other bytes, stays silent or hangs up)
        does; the message names the address and how to start a scheduler -- when it has no
        workers, when a worker cannot import topokit or imports a different version of its code, or
        when the workers do not all answer in time.
    """
    scheme, host, port = _parse_address(address)
    timeout = real(timeout, "timeout", minimum=0, include_min=False,
                   fix="pass the seconds to wait for the scheduler and its workers, e.g. timeout=10")
    deadline = time.monotonic() + timeout
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - distributed is a dependency
        raise SchedulerError("running on a Dask cluster needs the 'distributed' package: "
                             "pip install distributed") from exc
    step = ["connect"]

    def attempt():
        if scheme == "tcp":
            _probe_tcp(address, host, port, timeout, deadline)
        step[0] = "client"
        left = deadline - time.monotonic()
        if left <= 0:
            raise _not_a_scheduler(address, timeout, "the time ran out before the client could connect")
        try:
            client = Client(address, timeout=f"{left:.3f}s", set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - whatever failed, no usable scheduler answered
            raise _not_a_scheduler(address, timeout, f"{type(exc).__name__}: {str(exc)[:200]}") from None
        step[0] = "workers"
        try:
            _check_workers(client, address)
        except BaseException:
            client.close()
            raise
        return client

    def too_late() -> SchedulerError:
        if step[0] == "workers":
            return SchedulerError(
                f"the workers of the Dask scheduler at {address} did not all answer within {timeout:g} s (each "
                "imports topokit, and with it torch, for the version check: a cold worker can take several "
                "seconds); pass a larger timeout, or check the workers' logs")
        return _not_a_scheduler(address, timeout, "the scheduler did not complete the connection in time"
                                if step[0] == "client" else "nothing completed a connection in time")

    return _before(deadline, attempt, too_late, lambda client: client.close())


def _before(deadline: float, fn: Callable, too_late: Callable[[], BaseException], discard: Callable) -> object:
    """``fn()`` run in a daemon thread, or ``too_late()`` raised once ``deadline`` has passed.

    A result that arrives after the caller gave up is passed to ``discard`` (a late client is
    closed); an exception from ``fn`` is raised in the caller.
    """
    lock = threading.Lock()
    box: dict = {}

    def target():
        try:
            out, err = fn(), None
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            out, err = None, exc
        with lock:
            abandoned = box.get("abandoned", False)
            if not abandoned:
                box["out"], box["err"] = out, err
        if abandoned and err is None:
            with contextlib.suppress(Exception):
                discard(out)

    thread = threading.Thread(target=target, name="topokit-scheduler-check", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()) + _GRACE_S)
    with lock:
        if "out" not in box:
            box["abandoned"] = True
            raise too_late()
    if box["err"] is not None:
        raise box["err"]
    return box["out"]


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
def backend(scheduler: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT) -> Iterator[Optional[object]]:
    """Run joblib work inside this block on a Dask cluster, if one is named; else locally.

    Yields the ``Client`` (or None when running locally). Without a scheduler, joblib's current
    backend is left as it is, so a caller's own ``joblib.parallel_config`` still applies.

    Parameters
    ----------
    scheduler : str, optional
        The scheduler's address (see :func:`connect`); default ``$TOPOKIT_SCHEDULER``, and
        without it the work runs locally.
    timeout : float
        Seconds, > 0, for the whole check of the scheduler and its workers (:func:`connect`).

    Raises
    ------
    topokit._checks.InvalidParameterError
        When ``scheduler`` or ``timeout`` is malformed.
    SchedulerError
        As :func:`connect`, before the block runs.
    """
    timeout = real(timeout, "timeout", minimum=0, include_min=False,
                   fix="pass the seconds to wait for the scheduler and its workers, e.g. timeout=10")
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
