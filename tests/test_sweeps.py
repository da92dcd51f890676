"""Sweeps: recipes, the run table, the per-run cache (reuse, resume, corruption), equality with
plain fit, batched ensembles, topology of the trained nets, and bad input before any training."""
import json
import os
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch

from topokit import data, models, sweeps, topology, training
from topokit.cache import CacheWarning

# A tiny D-I configuration in which some seeds reach the target within the cap and others do
# not (measured: seeds 0 and 3 converge at 96 and 111 epochs, seeds 1 and 2 are censored).
TINY = dict(n=300, width=12, depth=3, lr=0.03, max_epochs=120, target_accuracy=0.9)
TINY_DATA = ("D-I", TINY)
SEEDS = [0, 1, 2, 3]


def plain_fit(activation, seed, **overrides):
    """The sweep contract spelled out: the recipe's net and data, fit with its options."""
    r = sweeps.recipe("D-I", **{**TINY, **overrides})
    d = data.load("D-I", "train", seed=r.data_seed, **r.data_params)
    net = models.mlp(**r.net_params, activation=activation, seed=seed)
    return training.fit(net, d.X, d.y, seed=seed, progress=False, **r.fit_params)


class Counter:
    """Wraps fit and fit_ensemble to count the runs they train (and optionally fail)."""

    def __init__(self, monkeypatch, fail_after=None):
        self.runs, self.fail_after = 0, fail_after
        real_fit, real_ensemble = training.fit, training.fit_ensemble

        def fit(*args, **kwargs):
            if self.fail_after is not None and self.runs >= self.fail_after:
                raise KeyboardInterrupt("simulated interruption")
            self.runs += 1
            return real_fit(*args, **kwargs)

        def fit_ensemble(nets, *args, **kwargs):
            self.runs += len(nets)
            return real_ensemble(nets, *args, **kwargs)

        monkeypatch.setattr(training, "fit", fit)
        monkeypatch.setattr(training, "fit_ensemble", fit_ensemble)


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    """One tiny sweep, trained once for the tests below: (cache folder, table)."""
    folder = tmp_path_factory.mktemp("sweep-cache")
    table = sweeps.sweep(["relu", "tanh"], [TINY_DATA], SEEDS, cache_dir=folder, progress=False,
                         keep_models=True)
    return folder, table


# ----------------------------------------------------------------------------- recipes


def test_recipes_are_documented_and_overridable():
    for name in ("D-I", "D-II", "D-III", "D-I-grid", "checkerboard", "fashion-mnist", "cifar10", "cats-vs-dogs"):
        r = sweeps.RECIPES[name]
        assert r.dataset == name and r.notes and set(r.fit_params) == set(sweeps.FIT_OPTIONS)
        assert r.provisional == ("PROVISIONAL" in r.notes)
    d1 = sweeps.recipe("d1")
    assert d1.label == "mlp 2-15x9-2" and not d1.provisional
    assert d1.fit_params == dict(max_epochs=2500, lr=0.01, batch_size=None, lr_decay=0.5, decay_steps=2500,
                                 weight_decay=0.0, target_accuracy=1.0)
    r = sweeps.recipe("D-I", lr=0.005, width=25, size=0.5, ladder=[1.0, 0.9], data_seed=3)
    assert (r.fit_params["lr"], r.net_params["width"], r.data_params, r.ladder, r.data_seed) == \
        (0.005, 25, {"size": 0.5}, (0.9, 1.0), 3)  # a relative size replaces the recipe's n = 2000
    assert sweeps.recipe("D-I").data_params == {"n": 2000}
    assert len(sweeps.recipe("D-I", size=0.1).load("train").X) == 780
    assert sweeps.recipe("fashion-mnist", channels=[4, 8]).net_params["channels"] == (4, 8)
    assert sweeps.RECIPES["D-I"].fit_params["lr"] == 0.01  # the registry itself is untouched
    assert sweeps.ladder_column(0.9) == "epochs_to_0.90" and sweeps.ladder_column(0.995) == "epochs_to_0.995"


