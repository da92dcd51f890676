"""Training curves."""
from __future__ import annotations

from typing import Optional, Sequence

import pandas as pd

from ._base import RUN_COLORS, _check_columns

__all__ = ["plot_training_curves"]

# ----------------------------------------------------------------------------- training curves


def plot_training_curves(histories, labels: Optional[Sequence[str]] = None, target_accuracy: float = 1.0,
                         log_loss: bool = True):
    """Loss and training/test accuracy against epoch for one or several runs.

    The epoch at which a run first reaches ``target_accuracy`` on the training set (its
    convergence epoch) is marked with a dotted vertical line in the run's colour.

    Parameters
    ----------
    histories : DataFrame, FitResult, or a list of them
        :attr:`topokit.training.FitResult.history` frames (columns ``epoch``, ``loss``,
        ``train_accuracy`` and optionally ``test_accuracy``), or the FitResults themselves.
    labels : list of str, optional
        One legend entry per run; default "run 1", "run 2", ...
    target_accuracy : float, default 1.0
        Accuracy that counts as converged, when a history is given without its FitResult.
    log_loss : bool, default True
        Logarithmic loss axis.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: loss, accuracy (training solid, test dashed).
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    if isinstance(histories, pd.DataFrame) or hasattr(histories, "history"):
        histories = [histories]
    histories = list(histories) if histories is not None else []
    if not histories:
        raise ValueError("histories is empty; pass a FitResult.history DataFrame or a list of them")
    if labels is None:
        labels = [f"run {i + 1}" for i in range(len(histories))]
    labels = list(labels)
    if len(labels) != len(histories):
        raise ValueError(f"got {len(labels)} labels for {len(histories)} histories")

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (h, label) in enumerate(zip(histories, labels)):
        converged = None
        if hasattr(h, "history"):
            converged = getattr(h, "epochs_to_converge", None)
            h = h.history
        h = _check_columns(h, ["epoch", "loss", "train_accuracy"], "plot_training_curves",
                           "pass FitResult.history from topokit.training.fit")
        if converged is None:
            hit = h.loc[h["train_accuracy"] >= target_accuracy, "epoch"]
            converged = int(hit.iloc[0]) if len(hit) else None
        color = RUN_COLORS[i % len(RUN_COLORS)]
        ax_loss.plot(h["epoch"], h["loss"], color=color, label=label)
        ax_acc.plot(h["epoch"], h["train_accuracy"], color=color, label=label)
        if "test_accuracy" in h and h["test_accuracy"].notna().any():
            ax_acc.plot(h["epoch"], h["test_accuracy"], color=color, ls="--")
        if converged is not None:
            for ax in (ax_loss, ax_acc):
                ax.axvline(converged, color=color, ls=":", lw=1)
            ax_acc.annotate(f" {converged}", (converged, 0.98), xycoords=("data", "axes fraction"),
                            color=color, fontsize=7, ha="left", va="top")
    if log_loss:
        ax_loss.set_yscale("log")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy (dotted line: convergence epoch)")
    handles, _ = ax_acc.get_legend_handles_labels()
    handles += [Line2D([], [], color="grey", label="train"), Line2D([], [], color="grey", ls="--", label="test")]
    ax_acc.legend(handles=handles, loc="best")
    fig.tight_layout()
    return fig


