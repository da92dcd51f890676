"""Property-based bad-input suite: every public entry point refuses generated bad values cleanly.

For each parameter of each entry point, Hypothesis draws values that are wrong for it (wrong
types, NaN/inf, empty, negative, huge, contradictory) while every other argument is valid. The
call must raise ``ValueError``, ``TypeError`` or ``FileNotFoundError`` (``SystemExit(2)`` for the
command line) with a message, within a second, and write nothing outside a temporary folder. Any
other exception, a success, or a slow refusal is a failure.

The profile is pinned (``derandomize=True``, a fixed number of examples, no example database) so
CI runs the same examples in about the same time every run.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topokit import cache as _cache
from topokit import data, filtertopology, models, pruning, report, stats, sweeps, topology, training
from topokit.__main__ import main as cli

settings.register_profile("bad-input", max_examples=int(os.environ.get("TOPOKIT_HYPOTHESIS_EXAMPLES", 20)),
                          deadline=None, derandomize=True, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile("bad-input")

ALLOWED = (ValueError, TypeError, FileNotFoundError)
LIMIT_S = 1.0
ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- harness


def _snapshot(root: Path) -> dict:
    """Every file under the project (not .git/.venv, not CPython's own bytecode) with size and mtime."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in (".git", ".venv", ".pytest_cache", ".hypothesis", "build",
                                                        "node_modules")]
        for name in filenames:
            if name.endswith(".pyc") and ".cpython-" in name:
                continue
            p = Path(dirpath) / name
            try:
                st_ = p.stat()
            except OSError:
                continue
            out[str(p)] = (st_.st_size, st_.st_mtime_ns)
    return out


@pytest.fixture(scope="module", autouse=True)
def sandbox(tmp_path_factory):
    """Run the module in a temporary working folder and cache; check nothing else was written."""
    tmp = tmp_path_factory.mktemp("bad-input")
    before = _snapshot(ROOT)
    mp = pytest.MonkeyPatch()
    mp.setenv("TOPOKIT_CACHE", str(tmp / "cache"))
    mp.setenv("TOPOKIT_PROGRESS", "0")
    mp.setenv("HOME", str(tmp / "home"))
    mp.chdir(tmp)
    yield tmp
    mp.undo()
    after = _snapshot(ROOT)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert not changed, f"bad-input calls wrote into the project: {changed[:10]}"


def refuses(call, *, allowed=ALLOWED):
    """``call()`` raises an allowed error with a message, within LIMIT_S seconds."""
    t0 = time.perf_counter()
    try:
        call()
    except allowed as exc:
        elapsed = time.perf_counter() - t0
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        assert elapsed < LIMIT_S, f"refused only after {elapsed:.2f} s: {exc}"
        return exc
    except Exception as exc:  # noqa: BLE001 - any other exception is the failure under test
        pytest.fail(f"{type(exc).__name__} instead of a clear ValueError/TypeError: {exc}")
    pytest.fail("accepted a bad value")


# ----------------------------------------------------------------------------- bad values

_junk = st.one_of(st.text(max_size=6), st.binary(max_size=4), st.lists(st.integers(), max_size=2),
                  st.dictionaries(st.text(max_size=2), st.integers(), max_size=1), st.builds(object),
                  st.just(1 + 2j))


def bad_int(minimum: int, maximum: int | None = None, optional: bool = False):
    """Values an integer parameter in [minimum, maximum] must refuse."""
    s = [st.integers(max_value=minimum - 1), st.booleans(), st.floats(allow_nan=True, allow_infinity=True), _junk,
         st.just(np.float64(3.0))]
    if maximum is not None:
        s.append(st.integers(min_value=maximum + 1, max_value=maximum * 10 ** 6 + 10 ** 6))
    if not optional:
        s.append(st.none())
    return st.one_of(*s)


