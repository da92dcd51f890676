"""Model builders: MLPs for point clouds and small CNNs for images.

Both return a :class:`LayeredNet`, a plain ``nn.Module`` whose ``blocks`` (an ``nn.ModuleList``)
run one after another. Each block is one "layer" in the sense of Naitzat et al. (2020): a
hidden block is an affine map followed by its activation, the last block gives the logits. Code
that studies layers (``topokit.topology.layer_outputs``) hooks the blocks in order.
"""
from __future__ import annotations

import contextlib
import copy
from typing import Optional, Sequence

import torch
from torch import nn

from .activations import get_activation

__all__ = ["LayeredNet", "mlp", "cnn"]


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


def _positive_int(value, what: str, fix: str) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{what} must be a positive integer, got {value!r}; {fix}")
    value = int(value)
    if value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value}; {fix}")
    return value


def _act_name(activation) -> str:
    return activation if isinstance(activation, str) else type(activation).__name__


def mlp(in_dim: int, width: int, depth: int, activation: str = "relu", out_dim: int = 2,
        seed: Optional[int] = None) -> LayeredNet:
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
        A name from :func:`topokit.activations.available_activations`.
    out_dim : int, default 2
        Number of logits.
    seed : int, optional
        Seed for the initial weights (PyTorch's default initialisation); None uses torch's
        global generator.
    """
    in_dim = _positive_int(in_dim, "in_dim", "pass the number of input features, e.g. 2 for D-I")
    width = _positive_int(width, "width", "pass the number of units per hidden layer, e.g. 15")
    depth = _positive_int(depth, "depth", "pass the number of hidden layers, e.g. 9")
    out_dim = _positive_int(out_dim, "out_dim", "pass the number of classes, e.g. 2")
    get_activation(activation)  # validate the name before building anything
    with _seeded(seed):
        return _build_mlp(in_dim, width, depth, activation, out_dim)


def _build_mlp(in_dim, width, depth, activation, out_dim) -> LayeredNet:
    blocks, names, d = [], [], in_dim
    for i in range(depth):
        blocks.append(nn.Sequential(nn.Linear(d, width), get_activation(activation) if isinstance(activation, str) else _clone(activation)))
        names.append(f"hidden{i + 1}")
        d = width
    blocks.append(nn.Linear(d, out_dim))
    names.append("logits")
    return LayeredNet(blocks, names, activation=_act_name(activation))


def _clone(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module)


@contextlib.contextmanager
def _seeded(seed: Optional[int]):
    """Run the block with torch's global generator seeded, restoring its state afterwards."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
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
        Filters per conv block.
    hidden : int, default 64
        Units of the dense hidden layer.
    batch_norm : bool, default True
        Insert ``BatchNorm2d`` after each convolution.
    seed : int, optional
        Seed for the initial weights; None uses torch's global generator.
    """
    in_channels = _positive_int(in_channels, "in_channels", "use 1 for grey images, 3 for colour")
    num_classes = _positive_int(num_classes, "num_classes", "pass the number of classes, e.g. 2")
    hidden = _positive_int(hidden, "hidden", "pass the number of dense units, e.g. 64")
    channels = [_positive_int(c, "each entry of channels", "e.g. channels=(16, 32, 64)") for c in channels]
    if not channels:
        raise ValueError("channels must name at least one conv block, e.g. channels=(16, 32, 64)")
    get_activation(activation)
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
