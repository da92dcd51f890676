"""Training binary classifiers to convergence, reproducibly.

:func:`fit` trains with Adam (full batch by default, as Naitzat et al. did), an optional
exponential learning-rate decay (their schedule halves the rate every 2,500 steps), and stops at
the first epoch whose training accuracy reaches a target (default 100%: Naitzat's
"well-trained"), or at an epoch cap. It records a per-epoch history and can call a function
after every epoch (later notebooks snapshot topology during training that way).

Accuracy in the history is measured after the epoch's updates, on the whole split, with the
model in eval mode, so it is the accuracy of the weights you get back.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import _checks
from .data import validate_xy
from .fileio import progress_enabled
from .reproducibility import deterministic

__all__ = ["FitResult", "fit", "fit_ensemble", "check_input_shape", "predict", "accuracy", "resolve_device"]


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : nn.Module
        The trained model (the same object that was passed in), on the device it trained on.
    history : pandas.DataFrame
        One row per epoch: epoch (1-based), loss (mean training loss over the epoch), lr,
        train_accuracy, test_accuracy (NaN without a test set), seconds (cumulative).
    epochs_to_converge : int or None
        First epoch whose training accuracy reached ``target_accuracy``; None if it never did.
    converged : bool
        ``epochs_to_converge is not None``.
    params : dict
        The options used.
    """

    model: nn.Module
    history: pd.DataFrame
    epochs_to_converge: Optional[int]
    params: dict = field(default_factory=dict)

    @property
    def converged(self) -> bool:  # noqa: D102
        return self.epochs_to_converge is not None

    @property
    def final_train_accuracy(self) -> float:  # noqa: D102
        return float(self.history["train_accuracy"].iloc[-1]) if len(self.history) else float("nan")

    @property
    def final_test_accuracy(self) -> float:  # noqa: D102
        return float(self.history["test_accuracy"].iloc[-1]) if len(self.history) else float("nan")

    def __repr__(self) -> str:
        return (
            f"FitResult(epochs_to_converge={self.epochs_to_converge}, epochs_run={len(self.history)}, "
            f"train_accuracy={self.final_train_accuracy:.4f}, test_accuracy={self.final_test_accuracy:.4f})"
        )


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for but no CUDA GPU is available; use device='auto' or 'cpu'")
    return dev


_NUMPY_DTYPES = {torch.float32: np.float32, torch.long: np.int64}


def _as_tensor(a: np.ndarray, dtype, device) -> torch.Tensor:
    """``a`` as a tensor of ``dtype`` on ``device``, sharing memory only with a writable array.

    torch cannot protect a read-only array (a memory-mapped file, a cached array) and warns when it
    shares one; such an array, like one of another dtype or layout, is copied first.
    """
    if isinstance(a, torch.Tensor):
        return a.to(dtype=dtype, device=device)
    return torch.as_tensor(np.require(a, dtype=_NUMPY_DTYPES.get(dtype), requirements=["C", "W"]), device=device)


@torch.no_grad()
def _predict_tensor(model: nn.Module, Xt: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(Xt[i:i + batch_size]).argmax(1) for i in range(0, len(Xt), batch_size)])
    finally:
        model.train(was_training)


def predict(model: nn.Module, X, batch_size: int = 8192) -> np.ndarray:
    """Predicted labels (argmax of the logits), model in eval mode, batched."""
    X, _ = validate_xy(X)
    device = next(model.parameters()).device
    return _predict_tensor(model, _as_tensor(X, torch.float32, device), batch_size).cpu().numpy()


def accuracy(model: nn.Module, X, y, batch_size: int = 8192) -> float:
    """Fraction of samples whose predicted label equals ``y``."""
    X, y = validate_xy(X, y)
    return float(np.mean(predict(model, X, batch_size) == y))




