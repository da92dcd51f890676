"""Filter scores, physical pruning with Torch-Pruning, model files, measuring (topokit.pruning)."""
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from topokit import models, pruning


def _cnn(batch_norm=True, channels=(6, 8), seed=0, in_channels=1):
    net = models.cnn(in_channels, channels=channels, hidden=5, batch_norm=batch_norm, seed=seed).eval()
    if batch_norm:  # non-trivial running statistics and affine parameters
        g = torch.Generator().manual_seed(seed)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.data.uniform_(0.5, 1.5, generator=g)
                m.bias.data.uniform_(-0.2, 0.2, generator=g)
    return net


def _scores(net, seed=1):
    rng = np.random.default_rng(seed)
    return {n: rng.random(c.out_channels) for n, _, c in pruning._conv_blocks(net)}


def _silenced(net, removed):
    """The unpruned net with the removed filters' outputs forced to 0 (weights, bias and BN affine)."""
    ref = models.from_state(models.to_state(net))
    with torch.no_grad():
        for name, block, conv in pruning._conv_blocks(ref):
            idx = removed[name]
            conv.weight[idx] = 0
            conv.bias[idx] = 0
            for m in block:
                if isinstance(m, nn.BatchNorm2d):
                    m.weight[idx] = 0
                    m.bias[idx] = 0
    return ref


# ----------------------------------------------------------------------------- models.save / load


def test_save_load_round_trip_of_a_pruned_model(tmp_path):
    net = _cnn()
    pruned, report = pruning.prune(net, _scores(net), fraction=0.5)
    path = models.save(pruned, tmp_path / "m.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # atomic: no temporary file left
    back = models.load(path)
    assert models.architecture(back)["channels"] == [3, 4] == list(report["channels_after"].values())
    x = torch.randn(4, 1, 12, 12)
    with torch.no_grad():
        assert torch.equal(back(x), pruned(x))
    state = torch.load(path, weights_only=True)  # nothing but strings and tensors
    assert state["format"] == "topokit-model"


def test_load_reports_missing_truncated_foreign_and_mismatched_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file at .*topokit.models.save"):
        models.load(tmp_path / "absent.pt")
    path = models.save(_cnn(), tmp_path / "m.pt")
    blob = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="truncated or not a model file"):
        models.load(tmp_path / "cut.pt")
    torch.save(_cnn(), tmp_path / "whole.pt")  # Torch-Pruning README style: the pickled module
    with pytest.raises(ValueError, match="pickled whole model"):
        models.load(tmp_path / "whole.pt")
    state = models.to_state(_cnn())
    state["state_dict"]["blocks.0.0.weight"] = torch.zeros(2, 1, 3, 3)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="does not match its architecture.*blocks.0.0.weight"):
        models.load(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="registered activation"):
        models.save(models.cnn(1, activation=nn.ELU()), tmp_path / "elu.pt")


# ----------------------------------------------------------------------------- prune