def bad_real(minimum=None, maximum=None, *, include_min=True, include_max=True, finite=True, optional=False):
    """Values a real parameter in the stated interval must refuse."""
    s = [st.just(math.nan), st.booleans(), _junk]
    if finite:
        s.append(st.sampled_from([math.inf, -math.inf]))
    if minimum is not None:
        s.append(st.floats(max_value=minimum, exclude_max=include_min, allow_nan=False, allow_infinity=False))
    if maximum is not None:
        s.append(st.floats(min_value=maximum, exclude_min=include_max, allow_nan=False, allow_infinity=False))
    if not optional:
        s.append(st.none())
    return st.one_of(*s)


def bad_name(options):
    options = set(options)
    return st.one_of(st.text(max_size=12).filter(lambda t: t not in options), st.integers(), st.none(),
                     st.lists(st.sampled_from(sorted(options)), min_size=2, max_size=2))


def bad_cloud(dims: int = 2):
    """Point clouds a function must refuse: empty, NaN/inf, ragged, non-numeric, wrong rank."""
    return st.one_of(
        st.just(np.empty((0, dims))),
        st.integers(1, 40).map(lambda n: np.where(np.arange(n * dims).reshape(n, dims) == 0, np.nan, 1.0)),
        st.just(np.full((20, dims), np.inf)),
        st.just([[0.0, 1.0], [2.0]]),
        st.just("points"),
        st.none(),
        st.just(np.array([["a", "b"], ["c", "d"]])),
    )


# ----------------------------------------------------------------------------- fixtures

_RNG = np.random.default_rng(0)
_X = _RNG.normal(size=(40, 2)).astype(np.float32)
_Y = np.repeat([0, 1], 20)
_IMAGES = _RNG.random((8, 1, 8, 8)).astype(np.float32)
_IMAGE_Y = np.repeat([0, 1], 4)


def _mlp():
    return models.mlp(2, 4, 2, "relu", seed=0)


def _cnn():
    return models.cnn(1, channels=(4, 4), hidden=8, seed=0)


# ----------------------------------------------------------------------------- data


@given(st.sampled_from(["n", "size", "noise", "radius", "margin", "seed", "max_points"]).flatmap(
    lambda p: st.tuples(st.just(p), {
        "n": bad_int(2, data.MAX_POINTS, optional=True), "size": bad_real(0, include_min=False),
        "noise": bad_real(0), "radius": bad_real(0, include_min=False), "margin": bad_real(0, include_min=False),
        "seed": bad_int(0), "max_points": bad_int(2, optional=True)}[p])))
def test_data_load_synthetic(param_value):
    param, value = param_value
    kwargs = {param: value} if param != "max_points" else {param: value, "n": 100}
    refuses(lambda: data.load("D-I", **kwargs))


@given(st.one_of(bad_name(data.available_datasets()).filter(lambda v: not (isinstance(v, str) and (
    v.strip().lower().replace(" ", "-") in data._ALIASES))),
                 st.just("D-IV")))
def test_data_load_name(name):
    refuses(lambda: data.load(name))


@given(st.sampled_from(["g", "c"]).flatmap(lambda p: st.tuples(st.just(p), bad_int(1 if p == "g" else 2))))
def test_data_load_grid_parameters(param_value):
    param, value = param_value
    refuses(lambda: data.load("D-I-grid" if param == "g" else "checkerboard", **{param: value}))


@given(st.sampled_from(["max_per_class", "image_size", "classes", "split"]).flatmap(lambda p: st.tuples(st.just(p), {
    "max_per_class": bad_int(1, optional=True), "image_size": bad_int(1, data.MAX_IMAGE_SIZE, optional=True),
    "classes": st.one_of(st.just((3, 3)), st.just((3, 11)), st.just("3"), st.just((1, 2, 3)), st.none()),
    "split": bad_name(["train", "test"])}[p])))
def test_data_load_images(param_value):
    param, value = param_value
    refuses(lambda: data.load("digits", **{param: value}))


# ----------------------------------------------------------------------------- models


@given(st.sampled_from(["in_dim", "width", "depth", "activation", "out_dim", "seed"]).flatmap(
    lambda p: st.tuples(st.just(p), bad_name(["relu", "tanh"]) if p == "activation" else
                        bad_int(0 if p == "seed" else 1, optional=p == "seed"))))
