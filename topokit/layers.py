"""Choosing layers of any PyTorch model, and capturing their outputs.

A *layer* here is any intermediate tensor of a model's forward pass that topokit can read:

- a **module name** from ``model.named_modules()`` (``"layer1"``, ``"layer1.0.conv1"``): the
  module's output, read with a forward hook (so it works on every model, traceable or not);
- a **graph node name** of the model's :mod:`torch.fx` graph, the names
  ``torch.fx.symbolic_trace(model).graph`` gives (``"relu"``, ``"add_1"``,
  ``"layer1_0_relu_1"``): any call in ``forward``, functional ones such as ``torch.relu(x)``,
  ``F.relu(x)`` and ``x + y`` included (this is what torchvision's feature extraction is built
  on; it ships with torch);
- a **module type** (``nn.ReLU``, ``nn.Conv2d``): every module of that type (``isinstance``),
  in execution order; a module of that type that ``forward`` calls several times (a shared
  ``self.relu``) gives one layer per call, named by its graph nodes;
- ``"output"``: the model's output (unless a module is called ``output``);
- for a :class:`topokit.models.LayeredNet`, its ``layer_names`` (``"hidden1"``, ``"conv2"``,
  ``"logits"``) name its blocks;
- ``"auto"``, the default, defined below.

Prefix a name with ``"module:"`` or ``"node:"`` to say which kind it is when a module and a
graph node share a name (``"node:relu"`` is the first call of a shared ``self.relu``, whose
module name ``"relu"`` stands for all its calls and is refused).

``"auto"``
    - a :class:`topokit.models.LayeredNet`: its blocks, named by ``layer_names`` (as
      :func:`topokit.topology.layer_outputs` always did);
    - an ``nn.Sequential``: its children, named ``"0"``, ``"1"``, ...;
    - any other model that :mod:`torch.fx` can trace: the output of every activation in
      execution order, then the model's output. An activation is a call of a module of one of the
      types in :data:`ACTIVATION_MODULES` (topokit's registered activations included), or a call
      of one of :data:`ACTIVATION_FUNCTIONS` (``torch.relu``, ``F.relu``, ``F.gelu``, ...) or of
      the tensor methods :data:`ACTIVATION_METHODS` (``x.relu()``). An activation module called
      once is named by its module name (``"layer1.0.relu"``), one called several times and
      functional calls by their graph node names (``"relu_1"``); the output is named by the
      module that produces it (``"fc"``), else ``"output"``;
    - a model :mod:`torch.fx` cannot trace (data-dependent control flow): its direct children,
      in definition order.

Capturing
---------
:func:`capture` runs the model once over the inputs, in batches, in eval mode and without
gradients (its training mode is restored after), on the device of its parameters. Module outputs
are read with forward hooks on the model itself. Graph nodes are read from a
``torch.fx.GraphModule`` traced from the model whose output is rewritten to also return (a copy
of) every chosen node; it runs the very same operations on the same parameters, so the values
are those of the original forward. Every value is copied when it is produced, so a later in-place
operation (``out += identity``, ``nn.ReLU(inplace=True)``) cannot change what was recorded.

A name that matches nothing is refused with the closest names; a model that cannot be traced
still works with module names and types, and a graph node name then gets an error that says why
tracing failed. :func:`available` lists the names a model offers.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from . import _checks
from ._checks import InvalidParameterError

__all__ = [
    "ACTIVATION_MODULES",
    "ACTIVATION_FUNCTIONS",
    "ACTIVATION_METHODS",
    "LayerRef",
    "resolve",
    "capture",
    "available",
    "check_input",
]

#: Module types whose outputs ``"auto"`` takes (topokit's registered activation classes are
#: added when a model is resolved).
ACTIVATION_MODULES: tuple = (
    nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.ELU, nn.ReLU6, nn.SELU, nn.CELU,
    nn.Mish, nn.Hardswish, nn.Softplus, nn.PReLU,
)

#: Functions whose calls in ``forward`` ``"auto"`` takes as activations.
ACTIVATION_FUNCTIONS: frozenset = frozenset({
    torch.relu, torch.relu_, F.relu, F.relu_, F.leaky_relu, F.leaky_relu_, torch.tanh, torch.sigmoid,
    F.tanh, F.sigmoid, F.gelu, F.silu, F.elu, F.elu_, F.relu6, F.selu, F.celu, F.mish, F.hardswish,
    F.softplus, F.prelu,
})

#: Tensor methods whose calls (``x.relu()``) ``"auto"`` takes as activations.
ACTIVATION_METHODS: frozenset = frozenset({"relu", "relu_", "tanh", "tanh_", "sigmoid", "sigmoid_"})

_KINDS = ("module", "node", "output")


@dataclass(frozen=True)
class LayerRef:
    """One chosen layer.

    Attributes
    ----------
    name : str
        The layer's label: the key of :func:`capture`'s result and the ``layer_name`` column of
        :func:`topokit.topology.layer_betti`.
    kind : {"module", "node", "output"}
        A module's output (forward hook), a :mod:`torch.fx` graph node, or the model's output.
    target : str
        The module's qualified name (``kind="module"``), the graph node's name (``"node"``) or
        ``""`` (``"output"``).
    """

    name: str
    kind: str
    target: str

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise InvalidParameterError(f"LayerRef kind must be one of {_KINDS}, got {self.kind!r}")


# ----------------------------------------------------------------------------- tracing


class _RecordingTracer(fx.Tracer):
    """``torch.fx.Tracer`` (the one ``symbolic_trace`` uses, so node names are the same) that also
    records, for every module call, the graph node holding the module's output."""

    def __init__(self):
        super().__init__()
        self.module_outputs: dict[str, list] = {}

    def call_module(self, m, forward, args, kwargs):  # noqa: D102
        out = super().call_module(m, forward, args, kwargs)
        try:
            path = self.path_of_module(m)
        except NameError:  # pragma: no cover - a module outside the hierarchy
            return out
        node = out.node if isinstance(out, fx.Proxy) else None
        self.module_outputs.setdefault(path, []).append(node)
        return out


