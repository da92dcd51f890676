"""The Betti ladder (topokit.studies.ladder) on tiny rungs: tuning, evaluation, caching, verdicts;
and fit's learning-rate warm-up, which the ladder's search space uses."""
import numpy as np
import pandas as pd
import pytest

from topokit import activations, data, models, training
from topokit.studies import ladder


@pytest.fixture
def tiny():
    return ladder.rungs(["D-I-grid", "spirals"], values={"D-I-grid": (2,), "spirals": (1,)}, n=400)


def test_rungs_are_ordered_by_betti_number_and_carry_their_truth():
    full = ladder.rungs()
    assert [r.betti for r in full] == sorted(r.betti for r in full)
    top = {(r.family, r.value): r.betti for r in full}
    assert top["D-I-grid", 13] == 170 and top["checkerboard", 18] == 162 and top["rings", 9] == 162
    assert max(top.values()) >= 150  # the paper's regime is on the ladder
    assert all(r.betti <= 30 for r in ladder.rungs(upto=30))


def test_search_space_holds_the_remedies_and_the_check_member_is_a_collapse_member():
    assert {"width", "depth", "lr", "batch_size", "scale_inputs", "warmup_epochs"} <= set(ladder.SEARCH)
    assert max(ladder.SEARCH["width"]) >= 256 and ladder.SEARCH["depth"][1] >= 8 and max(ladder.SEARCH["warmup_epochs"]) > 0
    check = activations.member_name(*ladder.CHECK_MEMBER)
    assert check in ladder.ACTIVATIONS and {"relu", "leaky_relu", "tanh", "topo"} <= set(ladder.ACTIVATIONS)
    assert ladder.CHECK_MEMBER != (activations.TOPO_PARAMS["w"], activations.TOPO_PARAMS["s"])
    assert not activations.is_injective(*ladder.CHECK_MEMBER)


def test_tiny_ladder_tunes_evaluates_and_a_rerun_tunes_nothing(tiny, tmp_path, monkeypatch):
    check = activations.member_name(*ladder.CHECK_MEMBER)
    kw = dict(activations=("relu", "topo", check), seeds=(0, 1), n_trials=2, max_epochs=8, selection_seeds=(100,),
              cache_dir=tmp_path, progress=False)
    calls = []
    real = ladder._train
    monkeypatch.setattr(ladder, "_train", lambda *a, **k: calls.append(a) or real(*a, **k))
    runs, trials = ladder.ladder(tiny, **kw)
    assert len(runs) == 2 * 3 * 2 and len(trials) == 2 * 3 * 2
    assert set(runs.columns) >= {"family", "rung", "betti", "activation", "seed", "epochs_to_converge", "best_width",
                                 "best_warmup_epochs", "engine", "seconds", "cpu_seconds", "points"}
    assert (runs.cpu_seconds > 0).all() and (trials.cpu_seconds > 0).all()
    assert trials["score"].notna().all() and (trials["runs"] == 1).all()
    assert set(trials.engine) <= {"fast", "exact"} and set(runs.activation) == {"relu", "topo", check}
    # evaluation: the seeds of one recipe trained together, one call per cell
    assert sum(len(a[3]) == 2 for a in calls) == 2 * 3
    # a second run tunes nothing and trains nothing: every trial's and run's result is a cache hit
    assert not runs.cached.any() and not trials.cached.any()
    calls.clear()
    again, again_trials = ladder.ladder(tiny, **kw)
    assert calls == [] and again.cached.all() and again_trials.cached.all()
    pd.testing.assert_frame_equal(runs.drop(columns="cached"), again.drop(columns="cached"))
    pd.testing.assert_frame_equal(trials.drop(columns="cached"), again_trials.drop(columns="cached"))


def test_a_rung_where_nothing_trains_is_reported_not_dropped(tiny, tmp_path):
    runs, _ = ladder.ladder(tiny[:1], activations=("relu", "topo"), seeds=(0, 1), n_trials=1, max_epochs=1,
                            selection_seeds=(100,), cache_dir=tmp_path, progress=False)
    assert not runs["converged"].any()
    table = ladder.summarize(runs, n_trials=1)
    assert len(table) == 1 and table["verdict"].iloc[0] == "not testable: no activation converged within 1 trials x 1 epochs"
    verdicts = ladder.rung_verdicts(table)
    assert len(verdicts) == 1 and verdicts["verdict"].iloc[0].startswith("not testable")
    assert "could not be tested" in ladder.headline(verdicts)
    assert (ladder.shares(runs).converged == 0).all()