def fit(
    model: nn.Module,
    X,
    y,
    *,
    X_test=None,
    y_test=None,
    max_epochs: int = 5000,
    lr: float = 0.01,
    batch_size: Optional[int] = None,
    lr_decay: Optional[float] = 0.5,
    decay_steps: int = 2500,
    weight_decay: float = 0.0,
    target_accuracy: float = 1.0,
    stop_at_target: bool = True,
    seed: int = 0,
    device: str = "auto",
    callback: Optional[Callable] = None,
    progress: Optional[bool] = None,
    num_threads: Optional[int] = None,
    warmup_epochs: int = 0,
) -> FitResult:
    """Train a classifier with Adam and cross-entropy until it reaches a training accuracy.

    Parameters
    ----------
    model : nn.Module
        Maps a float32 batch to logits ``[n, num_classes]``; trained in place.
    X, y : array-like
        Training features and labels in {0, 1}.
    X_test, y_test : array-like, optional
        Evaluated after every epoch (``test_accuracy`` in the history).
    max_epochs : int, default 5000
        Epoch cap.
    lr : float, default 0.01
        Adam's initial learning rate.
    batch_size : int or None, default None
        None trains full batch (one step per epoch), as Naitzat et al.
    lr_decay : float or None, default 0.5
        Exponential decay: the rate is multiplied by ``lr_decay`` every ``decay_steps``
        optimiser steps, continuously (``lr * lr_decay ** (step / decay_steps)``). None: constant.
    decay_steps : int, default 2500
    weight_decay : float, default 0
    target_accuracy : float, default 1.0
        Convergence is the first epoch whose training accuracy is at least this.
    stop_at_target : bool, default True
        Stop at convergence; False trains all ``max_epochs`` (convergence is still recorded).
    seed : int, default 0
        Seeds the mini-batch order (and torch's global generator for dropout-like layers).
    device : {"auto", "cpu", "cuda"}, default "auto"
        "auto" uses CUDA when present.
    callback : callable, optional
        ``callback(epoch, model, row)`` after each epoch, ``row`` being that epoch's history
        dict; returning ``True`` stops training.
    progress : bool, optional
        Show a tqdm bar; default on unless ``TOPOKIT_PROGRESS=0``.
    num_threads : int, optional
        CPU threads for torch during training, restored afterwards. Default: 1 for models
        without convolutions (too small to gain from threads); for CNNs, torch's setting capped
        at the number of idle cores (CPU count minus the 1-minute load average, at least 1).
        Oversubscribed cores are pathological for torch's thread pool: with one other busy
        process on a 2-core machine, two threads were measured 12-20x slower than one.
    warmup_epochs : int, default 0
        Linear learning-rate warm-up: epoch ``e`` (0-based) trains at ``min(1, (e + 1) /
        (warmup_epochs + 1))`` times the decayed rate, so the rate climbs over the first
        ``warmup_epochs`` epochs and is the plain schedule from then on. 0: no warm-up (the
        schedule, and every result, exactly as without the option).

    Returns
    -------
    FitResult
        With ``epochs_to_converge`` (None if the target was not reached) and ``history``.

    Examples
    --------
    >>> from topokit import data, models, training
    >>> d = data.load("D-I")
    >>> result = training.fit(models.mlp(2, 15, 9, "relu", seed=0), d.X, d.y)
    >>> result.epochs_to_converge  # doctest: +SKIP
    """
    X, y = validate_xy(X, y)
    if X_test is not None or y_test is not None:
        if X_test is None or y_test is None:
            raise ValueError("pass both X_test and y_test, or neither")
        X_test, y_test = validate_xy(X_test, y_test, name="X_test")
    opts = check_fit_options(max_epochs=max_epochs, lr=lr, batch_size=batch_size, lr_decay=lr_decay,
                             decay_steps=decay_steps, weight_decay=weight_decay, target_accuracy=target_accuracy,
                             warmup_epochs=warmup_epochs)
    max_epochs, lr, batch_size, lr_decay, decay_steps, weight_decay, target_accuracy = (opts[k] for k in FIT_OPTIONS)
    warmup_epochs = opts["warmup_epochs"]
    stop_at_target = _checks.boolean(stop_at_target, "stop_at_target")
    seed = _checks.integer(seed, "seed", minimum=0)
    if not isinstance(model, nn.Module) or not any(True for _ in model.parameters()):
        raise ValueError("model must be a torch nn.Module with parameters, e.g. topokit.models.mlp(2, 15, 9)")
    check_input_shape(model, X)
    if X_test is not None:
        check_input_shape(model, X_test, name="X_test")

    dev = resolve_device(device)
    if num_threads is None:
        num_threads = _default_threads(model)
    num_threads = _checks.integer(num_threads, "num_threads", minimum=1, fix="e.g. num_threads=1")
    threads_before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        with deterministic():  # convolutions through MKL, pinned across CPUs (topokit.reproducibility)
            return _fit(model, X, y, X_test, y_test, dev, max_epochs=max_epochs, lr=lr, batch_size=batch_size,
                        lr_decay=lr_decay, decay_steps=decay_steps, weight_decay=weight_decay,
                        target_accuracy=target_accuracy, stop_at_target=stop_at_target, seed=seed,
                        callback=callback, progress=progress, warmup_epochs=warmup_epochs)
    finally:
        torch.set_num_threads(threads_before)


#: Most epochs one run may be given (its history holds a row per epoch).
MAX_EPOCHS = 1_000_000

