"""Filter scores and pruning on any nn.Module (issue 14): the CIFAR ResNet, a user's model with a skip
connection, a two-branch toy whose group scores are known by hand, and what Torch-Pruning cannot prune."""
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from topokit import _graph, models, pruning
from topokit._checks import InvalidParameterError


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny convs on 2 shared cores: torch's second OpenMP thread only waits (10x slower here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _images(n=8, side=32, channels=3, seed=0):
    X = np.random.default_rng(seed).random((n, channels, side, side)).astype(np.float32)
    return X, np.arange(n) % 2


def _conv_names(model):
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def _randomize_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
    return model.eval()


class Skip(nn.Module):
    """A user's model: stem, a residual pair with functional relus, a head (no batch norm)."""

    def __init__(self, c=6):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.a = nn.Conv2d(c, c, 3, padding=1)
        self.b = nn.Conv2d(c, c, 3, padding=1)
        self.head = nn.Linear(c, 2)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        h = torch.relu(self.b(torch.relu(self.a(h))) + h)
        return self.head(h.mean((2, 3)))


class TwoBranch(nn.Module):
    """Two convs of the input added together, relu, then a conv: a and b form one group, c another."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3, padding=1)
        self.b = nn.Conv2d(1, 4, 3, padding=1)
        self.c = nn.Conv2d(4, 3, 3, padding=1)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        h = torch.relu(self.a(x) + self.b(x))
        return self.fc(torch.relu(self.c(h)).mean((2, 3)))


class Shuffle(nn.Module):
    """A channel shuffle through view/transpose: Torch-Pruning treats it as element-wise and breaks it."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        h = self.a(x)
        n, c, height, width = h.shape
        h = h.view(n, 2, c // 2, height, width).transpose(1, 2).reshape(n, c, height, width)
        return self.fc(self.b(h).mean((2, 3)))


class Branchy(nn.Module):
    """Python control flow on a tensor value: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        h = self.a(x)
        if h.sum() > 0:
            h = torch.relu(h)
        return self.fc(h.mean((2, 3)))


# ----------------------------------------------------------------------------- the reference ResNet


def test_resnet_is_he_et_al_cifar_resnet_named_as_torchvision():
    net = models.resnet(20)
    assert sum(p.numel() for p in net.parameters()) == 271_954  # 0.27 M, He et al.'s table (projection shortcuts)
    names = _conv_names(net)
    assert len(names) == 1 + 3 * 3 * 2 + 2 and names[:3] == ["conv1", "layer1.0.conv1", "layer1.0.conv2"]
    assert "layer2.0.downsample.0" in names and "layer3.0.downsample.0" in names
    assert "layer1.0.downsample.0" not in names
    assert isinstance(net.layer2[0].downsample[1], nn.BatchNorm2d) and net.fc.in_features == 64
    assert [net.layer1[0].conv1.out_channels, net.layer2[0].conv1.out_channels, net.layer3[2].conv2.out_channels] \
        == [16, 32, 64]
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 2)
    assert len(models.resnet(56, width=2).layer2) == 9 and len(models.resnet(110, width=1).layer3) == 18
    small = models.resnet(8, num_classes=3, in_channels=1, width=4, seed=1)
    assert small(torch.zeros(1, 1, 16, 16)).shape == (1, 3)
    assert torch.equal(models.resnet(8, width=4, seed=1).conv1.weight, models.resnet(8, width=4, seed=1).conv1.weight)
    with pytest.raises(InvalidParameterError, match=r"depth must be 6n \+ 2 .*20, 32, 44, 56, 110.*got 21; the "
                                                    r"nearest valid depths are 20 and 26"):
        models.resnet(21)
    for bad in (dict(depth=2), dict(depth=20.0), dict(width=0), dict(num_classes=True), dict(seed=-1)):
        with pytest.raises(InvalidParameterError):
            models.resnet(**bad)


# ----------------------------------------------------------------------------- scores on any model


@pytest.mark.parametrize("depth, methods", [(20, ("betti", "l1", "random")),
                                             (8, ("betti-knn", "cubical", "hrank"))])
def test_every_conv_of_a_resnet_is_scored(depth, methods):
    net = _randomize_bn(models.resnet(depth, width=4))
    X, y = _images(8)
    for method in methods:
        scores = pruning.filter_scores(net, X, y, method=method, progress=False)
        assert list(scores) == _conv_names(net) == pruning.conv_layer_names(net)
        for name, s in scores.items():
            assert s.shape == (dict(net.named_modules())[name].out_channels,) and np.isfinite(s).all()
        if method == "random":  # seeded per conv, in module order
            np.testing.assert_allclose(scores["layer1.0.conv2"], np.random.default_rng([0, 2]).random(4))
        if method == "betti":  # 4 distinct images per class, a radius of 1 (no live cloud): at most 4 + 4
            assert all(((s >= 2) & (s <= 8)).all() for s in scores.values())


def test_feature_points_of_a_residual_net_follow_the_documented_rule():
    net = _randomize_bn(models.resnet(8, width=4))
    X, y = _images(6)
    _, info = pruning.filter_scores(net, X, y, method="hrank", details=True)
    assert info["conv1"]["feature_point"] == "activation"  # conv1 -> bn1 -> relu
    assert info["layer1.0.conv1"]["feature_point"] == "activation"
    assert info["layer1.0.conv2"]["feature_point"] == "bn"  # the residual addition comes before the relu
    assert info["layer2.0.downsample.0"]["feature_point"] == "bn"
    # the values are those of the modules at those points (hooked by hand)
    seen = {}
    hooks = [m.register_forward_hook(lambda _m, _a, out, k=k: seen.setdefault(k, out.detach().clone()))
             for k, m in (("bn2", net.layer1[0].bn2), ("conv2", net.layer1[0].conv2), ("bn1", net.bn1))]
    with torch.no_grad():
        net(torch.from_numpy(X))
    for h in hooks:
        h.remove()
    maps = pruning.feature_maps(net, X)
    torch.testing.assert_close(maps["layer1.0.conv2"], seen["bn2"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(maps["conv1"], torch.relu(seen["bn1"]), rtol=1e-5, atol=1e-5)
    conv_maps, points = pruning.feature_maps(net, X, feature_point="conv", details=True)
    torch.testing.assert_close(conv_maps["layer1.0.conv2"], seen["conv2"], rtol=1e-5, atol=1e-5)
    assert set(points.values()) == {"conv"}
    bn_maps = pruning.feature_maps(net, X, feature_point="bn")
    torch.testing.assert_close(bn_maps["conv1"], seen["bn1"], rtol=1e-5, atol=1e-5)
    with pytest.raises(InvalidParameterError, match=r"feature_point='activation' needs every conv .*"
                                                    r"'layer1.0.conv2'.* have none"):
        pruning.feature_maps(net, X, feature_point="activation")
    with pytest.raises(InvalidParameterError, match="feature_point must be one of 'auto', 'conv', 'bn', 'activation'"):
        pruning.filter_scores(net, X, y, feature_point="relu")


def test_a_user_model_with_functional_relu_and_an_untraceable_one():
    X, y = _images(6, side=12)
    _, info = pruning.filter_scores(Skip(), X, y, method="hrank", details=True)
    assert {k: v["feature_point"] for k, v in info.items()} == {"stem": "activation", "a": "activation", "b": "conv"}
    with pytest.warns(UserWarning, match="torch.fx cannot trace Branchy.*read at the conv outputs"):
        _, info = pruning.filter_scores(Branchy(), X, y, method="hrank", details=True)
    assert info["a"]["feature_point"] == "conv"
    with pytest.raises(ValueError, match="torch.fx cannot trace Branchy.*use feature_point='conv'"):
        pruning.filter_scores(Branchy(), X, y, method="hrank", feature_point="activation")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pruning.filter_scores(Branchy(), X, y, method="hrank", feature_point="conv")  # no tracing, no warning


def test_images_a_model_rejects_are_refused_before_any_feature_map(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("heavy work started before validation")

    monkeypatch.setattr(_graph, "capture", boom)
    X, y = _images(4, side=12)
    with pytest.raises(InvalidParameterError, match=r"the model rejects images of shape \(1, 12, 12\).*first conv, "
                                                    r"'stem', takes 3 channel"):
        pruning.filter_scores(Skip(), X[:, :1], y, method="betti")
    with pytest.raises(InvalidParameterError, match=r"shape \(n, channels, height, width\)"):
        pruning.filter_scores(Skip(), X[0], y, method="l1")
    with pytest.raises(InvalidParameterError, match="has no conv layers"):
        pruning.filter_scores(nn.Sequential(nn.Flatten(), nn.Linear(432, 2)), X, y)
    with pytest.raises(InvalidParameterError, match="nn.Module with Conv2d layers"):
        pruning.filter_scores("net", X, y)


# Scores of a LayeredNet computed with topokit before issue 14 (git 591eabf): they must not change.
_PINNED = {
    "betti": {"conv1": [2.0, 2.0, 80.0, 5.0], "conv2": [2.0, 2.0, 8.0, 80.0, 2.0, 2.0]},
    "betti-knn": {"conv1": [2.0, 2.0, 2.0, 2.0], "conv2": [2.0] * 6},
    "cubical": {"conv1": [1.0, 1.5875, 35.9375, 10.025], "conv2": [1.0, 1.0, 3.9, 5.7, 1.0, 1.0]},
    "l1": {"conv1": [1.219224452972412, 1.2752153873443604, 1.4778648614883423, 1.9359629154205322],
           "conv2": [3.097553253173828, 3.1649656295776367, 2.692981481552124, 3.1679153442382812, 2.7326650619506836,
                     2.7711756229400635]},
    "hrank": {"conv1": [0.05, 1.275, 12.0, 11.725], "conv2": [0.0, 0.0, 6.0, 6.0, 1.0, 0.0]},
    "random": {"conv1": [0.6369616873214543, 0.2697867137638703, 0.04097352393619469, 0.016527635528529094],
               "conv2": [0.8897387912781343, 0.5571380502062263, 0.8009080868919721, 0.9565138174753386,
                         0.05861516014935442, 0.23640069529958085]},
}


def test_layered_net_scores_are_unchanged():
    net = _randomize_bn(models.cnn(1, channels=(4, 6), hidden=5, seed=0))
    X = np.random.default_rng(0).random((80, 1, 12, 12)).astype(np.float32)
    y = np.arange(80) % 2
    for method, want in _PINNED.items():
        got = pruning.filter_scores(net, X, y, method=method, progress=False)
        assert list(got) == ["conv1", "conv2"]
        for layer in want:
            np.testing.assert_allclose(got[layer], want[layer], rtol=1e-6, err_msg=f"{method} {layer}")
    _, info = pruning.filter_scores(net, X, y, details=True)
    assert info["conv1"]["radius"] == info["conv1"]["scale"] == pytest.approx(1.0458972454071045, rel=1e-6)


def test_radius_replaces_scale_with_a_deprecation_warning():
    net = models.cnn(1, channels=(3,), hidden=3, seed=0).eval()
    X, y = _images(20, side=8, channels=1)
    new = pruning.filter_scores(net, X, y, radius=0.5)
    with pytest.warns(DeprecationWarning, match=r"filter_scores\(scale=...\) is deprecated.*radius="):
        old = pruning.filter_scores(net, X, y, scale=0.5)
    assert np.array_equal(new["conv1"], old["conv1"])
    assert not np.array_equal(new["conv1"], pruning.filter_scores(net, X, y, radius=1e-6)["conv1"])
    with pytest.raises(InvalidParameterError, match="got both radius=0.5 and scale=0.5"):
        pruning.filter_scores(net, X, y, radius=0.5, scale=0.5)
    with pytest.raises(InvalidParameterError, match="radius must be a finite number > 0"):
        pruning.filter_scores(net, X, y, radius=-1)
    with pytest.raises(ValueError, match="radius applies to method='betti' only"):
        pruning.filter_scores(net, X, y, method="l1", radius=1.0)


# ----------------------------------------------------------------------------- pruning through groups


def test_two_branch_group_score_is_the_mean_and_the_removed_channels_are_known():
    torch.manual_seed(0)
    net = TwoBranch().eval()
    x = torch.randn(1, 1, 8, 8)
    scores = {"a": np.array([1.0, 5, 3, 0]), "b": np.array([3.0, 1, 3, 8])}  # mean [2, 3, 3, 4]
    pruned, rep = pruning.prune(net, scores, fraction=0.5, example_input=x)
    assert rep["removed"] == {"a": [1, 3], "b": [1, 3], "c": []}  # 4, then the tie 3 = 3 by channel index
    group = [g for g in rep["groups"] if "a" in g["convs"]][0]
    assert group["convs"] == ["a", "b"] and group["removed"] == [1, 3] and group["kept"] is None
    assert [g["kept"] for g in rep["groups"] if g["convs"] == ["c"]] == ["no scores"]  # c unscored: not pruned
    assert pruned.a.out_channels == pruned.b.out_channels == pruned.c.in_channels == 2
    _, low = pruning.prune(net, scores, fraction=0.5, highest=False, example_input=x)
    assert low["removed"]["a"] == [0, 1]  # the lowest means: 2, then 3 (channel 1 before 2)
    _, thr = pruning.prune(net, scores, threshold=2.5, example_input=x)
    assert thr["removed"]["a"] == [1, 2, 3]  # means above 2.5; channel 0 (mean 2) stays
    _, everything = pruning.prune(net, scores, threshold=-1, example_input=x)
    assert everything["removed"]["a"] == [1, 2, 3]  # never the whole group: the lowest mean stays
    _, one = pruning.prune(net, {"a": scores["a"]}, fraction=0.5, example_input=x)
    assert one["removed"]["a"] == one["removed"]["b"] == [1, 2]  # b unscored: a's own scores decide
    # without batch norm the pruned net gives the logits of the original with those channels zeroed
    silenced = TwoBranch()
    silenced.load_state_dict(net.state_dict())
    with torch.no_grad():
        for conv in (silenced.a, silenced.b):
            conv.weight[[1, 3]] = 0
            conv.bias[[1, 3]] = 0
        xs = torch.randn(5, 1, 8, 8)
        torch.testing.assert_close(pruned(xs), silenced.eval()(xs), rtol=1e-5, atol=1e-6)


class Concat(nn.Module):
    """cat(a, b) added to c: channel i of c is tied to a's channel i (i < 2) or b's channel i - 2."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 2, 3, padding=1)
        self.b = nn.Conv2d(1, 3, 3, padding=1)
        self.c = nn.Conv2d(1, 5, 3, padding=1)
        self.d = nn.Conv2d(5, 2, 1)
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        h = torch.relu(torch.cat([self.a(x), self.b(x)], 1) + self.c(x))
        return self.fc(self.d(h).mean((2, 3)))


def test_channels_tied_through_a_concatenation_form_one_group():
    scores = {"a": np.array([10.0, 0]), "b": np.array([0.0, 0, 10]), "c": np.array([0.0, 1, 2, 3, 4])}
    # group means over c's channels: [(10+0)/2, (0+1)/2, (0+2)/2, (0+3)/2, (10+4)/2] = [5, .5, 1, 1.5, 7]
    pruned, rep = pruning.prune(Concat().eval(), scores, fraction=0.4, example_input=torch.randn(1, 1, 6, 6))
    assert rep["removed"] == {"a": [0], "b": [2], "c": [0, 4], "d": []}
    assert [g["convs"] for g in rep["groups"]] == [["a", "b", "c"], ["d"]]
    assert (pruned.a.out_channels, pruned.b.out_channels, pruned.c.out_channels, pruned.d.in_channels) == (1, 2, 3, 3)
    assert pruned(torch.randn(2, 1, 6, 6)).shape == (2, 2)


def test_residual_groups_of_a_resnet_are_pruned_together_and_it_shrinks():
    net = _randomize_bn(models.resnet(20, width=4))
    rng = np.random.default_rng(0)
    scores = {name: rng.random(m.out_channels) for name, m in net.named_modules() if isinstance(m, nn.Conv2d)}
    x = torch.from_numpy(_images(1)[0])
    pruned, rep = pruning.prune(net, scores, fraction=0.5, example_input=x)
    stage1 = ["conv1"] + [f"layer1.{b}.conv2" for b in range(3)]
    stage2 = ["layer2.0.downsample.0"] + [f"layer2.{b}.conv2" for b in range(3)]
    groups = {tuple(sorted(g["convs"])): g for g in rep["groups"]}
    assert tuple(sorted(stage1)) in groups and tuple(sorted(stage2)) in groups
    for convs in (stage1, stage2):  # one set of removed channels, whose group mean is the highest
        g = groups[tuple(sorted(convs))]
        mean = np.mean([scores[c] for c in convs], axis=0)
        assert g["removed"] == sorted(np.argsort(-mean, kind="stable")[: len(mean) // 2].tolist())
        assert all(rep["removed"][c] == g["removed"] for c in convs)
        assert len({dict(pruned.named_modules())[c].out_channels for c in convs}) == 1
    assert pruned.layer1[1].conv1.in_channels == pruned.conv1.out_channels == 2
    assert pruned.layer1[0].conv1.out_channels == 2  # a block's inner width is its own group
    assert rep["params_after"] < rep["params_before"] and rep["macs_after"] < rep["macs_before"]
    assert rep["params_after"] == sum(p.numel() for p in pruned.parameters())
    assert pruned.fc.out_features == 2 and pruned(torch.randn(3, 3, 32, 32)).shape == (3, 2)
    assert models.architecture(pruned)["widths"] == [2, 4, 8]
    before = [p.detach().clone() for p in net.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # the original is untouched


def test_ignored_layers_are_kept():
    net = models.resnet(8, width=4).eval()
    scores = pruning.filter_scores(net, *_images(2), method="l1")
    pruned, rep = pruning.prune(net, scores, fraction=0.5, ignored_layers=["layer2"])
    layer2 = [c for c in scores if c.startswith("layer2")]
    assert all(rep["removed"][c] == [] for c in layer2) and rep["removed"]["layer3.0.conv1"]
    assert all(rep["channels_after"][c] == rep["channels_before"][c] for c in layer2)
    assert "ignored_layers" in {g["kept"] for g in rep["groups"]}
    _, rep = pruning.prune(net, scores, fraction=0.5, ignored_layers=[net.layer1[0].conv2])  # a module of the group
    assert rep["removed"]["conv1"] == [] and rep["removed"]["layer1.0.conv1"] != []
    toy = TwoBranch()
    _, rep = pruning.prune(toy, {"a": np.arange(4.0), "b": np.arange(4.0), "c": np.arange(3.0)}, fraction=0.5,
                           example_input=torch.zeros(1, 1, 8, 8), ignored_layers=[toy.b])
    assert rep["removed"] == {"a": [], "b": [], "c": [2]}
    with pytest.raises(InvalidParameterError, match="did you mean 'layer2'"):
        pruning.prune(net, scores, fraction=0.5, ignored_layers=["layer_2"])
    with pytest.raises(InvalidParameterError, match="not a module of this model"):
        pruning.prune(net, scores, fraction=0.5, ignored_layers=[nn.Conv2d(1, 1, 1)])


def test_bad_scores_and_inputs_for_any_model():
    net, x = Skip(), torch.zeros(1, 3, 8, 8)
    with pytest.raises(InvalidParameterError, match="example_input is needed for a Skip"):
        pruning.prune(net, {"a": np.ones(6)}, fraction=0.5)
    with pytest.raises(InvalidParameterError, match="did you mean 'stem'"):
        pruning.prune(net, {"stemm": np.ones(6)}, fraction=0.5, example_input=x)
    with pytest.raises(ValueError, match=r"scores\['a'\] has 3 values but a has 6 filters"):
        pruning.prune(net, {"a": np.ones(3)}, fraction=0.5, example_input=x)
    with pytest.raises(InvalidParameterError, match="the model rejects images of shape"):
        pruning.prune(net, {"a": np.ones(6)}, fraction=0.5, example_input=torch.zeros(1, 2, 8, 8))
    with pytest.raises(InvalidParameterError, match="highest must be True or False"):
        pruning.prune(net, {"a": np.ones(6)}, fraction=0.5, example_input=x, highest="yes")


def test_a_model_torch_pruning_cannot_follow_is_refused_clearly():
    net, x = Shuffle(), torch.randn(1, 3, 8, 8)
    scores = {"a": np.arange(4.0), "b": np.arange(4.0)}
    with pytest.raises(ValueError, match=re.escape("h.view(n, 2, c // 2, height, width)") + r".*in forward.*"
                                         r"ignored_layers=\['a'\]"):
        pruning.prune(net, scores, fraction=0.25, example_input=x)
    pruned, rep = pruning.prune(net, scores, fraction=0.25, example_input=x, ignored_layers=["a"])  # as suggested
    assert rep["removed"] == {"a": [], "b": [3]} and pruned(x).shape == (1, 2)

    class NoGrad(Shuffle):
        def forward(self, x):
            with torch.no_grad():
                h = self.a(x)
            return self.fc(self.b(h).mean((2, 3)))

    with pytest.raises(ValueError, match="does not reach 'a' .*torch.no_grad.*ignored_layers=\\['a'\\]"):
        pruning.prune(NoGrad(), scores, fraction=0.25, example_input=x)


# ----------------------------------------------------------------------------- saving any pruned model


def test_save_load_round_trips_of_a_pruned_resnet_and_a_pruned_user_model(tmp_path):
    X, y = _images(4, side=16)
    x = torch.randn(3, 3, 16, 16)
    net = _randomize_bn(models.resnet(8, width=4))
    pruned, _ = pruning.prune(net, pruning.filter_scores(net, X, y, method="l1"), fraction=0.5)
    back = models.load(models.save(pruned, tmp_path / "resnet.pt"))
    assert isinstance(back, models.ResNet) and models.architecture(back) == models.architecture(pruned)
    with torch.no_grad():
        assert torch.equal(back(x), pruned(x))
    torch.manual_seed(0)
    user = Skip().eval()
    pruned, rep = pruning.prune(user, pruning.filter_scores(user, X, y, method="l1"), fraction=0.5,
                                example_input=X[:1])
    assert pruned.stem.out_channels == pruned.b.out_channels == 3  # the skip ties stem and b
    path = models.save(pruned, tmp_path / "user.pt")
    state = torch.load(path, weights_only=True)  # strings and tensors only
    assert state["version"] == 3 and '"kind": "tp-state"' in state["architecture"]
    fresh = Skip()
    fresh_weights = {k: v.clone() for k, v in fresh.state_dict().items()}
    back = models.load(path, model=fresh)
    with torch.no_grad():
        assert torch.equal(back(x), pruned(x))
    assert not back.training and back.a.out_channels == 3 and back.head.in_features == 3
    assert fresh.stem.out_channels == 6 and all(torch.equal(v, fresh.state_dict()[k]) for k, v in fresh_weights.items())
    again = models.load(models.save(back, tmp_path / "again.pt"), model=Skip())  # the unpruned shapes travel
    with torch.no_grad():
        assert torch.equal(again(x), pruned(x))


def test_a_pruned_state_for_another_architecture_is_refused_with_nothing_applied(tmp_path):
    torch.manual_seed(0)
    user = Skip().eval()
    pruned, _ = pruning.prune(user, {"a": np.arange(6.0)}, fraction=0.5, example_input=torch.zeros(1, 3, 8, 8))
    path = models.save(pruned, tmp_path / "user.pt")
    with pytest.raises(InvalidParameterError, match=r"pruned state of a Skip, a model topokit does not build.*"
                                                    r"model=Skip\(...\)"):
        models.load(path)
    wider = Skip(8)
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    with pytest.raises(InvalidParameterError, match=r"does not fit the model passed as model=: stem.weight has "
                                                    r"shape \(8, 3, 3, 3\) in model=, the unpruned model saved had "
                                                    r"\(6, 3, 3, 3\)"):
        models.load(path, model=wider)
    assert wider.stem.out_channels == 8 and all(torch.equal(v, wider.state_dict()[k]) for k, v in before.items())
    with pytest.raises(InvalidParameterError, match="saved from a Skip, model= is a TwoBranch.*no module 'stem'"):
        models.load(path, model=TwoBranch())
    with pytest.raises(InvalidParameterError, match="model= is only for models topokit did not build"):
        models.load(models.save(models.resnet(8, width=2), tmp_path / "r.pt"), model=Skip())


def test_no_torchvision_anywhere():
    root = Path(pruning.__file__).resolve().parent
    offenders = [str(p) for p in root.rglob("*.py") if re.search(r"^\s*(import|from)\s+torchvision", p.read_text(),
                                                                 re.M)]
    assert offenders == []


def test_read_only_images_are_scored_without_a_warning_and_left_unchanged():
    """A cached or shared data set is read-only: scoring copies it where torch cannot share it, instead of
    printing torch's "The given NumPy array is not writable" warning (notebook 06's log)."""
    net = models.resnet(8, width=4)
    X, y = _images(6)
    expected = pruning.filter_scores(net, X, y, method="l1", progress=False)
    frozen = X.copy()
    frozen.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = pruning.filter_scores(net, frozen, y, method="hrank", progress=False)
        again = pruning.filter_scores(net, frozen, y, method="l1", progress=False)
    assert set(got) == set(expected) and all(np.array_equal(again[k], expected[k]) for k in expected)
    assert np.array_equal(frozen, X) and not frozen.flags.writeable