@pytest.mark.parametrize("call, match", [
    (lambda: sweeps.recipe("D-IV"), r"unknown dataset 'D-IV'; choose one of: D-I, D-II"),
    (lambda: sweeps.recipe("D-I", colour="red"), r"unknown option 'colour'.*accepts net parameters"),
    (lambda: sweeps.recipe("D-I", channels=(4,)), r"unknown option 'channels'"),
    (lambda: sweeps.recipe("D-I", max_epochs=0), r"max_epochs \(the epoch cap\) must be an integer in \[1, 1000000\]"),
    (lambda: sweeps.recipe("D-I", target_accuracy=1.5), r"target_accuracy must be a finite number in \(0, 1\]"),
    (lambda: sweeps.recipe("D-I", ladder=[0.9, 0]), r"ladder accuracy must be a finite number in \(0, 1\]"),
    (lambda: sweeps.recipe("D-I", lr=-1), r"lr must be a finite number > 0"),
])
def test_recipe_bad_values(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- the table


def test_sweep_table(cached):
    _, table = cached
    assert len(table) == 8
    expected = ["activation", "dataset", "seed", "epochs_to_converge", "converged", "epochs_run", "train_accuracy",
                "test_accuracy", "seconds", "diverged", "epochs_to_0.90", "epochs_to_1.00", "net", "lr", "max_epochs",
                "batch_size", "target_accuracy", "data_params", "data_seed", "trainer", "config_id"]
    assert set(expected) <= set(table.columns)
    assert table[["activation", "seed"]].values.tolist() == [[a, s] for a in ("relu", "tanh") for s in SEEDS]
    assert (table.net == "mlp 2-12x3-2").all() and (table.trainer == "fit_ensemble").all()
    assert (table.engine == "fast").all()  # the default engine of sweeps
    assert table.config_id.nunique() == 1 and json.loads(table.data_params[0]) == {"n": 300}
    conv, cens = table[table.converged], table[~table.converged]
    assert len(conv) and len(cens), "the tiny configuration should hold converged and censored runs"
    assert (conv.epochs_to_converge == conv.epochs_run).all() and (conv.train_accuracy >= 0.9).all()
    assert cens.epochs_to_converge.isna().all() and (cens.epochs_run == 120).all()
    assert (conv["epochs_to_0.90"] == conv.epochs_to_converge).all() and table["epochs_to_1.00"].isna().all()
    assert table.test_accuracy.between(0, 1).all() and (table.seconds > 0).all()


def test_sweep_equals_plain_fit(cached, monkeypatch):
    """The contract: with engine="exact", same configuration and seed, same epochs_to_converge as fit."""
    folder, _ = cached
    table = sweeps.sweep("relu", [TINY_DATA], SEEDS, cache_dir=folder, progress=False, engine="exact")
    assert (table.engine == "exact").all()
    relu = table.set_index("seed")
    for seed in SEEDS:
        ref = plain_fit("relu", seed)
        assert relu.loc[seed, "epochs_run"] == len(ref.history)
        assert relu.loc[seed, "train_accuracy"] == ref.final_train_accuracy
        e = relu.loc[seed, "epochs_to_converge"]
        assert (np.isnan(e) and ref.epochs_to_converge is None) or e == ref.epochs_to_converge
    one_by_one = sweeps.sweep("relu", [TINY_DATA], [0, 3], cache_dir=folder, progress=False, ensemble=False)
    assert (one_by_one.trainer == "fit").all()
    np.testing.assert_array_equal(one_by_one.epochs_to_converge, relu.loc[[0, 3], "epochs_to_converge"])


def test_rerun_and_larger_sweep_reuse_the_cache(cached, monkeypatch):
    folder, table = cached
    counter = Counter(monkeypatch)
    again = sweeps.sweep(["relu", "tanh"], [TINY_DATA], SEEDS, cache_dir=folder, progress=False, keep_models=True)
    assert counter.runs == 0
    pd.testing.assert_frame_equal(again, table)
    bigger = sweeps.sweep(["relu"], [TINY_DATA], SEEDS + [4], cache_dir=folder, progress=False)
    assert counter.runs == 1 and len(bigger) == 5  # only seed 4 trained
    # a changed option is a different run; a dataset's own overrides win over sweep-wide options
    sweeps.sweep(["relu"], [TINY_DATA], [0], cache_dir=folder, progress=False, lr=0.02)
    assert counter.runs == 1
    sweeps.sweep(["relu"], [("D-I", {**TINY, "lr": 0.02})], [0], cache_dir=folder, progress=False)
    assert counter.runs == 2


def test_interrupted_sweep_resumes(tmp_path, monkeypatch):
    counter = Counter(monkeypatch, fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        sweeps.sweep("relu", [TINY_DATA], SEEDS, cache_dir=tmp_path, progress=False, ensemble=False)
    assert counter.runs == 2  # two runs finished and were stored before the interruption
    counter.fail_after = None
    table = sweeps.sweep("relu", [TINY_DATA], SEEDS, cache_dir=tmp_path, progress=False, ensemble=False)
    assert counter.runs == 4 and len(table) == 4  # the resumed sweep trained only the other two


def test_corrupt_entry_is_recomputed(tmp_path, monkeypatch):
    first = sweeps.sweep("relu", [TINY_DATA], [0, 3], cache_dir=tmp_path, progress=False)
    payloads = sorted((tmp_path / "sweep-run").glob("*/value.json"))
    assert len(payloads) == 2
    payloads[0].write_text(payloads[0].read_text()[:40])  # truncated
    counter = Counter(monkeypatch)
    pd.testing.assert_frame_equal(sweeps.sweep("relu", [TINY_DATA], [0, 3], cache_dir=tmp_path, progress=False), first)
    assert counter.runs == 0  # the stored table is read: no run entry is opened
    import shutil
    shutil.rmtree(tmp_path / "sweep-table")  # the table must be rebuilt from its runs: the corrupt one is retrained
    with pytest.warns(CacheWarning, match="unreadable"):
        again = sweeps.sweep("relu", [TINY_DATA], [0, 3], cache_dir=tmp_path, progress=False)
    assert counter.runs == 1
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), first.drop(columns="seconds"))


