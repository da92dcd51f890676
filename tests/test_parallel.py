"""Parallel work on a Dask cluster: runs there, same results, clear errors before any work."""
import contextlib
import http.server
import math
import os
import re
import socket
import threading
import time

import pandas as pd
import pytest
from joblib import Parallel, delayed

from topokit import parallel
from topokit._checks import InvalidParameterError


def _square_and_pid(x):
    return x * x, os.getpid()


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def test_joblib_work_runs_on_the_cluster_workers(cluster):
    with parallel.backend(cluster.scheduler_address) as client:
        assert client is not None
        out = Parallel(n_jobs=-1)(delayed(_square_and_pid)(i) for i in range(6))
        worker_pids = set(client.run(os.getpid).values())
    assert [v for v, _ in out] == [0, 1, 4, 9, 16, 25]
    assert {pid for _, pid in out} <= worker_pids and os.getpid() not in worker_pids


def test_no_scheduler_means_local(monkeypatch):
    monkeypatch.delenv("TOPOKIT_SCHEDULER", raising=False)
    with parallel.backend() as client:
        assert client is None
    monkeypatch.setenv("TOPOKIT_SCHEDULER", " tcp://h:1 ")
    assert parallel.scheduler_address() == "tcp://h:1"


def test_unreachable_scheduler_is_a_quick_clear_error():
    t = time.perf_counter()
    with pytest.raises(parallel.SchedulerError, match=r"no Dask scheduler answered at tcp://127.0.0.1:9 .*dask scheduler"):
        with parallel.backend("tcp://127.0.0.1:9", timeout=2):
            pytest.fail("the block must not run")
    assert time.perf_counter() - t < 10


class _FakeClient:
    def __init__(self, versions):
        self.versions = versions

    def run(self, fn):
        return self.versions


def test_workers_without_topokit_or_with_other_code_are_named():
    ours = parallel._code_version()
    parallel._check_workers(_FakeClient({"w1": ours, "w2": ours}), "tcp://x:1")  # all good: no error
    with pytest.raises(parallel.SchedulerError, match="cannot import topokit: w2; run a different version.*: w3"):
        parallel._check_workers(_FakeClient({"w1": ours, "w2": None, "w3": "0123"}), "tcp://x:1")
    with pytest.raises(parallel.SchedulerError, match="no workers"):
        parallel._check_workers(_FakeClient({}), "tcp://x:1")