def test_models_mlp(param_value):
    param, value = param_value
    kwargs = dict(in_dim=2, width=4, depth=2, activation="relu", out_dim=2, seed=0)
    kwargs[param] = value
    refuses(lambda: models.mlp(**kwargs))


@given(st.one_of(st.tuples(st.just(10 ** 6), st.just(10 ** 3)), st.tuples(st.integers(10 ** 5, 10 ** 7),
                                                                      st.integers(10, 10 ** 4))))
def test_models_mlp_too_large_is_refused_before_allocation(size):
    width, depth = size
    refuses(lambda: models.mlp(2, width, depth))


@given(st.sampled_from(["in_channels", "channels", "hidden", "batch_norm"]).flatmap(lambda p: st.tuples(st.just(p), {
    "in_channels": bad_int(1), "hidden": bad_int(1),
    "channels": st.one_of(st.just(()), st.just((0, 4)), st.just((4, -1)), st.just("16"), st.just((4.5,)),
                          st.just((10 ** 6, 10 ** 6))),
    "batch_norm": st.one_of(st.integers(), st.text(max_size=3), st.none())}[p])))
def test_models_cnn(param_value):
    param, value = param_value
    kwargs = dict(in_channels=1, channels=(4, 4), hidden=8, seed=0)
    kwargs[param] = value
    refuses(lambda: models.cnn(**kwargs))


@given(st.one_of(st.just("missing/file.pt"), st.just(""), st.none(), st.integers(), st.just(b"\0"),
                 st.binary(min_size=0, max_size=64)))
def test_models_load_bad_files(sandbox, value):
    if isinstance(value, bytes) and value != b"\0":
        path = sandbox / "garbage.pt"
        path.write_bytes(value)
        value = path
    refuses(lambda: models.load(value))


@given(st.one_of(st.just("no/such/folder/model.pt"), st.none(), st.integers(), st.just(".")))
def test_models_save_bad_paths(value):
    refuses(lambda: models.save(_mlp(), value))


# ----------------------------------------------------------------------------- training


_FIT_BAD = {
    "max_epochs": bad_int(1, training.MAX_EPOCHS), "lr": bad_real(0, include_min=False),
    "batch_size": bad_int(1, optional=True), "lr_decay": bad_real(0, 1, include_min=False, optional=True),
    "decay_steps": bad_int(1), "weight_decay": bad_real(0), "target_accuracy": bad_real(0, 1, include_min=False),
    "seed": bad_int(0), "num_threads": bad_int(1, optional=True), "stop_at_target": st.one_of(st.integers(), _junk),
}


@given(st.sampled_from(sorted(_FIT_BAD)).flatmap(lambda p: st.tuples(st.just(p), _FIT_BAD[p])))
def test_training_fit_options(param_value):
    param, value = param_value
    refuses(lambda: training.fit(_mlp(), _X, _Y, max_epochs=2, **{param: value}))


@given(st.one_of(bad_cloud(), st.just(np.zeros((40, 3), np.float32))))
def test_training_fit_inputs(X):
    refuses(lambda: training.fit(_mlp(), X, _Y, max_epochs=2))


@given(st.one_of(st.just([0]), st.just("01"), st.just([0, -1]), st.just([0.5, 1]), st.none(), st.integers()))
def test_training_fit_ensemble_seeds(seeds):
    refuses(lambda: training.fit_ensemble([_mlp(), _mlp()], _X, _Y, seeds, max_epochs=2))


@given(st.sampled_from(["max_epochs", "lr", "target_accuracy", "on_diverge", "exact"]).flatmap(
    lambda p: st.tuples(st.just(p), {**_FIT_BAD, "on_diverge": bad_name(["raise", "censor"]),
                                     "exact": st.one_of(st.integers(), _junk)}[p])))