def test_joblib_backend_context_is_used(tmp_path, monkeypatch):
    """No backend is hard-coded: the active joblib context (here threads) runs the tasks."""
    import threading

    where, real = [], sweeps._timed_task

    def recording(*args):
        where.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(sweeps, "_timed_task", recording)
    with joblib.parallel_backend("threading", n_jobs=2):
        table = sweeps.sweep("relu", [TINY_DATA], [0, 3], cache_dir=tmp_path, progress=False, ensemble=False)
    assert len(table) == 2 and len(where) == 2 and "MainThread" not in where


def test_an_ensemble_cell_spreads_over_idle_workers_without_changing_a_run(cached, tmp_path, monkeypatch):
    """One cell and two workers: two tasks of two seeds each, and every run as the one-task sweep trained it."""
    _, table = cached
    seeds_per_task, real = [], sweeps._timed_task

    def recording(r, act, seeds, *args):
        seeds_per_task.append(list(seeds))
        return real(r, act, seeds, *args)

    monkeypatch.setattr(sweeps, "_timed_task", recording)
    with joblib.parallel_backend("threading", n_jobs=2):
        split = sweeps.sweep("relu", [TINY_DATA], SEEDS, cache_dir=tmp_path, progress=False)
    assert sorted(seeds_per_task) == [[0, 1], [2, 3]]
    one = table[table.activation == "relu"].reset_index(drop=True)
    pd.testing.assert_frame_equal(split.drop(columns="seconds"), one.drop(columns="seconds"))


