"""Model builders: MLPs for point clouds and small CNNs for images.

Both return a :class:`LayeredNet`, a plain ``nn.Module`` whose ``blocks`` (an ``nn.ModuleList``)
run one after another. Each block is one "layer" in the sense of Naitzat et al. (2020): a
hidden block is an affine map followed by its activation, the last block gives the logits. Code
that studies layers (``topokit.topology.layer_outputs``) hooks the blocks in order.
"""
from __future__ import annotations

import contextlib
import copy
import json
import zipfile
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn

from .activations import ACTIVATIONS, get_activation
from .fileio import atomic_path

__all__ = ["LayeredNet", "mlp", "cnn", "architecture", "to_state", "from_state", "save", "load"]

#: Marks a file written by :func:`save` (and the payload of :func:`to_state`).
MODEL_FORMAT = "topokit-model"
MODEL_FORMAT_VERSION = 1


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


# ----------------------------------------------------------------------------- save and load


def _fail_arch(what: str) -> ValueError:
    return ValueError(
        f"cannot describe this model's architecture: {what}; save only nets built by topokit.models.cnn or "
        "topokit.models.mlp (pruned or not) with a registered activation name"
    )


def architecture(model: LayeredNet) -> dict:
    """A JSON-able description of a net built by :func:`cnn` or :func:`mlp`, read from its modules.

    It holds the actual sizes, so a pruned CNN is described with its channels per layer after
    pruning: ``{"kind": "cnn", "in_channels", "channels": [...], "hidden", "num_classes",
    "activation", "batch_norm"}`` or ``{"kind": "mlp", "in_dim", "widths": [...], "out_dim",
    "activation"}``. :func:`from_state` rebuilds the net from it.

    Raises
    ------
    ValueError
        A model of another structure, or an activation that is not a registered name.
    """
    if not isinstance(model, LayeredNet):
        raise _fail_arch(f"got a {type(model).__name__}, not a LayeredNet")
    act = str(model.activation)
    if act.strip().lower().replace("-", "_") not in ACTIVATIONS:
        raise _fail_arch(f"activation {act!r} is not a registered name")
    blocks, names = list(model.blocks), list(model.layer_names)
    if names and names[0].startswith("conv"):
        convs = [b for b, n in zip(blocks, names) if n.startswith("conv")]
        if len(convs) + 2 != len(blocks) or names[-2:] != ["dense", "logits"]:
            raise _fail_arch(f"unexpected layer names {names}")
        batch_norm = isinstance(convs[0][1], nn.BatchNorm2d)
        for b in convs:
            conv = b[0]
            if not isinstance(conv, nn.Conv2d) or conv.kernel_size != (3, 3) or conv.padding != (1, 1):
                raise _fail_arch("a conv block does not start with a 3x3 Conv2d with padding 1")
            if isinstance(b[1], nn.BatchNorm2d) != batch_norm:
                raise _fail_arch("batch norm in some conv blocks only")
        dense = blocks[-2][2]
        return {"kind": "cnn", "in_channels": int(convs[0][0].in_channels),
                "channels": [int(b[0].out_channels) for b in convs], "hidden": int(dense.out_features),
                "num_classes": int(blocks[-1].out_features), "activation": act, "batch_norm": bool(batch_norm)}
    if names and names[0].startswith("hidden"):
        linears = [b[0] for b in blocks[:-1]]
        if not all(isinstance(m, nn.Linear) for m in linears + [blocks[-1]]):
            raise _fail_arch("an MLP block is not Linear -> activation")
        return {"kind": "mlp", "in_dim": int(linears[0].in_features), "widths": [int(m.out_features) for m in linears],
                "out_dim": int(blocks[-1].out_features), "activation": act}
    raise _fail_arch(f"unexpected layer names {names}")


