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

from .data import validate_xy
from .fileio import progress_enabled

__all__ = ["FitResult", "fit", "predict", "accuracy", "resolve_device"]


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


def _as_tensor(a: np.ndarray, dtype, device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)


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


_progress_enabled = progress_enabled  # the name other modules used before it moved to fileio


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
    if int(max_epochs) < 1:
        raise ValueError(f"max_epochs must be at least 1, got {max_epochs}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer or None (full batch), got {batch_size}")
    if lr_decay is not None and not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1] or None, got {lr_decay}")
    if int(decay_steps) < 1:
        raise ValueError(f"decay_steps must be a positive number of steps, got {decay_steps}")
    if not 0 < target_accuracy <= 1:
        raise ValueError(f"target_accuracy must be in (0, 1], got {target_accuracy}")
    if not isinstance(model, nn.Module) or not any(True for _ in model.parameters()):
        raise ValueError("model must be a torch nn.Module with parameters, e.g. topokit.models.mlp(2, 15, 9)")

    dev = resolve_device(device)
    if num_threads is None:
        num_threads = _default_threads(model)
    if int(num_threads) < 1:
        raise ValueError(f"num_threads must be a positive integer, got {num_threads}")
    threads_before = torch.get_num_threads()
    torch.set_num_threads(int(num_threads))
    try:
        return _fit(model, X, y, X_test, y_test, dev, max_epochs=max_epochs, lr=lr, batch_size=batch_size,
                    lr_decay=lr_decay, decay_steps=decay_steps, weight_decay=weight_decay,
                    target_accuracy=target_accuracy, stop_at_target=stop_at_target, seed=seed,
                    callback=callback, progress=progress)
    finally:
        torch.set_num_threads(threads_before)


def _default_threads(model: nn.Module) -> int:
    if not any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules()):
        return 1
    try:
        idle = (os.cpu_count() or 1) - os.getloadavg()[0]
    except OSError:  # pragma: no cover - no load average on this platform
        idle = torch.get_num_threads()
    return max(1, min(torch.get_num_threads(), int(idle)))


def _fit(model, X, y, X_test, y_test, dev, *, max_epochs, lr, batch_size, lr_decay, decay_steps, weight_decay,
         target_accuracy, stop_at_target, seed, callback, progress) -> FitResult:
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
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: decay ** (step / decay_steps))
    loss_fn = nn.CrossEntropyLoss()

    from tqdm.auto import tqdm

    rows, converged_at, t0 = [], None, time.perf_counter()
    bar = tqdm(range(1, int(max_epochs) + 1), desc="fit", unit="epoch", disable=not _progress_enabled(progress),
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
                  seed=seed, device=str(dev))
    return FitResult(model=model, history=pd.DataFrame(rows), epochs_to_converge=converged_at, params=params)
