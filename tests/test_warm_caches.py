"""A warm rerun computes nothing twice: the Betti ladder's bootstraps and rung sizes are cached.

Counted as calls of the computing function (monkeypatched), never as seconds.
"""
import numpy as np
import pandas as pd
import pytest

from topokit.studies import ladder


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TOPOKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _runs(topo_epochs=200, topo_converges=True):
    rows = []
    for rung, betti, relu in ((2, 4, 400), (3, 9, 300)):
        for s in range(6):
            for a, e in (("relu", relu), ("topo", topo_epochs if topo_converges or rung == 2 else None)):
                rows.append({"family": "D-I-grid", "rung": rung, "betti": betti, "activation": a, "seed": s,
                             "epochs_to_converge": np.nan if e is None else e + s, "converged": e is not None,
                             "max_epochs": 1000})
    return pd.DataFrame(rows)


def test_summarize_bootstraps_once_per_runs_table(fresh_cache, monkeypatch):
    calls = []
    real = ladder._stats.speedup
    monkeypatch.setattr(ladder._stats, "speedup", lambda *a, **k: calls.append(1) or real(*a, **k))
    runs = _runs(topo_converges=False)  # rung 3: topo never converges, so its ratio is 0 (KM median beyond the cap)
    first = ladder.summarize(runs, baselines=["relu"], n_boot=100)
    assert len(calls) == 2
    second = ladder.summarize(runs, baselines=["relu"], n_boot=100)
    assert len(calls) == 2, "a warm summarize bootstrapped again"
    pd.testing.assert_frame_equal(first, second)
    assert first["verdict"].iloc[0] == "reproduced"
    # the bootstraps' inputs changed: computed afresh
    ladder.summarize(runs, baselines=["relu"], n_boot=200)
    changed = runs.copy()
    changed.loc[0, "epochs_to_converge"] = 950
    ladder.summarize(changed, baselines=["relu"], n_boot=100)
    assert len(calls) == 6


def test_summary_keeps_infinite_and_missing_values(fresh_cache):
    runs = _runs()
    relu = runs.activation == "relu"
    runs.loc[relu, "epochs_to_converge"] = np.nan  # relu never converges: the speed-up is infinite
    runs.loc[relu, "converged"] = False
    runs.loc[(runs.rung == 3) & ~relu, "converged"] = False  # and on rung 3 nothing does: not testable, NaN
    runs.loc[(runs.rung == 3) & ~relu, "epochs_to_converge"] = np.nan
    first = ladder.summarize(runs, baselines=["relu"], n_boot=50)
    second = ladder.summarize(runs, baselines=["relu"], n_boot=50)
    pd.testing.assert_frame_equal(first, second)
    assert np.isinf(second["ratio"].iloc[0]) and np.isnan(second["ratio"].iloc[1])
    assert second["verdict"].iloc[1].startswith("not testable")


def test_cost_estimate_counts_each_rungs_points_once(fresh_cache, monkeypatch):
    loads = []
    real = ladder._data.load
    monkeypatch.setattr(ladder._data, "load", lambda *a, **k: loads.append(a) or real(*a, **k))
    runs = pd.DataFrame({"family": ["spirals"] * 2, "rung": [1, 1], "epochs_run": [10, 20], "points": [400, 400],
                         "seconds": [1.0, 2.0], "max_epochs": [20, 20]})
    trials = pd.DataFrame({"family": ["spirals"], "rung": [1], "epochs_run": [30], "points": [400], "seconds": [3.0]})
    plan = ladder.rungs(["D-I-grid"], values={"D-I-grid": (2, 3)}, n=800)
    kw = dict(n_trials=2, selection_seeds=1, seeds=3, max_epochs=100, activations=2)
    loads.clear()  # rungs() may generate data to check its sizes; count cost_estimate's own
    first = ladder.cost_estimate(runs, trials, plan, **kw)
    assert len(loads) == 2
    second = ladder.cost_estimate(runs, trials, plan, **kw)
    assert len(loads) == 2, "the rungs' data were generated again"
    pd.testing.assert_frame_equal(first, second)
    assert list(second["points"]) == [len(r.load().y) for r in plan]
