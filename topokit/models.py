"""Model builders: MLPs for point clouds, small CNNs and He et al.'s CIFAR ResNets for images.

:func:`mlp` and :func:`cnn` return a :class:`LayeredNet`, a plain ``nn.Module`` whose ``blocks``
(an ``nn.ModuleList``) run one after another. Each block is one "layer" in the sense of Naitzat
et al. (2020): a hidden block is an affine map followed by its activation, the last block gives
the logits. Code that studies layers (``topokit.topology.layer_outputs``) hooks the blocks in
order. :func:`resnet` returns a :class:`ResNet` named as torchvision names its ResNets (``conv1``,
``layer1.0.conv2``, ``layer2.0.downsample``, ``fc``): the residual network the pruning literature
benchmarks on, and an example of a model that is *not* a chain of blocks.

Saved files (:func:`save`, :func:`load`) hold, for our builders, the architecture as JSON, the
state dict and a sha256 digest over both; :func:`load` checks the description field by field, its
size against :data:`MAX_PARAMETERS` and its tensor names and shapes against the weights, all
before building anything, then refuses a file whose digest does not match. Any other
``nn.Module`` (a user's own, pruned or not) is saved as Torch-Pruning's pruned state
(``torch_pruning.state_dict``: every module's tensors and plain attributes such as
``out_channels``), converted to strings and tensors so that it loads with
``torch.load(weights_only=True)``, and re-applied by ``load(path, model=MyNet())`` to the freshly
built, unpruned model.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import pickle
import threading
import warnings
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn

from . import _checks
from ._checks import InvalidParameterError
from .activations import ACTIVATIONS, available_activations, get_activation, parse_member
from .fileio import atomic_path

__all__ = ["LayeredNet", "ResNet", "BasicBlock", "mlp", "cnn", "resnet", "RESNET_DEPTHS", "architecture",
           "to_state", "from_state", "save", "load", "MAX_PARAMETERS", "UnverifiedModelWarning"]

#: Marks a file written by :func:`save` (and the payload of :func:`to_state`).
MODEL_FORMAT = "topokit-model"
#: 1: architecture JSON + state dict. 2: plus ``activation_parameters`` and a sha256 ``digest``.
#: 3: the kinds ``"resnet"`` and ``"tp-state"`` (any other model); mlp and cnn files are still
#: written as version 2, so that older topokit versions keep reading them.
MODEL_FORMAT_VERSION = 3
#: The version written for each kind (a reader older than it says "upgrade topokit").
_KIND_VERSION = {"cnn": 2, "mlp": 2, "resnet": 3, "tp-state": 3}

#: Largest number of values (parameters and buffers) :func:`load` and :func:`from_state` accept
#: by default: 100 million, 400 MB of float32 weights. A file declaring more is refused before
#: anything is built or read; raise the limit per call with ``max_parameters=``.
MAX_PARAMETERS = 100_000_000

#: Bytes a model file may hold beyond 8 per allowed value (pickle framing, names, the JSON).
_FILE_SLACK = 64 << 20
#: Bytes of Python and torch bookkeeping per block of a built net (measured: about 9 KB for a
#: Linear + activation block), added to the weights in the memory estimate before building.
_BLOCK_BYTES = 16 << 10

_EDITED = ("this file was not written by topokit.models.save or was edited after saving; "
           "re-save the model with topokit.models.save")


class UnverifiedModelWarning(UserWarning):
    """A model written before digests existed (format version 1) was loaded without verification."""


class LayeredNet(nn.Module):
    """A network made of blocks applied in order.

    Attributes
    ----------
    blocks : nn.ModuleList
        The layers, input side first, logits last.
    layer_names : list of str
        A short name per block (``"hidden1"``, ``"conv2"``, ``"logits"`` ...).
    """

    def __init__(self, blocks: Sequence[nn.Module], layer_names: Sequence[str], activation: str = ""):
        super().__init__()
        if len(blocks) != len(layer_names):
            raise ValueError("need one name per block")
        self.blocks = nn.ModuleList(blocks)
        self.layer_names = list(layer_names)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        for block in self.blocks:
            x = block(x)
        return x



# ----------------------------------------------------------------------------- argument checks


def _activation_key(name: str) -> Optional[str]:
    """The registry key or collapse-family member ``name`` stands for, or None if neither."""
    key = name.strip().lower().replace("-", "_")
    return key if key in ACTIVATIONS or parse_member(key) is not None else None


def _check_activation(activation, name: str = "activation"):
    """``activation`` if it is a module or a name :func:`get_activation` knows, else a clear error."""
    if isinstance(activation, nn.Module):
        return activation
    if not isinstance(activation, str):
        raise InvalidParameterError(
            f"{name} must be an activation name or an nn.Module, got {type(activation).__name__} "
            f"{activation!r:.60}; pass e.g. 'relu' (see topokit.activations.available_activations())")
    try:
        get_activation(activation)
    except ValueError as exc:
        raise InvalidParameterError(str(exc)) from None
    return activation


def _activation_parameters(module: nn.Module) -> dict:
    """The plain settings of an activation module (``{"w": 0.1, "s": -0.5}`` for ``topo``).

    Tensors are in the state dict; ``inplace`` and ``training`` change no value, so they are left out.
    """
    return {k: v for k, v in sorted(vars(module).items())
            if not k.startswith("_") and k not in ("training", "inplace") and isinstance(v, (bool, int, float, str))}


def _activation_state(activation) -> dict:
    """``name -> (shape, is_float)`` of one activation module's own tensors (empty for most)."""
    module = get_activation(activation) if isinstance(activation, str) else activation
    return {k: (tuple(v.shape), v.is_floating_point()) for k, v in module.state_dict().items()}


def _check_build(n_values: int, n_blocks: int, what: str, fix: str, max_memory_bytes) -> None:
    """Refuse (with :func:`topokit._checks.memory`) a net too large to build, before building it."""
    itemsize = torch.empty((), dtype=torch.get_default_dtype()).element_size()
    _checks.memory(n_values * itemsize + n_blocks * _BLOCK_BYTES, what, fix=fix, max_memory_bytes=max_memory_bytes)


def _expected_state(arch: dict, act_state: dict) -> dict:
    """``name -> (shape, is_float)`` of the state dict a validated architecture gives, by arithmetic."""
    spec = {}

    def act(prefix):
        for k, v in act_state.items():
            spec[f"{prefix}.{k}"] = v

    if arch["kind"] == "resnet":
        return _resnet_state(arch)
    if arch["kind"] == "mlp":
        d = arch["in_dim"]
        for i, w in enumerate(arch["widths"]):
            spec[f"blocks.{i}.0.weight"], spec[f"blocks.{i}.0.bias"] = ((w, d), True), ((w,), True)
            act(f"blocks.{i}.1")
            d = w
        n = len(arch["widths"])
        spec[f"blocks.{n}.weight"], spec[f"blocks.{n}.bias"] = ((arch["out_dim"], d), True), ((arch["out_dim"],), True)
        return spec
    c_in, bn = arch["in_channels"], arch["batch_norm"]
    for i, c in enumerate(arch["channels"]):
        spec[f"blocks.{i}.0.weight"], spec[f"blocks.{i}.0.bias"] = ((c, c_in, 3, 3), True), ((c,), True)
        if bn:
            for k in ("weight", "bias", "running_mean", "running_var"):
                spec[f"blocks.{i}.1.{k}"] = ((c,), True)
            spec[f"blocks.{i}.1.num_batches_tracked"] = ((), False)
        act(f"blocks.{i}.{2 if bn else 1}")
        c_in = c
    n, h, k = len(arch["channels"]), arch["hidden"], arch["num_classes"]
    spec[f"blocks.{n}.2.weight"], spec[f"blocks.{n}.2.bias"] = ((h, c_in), True), ((h,), True)
    act(f"blocks.{n}.3")
    spec[f"blocks.{n + 1}.weight"], spec[f"blocks.{n + 1}.bias"] = ((k, h), True), ((k,), True)
    return spec