class _Trace:
    """The model's fx graph (or why there is none) and what the tracer learnt about modules."""

    def __init__(self, model: nn.Module):
        self.gm: Optional[fx.GraphModule] = None
        self.error: Optional[str] = None
        self.module_outputs: dict[str, list] = {}
        was_training = model.training
        model.eval()  # ``self.training`` read in forward is frozen into the graph: trace as we run
        try:
            tracer = _RecordingTracer()
            graph = tracer.trace(model)
            self.gm = fx.GraphModule(tracer.root, graph, type(model).__name__)
            self.module_outputs = tracer.module_outputs
        except Exception as exc:  # noqa: BLE001 - any tracing failure means "use hooks"
            lines = str(exc).strip().splitlines()
            self.error = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
        finally:
            model.train(was_training)
        self.nodes = {} if self.gm is None else {n.name: n for n in self.gm.graph.nodes}
        self.node_modules: dict = {}  # node -> names of the modules whose output it is, innermost first
        for name, outs in self.module_outputs.items():
            for node in outs:
                if node is not None:
                    self.node_modules.setdefault(node, []).append(name)
        self.order = {name: i for i, name in enumerate(self.nodes)}
        # modules run inside a leaf module (e.g. a TransformerEncoderLayer's linear1) have no
        # node of their own, but forward hooks on them fire
        leaf_calls = [] if self.gm is None else [n.target for n in self.gm.graph.nodes if n.op == "call_module"]
        self.inside_leaf = {t: i for i, t in enumerate(leaf_calls)}

    @property
    def ok(self) -> bool:
        return self.gm is not None

    def calls(self, module_name: str) -> list:
        return [n for n in self.module_outputs.get(module_name, []) if n is not None]

    def runs(self, module_name: str) -> bool:
        """Whether forward calls the module (directly, or inside a leaf module it calls)."""
        if self.module_outputs.get(module_name):
            return True
        return any(module_name.startswith(t + ".") for t in self.inside_leaf)

    def position(self, module_name: str) -> float:
        calls = self.calls(module_name)
        if calls:
            return self.order[calls[0].name]
        for target in self.inside_leaf:
            if module_name.startswith(target + "."):
                return self.order[next(n.name for n in self.gm.graph.nodes
                                       if n.op == "call_module" and n.target == target)]
        return float("inf")

    def output_value(self):
        out = next(n for n in self.gm.graph.nodes if n.op == "output")
        return out.args[0]

    def module_of(self, node) -> Optional[str]:
        """The innermost module called exactly once whose output is ``node``."""
        for name in self.node_modules.get(node, []):  # inner calls finish (and are recorded) first
            if len(self.module_outputs[name]) == 1:
                return name
        return None


