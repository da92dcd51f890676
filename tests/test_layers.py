"""Tests of topokit.layers (choosing layers of any nn.Module and capturing them) and of the
topology functions on user models: by module name, graph node, type and "auto" on a plain
VGG-style CNN, a user model with a skip connection and a functional ``torch.relu``, and a small
residual network; LayeredNet results pinned to the values of the code before issue 14; the
``scale=`` -> ``hops=`` deprecation."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from topokit import data, layers, models, topology
from topokit.activations import get_activation
from topokit.layers import LayerRef

# ----------------------------------------------------------------------------- models


class VGGish(nn.Module):
    """A plain VGG-style CNN: conv-bn-relu blocks with pooling, then a classifier."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(8 * 2 * 2, 6), nn.ReLU(), nn.Linear(6, 2))

    def forward(self, x):
        return self.classifier(self.features(x))


class SkipNet(nn.Module):
    """A user's MLP with a skip connection and functional activations in forward."""

    def __init__(self, d=2, width=8):
        super().__init__()
        self.fc1 = nn.Linear(d, width)
        self.fc2 = nn.Linear(width, width)
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        h = F.relu(self.fc2(h) + h)
        return self.head(h)


class BasicBlock(nn.Module):
    """He et al.'s basic block, torchvision's names (one ReLU module used twice, in place)."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    """Stem, three stages ``layer1``-``layer3`` of blocks ``layer1.0`` ..., pooling and ``fc``."""

    def __init__(self, width=4, blocks=2):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        stages, cin = [], width
        for i, cout in enumerate((width, 2 * width, 4 * width)):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(*[BasicBlock(cin if b == 0 else cout, cout, stride if b == 0 else 1)
                                          for b in range(blocks)]))
            cin = cout
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(cin, 2)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 4)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x):
        h = self.act(self.fc1(x))
        if h.sum() > 0:
            h = h * 2
        return self.fc2(h)


def _init(model, seed=0):
    """Seeded weights and non-trivial batch-norm statistics, in train mode (capture must switch)."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.train()