def _resnet_state(arch: dict) -> dict:
    """``name -> (shape, is_float)`` of a :class:`ResNet`'s state dict, from its description."""
    spec = {}

    def conv_bn(conv, bn, c_out, c_in, k):
        spec[f"{conv}.weight"] = ((c_out, c_in, k, k), True)
        for t in ("weight", "bias", "running_mean", "running_var"):
            spec[f"{bn}.{t}"] = ((c_out,), True)
        spec[f"{bn}.num_batches_tracked"] = ((), False)

    c_in = arch["widths"][0]
    conv_bn("conv1", "bn1", c_in, arch["in_channels"], 3)
    for s, (planes, mids) in enumerate(zip(arch["widths"], arch["inner"])):
        for b, mid in enumerate(mids):
            p = f"layer{s + 1}.{b}"
            conv_bn(f"{p}.conv1", f"{p}.bn1", mid, c_in, 3)
            conv_bn(f"{p}.conv2", f"{p}.bn2", planes, mid, 3)
            if b == 0 and s > 0:
                conv_bn(f"{p}.downsample.0", f"{p}.downsample.1", planes, c_in, 1)
            c_in = planes
    spec["fc.weight"], spec["fc.bias"] = ((arch["num_classes"], c_in), True), ((arch["num_classes"],), True)
    return spec


def _count(spec: dict) -> int:
    total = 0
    for shape, _ in spec.values():
        n = 1
        for s in shape:
            n *= s
        total += n
    return total


# ----------------------------------------------------------------------------- builders


def mlp(in_dim: int, width: int, depth: int, activation: str = "relu", out_dim: int = 2,
        seed: Optional[int] = None, *, max_memory_bytes: Optional[int] = None) -> LayeredNet:
    """Fully connected classifier ``in_dim - width x depth - out_dim``.

    Naitzat et al.'s 2-15x9-2 net is ``mlp(2, 15, 9, "relu")``.

    Parameters
    ----------
    in_dim : int
        Number of input features.
    width : int
        Units per hidden layer.
    depth : int
        Number of hidden layers (each ``Linear`` then the activation).
    activation : str or nn.Module, default "relu"
        A name from :func:`topokit.activations.available_activations`, or a collapse-family
        member's name (:func:`topokit.activations.member_name`).
    out_dim : int, default 2
        Number of logits.
    seed : int, optional
        Seed (>= 0) for the initial weights (PyTorch's default initialisation); None uses
        torch's global generator.
    max_memory_bytes : int, optional
        Memory budget for the net; default half the available memory (see
        :func:`topokit._checks.memory`).

    Raises
    ------
    InvalidParameterError
        A bad argument, or a net whose weights would not fit in memory (checked by arithmetic
        before anything is allocated).
    """
    in_dim = _checks.integer(in_dim, "in_dim", minimum=1, fix="pass the number of input features, e.g. 2 for D-I")
    width = _checks.integer(width, "width", minimum=1, fix="pass the number of units per hidden layer, e.g. 15")
    depth = _checks.integer(depth, "depth", minimum=1, fix="pass the number of hidden layers, e.g. 9")
    out_dim = _checks.integer(out_dim, "out_dim", minimum=1, fix="pass the number of classes, e.g. 2")
    seed = _checks.integer(seed, "seed", minimum=0, maximum=2**64 - 1, allow_none=True, fix="pass e.g. seed=0")
    activation = _check_activation(activation)
    arch = {"kind": "mlp", "in_dim": in_dim, "widths": [width], "out_dim": out_dim}
    one = _count(_expected_state(arch, _activation_state(activation)))  # a single hidden layer
    per_layer = width * width + width + sum(_count({0: v}) for v in _activation_state(activation).values())
    n_values = one + (depth - 1) * per_layer
    _check_build(n_values, depth + 1, f"mlp({in_dim}, {width}, {depth}, out_dim={out_dim}) with {n_values:,} parameters",
                 "use fewer or narrower hidden layers", max_memory_bytes)
    with _seeded(seed):
        return _build_mlp(in_dim, [width] * depth, activation, out_dim)


def _build_mlp(in_dim, widths, activation, out_dim) -> LayeredNet:
    blocks, names, d = [], [], in_dim
    for i, w in enumerate(widths):
        blocks.append(nn.Sequential(nn.Linear(d, w), get_activation(activation) if isinstance(activation, str) else _clone(activation)))
        names.append(f"hidden{i + 1}")
        d = w
    blocks.append(nn.Linear(d, out_dim))
    names.append("logits")
    return LayeredNet(blocks, names, activation=_act_name(activation))


def _act_name(activation) -> str:
    return activation if isinstance(activation, str) else type(activation).__name__


def _clone(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module)


#: One seeded construction at a time: torch's generator is global to the process, so two threads
#: building nets at once (a sweep under joblib's threading backend) would draw from each other's seed.
_SEED_LOCK = threading.RLock()


@contextlib.contextmanager
def _seeded(seed: Optional[int]):
    """Run the block with torch's global generator seeded, restoring its state afterwards (one thread at a time)."""
    if seed is None:
        yield
        return
    with _SEED_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def cnn(
    in_channels: int,
    num_classes: int = 2,
    activation: str = "relu",
    channels: Sequence[int] = (16, 32, 64),
    hidden: int = 64,
    batch_norm: bool = True,
    seed: Optional[int] = None,
    *,
    max_memory_bytes: Optional[int] = None,
) -> LayeredNet:
    """Small CNN for image classification.

    Each conv block is ``Conv2d(3x3, padding 1) -> [BatchNorm2d] -> activation -> MaxPool2d(2)``;
    then a global-average-pool block ``AdaptiveAvgPool2d(1) -> Flatten -> Linear(hidden) ->
    activation``, then the logits. Global pooling makes the net accept any image size of at
    least ``2 ** len(channels)`` pixels a side.

    Parameters
    ----------
    in_channels : int
        1 for grey images (Fashion-MNIST, digits), 3 for colour (CIFAR-10, cats vs dogs).
    num_classes : int, default 2
        Number of logits.
    activation : str or nn.Module, default "relu"
        A name from :func:`topokit.activations.available_activations`.
    channels : sequence of int, default (16, 32, 64)
        Filters per conv block (at least one block).
    hidden : int, default 64
        Units of the dense hidden layer.
    batch_norm : bool, default True
        Insert ``BatchNorm2d`` after each convolution.
    seed : int, optional
        Seed (>= 0) for the initial weights; None uses torch's global generator.
    max_memory_bytes : int, optional
        Memory budget for the net; default half the available memory.

    Raises
    ------
    InvalidParameterError
        A bad argument, or a net whose weights would not fit in memory (checked before building).
    """
    in_channels = _checks.integer(in_channels, "in_channels", minimum=1, fix="use 1 for grey images, 3 for colour")
    num_classes = _checks.integer(num_classes, "num_classes", minimum=1, fix="pass the number of classes, e.g. 2")
    hidden = _checks.integer(hidden, "hidden", minimum=1, fix="pass the number of dense units, e.g. 64")
    if isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__") or not hasattr(channels, "__iter__"):
        raise InvalidParameterError(f"channels must be a sequence of filter counts, got {channels!r:.60}; "
                                    "e.g. channels=(16, 32, 64)")
    if len(channels) == 0:
        raise InvalidParameterError("channels must name at least one conv block, e.g. channels=(16, 32, 64)")
    channels = [_checks.integer(c, f"channels[{i}]", minimum=1, fix="e.g. channels=(16, 32, 64)")
                for i, c in enumerate(channels)]
    batch_norm = _checks.boolean(batch_norm, "batch_norm")
    seed = _checks.integer(seed, "seed", minimum=0, maximum=2**64 - 1, allow_none=True, fix="pass e.g. seed=0")
    activation = _check_activation(activation)
    arch = {"kind": "cnn", "in_channels": in_channels, "channels": channels, "hidden": hidden,
            "num_classes": num_classes, "batch_norm": batch_norm}
    n_values = _count(_expected_state(arch, _activation_state(activation)))
    _check_build(n_values, len(channels) + 2, f"cnn({in_channels}, channels={channels}, hidden={hidden}) with "
                 f"{n_values:,} parameters", "use fewer filters or a smaller hidden layer", max_memory_bytes)
    with _seeded(seed):
        return _build_cnn(in_channels, num_classes, activation, channels, hidden, batch_norm)


