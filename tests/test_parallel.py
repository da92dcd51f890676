"""Parallel work on a Dask cluster: runs there, same results, clear errors before any work."""
import os
import time

import pandas as pd
import pytest
from joblib import Parallel, delayed

from topokit import parallel


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