def _synthetic(rungs_spec):
    """A runs table with known epochs per rung: (betti, relu epochs, topo epochs or None for censored)."""
    rows = []
    for i, (betti, relu, topo) in enumerate(rungs_spec):
        for s in range(8):
            for a, e in (("relu", relu), ("topo", topo)):
                ep = np.nan if e is None else e + s
                rows.append({"family": "D-I-grid", "rung": i + 2, "betti": betti, "activation": a, "seed": s,
                             "epochs_to_converge": ep, "converged": e is not None, "max_epochs": 1000})
    return pd.DataFrame(rows)


def test_summarize_known_speedup_and_verdicts_per_rung_in_words():
    runs = _synthetic([(5, 400, 200), (10, 300, 300), (50, None, None)])
    table = ladder.summarize(runs, baselines=["relu"], n_boot=200, n_trials=3)
    assert table["ratio"].iloc[0] == pytest.approx(400 / 200, rel=0.03) and table["verdict"].iloc[0] == "reproduced"
    assert table["verdict"].iloc[1] == "not reproduced" and table["verdict"].iloc[2].startswith("not testable")
    verdicts = ladder.rung_verdicts(table)
    assert list(verdicts["Betti number"]) == [5, 10, 50]
    words = ladder.headline(verdicts)
    assert "holds on 1" in words and "fails on 1" in words and "could not be tested" in words and "Betti 50" in words
    fig = ladder.plot_ladder(table, ladder.shares(runs))
    assert len(fig.axes) == 2
    assert ladder._spaced([18, 49, 50, 82]) == [18, 49, 82]  # rungs at Betti 49 and 50 get one tick, not two labels on top


def test_plot_search_draws_one_panel_per_rung_with_the_cap():
    plan = ladder.rungs(["D-I-grid", "spirals"], values={"D-I-grid": (2,), "spirals": (1,)}, n=320)
    trials = pd.DataFrame([{"family": r.family, "rung": r.value, "activation": a, "trial": t, "score": 10.0 * t + i}
                           for r in plan for i, a in enumerate(("relu", "topo")) for t in range(3)])
    fig = ladder.plot_search(trials, plan, max_epochs=40)
    assert len(fig.axes) == 2 and all(len(ax.lines) == 3 for ax in fig.axes)  # two activations and the cap
    assert fig.axes[0].lines[-1].get_ydata()[0] == 40 and "Betti" in fig.axes[1].get_title()
    with pytest.raises(ValueError, match="rungs is empty"):
        ladder.plot_search(trials, [], max_epochs=40)


def test_cost_estimate_scales_with_points_and_budget():
    runs = pd.DataFrame({"family": ["spirals"] * 2, "rung": [1, 1], "epochs_run": [10, 20], "points": [400, 400],
                         "seconds": [1.0, 2.0], "max_epochs": [20, 20]})
    trials = pd.DataFrame({"family": ["spirals"], "rung": [1], "epochs_run": [30], "points": [400], "seconds": [3.0]})
    plan = ladder.rungs(["D-I-grid"], values={"D-I-grid": (2,)}, n=400)
    est = ladder.cost_estimate(runs, trials, plan, n_trials=2, selection_seeds=1, seeds=3, max_epochs=100, activations=2)
    rate = 6.0 / (60 * 400)  # wall seconds: no CPU time recorded
    cpu = ladder.cost_estimate(runs.assign(cpu_seconds=[0.5, 1.0]), trials.assign(cpu_seconds=[1.5]), plan, n_trials=2,
                               selection_seeds=1, seeds=3, max_epochs=100, activations=2)
    assert cpu["upper_hours"].iloc[0] == pytest.approx(est["upper_hours"].iloc[0] / 2)
    assert est["runs"].iloc[0] == 2 * (2 + 3)
    assert est["upper_hours"].iloc[0] == pytest.approx(rate * 400 * 10 * 100 / 3600)
    assert est["expected_hours"].iloc[0] == pytest.approx(est["upper_hours"].iloc[0] * 30 / 40)


def test_engine_choice_follows_warmup():
    assert ladder.engine_for({"warmup_epochs": 0}) == "fast"
    supports = "warmup_epochs" in __import__("inspect").signature(training.fit_ensemble).parameters
    assert ladder.engine_for({"warmup_epochs": 5}) == ("fast" if supports else "exact")


