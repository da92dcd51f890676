"""Where a filter's feature map is in any model, and capturing it (private; used by :mod:`topokit.pruning`).

A model is traced with ``torch.fx`` (what torchvision's feature extraction is built on; it ships
with torch) by a tracer that keeps every ``nn.Conv2d``, ``nn.BatchNorm2d`` and activation module
as one node. For a conv, the **feature point** is found by following its output through single
users only:

- ``"conv"``: the conv's output;
- ``"bn"``: the output of the ``nn.BatchNorm2d`` module that is the conv's only user;
- ``"activation"``: the output of the activation applied to that (or, without batch norm, to the
  conv's output directly): an activation module (``nn.ReLU``, ``nn.GELU``, ... and topokit's
  own), a function (``torch.relu``, ``F.relu``, ``F.gelu``, ...) or a tensor method (``x.relu()``);
- ``"auto"`` (default): as far along conv -> batch norm -> activation as the graph goes.

Any other node in between stops the chain: in a residual block ``bn2(conv2(x)) + shortcut`` the
addition comes before the ReLU, so ``conv2``'s feature map is ``bn2``'s output, the last point
that belongs to ``conv2`` alone. ``"bn"`` and ``"activation"`` are strict (a conv without that
point is an error naming it); ``"auto"`` is lenient. A conv called more than once in a forward
pass is read at its first call.

Maps are captured by inserting a recording node right after each chosen node (so in-place
operations later in the graph cannot change what was recorded) and the pass stops once every
map of the batch is recorded. ``"conv"`` needs no tracing (forward hooks); with ``"auto"``, a
model ``torch.fx`` cannot trace (e.g. Python control flow on tensor values) falls back to the
conv outputs with a warning saying why.
"""
from __future__ import annotations

import copy
import warnings
from typing import Optional

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from . import _checks
from .training import _as_tensor

FEATURE_POINTS = ("auto", "conv", "bn", "activation")

_ACT_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
                nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softsign,
                nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Threshold, nn.LogSigmoid)
_ACT_FUNCTIONS = {torch.relu, torch.relu_, F.relu, F.relu_, F.relu6, F.leaky_relu, F.leaky_relu_, F.prelu, F.rrelu,
                  F.elu, F.elu_, F.selu, F.celu, F.gelu, F.silu, F.mish, F.hardswish, F.hardsigmoid, F.hardtanh,
                  F.hardtanh_, torch.sigmoid, F.sigmoid, torch.tanh, F.tanh, F.softplus, F.softsign, F.tanhshrink,
                  F.softshrink, F.hardshrink, F.threshold, F.logsigmoid, torch.clamp, torch.clip}
_ACT_METHODS = {"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "clamp", "clamp_", "clip", "clip_"}


class _Stop(Exception):
    """Ends a forward pass once every feature map of the batch is recorded."""


class TraceFailed(ValueError):
    """``torch.fx`` could not trace the model; the message says where and why."""


def activation_types() -> tuple:
    """Module classes counted as activations: torch's and every class topokit's registry builds."""
    from .activations import ACTIVATIONS, ClippedReLU, Collapse

    extra = {ClippedReLU, Collapse}
    for factory in ACTIVATIONS.values():
        try:
            extra.add(type(factory()))
        except Exception:  # noqa: BLE001 - a user-registered factory that needs arguments: not ours to judge
            pass
    return _ACT_MODULES + tuple(extra)


class _Tracer(fx.Tracer):
    """Keeps convs, batch norms and activation modules (topokit's included) as single nodes."""

    def __init__(self):
        super().__init__()
        self._acts = activation_types()

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:  # noqa: D102
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d) + self._acts):
            return True
        return super().is_leaf_module(m, qualname)


def trace(model: nn.Module) -> fx.GraphModule:
    """``model`` as a ``torch.fx`` GraphModule sharing its submodules; :class:`TraceFailed` if it cannot be traced."""
    tracer = _Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # noqa: BLE001 - fx fails in many ways (TraceError, TypeError, NotImplementedError ...)
        raise TraceFailed(f"torch.fx cannot trace {type(model).__name__}: {type(exc).__name__}: {str(exc)[:300]}") \
            from None
    return fx.GraphModule(tracer.root, graph, class_name=type(model).__name__)