def test_reproduce_checks_the_scheduler_before_running_anything(tmp_path, capsys):
    from topokit.__main__ import main

    books = tmp_path / "nbs"
    books.mkdir()
    assert main(["reproduce", "--only", "00", "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "no Dask scheduler answered at tcp://127.0.0.1:9" in err


def test_sweep_on_the_cluster_gives_the_local_table(cluster, tmp_path, monkeypatch):
    from topokit import sweeps

    tiny = ("D-I", dict(n=300, width=12, depth=3, lr=0.03, max_epochs=120, target_accuracy=0.9))
    local = sweeps.sweep(["relu", "tanh"], [tiny], [0, 1], cache_dir=tmp_path / "local", progress=False)
    monkeypatch.setenv("TOPOKIT_SCHEDULER", cluster.scheduler_address)
    from distributed import Client

    with Client(cluster.scheduler_address, set_as_default=False) as watcher:
        before = sum(len(v) for v in watcher.run(lambda dask_worker: list(dask_worker.state.log)).values())
        remote = sweeps.sweep(["relu", "tanh"], [tiny], [0, 1], cache_dir=tmp_path / "remote", progress=False)
        after = sum(len(v) for v in watcher.run(lambda dask_worker: list(dask_worker.state.log)).values())
    assert after > before  # the workers really ran tasks
    cols = ["activation", "seed", "epochs_to_converge", "converged", "epochs_run", "train_accuracy", "test_accuracy"]
    pd.testing.assert_frame_equal(remote[cols], local[cols])


# ----------------------------------------------------------------------------- services that are not Dask

_DEADLINE = 1.0  # seconds given to connect; a silent peer costs this long
_SLACK = 1.0  # allowed on top: thread start, the grace period, a loaded machine


@contextlib.contextmanager
def _listener(behaviour):
    """A TCP server on 127.0.0.1 that, per connection, stays silent, sends ``bytes`` then stays, or hangs up."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.05)
    stop, conns = threading.Event(), []

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            if behaviour == "close":
                conn.close()
                continue
            if isinstance(behaviour, bytes):
                conn.sendall(behaviour)
            conns.append(conn)  # kept open, silent, until the test ends

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for c in conns:
            c.close()
        srv.close()


@contextlib.contextmanager
def _web_server():
    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@contextlib.contextmanager
def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    yield f"tcp://127.0.0.1:{port}"


@contextlib.contextmanager
def _closed_tls_port():
    with _closed_port() as address:
        yield address.replace("tcp://", "tls://")


def _handshake_like(body: bytes) -> bytes:
    import struct

    prelude = struct.pack("QQ", 1, len(body))
    return struct.pack("Q", len(prelude) + len(body)) + prelude + body


_PEERS = {
    "http server": (_web_server, (), r"did not send a Dask handshake"),
    "silent listener": (_listener, ("silent",), r"did not send a Dask handshake"),
    "garbage bytes": (_listener, (b"\xff" * 8,), r"length prefix of 18446744073709551615 bytes"),
    "exabyte length prefix": (_listener, ((3 << 60).to_bytes(8, "little"),), r"length prefix of \d+ bytes"),
    "http reply first": (_listener, (b"HTTP/1.1 400 Bad Request\r\n\r\n",), r"an HTTP reply"),
    "truncated handshake": (_listener, (_handshake_like(b"\x80" * 40)[:30],), r"all of the 56-byte handshake"),
    "other message": (_listener, (_handshake_like(b"\xa5hello"),), r"not a Dask handshake"),
    "immediate close": (_listener, ("close",), r"closed the connection"),
    "closed port": (_closed_port, (), r"connection was refused"),
    "closed port, tls": (_closed_tls_port, (), r"did not complete the connection in time|TLS"),
}


@pytest.mark.parametrize("peer", list(_PEERS))
def test_a_peer_that_is_not_dask_is_a_clear_error_within_the_deadline(peer):
    make, args, why = _PEERS[peer]
    with make(*args) as address:
        t = time.perf_counter()
        with pytest.raises(parallel.SchedulerError) as info:
            with parallel.backend(address, timeout=_DEADLINE):
                pytest.fail("the block must not run")
        elapsed = time.perf_counter() - t
    msg = str(info.value)
    assert msg.startswith(f"no Dask scheduler answered at {address} within 1 s: ")
    assert re.search(why, msg), msg
    assert "`dask scheduler`" in msg and "`dask-scheduler`" in msg and "tcp://<host>:8786" in msg
    assert elapsed < _DEADLINE + _SLACK, f"{peer}: {elapsed:.2f} s"


@pytest.mark.parametrize("address, why", [
    ("http://127.0.0.1:8787", "must start with tcp://, tls:// or inproc://.*dashboard"),
    ("127.0.0.1:8786", "must look like tcp://host:port"),
    ("tcp://127.0.0.1", "needs a port number"),
    ("tcp://127.0.0.1:abc", "needs a port number"),
    ("tcp://:8786", "names no host"),
    ("tcp://127.0.0.1:0", r"in \[1, 65535\]"),
    ("tcp://127.0.0.1:70000", r"in \[1, 65535\]"),
    ("inproc://", "names no scheduler"),
])
def test_a_malformed_address_is_refused_before_connecting(address, why):
    t = time.perf_counter()
    with pytest.raises(InvalidParameterError, match=why):
        parallel.connect(address, timeout=30)
    assert time.perf_counter() - t < 0.5


def test_address_parts():
    assert parallel._parse_address("tcp://10.0.0.5:8786") == ("tcp", "10.0.0.5", 8786)
    assert parallel._parse_address("TLS://sched.example.org:443/") == ("tls", "sched.example.org", 443)
    assert parallel._parse_address("tcp://[::1]:8786") == ("tcp", "::1", 8786)
    assert parallel._parse_address("inproc://10.0.0.5/123/4") == ("inproc", None, None)
    with pytest.raises(InvalidParameterError, match="must be a string"):
        parallel._parse_address(8786)


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf, "5", True, None])
def test_a_bad_timeout_is_refused_up_front(timeout, monkeypatch):
    monkeypatch.delenv("TOPOKIT_SCHEDULER", raising=False)
    with pytest.raises(InvalidParameterError, match="timeout must be"):
        parallel.connect("tcp://127.0.0.1:9", timeout=timeout)
    with pytest.raises(InvalidParameterError, match="timeout must be"):
        with parallel.backend(None, timeout=timeout):
            pytest.fail("the block must not run")


def test_a_result_that_comes_after_the_deadline_is_discarded():
    release, discarded = threading.Event(), []

    def slow():
        release.wait(5)
        return "late client"

    t = time.perf_counter()
    with pytest.raises(parallel.SchedulerError, match="too late"):
        parallel._before(time.monotonic() + 0.1, slow, lambda: parallel.SchedulerError("too late"),
                         discarded.append)
    assert time.perf_counter() - t < 0.1 + parallel._GRACE_S + 0.5
    release.set()
    for _ in range(100):  # the thread finishes at once; bounded wait
        if discarded:
            break
        time.sleep(0.02)
    assert discarded == ["late client"]
    with pytest.raises(KeyError):  # an error inside is raised in the caller
        parallel._before(time.monotonic() + 5, lambda: {}["x"], lambda: AssertionError(), discarded.append)


def test_workers_that_do_not_answer_in_time_are_named(cluster, monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(parallel, "_check_workers", lambda client, address: release.wait(5))
    t = time.perf_counter()
    try:
        with pytest.raises(parallel.SchedulerError, match="workers of the Dask scheduler at .* did not all answer "
                                                          "within 1.5 s.*larger timeout"):
            parallel.connect(cluster.scheduler_address, timeout=1.5)
    finally:
        release.set()
    assert time.perf_counter() - t < 1.5 + _SLACK
