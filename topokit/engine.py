"""The fast ensemble engine: many MLP runs trained as one stacked network.

:func:`topokit.training.fit_ensemble` with ``engine="fast"`` lands here (a sweep opts in with
``sweeps.sweep(..., engine="fast")``; not yet the default). Every member of the ensemble (a seed, and where the
layer shapes agree, an activation) is one slice of a stack: the weights of layer ``l`` of all
``S`` members form one tensor ``[S, out, in]``, the activations one buffer ``[S, width, batch]``
(samples along the last, contiguous dimension), and each layer is one batched matrix product
(``torch.baddbmm``) forward and two backward, whatever ``S``; a layer whose input width plus one
is a multiple of 16 (D-I's 15-wide layers) carries its bias as one more column of its weights and
its input a row of ones, so that the bias and its gradient come out of the same products
(:func:`_augmented`). The backward pass is written out
(no autograd graph, no allocation per step: every intermediate lives in a preallocated buffer),
with torch's own derivative kernels for the activations of :mod:`topokit.activations` and
autograd on its slice for any other parameter-free activation; one fused Adam kernel
(``torch._fused_adam_``) updates every parameter of every member, all in one flat buffer.

What each member keeps of :func:`topokit.training.fit` (read from ``training._fit``):

- its initial weights (copied from its module) and its own mini-batch order:
  ``torch.randperm(n, generator=g)`` once per epoch from ``g = torch.Generator().manual_seed(seed)``,
  batch ``i`` being ``order[i*bs:(i+1)*bs]`` (the last one shorter), full batch without any draw
  (the epoch's batches of all members are gathered at its start in one copy, laid out as the
  training buffers read them);
- the loss: the mean cross-entropy over its batch; the ensemble follows the gradient of the
  *sum* of the members' mean losses, which for each member's weights is that member's own
  gradient (members share no weight), and Adam being element-wise, one Adam over the stacked
  tensors is each member's own Adam (same step counts: members that stop leave the stack);
- the learning rate ``lr * lr_decay ** (step / decay_steps)`` at optimiser step ``step``, as
  fit's ``LambdaLR``, times ``min(1, (e + 1) / (warmup_epochs + 1))`` in epoch ``e`` (0-based)
  with fit's ``warmup_epochs``; weight decay as Adam's L2 term; Adam's betas and eps;
- the history: one row per epoch (mean training loss over the epoch, the rate after it, the
  training accuracy of the weights after it on the whole split, wall seconds attributed as the
  other engines do); convergence at the first epoch whose accuracy reaches the target, then the
  member stops (``stop_at_target``) and its weights go back into its own module.

What differs: the floating-point order. Batched products and the fused Adam round differently
from fit's one-model kernels (after a few epochs the weights agree with fit's to about 1e-7),
and training to 100% amplifies last bits into different epochs, so a member does not replay
fit's run for its seed: it is another draw from the same distribution (``tests/test_engine.py``
checks the distribution over 20 seeds; for runs that must equal fit's bit for bit, use
``engine="exact"``). The engine is itself deterministic: same members, same numbers; and a
member's run does not depend on which other members share the stack, nor on when they leave it:
products and reductions compute each member's slice on its own, and each member's block of an
element-wise kernel is padded to whole iterations of the kernel's vector loop (:func:`_unit`), so
none of its values goes through the scalar remainder loop, which can round differently. A cached
run therefore stays the run of its seed whatever sweep it was trained in. Across x86 machines it
is as reproducible as :mod:`topokit.reproducibility` makes torch's kernels (MKL's products under
``MKL_CBWR``, ATen's AVX2 kernels); use one thread (the default), since element-wise kernels
split their work over threads at points that depend on the thread count.

Full-batch training needs no separate evaluation pass: the forward pass of epoch ``e + 1`` sees
exactly the weights after epoch ``e``, so its logits give epoch ``e``'s accuracy.

Speed (``benchmarks/bench_training.py``, ``make bench``: a sweep of seeds 0-9 on this engine against
the same ten runs as plain ``fit`` calls, one thread, on each MLP recipe of notebook 03 at its own
batch size and epoch cap). With ten members the engine spends most of its time in MKL's batched
products (a few per cent in Adam, the rest in element-wise kernels and the loss), so its gain over
one-by-one ``fit`` is what fit loses to per-step overhead (autograd, an Adam loop over tensors,
small products); the gain per member shrinks as members converge and leave the stack (a last
straggler trains alone at 3-5x fit's speed), so a sweep's ratio depends on how its epochs spread.
Measured 2026-11-30 on the project's 2-core AMD EPYC under a load average of 6-12 from other jobs
(one run each, wall-time and CPU-time ratios): D-I-grid 5.9x (CPU 6.1x), checkerboard 8.0x (9.1x),
D-II 9.8x (8.6x), D-III 11.3x (6.5x), D-I 3.4x (3.5x) and, best of two more runs, 4.8x (4.3x). D-I
is full batch on 2,000 points, where fit is itself mostly products, and its epochs spread widely:
the engine's seed 5 trained alone to the cap of 2,500 while fit's slowest seed stopped at 1,417,
so the engine did 7,120 member-epochs against fit's 5,164 (per member-epoch it was 4.7-6.6x
faster); after ReLU, tanh and sigmoid layers began running in place (12% less CPU on D-I), best of
two runs under a load of 7-9 gave 4.1x (CPU 4.0x). What was tried: the
weight-gradient product of a 15-wide layer over 2,000 samples took 2.7x longer with 15 columns
than with 16, hence the augmented layers; ``baddbmm`` and ``bmm`` plus a separate bias cost the
same elsewhere; a samples-first layout (``[S, B, features]``) made D-I's products 3-4x slower;
autograd on the stacked tensors 6.0 ms per checkerboard step (10 members, batches of 256), the
same under ``torch.compile`` 4.6 ms (after a 39 s compilation per shape, and inductor's generated
code depends on the machine's vector width, so not reproducible across CPUs), this hand-written
pass 3.1 ms; the ``torch.func.vmap`` engine (``engine="vmap"``) was slower than one-by-one fit.

Supported models: :func:`topokit.models.mlp` nets, or any :class:`~topokit.models.LayeredNet` or
``nn.Sequential`` of ``nn.Linear`` layers (with bias) alternating with parameter-free element-wise
activations; the stacked forward pass is checked against every member's own forward pass before
training. Anything else is refused with the reason: train it with ``engine="exact"``.
"""
from __future__ import annotations