#: The options :func:`check_fit_options` validates, shared by fit, fit_ensemble and the sweeps.
#: (``warmup_epochs`` is validated too but not listed: it is fit's alone for now, and listing it
#: would change every sweep's cache key.)
FIT_OPTIONS = ("max_epochs", "lr", "batch_size", "lr_decay", "decay_steps", "weight_decay", "target_accuracy")

#: Most warm-up epochs accepted.
MAX_WARMUP_EPOCHS = 100_000


def check_fit_options(*, max_epochs=5000, lr=0.01, batch_size=None, lr_decay=0.5, decay_steps=2500,
                      weight_decay=0.0, target_accuracy=1.0, warmup_epochs=None) -> dict:
    """The training options of :func:`fit`, validated and normalised (one rule for every caller).

    Returns
    -------
    dict
        The same keys as plain Python numbers (``batch_size`` and ``lr_decay`` may be None), and
        ``warmup_epochs`` when it was passed (fit passes its default 0; callers that do not pass it,
        such as the sweeps' recipes, get the keys of :data:`FIT_OPTIONS` only).

    Raises
    ------
    topokit._checks.InvalidParameterError
        Naming the option, the value and its valid range.
    """
    opts = {
        "max_epochs": _checks.integer(max_epochs, "max_epochs (the epoch cap)", minimum=1, maximum=MAX_EPOCHS,
                                      fix="pass e.g. max_epochs=5000"),
        "lr": _checks.real(lr, "lr", minimum=0, include_min=False, fix="pass e.g. lr=0.01"),
        "batch_size": _checks.integer(batch_size, "batch_size", minimum=1, allow_none=True,
                                      fix="pass a number of samples, or None for full batch"),
        "lr_decay": _checks.real(lr_decay, "lr_decay", minimum=0, maximum=1, include_min=False, allow_none=True,
                                 fix="pass e.g. 0.5, or None for a constant rate"),
        "decay_steps": _checks.integer(decay_steps, "decay_steps", minimum=1, fix="pass e.g. 2500"),
        "weight_decay": _checks.real(weight_decay, "weight_decay", minimum=0, fix="pass e.g. 0 or 1e-4"),
        "target_accuracy": _checks.real(target_accuracy, "target_accuracy", minimum=0, maximum=1,
                                        include_min=False, fix="pass a training accuracy such as 1.0 or 0.99"),
    }
    if warmup_epochs is not None:
        opts["warmup_epochs"] = _checks.integer(warmup_epochs, "warmup_epochs", minimum=0, maximum=MAX_WARMUP_EPOCHS,
                                                fix="pass e.g. 0 (no warm-up) or 10")
    return opts


def _first_layer(model: nn.Module):
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
            return m
    return None


def _expected_input(model: nn.Module) -> str:
    layer = _first_layer(model)
    if isinstance(layer, nn.Linear):
        return f"[n, {layer.in_features}] (its first layer is Linear(in_features={layer.in_features}))"
    if isinstance(layer, nn.modules.conv._ConvNd):
        return (f"[n, {layer.in_channels}, height, width] (its first layer is {type(layer).__name__}"
                f"(in_channels={layer.in_channels}))")
    return "another shape (it has no Linear or Conv layer to read it from)"


def check_input_shape(model: nn.Module, X, name: str = "X") -> None:
    """Raise ``ValueError`` if ``model`` cannot take ``X`` or gives fewer than two logits.

    One sample goes through the model (eval mode, no gradient, its training mode restored), so
    a mismatch is reported before training, with the input shape the model expects (read from
    its first ``Linear`` or ``Conv`` layer) and the shape of ``X``.
    """
    X = np.asarray(X) if not isinstance(X, torch.Tensor) else X
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    sample = _as_tensor(X[:1], torch.float32, device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(sample)
    except RuntimeError as exc:
        raise ValueError(
            f"the model expects input of shape {_expected_input(model)}, but {name} has shape {tuple(X.shape)}; "
            f"pass {name} with that shape, or build the model for your data (e.g. models.mlp(X.shape[1], ...), "
            f"models.cnn(X.shape[1], ...)). torch said: {str(exc).splitlines()[0]}"
        ) from None
    finally:
        model.train(was_training)
    if out.ndim != 2 or out.shape[1] < 2:
        raise ValueError(
            f"the model must return logits of shape [n, number of classes >= 2], got {tuple(out.shape)} for one "
            "sample; end it with a Linear layer to 2 outputs (models.mlp(..., out_dim=2))"
        )


def _default_threads(model: nn.Module) -> int:
    if not any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules()):
        return 1
    try:
        idle = (os.cpu_count() or 1) - os.getloadavg()[0]
    except OSError:  # pragma: no cover - no load average on this platform
        idle = torch.get_num_threads()
    return max(1, min(torch.get_num_threads(), int(idle)))