def test_ensemble_tasks_fill_the_workers_on_the_cpu_only():
    r = sweeps.recipe("D-I", **TINY)
    runs = [[r, "relu", s, "fit_ensemble:fast", "cpu", f"k{s}", None] for s in range(5)]
    runs += [[r, "tanh", s, "fit_ensemble:exact", "cuda", f"t{s}", None] for s in range(3)]
    runs += [[r, "relu", s, "fit", "cpu", f"f{s}", None] for s in range(2)]
    missing = {(0, "relu"): [0, 1, 2, 3, 4], (0, "tanh"): [5, 6, 7], (1, "relu"): [8, 9]}
    groups = lambda workers: [g for g, _, _ in sweeps._tasks(missing, runs, [r, r], workers)]  # noqa: E731
    assert groups(1) == [[0, 1, 2, 3, 4], [5, 6, 7], [8], [9]]  # one worker: one task per ensemble cell
    assert groups(4) == [[0, 1, 2], [3, 4], [5, 6, 7], [8], [9]]  # 2 ensemble cells, 4 workers: 2 parts; not on a GPU
    assert groups(64)[:5] == [[0], [1], [2], [3], [4]]  # never more parts than runs


def test_histories_models_and_topology(cached, monkeypatch):
    folder, table = cached
    counter = Counter(monkeypatch)
    hist = sweeps.sweep_histories(["relu"], [TINY_DATA], [0], cache_dir=folder, progress=False)
    assert len(hist) == table.epochs_run[0] and hist.epoch.tolist()[:2] == [1, 2]
    net = sweeps.load_model("relu", TINY_DATA, 0, cache_dir=folder, progress=False)
    d = data.load("D-I", n=300)
    assert training.accuracy(net, d.X, d.y) == pytest.approx(table.train_accuracy[0], abs=1e-6)
    topo = sweeps.sweep_topology(["relu"], [TINY_DATA], [0, 1], cache_dir=folder, progress=False, k=8)
    assert counter.runs == 0  # models came from the cache
    assert {"activation", "seed", "converged", "layer", "label", "dim", "betti", "omega"} <= set(topo.columns)
    assert topo.layer.max() == 4 and set(topo.label) == {0, 1}
    hom = data.load("D-I", "homology", n=300)
    direct = topology.layer_betti(net, hom.X, hom.y, k=8, n_jobs=1)
    mine = topo[topo.seed == 0][direct.columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, direct)


# ----------------------------------------------------------------------------- ensembles


@pytest.mark.parametrize("batch_size", [None, 64])
def test_fit_ensemble_is_bitwise_fit(batch_size):
    d = data.load("D-I", n=300)
    seeds = [0, 1, 3]
    opts = dict(lr=0.03, max_epochs=30 if batch_size else 120, target_accuracy=0.9, batch_size=batch_size,
                progress=False)
    refs = [training.fit(models.mlp(2, 12, 3, seed=s), d.X, d.y, seed=s, **opts) for s in seeds]
    ens = training.fit_ensemble([models.mlp(2, 12, 3, seed=s) for s in seeds], d.X, d.y, seeds, **opts)
    if batch_size is None:  # members that stop early and members that run to the cap
        assert [r.epochs_to_converge for r in refs] == [96, None, 111]
    for ref, got in zip(refs, ens):
        assert got.epochs_to_converge == ref.epochs_to_converge
        cols = ["epoch", "loss", "lr", "train_accuracy"]
        pd.testing.assert_frame_equal(got.history[cols], ref.history[cols], check_exact=True)
        for p, q in zip(ref.model.parameters(), got.model.parameters()):
            assert torch.equal(p, q)