import math
import time
from types import SimpleNamespace
from typing import Callable, Optional

import pandas as pd
import torch
from torch import nn

__all__ = ["ENGINES", "check_engine", "fast_supported", "train_fast"]

#: The engines of :func:`topokit.training.fit_ensemble`.
ENGINES = ("exact", "vmap", "fast")

#: The Adam defaults of :func:`topokit.training.fit` (``torch.optim.Adam``'s).
_BETAS, _EPS = (0.9, 0.999), 1e-8

#: Length the flat parameter buffer is padded to a multiple of (see :func:`_unit`).
_PAD = 64

#: Rows of the training set per evaluation chunk (as fit's ``_predict_tensor``).
_EVAL_CHUNK = 8192


def check_engine(engine, exact=None) -> str:
    """The engine name ``fit_ensemble`` runs: ``engine`` if given, else ``exact`` mapped to one.

    ``exact=True`` is ``"exact"``, ``exact=False`` is ``"vmap"`` (the keyword of earlier
    versions); neither given is ``"exact"``. Passing both is refused when they disagree.
    """
    from . import _checks

    if exact is not None:
        exact = _checks.boolean(exact, "exact")
    if engine is None:
        return "vmap" if exact is False else "exact"
    engine = _checks.choice(engine, "engine", ENGINES,
                            fix="'fast' stacks the members into batched products (sweeps' default), "
                                "'exact' replays fit bitwise, 'vmap' uses torch.func")
    if exact is not None and (engine == "exact") != exact:
        raise _checks.InvalidParameterError(
            f"exact={exact} contradicts engine={engine!r}; pass only engine=... (exact=True is engine='exact', "
            "exact=False is engine='vmap')")
    return engine


# ----------------------------------------------------------------------------- the stacked network


def _leaves(module: nn.Module) -> list:
    """The layers of an MLP in the order they run, or raise ``ValueError`` saying why not."""
    from .models import LayeredNet

    if type(module).forward not in (LayeredNet.forward, nn.Sequential.forward):
        raise ValueError(f"a {type(module).__name__} with its own forward()")
    children = module.blocks if isinstance(module, LayeredNet) else list(module)
    out = []
    for child in children:
        if isinstance(child, (nn.Sequential, LayeredNet)):
            out.extend(_leaves(child))
        else:
            out.append(child)
    return out


def _plan(model: nn.Module) -> list:
    """``[Linear, activation, Linear, ..., Linear]`` in forward order; ``ValueError`` saying why not."""
    steps = _leaves(model)
    for pos, leaf in enumerate(steps):
        if pos % 2 == 0:
            if not isinstance(leaf, nn.Linear) or type(leaf).forward is not nn.Linear.forward:
                raise ValueError(f"a {type(leaf).__name__} layer where a Linear layer was expected (Linear layers "
                                 "and activations must alternate, starting and ending with Linear)")
            if leaf.bias is None:
                raise ValueError("a Linear layer without bias")
        elif isinstance(leaf, nn.Linear):
            raise ValueError("two Linear layers in a row (Linear layers and activations must alternate)")
        elif any(True for _ in leaf.parameters()) or any(True for _ in leaf.buffers()):
            raise ValueError(f"a {type(leaf).__name__} layer with parameters or buffers (only Linear layers "
                             "and parameter-free activations can be stacked)")
    if len(steps) % 2 == 0:
        raise ValueError("no Linear layer at the end (the logits)" if steps else "no layers")
    return steps


def _act_key(module: nn.Module) -> tuple:
    """Members whose activations have equal keys are applied in one call.

    The key is the class and the plain settings (``Collapse``'s ``w`` and ``s``); a module with
    any other attribute (a tensor, a function) is keyed by its identity, so never merged.
    """
    from .models import _activation_parameters

    settings = _activation_parameters(module)
    other = [k for k in vars(module)
             if not k.startswith("_") and k not in settings and k not in ("training", "inplace")]
    return (type(module).__module__, type(module).__qualname__, tuple(sorted(settings.items())),
            id(module) if other else None)


def fast_supported(model: nn.Module) -> Optional[str]:
    """None if ``model`` can train on the fast engine, else the reason it cannot (a sentence)."""
    try:
        _plan(model)
    except ValueError as exc:
        return (f"the fast engine stacks MLPs made of Linear layers and parameter-free activations "
                f"(topokit.models.mlp), and this model has {exc}; train it with engine='exact'")
    return None


# ----------------------------------------------------------------------------- activations


_A = torch.ops.aten