def test_training_fit_ensemble_options(param_value):
    param, value = param_value
    refuses(lambda: training.fit_ensemble([_mlp(), _mlp()], _X, _Y, [0, 1], max_epochs=2, **{param: value}))


# ----------------------------------------------------------------------------- topology


_TOPO_BAD = {"k": bad_int(1), "hops": bad_real(0, include_min=False), "max_dim": bad_int(0, 8),
             "max_points": bad_int(1, optional=True), "seed": bad_int(0), "batch_size": bad_int(1),
             "max_memory_bytes": bad_int(1, optional=True)}


@given(st.sampled_from(sorted(_TOPO_BAD)).flatmap(lambda p: st.tuples(st.just(p), _TOPO_BAD[p])))
def test_topology_layer_betti_options(param_value):
    param, value = param_value
    refuses(lambda: topology.layer_betti(_mlp(), _X, _Y, n_jobs=1, **{"k": 5, param: value}))


@given(st.one_of(bad_cloud(), st.just(_X[:3])))
def test_topology_layer_betti_inputs(X):
    refuses(lambda: topology.layer_betti(_mlp(), X, _Y[:len(X)] if hasattr(X, "__len__") else _Y, k=5, n_jobs=1))


@given(st.one_of(bad_cloud(), st.sampled_from(["k", "hops", "max_dim"]).flatmap(
    lambda p: st.tuples(st.just(p), _TOPO_BAD[p]))))
def test_topology_betti_numbers(value):
    if isinstance(value, tuple):
        param, bad = value
        refuses(lambda: topology.betti_numbers(_X, **{"k": 5, param: bad}))
    else:
        refuses(lambda: topology.betti_numbers(value, k=5))


# ----------------------------------------------------------------------------- filtertopology


@given(st.one_of(bad_cloud(), st.just(np.zeros((5, 0, 2))), st.just(np.zeros((2, 3, 4, 4)))))
def test_filtertopology_cubical_maps(maps):
    refuses(lambda: filtertopology.cubical_counts(maps, noise=0.0))


@given(bad_real(0))
def test_filtertopology_cubical_noise(noise):
    refuses(lambda: filtertopology.cubical_counts(np.zeros((2, 4, 4), np.float32), noise=noise))


@given(st.one_of(bad_cloud().map(lambda c: (c, 1.0)), bad_real(0, include_min=False).map(lambda s: (_X, s))))
def test_filtertopology_euclidean_betti(args):
    cloud, scale = args
    refuses(lambda: filtertopology.euclidean_betti(cloud, scale))


@given(bad_cloud())
def test_filtertopology_knn_betti(cloud):
    refuses(lambda: filtertopology.knn_betti(cloud))


# ----------------------------------------------------------------------------- pruning


_SCORE_BAD = {"method": bad_name(pruning.METHODS), "radius": bad_real(0, include_min=False, optional=True),
              "n_images": bad_int(1, optional=True), "seed": bad_int(0),
              "noise": bad_real(0, optional=True), "n_jobs": st.one_of(st.just(0), st.floats(), _junk)}


@given(st.sampled_from(sorted(_SCORE_BAD)).flatmap(lambda p: st.tuples(st.just(p), _SCORE_BAD[p])))
def test_pruning_filter_scores_options(param_value):
    param, value = param_value
    refuses(lambda: pruning.filter_scores(_cnn(), _IMAGES, _IMAGE_Y, **{param: value}))


@given(st.one_of(bad_cloud(), st.just(np.zeros((4, 3, 8, 8), np.float32)), st.just(np.zeros((4, 1, 2, 2)))))
def test_pruning_filter_scores_images(X):
    refuses(lambda: pruning.filter_scores(_cnn(), X, np.zeros(4 if hasattr(X, "__len__") else 1), method="l1"))


