"""The fast ensemble engine (topokit.engine): the engine option, determinism, independence of the
members, weights returned into the modules, agreement with fit, and the engine in sweeps."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from topokit import _checks, data, engine, models, stats, sweeps, training
from topokit.cache import Cache, make_key

SMALL = dict(lr=0.03, target_accuracy=0.9, progress=False)


@pytest.fixture(scope="module")
def d1():
    return data.load("D-I", n=301)  # 301 points: batches and widths that leave remainders


def nets(seeds, activation="relu", width=13, depth=3, activations=None):
    acts = activations or [activation] * len(seeds)
    return [models.mlp(2, width, depth, a, seed=s) for s, a in zip(seeds, acts)]


def fast(d, seeds, **kwargs):
    acts = kwargs.pop("activations", None)
    act = kwargs.pop("activation", "relu")
    width = kwargs.pop("width", 13)
    opts = {**SMALL, "max_epochs": 40, **kwargs}
    return training.fit_ensemble(nets(seeds, act, width=width, activations=acts), d.X, d.y, seeds, engine="fast",
                                 **opts)


def same_run(a, b) -> bool:
    cols = ["epoch", "loss", "lr", "train_accuracy"]
    return (a.epochs_to_converge == b.epochs_to_converge and a.history[cols].equals(b.history[cols])
            and all(torch.equal(p, q) for p, q in zip(a.model.state_dict().values(), b.model.state_dict().values())))


# ----------------------------------------------------------------------------- the engine option


@pytest.mark.parametrize("bad", ["fastest", "Fast", "", 3, None.__class__])
def test_unknown_engine_is_refused_before_training(d1, bad):
    members = nets([0, 1])
    before = [m.state_dict()["blocks.0.0.weight"].clone() for m in members]
    with pytest.raises(_checks.InvalidParameterError, match=r"engine must be one of 'exact', 'vmap', 'fast'"):
        training.fit_ensemble(members, d1.X, d1.y, [0, 1], engine=bad, max_epochs=2, progress=False)
    assert all(torch.equal(m.state_dict()["blocks.0.0.weight"], w) for m, w in zip(members, before))


def test_exact_keyword_maps_to_engines(d1):
    assert engine.check_engine(None) == "exact"
    assert engine.check_engine(None, True) == "exact" and engine.check_engine(None, False) == "vmap"
    assert engine.check_engine("fast") == "fast" and engine.check_engine("vmap", False) == "vmap"
    with pytest.raises(ValueError, match="exact=True contradicts engine='fast'"):
        training.fit_ensemble(nets([0]), d1.X, d1.y, [0], exact=True, engine="fast", max_epochs=1, progress=False)
    with pytest.raises(ValueError, match="exact must be True or False"):
        training.fit_ensemble(nets([0]), d1.X, d1.y, [0], exact="yes", max_epochs=1, progress=False)
    res = training.fit_ensemble(nets([0]), d1.X, d1.y, [0], exact=False, max_epochs=2, progress=False)
    assert res[0].params["engine"] == "vmap"
    res = training.fit_ensemble(nets([0]), d1.X, d1.y, [0], max_epochs=2, progress=False)
    assert res[0].params["engine"] == "exact" and res[0].params["trainer"] == "fit_ensemble"


@pytest.mark.parametrize("model, match", [
    (models.cnn(1), "BatchNorm2d"),
    (nn.Sequential(nn.Linear(2, 4), nn.PReLU(), nn.Linear(4, 2)), "PReLU layer with parameters"),
    (nn.Sequential(nn.Linear(2, 4), nn.Linear(4, 2)), "two Linear layers in a row"),
    (nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2, bias=False)), "without bias"),
    (nn.Sequential(nn.Linear(2, 4), nn.Softmax(dim=-1), nn.Linear(4, 2)), "stacked forward pass differs"),
])
def test_fast_engine_refuses_what_it_cannot_stack(d1, model, match):
    X = d1.X if "Batch" not in match else np.zeros((4, 1, 8, 8), np.float32)
    y = d1.y if "Batch" not in match else np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=match):
        training.fit_ensemble([model], X, y, [0], engine="fast", max_epochs=1, progress=False)
    assert engine.fast_supported(models.mlp(2, 3, 2, "topo")) is None
    assert "engine='exact'" in engine.fast_supported(nn.Sequential(nn.Linear(2, 2), nn.PReLU(), nn.Linear(2, 2)))


# ----------------------------------------------------------------------------- determinism and independence


def test_fast_engine_is_deterministic(d1):
    a, b = fast(d1, [0, 1, 2], batch_size=37), fast(d1, [0, 1, 2], batch_size=37)
    assert all(same_run(x, y) for x, y in zip(a, b))
    assert all(r.params["engine"] == "fast" and r.params["trainer"] == "fit_ensemble(fast)" for r in a)


@pytest.mark.parametrize("activation, batch_size, width", [("gelu", 37, 13), ("tanh", None, 13), ("topo", 50, 13),
                                                             ("relu", 37, 15), ("tanh", None, 15)])
def test_a_member_does_not_depend_on_the_others(d1, activation, batch_size, width):
    """Alone, or with other seeds before and after it, or after some stopped: the same run (width 15:
    layers with the bias inside the product, engine._augmented)."""
    assert engine._augmented(width) == (width == 15)
    kw = dict(activation=activation, batch_size=batch_size, width=width)
    together, alone, other = fast(d1, [0, 1, 2, 3, 4], **kw), fast(d1, [3], **kw), fast(d1, [5, 3, 1], **kw)
    assert same_run(together[3], alone[0]) and same_run(together[3], other[1]) and same_run(together[1], other[2])


def test_mixed_activations_train_as_they_would_alone(d1):
    acts = ["relu", "gelu", "relu", "topo", "tanh"]
    mixed = fast(d1, [0, 1, 2, 3, 4], activations=acts, batch_size=37)
    for s, a, got in zip(range(5), acts, mixed):
        assert same_run(got, fast(d1, [s], activation=a, batch_size=37)[0])


# ----------------------------------------------------------------------------- what it returns


@pytest.mark.parametrize("batch_size", [None, 64])
def test_members_come_back_in_their_modules(d1, batch_size):
    seeds = [0, 1, 2, 3]
    members = nets(seeds)
    initial = [m.state_dict()["blocks.0.0.weight"].clone() for m in members]
    res = training.fit_ensemble(members, d1.X, d1.y, seeds, engine="fast", max_epochs=120 if batch_size is None else 60,
                                batch_size=batch_size, **SMALL)
    assert any(r.converged for r in res) and any(not r.converged for r in res)
    for r, m, w0 in zip(res, members, initial):
        assert r.model is m and not m.training
        assert not torch.equal(m.state_dict()["blocks.0.0.weight"], w0)
        # the module holds the weights of the last recorded epoch: its accuracy is the history's
        assert training.accuracy(m, d1.X, d1.y) == pytest.approx(r.final_train_accuracy, abs=1e-6)
        h = r.history
        assert list(h.epoch) == list(range(1, len(h) + 1)) and h.test_accuracy.isna().all()
        if r.converged:
            assert r.epochs_to_converge == len(h) and h.train_accuracy.iloc[-1] >= 0.9
            assert (h.train_accuracy.iloc[:-1] < 0.9).all()
        else:
            assert len(h) == r.params["max_epochs"] and (h.train_accuracy < 0.9).all()


@pytest.mark.parametrize("activation, batch_size, width", [("relu", None, 13), ("tanh", 50, 13), ("topo", 50, 13),
                                                             ("gelu", None, 13), ("relu", 50, 15), ("topo", None, 15)])
def test_first_epochs_follow_fit_to_rounding(d1, activation, batch_size, width):
    """Same data order, schedule and optimiser as fit: only the rounding differs."""
    seeds = [0, 1]
    opts = dict(lr=0.01, max_epochs=3, stop_at_target=False, batch_size=batch_size, progress=False)
    got = training.fit_ensemble(nets(seeds, activation, width=width), d1.X, d1.y, seeds, engine="fast", **opts)
    for s, g in zip(seeds, got):
        ref = training.fit(models.mlp(2, width, 3, activation, seed=s), d1.X, d1.y, seed=s, **opts)
        assert list(g.history.lr) == list(ref.history.lr)
        np.testing.assert_allclose(g.history.loss, ref.history.loss, rtol=1e-5)
        for p, q in zip(g.model.parameters(), ref.model.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_a_diverging_member_is_censored_alone(d1):
    seeds = [0, 1]
    members = nets(seeds)
    with torch.no_grad():
        members[1].blocks[0][0].weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="seed 1"):
        training.fit_ensemble(members, d1.X, d1.y, seeds, engine="fast", max_epochs=5, progress=False)
    members = nets(seeds)
    with torch.no_grad():
        members[1].blocks[0][0].weight.fill_(float("nan"))
    res = training.fit_ensemble(members, d1.X, d1.y, seeds, engine="fast", max_epochs=5, progress=False,
                                on_diverge="censor")
    assert res[1].params["diverged_at"] == 1 and not res[1].converged and len(res[1].history) == 0
    assert len(res[0].history) == 5 and same_run(res[0], fast(d1, [0], max_epochs=5, lr=0.01, target_accuracy=1.0)[0])


# ----------------------------------------------------------------------------- sweeps


TINY = ("D-I", dict(n=300, width=12, depth=3, lr=0.03, max_epochs=40, target_accuracy=0.9))


def test_sweeps_record_the_engine(tmp_path):
    table = sweeps.sweep(["relu", "tanh"], [TINY], [0, 1], cache_dir=tmp_path, progress=False, engine="fast")
    assert (table.trainer == "fit_ensemble").all() and (table.engine == "fast").all()
    exact = sweeps.sweep(["relu"], [TINY], [0, 1], cache_dir=tmp_path, progress=False, engine="exact")
    plain = sweeps.sweep(["relu"], [TINY], [0, 1], cache_dir=tmp_path, progress=False, ensemble=False)
    assert (exact.engine == "exact").all() and (plain.engine == "fit").all() and (plain.trainer == "fit").all()
    assert exact.epochs_run.tolist() == plain.epochs_run.tolist()  # the exact engine replays fit
    ids = {table.config_id[0], exact.config_id[0], plain.config_id[0]}
    assert len(ids) == 3, "each engine's runs have their own configuration id"
    r, cache = sweeps.recipe(TINY[0], **TINY[1]), Cache(tmp_path)
    keys = {e: make_key(sweeps._run_config(r, "relu", 0, sweeps._trainer(r, None, e), "cpu"), code=[sweeps._code()])
            for e in ("fast", "exact")}
    assert keys["fast"] != keys["exact"]  # the engine is part of the cache key
    assert cache.get("sweep-run", keys["fast"])["epochs_run"] == table.epochs_run[0]
    again = sweeps.sweep(["relu"], [TINY], [0], cache_dir=tmp_path, progress=False, engine="fast")  # cached
    pd.testing.assert_series_equal(again.iloc[0], table.iloc[0])


def test_run_config_names_the_engine():
    r = sweeps.recipe(*TINY[:1], **TINY[1])
    cfg = sweeps._run_config(r, "relu", 0, sweeps._trainer(r, None), "cpu")
    assert cfg["trainer"] == "fit_ensemble" and cfg["engine"] == "fast"  # the default engine of sweeps
    assert sweeps._run_config(r, "relu", 0, sweeps._trainer(r, None, "fast"), "cpu")["engine"] == "fast"
    assert sweeps._run_config(r, "relu", 0, sweeps._trainer(r, None, "exact"), "cpu")["engine"] == "exact"
    assert sweeps._run_config(r, "relu", 0, sweeps._trainer(r, False), "cpu")["engine"] == "fit"
    json.dumps(cfg)


@pytest.mark.parametrize("kwargs, match", [
    (dict(engine="turbo"), r"engine must be one of 'fast', 'exact', 'vmap'"),
    (dict(engine="fast", ensemble=False), "ensemble=False trains the runs one by one"),
    (dict(ensemble="yes"), "ensemble must be True or False"),
])
def test_sweeps_refuse_a_bad_engine_before_training(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sweeps.sweep(["relu"], [TINY], [0], cache_dir=tmp_path, progress=False, **kwargs)
    assert not any(tmp_path.rglob("*.pt")) and not any(p.is_file() for p in tmp_path.rglob("*") if "sweep" in str(p))


def test_sweeps_refuse_the_fast_engine_for_cnns(tmp_path):
    with pytest.raises(ValueError, match="trains MLP ensembles"):
        sweeps.sweep(["relu"], ["digits"], [0], cache_dir=tmp_path, progress=False, engine="fast")


# ----------------------------------------------------------------------------- agreement with fit


@pytest.mark.slow
def test_fast_engine_gives_fits_distribution_of_epochs():
    """20 seeds: the fast engine's epochs to converge are drawn from fit's distribution.

    D-I, 500 points, 2-32x4-2 ReLU, Adam lr 0.01 full batch, target 95%. The configuration was
    chosen, from fit's runs alone, as one whose median is precise enough for a 10% criterion to
    mean something with 20 seeds (fit: 104-151 epochs, a 90% bootstrap interval of its median of
    122-133); Naitzat's 2-15x9-2 to 100% spreads over 200-1,500 epochs, so two samples of 20
    medians differ by 30% by chance alone. Log-rank p > 0.05 and medians within 10%.
    """
    d = data.load("D-I", n=500)
    seeds, cap = list(range(20)), 1000
    opts = dict(max_epochs=cap, target_accuracy=0.95, progress=False, num_threads=1)
    ref = [training.fit(models.mlp(2, 32, 4, seed=s), d.X, d.y, seed=s, **opts).epochs_to_converge for s in seeds]
    got = [r.epochs_to_converge for r in training.fit_ensemble(
        [models.mlp(2, 32, 4, seed=s) for s in seeds], d.X, d.y, seeds, engine="fast", **opts)]
    cmp = stats.speedup(ref, got, cap=cap)
    assert cmp.p_value > 0.05, (ref, got, cmp)
    assert abs(cmp.candidate_median / cmp.baseline_median - 1) <= 0.10, (ref, got, cmp)


# ----------------------------------------------------------------------------- across machines

_SCRIPT = textwrap.dedent("""
    import json, warnings
    warnings.simplefilter("ignore")
    import topokit
    from topokit import data, models, reproducibility, training
    d = data.load("D-I", n=1000, seed=0)
    seeds = [0, 1, 2]
    out = {}
    for act, bs, cap in (("relu", None, 150), ("tanh", 64, 4)):
        res = training.fit_ensemble([models.mlp(2, 15, 9, act, seed=s) for s in seeds], d.X, d.y, seeds,
                                    engine="fast", batch_size=bs, max_epochs=cap, progress=False)
        out[act] = [[r.epochs_to_converge, float(r.history["loss"].iloc[-1]).hex()] for r in res]
    print(json.dumps({"runs": out, "settings": reproducibility.settings()}))