@pytest.fixture
def images():
    return torch.randn(10, 3, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def points():
    return torch.randn(20, 2, generator=torch.Generator().manual_seed(2))


def names(refs):
    return [r.name for r in refs]


def eq(a, b):
    np.testing.assert_array_equal(a, b.detach().numpy())


# ----------------------------------------------------------------------------- by module name


def test_module_names_capture_what_the_submodule_computes(images):
    net = _init(VGGish())
    refs = layers.resolve(net, ["features.2", "classifier", "features.4"])
    assert refs == [LayerRef("features.2", "module", "features.2"), LayerRef("classifier", "module", "classifier"),
                    LayerRef("features.4", "module", "features.4")]  # the user's order
    out = layers.capture(net, images, refs)  # one batch: bitwise what the submodules give on it
    assert list(out) == ["features.2", "classifier", "features.4"] and net.training  # mode restored
    batched = layers.capture(net, images, refs, batch_size=3)
    for name in out:  # other batch sizes may pick other conv kernels: equal up to rounding
        np.testing.assert_allclose(batched[name], out[name], rtol=1e-5, atol=1e-6)
    net.eval()
    with torch.no_grad():
        eq(out["features.2"], net.features[:3](images))
        eq(out["features.4"], net.features[:5](images))
        eq(out["classifier"], net(images))
    assert all(v.dtype == np.float32 for v in out.values())
    assert not any(m._forward_hooks for m in net.modules())  # hooks removed


def test_residual_blocks_by_name(images):
    net = _init(TinyResNet())
    out = layers.capture(net, images, ["layer1.0", "layer1", "layer2", "layer3.1.bn2"])
    net.eval()
    with torch.no_grad():
        stem = net.relu(net.bn1(net.conv1(images)))
        b10 = net.layer1[0](stem.clone())
        l1 = net.layer1(stem.clone())
        l2 = net.layer2(l1.clone())
        l30 = net.layer3[0](l2.clone())
        blk = net.layer3[1]
        bn2 = blk.bn2(blk.conv2(blk.relu(blk.bn1(blk.conv1(l30)))))
    eq(out["layer1.0"], b10)
    eq(out["layer1"], l1)
    eq(out["layer2"], l2)
    # recorded before the block's in-place ``out += identity`` and ReLU changed that tensor
    eq(out["layer3.1.bn2"], bn2)
    assert (out["layer3.1.bn2"] < 0).any()


def test_layered_net_names_its_blocks():
    net = models.mlp(2, 6, 2, "relu", seed=0)
    assert names(layers.resolve(net)) == ["hidden1", "hidden2", "logits"]
    assert layers.resolve(net, ["logits", "hidden1"]) == [LayerRef("logits", "module", "blocks.2"),
                                                          LayerRef("hidden1", "module", "blocks.0")]
    assert layers.resolve(net, "blocks.1.0") == [LayerRef("blocks.1.0", "module", "blocks.1.0")]
    assert names(layers.resolve(nn.Sequential(nn.Linear(2, 3), nn.Tanh()))) == ["0", "1"]


# ----------------------------------------------------------------------------- by graph node


def test_graph_nodes_of_a_functional_forward(points):
    net = _init(SkipNet())
    info = layers.available(net)
    assert info["trace_error"] is None
    assert {"relu", "add", "relu_1", "fc1", "head"} <= set(info["nodes"])
    out = layers.capture(net, points, ["relu", "add", "relu_1", "output"], batch_size=len(points))  # one batch: exact
    batched = layers.capture(net, points, ["relu", "add", "relu_1", "output"], batch_size=7)
    with torch.no_grad():
        h = torch.relu(net.fc1(points))
        s = net.fc2(h) + h
        eq(out["relu"], h)
        eq(out["add"], s)
        eq(out["relu_1"], F.relu(s))
        eq(out["output"], net(points))
    for name in out:  # MKL's pinned (MKL_CBWR) products may round differently for another batch size
        np.testing.assert_allclose(batched[name], out[name], rtol=1e-5, atol=1e-6)


def test_graph_nodes_read_each_call_of_a_shared_module(images):
    net = _init(TinyResNet())
    blk = net.layer2[0]
    out = layers.capture(net, images, ["layer2_0_relu", "add_2", "layer2.0.bn2", "layer2_0_relu_1", "fc"])
    net.eval()
    with torch.no_grad():
        x = net.layer1(net.relu(net.bn1(net.conv1(images))))
        first = blk.relu(blk.bn1(blk.conv1(x)))
        bn2 = blk.bn2(blk.conv2(first.clone()))
        total = bn2 + blk.downsample(x)
        eq(out["layer2_0_relu"], first)
        eq(out["layer2.0.bn2"], bn2)  # module name, read from the graph here: before the in-place add
        eq(out["add_2"], total)
        eq(out["layer2_0_relu_1"], torch.relu(total))
        eq(out["fc"], net(images))  # the graph gives the original forward's numbers


def test_node_prefix_picks_a_node_that_shares_a_module_name(points):
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.relu, self.fc2 = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3)

        def forward(self, x):
            return self.relu(self.fc2(self.relu(self.fc1(x))))

    net = Shared()
    with pytest.raises(ValueError, match=r"module 'relu' runs 2 times.*'node:relu', 'relu_1'"):
        layers.resolve(net, "relu")
    assert layers.resolve(net, ["node:relu", "relu_1"]) == [LayerRef("relu", "node", "relu"),
                                                            LayerRef("relu_1", "node", "relu_1")]
    out = layers.capture(net, points, ["node:relu", "module:fc2"])
    with torch.no_grad():
        eq(out["relu"], torch.relu(net.fc1(points)))
        eq(out["fc2"], net.fc2(torch.relu(net.fc1(points))))


# ----------------------------------------------------------------------------- by type