def test_prune_shrinks_every_dependent_layer_and_reports():
    net = _cnn(channels=(6, 8, 10))
    scores = _scores(net)
    before = [p.detach().clone() for p in net.parameters()]
    pruned, rep = pruning.prune(net, scores, fraction=0.5, example_input=torch.zeros(1, 1, 16, 16))
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # the original is untouched
    assert set(rep) >= {"params_before", "params_after", "macs_before", "macs_after", "removed"}
    assert rep["params_after"] < rep["params_before"] and rep["macs_after"] < rep["macs_before"]
    assert rep["params_after"] == sum(p.numel() for p in pruned.parameters())
    assert rep["channels_after"] == {"conv1": 3, "conv2": 4, "conv3": 5}
    for name, s in scores.items():  # the highest half, original numbering, sorted
        assert rep["removed"][name] == sorted(np.argsort(-s)[: len(s) // 2].tolist())
    convs = [c for _, _, c in pruning._conv_blocks(pruned)]
    assert [c.in_channels for c in convs] == [1, 3, 4]
    assert pruned.blocks[-2][2].in_features == 5  # the dense layer after AdaptiveAvgPool2d -> Flatten (#511)
    assert pruned.blocks[-1].out_features == 2  # the classifier is never pruned
    assert pruned(torch.randn(2, 1, 20, 20)).shape == (2, 2)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_pruned_logits_equal_the_silenced_unpruned_net(batch_norm):
    # without BN: zero the removed filters' weights and biases; with BN (the #511 layout of models.cnn)
    # also its affine parameters, so each removed channel is exactly 0 after ReLU and pooling
    net = _cnn(batch_norm=batch_norm, channels=(6, 8, 10))
    pruned, rep = pruning.prune(net, _scores(net, seed=3), fraction=0.4, highest=False)
    x = torch.randn(8, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), _silenced(net, rep["removed"])(x), rtol=1e-5, atol=1e-5)


def test_threshold_rule_never_empties_a_layer_and_highest_false_removes_the_other_end():
    net = _cnn(channels=(4, 5))
    scores = {"conv1": np.array([500.0, 400, 301, 900]), "conv2": np.array([10.0, 300, 350, 20, 299])}
    _, rep = pruning.prune(net, scores, threshold=300)
    assert rep["removed"] == {"conv1": [0, 1, 3], "conv2": [2]}  # conv1 keeps its lowest (301)
    _, rep = pruning.prune(net, scores, threshold=300, highest=False)
    assert rep["removed"] == {"conv1": [], "conv2": [0, 3, 4]}
    _, rep = pruning.prune(net, scores, fraction=0.4, highest=False)
    assert rep["removed"] == {"conv1": [2], "conv2": [0, 3]}
    _, rep = pruning.prune(net, scores, fraction=0.99)
    assert rep["channels_after"] == {"conv1": 1, "conv2": 1}
    _, rep = pruning.prune(net, scores, fraction=0.0)
    assert rep["params_after"] == rep["params_before"] and not any(rep["removed"].values())


def test_torch_pruning_high_level_pruner_agrees_when_the_importance_is_negated():
    """Torch-Pruning removes the LOWEST importance and must be told to leave the classifier alone."""
    import torch_pruning as tp

    net = _cnn(channels=(6, 8))
    scores = _scores(net, seed=5)
    ours, rep = pruning.prune(net, scores, fraction=0.5)
    theirs = models.from_state(models.to_state(net))
    imp = pruning.torch_pruning_importance(scores, highest=True)
    imp.bind(theirs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruner = tp.pruner.BasePruner(theirs, torch.zeros(1, 1, 8, 8), importance=imp, pruning_ratio=0.5,
                                      ignored_layers=[theirs.blocks[-2][2], theirs.blocks[-1]])
        pruner.step()
    assert theirs.blocks[-1].out_features == 2 and theirs.blocks[-2][2].out_features == 5
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x))
    # with the plain scores as importance it removes the other end
    plain = models.from_state(models.to_state(net))
    imp = pruning.torch_pruning_importance(scores, highest=False)
    imp.bind(plain)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tp.pruner.BasePruner(plain, torch.zeros(1, 1, 8, 8), importance=imp, pruning_ratio=0.5,
                             ignored_layers=[plain.blocks[-2][2], plain.blocks[-1]]).step()
    low, _ = pruning.prune(net, scores, fraction=0.5, highest=False)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), low(x))


# ----------------------------------------------------------------------------- scores


def test_l1_hrank_and_random_scores():
    net = _cnn()
    X = np.random.default_rng(0).random((20, 1, 8, 8)).astype(np.float32)
    y = np.arange(20) % 2
    l1 = pruning.filter_scores(net, X, y, method="l1")
    for name, _, conv in pruning._conv_blocks(net):
        np.testing.assert_allclose(l1[name], conv.weight.detach().abs().sum((1, 2, 3)).double().numpy())
    hr = pruning.filter_scores(net, X, y, method="hrank")
    maps = pruning.feature_maps(net, X)
    np.testing.assert_allclose(hr["conv2"], torch.linalg.matrix_rank(maps["conv2"]).double().mean(0).numpy())
    r0, r0b, r1 = (pruning.filter_scores(net, X, y, method="random", seed=s) for s in (0, 0, 1))
    assert all(np.array_equal(r0[k], r0b[k]) for k in r0) and not np.array_equal(r0["conv1"], r1["conv1"])


def _circle_net_and_images(n_per_class=60, side=8):
    """conv1 = [dead filter, identity filter]: filter 1's maps are the images, which lie on a circle
    in pixel space for each class; filter 0 is constant."""
    net = models.cnn(1, channels=(2,), hidden=3, batch_norm=False, seed=0).eval()
    with torch.no_grad():
        conv = net.blocks[0][0]
        conv.weight.zero_()
        conv.bias.zero_()
        conv.weight[1, 0, 1, 1] = 1.0
    rng = np.random.default_rng(0)
    a, b = rng.random((side, side)), rng.random((side, side))
    X, y = [], []
    for label in (0, 1):
        t = np.linspace(0, 2 * np.pi, n_per_class, endpoint=False)
        for ti in t:
            X.append(3 + np.cos(ti) * a + np.sin(ti) * b + 5 * label)
            y.append(label)
    return net, np.asarray(X, np.float32)[:, None], np.asarray(y)