class _Activation:
    """An activation's forward and backward into preallocated buffers (no autograd).

    The activations of :mod:`topokit.activations` (and torch's ReLU, LeakyReLU, Tanh, Sigmoid,
    GELU, SiLU, Identity) use torch's own kernels and their own derivative kernels, the ones
    autograd would call; any other parameter-free module goes through autograd on its slice.
    ``needs_tmp``: the forward keeps an intermediate (``Collapse``: the soft-shrunk input).
    """

    def __init__(self, module: nn.Module):
        from .activations import ClippedReLU, Collapse

        self.module = module
        kind = type(module)
        self.needs_tmp = False
        if isinstance(module, Collapse) and kind.forward is Collapse.forward:
            self.kind, self.w, self.s = "collapse", float(module.w), float(module.s)
            self.needs_tmp = True
        elif isinstance(module, nn.ReLU) and kind.forward is nn.ReLU.forward:
            self.kind = "relu"
        elif isinstance(module, nn.LeakyReLU) and kind.forward is nn.LeakyReLU.forward:
            self.kind, self.s = "leaky", float(module.negative_slope)
        elif isinstance(module, nn.Tanh) and kind.forward is nn.Tanh.forward:
            self.kind = "tanh"
        elif isinstance(module, nn.Sigmoid) and kind.forward is nn.Sigmoid.forward:
            self.kind = "sigmoid"
        elif isinstance(module, nn.GELU) and kind.forward is nn.GELU.forward:
            self.kind, self.approximate = "gelu", module.approximate
        elif isinstance(module, nn.SiLU) and kind.forward is nn.SiLU.forward:
            self.kind = "silu"
        elif isinstance(module, ClippedReLU) and kind.forward is ClippedReLU.forward:
            self.kind = "clip"
        elif isinstance(module, nn.Identity) and kind.forward is nn.Identity.forward:
            self.kind = "identity"
        else:
            self.kind = "module"
        self.saved = None

    def forward(self, z: torch.Tensor, out: torch.Tensor, tmp: Optional[torch.Tensor], train: bool) -> None:
        """``out = f(z)`` (``tmp`` receives the intermediate of a two-kernel activation)."""
        k = self.kind
        if k == "relu":
            torch.clamp_min(z, 0.0, out=out)
        elif k == "collapse":
            _A.softshrink.out(z, self.w, out=tmp)
            _A.leaky_relu.out(tmp, self.s, out=out)
        elif k == "leaky":
            _A.leaky_relu.out(z, self.s, out=out)
        elif k == "tanh":
            torch.tanh(z, out=out)
        elif k == "sigmoid":
            torch.sigmoid(z, out=out)
        elif k == "gelu":
            _A.gelu.out(z, approximate=self.approximate, out=out)
        elif k == "silu":
            _A.silu.out(z, out=out)
        elif k == "clip":
            torch.clamp(z, 0.0, 1.0, out=out)
        elif k == "identity":
            out.copy_(z)
        elif train:
            with torch.enable_grad():
                zr = z.detach().requires_grad_(True)
                a = self.module(zr * 1.0)  # a non-leaf copy, so that an in-place activation may run
            out.copy_(a.detach())
            self.saved = (zr, a)
        else:
            out.copy_(self.module(z))

    def backward(self, g: torch.Tensor, z: torch.Tensor, a: torch.Tensor, tmp: Optional[torch.Tensor],
                 out: torch.Tensor) -> None:
        """``out = g * f'(z)`` (``a = f(z)``; ``out`` may be ``g`` itself)."""
        k = self.kind
        if k == "relu":
            _A.threshold_backward.grad_input(g, a, 0.0, grad_input=out)
        elif k == "collapse":
            _A.leaky_relu_backward.grad_input(g, tmp, self.s, False, grad_input=out)
            _A.softshrink_backward.grad_input(out, z, self.w, grad_input=out)
        elif k == "leaky":
            _A.leaky_relu_backward.grad_input(g, z, self.s, False, grad_input=out)
        elif k == "tanh":
            _A.tanh_backward.grad_input(g, a, grad_input=out)
        elif k == "sigmoid":
            _A.sigmoid_backward.grad_input(g, a, grad_input=out)
        elif k == "gelu":
            _A.gelu_backward.grad_input(g, z, approximate=self.approximate, grad_input=out)
        elif k == "silu":
            _A.silu_backward.grad_input(g, z, grad_input=out)
        elif k == "clip":
            _A.hardtanh_backward.grad_input(g, z, 0.0, 1.0, grad_input=out)
        elif k == "identity":
            if out.data_ptr() != g.data_ptr():
                out.copy_(g)
        else:
            zr, a_t = self.saved
            (grad,) = torch.autograd.grad(a_t, zr, g)
            out.copy_(grad)
            self.saved = None


# ----------------------------------------------------------------------------- the stacked network