def test_fit_warmup_ramps_the_rate_and_zero_changes_nothing():
    d = data.load("D-I-grid", g=2, n=400)
    kw = dict(max_epochs=4, lr=0.01, batch_size=100, lr_decay=None, stop_at_target=False, seed=0, progress=False)
    plain = training.fit(models.mlp(2, 8, 2, seed=0), d.X, d.y, **kw)
    zero = training.fit(models.mlp(2, 8, 2, seed=0), d.X, d.y, warmup_epochs=0, **kw)
    pd.testing.assert_frame_equal(plain.history.drop(columns="seconds"), zero.history.drop(columns="seconds"))
    seen = []
    warm = training.fit(models.mlp(2, 8, 2, seed=0), d.X, d.y, warmup_epochs=3,
                        callback=lambda e, m, row: seen.append(row["lr"]), **kw)
    # the rate after epoch e (1-based) is the next epoch's: min(1, (e + 1) / 4) of lr
    assert seen == pytest.approx([0.005, 0.0075, 0.01, 0.01]) and warm.params["warmup_epochs"] == 3
    assert not plain.history.loss.equals(warm.history.loss)
    with pytest.raises(ValueError, match=r"warmup_epochs must be an integer"):
        training.fit(models.mlp(2, 8, 2, seed=0), d.X, d.y, warmup_epochs=-1, **kw)
    assert "warmup_epochs" not in training.check_fit_options()  # the sweeps' recipes are unchanged


_one = lambda: ladder.rungs(["spirals"], values={"spirals": (1,)})  # noqa: E731


@pytest.mark.parametrize("call, match", [
    (lambda: ladder.rungs(["D-I-grid"], values={"D-I-grid": (13,)}, n=1000), "fewer than 40 per cell"),
    (lambda: ladder.rungs(["hexagons"]), "family must be one of"),
    (lambda: ladder.rungs(["spirals"], values={"hexagons": (2,)}), "unknown families"),
    (lambda: ladder.rungs([]), "families is empty"),
    (lambda: ladder.tune(_one()[0], "relu", n_trials=0), r"n_trials \(the search budget\) must be an integer in \[1, 10000\]"),
    (lambda: ladder.ladder(_one(), n_trials=0), r"n_trials \(the search budget\) must be an integer in \[1, 10000\]"),
    (lambda: ladder.tune(_one()[0], "swishy"), "activation must be one of"),
    (lambda: ladder.ladder(_one(), activations=("relu", "swishy")), "activation must be one of"),
    (lambda: ladder.ladder(_one(), seeds=(1000,)), "must differ"),
    (lambda: ladder.ladder(_one(), max_epochs=0), "max_epochs must be an integer"),
    (lambda: ladder.ladder(_one(), target=0), "target must be"),
    (lambda: ladder.ladder(_one(), device="tpu"), "device must be one of"),
    (lambda: ladder.ladder([]), "non-empty list of Rung"),
])
def test_bad_input_before_any_training(call, match, monkeypatch):
    monkeypatch.setattr(ladder, "_train", lambda *a, **k: pytest.fail("trained before refusing bad input"))
    with pytest.raises(ValueError, match=match):
        call()


def test_plans_quick_is_tiny_and_full_is_the_whole_ladder_at_ten_seeds():
    quick, full = ladder.plan("quick"), ladder.plan("full")
    assert len(quick.rungs) == 2 and max(r.betti for r in quick.rungs) <= 10 and quick.n_trials <= 3
    assert len(full.rungs) == len(ladder.rungs()) and len(full.seeds) >= 10 and full.device == "auto"
    default = ladder.plan("default")
    assert {r.family for r in default.rungs} == set(ladder.FAMILIES)
    assert not set(default.seeds) & set(default.selection_seeds)
    with pytest.raises(ValueError, match="mode must be one of"):
        ladder.plan("huge")


def test_parallel_ladder_reads_stored_cells_here_and_sends_only_the_rest_to_workers(tiny, tmp_path, monkeypatch):
    import joblib

    kw = dict(seeds=(0, 1), n_trials=1, max_epochs=3, selection_seeds=(100,), cache_dir=tmp_path, progress=False)
    first, _ = ladder.ladder(tiny[:1], ("relu",), **kw)
    calls = []
    real = ladder._train
    monkeypatch.setattr(ladder, "_train", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    with joblib.parallel_config(backend="threading"):  # workers that see the patched _train
        runs, trials = ladder.ladder(tiny[:1], ("relu", "topo"), n_jobs=2, **kw)
    assert calls and set(calls) == {"topo"}  # the stored relu cell was not sent to a worker
    assert list(runs.activation.unique()) == ["relu", "topo"] and runs[runs.activation == "relu"].cached.all()
    pd.testing.assert_frame_equal(first.drop(columns="cached"),
                                  runs[runs.activation == "relu"].drop(columns="cached").reset_index(drop=True))
    assert not ladder._CACHE_ONLY[0]