def _activation_types() -> tuple:
    from . import activations

    extra = [f for f in activations.ACTIVATIONS.values() if isinstance(f, type) and issubclass(f, nn.Module)]
    return tuple(ACTIVATION_MODULES) + (activations.Collapse, activations.ClippedReLU) + tuple(extra)


def _is_activation_node(node, trace: _Trace, act_types: tuple, modules: dict) -> Optional[str]:
    """The module name (called once) or "" if ``node`` is an activation's output; None if not."""
    for name in trace.node_modules.get(node, []):
        if isinstance(modules.get(name), act_types):
            return name if len(trace.module_outputs[name]) == 1 else ""
    if node.op == "call_function" and node.target in ACTIVATION_FUNCTIONS:
        return ""
    if node.op == "call_method" and node.target in ACTIVATION_METHODS:
        return ""
    return None


# ----------------------------------------------------------------------------- resolving


def _check_model(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise InvalidParameterError(
            f"model must be a torch.nn.Module, got {type(model).__name__}; pass the network itself")
    return model


def available(model) -> dict:
    """The names ``layers=`` accepts for ``model``.

    Parameters
    ----------
    model : nn.Module

    Returns
    -------
    dict
        ``"modules"``: the module names (``named_modules()``, the root left out); ``"nodes"``: the
        :mod:`torch.fx` graph node names (empty when the model cannot be traced); ``"trace_error"``:
        why tracing failed (None when it worked); ``"auto"``: the names ``"auto"`` chooses.
    """
    model = _check_model(model)
    trace = _Trace(model)
    return {"modules": [n for n, _ in model.named_modules() if n],
            "nodes": [n for n in trace.nodes if n != "output"],
            "trace_error": trace.error,
            "auto": [r.name for r in _auto(model, trace)]}


def resolve(model, layers="auto", example_input=None) -> list:
    """The layers ``layers`` chooses in ``model``, as an ordered list of :class:`LayerRef`.

    Parameters
    ----------
    model : nn.Module
        Any PyTorch model.
    layers : "auto", str, nn.Module subclass, or a list of str / nn.Module subclasses
        Module names, graph node names, module types, ``"output"``, ``LayeredNet`` layer names or
        ``"auto"`` (see the module docstring). A list keeps its order (a type expands to its
        modules in execution order); repeats are dropped.
    example_input : array-like or torch.Tensor, optional
        A few inputs; when given, one sample is run through the model to check that it accepts
        inputs of that shape (:func:`check_input`).

    Returns
    -------
    list of LayerRef

    Raises
    ------
    InvalidParameterError
        An empty list, an entry that is neither a string nor an ``nn.Module`` subclass, a name
        that matches no module or graph node (the error lists the closest names), a type that
        matches no module, a graph node name for a model :mod:`torch.fx` cannot trace (the error
        says why), a module that ``forward`` never calls or calls several times.
    ValueError
        ``example_input`` that the model rejects.
    """
    model = _check_model(model)
    if isinstance(layers, str) and layers == "auto":
        legacy = _legacy(model)
        refs = legacy if legacy is not None else _auto(model, _Trace(model))
    else:
        entries = _entries(layers)
        trace = _Trace(model)
        refs = []
        for entry in entries:
            refs.extend(_one(model, entry, trace))
        refs = _unique(refs)
    if example_input is not None:
        check_input(model, example_input)
    return refs


def _entries(layers) -> list:
    if isinstance(layers, (str, type)):
        return [layers]
    if isinstance(layers, (list, tuple)):
        if not layers:
            raise InvalidParameterError(
                "layers is empty; pass at least one module name, graph node name or module type, or 'auto'")
        return list(layers)
    raise InvalidParameterError(
        f"layers must be 'auto', a name, an nn.Module type or a list of them, got {type(layers).__name__} "
        f"{layers!r:.60}; e.g. layers=['layer1', 'layer2'] or layers=nn.ReLU")


def _unique(refs: list) -> list:
    seen, out = set(), []
    for r in refs:
        if r.name not in seen:
            seen.add(r.name)
            out.append(r)
    return out


def _legacy(model) -> Optional[list]:
    """A LayeredNet's blocks by their layer names; an nn.Sequential's children; else None."""
    from .models import LayeredNet

    if isinstance(model, LayeredNet):
        return [LayerRef(name, "module", f"blocks.{i}") for i, name in enumerate(model.layer_names)]
    if isinstance(model, nn.Sequential):
        return [LayerRef(name, "module", name) for name, _ in model.named_children()]
    return None


def _auto(model, trace: _Trace) -> list:
    legacy = _legacy(model)
    if legacy is not None:
        return legacy
    if not trace.ok:
        children = [LayerRef(name, "module", name) for name, _ in model.named_children()]
        return children or [LayerRef("output", "output", "")]
    act_types = _activation_types()
    modules = dict(model.named_modules())
    refs, taken = [], set()
    for node in trace.gm.graph.nodes:
        if node.op in ("placeholder", "output", "get_attr"):
            continue
        module = _is_activation_node(node, trace, act_types, modules)
        if module is None:
            continue
        refs.append(LayerRef(module, "module", module) if module else LayerRef(node.name, "node", node.name))
        taken.add(node)
    out = trace.output_value()
    if isinstance(out, fx.Node) and out not in taken and out.op != "placeholder":
        module = trace.module_of(out)
        refs.append(LayerRef(module, "module", module) if module and module != "output"
                    else LayerRef("output", "output", ""))
    return _unique(refs) or [LayerRef("output", "output", "")]


def _close(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=5, cutoff=0.5)
    return f"did you mean {', '.join(map(repr, close))}? " if close else ""


def _one(model, entry, trace: _Trace) -> list:
    """The LayerRefs of one ``layers=`` entry."""
    if isinstance(entry, type):
        if not issubclass(entry, nn.Module):
            raise InvalidParameterError(
                f"layers entries that are types must be nn.Module subclasses, got {entry.__name__}; "
                "e.g. nn.ReLU or nn.Conv2d")
        return _by_type(model, entry, trace)
    if not isinstance(entry, str):
        raise InvalidParameterError(
            f"layers entries must be names (str) or nn.Module types, got {type(entry).__name__} {entry!r:.60}")
    text = entry.strip()
    want = None
    for prefix in ("module:", "node:"):
        if text.startswith(prefix):
            want, text = prefix[:-1], text[len(prefix):].strip()
    modules = dict(model.named_modules())
    modules.pop("", None)
    if not text:
        raise InvalidParameterError(f"layers entry {entry!r} is empty; name a module or graph node")
    if want != "node":
        aliases = _aliases(model)
        if text in modules:
            return [_module_ref(model, text, text, trace)]
        if text in aliases:
            return [LayerRef(text, "module", aliases[text])]
        if text == "output":
            return [LayerRef("output", "output", "")]
    if want != "module":
        if text in trace.nodes:
            if trace.nodes[text].op == "output":
                return [LayerRef("output", "output", "")]
            return [LayerRef(text, "node", text)]
        if not trace.ok and text not in modules:
            hint = _close(text, modules)
            raise InvalidParameterError(
                f"layers entry {entry!r} is not a module name of {type(model).__name__}, and graph node names "
                f"are unavailable because torch.fx could not trace it ({trace.error}); {hint}use module names "
                "from model.named_modules() or module types, which are read with forward hooks")
    options = [] if want == "node" else list(modules) + list(_aliases(model))
    options += [] if want == "module" else [n for n in trace.nodes if n != "output"]
    what = {"module": "module", "node": "graph node"}.get(want, "module or graph node")
    raise InvalidParameterError(
        f"layers entry {entry!r} names no {what} of {type(model).__name__}; {_close(text, options)}"
        "module names come from model.named_modules(), node names from torch.fx.symbolic_trace(model).graph "
        "(topokit.layers.available(model) lists both)")


def _aliases(model) -> dict:
    from .models import LayeredNet

    if isinstance(model, LayeredNet):
        return {name: f"blocks.{i}" for i, name in enumerate(model.layer_names)}
    return {}


def _module_ref(model, name: str, target: str, trace: _Trace) -> LayerRef:
    if trace.ok:
        calls = trace.calls(target)
        if len(calls) > 1:
            modules = {name for name, _ in model.named_modules()}
            nodes = ", ".join(repr(n.name if n.name not in modules else "node:" + n.name) for n in calls)
            raise InvalidParameterError(
                f"module {target!r} runs {len(calls)} times in forward, so its output is not one layer; "
                f"choose its calls one by one by their graph nodes: {nodes}")
        if not trace.runs(target):
            raise InvalidParameterError(
                f"module {target!r} is never called by forward (torch.fx's trace has no call of it); "
                "choose a module that forward runs (topokit.layers.available(model))")
    return LayerRef(name, "module", target)


def _by_type(model, kind: type, trace: _Trace) -> list:
    matches = [name for name, m in model.named_modules() if name and isinstance(m, kind)]
    if not matches:
        present = sorted({type(m).__name__ for name, m in model.named_modules() if name})
        raise InvalidParameterError(
            f"layers: no module of {type(model).__name__} is a {kind.__name__}; its module types are "
            f"{', '.join(present) or 'none'}")
    if not trace.ok:
        return [LayerRef(name, "module", name) for name in matches]
    matches = [name for name in matches if trace.runs(name)]
    if not matches:
        raise InvalidParameterError(
            f"layers: forward never calls a {kind.__name__} of {type(model).__name__}; choose another type")
    refs = []
    for name in sorted(matches, key=trace.position):
        calls = trace.calls(name)
        if len(calls) > 1:
            refs.extend(LayerRef(n.name, "node", n.name) for n in calls)
        else:
            refs.append(LayerRef(name, "module", name))
    return refs


# ----------------------------------------------------------------------------- input check


def check_input(model, X, name: str = "X") -> None:
    """Run one sample of ``X`` through ``model``; a shape it rejects gets a clear ``ValueError``.

    The error gives the input shape the model expects (read from its first ``Linear`` or
    ``Conv`` layer) and the shape of ``X``. Eval mode, no gradient; the training mode is restored.
    """
    from .training import _expected_input

    model = _check_model(model)
    if not isinstance(X, (torch.Tensor, np.ndarray)):
        X = np.asarray(X)
    shape = tuple(X.shape)
    if not shape or shape[0] == 0:
        raise InvalidParameterError(f"{name} must hold at least one sample, got shape {shape}")
    sample = _as_batch(X[:1]).to(_device(model))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(sample)
    except (RuntimeError, ValueError, IndexError) as exc:
        lines = str(exc).strip().splitlines()
        said = lines[0] if lines else type(exc).__name__
        raise ValueError(
            f"the model rejects inputs of shape {shape} ({name}): it expects "
            f"{_expected_input(model)}; pass {name} with that shape. torch said: {said}"
        ) from None
    finally:
        model.train(was_training)


def _as_batch(X) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        return X.detach().float()
    return torch.as_tensor(np.asarray(X)).float()


def _device(model) -> torch.device:
    param = next(iter(model.parameters()), None)
    if param is None:
        param = next(iter(model.buffers()), None)
    return param.device if param is not None else torch.device("cpu")


# ----------------------------------------------------------------------------- capturing


def _copy(value, name: str, copy: bool = True) -> np.ndarray:
    if not isinstance(value, torch.Tensor):
        raise ValueError(
            f"layer {name!r} gives a {type(value).__name__}, not a tensor; choose a layer whose output is one tensor")
    return value.detach().to(device="cpu", dtype=torch.float32, copy=copy).numpy()


def _snapshot(value):
    """A copy of a tensor taken when it is produced (later in-place operations cannot reach it)."""
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


def _graph_runner(trace: _Trace, node_names: list) -> fx.GraphModule:
    """The traced GraphModule, rewritten to return ``(model output, (copy of each chosen node, ...))``."""
    gm, graph = trace.gm, trace.gm.graph
    copies = []
    for node_name in node_names:
        node = trace.nodes[node_name]
        with graph.inserting_after(node):
            copies.append(graph.call_function(_snapshot, (node,)))
    out = trace.nodes["output"]
    out.args = ((out.args[0], tuple(copies)),)
    graph.lint()
    gm.recompile()
    return gm


def capture(model, X, refs, batch_size: int = 4096, *, max_memory_bytes: Optional[int] = None) -> dict:
    """Outputs of the chosen layers of ``model`` on ``X``, from one pass in batches.

    Parameters
    ----------
    model : nn.Module
        Any PyTorch model.
    X : array-like or torch.Tensor, shape (n, ...)
        Inputs, converted to float32.
    refs : list of LayerRef, or anything :func:`resolve` accepts
        The layers (``"auto"``, names, types, ...).
    batch_size : int, default 4096
        Inputs per forward pass.
    max_memory_bytes : int, optional
        Budget for the recorded outputs; default half the free memory.

    Returns
    -------
    dict
        ``name -> np.ndarray`` of float32, shape ``(n, ...)``, in the order of ``refs``.

    Raises
    ------
    ValueError
        Inputs the model rejects (said after one sample, with the expected shape), a layer that is
        not one tensor, a module that runs other than once per forward, outputs beyond the memory
        budget.
    """
    model = _check_model(model)
    if not (isinstance(refs, (list, tuple)) and refs and all(isinstance(r, LayerRef) for r in refs)):
        refs = resolve(model, refs)
    refs = list(refs)
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1, fix="e.g. batch_size=4096")
    X = _as_batch(X)
    if len(X) == 0:
        raise InvalidParameterError("X is empty; pass at least one sample")
    check_input(model, X)
    device = _device(model)

    needs_graph = any(r.kind == "node" for r in refs)
    trace = _Trace(model) if needs_graph else None
    if trace is not None and not trace.ok:
        raise InvalidParameterError(
            f"graph node layers need torch.fx, which could not trace {type(model).__name__} ({trace.error}); "
            "use module names or types, which are read with forward hooks")
    # what each layer is read from: a graph node (traced) or a forward hook
    from_node: dict[str, str] = {}
    hooked: dict[str, list] = {}  # module target -> names
    for r in refs:
        if r.kind == "node":
            if r.target not in trace.nodes:
                raise InvalidParameterError(f"{r.target!r} is no graph node of {type(model).__name__}")
            from_node[r.name] = r.target
        elif r.kind == "module" and trace is not None and len(trace.calls(r.target)) == 1:
            from_node[r.name] = trace.calls(r.target)[0].name
        else:
            hooked.setdefault(r.target, []).append(r.name)
    modules = dict(model.named_modules())
    for target in hooked:
        if target not in modules:
            raise InvalidParameterError(f"{target!r} is no module of {type(model).__name__}")
    node_names = list(dict.fromkeys(from_node.values()))
    runner = _graph_runner(trace, node_names) if node_names else model
    # the model's output: a hook on the model itself, or the graph's own output when the graph runs
    output_names = hooked.pop("", []) if node_names else []

    parts: dict[str, list] = {r.name: [] for r in refs}
    calls: dict[str, int] = {}

    def recorder(target):
        def hook(_module, _inputs, output):
            calls[target] = calls.get(target, 0) + 1
            if calls[target] == 1:
                value = _copy(output, hooked[target][0])
                for name in hooked[target]:
                    parts[name].append(value)

        return hook

    def run(batch):
        calls.clear()
        out = runner(batch.to(device))
        for target, names in hooked.items():
            if calls.get(target, 0) != 1:
                raise ValueError(
                    f"module {target!r} ran {calls.get(target, 0)} times in one forward pass, so its output is "
                    "not one layer; choose a module that runs once, or its calls' graph nodes "
                    "(topokit.layers.available(model) lists them)")
        if node_names:
            out, extra = out
            for node_name, value in zip(node_names, extra):
                for name, source in from_node.items():
                    if source == node_name:
                        parts[name].append(_copy(value, name, copy=False))
            for name in output_names:
                parts[name].append(_copy(out, name))

    handles = [modules[t].register_forward_hook(recorder(t)) for t in hooked if t]
    handles += [model.register_forward_hook(recorder(""))] if "" in hooked else []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            run(X[:1])
            per_sample = sum(p[0].nbytes for p in parts.values())
            _checks.memory(per_sample * len(X), f"the outputs of {len(refs)} layers for {len(X)} inputs",
                           fix="choose fewer layers or pass fewer inputs", max_memory_bytes=max_memory_bytes)
            for p in parts.values():
                p.clear()
            for start in range(0, len(X), batch_size):
                run(X[start:start + batch_size])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {r.name: np.concatenate(parts[r.name], axis=0) for r in refs}