def _build(arch: dict) -> LayeredNet:
    try:
        kind = arch["kind"]
        if kind == "cnn":
            return _build_cnn(int(arch["in_channels"]), int(arch["num_classes"]), str(arch["activation"]),
                              [int(c) for c in arch["channels"]], int(arch["hidden"]), bool(arch["batch_norm"]))
        if kind == "mlp":
            blocks, names, d = [], [], int(arch["in_dim"])
            for i, w in enumerate(arch["widths"]):
                blocks.append(nn.Sequential(nn.Linear(d, int(w)), get_activation(str(arch["activation"]))))
                names.append(f"hidden{i + 1}")
                d = int(w)
            blocks.append(nn.Linear(d, int(arch["out_dim"])))
            names.append("logits")
            return LayeredNet(blocks, names, activation=str(arch["activation"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the architecture description {arch!r} is incomplete or invalid ({exc}); "
                         "write it with topokit.models.architecture") from exc
    raise ValueError(f"unknown architecture kind {arch.get('kind')!r}; expected 'cnn' or 'mlp'")


def to_state(model: LayeredNet) -> dict:
    """``{"format", "version", "architecture" (JSON text), "state_dict"}``: what :func:`save` writes.

    Holds only strings, ints and tensors, so ``torch.load(..., weights_only=True)`` reads it and the
    project's cache (:mod:`topokit.cache`) stores it; no pickled classes.
    """
    arch = architecture(model)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"format": MODEL_FORMAT, "version": MODEL_FORMAT_VERSION, "architecture": json.dumps(arch),
            "state_dict": state}


def from_state(state: dict, source: str = "the model state") -> LayeredNet:
    """Rebuild a net from :func:`to_state`'s dict (architecture, then weights), in eval mode.

    Raises
    ------
    ValueError
        Not a topokit model state, or weights that do not match the architecture (named).
    """
    if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT or "state_dict" not in state:
        raise ValueError(f"{source} is not a topokit model (no {MODEL_FORMAT!r} marker); write it with "
                         "topokit.models.save")
    try:
        arch = json.loads(state["architecture"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source} has an unreadable architecture description; re-save the model") from exc
    model = _build(arch)
    own = model.state_dict()
    weights = state["state_dict"]
    missing = sorted(set(own) - set(weights))
    extra = sorted(set(weights) - set(own))
    wrong = [f"{k}: file {tuple(weights[k].shape)} vs architecture {tuple(own[k].shape)}"
             for k in own if k in weights and tuple(weights[k].shape) != tuple(own[k].shape)]
    if missing or extra or wrong:
        raise ValueError(
            f"{source} does not match its architecture {arch}: "
            + "; ".join(p for p in [f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else "",
                                    "shape mismatch " + ", ".join(wrong) if wrong else ""] if p)
            + ". The file was edited or written by other code; re-save the model with topokit.models.save"
        )
    model.load_state_dict(weights)
    return model.eval()


def save(model: LayeredNet, path) -> Path:
    """Write a net (pruned or not) to ``path``: its architecture as JSON plus its state dict.

    One ``torch.save`` file holding only strings and tensors (no pickled modules: Torch-Pruning's
    whole-model pickling would need ``torch.load(weights_only=False)``, which runs code from the
    file). Written atomically (:func:`topokit.fileio.atomic_path`): a reader never sees half a file.

    Parameters
    ----------
    model : LayeredNet
        Built by :func:`cnn` or :func:`mlp`, possibly pruned by :func:`topokit.pruning.prune`.
    path : path-like
        Target file, conventionally ``*.pt``.

    Returns
    -------
    pathlib.Path
    """
    state = to_state(model)
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load(path) -> LayeredNet:
    """Read a net written by :func:`save` (``torch.load(weights_only=True)``), in eval mode on the CPU.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A truncated or foreign file, or weights that do not match the stored architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}; write one with topokit.models.save(model, path)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{path} is truncated or not a model file written by topokit.models.save ({exc}); "
                         "re-save the model") from exc
    except Exception as exc:  # noqa: BLE001 - weights_only refusals (pickled classes) land here
        raise ValueError(f"{path} holds more than weights (e.g. a pickled whole model, which we do not load: "
                         f"{type(exc).__name__}); re-save it with topokit.models.save") from exc
    return from_state(state, source=str(path))