def test_fit_ensemble_vmap_engine_trains():
    d = data.load("D-I", n=300)
    seeds = [0, 1]
    res = training.fit_ensemble([models.mlp(2, 12, 3, seed=s) for s in seeds], d.X, d.y, seeds, lr=0.03,
                                max_epochs=30, target_accuracy=0.9, exact=False, progress=False)
    for r in res:
        assert len(r.history) <= 30 and r.history.loss.iloc[-1] < r.history.loss.iloc[0]
        assert r.params["trainer"] == "fit_ensemble(vmap)"


def test_fit_ensemble_censors_a_diverging_member():
    d = data.load("D-I", n=200)
    seeds = [0, 1]
    nets = [models.mlp(2, 4, 1, seed=s) for s in seeds]
    with torch.no_grad():
        nets[1].blocks[0][0].weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="seed 1"):
        training.fit_ensemble(nets, d.X, d.y, seeds, max_epochs=5, progress=False)
    nets = [models.mlp(2, 4, 1, seed=s) for s in seeds]
    with torch.no_grad():
        nets[1].blocks[0][0].weight.fill_(float("nan"))
    res = training.fit_ensemble(nets, d.X, d.y, seeds, max_epochs=5, progress=False, on_diverge="censor")
    assert res[1].params["diverged_at"] == 1 and not res[1].converged and len(res[0].history) == 5


@pytest.mark.parametrize("call, match", [
    (lambda X, y: training.fit_ensemble([], X, y, []), "non-empty list"),
    (lambda X, y: training.fit_ensemble([models.mlp(2, 3, 1), models.mlp(2, 4, 1)], X, y, [0, 1]),
     "differs from models\\[0\\] in architecture"),
    (lambda X, y: training.fit_ensemble([models.cnn(1)], X, y, [0]), "BatchNorm2d"),
    (lambda X, y: training.fit_ensemble([models.mlp(2, 3, 1)], X, y, [0, 1]), "one seed per model"),
    (lambda X, y: training.fit_ensemble([models.mlp(3, 3, 1)], X, y, [0]), r"expects input of shape \[n, 3\]"),
])
def test_fit_ensemble_bad_input(call, match):
    X, y = np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=match):
        call(X, y)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, match", [
    (dict(activations=["relu", "swishy"]), "unknown activation 'swishy'; choose one of"),
    (dict(activations=[]), "activations is empty"),
    (dict(datasets=["D-IV"]), "unknown dataset 'D-IV'; choose one of"),
    (dict(datasets=[]), "datasets is empty"),
    (dict(datasets=[("D-I", ["n", 3])]), "a dataset entry must be a name or"),
    (dict(seeds=[]), "seeds is empty: no run would be trained; pass e.g. seeds=range"),
    (dict(seeds=5), r"pass e.g. range\(5\)"),
    (dict(seeds=[0, -1]), "each seed must be an integer >= 0"),
    (dict(max_epochs=0), r"max_epochs \(the epoch cap\) must be an integer in \[1, 1000000\], got 0; pass e.g."),
    (dict(target_accuracy=0), r"target_accuracy must be a finite number in \(0, 1\], got 0"),
    (dict(target_accuracy=1.01), r"target_accuracy must be a finite number in \(0, 1\]"),
    (dict(datasets=[("D-I", {"in_dim": 3})]), r"expects input of shape \[n, 3\].*X has shape \(2000, 2\)"),
    (dict(ensemble=True, datasets=["digits"]), "ensemble=True needs an MLP"),
])
def test_sweep_bad_input_before_training(kwargs, match, tmp_path, monkeypatch):
    counter = Counter(monkeypatch, fail_after=0)
    args = dict(activations=["relu"], datasets=["D-I"], seeds=[0])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sweeps.sweep(args.pop("activations"), args.pop("datasets"), args.pop("seeds"), cache_dir=tmp_path,
                     progress=False, **args)
    assert counter.runs == 0


