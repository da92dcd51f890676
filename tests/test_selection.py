"""Selection of the topological activation and the comparison table, on tiny cases."""
import math

import numpy as np
import pandas as pd
import pytest

from topokit import selection, sweeps

TINY = [("checkerboard", {"c": 2, "size": 0.3, "max_epochs": 15})]


def test_select_topo_on_a_tiny_case(tmp_path):
    sel = selection.select_topo([(0.0, 0.0), (0.0, -0.5), (0.0, 0.1)], TINY, range(2), baselines=("tanh",),
                                factors=(1.0,), topology_seeds=range(1), max_points=40, cache_dir=tmp_path,
                                progress=False)
    assert set(sel.table.activation) == {"relu", "collapse_w0_sm0.5", "collapse_w0_s0.1"}
    assert {"w", "s", "speedup", "omega_ratio", "eligible", "lr_factor", "converged_rate"} <= set(sel.table.columns)
    relu = sel.table[sel.table.activation == "relu"].iloc[0]
    assert relu.speedup == pytest.approx(1.0) and not relu.eligible          # an existing entry is never chosen
    assert not sel.table[sel.table.activation == "collapse_w0_s0.1"].eligible.iloc[0]  # injective
    assert sel.winner == (0.0, -0.5)                                          # the only new non-injective member
    assert set(sel.lr_factors) == {"relu", "collapse_w0_sm0.5", "collapse_w0_s0.1", "tanh"}
    assert ((sel.topology.omega_ratio >= 0) & (sel.topology.omega_ratio <= 5)).all()
    with pytest.raises(ValueError, match="must contain ReLU"):
        selection.select_topo([(0.0, -0.5)], TINY, range(1), cache_dir=tmp_path)


def test_scaled_lr_multiplies_the_recipe_rate():
    (name, params), = selection.scaled_lr(["D-I-grid"], 3.0)
    assert name == "D-I-grid" and params["lr"] == pytest.approx(3.0 * sweeps.recipe("D-I-grid").fit_params["lr"])
    with pytest.raises(ValueError, match="lr factor must be positive"):
        selection.scaled_lr(["D-I"], 0)


def test_omega_ratio_known_answer():
    rows = []
    for layer, omega in enumerate([10, 5, 1]):
        for label in (0, 1):
            rows.append({"activation": "a", "dataset": "d", "seed": 0, "layer": layer, "label": label, "dim": 0,
                         "betti": omega, "omega": omega, "converged": True, "epochs_to_converge": 7.0})
    out = selection.omega_ratio(pd.DataFrame(rows))
    assert out.omega_ratio.iloc[0] == pytest.approx((0.5 + 0.1) / 2) and out.collapse_layer.iloc[0] == 2
    with pytest.raises(ValueError, match="lacks columns"):
        selection.omega_ratio(pd.DataFrame({"layer": [0]}))


def _runs(base, cand, cap=100):
    rows = []
    for act, eps in (("relu", base), ("topo", cand)):
        for seed, e in enumerate(eps):
            rows.append({"activation": act, "dataset": "d", "seed": seed, "max_epochs": cap, "seconds": 1.0,
                         "test_accuracy": 0.9, "epochs_to_converge": e})
    return pd.DataFrame(rows)


def test_compare_half_the_epochs_is_a_speedup_of_two():
    base = [40, 50, 60, 70, 80, 90, 44, 52, 66, 78]
    out = selection.compare(_runs(base, [e / 2 for e in base]), baselines=["relu"], n_boot=300)
    assert out.speedup.iloc[0] == pytest.approx(2.0) and out.prob_improvement.iloc[0] > 0.9
    assert out.verdict.iloc[0] == "reproduced"
    same = selection.compare(_runs(base, base), baselines=["relu"], n_boot=300)
    assert same.speedup.iloc[0] == pytest.approx(1.0) and same.low.iloc[0] <= 1 <= same.high.iloc[0]
    assert same.verdict.iloc[0] == "not reproduced"


def test_compare_keeps_censored_runs():
    base = [math.nan] * 6 + [50, 60, 70, 80]          # six ReLU runs censored at the cap
    out = selection.compare(_runs(base, [30] * 10), baselines=["relu"], n_boot=300)
    assert out.censored_baseline.iloc[0] == 6 and out.censored_candidate.iloc[0] == 0
    assert np.isinf(out.speedup.iloc[0]) or out.speedup.iloc[0] > 3


def test_km_curves_table():
    curves = selection.km_curves(_runs([10, 20, math.nan], [5, 10, 15]))
    assert {"dataset", "group", "epoch", "reached"} <= set(curves.columns)
    assert curves[curves.group == "topo"].reached.max() == pytest.approx(1.0)


def test_comparison_plots_draw_and_validate():
    import matplotlib

    matplotlib.use("Agg")
    from topokit import plotting

    runs = _runs([40, 50, math.nan], [20, 25, 30])
    assert plotting.plot_km_curves(selection.km_curves(runs)).axes
    cmp = selection.compare(runs, baselines=["relu"], n_boot=100)
    assert plotting.plot_speedup_forest(cmp).axes
    table = pd.DataFrame({"w": [0.0, 0.1], "s": [0.0, -0.5], "speedup": [1.0, 1.6], "omega_ratio": [0.4, 0.3],
                          "eligible": [False, True]})
    assert plotting.plot_selection_tradeoff(table, winner=(0.1, -0.5)).axes
    assert plotting.plot_activation_family([(0, 0), (0.1, -0.5)], highlight=(0.1, -0.5)).axes
    assert plotting.plot_rank_scatter(pd.DataFrame({"a": [1, 2], "b": [3, 4], "activation": ["relu", "topo"]}),
                                      "a", "b").axes
    with pytest.raises(ValueError, match="needs columns"):
        plotting.plot_speedup_forest(pd.DataFrame({"dataset": ["d"]}))
    with pytest.raises(ValueError, match="members is empty"):
        plotting.plot_activation_family([])
    frames = {"m": {"points": np.zeros((4, 2)), "y": np.array([0, 0, 1, 1]), "betti": "b", "title": "t"}}
    assert plotting.family_explorer(frames).children