def test_types_expand_in_execution_order(images):
    vgg = _init(VGGish())
    refs = layers.resolve(vgg, nn.Conv2d)
    assert names(refs) == ["features.0", "features.4"] and {r.kind for r in refs} == {"module"}
    assert names(layers.resolve(vgg, [nn.ReLU])) == ["features.2", "features.6", "classifier.2"]
    res = _init(TinyResNet())
    relus = layers.resolve(res, nn.ReLU)  # each block's shared ReLU: one layer per call, by node
    assert names(relus)[:5] == ["relu", "layer1_0_relu", "layer1_0_relu_1", "layer1_1_relu", "layer1_1_relu_1"]
    assert len(relus) == 1 + 2 * 6
    assert relus[0].kind == "module" and {r.kind for r in relus[1:]} == {"node"}  # the stem's ReLU runs once
    convs = layers.resolve(res, nn.Conv2d)
    assert names(convs)[:4] == ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer1.1.conv1"]
    assert "layer2.0.downsample.0" in names(convs) and len(convs) == 1 + 2 * 6 + 2
    out = layers.capture(res, images, convs[:2] + relus[-1:])
    res.eval()
    with torch.no_grad():
        eq(out["conv1"], res.conv1(images))
        eq(out["layer1.0.conv1"], res.layer1[0].conv1(res.relu(res.bn1(res.conv1(images)))))
        x = res.layer2(res.layer1(res.relu(res.bn1(res.conv1(images)))))
        eq(out[relus[-1].name], res.layer3(x))


# ----------------------------------------------------------------------------- auto


def test_auto_is_every_activation_then_the_output(images, points):
    assert names(layers.resolve(_init(VGGish()))) == ["features.2", "features.6", "classifier.2", "classifier.3"]
    assert names(layers.resolve(SkipNet())) == ["relu", "relu_1", "head"]
    res = layers.resolve(_init(TinyResNet()))
    assert names(res) == names(layers.resolve(TinyResNet(), nn.ReLU)) + ["fc"]
    # topokit's own activations count, as modules or traced through
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(2, 3), get_activation("topo"), nn.Linear(3, 3), get_activation("relu"))

        def forward(self, x):
            return self.net(x) * 2

    assert names(layers.resolve(Wrapped())) == ["net.1", "net.3", "output"]
    assert layers.available(Wrapped())["auto"] == ["net.1", "net.3", "output"]
    out = layers.capture(Wrapped(), points, "auto")
    assert list(out) == ["net.1", "net.3", "output"]


def test_auto_on_a_model_fx_cannot_trace_uses_its_children():
    net = Untraceable()
    info = layers.available(net)
    assert info["nodes"] == [] and "TraceError" in info["trace_error"]
    assert names(layers.resolve(net)) == ["fc1", "act", "fc2"]


# ----------------------------------------------------------------------------- untraceable models


def test_untraceable_model_works_with_names_and_types_but_not_nodes(points):
    net = Untraceable()
    out = layers.capture(net, points, ["act", nn.Linear])
    with torch.no_grad():
        eq(out["act"], torch.tanh(net.fc1(points)))
        eq(out["fc2"], net(points))
    with pytest.raises(ValueError, match=r"'tanh' is not a module name.*could not trace it \(TraceError: .*\).*"
                                         r"module names"):
        layers.resolve(net, "tanh")
    with torch.no_grad():
        eq(layers.capture(net, points, "output")["output"], net(points))

    class Twice(Untraceable):
        def forward(self, x):
            return self.fc2(self.act(self.act(self.fc1(x))) if x.sum() > 0 else x)

    with pytest.raises(ValueError, match="module 'act' ran 2 times in one forward pass"):
        layers.capture(Twice(), points.abs(), ["act"])


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad, match", [
    ("layer1.o", r"'layer1.o' names no module or graph node of TinyResNet; did you mean .*'layer1.0'"),
    ("laye2", r"did you mean 'layer2'"),
    ("node:layer1.0", r"names no graph node.*did you mean 'layer1_0_.*"),
    (nn.Conv1d, r"no module of TinyResNet is a Conv1d; its module types are BasicBlock, BatchNorm2d, Conv2d"),
    ([], "layers is empty"),
    ([3], "layers entries must be names"),
    (int, "must be nn.Module subclasses"),
    (4.0, "layers must be 'auto', a name, an nn.Module type or a list"),
    ("layer1.0.relu", r"module 'layer1.0.relu' runs 2 times in forward.*'layer1_0_relu', 'layer1_0_relu_1'"),
])
def test_bad_layers_are_refused_with_close_matches(bad, match):
    with pytest.raises(ValueError, match=match):
        layers.resolve(TinyResNet(), bad)