def test_betti_scores_on_circles_and_a_dead_filter():
    net, X, y = _circle_net_and_images()
    scores, info = pruning.filter_scores(net, X, y, method="betti", details=True)
    assert scores["conv1"].tolist() == [2.0, 4.0]  # dead: (1, 0) per class; circle: (1, 1) per class
    assert info["conv1"]["scale"] > 0  # the constant filter did not set the scale to 0
    tiny = pruning.filter_scores(net, X, y, method="betti", radius=1e-6)
    assert tiny["conv1"].tolist() == [2.0, 2.0 * 60]  # at a tiny scale every distinct image is its own piece
    knn = pruning.filter_scores(net, X, y, method="betti-knn")
    assert knn["conv1"].tolist() == [2.0, 4.0]
    for method, want in (("betti", scores), ("betti-knn", knn)):  # joblib workers give the same scores
        assert pruning.filter_scores(net, X, y, method=method, n_jobs=2)["conv1"].tolist() == want["conv1"].tolist()


def test_subsample_is_stratified_and_seeded():
    y = np.r_[np.zeros(900, int), np.ones(300, int)]
    idx = pruning.subsample(y, None, seed=0)
    assert len(idx) == 1000 and np.bincount(y[idx]).tolist() == [750, 250]
    assert np.array_equal(idx, pruning.subsample(y, None, seed=0))
    assert not np.array_equal(idx, pruning.subsample(y, None, seed=1))
    assert len(pruning.subsample(y[:50], None)) == 50


# ----------------------------------------------------------------------------- measuring


def test_measure_and_fine_tune():
    net = _cnn()
    rng = np.random.default_rng(0)
    X = rng.random((64, 1, 8, 8)).astype(np.float32)
    y = (X.mean((1, 2, 3)) > 0.5).astype(int)
    pruned, _ = pruning.prune(net, _scores(net), fraction=0.5)
    r = pruning.fine_tune(pruned, X, y, epochs=1, progress=False)
    assert len(r.history) == 1
    m = pruning.measure(pruned, X, y, min_run_time=0.01)
    assert m["params"] == sum(p.numel() for p in pruned.parameters()) and m["macs"] > 0
    assert m["bytes"] == pruning.saved_bytes(pruned) > 0
    assert m["latency_b1_ms"] > 0 and m["latency_b256_iqr_ms"] >= 0 and 0 <= m["accuracy"] <= 1


class _Logged(nn.Module):
    """Records its name in a shared log at every call (copies share the log)."""

    def __init__(self, name, log):
        super().__init__()
        self.name, self.log, self.lin = name, log, nn.Linear(4, 2)

    def forward(self, x):
        self.log.append(self.name)
        return self.lin(x.flatten(1))

    def __deepcopy__(self, memo):
        twin = _Logged(self.name, self.log)
        twin.lin.load_state_dict(self.lin.state_dict())
        return twin


def test_latencies_time_the_models_in_interleaved_rounds():
    log = []
    out = pruning.latencies([_Logged("a", log), _Logged("b", log)], (4,), batch_size=2, min_run_time=0.03, rounds=3)
    turns = [name for i, name in enumerate(log) if i == 0 or log[i - 1] != name]  # consecutive calls collapsed
    assert turns == ["a", "b"] * 4  # the warm-ups, then a's blocks and b's blocks in each of the 3 rounds
    assert [sorted(r) for r in out] == [["iqr_ms", "median_ms", "runs"]] * 2
    assert all(r["median_ms"] > 0 and r["iqr_ms"] >= 0 and r["runs"] >= 3 for r in out)
    assert len(pruning.latency(_Logged("c", log), (4,), min_run_time=0.01)) == 3