def _build_cnn(in_channels, num_classes, activation, channels, hidden, batch_norm) -> LayeredNet:
    def act():
        return get_activation(activation) if isinstance(activation, str) else _clone(activation)

    blocks, names, c_in = [], [], in_channels
    for i, c_out in enumerate(channels):
        layers = [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers += [act(), nn.MaxPool2d(2)]
        blocks.append(nn.Sequential(*layers))
        names.append(f"conv{i + 1}")
        c_in = c_out
    blocks.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, hidden), act()))
    names.append("dense")
    blocks.append(nn.Linear(hidden, num_classes))
    names.append("logits")
    return LayeredNet(blocks, names, activation=_act_name(activation))


# ----------------------------------------------------------------------------- the CIFAR ResNet

#: Some valid depths of :func:`resnet` (any 6n + 2 with n >= 1 is valid): He et al. report 20 to 1202.
RESNET_DEPTHS = (8, 14, 20, 32, 44, 56, 110)


class BasicBlock(nn.Module):
    """He et al.'s basic residual block: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    ``conv1`` is 3x3 with the block's stride, ``conv2`` 3x3; the shortcut is the identity, or
    ``downsample`` (1x1 conv with the stride, then batch norm: He et al.'s option B, as torchvision
    names it) in the first block of a stage that halves the size. ``inner`` is the number of
    filters of ``conv1`` (equal to ``planes`` when built, smaller after pruning).
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: bool = False,
                 inner: Optional[int] = None):
        super().__init__()
        inner = planes if inner is None else inner
        self.conv1 = nn.Conv2d(in_planes, inner, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(inner, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = (nn.Sequential(nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                                         nn.BatchNorm2d(planes)) if downsample else None)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """He et al.'s CIFAR ResNet (depth 6n + 2): a 3x3 stem, three stages of n :class:`BasicBlock`,
    global average pooling and a linear classifier.

    Attributes
    ----------
    conv1, bn1, relu
        The stem (3x3 conv, stride 1).
    layer1, layer2, layer3 : nn.Sequential
        The stages, n blocks each (``layer1.0`` ...); ``layer2`` and ``layer3`` start with a stride-2
        block whose shortcut is ``downsample``.
    avgpool, fc
        Global average pooling and the classifier.
    depth : int
        6n + 2.
    """

    def __init__(self, depth: int, in_channels: int, num_classes: int, widths: Sequence[int],
                 inner: Sequence[Sequence[int]]):
        super().__init__()
        self.depth = int(depth)
        self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        c_in = widths[0]
        for s, (planes, stage_inner) in enumerate(zip(widths, inner)):
            blocks = []
            for b, mid in enumerate(stage_inner):
                first = b == 0 and s > 0
                blocks.append(BasicBlock(c_in, planes, stride=2 if first else 1, downsample=first, inner=mid))
                c_in = planes
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _resnet_blocks(depth: int, fix: str = "") -> int:
    """Blocks per stage n of a valid depth 6n + 2; a clear error otherwise."""
    depth = _checks.integer(depth, "depth", minimum=8, fix=fix or "pass 6n + 2, e.g. depth=20, 56 or 110")
    if (depth - 2) % 6:
        below = depth - (depth - 2) % 6
        raise InvalidParameterError(
            f"depth must be 6n + 2 (He et al.'s CIFAR ResNets: {', '.join(map(str, RESNET_DEPTHS))}, ...), got "
            f"{depth}; the nearest valid depths are {below} and {below + 6}")
    return (depth - 2) // 6


def resnet(depth: int = 20, num_classes: int = 2, in_channels: int = 3, width: int = 16, seed: Optional[int] = 0,
           *, max_memory_bytes: Optional[int] = None) -> ResNet:
    """He et al.'s CIFAR ResNet (CVPR 2016, section 4.2), named as torchvision names its ResNets.

    A 3x3 conv stem (``conv1``, ``bn1``, ReLU) at ``width`` filters, three stages ``layer1`` to
    ``layer3`` of n = (depth - 2) / 6 :class:`BasicBlock` each (``layer1.0`` ..., each with
    ``conv1``, ``bn1``, ``conv2``, ``bn2``) at ``width``, ``2 width`` and ``4 width`` filters, the
    first block of ``layer2`` and ``layer3`` with stride 2 and a projection shortcut
    ``downsample`` (1x1 conv + batch norm, He et al.'s option B), then global average pooling and
    the classifier ``fc``. ResNet-20 (width 16) has 0.27 million parameters; on 32x32 images each
    stage works at 32x32, 16x16 and 8x8. Convs have no bias (batch norm follows each);
    initialisation as torchvision's (Kaiming normal, fan-out, for the convs; batch norm 1 and 0).

    Parameters
    ----------
    depth : int, default 20
        6n + 2: 20, 32, 44, 56, 110 in He et al.'s table (8 and 14 for quick tests).
    num_classes : int, default 2
        Number of logits.
    in_channels : int, default 3
        3 for colour images, 1 for grey.
    width : int, default 16
        Filters of the stem and the first stage (He et al.: 16).
    seed : int or None, default 0
        Seed (>= 0) for the initial weights; None uses torch's global generator.
    max_memory_bytes : int, optional
        Memory budget for the net; default half the available memory.

    Returns
    -------
    ResNet
        In training mode, as built.

    Raises
    ------
    InvalidParameterError
        A depth that is not 6n + 2 (the message gives the nearest valid ones), or another bad
        argument, or a net that would not fit in memory.
    """
    n = _resnet_blocks(depth)
    num_classes = _checks.integer(num_classes, "num_classes", minimum=1, fix="pass the number of classes, e.g. 2")
    in_channels = _checks.integer(in_channels, "in_channels", minimum=1, fix="use 3 for colour images, 1 for grey")
    width = _checks.integer(width, "width", minimum=1, fix="pass the stem's number of filters, e.g. width=16")
    seed = _checks.integer(seed, "seed", minimum=0, maximum=2**64 - 1, allow_none=True, fix="pass e.g. seed=0")
    widths = [width, 2 * width, 4 * width]
    arch = {"kind": "resnet", "depth": int(depth), "in_channels": in_channels, "num_classes": num_classes,
            "widths": widths, "inner": [[w] * n for w in widths]}
    n_values = _count(_expected_state(arch, {}))
    _check_build(n_values, 3 * n + 2, f"resnet(depth={depth}, width={width}) with {n_values:,} parameters",
                 "use a smaller width or depth", max_memory_bytes)
    with _seeded(seed):
        return _build_resnet(arch)


def _build_resnet(arch: dict) -> ResNet:
    net = ResNet(arch["depth"], arch["in_channels"], arch["num_classes"], arch["widths"], arch["inner"])
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return net


def _resnet_architecture(model: ResNet) -> dict:
    """The description of a (pruned) :class:`ResNet`, checked for the structure :func:`resnet` builds."""
    def conv_ok(conv, k, stride):
        return (type(conv) is nn.Conv2d and conv.kernel_size == (k, k) and conv.stride == (stride, stride)
                and conv.padding == ((1, 1) if k == 3 else (0, 0)) and conv.bias is None and conv.groups == 1
                and conv.dilation == (1, 1) and conv.padding_mode == "zeros")

    def bn_ok(bn, c):
        return type(bn) is nn.BatchNorm2d and bn.num_features == c and bn.affine and bn.track_running_stats

    n = _resnet_blocks(getattr(model, "depth", None), fix="not a ResNet built by topokit.models.resnet")
    if not (conv_ok(model.conv1, 3, 1) and bn_ok(model.bn1, model.conv1.out_channels)
            and type(model.relu) is nn.ReLU and type(model.avgpool) is nn.AdaptiveAvgPool2d
            and type(model.fc) is nn.Linear):
        raise _fail_arch("the ResNet's stem, pooling or classifier is not as topokit.models.resnet builds it")
    c_in = model.conv1.out_channels
    widths, inner = [], []
    for s in range(3):
        stage = getattr(model, f"layer{s + 1}", None)
        if type(stage) is not nn.Sequential or len(stage) != n:
            raise _fail_arch(f"layer{s + 1} is not a Sequential of {n} BasicBlocks")
        planes = stage[0].conv2.out_channels if isinstance(stage[0], BasicBlock) else None
        mids = []
        for b, block in enumerate(stage):
            first = b == 0 and s > 0
            where = f"layer{s + 1}.{b}"
            if type(block) is not BasicBlock or type(block.relu) is not nn.ReLU:
                raise _fail_arch(f"{where} is not a BasicBlock")
            mid = block.conv1.out_channels
            ok = (conv_ok(block.conv1, 3, 2 if first else 1) and block.conv1.in_channels == c_in
                  and bn_ok(block.bn1, mid) and conv_ok(block.conv2, 3, 1) and block.conv2.in_channels == mid
                  and block.conv2.out_channels == planes and bn_ok(block.bn2, planes))
            ds = block.downsample
            if first:
                ok = ok and (type(ds) is nn.Sequential and len(ds) == 2 and conv_ok(ds[0], 1, 2)
                             and ds[0].in_channels == c_in and ds[0].out_channels == planes and bn_ok(ds[1], planes))
            else:
                ok = ok and ds is None and c_in == planes
            if not ok:
                raise _fail_arch(f"{where}'s layers do not fit together as in topokit.models.resnet")
            mids.append(int(mid))
            c_in = planes
        widths.append(int(planes))
        inner.append(mids)
    if model.fc.in_features != c_in:
        raise _fail_arch(f"fc takes {model.fc.in_features} inputs but layer3 gives {c_in} channels")
    return {"kind": "resnet", "depth": int(model.depth), "in_channels": int(model.conv1.in_channels),
            "num_classes": int(model.fc.out_features), "widths": widths, "inner": inner}


# ----------------------------------------------------------------------------- architecture


def _fail_arch(what: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"cannot describe this model's architecture: {what}; only nets built by topokit.models.cnn, "
        "topokit.models.mlp (with a registered activation name) or topokit.models.resnet, pruned or not, have one "
        "(topokit.models.save stores any other model as Torch-Pruning's pruned state)"
    )


def _check_activation_modules(found, key: str) -> None:
    """Every activation module of a net must be what ``get_activation(key)`` builds (same settings)."""
    fresh = get_activation(key)
    want = _activation_parameters(fresh)
    for where, m in found:
        if not isinstance(m, nn.Module) or not (isinstance(m, type(fresh)) or isinstance(fresh, type(m))) \
                or _activation_parameters(m) != want:
            raise _fail_arch(f"{where} holds {m!r}, not the activation {key!r} ({fresh!r}) the net is named with")


def architecture(model: nn.Module) -> dict:
    """A JSON-able description of a net built by :func:`cnn`, :func:`mlp` or :func:`resnet`, read from its modules.

    It holds the actual sizes, so a pruned CNN is described with its channels per layer after
    pruning: ``{"kind": "cnn", "in_channels", "channels": [...], "hidden", "num_classes",
    "activation", "batch_norm"}`` or ``{"kind": "mlp", "in_dim", "widths": [...], "out_dim",
    "activation"}``, the activation as its registry key (``"relu"``, ``"topo"``) or collapse-family
    member name; for a ResNet ``{"kind": "resnet", "depth", "in_channels", "num_classes",
    "widths": [3 stage widths], "inner": [[each block's conv1 filters] per stage]}`` (pruning keeps
    a stage's width the same in every block: the residual additions tie them). :func:`from_state`
    rebuilds the net from it.

    Raises
    ------
    InvalidParameterError
        A model of another structure, an activation that is not a registered name, or activation
        modules whose settings differ from that name's (e.g. a GELU switched to its tanh form).
    """
    if isinstance(model, ResNet):
        return _resnet_architecture(model)
    if not isinstance(model, LayeredNet):
        raise _fail_arch(f"got a {type(model).__name__}, not a LayeredNet or ResNet")
    act = _activation_key(str(model.activation))
    if act is None:
        raise _fail_arch(f"activation {model.activation!r} is not a registered name")
    blocks, names = list(model.blocks), list(model.layer_names)
    try:
        if names and names[0].startswith("conv"):
            convs = [b for b, n in zip(blocks, names) if n.startswith("conv")]
            if len(convs) + 2 != len(blocks) or names[-2:] != ["dense", "logits"]:
                raise _fail_arch(f"unexpected layer names {names}")
            batch_norm = isinstance(convs[0][1], nn.BatchNorm2d)
            for b in convs:
                conv = b[0]
                if not isinstance(conv, nn.Conv2d) or conv.kernel_size != (3, 3) or conv.padding != (1, 1):
                    raise _fail_arch("a conv block does not start with a 3x3 Conv2d with padding 1")
                if isinstance(b[1], nn.BatchNorm2d) != batch_norm or len(b) != (4 if batch_norm else 3):
                    raise _fail_arch("batch norm in some conv blocks only")
            dense = blocks[-2][2]
            if not isinstance(dense, nn.Linear) or not isinstance(blocks[-1], nn.Linear):
                raise _fail_arch("the dense or logits block is not Linear")
            _check_activation_modules([(f"{n}'s activation", b[2 if batch_norm else 1]) for b, n in zip(convs, names)]
                                      + [("dense's activation", blocks[-2][3])], act)
            return {"kind": "cnn", "in_channels": int(convs[0][0].in_channels),
                    "channels": [int(b[0].out_channels) for b in convs], "hidden": int(dense.out_features),
                    "num_classes": int(blocks[-1].out_features), "activation": act, "batch_norm": bool(batch_norm)}
        if names and names[0].startswith("hidden"):
            if not all(isinstance(b, nn.Sequential) and len(b) == 2 for b in blocks[:-1]):
                raise _fail_arch("an MLP block is not Linear -> activation")
            linears = [b[0] for b in blocks[:-1]]
            if not all(isinstance(m, nn.Linear) for m in linears + [blocks[-1]]):
                raise _fail_arch("an MLP block is not Linear -> activation")
            _check_activation_modules([(f"{n}'s activation", b[1]) for b, n in zip(blocks[:-1], names)], act)
            return {"kind": "mlp", "in_dim": int(linears[0].in_features),
                    "widths": [int(m.out_features) for m in linears], "out_dim": int(blocks[-1].out_features),
                    "activation": act}
    except InvalidParameterError:
        raise
    except (IndexError, TypeError, AttributeError) as exc:
        raise _fail_arch(f"unexpected block layout ({exc})") from None
    raise _fail_arch(f"unexpected layer names {names}")


_FIELDS = {"mlp": ("kind", "in_dim", "widths", "out_dim", "activation"),
           "cnn": ("kind", "in_channels", "channels", "hidden", "num_classes", "activation", "batch_norm"),
           "resnet": ("kind", "depth", "in_channels", "num_classes", "widths", "inner"),
           "tp-state": ("kind", "class", "modules", "unpruned")}


def _validate_architecture(arch, source: str, n_tensors: int, version: int = 2) -> dict:
    """Check every field of a stored description; nothing is built. Returns a clean copy."""
    def bad(msg):
        return InvalidParameterError(f"{source} declares an invalid architecture: {msg}; {_EDITED}")

    if not isinstance(arch, dict):
        raise bad(f"expected a JSON object, got {type(arch).__name__}")
    kind = arch.get("kind")
    kinds = [k for k, v in _KIND_VERSION.items() if v <= max(version, 2)]
    if kind not in kinds:
        raise bad(f"'kind' must be {', '.join(map(repr, kinds[:-1]))} or {kinds[-1]!r}, got {kind!r:.60}"
                  + (f" (a version {version} file)" if kind in _FIELDS else ""))
    missing, extra = sorted(set(_FIELDS[kind]) - set(arch)), sorted(map(str, set(arch) - set(_FIELDS[kind])))
    if missing or extra:
        raise bad(f"a {kind} description has the fields {list(_FIELDS[kind])}"
                  + (f"; missing {missing}" if missing else "") + (f"; unexpected {extra[:5]}" if extra else ""))
    if kind == "resnet":
        return _validate_resnet(arch, bad, n_tensors)
    if kind == "tp-state":
        return _validate_tp_state(arch, bad)
    layers_key = "widths" if kind == "mlp" else "channels"
    layers = arch[layers_key]
    if not isinstance(layers, list) or not layers:
        raise bad(f"{layers_key!r} must be a non-empty list of positive integers, got {layers!r:.60}")
    # every layer brings at least two tensors: a long list with few weights is refused before its
    # entries are even looked at
    least = 2 * (len(layers) + (1 if kind == "mlp" else 2))
    if least > n_tensors:
        raise bad(f"{len(layers)} {'hidden' if kind == 'mlp' else 'conv'} layers need at least {least} tensors "
                  f"but the weights hold {n_tensors}")
    act = arch["activation"]
    if not isinstance(act, str) or _activation_key(act) is None:
        raise bad(f"'activation' must be one of {', '.join(available_activations())} or a collapse-family "
                  f"member name, got {act!r:.60}")
    try:
        get_activation(act)
        out = {"kind": kind, layers_key: [_checks.integer(v, f"{layers_key}[{i}]", minimum=1)
                                          for i, v in enumerate(layers)], "activation": act}
        if kind == "mlp":
            out["in_dim"] = _checks.integer(arch["in_dim"], "in_dim", minimum=1)
            out["out_dim"] = _checks.integer(arch["out_dim"], "out_dim", minimum=1)
        else:
            out["in_channels"] = _checks.integer(arch["in_channels"], "in_channels", minimum=1)
            out["hidden"] = _checks.integer(arch["hidden"], "hidden", minimum=1)
            out["num_classes"] = _checks.integer(arch["num_classes"], "num_classes", minimum=1)
            out["batch_norm"] = _checks.boolean(arch["batch_norm"], "batch_norm")
    except ValueError as exc:  # InvalidParameterError, or an invalid collapse member
        raise bad(str(exc)) from None
    return out


def _validate_resnet(arch: dict, bad, n_tensors: int) -> dict:
    try:
        n = _resnet_blocks(arch["depth"])
        widths, inner = arch["widths"], arch["inner"]
        if not isinstance(widths, list) or len(widths) != 3:
            raise InvalidParameterError(f"'widths' must be a list of 3 stage widths, got {widths!r:.60}")
        if not isinstance(inner, list) or len(inner) != 3 \
                or not all(isinstance(s, list) and len(s) == n for s in inner):
            raise InvalidParameterError(f"'inner' must be 3 lists of {n} filter counts (depth {arch['depth']}), got "
                                        f"{inner!r:.60}")
        if 6 * (3 * n + 1) + 2 > n_tensors:
            raise InvalidParameterError(f"a ResNet-{arch['depth']} has more tensors than the {n_tensors} the weights "
                                        "hold")
        return {"kind": "resnet", "depth": int(arch["depth"]),
                "in_channels": _checks.integer(arch["in_channels"], "in_channels", minimum=1),
                "num_classes": _checks.integer(arch["num_classes"], "num_classes", minimum=1),
                "widths": [_checks.integer(w, f"widths[{i}]", minimum=1) for i, w in enumerate(widths)],
                "inner": [[_checks.integer(c, f"inner[{s}][{b}]", minimum=1) for b, c in enumerate(stage)]
                          for s, stage in enumerate(inner)]}
    except InvalidParameterError as exc:
        raise bad(str(exc)) from None


def _describe(arch: dict) -> str:
    if arch["kind"] == "resnet":
        return (f"ResNet-{arch['depth']} in_channels={arch['in_channels']}, widths={arch['widths']}, "
                f"num_classes={arch['num_classes']}")[:200]
    if arch["kind"] == "tp-state":
        return f"pruned state of a {arch['class']} ({len(arch['modules'])} modules)"[:200]
    if arch["kind"] == "mlp":
        text = f"mlp {arch['in_dim']}-{arch['widths']}-{arch['out_dim']}"
    else:
        text = (f"cnn in_channels={arch['in_channels']}, channels={arch['channels']}, hidden={arch['hidden']}, "
                f"num_classes={arch['num_classes']}, batch_norm={arch['batch_norm']}")
    text += f", activation {arch['activation']!r}"
    return text if len(text) <= 200 else text[:197] + "..."


def _listed(items, n=5) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


# ----------------------------------------------------------------------------- any other model: a pruned state

#: The attribute :func:`topokit.pruning.prune` sets on a pruned model: every tensor's shape in the
#: unpruned model (name -> list), so that a saved pruned state can be checked against ``model=``.
_UNPRUNED_ATTR = "_topokit_unpruned"


def _tensor_shapes(model: nn.Module) -> dict:
    """``name -> shape`` (list) of every parameter and buffer (non-persistent ones included)."""
    out = {}
    for mname, m in model.named_modules():
        for table in (m._parameters, m._buffers):
            for t, v in table.items():
                if v is not None:
                    out[f"{mname}.{t}" if mname else t] = list(v.shape)
    return out


def _record_unpruned(pruned: nn.Module, original: nn.Module) -> None:
    """Give a pruned copy the shapes of the unpruned model (the original's record if it has one)."""
    record = getattr(original, _UNPRUNED_ATTR, None)
    setattr(pruned, _UNPRUNED_ATTR, copy.deepcopy(record) if isinstance(record, dict) else _tensor_shapes(original))


def _plain(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return not isinstance(value, float) or value == value  # NaN has no JSON form
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return False


def _encode(value):
    """A plain attribute as JSON; tuples marked so that they come back as tuples."""
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value):
    if isinstance(value, dict):
        return tuple(_decode(v) for v in value["tuple"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _tp_state(model: nn.Module) -> tuple:
    """(description, weights) of any model from Torch-Pruning's ``tp.state_dict``.

    ``tp.state_dict`` holds each module's ``__dict__`` (tensors, but also submodules and hooks:
    pickled objects ``torch.load(weights_only=True)`` refuses) and its public attributes. We keep
    the tensors (as plain tensors, with whether each is a parameter and needs gradients; a tensor
    shared by several modules once, the others pointing to it) and the attributes that are plain
    values and belong to the module itself (``out_channels``, ``num_features``, ``in_features``
    ...: what pruning changes); class attributes, properties and objects are left out.
    """
    import torch_pruning as tp

    try:
        full = tp.state_dict(model)
    except Exception as exc:  # noqa: BLE001 - a module whose attributes cannot be read
        raise InvalidParameterError(
            f"Torch-Pruning cannot record the state of this {type(model).__name__} ({type(exc).__name__}: "
            f"{str(exc)[:200]}); save its state_dict with torch.save instead") from None
    weights, seen, modules = {}, {}, []
    for name, module in model.named_modules():
        d = full["full_state_dict"][name]
        tensors = {}
        for kind, table in (("parameter", d.get("_parameters", {})), ("buffer", d.get("_buffers", {}))):
            for t, v in table.items():
                key = f"{name}.{t}" if name else t
                if v is None:
                    tensors[t] = {"kind": kind, "shape": None}
                elif id(v) in seen:
                    tensors[t] = {"kind": kind, "tied_to": seen[id(v)]}
                else:
                    seen[id(v)] = key
                    weights[key] = v.detach().cpu().clone()
                    tensors[t] = {"kind": kind, "shape": list(v.shape),
                                  "requires_grad": bool(v.requires_grad) if kind == "parameter" else False}
        own = vars(module)
        attributes = {a: _encode(v) for a, v in sorted(full["attributions"][name].items())
                      if a in own and _plain(v)}
        modules.append({"name": name, "type": type(module).__qualname__, "attributes": attributes,
                        "tensors": tensors})
    record = getattr(model, _UNPRUNED_ATTR, None)
    unpruned = record if isinstance(record, dict) else None
    arch = {"kind": "tp-state", "class": type(model).__qualname__, "modules": modules, "unpruned": unpruned}
    return arch, weights


def _validate_tp_state(arch: dict, bad) -> dict:
    """Check a stored pruned-state description field by field (types only; shapes against the weights later)."""
    if not isinstance(arch["class"], str):
        raise bad(f"'class' must be the model's class name, got {arch['class']!r:.60}")
    modules = arch["modules"]
    if not isinstance(modules, list) or not modules:
        raise bad("'modules' must be a non-empty list")
    names = set()
    for i, m in enumerate(modules):
        if not isinstance(m, dict) or set(m) != {"name", "type", "attributes", "tensors"}:
            raise bad(f"modules[{i}] must have the fields name, type, attributes, tensors")
        if not isinstance(m["name"], str) or not isinstance(m["type"], str) or m["name"] in names:
            raise bad(f"modules[{i}] needs a unique name and a type name")
        names.add(m["name"])
        if not isinstance(m["attributes"], dict) or not isinstance(m["tensors"], dict):
            raise bad(f"modules[{i}] ({m['name']!r}) has malformed attributes or tensors")
        for t, spec in m["tensors"].items():
            ok = isinstance(spec, dict) and spec.get("kind") in ("parameter", "buffer")
            if ok and "tied_to" in spec:
                ok = set(spec) == {"kind", "tied_to"} and isinstance(spec["tied_to"], str)
            elif ok and spec.get("shape") is None:
                ok = set(spec) == {"kind", "shape"}
            elif ok:
                ok = (set(spec) == {"kind", "shape", "requires_grad"} and isinstance(spec["shape"], list)
                      and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in spec["shape"])
                      and isinstance(spec["requires_grad"], bool))
            if not ok:
                raise bad(f"the entry of tensor {t!r} of module {m['name']!r} is malformed")
    unpruned = arch["unpruned"]
    if unpruned is not None and not (isinstance(unpruned, dict) and all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(x, int) for x in v)
            for k, v in unpruned.items())):
        raise bad("'unpruned' must be null or a dict from tensor names to shapes")
    return arch


def _tp_expected(arch: dict) -> dict:
    """``name -> (shape, None)`` of the tensors a pruned-state description lists (tied ones once)."""
    spec = {}
    for m in arch["modules"]:
        for t, entry in m["tensors"].items():
            if entry.get("shape") is not None:
                spec[f"{m['name']}.{t}" if m["name"] else t] = (tuple(entry["shape"]), None)
    return spec


def _fit_tp_state(arch: dict, model, source: str) -> list:
    """Why a pruned state does not fit ``model`` (empty when it fits): names, types, tensors, shapes."""
    problems = []
    if type(model).__qualname__ != arch["class"]:
        problems.append(f"it was saved from a {arch['class']}, model= is a {type(model).__qualname__}")
    fresh = dict(model.named_modules())
    saved = {m["name"]: m for m in arch["modules"]}
    missing = [n for n in saved if n not in fresh]
    extra = [n for n in fresh if n not in saved]
    if missing:
        problems.append(f"model= has no module {_listed(map(repr, missing))}")
    if extra:
        problems.append(f"model= has modules the file does not: {_listed(map(repr, extra))}")
    unpruned = arch["unpruned"]
    for name, rec in saved.items():
        if name not in fresh:
            continue
        module = fresh[name]
        where = repr(name) if name else "the model itself"
        if type(module).__qualname__ != rec["type"]:
            problems.append(f"{where} is a {type(module).__qualname__}, saved as a {rec['type']}")
            continue
        have = {**{t: ("parameter", v) for t, v in module._parameters.items()},
                **{t: ("buffer", v) for t, v in module._buffers.items()}}
        if set(have) != set(rec["tensors"]):
            problems.append(f"{where} holds tensors {sorted(have)}, saved with {sorted(rec['tensors'])}")
            continue
        for t, entry in rec["tensors"].items():
            kind, value = have[t]
            key = f"{name}.{t}" if name else t
            if kind != entry["kind"] or (value is None) != (entry.get("shape") is None and "tied_to" not in entry):
                problems.append(f"{key} is a {kind if value is not None else 'missing ' + kind} in model=, saved as a "
                                f"{entry['kind']}")
            elif "shape" in entry and entry["shape"] is not None:
                shape, now = entry["shape"], list(value.shape)
                if unpruned is not None:
                    if unpruned.get(key) != now:
                        problems.append(f"{key} has shape {tuple(now)} in model=, the unpruned model saved had "
                                        f"{tuple(unpruned.get(key) or ())}")
                elif len(shape) != len(now) or any(a > b for a, b in zip(shape, now)):
                    problems.append(f"{key} has shape {tuple(now)} in model=, smaller than the saved {tuple(shape)}")
    return problems


def _apply_tp_state(arch: dict, weights: dict, model, source: str, max_memory_bytes) -> nn.Module:
    """The pruned state re-applied with ``tp.load_state_dict`` to a copy of ``model`` (unchanged), in eval mode."""
    import torch_pruning as tp

    if model is None:
        raise InvalidParameterError(
            f"{source} holds the pruned state of a {arch['class']}, a model topokit does not build; pass the same "
            f"architecture, freshly built and unpruned: models.load(path, model={arch['class']}(...))")
    if not isinstance(model, nn.Module):
        raise InvalidParameterError(f"model must be an nn.Module (the unpruned {arch['class']}), got "
                                    f"{type(model).__name__}")
    problems = _fit_tp_state(arch, model, source)
    if problems:
        raise InvalidParameterError(
            f"{source} does not fit the model passed as model=: {'; '.join(problems[:6])}"
            + (f" (and {len(problems) - 6} more)" if len(problems) > 6 else "")
            + f". Pass the architecture that was saved (a {arch['class']}), freshly built and unpruned")
    n_values = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    _check_build(n_values, len(arch["modules"]), f"a copy of the {arch['class']} to load {source} into",
                 "load it on a machine with more memory", max_memory_bytes)
    unpruned = arch["unpruned"] or _tensor_shapes(model)
    work = copy.deepcopy(model)
    full, attributions, made = {}, {}, {}
    for rec in arch["modules"]:  # tensors first, then ties (a tie may point to a later module)
        for t, entry in rec["tensors"].items():
            if entry.get("shape") is not None:
                key = f"{rec['name']}.{t}" if rec["name"] else t
                value = weights[key]
                made[key] = nn.Parameter(value, requires_grad=entry["requires_grad"]) \
                    if entry["kind"] == "parameter" else value
    for rec in arch["modules"]:
        tables = {"parameter": {}, "buffer": {}}
        for t, entry in rec["tensors"].items():
            key = f"{rec['name']}.{t}" if rec["name"] else t
            if "tied_to" in entry:
                if entry["tied_to"] not in made:
                    raise InvalidParameterError(f"{source} ties {key} to {entry['tied_to']!r}, which it does not "
                                                f"hold; {_EDITED}")
                tables[entry["kind"]][t] = made[entry["tied_to"]]
            else:
                tables[entry["kind"]][t] = made.get(key)
        module = dict(work.named_modules())[rec["name"]]
        full[rec["name"]] = {"_parameters": type(module._parameters)(tables["parameter"]),
                             "_buffers": type(module._buffers)(tables["buffer"])}
        attributions[rec["name"]] = {a: _decode(v) for a, v in rec["attributes"].items()}
    try:
        tp.load_state_dict(work, state_dict={"full_state_dict": full, "attributions": attributions})
    except Exception as exc:  # noqa: BLE001 - an attribute the model= does not let us set
        raise InvalidParameterError(f"{source} could not be applied to model= ({type(exc).__name__}: "
                                    f"{str(exc)[:200]}); the model passed is not the one saved") from None
    setattr(work, _UNPRUNED_ATTR, unpruned)
    return work.eval()


# ----------------------------------------------------------------------------- digest


def _digest(arch: dict, act_params: dict, weights: dict) -> str:
    """``"sha256:<hex>"`` over a canonical JSON of the architecture, the activation's settings, the
    tensors' names, shapes and dtypes, and a sha256 of the tensors' bytes (in name order)."""
    data = hashlib.sha256()
    tensors = []
    for name in sorted(weights):
        t = weights[name].detach().cpu()
        tensors.append([name, list(t.shape), str(t.dtype).replace("torch.", "")])
        data.update(name.encode("utf-8") + b"\0")
        flat = t.contiguous().reshape(-1)
        if flat.numel():
            data.update(flat.view(torch.uint8).numpy())
    payload = {"architecture": arch, "activation_parameters": act_params, "tensors": tensors,
               "tensor_bytes_sha256": data.hexdigest()}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


# ----------------------------------------------------------------------------- save and load


def to_state(model: nn.Module) -> dict:
    """What :func:`save` writes: ``{"format", "version", "architecture" (JSON text),
    "activation_parameters" (JSON text), "state_dict", "digest"}``.

    Holds only strings, ints and tensors, so ``torch.load(..., weights_only=True)`` reads it and the
    project's cache (:mod:`topokit.cache`) stores it; no pickled classes. ``digest`` is a sha256
    over the architecture, the activation's settings (``w``, ``s`` of a collapse member) and the
    tensors (names, shapes, dtypes, bytes); :func:`from_state` recomputes it.

    For a net built by :func:`mlp`, :func:`cnn` (version 2) or :func:`resnet` (version 3) the
    architecture is its description (:func:`architecture`) and the state dict its own. Any other
    ``nn.Module`` is stored as Torch-Pruning's pruned state (version 3, kind ``"tp-state"``): the
    description lists every module (name, class, plain attributes, its tensors' shapes), the
    state dict holds every parameter and buffer, and ``"unpruned"`` the shapes of the model before
    :func:`topokit.pruning.prune` pruned it (null when topokit did not prune it).
    """
    if isinstance(model, (LayeredNet, ResNet)):
        arch = architecture(model)
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        act_params = _activation_parameters(get_activation(arch["activation"])) if "activation" in arch else {}
    elif isinstance(model, nn.Module):
        arch, state = _tp_state(model)
        act_params = {}
    else:
        raise InvalidParameterError(f"model must be a torch nn.Module, got {type(model).__name__}")
    return {"format": MODEL_FORMAT, "version": _KIND_VERSION[arch["kind"]], "architecture": json.dumps(arch),
            "activation_parameters": json.dumps(act_params, sort_keys=True), "state_dict": state,
            "digest": _digest(arch, act_params, state)}


def from_state(state: dict, source: str = "the model state", *, model: Optional[nn.Module] = None,
               max_parameters: int = MAX_PARAMETERS, max_memory_bytes: Optional[int] = None) -> nn.Module:
    """Rebuild a net from :func:`to_state`'s dict, in eval mode, verifying it before building.

    In order, and before allocating the net: the format marker and version; every field of the
    architecture description (types, ranges, the activation name); the number of values it
    implies against ``max_parameters``; the tensor names, shapes and kinds it implies against the
    state dict; the digest (files of format version 1 have none: they load with an
    :class:`UnverifiedModelWarning`); the activation's settings against today's registry; the
    memory the net needs.

    Parameters
    ----------
    state : dict
        As returned by :func:`to_state` (or read from a file written by :func:`save`).
    source : str, default "the model state"
        How error messages name the state (:func:`load` passes the file path).
    model : nn.Module, optional
        For a state of a model topokit did not build (kind ``"tp-state"``): the same architecture,
        freshly built and unpruned; the state is applied with Torch-Pruning's
        ``tp.load_state_dict`` to a copy of it (``model`` itself is not changed) after checking that
        its module names, classes, tensors and unpruned shapes are the ones saved. Not needed
        (and must be None or of the same class) for our builders' states.
    max_parameters : int, default MAX_PARAMETERS
        Refuse a description implying more values (parameters and buffers) than this.
    max_memory_bytes : int, optional
        Memory budget for the net; default half the available memory.

    Raises
    ------
    ValueError
        (:class:`~topokit._checks.InvalidParameterError`) Not a topokit model state, a description
        that is invalid, too large or does not match the weights, a digest mismatch, or a pruned
        state that does not fit ``model`` (nothing is applied then).
    """
    if not isinstance(source, str):
        raise InvalidParameterError(f"source must be a string naming the state, got {type(source).__name__}")
    max_parameters = _checks.integer(max_parameters, "max_parameters", minimum=1, fix="e.g. max_parameters=10**8")
    if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT or "state_dict" not in state:
        raise InvalidParameterError(f"{source} is not a topokit model (no {MODEL_FORMAT!r} marker); write it with "
                                    "topokit.models.save")
    version = state.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidParameterError(f"{source} has no valid format version (got {version!r:.40}); {_EDITED}")
    if version > MODEL_FORMAT_VERSION:
        raise InvalidParameterError(f"{source} has format version {version}, newer than this topokit reads "
                                    f"({MODEL_FORMAT_VERSION}); upgrade topokit to load it")
    weights = state["state_dict"]
    if not isinstance(weights, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                and v.layout == torch.strided for k, v in weights.items()):
        raise InvalidParameterError(f"{source}'s state_dict is not a dict of names to dense tensors; {_EDITED}")
    try:
        described = json.loads(state.get("architecture"))
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{source} has an unreadable architecture description ({exc}); "
                                    f"{_EDITED}") from None
    arch = _validate_architecture(described, source, len(weights), version)
    builder = {"mlp": LayeredNet, "cnn": LayeredNet, "resnet": ResNet}.get(arch["kind"])
    if builder is not None and model is not None and not isinstance(model, builder):
        raise InvalidParameterError(
            f"{source} holds a topokit {_describe(arch)}, rebuilt from its description; model= is only for models "
            f"topokit did not build, got a {type(model).__name__}: call models.load(path) without model=")
    if arch["kind"] == "tp-state":
        spec = _tp_expected(arch)
    elif arch["kind"] == "resnet":
        spec = _expected_state(arch, {})
    else:
        spec = _expected_state(arch, _activation_state(arch["activation"]))
    n_values = _count(spec)
    if n_values > max_parameters:
        raise InvalidParameterError(
            f"{source} declares a {_describe(arch)} with {n_values:,} parameters, more than max_parameters="
            f"{max_parameters:,} (its weights hold {sum(v.numel() for v in weights.values()):,}); if you trust "
            f"the file and the machine can hold it, pass max_parameters={n_values}; otherwise {_EDITED}")
    missing = [k for k in spec if k not in weights]
    extra = sorted(k for k in weights if k not in spec)
    wrong = [f"{k}: architecture {spec[k][0]} vs weights {tuple(weights[k].shape)}"
             for k in spec if k in weights and tuple(weights[k].shape) != spec[k][0]]
    kinds = [f"{k}: {weights[k].dtype} where a {'floating-point' if spec[k][1] else 'integer'} tensor belongs"
             for k in spec if k in weights and spec[k][1] is not None and weights[k].is_floating_point() != spec[k][1]]
    if missing or extra or wrong or kinds:
        problems = [f"missing {_listed(missing)}" if missing else "", f"unexpected {_listed(extra)}" if extra else "",
                    "shape mismatch " + _listed(wrong) if wrong else "", "dtype mismatch " + _listed(kinds) if kinds else ""]
        raise InvalidParameterError(
            f"{source} does not match its architecture: the file declares a {_describe(arch)} but its weights "
            f"differ: {'; '.join(p for p in problems if p)}. {_EDITED[0].upper()}{_EDITED[1:]}")
    act_params = _activation_parameters(get_activation(arch["activation"])) if "activation" in arch else {}
    if version >= 2 or "digest" in state:
        _verify_digest(state, described, weights, act_params, arch, source)
    else:
        warnings.warn(f"{source} was written before topokit recorded digests (format version 1), so it cannot be "
                      "verified: its architecture description is trusted as written; re-save it with "
                      "topokit.models.save to add one", UnverifiedModelWarning, stacklevel=3)
    if arch["kind"] == "tp-state":
        return _apply_tp_state(arch, weights, model, source, max_memory_bytes)
    _check_build(n_values, len(spec), f"building the {_describe(arch)} of {source} ({n_values:,} parameters)",
                 "load it on a machine with more memory", max_memory_bytes)
    if arch["kind"] == "resnet":
        net = _build_resnet(arch)
    elif arch["kind"] == "mlp":
        net = _build_mlp(arch["in_dim"], arch["widths"], arch["activation"], arch["out_dim"])
    else:
        net = _build_cnn(arch["in_channels"], arch["num_classes"], arch["activation"], arch["channels"], arch["hidden"],
                         arch["batch_norm"])
    net.load_state_dict(weights)
    return net.eval()


def _verify_digest(state, described, weights, act_params, arch, source) -> None:
    stored = state.get("digest")
    if not isinstance(stored, str) or not stored.startswith("sha256:"):
        raise InvalidParameterError(f"{source} has format version {state.get('version')} but no valid digest "
                                    f"(got {stored!r:.40}); {_EDITED}")
    try:
        saved_params = json.loads(state.get("activation_parameters"))
    except (TypeError, ValueError):
        saved_params = None
    if not isinstance(saved_params, dict):
        raise InvalidParameterError(f"{source} has no readable activation_parameters; {_EDITED}")
    if _digest(described, saved_params, weights) != stored:
        raise InvalidParameterError(
            f"{source} fails its integrity check: the digest recorded at save time does not match the "
            f"{_describe(arch)} and the weights the file holds now, so the description or the weights were "
            f"changed after saving (e.g. the activation name edited in the JSON); {_EDITED}, or use the original file")
    if saved_params != act_params:
        raise InvalidParameterError(
            f"{source} was saved with activation {arch['activation']!r} set to {saved_params}, but this topokit's "
            f"{arch['activation']!r} is {act_params}; the net would compute something else than it was trained to. "
            "Load it with the topokit version that saved it, or register the saved settings under a new name")


def _check_path(path, name: str = "path") -> Path:
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise InvalidParameterError(f"{name} must be a file path (str or pathlib.Path), got {type(path).__name__} "
                                    f"{path!r:.60}; e.g. 'model.pt'")
    return Path(path)


def save(model: nn.Module, path) -> Path:
    """Write a net (pruned or not) to ``path``: its architecture as JSON, its state dict and a digest.

    One ``torch.save`` file holding only strings and tensors (no pickled modules: Torch-Pruning's
    whole-model pickling would need ``torch.load(weights_only=False)``, which runs code from the
    file), with a sha256 digest over the description and the weights that :func:`load` checks
    (see :func:`to_state`). Nets built by :func:`cnn`, :func:`mlp` and :func:`resnet` are stored
    with their architecture and :func:`load` rebuilds them; any other model is stored as
    Torch-Pruning's pruned state (its modules' tensors and sizes), which ``load(path,
    model=MyNet())`` re-applies to the freshly built, unpruned model. Written atomically
    (:func:`topokit.fileio.atomic_path`: a temporary file in the same folder renamed over ``path``):
    a reader never sees half a file, and a failed write leaves an earlier file intact and no
    temporary file behind.

    Parameters
    ----------
    model : nn.Module
        Built by :func:`cnn`, :func:`mlp` or :func:`resnet`, or any other ``nn.Module``; possibly
        pruned by :func:`topokit.pruning.prune` (or by Torch-Pruning directly).
    path : str or path-like
        Target file, conventionally ``*.pt``, in an existing folder.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        The folder of ``path`` does not exist (it is not created for you).
    InvalidParameterError
        ``path`` is not a path or is a folder, or a LayeredNet or ResNet that :func:`architecture`
        cannot describe (e.g. an unregistered activation module).
    """
    path = _check_path(path)
    if path.is_dir():
        raise InvalidParameterError(f"path {str(path)!r} is a folder; pass a file name inside it, e.g. "
                                    f"{str(path / 'model.pt')!r}")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot save the model to {path}: the folder {folder} does not exist; create it "
                                f"first (e.g. Path({str(folder)!r}).mkdir(parents=True)) or choose another path")
    state = to_state(model)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load(path, *, model: Optional[nn.Module] = None, max_parameters: int = MAX_PARAMETERS,
         max_memory_bytes: Optional[int] = None) -> nn.Module:
    """Read a net written by :func:`save`, verified, in eval mode on the CPU.

    The file's size is checked first, then it is read with ``torch.load(weights_only=True)``
    (which allocates only what the file holds and runs no code from it), then checked by
    :func:`from_state` before any net is built: the description field by field, its size
    against ``max_parameters``, its tensor names and shapes against the weights, the digest.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.
    model : nn.Module, optional
        For a model topokit did not build: the same architecture, freshly built and unpruned
        (``load(path, model=MyNet())``). The saved pruned state is checked against it (module
        names and classes, tensors, the unpruned shapes recorded at save time) and applied with
        Torch-Pruning's ``tp.load_state_dict`` to a copy, which is returned; ``model`` itself is
        not changed, and a state that does not fit it is refused with nothing applied. Not
        needed for nets built by :func:`cnn`, :func:`mlp` or :func:`resnet`.
    max_parameters : int, default MAX_PARAMETERS (100 million)
        Refuse a file declaring more values than this, or larger than 8 bytes per value plus 64 MiB.
    max_memory_bytes : int, optional
        Memory budget for reading and building; default half the available memory.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        (:class:`~topokit._checks.InvalidParameterError`) A truncated or foreign file, a description
        that is invalid, too large or does not match the weights, a digest mismatch, or a pruned
        state of another architecture than ``model`` (or no ``model`` for one).

    Warns
    -----
    UnverifiedModelWarning
        A file written before digests existed (format version 1): it loads, unverified.
    """
    path = _check_path(path)
    max_parameters = _checks.integer(max_parameters, "max_parameters", minimum=1, fix="e.g. max_parameters=10**8")
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}; write one with topokit.models.save(model, path)")
    if not path.is_file():
        raise InvalidParameterError(f"{path} is not a file (a folder?); pass the path of a model file written by "
                                    "topokit.models.save")
    size = path.stat().st_size
    if size == 0:
        raise InvalidParameterError(f"{path} is empty: truncated or not a model file written by "
                                    "topokit.models.save; re-save the model")
    limit = 8 * max_parameters + _FILE_SLACK
    if size > limit:
        raise InvalidParameterError(
            f"{path} is {size / 2**20:,.1f} MiB, more than a model of at most max_parameters={max_parameters:,} "
            f"values can take ({limit / 2**20:,.1f} MiB); if you trust the file, pass a larger max_parameters=")
    _checks.memory(size, f"reading {path}", fix="load it on a machine with more memory",
                   max_memory_bytes=max_memory_bytes)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" in str(exc).lower():
            raise InvalidParameterError(
                f"{path} holds more than weights (e.g. a pickled whole model, which we do not load: it would run "
                "code from the file); re-save it with topokit.models.save") from None
        raise InvalidParameterError(f"{path} is truncated or not a model file written by topokit.models.save "
                                    f"({str(exc)[:120]}); re-save the model") from None
    except Exception as exc:  # noqa: BLE001 - a broken zip or pickle fails in many ways
        raise InvalidParameterError(f"{path} is truncated or not a model file written by topokit.models.save "
                                    f"({type(exc).__name__}: {str(exc)[:120]}); re-save the model") from None
    return from_state(state, source=str(path), model=model, max_parameters=max_parameters,
                      max_memory_bytes=max_memory_bytes)