def _fit(model, X, y, X_test, y_test, dev, *, max_epochs, lr, batch_size, lr_decay, decay_steps, weight_decay,
         target_accuracy, stop_at_target, seed, callback, progress, warmup_epochs=0) -> FitResult:
    model.to(dev)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    Xt, yt = _as_tensor(X, torch.float32, dev), _as_tensor(y, torch.long, dev)
    if X_test is not None:
        Xv, yv = _as_tensor(X_test, torch.float32, dev), _as_tensor(y_test, torch.long, dev)
    n = len(yt)
    bs = n if batch_size is None else min(int(batch_size), n)
    steps_per_epoch = math.ceil(n / bs)

    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    decay = 1.0 if lr_decay is None else float(lr_decay)
    if warmup_epochs:  # epoch e (0-based) at min(1, (e + 1) / (warmup_epochs + 1)) of the decayed rate
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: decay ** (step / decay_steps) * min(1.0, (step // steps_per_epoch + 1) / (warmup_epochs + 1)))
    else:  # as before the option existed, bit for bit
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: decay ** (step / decay_steps))
    loss_fn = nn.CrossEntropyLoss()

    from tqdm.auto import tqdm

    rows, converged_at, t0 = [], None, time.perf_counter()
    bar = tqdm(range(1, int(max_epochs) + 1), desc="fit", unit="epoch", disable=not progress_enabled(progress),
               leave=False)
    for epoch in bar:
        model.train()
        total = 0.0
        order = torch.randperm(n, generator=gen).to(dev) if bs < n else None
        for i in range(steps_per_epoch):
            if order is None:
                xb, yb = Xt, yt
            else:
                idx = order[i * bs:(i + 1) * bs]
                xb, yb = Xt[idx], yt[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"training diverged at epoch {epoch} (loss {loss.item()}); lower lr (now {lr}) "
                    "or standardise X"
                )
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(yb)
        row = {
            "epoch": epoch,
            "loss": total / n,
            "lr": opt.param_groups[0]["lr"],
            "train_accuracy": (_predict_tensor(model, Xt) == yt).float().mean().item(),
            "test_accuracy": (_predict_tensor(model, Xv) == yv).float().mean().item()
            if X_test is not None else float("nan"),
            "seconds": time.perf_counter() - t0,
        }
        rows.append(row)
        if converged_at is None and row["train_accuracy"] >= target_accuracy:
            converged_at = epoch
        if epoch % 10 == 0 or epoch == 1:
            bar.set_postfix(loss=f"{row['loss']:.4f}", acc=f"{row['train_accuracy']:.4f}")
        stop = callback(epoch, model, row) if callback is not None else False
        if stop is True or (stop_at_target and converged_at is not None):
            break
    bar.close()
    model.eval()
    params = dict(max_epochs=max_epochs, lr=lr, batch_size=batch_size, lr_decay=lr_decay,
                  decay_steps=decay_steps, weight_decay=weight_decay, target_accuracy=target_accuracy,
                  seed=seed, device=str(dev), **({"warmup_epochs": warmup_epochs} if warmup_epochs else {}))
    return FitResult(model=model, history=pd.DataFrame(rows), epochs_to_converge=converged_at, params=params)


# ----------------------------------------------------------------------------- ensembles

#: Layers whose output depends on the batch or on randomness: an ensemble cannot reproduce fit with them.
_NOT_ENSEMBLABLE = (nn.modules.batchnorm._NormBase, nn.modules.dropout._DropoutNd)


def _check_ensemble_models(models, same_modules: bool = True) -> list:
    models = list(models) if not isinstance(models, nn.Module) else None
    if not models:
        raise ValueError("models must be a non-empty list of nn.Modules of one architecture, "
                         "e.g. [models.mlp(2, 15, 9, seed=s) for s in seeds]")
    first = models[0]
    shapes = {k: tuple(v.shape) for k, v in first.state_dict().items()}
    for i, m in enumerate(models):
        if not isinstance(m, nn.Module) or not any(True for _ in m.parameters()):
            raise ValueError(f"models[{i}] is not an nn.Module with parameters")
        if type(m) is not type(first) or {k: tuple(v.shape) for k, v in m.state_dict().items()} != shapes \
                or (same_modules and [type(c) for c in m.modules()] != [type(c) for c in first.modules()]):
            raise ValueError(f"models[{i}] differs from models[0] in architecture; an ensemble needs copies of "
                             "one architecture (different seeds only"
                             + (")" if same_modules else "; activations may differ with engine='fast')"))
        bad = [type(c).__name__ for c in m.modules() if isinstance(c, _NOT_ENSEMBLABLE)]
        if bad:
            raise ValueError(f"models[{i}] has {bad[0]} layers, whose output depends on the batch or on "
                             "randomness; train such models one by one with fit()")
    return models


def fit_ensemble(
    models,
    X,
    y,
    seeds,
    *,
    max_epochs: int = 5000,
    lr: float = 0.01,
    batch_size: Optional[int] = None,
    lr_decay: Optional[float] = 0.5,
    decay_steps: int = 2500,
    weight_decay: float = 0.0,
    target_accuracy: float = 1.0,
    stop_at_target: bool = True,
    device: str = "auto",
    progress: Optional[bool] = None,
    num_threads: Optional[int] = 1,
    exact: Optional[bool] = None,
    on_diverge: str = "raise",
    on_member_done: Optional[Callable] = None,
    engine: Optional[str] = None,
    warmup_epochs: int = 0,
) -> list:
    """Train several copies of one small architecture together, each as :func:`fit` would.

    The members train in lockstep: every step computes all members' losses, then one backward
    call and every member's Adam update. Each member keeps everything :func:`fit` gives a run:
    its own Adam state, the same learning-rate schedule (``lr * lr_decay ** (step /
    decay_steps)``, as fit's ``LambdaLR``), its own mini-batch order (``torch.randperm`` from
    ``torch.Generator().manual_seed(seed)``, one permutation per epoch, as fit draws it), its
    own convergence epoch. A member that reaches the target stops there: its weights are final
    and it is neither computed nor updated any further.

    Three engines (``engine=``):

    - ``"exact"`` (default; ``exact=True``): each member runs its own module, so it computes exactly the
      operations fit computes, on tensors of the same layout: its trajectory, history and
      ``epochs_to_converge`` are **bitwise fit's** (checked by the tests and by
      ``benchmarks/bench_training.py``). The saving comes from what is shared: one backward call
      per step, no separate evaluation pass in full-batch training (the forward pass of epoch
      e + 1 sees exactly the weights fit evaluates after epoch e, so its logits give epoch e's
      accuracy), and per-epoch bookkeeping done once.
    - ``"vmap"`` (``exact=False``): parameters stacked along a member dimension
      (``torch.func.stack_module_state``), one ``vmap``-ed forward over ``functional_call`` and
      one Adam over the stacks. Faster where per-step overhead dominates (small mini-batches),
      but batched matrix products and vectorised Adam updates round differently from fit's
      one-model kernels, and since training to 100% is chaotic these last-bit differences grow:
      members then converge at different epochs than fit would (same distribution, different
      draws). Not for results that must match fit run by run.
    - ``"fast"`` (:mod:`topokit.engine`; the default of :func:`topokit.sweeps.sweep`): MLPs only
      (Linear layers and parameter-free activations, which may differ between members), every
      layer of every member one batched product on stacked weights, one fused Adam over one flat
      buffer, per-member mini-batch order, stopping and history as fit. Many times faster than
      one-by-one fit (``benchmarks/bench_training.py``); like ``"vmap"`` it rounds differently
      from fit, so its members are other draws from fit's distribution of epochs (tested over 20
      seeds), but it is deterministic, and a member's run does not depend on the other members.

    On CPU, full-batch training of 2-15x9-2 on D-I's 7,800 points is dominated by the matrix
    products themselves (about 60% of the time), which batching cannot remove: the measured
    speed-up is modest (see ``benchmarks/bench_training.py``), larger with mini-batches.

    Parameters
    ----------
    models : list of nn.Module
        Copies of one architecture (e.g. ``[models.mlp(2, 15, 9, seed=s) for s in seeds]``);
        trained in place. No BatchNorm or dropout (their output depends on the batch or on
        randomness, and fit evaluates them in eval mode): train those with :func:`fit`.
    X, y : array-like
        Training data shared by all members.
    seeds : sequence of int
        One per member: the seed :func:`fit` would get (mini-batch order).
    max_epochs, lr, batch_size, lr_decay, decay_steps, weight_decay, target_accuracy, stop_at_target, device, progress
        As in :func:`fit`, the same for every member.
    num_threads : int, default 1
        CPU threads for torch during training (restored afterwards).
    exact : bool, optional
        The earlier way to pick an engine: True is ``engine="exact"``, False ``engine="vmap"``.
    engine : {"exact", "vmap", "fast"}, optional
        The engine (see above); default ``"exact"`` (or what ``exact`` says).
    on_diverge : {"raise", "censor"}, default "raise"
        A member whose loss becomes NaN or inf: "raise" raises ``FloatingPointError`` as
        :func:`fit` does; "censor" stops that member alone and returns it unconverged, with
        ``params["diverged_at"]`` set to the epoch.
    on_member_done : callable, optional
        ``on_member_done(index, result)`` as soon as member ``index`` finishes (to save it
        before the others are done).
    warmup_epochs : int, default 0
        Linear learning-rate warm-up, as in :func:`fit` (epoch ``e`` uses ``min(1, (e+1)/(warmup+1))``
        of the rate); only the fast engine implements it: with another engine a value above 0 is
        refused.

    Returns
    -------
    list of FitResult
        One per member, in order, as :func:`fit` returns it (``history`` without test accuracy;
        its ``seconds`` column is the cumulative wall time attributed to the member: each
        epoch's time split equally among the members still training in it); ``params`` records
        the ``engine`` and the ``trainer``.

    Raises
    ------
    ValueError
        Before any training: an unknown engine (the message lists the valid ones), a model the
        engine cannot train (the reason), or any bad option.
    """
    from . import engine as _engine

    engine = _engine.check_engine(engine, exact)
    models = _check_ensemble_models(models, same_modules=engine != "fast")
    if engine == "fast":
        for i, m in enumerate(models):
            why = _engine.fast_supported(m)
            if why is not None:
                raise ValueError(f"models[{i}]: {why}")
    X, y = validate_xy(X, y)
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise _checks.InvalidParameterError(f"seeds must be a list of integers, one per model, got {seeds!r}")
    seeds = [_checks.integer(s, "each seed", minimum=0) for s in seeds]
    if len(seeds) != len(models):
        raise ValueError(f"pass one seed per model: {len(models)} models but {len(seeds)} seeds")
    opts = check_fit_options(max_epochs=max_epochs, lr=lr, batch_size=batch_size, lr_decay=lr_decay,
                             decay_steps=decay_steps, weight_decay=weight_decay, target_accuracy=target_accuracy,
                             warmup_epochs=warmup_epochs)
    max_epochs, lr, batch_size, lr_decay, decay_steps, weight_decay, target_accuracy = (opts[k] for k in FIT_OPTIONS)
    warmup_epochs = opts["warmup_epochs"]
    if warmup_epochs and engine != "fast":
        raise _checks.InvalidParameterError(f"warmup_epochs={warmup_epochs} needs engine='fast' (the batched engines "
                                            f"of engine={engine!r} have no warm-up); or train each seed with fit")
    stop_at_target = _checks.boolean(stop_at_target, "stop_at_target")
    _checks.choice(on_diverge, "on_diverge", ("raise", "censor"))
    check_input_shape(models[0], X)
    dev = resolve_device(device)
    num_threads = _checks.integer(num_threads, "num_threads", minimum=1, fix="e.g. num_threads=1")
    threads_before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        with deterministic():
            if engine == "fast":
                return _engine.train_fast(models, X, y, seeds, dev, max_epochs=int(max_epochs), lr=lr,
                                          batch_size=batch_size, lr_decay=lr_decay, decay_steps=int(decay_steps),
                                          weight_decay=weight_decay, target_accuracy=target_accuracy,
                                          stop_at_target=stop_at_target, progress=progress, on_diverge=on_diverge,
                                          on_member_done=on_member_done, warmup_epochs=warmup_epochs)
            return _fit_ensemble(models, X, y, seeds, dev, max_epochs=int(max_epochs), lr=lr, batch_size=batch_size,
                                 lr_decay=lr_decay, decay_steps=int(decay_steps), weight_decay=weight_decay,
                                 target_accuracy=target_accuracy, stop_at_target=stop_at_target,
                                 progress=progress, exact=engine == "exact", on_diverge=on_diverge,
                                 on_member_done=on_member_done)
    finally:
        torch.set_num_threads(threads_before)


class _Lockstep:
    """Exact ensemble: the members' own modules, stepped together.

    Every member computes exactly the operations :func:`fit` computes (same kernels, same
    tensor layouts), so its trajectory is bitwise fit's. One Adam holds every member's
    parameters and runs its multi-tensor (``foreach``) implementation, which on CPU applies the
    same per-tensor kernels in the same order as fit's single-tensor Adam (verified bitwise by
    the tests) with one call per operation instead of one per tensor.
    """

    def __init__(self, models: list, lr: float, weight_decay: float, state: Optional[dict] = None):
        self.models = list(models)
        self.opt = torch.optim.Adam([p for m in self.models for p in m.parameters()], lr=lr,
                                    weight_decay=weight_decay, foreach=True)
        for p, st in (state or {}).items():
            self.opt.state[p] = st

    def logits(self, x, shared: bool) -> list:
        """Each member's logits on ``x`` (shared) or on its own batch ``x[pos]`` (a list)."""
        return [m(x if shared else x[pos]) for pos, m in enumerate(self.models)]

    def step(self, losses: list, lr: float) -> None:
        self.opt.param_groups[0]["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        self.opt.step()

    def keep(self, rows: list) -> "_Lockstep":
        models = [self.models[i] for i in rows]
        state = {p: self.opt.state[p] for m in models for p in m.parameters() if p in self.opt.state}
        group = self.opt.param_groups[0]
        return _Lockstep(models, group["lr"], group["weight_decay"], state)

    def member_state(self, pos: int) -> dict:
        return self.models[pos].state_dict()


class _Stack:
    """Batched ensemble: parameters stacked along a leading member dimension
    (``torch.func.stack_module_state``), one vmapped forward, one Adam over the stacks."""

    def __init__(self, base: nn.Module, params: dict, buffers: dict, lr: float, weight_decay: float,
                 state: Optional[list] = None):
        self.base, self.params, self.buffers = base, params, buffers
        self.opt = torch.optim.Adam(list(params.values()), lr=lr, weight_decay=weight_decay)
        if state is not None:
            for p, st in zip(self.opt.param_groups[0]["params"], state):
                if st:
                    self.opt.state[p] = st

    def logits(self, x, shared: bool) -> list:
        from torch.func import functional_call, vmap

        x = x if shared else torch.stack(x)
        out = vmap(lambda p, b, xx: functional_call(self.base, (p, b), (xx,)), in_dims=(0, 0, None if shared else 0))(
            self.params, self.buffers, x)
        return list(out.unbind(0))

    def step(self, losses: list, lr: float) -> None:
        self.opt.param_groups[0]["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        self.opt.step()

    def keep(self, rows: list) -> "_Stack":
        """A new stack holding only the members at positions ``rows``."""
        index = torch.tensor(rows, dtype=torch.long, device=next(iter(self.params.values())).device)
        params, state = {}, []
        for name, p in self.params.items():
            params[name] = p.detach()[index].clone().requires_grad_(True)
            old = self.opt.state.get(p, {})
            state.append({k: (v.clone() if k == "step" else v[index].clone()) for k, v in old.items()})
        buffers = {name: b[index].clone() for name, b in self.buffers.items()}
        group = self.opt.param_groups[0]
        return _Stack(self.base, params, buffers, group["lr"], group["weight_decay"], state)

    def member_state(self, pos: int) -> dict:
        state = {k: v[pos].detach().clone() for k, v in self.params.items()}
        state.update({k: v[pos].detach().clone() for k, v in self.buffers.items()})
        return state


def _record_members(rows, attributed, converged_at, members, accs, totals, *, epoch, n, lr_now, share,
                    target_accuracy, stop_at_target) -> list:
    """Append epoch ``epoch``'s history row of every member still training (``members[pos]`` at stack
    position ``pos``); return the positions of the members that reach the target and stop.

    Shared by the exact ensemble and the fast engine (:mod:`topokit.engine`): one bookkeeping rule.
    """
    done = []
    for pos, member in enumerate(members):
        attributed[member] += share
        rows[member].append({"epoch": epoch, "loss": totals[pos] / n, "lr": lr_now, "train_accuracy": accs[pos],
                             "test_accuracy": float("nan"), "seconds": attributed[member]})
        if member not in converged_at and accs[pos] >= target_accuracy:
            converged_at[member] = epoch
            if stop_at_target:
                done.append(pos)
    return done


def _fit_ensemble(models, X, y, seeds, dev, *, max_epochs, lr, batch_size, lr_decay, decay_steps, weight_decay,
                  target_accuracy, stop_at_target, progress, exact, on_diverge, on_member_done) -> list:
    import copy

    from tqdm.auto import tqdm

    for m in models:
        m.to(dev).train()
    if exact:
        engine = _Lockstep(models, lr, weight_decay)
    else:
        from torch.func import stack_module_state

        params, buffers = stack_module_state(models)
        engine = _Stack(copy.deepcopy(models[0]).to("meta"), params, buffers, lr, weight_decay)

    def logits_of(x, shared: bool) -> list:
        return engine.logits(x, shared)

    Xt, yt = _as_tensor(X, torch.float32, dev), _as_tensor(y, torch.long, dev)
    n = len(yt)
    bs = n if batch_size is None else min(int(batch_size), n)
    steps_per_epoch = math.ceil(n / bs)
    # full batch: the forward pass of epoch e+1 sees the weights fit evaluates after epoch e, so
    # its logits give epoch e's accuracy (fit's separate evaluation pass, in one chunk up to 8192)
    reuse = bs == n and n <= 8192
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    decay = 1.0 if lr_decay is None else float(lr_decay)
    active = list(range(len(models)))  # member index of each row of the stack
    rows: list = [[] for _ in models]
    results: list = [None] * len(models)
    converged_at: dict = {}
    step, clock, attributed = 0, [time.perf_counter()], [0.0] * len(models)
    common = dict(max_epochs=max_epochs, lr=lr, batch_size=batch_size, lr_decay=lr_decay, decay_steps=decay_steps,
                  weight_decay=weight_decay, target_accuracy=target_accuracy, device=str(dev),
                  trainer="fit_ensemble" if exact else "fit_ensemble(vmap)", engine="exact" if exact else "vmap")

    def finish(positions: list, diverged_at=None) -> None:
        nonlocal engine, active
        for pos in positions:
            member = active[pos]
            models[member].load_state_dict(engine.member_state(pos))
            models[member].eval()
            extra = {"seed": seeds[member]} if diverged_at is None else {"seed": seeds[member],
                                                                          "diverged_at": diverged_at}
            results[member] = FitResult(model=models[member], history=pd.DataFrame(rows[member]),
                                        epochs_to_converge=converged_at.get(member), params={**common, **extra})
            if on_member_done is not None:
                on_member_done(member, results[member])
        keep = [i for i in range(len(active)) if i not in set(positions)]
        active = [active[i] for i in keep]
        if active:
            engine = engine.keep(keep)

    def record(epoch: int, logits: list, totals: list) -> None:
        """Epoch ``epoch``'s history rows from logits of the weights after it; stop converged members."""
        with torch.no_grad():
            accs = torch.stack([(lg.argmax(1) == yt) for lg in logits]).float().mean(1).tolist()
        lr_now = lr * decay ** (step / decay_steps)
        now = time.perf_counter()
        share = (now - clock[0]) / len(active)
        clock[0] = now
        done = _record_members(rows, attributed, converged_at, active, accs, totals, epoch=epoch, n=n,
                               lr_now=lr_now, share=share, target_accuracy=target_accuracy,
                               stop_at_target=stop_at_target)
        if done:
            finish(done)

    def eval_logits() -> list:
        with torch.no_grad():
            parts = [logits_of(Xt[j:j + 8192], shared=True) for j in range(0, n, 8192)]
        return [torch.cat([part[pos] for part in parts]) for pos in range(len(active))]

    bar = tqdm(total=max_epochs, desc=f"fit_ensemble ({len(models)})", unit="epoch",
               disable=not progress_enabled(progress), leave=False)
    pending = None  # (epoch, totals) awaiting its accuracy from the next forward pass
    epoch = 0
    while active:
        epoch += 1
        totals = [0.0] * len(active)
        orders = [torch.randperm(n, generator=gens[m]).to(dev) for m in active] if bs < n else None
        i = 0
        while i < steps_per_epoch and active:
            if orders is None:
                grad_ctx = torch.enable_grad() if epoch <= max_epochs else torch.no_grad()
                with grad_ctx:
                    logits = logits_of(Xt, shared=True)
                if pending is not None:
                    before = list(active)
                    record(pending[0], logits, pending[1])
                    pending = None
                    logits = [lg for lg, m in zip(logits, before) if m in set(active)]
                    totals = [t for t, m in zip(totals, before) if m in set(active)]
                if epoch > max_epochs or not active:
                    break
                yb = [yt] * len(active)
            else:
                idx = [o[i * bs:(i + 1) * bs] for o in orders]
                logits = logits_of([Xt[j] for j in idx], shared=False)
                yb = [yt[j] for j in idx]
            losses = [nn.functional.cross_entropy(lg, t) for lg, t in zip(logits, yb)]
            values = torch.stack([lo.detach() for lo in losses]).tolist()
            bad = [pos for pos, v in enumerate(values) if not math.isfinite(v)]
            if bad:
                if on_diverge == "raise":
                    raise FloatingPointError(
                        f"training diverged at epoch {epoch} for seed {seeds[active[bad[0]]]} (loss "
                        f"{values[bad[0]]}); lower lr (now {lr}) or standardise X")
                keep = [pos for pos in range(len(active)) if pos not in set(bad)]
                finish(bad, diverged_at=epoch)
                totals = [totals[pos] for pos in keep]
                orders = [orders[pos] for pos in keep] if orders is not None else None
                continue  # the others take this step without the diverged members
            engine.step(losses, lr * decay ** (step / decay_steps))
            step += 1
            i += 1
            totals = [t + v * len(b) for t, v, b in zip(totals, values, yb)]
        if not active or epoch > max_epochs:
            break
        if reuse:
            pending = (epoch, totals)
        else:
            record(epoch, eval_logits(), totals)
            if epoch >= max_epochs:
                break
        bar.update(1)
        if epoch % 10 == 0 or epoch == 1:
            bar.set_postfix(active=len(active))
    bar.close()
    if active:
        finish(list(range(len(active))))
    return results