@given(st.one_of(
    bad_real(finite=True).map(lambda t: dict(threshold=t)),
    bad_real(0, 1, include_max=False).map(lambda f: dict(fraction=f)),
    st.just(dict(threshold=1.0, fraction=0.5)), st.just(dict()),
    st.just(dict(fraction=0.5, scores={"conv9": np.zeros(4)})),
    st.just(dict(fraction=0.5, scores={"conv1": np.zeros(3), "conv2": np.zeros(4)})),
    st.just(dict(fraction=0.5, scores={"conv1": np.full(4, np.nan), "conv2": np.zeros(4)})),
    st.just(dict(fraction=0.5, scores="scores")),
))
def test_pruning_prune(kwargs):
    kwargs = dict(kwargs)
    scores = kwargs.pop("scores", {"conv1": np.arange(4.0), "conv2": np.arange(4.0)})
    refuses(lambda: pruning.prune(_cnn(), scores, **kwargs))


# ----------------------------------------------------------------------------- sweeps


_SWEEP_BAD = {"max_epochs": bad_int(1, training.MAX_EPOCHS), "lr": bad_real(0, include_min=False),
              "target_accuracy": bad_real(0, 1, include_min=False), "n": bad_int(2, data.MAX_POINTS),
              "width": bad_int(1), "depth": bad_int(1), "batch_size": bad_int(1, optional=True)}


@given(st.sampled_from(sorted(_SWEEP_BAD)).flatmap(lambda p: st.tuples(st.just(p), _SWEEP_BAD[p])))
def test_sweeps_sweep_overrides(sandbox, param_value):
    param, value = param_value
    refuses(lambda: sweeps.sweep(["relu"], [("D-I", {param: value})], [0], cache_dir=sandbox / "sweep-cache",
                                 n_jobs=1, progress=False))


@given(st.one_of(st.tuples(bad_name(["relu", "tanh", "topo"]).filter(lambda v: v is not None and not isinstance(v, list)),
                           st.just("D-I"),
                           st.just([0])),
                 st.tuples(st.just("relu"), bad_name(list(sweeps.RECIPES)).filter(
                     lambda v: not (isinstance(v, str) and v.strip().lower().replace(" ", "-") in data._ALIASES)),
                     st.just([0])),
                 st.tuples(st.just("relu"), st.just("D-I"),
                           st.one_of(st.just([]), st.just([-1]), st.just([0.5]), st.integers(), st.just(["0"])))))
def test_sweeps_sweep_arguments(sandbox, args):
    acts, datasets, seeds = args
    refuses(lambda: sweeps.sweep(acts, datasets, seeds, cache_dir=sandbox / "sweep-cache", n_jobs=1, progress=False))


# ----------------------------------------------------------------------------- stats


_EPOCHS_BAD = st.one_of(st.just([]), st.just([[1, 2], [3, 4]]), st.just([-5, 10]), st.just([0]),
                        st.just([10, -math.inf]), st.just(["ten"]), st.just("10"), st.integers(), st.none(),
                        st.just([1, None]))  # censored without a cap


@given(st.one_of(_EPOCHS_BAD.map(lambda e: dict(baseline_epochs=e)), _EPOCHS_BAD.map(lambda e: dict(candidate_epochs=e)),
                 bad_real(0, include_min=False, optional=True).filter(lambda v: v is not None).map(
                     lambda c: dict(cap=c, baseline_epochs=[1, None])),
                 bad_int(1, stats.MAX_BOOT).map(lambda n: dict(n_boot=n)), bad_int(0).map(lambda s: dict(seed=s)),
                 bad_real(0, 1, include_min=False, include_max=False).map(lambda c: dict(confidence=c))))
def test_stats_speedup(kwargs):
    args = dict(baseline_epochs=[10, 20, 30], candidate_epochs=[5, 10, 15], cap=None)
    args.update(kwargs)
    refuses(lambda: stats.speedup(**args))


@given(_EPOCHS_BAD)
def test_stats_km(epochs):
    refuses(lambda: stats.km_median(epochs))
    refuses(lambda: stats.km_curve(epochs))


@given(st.one_of(st.tuples(bad_int(0), st.just(10)), st.tuples(st.just(3), bad_int(1)), st.just((11, 10))))
def test_stats_proportion_ci(args):
    successes, n = args
    refuses(lambda: stats.proportion_ci(successes, n))