class _Buffers:
    """Preallocated activations of one batch width ``B`` (padded to ``Bp``) for up to ``S`` members.

    Layout ``[S, rows, Bp]``: the samples run along the last, contiguous dimension, where the
    products vectorise best for these narrow nets. The input of a layer that carries its bias as
    an extra column (:func:`_augmented`) has one more row, of ones. The ``Bp - B`` padding
    columns get zero gradient, so they change nothing in any member's sums; they make each
    member's block a whole number of iterations of the element-wise kernels' vector loop
    (:func:`_unit`), so that none of a member's values is ever computed by their scalar remainder
    loop (which can round differently): a member's numbers are then the same whatever its
    position in the stack and the stack's size.

    Training buffers keep every layer's pre-activation and activation (the backward pass reads
    them) and two flat scratch buffers for the gradients; evaluation buffers reuse one
    pre-activation buffer and two activation buffers in turn (their rows of ones are refilled).
    :meth:`views` gives the tensors for the first ``s <= S`` members (cached).
    """

    def __init__(self, S: int, B: int, widths: list, aug: list, tmp: list, dev, train: bool, classes: int,
                 inplace: Optional[list] = None):
        self.B, self.Bp, self.widths, self.aug, self.tmp = B, _padded(B), widths, aug, tmp
        self.train, self.classes = train, classes
        Bp, layers = self.Bp, len(widths) - 1
        z = lambda *shape: torch.zeros(*shape, dtype=torch.float32, device=dev)  # noqa: E731
        rows = [w + a for w, a in zip(widths, aug)]  # input rows of layer li (its bias row included)
        self.rows = rows
        self.x = z(S, rows[0], Bp)  # the input, transposed; full batch and evaluation
        if aug[0]:
            self.x[:, widths[0]] = 1.0
        if train:
            self.A = [z(S, rows[li + 1], Bp) for li in range(layers - 1)]  # activations (+ a row of ones)
            for li, a in enumerate(self.A):
                if aug[li + 1]:
                    a[:, widths[li + 1]] = 1.0
            # pre-activations, logits last; an activation applied in place (see _Stack) has none of its own
            inplace = inplace or [False] * (layers - 1)
            self.Z = [self.A[li][:, :w] if inplace[li] else z(S, w, Bp) for li, w in enumerate(widths[1:-1])]
            self.Z.append(z(S, widths[-1], Bp))
            self.T = [z(S, w, Bp) if t else None for w, t in zip(widths[1:-1], tmp)]
            wmax = max(widths[1:])
            self.p1, self.p2 = z(S * wmax * Bp), z(S * wmax * Bp)  # flat scratch for the gradients
            self.ls, self.nll = z(S, classes, Bp), z(S, 1, Bp)
            self.y = torch.zeros(S, 1, Bp, dtype=torch.long, device=dev)
            self.minus = torch.full((S, 1, Bp), -1.0, device=dev)
        else:
            self.z1 = z(S * max(widths[1:]) * Bp)
            self.a2 = [z(S * max(rows[1:-1] or [1]) * Bp) for _ in range(2)]
            self.t1 = z(S * max(widths[1:]) * Bp) if any(tmp) else None
        self._views: dict = {}

    @staticmethod
    def nbytes(S: int, B: int, widths: list, train: bool) -> int:
        """Bytes of the buffers (an upper bound, for the memory check)."""
        w = widths[1:]
        per = widths[0] + 1 + (4 * sum(w) + len(w) + 2 * max(w) + 8 if train else 4 * (max(w) + 1))
        return 4 * S * _padded(B) * per

    def views(self, s: int) -> SimpleNamespace:
        """The tensors of the first ``s`` members, per layer, ready for :class:`_Stack`'s passes."""
        if s in self._views:
            return self._views[s]
        Bp, widths, layers = self.Bp, self.widths, len(self.widths) - 1

        def flat(buf, *shape):
            return None if buf is None else buf[:s * math.prod(shape) * Bp].view(s, *shape, Bp)

        v = SimpleNamespace(x=self.x[:s], Z=[], A=[], act=[], T=[], ones=[])
        for li in range(layers - 1):
            w, r = widths[li + 1], self.rows[li + 1]
            if self.train:
                z, a, t = self.Z[li][:s], self.A[li][:s], None if self.T[li] is None else self.T[li][:s]
            else:
                z, a, t = flat(self.z1, w), flat(self.a2[li % 2], r), flat(self.t1, w)
            v.Z.append(z)
            v.A.append(a)
            v.act.append(a[:, :w] if r > w else a)
            v.T.append(t)
            v.ones.append(a[:, w] if r > w and not self.train else None)  # refilled: the buffer is shared
        v.Z.append(self.Z[-1][:s] if self.train else flat(self.z1, widths[-1]))
        if self.train:
            v.hT = [None] + [h.transpose(1, 2) for h in v.A]  # for the weight gradients (the input: x's)
            v.ls, v.nll, v.minus = self.ls[:s], self.nll[:s], self.minus[:s]
            v.nll_real = self.nll[:s, 0, :self.B]
            # v.g[li]: the gradient at layer li's output, in the two scratch buffers in turn
            v.g = [flat(self.p1 if (layers - 1 - li) % 2 == 0 else self.p2, widths[li + 1]) for li in range(layers)]
            v.pad = v.g[-1][:, :, self.B:] if self.B < Bp else None
        self._views[s] = v
        return v


def _unit() -> int:
    """Floats that torch's element-wise CPU kernels process per iteration of their vector loop.

    Two vectors: 16 floats with AVX2 (the capability topokit pins), 32 with AVX-512; 64 when
    unknown. Whatever is left over at the end of a tensor goes through a scalar loop, which
    can round differently (tanh, GELU ...); blocks of whole units never reach it.
    """
    cap = str(torch.backends.cpu.get_cpu_capability()).upper()
    return {"AVX2": 16, "AVX512": 32}.get(cap, 64)