def test_sweep_unwritable_cache_folder(tmp_path, monkeypatch):
    counter = Counter(monkeypatch, fail_after=0)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match="cannot be written.*pass a writable folder"):
        sweeps.sweep(["relu"], ["D-I"], [0], cache_dir=blocker / "cache", progress=False)
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "read-only"
        ro.mkdir(mode=0o500)
        with pytest.raises(OSError, match="cannot be written"):
            sweeps.sweep(["relu"], ["D-I"], [0], cache_dir=ro, progress=False)
    assert counter.runs == 0
    assert not Path(blocker).is_dir()


def test_progress_lines(tmp_path, capsys):
    sweeps.sweep("relu", [TINY_DATA], [0, 3], cache_dir=tmp_path, progress=True)
    sweeps.sweep("relu", [TINY_DATA], [0, 3], cache_dir=tmp_path, progress=True)
    out = capsys.readouterr().out.splitlines()
    lines = [line for line in out if line.startswith("D-I [mlp 2-12x3-2")]
    assert len(lines) == 2 and "2/2 reached 90%" in lines[0] and lines[1].endswith("cached")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sweeps.sweep("relu", [TINY_DATA], [0, 3], cache_dir=tmp_path, progress=False)


def test_record_topology_is_the_sweep_run_and_is_cached(tmp_path, monkeypatch):
    rec = sweeps.record_topology("relu", TINY_DATA, 0, every=40, k=14, cache_dir=tmp_path, progress=False)
    plain = plain_fit("relu", 0)
    assert rec.epochs_to_converge == plain.epochs_to_converge == 96
    assert rec.history["train_accuracy"].tolist() == plain.history["train_accuracy"].tolist()
    epochs = sorted(rec.topology["epoch"].unique())
    assert epochs == [0, 40, 80, 96]  # before training, every 40 epochs, and the last epoch
    assert set(rec.topology.columns) >= {"layer", "label", "dim", "betti", "omega"}
    counter = Counter(monkeypatch)
    again = sweeps.record_topology("relu", TINY_DATA, 0, every=40, k=14, cache_dir=tmp_path, progress=False)
    assert counter.runs == 0  # from the cache
    pd.testing.assert_frame_equal(again.topology, rec.topology)
    x = torch.as_tensor(data.load("D-I", "test", n=300).X)
    assert torch.equal(again.model(x), rec.model(x))
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        sweeps.record_topology("relu", TINY_DATA, 0, every=0, cache_dir=tmp_path)


def test_diverged_runs_are_censored_by_both_trainers(tmp_path):
    """A run whose loss becomes NaN/inf counts as never converging (fit would raise)."""
    wild = ("D-I", {**TINY, "lr": 1e30, "max_epochs": 20})
    both = [sweeps.sweep("relu", [wild], [0, 1], cache_dir=tmp_path, progress=False, ensemble=e) for e in (True, False)]
    for table in both:
        assert table.diverged.all() and not table.converged.any() and table.epochs_to_converge.isna().all()
    assert both[0].epochs_run.tolist() == both[1].epochs_run.tolist()


def test_cnn_cells_train_one_by_one(tmp_path):
    threads = torch.get_num_threads()
    table = sweeps.sweep("relu", [("digits", {"max_epochs": 2, "channels": (4, 8), "hidden": 8})], [0, 1],
                         cache_dir=tmp_path, progress=False)
    assert torch.get_num_threads() == threads  # runs use one thread each; the caller's setting is restored
    assert (table.trainer == "fit").all() and (table.net == "cnn 1-(4,8)-8-2").all()
    assert (table.epochs_run <= 2).all() and table.test_accuracy.between(0, 1).all()
    r = sweeps.recipe("digits", max_epochs=2, channels=(4, 8), hidden=8)
    d = r.load("train")
    ref = training.fit(r.build("relu", seed=1), d.X, d.y, seed=1, progress=False, num_threads=1, **r.fit_params)
    assert table.train_accuracy[1] == ref.final_train_accuracy
