"""layer_betti / layer_diagrams: a small job runs in this process, a large one on joblib workers."""
import joblib
import numpy as np
import pytest

from topokit import models, topology


@pytest.fixture
def recorded_jobs(monkeypatch):
    """Record the n_jobs every joblib Parallel of topology is created with (the work still runs)."""
    seen = []
    real = topology.Parallel

    def spy(*args, **kwargs):
        seen.append(kwargs.get("n_jobs"))
        return real(*args, **kwargs)

    monkeypatch.setattr(topology, "Parallel", spy)
    return seen


def _net_and_points(n=120):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    return models.mlp(2, 6, 2, "relu", seed=0), X, y


def test_small_default_job_runs_serially_with_the_same_numbers(recorded_jobs):
    net, X, y = _net_and_points()
    serial = topology.layer_betti(net, X, y)
    assert recorded_jobs == [1]  # no worker process started for 8 small clouds
    with joblib.parallel_config(backend="threading"):  # threads: no process start in a test
        forced = topology.layer_betti(net, X, y, n_jobs=2)
    assert recorded_jobs == [1, 2]  # an explicit n_jobs is honoured
    assert serial.equals(forced)
    topology.layer_diagrams(net, X, y)
    assert recorded_jobs[-1] == 1


def test_large_or_higher_dimensional_jobs_keep_the_workers():
    clouds = [(0, 0, np.zeros((30_000, 2))), (0, 1, np.zeros((30_001, 2)))]
    assert topology._jobs(-1, clouds, 14, 1, 2) == -1  # over the work limit
    small = [(0, 0, np.zeros((2_000, 2)))]
    assert topology._jobs(-1, small, 14, 1, 2) == 1
    assert topology._jobs(-1, small, 14, 2, 2) == -1  # H2 is costly: workers
    assert topology._jobs(-1, small, 35, 1, 2) == 1 and topology._jobs(-1, small * 10, 35, 1, 2) == -1  # k weighs in
    assert topology._jobs(-1, small * 4, 14, 1, 4) == -1  # 4 hops: 8x the work of 2
    assert topology._jobs(-1, small, 14, 1, np.inf) == -1  # a whole filtration
    assert topology._jobs(3, small, 14, 1, 2) == 3