def _is_activation(node: fx.Node, modules: dict, acts: tuple) -> bool:
    if node.op == "call_module":
        return isinstance(modules.get(node.target), acts)
    if node.op == "call_function":
        return node.target in _ACT_FUNCTIONS
    if node.op == "call_method":
        return node.target in _ACT_METHODS
    return False


def _only_user(node: fx.Node) -> Optional[fx.Node]:
    """The single node using ``node`` as its first argument, or None (several users, or used otherwise)."""
    users = list(node.users)
    if len(users) == 1 and users[0].args and users[0].args[0] is node:
        return users[0]
    return None


def chains(gm: fx.GraphModule, conv_names) -> dict:
    """conv name -> {"conv": node, "bn": node or None, "activation": node or None} along its single-user chain.

    A conv the graph never calls is absent.
    """
    modules = dict(gm.named_modules())
    acts = activation_types()
    out = {}
    wanted = set(conv_names)
    for node in gm.graph.nodes:
        if node.op != "call_module" or node.target not in wanted or node.target in out:
            continue
        chain = {"conv": node, "bn": None, "activation": None}
        nxt = _only_user(node)
        if nxt is not None and nxt.op == "call_module" and isinstance(modules.get(nxt.target), nn.BatchNorm2d):
            chain["bn"] = nxt
            nxt = _only_user(nxt)
        if nxt is not None and _is_activation(nxt, modules, acts):
            chain["activation"] = nxt
        out[node.target] = chain
    return out


def feature_nodes(gm: fx.GraphModule, conv_names, point: str) -> dict:
    """conv name -> the fx node whose output is its feature map at ``point`` (see the module docstring)."""
    found = chains(gm, conv_names)
    missing = [n for n in conv_names if n not in found]
    if missing:
        raise _checks.InvalidParameterError(
            f"the model's forward pass never calls {_names(missing)}, so they have no feature maps; leave them out "
            "of the scores (method='l1' and 'random' need no feature maps)")
    out, lacking = {}, []
    for name in conv_names:
        chain = found[name]
        if point == "conv":
            node = chain["conv"]
        elif point == "auto":
            node = chain["activation"] or chain["bn"] or chain["conv"]
        elif point == "bn":
            node = chain["bn"]
        else:
            node = chain["activation"]
        if node is None:
            lacking.append(name)
        out[name] = node
    if lacking:
        what = "an nn.BatchNorm2d as its only user" if point == "bn" else \
            "an activation (module, function or method) as the only user of its output or of its batch norm's"
        raise _checks.InvalidParameterError(
            f"feature_point={point!r} needs every conv to have {what}; {_names(lacking)} "
            f"{'has' if len(lacking) == 1 else 'have'} none (e.g. a residual addition comes first). Use "
            "feature_point='auto' (the furthest point each conv has) or 'conv'")
    return out


def _names(items, n=5) -> str:
    items = [repr(i) for i in items]
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


class _Recorder(nn.Module):
    """Copies each recorded map into its preallocated array; stops the pass when the batch is complete."""

    def __init__(self, n: int, keys):
        super().__init__()
        self.n, self.keys = n, list(keys)
        self.store: dict = {}
        self.at = 0
        self.seen: set = set()

    def forward(self, value, key):  # noqa: D102
        if key in self.seen:  # a conv called again in the same pass: its first call counts
            return value
        v = value.detach()
        if key not in self.store:  # one array per map, filled batch by batch (no concatenation)
            self.store[key] = torch.empty((self.n,) + tuple(v.shape[1:]), dtype=torch.float32)
        self.store[key][self.at:self.at + len(v)].copy_(v)
        self.seen.add(key)
        if len(self.seen) == len(self.keys):
            raise _Stop
        return value