""")


def _run_fresh(**env) -> dict:
    full = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "ATEN_CPU_CAPABILITY",
                                                              "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")}
    full.update(env, PYTHONPATH=str(Path(__file__).resolve().parents[1]), TOPOKIT_PROGRESS="0")
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=full, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_fast_engine_numbers_do_not_depend_on_the_instruction_set():
    """As fit's (tests/test_reproducibility.py): forcing MKL or oneDNN onto another instruction set,
    which stands in for another CPU, changes no bit of the fast engine's runs under topokit's pins
    (the 2-15x9-2 net has layers with the bias inside the product, see engine._augmented)."""
    reference = _run_fresh()
    assert reference["settings"]["pinned"]
    for env in ({"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}, {"ONEDNN_MAX_CPU_ISA": "SSE41"}):
        assert _run_fresh(**env)["runs"] == reference["runs"], env


class _Square(nn.Module):
    """An activation the engine has no kernel for (it goes through autograd on its slice)."""

    def forward(self, x):
        return x * x.abs() / (1 + x.abs())


def test_any_parameter_free_activation_trains_as_fit_does(d1):
    seeds = [0, 1]
    opts = dict(lr=0.01, max_epochs=3, stop_at_target=False, batch_size=50, progress=False)

    def build(s):
        torch.manual_seed(s)
        return nn.Sequential(nn.Linear(2, 8), _Square(), nn.Linear(8, 8), nn.ReLU(inplace=True), nn.Linear(8, 2))

    got = training.fit_ensemble([build(s) for s in seeds], d1.X, d1.y, seeds, engine="fast", **opts)
    for s, g in zip(seeds, got):
        ref = training.fit(build(s), d1.X, d1.y, seed=s, **opts)
        for p, q in zip(g.model.parameters(), ref.model.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- warm-up (fit's warmup_epochs)


def _train_fast(d, seeds, **opts):
    base = dict(max_epochs=4, lr=0.01, batch_size=50, lr_decay=0.5, decay_steps=7, weight_decay=0.0,
                target_accuracy=1.0, stop_at_target=False, progress=False, on_diverge="raise", on_member_done=None)
    return engine.train_fast(nets(seeds), d.X, d.y, seeds, torch.device("cpu"), **{**base, **opts})


def test_warmup_ramps_the_rate_as_fit_does(d1):
    """Epoch e (0-based) at min(1, (e + 1) / (warmup_epochs + 1)) of the decayed rate; 0 changes nothing."""
    steps = 7  # 301 points in batches of 50
    warm = _train_fast(d1, [0, 1], warmup_epochs=2)
    for r in warm:  # the history's rate is the next step's, as fit's LambdaLR records it
        want = [0.01 * (0.5 ** (e * steps / 7) * min(1.0, (e + 1) / 3)) for e in range(1, 5)]
        assert list(r.history.lr) == want and r.params["warmup_epochs"] == 2
    plain, zero = _train_fast(d1, [0]), _train_fast(d1, [0], warmup_epochs=0)
    assert same_run(plain[0], zero[0]) and "warmup_epochs" not in zero[0].params
    assert not same_run(plain[0], warm[0])
    with pytest.raises(_checks.InvalidParameterError, match="warmup_epochs"):
        _train_fast(d1, [0], warmup_epochs=-1)


@pytest.mark.skipif("warmup_epochs" not in __import__("inspect").signature(training.fit_ensemble).parameters,
                    reason="fit_ensemble does not take warmup_epochs yet (training.py)")
@pytest.mark.parametrize("batch_size", [None, 50])
def test_warmup_follows_fit_to_rounding(d1, batch_size):
    seeds = [0, 1]
    opts = dict(lr=0.01, max_epochs=3, stop_at_target=False, batch_size=batch_size, progress=False, warmup_epochs=2)
    got = training.fit_ensemble(nets(seeds), d1.X, d1.y, seeds, engine="fast", **opts)
    for s, g in zip(seeds, got):
        ref = training.fit(models.mlp(2, 13, 3, "relu", seed=s), d1.X, d1.y, seed=s, **opts)
        assert list(g.history.lr) == list(ref.history.lr)
        np.testing.assert_allclose(g.history.loss, ref.history.loss, rtol=1e-5)
        for p, q in zip(g.model.parameters(), ref.model.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