def _padded(B: int, unit: Optional[int] = None) -> int:
    unit = unit or _UNIT
    return -(-B // unit) * unit


_UNIT = _unit()


#: Activations whose backward reads only their output (``_Activation.backward``), so may run in place.
_OUTPUT_ONLY = ("relu", "tanh", "sigmoid")
_INPLACE = True  # (a switch for measuring the difference)


def _augmented(in_features: int) -> bool:
    """Whether a layer carries its bias as one more input column (and its input a row of ones).

    Then the bias is added, and its gradient summed, inside the layer's batched products
    instead of by a broadcast and a reduction of their own. Chosen by shape alone (so every
    member and every machine computes the same way): where ``in_features + 1`` is a multiple
    of 16, which makes the products' short dimension a whole number of MKL's AVX2 blocks
    (measured for 2-15x9-2, full batch of 2,000: the weight gradient's product 2.7x faster with
    16 columns than with 15); with 33 or 65 columns it was slower than a separate bias.
    """
    return (in_features + 1) % 16 == 0


class _Stack:
    """``S`` MLPs of one layer shape: stacked weights in one flat buffer, Adam's state, the steps.

    ``order[p]`` is the member (index into the caller's list) at stack position ``p``; members
    sharing an activation are contiguous (one kernel per group and layer). Layer ``l``'s weights
    of all members are one block ``[S, out, in]`` of the flat parameter buffer and its biases
    another ``[S, out, 1]``, or, for an augmented layer (:func:`_augmented`), one block
    ``[S, out, in + 1]`` whose last column is the bias.
    """

    def __init__(self, plans: list, order: list, dev: torch.device, weight_decay: float, classes: int):
        self.order = list(order)
        self.dev, self.weight_decay, self.classes = dev, weight_decay, classes
        first = plans[order[0]]
        self.widths = [first[0].in_features] + [lin.out_features for lin in first[0::2]]
        self.shapes = [(lin.out_features, lin.in_features) for lin in first[0::2]]
        self.aug = [_augmented(i) for _, i in self.shapes] + [False]  # per layer input (+ the logits)
        self.linears_of = {m: plans[m][0::2] for m in order}
        self.acts_of = {m: [_Activation(a) for a in plans[m][1::2]] for m in order}
        self.tmp = [any(self.acts_of[m][a].needs_tmp for m in order) for a in range(len(self.shapes) - 1)]
        # where every member's activation has a backward that reads only its output (ReLU, tanh,
        # sigmoid), the layer's product writes straight into the activation buffer and the
        # activation runs in place: the same numbers (same products, same kernels), a third less
        # memory traffic in the forward pass
        self.inplace = [_INPLACE and all(self.acts_of[m][a].kind in _OUTPUT_ONLY for m in order)
                        for a in range(len(self.shapes) - 1)]
        self._allocate(len(order))
        with torch.no_grad():
            for pos, member in enumerate(order):
                for li, lin in enumerate(self.linears_of[member]):
                    self.W[li][pos].copy_(lin.weight.detach())
                    self.b[li][pos, :, 0].copy_(lin.bias.detach())
        self.step_count = torch.zeros((), dtype=torch.float32, device=dev)
        self.buffers: dict = {}
        self._groups()

    # -- storage
    def _allocate(self, S: int) -> None:
        self.S = S
        size = sum(S * o * (i + 1) for o, i in self.shapes)
        self.P, self.G, self.M, self.V = (torch.zeros(_padded(size, _PAD), dtype=torch.float32, device=self.dev)
                                          for _ in range(4))
        # W, b: views for loading; WF, GWF: a layer's whole product operand and its gradient (with
        # the bias column where augmented); Gb: a separate bias gradient (None where augmented)
        self.W, self.b, self.Gb, self.WF, self.GWF, self._blocks = [], [], [], [], [], []
        offset = 0
        for li, (out_f, in_f) in enumerate(self.shapes):
            if self.aug[li]:
                n = S * out_f * (in_f + 1)
                self._blocks.append((offset, n))
                wf, gf = (t[offset:offset + n].view(S, out_f, in_f + 1) for t in (self.P, self.G))
                self.W.append(wf[:, :, :in_f])
                self.b.append(wf[:, :, in_f:])
                self.Gb.append(None)  # in the product's last column
                offset += n
            else:
                n_w, n_b = S * out_f * in_f, S * out_f
                self._blocks += [(offset, n_w), (offset + n_w, n_b)]
                wf, gf = (t[offset:offset + n_w].view(S, out_f, in_f) for t in (self.P, self.G))
                self.W.append(wf)
                self.b.append(self.P[offset + n_w:offset + n_w + n_b].view(S, out_f, 1))
                self.Gb.append(self.G[offset + n_w:offset + n_w + n_b].view(S, out_f, 1))
                offset += n_w + n_b
            self.WF.append(wf)
            self.GWF.append(gf)
        # W^T for the backward pass: for narrow layers a contiguous copy (made before each use)
        # makes the product W^T g 1.5x faster than on a transposed view; wider ones use the view
        self.copy_wt = [min(o, i) < 32 for o, i in self.shapes]
        self.WT = [torch.empty(S, i, o, dtype=torch.float32, device=self.dev) if c else w.transpose(1, 2)
                   for (o, i), c, w in zip(self.shapes, self.copy_wt, self.W)]
        self.WTsrc = [w.transpose(1, 2) for w in self.W]

    def _groups(self) -> None:
        """Per activation layer: ``[(start, stop, _Activation)]`` runs of members sharing it."""
        self.groups = []
        for a in range(len(self.shapes) - 1):
            runs: list = []
            for pos, member in enumerate(self.order):
                act = self.acts_of[member][a]
                if runs and _act_key(runs[-1][2].module) == _act_key(act.module):
                    runs[-1][1] = pos + 1
                else:
                    runs.append([pos, pos + 1, act])
            self.groups.append([tuple(r) for r in runs])
        self.single = all(len(runs) == 1 for runs in self.groups)

    def keep(self, positions: list) -> None:
        """Keep only the members at stack ``positions`` (in that order), with their Adam state."""
        (P, M, V), blocks, S = (self.P, self.M, self.V), self._blocks, self.S
        index = torch.tensor(positions, dtype=torch.long, device=self.dev)
        self.order = [self.order[p] for p in positions]
        self._allocate(len(positions))
        for (o_old, n_old), (o_new, n_new) in zip(blocks, self._blocks):
            for src, dst in ((P, self.P), (M, self.M), (V, self.V)):
                dst[o_new:o_new + n_new].view(len(positions), -1).copy_(
                    src[o_old:o_old + n_old].view(S, -1).index_select(0, index))
        self._groups()  # the buffers stay: their first S rows are used

    def buffers_for(self, B: int, train: bool) -> _Buffers:
        key = (B, train)
        if key not in self.buffers:
            self.buffers[key] = _Buffers(self.S, B, self.widths, self.aug, self.tmp, self.dev, train, self.classes,
                                         self.inplace)
        return self.buffers[key]

    def memory_needed(self, batches: list, eval_width: int) -> int:
        total = sum(_Buffers.nbytes(self.S, B, self.widths, True) for B in set(batches))
        return total + (_Buffers.nbytes(self.S, eval_width, self.widths, False) if eval_width else 0) \
            + 4 * 4 * self.P.numel()

    # -- computation
    def _act(self, a: int, z, out, tmp, train: bool) -> None:
        if self.single:
            self.groups[a][0][2].forward(z, out, tmp, train)
            return
        for start, stop, act in self.groups[a]:
            act.forward(z[start:stop], out[start:stop], None if tmp is None else tmp[start:stop], train)

    def _act_backward(self, a: int, g, z, out, tmp) -> None:
        if self.single:
            self.groups[a][0][2].backward(g, z, out, tmp, g)
            return
        for start, stop, act in self.groups[a]:
            act.backward(g[start:stop], z[start:stop], out[start:stop], None if tmp is None else tmp[start:stop],
                         g[start:stop])

    def forward(self, v: SimpleNamespace, x: torch.Tensor, train: bool = True) -> torch.Tensor:
        """Forward pass on ``x`` ``[S, rows, Bp]`` (``v``: the views of a buffer); the logits ``[S, C, Bp]``."""
        h, last = x, len(self.shapes) - 1
        for li in range(last + 1):
            z = v.Z[li]
            if self.aug[li]:
                torch.bmm(self.WF[li], h, out=z)
            else:
                torch.baddbmm(self.b[li], self.W[li], h, out=z)
            if li < last:
                self._act(li, z, v.act[li], v.T[li], train)
                if v.ones[li] is not None:
                    v.ones[li].fill_(1.0)
                h = v.A[li]
        return v.Z[last]

    def logits(self, v: SimpleNamespace, x: torch.Tensor) -> torch.Tensor:
        """Evaluation forward pass (``v``: the views of an evaluation buffer)."""
        return self.forward(v, x, train=False)

    def loss_and_backward(self, buf: _Buffers, v: SimpleNamespace, x: torch.Tensor, y: torch.Tensor,
                          logits: torch.Tensor, loss_sums: torch.Tensor) -> None:
        """The gradient of the sum of the members' mean cross-entropies, written into ``self.G``.

        ``y`` ``[S, 1, Bp]``: the labels of the batch (padding columns: any class).
        ``loss_sums`` ``[S]`` receives each member's summed log-likelihood over the batch (minus
        its total cross-entropy: the epoch's loss is accumulated from these).
        """
        torch.log_softmax(logits, dim=1, out=v.ls)
        torch.gather(v.ls, 1, y, out=v.nll)
        torch.sum(v.nll_real, dim=1, out=loss_sums)
        # d(sum of mean CE)/d logits = (softmax - onehot) / B on the real columns, 0 on the padding
        last = len(self.shapes) - 1
        g = v.g[last]
        torch.exp(v.ls, out=g)
        g.scatter_add_(1, y, v.minus)
        if v.pad is not None:
            v.pad.zero_()
        g.mul_(1.0 / buf.B)
        for li in range(last, -1, -1):
            torch.bmm(g, v.hT[li] if li else x.transpose(1, 2), out=self.GWF[li])
            if self.Gb[li] is not None:
                torch.sum(g, dim=2, keepdim=True, out=self.Gb[li])
            if li > 0:
                ga = v.g[li - 1]
                if self.copy_wt[li]:
                    self.WT[li].copy_(self.WTsrc[li])
                torch.bmm(self.WT[li], g, out=ga)
                self._act_backward(li - 1, ga, v.Z[li - 1], v.act[li - 1], v.T[li - 1])
                g = ga

    def adam(self, lr: float) -> None:
        """One Adam step of every member (element-wise, so each member's own Adam)."""
        self.step_count += 1
        torch._fused_adam_([self.P], [self.G], [self.M], [self.V], [], [self.step_count], lr=lr,
                           beta1=_BETAS[0], beta2=_BETAS[1], weight_decay=self.weight_decay, eps=_EPS,
                           amsgrad=False, maximize=False)

    def load_into(self, pos: int) -> None:
        """Copy the weights at stack position ``pos`` into its member's own module."""
        member = self.order[pos]
        with torch.no_grad():
            for li, lin in enumerate(self.linears_of[member]):
                lin.weight.copy_(self.W[li][pos])
                lin.bias.copy_(self.b[li][pos, :, 0])


def _check_same_shapes(plans: list) -> None:
    shape = [(m.in_features, m.out_features) for m in plans[0][0::2]]
    for i, plan in enumerate(plans):
        if [(m.in_features, m.out_features) for m in plan[0::2]] != shape:
            raise ValueError(f"models[{i}] differs from models[0] in its layers; the fast engine stacks nets of one "
                             "layer shape (activations may differ)")


# ----------------------------------------------------------------------------- training


def train_fast(models: list, X, y, seeds: list, dev: torch.device, *, max_epochs: int, lr: float,
               batch_size: Optional[int], lr_decay: Optional[float], decay_steps: int, weight_decay: float,
               target_accuracy: float, stop_at_target: bool, progress: Optional[bool], on_diverge: str,
               on_member_done: Optional[Callable], max_memory_bytes: Optional[int] = None,
               warmup_epochs: int = 0) -> list:
    """Train ``models`` on the fast engine (arguments validated by ``fit_ensemble``); FitResults in order.

    ``warmup_epochs`` (fit's option, validated by ``check_fit_options``): epoch ``e`` (0-based)
    trains at ``min(1, (e + 1) / (warmup_epochs + 1))`` times the decayed rate, as fit does.
    """
    from tqdm.auto import tqdm

    from . import _checks
    from .fileio import progress_enabled
    from .training import FitResult, _as_tensor, _record_members

    warmup_epochs = _checks.integer(warmup_epochs, "warmup_epochs", minimum=0, fix="pass e.g. 0 (no warm-up) or 10")
    plans = []
    for i, m in enumerate(models):
        why = fast_supported(m)
        if why is not None:
            raise ValueError(f"models[{i}]: {why}")
        plans.append(_plan(m))
    _check_same_shapes(plans)
    for m in models:
        m.to(dev).train()

    Xt, yt = _as_tensor(X, torch.float32, dev), _as_tensor(y, torch.long, dev)
    n, d_in = len(yt), Xt.shape[1]
    bs = n if batch_size is None else min(int(batch_size), n)
    steps_per_epoch = math.ceil(n / bs)
    full = bs == n  # then epoch e+1's forward pass gives epoch e's accuracy (no evaluation pass)
    classes = plans[0][-1].out_features
    if int(yt.max()) >= classes:
        raise ValueError(f"labels go up to {int(yt.max())} but the models give {classes} logits")

    keys = [tuple(_act_key(mod) for mod in plan[1::2]) for plan in plans]
    first_seen: dict = {}
    for i, k in enumerate(keys):
        first_seen.setdefault(k, i)
    order = sorted(range(len(models)), key=lambda i: (first_seen[keys[i]], i))  # members sharing activations together
    stack = _Stack(plans, order, dev, weight_decay, classes)
    S0 = stack.S
    n_full, rest = n // bs, n % bs  # whole batches per epoch, and the size of the last, shorter one
    batches = [bs] + ([rest] if rest else [])
    _checks.memory(stack.memory_needed(batches, 0 if full else min(n, _EVAL_CHUNK))
                   + (0 if full else 4 * S0 * (d_in + 3) * (n_full * _padded(bs) + _padded(rest))),
                   f"training {len(models)} members together on {n} points",
                   fix="train fewer members at once, or pass a batch_size", max_memory_bytes=max_memory_bytes)
    _probe(stack, models, Xt)

    XT = Xt.t().contiguous()  # [in, n]
    gens = {m: torch.Generator().manual_seed(seeds[m]) for m in order}
    decay = 1.0 if lr_decay is None else float(lr_decay)

    def rate(step: int) -> float:
        """fit's rate at optimiser step ``step`` (LambdaLR: ``lr`` times the factor)."""
        if warmup_epochs:
            return lr * (decay ** (step / decay_steps) * min(1.0, (step // steps_per_epoch + 1) / (warmup_epochs + 1)))
        return lr * decay ** (step / decay_steps)

    rows: list = [[] for _ in models]
    results: list = [None] * len(models)
    converged_at: dict = {}
    attributed = [0.0] * len(models)
    clock = [time.perf_counter()]
    step = 0
    common = dict(max_epochs=max_epochs, lr=lr, batch_size=batch_size, lr_decay=lr_decay, decay_steps=decay_steps,
                  weight_decay=weight_decay, target_accuracy=target_accuracy, device=str(dev),
                  trainer="fit_ensemble(fast)", engine="fast", **({"warmup_epochs": warmup_epochs} if warmup_epochs else {}))

    if full:
        fbuf = stack.buffers_for(n, True)
        fbuf.x[:, :d_in, :n] = XT
        fy = torch.zeros(S0, 1, fbuf.Bp, dtype=torch.long, device=dev)
        fy[:, 0, :n] = yt
    else:
        # one epoch's mini-batches of every member, laid out as the training buffers want them:
        # ``[batch, member, rows, Bp]`` (a row of ones where the first layer is augmented)
        parts = [(n_full, stack.buffers_for(bs, True))] + ([(1, stack.buffers_for(rest, True))] if rest else [])
        ep_x, ep_y = [], []
        for count, buf in parts:
            xs = torch.zeros(count, S0, buf.rows[0], buf.Bp, dtype=torch.float32, device=dev)
            if stack.aug[0]:
                xs[:, :, d_in] = 1.0
            ep_x.append(xs)
            ep_y.append(torch.zeros(count, S0, 1, buf.Bp, dtype=torch.long, device=dev))

    def shuffle() -> None:
        """This epoch's mini-batches: each member's own ``randperm(n, generator=its seed's)``, as fit."""
        S = stack.S
        perms = torch.stack([torch.randperm(n, generator=gens[m]) for m in stack.order]).to(dev)  # [S, n]
        xs, ys = XT[:, perms], yt[perms]  # [in, S, n], [S, n]
        m = n_full * bs
        ep_x[0][:, :S, :d_in, :bs] = xs[:, :, :m].view(d_in, S, n_full, bs).permute(2, 1, 0, 3)
        ep_y[0][:, :S, 0, :bs] = ys[:, :m].view(S, n_full, bs).transpose(0, 1)
        if rest:
            ep_x[1][0, :S, :d_in, :rest] = xs[:, :, m:].transpose(0, 1)
            ep_y[1][0, :S, 0, :rest] = ys[:, m:]

    def finish(positions: list, diverged_at=None) -> None:
        for pos in positions:
            member = stack.order[pos]
            stack.load_into(pos)
            models[member].eval()
            extra = {"seed": seeds[member]}
            if diverged_at is not None:
                extra["diverged_at"] = diverged_at
            results[member] = FitResult(model=models[member], history=pd.DataFrame(rows[member]),
                                        epochs_to_converge=converged_at.get(member), params={**common, **extra})
            if on_member_done is not None:
                on_member_done(member, results[member])
        gone = set(positions)
        left = [p for p in range(stack.S) if p not in gone]
        if left:
            stack.keep(left)
            if full:
                fy[:len(left)] = fy[:stack.S + len(gone)][torch.tensor(left, device=dev)]
        else:
            stack.order = []

    def record(epoch: int, accs: list, totals: list) -> list:
        """Epoch ``epoch``'s rows; the stack positions of the members that stop."""
        now = time.perf_counter()
        share = (now - clock[0]) / stack.S
        clock[0] = now
        return _record_members(rows, attributed, converged_at, stack.order, accs, totals, epoch=epoch, n=n,
                               lr_now=rate(step), share=share, target_accuracy=target_accuracy,
                               stop_at_target=stop_at_target)

    loaded: dict = {}

    def evaluate() -> list:
        correct = torch.zeros(stack.S, dtype=torch.long, device=dev)
        for j in range(0, n, _EVAL_CHUNK):
            width = min(_EVAL_CHUNK, n - j)
            buf = stack.buffers_for(width, False)
            if loaded.get(width) != j:  # the chunk this buffer holds
                buf.x[:, :d_in, :width] = XT[:, j:j + width]
                loaded[width] = j
            v = buf.views(stack.S)
            correct += _correct(stack.logits(v, v.x)[:, :, :width], yt[j:j + width])
        return (correct.float() / n).tolist()

    def diverged(epoch: int, totals: list) -> bool:
        """Handle members whose loss became NaN/inf this epoch; True if any left the stack."""
        bad = [pos for pos, t in enumerate(totals) if not math.isfinite(t)]
        if not bad:
            return False
        if on_diverge == "raise":
            raise FloatingPointError(
                f"training diverged at epoch {epoch} for seed {seeds[stack.order[bad[0]]]} (loss "
                f"{totals[bad[0]] / n}); lower lr (now {lr}) or standardise X")
        finish(bad, diverged_at=epoch)
        return True

    loss_sums = torch.zeros(1 if full else steps_per_epoch, len(models), dtype=torch.float32, device=dev)
    bar = tqdm(total=max_epochs, desc=f"fit_ensemble fast ({len(models)})", unit="epoch",
               disable=not progress_enabled(progress), leave=False)
    pending = None  # full batch: (epoch, totals) awaiting its accuracy from the next forward pass
    try:
        with torch.no_grad():
            for epoch in range(1, max_epochs + 1):
                if not stack.order:
                    break
                if full:
                    v = fbuf.views(stack.S)
                    logits = stack.forward(v, v.x)
                    if pending is not None:
                        done = record(pending[0], (_correct(logits[:, :, :n], yt).float() / n).tolist(), pending[1])
                        pending = None
                        if done:
                            finish(done)
                            if not stack.order:
                                break
                            v = fbuf.views(stack.S)
                            logits = stack.forward(v, v.x)
                    stack.loss_and_backward(fbuf, v, v.x, fy[:stack.S], logits, loss_sums[0, :stack.S])
                    stack.adam(rate(step))
                    step += 1
                else:
                    S = stack.S
                    shuffle()
                    i = 0
                    for (count, buf), xs, ys in zip(parts, ep_x, ep_y):
                        v = buf.views(S)
                        for k in range(count):
                            x = xs[k, :S]
                            logits = stack.forward(v, x)
                            stack.loss_and_backward(buf, v, x, ys[k, :S], logits, loss_sums[i, :S])
                            stack.adam(rate(step))
                            step += 1
                            i += 1
                totals = (-loss_sums[:1 if full else steps_per_epoch, :stack.S].double().sum(0)).tolist()
                if diverged(epoch, totals):
                    if not stack.order:
                        break
                    totals = [t for t in totals if math.isfinite(t)]
                if full and epoch < max_epochs:
                    pending = (epoch, totals)
                else:
                    done = record(epoch, evaluate(), totals)
                    if done:
                        finish(done)
                bar.update(1)
                if epoch % 10 == 0 or epoch == 1:
                    bar.set_postfix(active=stack.S if stack.order else 0)
        if stack.order:
            finish(list(range(stack.S)))
    finally:
        bar.close()
    return results


def _correct(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per member, how many argmax predictions of ``logits`` ``[S, C, B]`` equal ``labels`` ``[B]``."""
    if logits.shape[1] == 2:  # argmax over a dimension of 2, without the slow strided reduction
        pred = logits[:, 1] > logits[:, 0]  # a tie goes to class 0, as argmax's first maximum
        return (pred == labels.bool()).sum(1)
    return (logits.transpose(1, 2).contiguous().argmax(2) == labels).sum(1)


def _probe(stack: _Stack, models: list, Xt: torch.Tensor) -> None:
    """Refuse a model whose stacked forward pass is not its own (e.g. a non-element-wise activation)."""
    x = Xt[:16]
    buf = _Buffers(stack.S, len(x), stack.widths, stack.aug, stack.tmp, stack.dev, False, stack.classes)
    buf.x[:, :x.shape[1], :len(x)] = x.t()
    v = buf.views(stack.S)
    got = stack.logits(v, v.x)[:, :, :len(x)].transpose(1, 2)
    with torch.no_grad():
        for pos, member in enumerate(stack.order):
            want = models[member](x)
            if want.shape != got[pos].shape or not torch.allclose(got[pos], want, rtol=1e-4, atol=1e-5, equal_nan=True):
                raise ValueError(
                    f"models[{member}]: its stacked forward pass differs from its own (largest difference "
                    f"{(got[pos] - want).abs().max().item() if want.shape == got[pos].shape else 'in shape'}); "
                    "the fast engine needs Linear layers and element-wise activations only; train it with "
                    "engine='exact'")