def test_module_never_called_and_layers_that_are_not_tensors():
    class Spare(SkipNet):
        def __init__(self):
            super().__init__()
            self.unused = nn.Linear(2, 2)

    with pytest.raises(ValueError, match="module 'unused' is never called by forward"):
        layers.resolve(Spare(), "unused")
    assert "unused" not in names(layers.resolve(Spare(), nn.Linear))

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(2, 3, batch_first=True)

        def forward(self, x):
            return self.lstm(x)[0][:, -1]

    with pytest.raises(ValueError, match="layer 'lstm' gives a tuple, not a tensor"):
        layers.capture(Pair(), torch.zeros(4, 5, 2), ["lstm"])


def test_bad_input_shape_is_reported_after_one_sample(monkeypatch):
    net = _init(TinyResNet())
    seen = []
    net.register_forward_pre_hook(lambda _m, args: seen.append(len(args[0])))
    X = torch.zeros(500, 1, 8, 8)  # one channel; the model wants three
    with pytest.raises(ValueError, match=r"rejects inputs of shape \(500, 1, 8, 8\).*expects \[n, 3, height, width\]"):
        layers.capture(net, X, "auto")
    assert seen == [1]
    with pytest.raises(ValueError, match=r"expects \[n, 2\]"):
        topology.layer_betti(SkipNet(), np.zeros((40, 3)), np.repeat([0, 1], 20), k=3, n_jobs=1, layers=["relu"])
    with pytest.raises(ValueError, match=r"expects \[n, 3, height, width\]"):
        layers.resolve(net, "layer1", example_input=X)


def test_memory_budget_is_checked_before_the_pass():
    with pytest.raises(ValueError, match="outputs of 1 layers for 1000 inputs.*GiB"):
        layers.capture(SkipNet(), torch.zeros(1000, 2), ["relu"], max_memory_bytes=1000)


# ----------------------------------------------------------------------------- topology on any model


def test_layer_betti_on_a_user_model_returns_exactly_the_chosen_layers():
    d = data.load("D-I", split="homology")
    net = _init(SkipNet(width=10))
    df = topology.layer_betti(net, d.X, d.y, k=14, n_jobs=1, max_points=300, layers=["relu", "fc2", "head"])
    assert df.layer_name.unique().tolist() == ["input", "relu", "fc2", "head"]
    assert df.layer.unique().tolist() == [0, 1, 2, 3]
    assert len(df) == 4 * 2 * 2
    outs = topology.layer_outputs(net, d.X, layers=["relu", "fc2", "head"])
    assert topology.layer_names(net, ["relu", "fc2", "head"]) == ["input", "relu", "fc2", "head"]
    rng = np.random.default_rng(0)  # layer_betti's subsample (seed=0), class by class
    keep = np.sort(np.concatenate([np.sort(rng.choice(np.flatnonzero(d.y == c), 300, replace=False))
                                   for c in (0, 1)]))
    for layer in (1, 2):
        rows = df[(df.layer == layer) & (df.label == 1)]
        cloud = outs[layer][keep][d.y[keep] == 1]
        assert tuple(rows.betti) == topology.betti_numbers(cloud, k=14)
    auto = topology.layer_betti(net, d.X, d.y, k=14, n_jobs=1, max_points=100)
    assert auto.layer_name.unique().tolist() == ["input", "relu", "relu_1", "head"]
    dgms = topology.layer_diagrams(net, d.X, d.y, k=14, n_jobs=1, max_points=100, layers=nn.Linear)
    assert all(len(v) == 4 for v in dgms.values())