@given(st.one_of(st.just(([1, 2, 3], [1, 2])), st.just(([1, 2], [1, 2])), st.just(("abc", [1, 2, 3])),
                 st.just(([[1, 2], [3, 4], [5, 6]], [1, 2, 3]))))
def test_stats_rank_correlation(args):
    refuses(lambda: stats.rank_correlation(*args))


# ----------------------------------------------------------------------------- cache and report


@given(st.one_of(bad_name(list(_cache.KINDS)).filter(lambda v: not isinstance(v, list)),
                 st.just("../escape"), st.just("UPPER")))
def test_cache_kind(sandbox, kind):
    c = _cache.Cache(sandbox / "kinds-cache")
    refuses(lambda: c.get(kind, "0" * 32))
    refuses(lambda: c.put(kind, "0" * 32, {"a": 1}))


@given(st.one_of(st.just("../../etc"), st.just(""), st.just("XYZ" * 4), st.integers(), st.none(), st.just("0" * 65)))
def test_cache_key(sandbox, key):
    c = _cache.Cache(sandbox / "keys-cache")
    refuses(lambda: c.get("sweep-run", key))


def test_cache_refuses_a_folder_it_does_not_own(sandbox):
    folder = sandbox / "users-folder"
    (folder / ".git").mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    refuses(lambda: _cache.Cache(folder).clear())
    assert (folder / ".git").is_dir() and (folder / "notes.txt").read_text() == "mine"


_CLAIM_BAD = {"claim_id": bad_name(list(report.CLAIMS)), "verdict": bad_name(list(report.VERDICTS)),
              "value": st.one_of(st.text(min_size=1, max_size=3), st.booleans(), _junk),
              "measured": st.one_of(st.integers(), st.none(), st.binary(max_size=3)),
              "figure": st.one_of(st.just("javascript:alert(1)//.png"), st.just("/etc/passwd"),
                                  st.just("../outside.png"), st.just("http://x/y.png"), st.integers()),
              "mode": bad_name(["quick", "default", "full"]).filter(lambda v: v is not None)}


@given(st.sampled_from(sorted(_CLAIM_BAD)).flatmap(lambda p: st.tuples(st.just(p), _CLAIM_BAD[p])))
def test_report_record_claim(sandbox, param_value):
    param, value = param_value
    kwargs = dict(claim_id=next(iter(report.CLAIMS)), measured="m", value=1.0, low=0.5, high=1.5,
                  verdict=report.VERDICTS[0], reason="r", rule="rule", cache_dir=sandbox / "claims-cache",
                  mode="quick")
    kwargs[param] = value
    refuses(lambda: report.record_claim(**kwargs))


# ----------------------------------------------------------------------------- command line


@given(st.one_of(
    st.just(["cache", "clear", "--kind", "not-a-kind"]),
    st.just(["cache", "clear", "--dir", "."]),
    st.just(["cache", "info", "--dir", "."]),
    st.just(["reproduce", "--only", ""]),
    st.just(["reproduce", "--only", "   "]),
    st.just(["reproduce", "--quick", "--full"]),
    st.just(["reproduce", "--timeout", "soon"]),
    st.just(["frobnicate"]),
    st.lists(st.text(alphabet="abc-", min_size=1, max_size=5), min_size=1, max_size=3).filter(
        lambda a: a[0] not in ("reproduce", "cache", "strip") and not a[0].startswith("-")),
))
def test_cli(sandbox, argv):
    (sandbox / "not-a-cache" / ".hidden").mkdir(parents=True, exist_ok=True)
    argv = [a if a != "." else str(sandbox / "not-a-cache") for a in argv]
    t0 = time.perf_counter()
    try:
        code = cli(argv)
    except SystemExit as exc:
        code = exc.code
    assert time.perf_counter() - t0 < LIMIT_S
    assert code == 2, f"{argv} exited {code}"
    assert (sandbox / "not-a-cache" / ".hidden").is_dir()