def _traced_runner(net: nn.Module, conv_names, point: str, recorder: _Recorder, points: dict) -> nn.Module:
    gm = trace(net)
    nodes = feature_nodes(gm, conv_names, point)
    found = chains(gm, conv_names)
    for name, node in nodes.items():
        points[name] = next(k for k in ("activation", "bn", "conv") if found[name][k] is node)
    gm.add_submodule("_topokit_recorder", recorder)
    for name, node in nodes.items():
        with gm.graph.inserting_after(node):
            gm.graph.call_module("_topokit_recorder", (node, name))
    gm.recompile()
    return gm


def _hooked_runner(net: nn.Module, conv_names, recorder: _Recorder) -> nn.Module:
    modules = dict(net.named_modules())
    for name in conv_names:
        modules[name].register_forward_hook(lambda _m, _a, out, name=name: recorder(out, name))
    return net


def capture(model: nn.Module, X: np.ndarray, conv_names, point: str = "auto", batch_size: int = 64,
            quiet: bool = False) -> tuple:
    """Feature maps of the named convs at ``point`` for images ``X`` (n, C, H, W).

    Runs on a deep copy in eval mode and channels-last memory format, without gradients, and stops
    each batch once all maps are recorded.

    Returns
    -------
    maps : dict
        conv name -> float32 tensor (n, C, H', W'), contiguous, in the order of ``conv_names``.
    points : dict
        conv name -> the point read: ``"conv"``, ``"bn"`` or ``"activation"``.

    ``quiet`` leaves out the warning of the fallback to conv outputs (given by an earlier call).
    """
    conv_names = list(conv_names)
    net = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    recorder = _Recorder(len(X), conv_names)
    points = {name: "conv" for name in conv_names}
    if point == "conv":
        runner = _hooked_runner(net, conv_names, recorder)
    else:
        try:
            runner = _traced_runner(net, conv_names, point, recorder, points)
        except TraceFailed as exc:
            if point != "auto":
                raise TraceFailed(f"{exc}; feature_point={point!r} needs the traced graph to find the batch norm or "
                                  "activation after each conv: use feature_point='conv', or make forward traceable "
                                  "(no Python branching on tensor values)") from None
            if not quiet:
                warnings.warn(f"{exc}; the feature maps are read at the conv outputs instead (feature_point='conv'). "
                              "Make forward traceable to read them after batch norm and activation, or pass "
                              "feature_point='conv' to silence this warning", UserWarning, stacklevel=5)
            runner = _hooked_runner(net, conv_names, recorder)
    try:
        dev = next(net.parameters()).device
    except StopIteration:
        dev = torch.device("cpu")
    Xt = _as_tensor(X, None, "cpu")  # a read-only (cached) array is copied, not shared with a warning
    with torch.no_grad():
        for i in range(0, len(Xt), batch_size):
            recorder.at, recorder.seen = i, set()
            try:
                runner(Xt[i:i + batch_size].to(dev).contiguous(memory_format=torch.channels_last))
            except _Stop:
                pass
            if len(recorder.seen) != len(conv_names):
                absent = [n for n in conv_names if n not in recorder.seen]
                raise _checks.InvalidParameterError(
                    f"the model's forward pass did not reach {_names(absent)} for these images, so they have no "
                    "feature maps; leave them out of the scores")
    return {name: recorder.store[name] for name in conv_names}, points


def probe(model: nn.Module, X: np.ndarray, first_conv: Optional[tuple] = None) -> None:
    """Run the model on one image; a model that rejects it is a clear error before any heavy work."""
    net = model
    was = net.training
    try:
        dev = next(net.parameters()).device
    except StopIteration:
        dev = torch.device("cpu")
    net.eval()
    try:
        with torch.no_grad():
            net(_as_tensor(X[:1], None, dev))
    except Exception as exc:  # noqa: BLE001 - whatever the model raises, say what it was given and expects
        hint = ""
        if first_conv is not None:
            hint = f" (its first conv, {first_conv[0]!r}, takes {first_conv[1]} channel(s))"
        raise _checks.InvalidParameterError(
            f"the model rejects images of shape {tuple(X.shape[1:])} (one image: {tuple(X[:1].shape)}){hint}: "
            f"{type(exc).__name__}: {str(exc)[:300]}; pass images of the shape it was built for") from None
    finally:
        net.train(was)