# the frame computed by topology.layer_betti before issue 14 (commit 591eabf) on
# models.mlp(2, 15, 4, "relu", seed=0) over the D-I homology split, k=14, hops 2
_PINNED_BETTI = [9, 0, 1, 9, 9, 0, 1, 9, 8, 0, 1, 9, 6, 0, 1, 8, 5, 0, 1, 8, 3, 0, 1, 5]
# and topology.layer_outputs(models.cnn(1, channels=(4, 8), hidden=16, seed=0), X, batch_size=5)
_PINNED_CNN_SUMS = [-5.407442623283714, 2031.0641068249242, 356.5059087759, 24.227886602282524, 0.16750863194465637]


def test_layered_net_results_unchanged():
    d = data.load("D-I", split="homology")
    net = models.mlp(2, 15, 4, "relu", seed=0)
    df = topology.layer_betti(net, d.X, d.y, k=14, n_jobs=1)
    assert df.layer_name.unique().tolist() == ["input", "hidden1", "hidden2", "hidden3", "hidden4", "logits"]
    assert df.betti.tolist() == _PINNED_BETTI
    assert df.n_points.tolist() == [353, 353, 2247, 2247] * 6
    assert layers.resolve(net, "auto") == topology._layer_refs(net, None)  # "auto" is the same choice
    cnn = models.cnn(1, channels=(4, 8), hidden=16, seed=0)
    X = torch.randn(12, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    outs = topology.layer_outputs(cnn, X, batch_size=5)
    assert topology.layer_names(cnn) == ["input", "conv1", "conv2", "dense", "logits"]
    np.testing.assert_allclose([o.astype(np.float64).sum() for o in outs], _PINNED_CNN_SUMS, rtol=1e-5)
    seq = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    assert topology.layer_names(seq) == ["input", "layer1", "layer2", "layer3"]  # as before
    assert topology.layer_names(seq, "auto") == ["input", "0", "1", "2"]


# ----------------------------------------------------------------------------- hops, formerly scale


def test_scale_is_a_deprecated_name_of_hops():
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    circle = np.c_[np.cos(t), np.sin(t)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert topology.betti_numbers(circle, k=3, hops=1) == (1, 1)
        assert topology.betti_numbers(circle, 3, 1) == (1, 1)  # positional: k, hops
    with pytest.warns(DeprecationWarning, match="use hops=") as record:
        assert topology.betti_numbers(circle, k=3, scale=1) == (1, 1)
    assert record[0].filename == __file__  # the warning points at the caller
    with pytest.raises(ValueError, match="pass hops= only"):
        topology.betti_numbers(circle, k=3, hops=1, scale=1)
    with pytest.raises(ValueError, match="pass hops= only"):
        topology.betti_numbers(circle, k=3, hops=2, scale=2)  # even when hops equals the default
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match=r"scale \(now hops\) must be"):
        topology.betti_numbers(circle, k=3, scale=0)

    d = data.load("D-I", split="homology")
    net = models.mlp(2, 6, 1, "relu", seed=0)
    kw = dict(k=14, n_jobs=1, max_points=200)
    new = topology.layer_betti(net, d.X, d.y, hops=3, **kw)
    with pytest.warns(DeprecationWarning, match="use hops="):
        old = topology.layer_betti(net, d.X, d.y, scale=3, **kw)
    assert old.equals(new)
    with pytest.warns(DeprecationWarning):
        rec = topology.TopologyRecorder(d.X, d.y, every=1, scale=3, **kw)
    assert rec.kwargs["hops"] == 3 and "scale" not in rec.kwargs
    assert rec.record(0, net).drop(columns="epoch").equals(new)
    with pytest.warns(DeprecationWarning):
        assert topology.betti_callback(d.X, d.y, scale=3, **kw).kwargs["hops"] == 3
    with pytest.raises(ValueError, match="pass hops= only"):
        topology.TopologyRecorder(d.X, d.y, hops=2, scale=3)