def test_measure_models_gives_measures_rows_in_order():
    net = _cnn()
    X = np.random.default_rng(0).random((16, 1, 8, 8)).astype(np.float32)
    y = np.arange(16) % 2
    pruned, _ = pruning.prune(net, _scores(net), fraction=0.5)
    rows = pruning.measure_models([net, pruned], X, y, latency_batches=(1,), min_run_time=0.02, rounds=2)
    assert [r["params"] for r in rows] == [sum(p.numel() for p in m.parameters()) for m in (net, pruned)]
    assert rows[0]["params"] > rows[1]["params"] and all(r["latency_b1_ms"] > 0 for r in rows)
    with pytest.raises(ValueError, match="rounds"):
        pruning.latencies([net], (1, 8, 8), rounds=0)
    with pytest.raises(ValueError, match="models is empty"):
        pruning.measure_models([], X, y)
    with pytest.raises(ValueError, match="models is empty"):
        pruning.latencies([], (1, 8, 8))
    with pytest.raises(ValueError, match="batch_size"):
        pruning.latencies([net], (1, 8, 8), batch_size=0)
    with pytest.raises(ValueError, match="input_shape entry"):
        pruning.latencies([net], (1, -8, 8))
    with pytest.raises(ValueError, match=r"model 0 \(.*\) cannot take a batch of shape \(1, 3, 8, 8\)"):
        pruning.latencies([net], (3, 8, 8))  # the net takes one channel


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_refused_before_heavy_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("heavy work started before validation")

    monkeypatch.setattr(pruning, "feature_maps", boom)
    net = _cnn()
    X, y = np.zeros((10, 1, 8, 8), np.float32), np.arange(10) % 2
    with pytest.raises(ValueError, match="unknown method 'bety'; choose one of 'betti'"):
        pruning.filter_scores(net, X, y, method="bety")
    with pytest.raises(ValueError, match="no conv layers .*topokit.models.cnn"):
        pruning.filter_scores(models.mlp(2, 3, 2), X, y)
    with pytest.raises(ValueError, match=r"shape \(n, 1, height, width\)"):
        pruning.filter_scores(net, np.zeros((10, 3, 8, 8)), y)
    with pytest.raises(ValueError, match="too small for 2 pooling layers; use at least 4x4"):
        pruning.filter_scores(net, np.zeros((10, 1, 2, 2)), y)
    with pytest.raises(ValueError, match="10 images but y has 9 labels"):
        pruning.filter_scores(net, X, y[:9])
    with pytest.raises(ValueError, match="n_images must be an integer >= 1"):
        pruning.filter_scores(net, X, y, n_images=0)
    with pytest.raises(ValueError, match="radius must be a finite number > 0"):
        pruning.filter_scores(net, X, y, radius=-1)
    with pytest.raises(ValueError, match="not a positive float32 distance.*pass a (scale|radius) between"):
        pruning.filter_scores(net, X, y, radius=1e39)
    scores = _scores(net)
    with pytest.raises(ValueError, match=r"scores name layers \['conv1'\] but the model's conv layers are"):
        pruning.prune(net, {"conv1": scores["conv1"]}, fraction=0.5)
    with pytest.raises(ValueError, match="scores\\['conv2'\\] has 3 values but conv2 has 8 filters"):
        pruning.prune(net, {**scores, "conv2": np.ones(3)}, fraction=0.5)
    with pytest.raises(ValueError, match="exactly one of threshold= .* and fraction="):
        pruning.prune(net, scores, threshold=300, fraction=0.5)
    with pytest.raises(ValueError, match="exactly one of threshold="):
        pruning.prune(net, scores)
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"fraction must be a finite number in \[0, 1\)"):
            pruning.prune(net, scores, fraction=bad)
    with pytest.raises(ValueError, match="no conv layers"):
        pruning.prune(models.mlp(2, 3, 2), scores, fraction=0.5)
    with pytest.raises(ValueError, match="too small"):
        pruning.prune(net, scores, fraction=0.5, example_input=torch.zeros(1, 1, 2, 2))



def test_benchmark_exactness_check_on_a_small_case():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_pruning.py"
    spec = importlib.util.spec_from_file_location("bench_pruning", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    net = _cnn(channels=(3, 4), seed=2)
    rng = np.random.default_rng(0)
    X = rng.random((60, 1, 10, 10)).astype(np.float32)
    y = np.arange(60) % 2
    for method in bench.METHODS:
        r = bench.compare(net, X, y, method, n_images=60, baseline_filters=4)
        assert r["agree"], r["mismatches"]
        assert r["filters"] == 7 and all(v["checked"] == v["filters"] for v in r["layers"].values())


def test_pruning_plots():
    import matplotlib

    matplotlib.use("Agg")
    from topokit import plotting

    scores = pruning.scores_frame({"conv1": np.arange(4.0), "conv2": np.arange(6.0)}, "betti", setting="a")
    fig = plotting.plot_filter_scores(scores, by="setting", threshold=3)
    assert len(fig.axes) == 2
    rows = [{"curve": c, "seed": s, "fraction": f, "finetuned": ft, "accuracy": 0.9 - f / 2 + 0.01 * s}
            for c, seeds in (("betti-high", [0]), ("random", [0, 1, 2])) for s in seeds
            for f in (0.5, 0.9) for ft in (False, True)]
    rows += [{"curve": "scratch", "seed": 0, "fraction": 0.5, "finetuned": False, "accuracy": 0.8},
             {"curve": "paper-rule", "seed": None, "fraction": 0.3, "finetuned": True, "accuracy": 0.85}]
    fig = plotting.plot_pruning_curves(pd.DataFrame(rows), baseline=0.9)
    assert len(fig.axes) == 2
    sizes = pd.DataFrame({"fraction": [0, 0.5], "params": [10, 5], "bytes": [2000, 1000], "latency_b1_ms": [1, 1],
                          "latency_b1_iqr_ms": [0.1, 0.1], "latency_b256_ms": [9, 5], "latency_b256_iqr_ms": [1, 1]})
    assert len(plotting.plot_pruning_sizes(sizes).axes) == 4
    with pytest.raises(ValueError, match="needs columns"):
        plotting.plot_pruning_curves(pd.DataFrame({"curve": ["x"]}))
    matplotlib.pyplot.close("all")
