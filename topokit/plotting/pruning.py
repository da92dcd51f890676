"""Figures of notebook 04: filter scores, pruning curves, sizes and latency."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from ._base import RUN_COLORS, _check_columns
from .betti import _summarise

__all__ = ["PRUNING_COLORS", "plot_filter_scores", "plot_pruning_curves", "plot_pruning_sizes"]

# ----------------------------------------------------------------------------- pruning by Betti number (notebook 04)

#: Colour of each pruning curve of :func:`topokit.pruning.study`.
PRUNING_COLORS = {
    "betti-high": "#D55E00", "betti-low": "#E69F00", "cubical-high": "#0072B2", "cubical-low": "#56B4E9",
    "l1-low": "#009E73", "hrank-low": "#CC79A7", "random": "#999999", "scratch": "#000000", "paper-rule": "#D55E00",
}


def plot_filter_scores(df: pd.DataFrame, by: Optional[str] = None, threshold: Optional[float] = None,
                       log: bool = False, title: Optional[str] = None):
    """Distribution of filter scores per conv layer (one panel per layer), optionally per setting.

    Parameters
    ----------
    df : pandas.DataFrame
        :func:`topokit.pruning.scores_frame` output (columns ``layer``, ``score``), possibly
        concatenated over settings.
    by : str, optional
        A column whose values get one box each within a layer (e.g. ``"setting"`` for N or the
        scale, or ``"method"``).
    threshold : float, optional
        A horizontal line (e.g. the paper's 300).
    log : bool, default False
        Symmetric-log y axis.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    hint = "pass topokit.pruning.scores_frame(...) output"
    df = _check_columns(df, ["layer", "score"] + ([by] if by else []), "plot_filter_scores", hint)
    layers = list(dict.fromkeys(df["layer"]))
    groups = list(dict.fromkeys(df[by])) if by else [None]
    fig, axes = plt.subplots(1, len(layers), figsize=(max(3.2, 1.0 + 0.9 * len(groups)) * len(layers), 3.4),
                             squeeze=False)
    rng = np.random.default_rng(0)
    for ax, layer in zip(axes[0], layers):
        part = df[df["layer"] == layer]
        data = [part[part[by] == g]["score"].to_numpy() if by else part["score"].to_numpy() for g in groups]
        ax.boxplot(data, widths=0.5, showfliers=False)
        for i, d in enumerate(data):
            ax.scatter(i + 1 + rng.uniform(-0.15, 0.15, len(d)), d, s=8, alpha=0.6,
                       color=RUN_COLORS[i % len(RUN_COLORS)], zorder=3)
        ax.set_xticks(range(1, len(groups) + 1))
        ax.set_xticklabels([str(g) if g is not None else "" for g in groups], rotation=30, ha="right", fontsize=7)
        if threshold is not None:
            ax.axhline(threshold, color="grey", ls="--", lw=1)
        if log:
            ax.set_yscale("symlog", linthresh=1)
        ax.set_title(f"{layer} ({len(part) // max(1, len(groups))} filters)")
    axes[0][0].set_ylabel("score per filter")
    if title:
        fig.suptitle(title, x=0.02, ha="left")
    fig.tight_layout()
    return fig


def plot_pruning_curves(curves: pd.DataFrame, baseline: Optional[float] = None, title: Optional[str] = None):
    """Test accuracy against the fraction of filters removed per layer, without and with fine-tuning.

    Random pruning (several seeds) is drawn as its mean with a min-max band; ``"scratch"``
    (the pruned architecture trained from scratch) dashed; ``"paper-rule"`` as stars at the
    share of filters the threshold removed.

    Parameters
    ----------
    curves : pandas.DataFrame
        ``PruningStudy.curves`` (columns ``curve``, ``fraction``, ``finetuned``, ``accuracy``).
    baseline : float, optional
        The unpruned model's test accuracy (dotted line, and the value at fraction 0).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    df = _check_columns(curves, ["curve", "fraction", "finetuned", "accuracy"], "plot_pruning_curves",
                        "pass PruningStudy.curves")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    names = [c for c in dict.fromkeys(df["curve"]) if c not in ("scratch", "paper-rule")]
    for ax, ft in zip(axes, (False, True)):
        part = df[df["finetuned"] == ft]
        for i, name in enumerate(names):
            s = _summarise(part[part["curve"] == name], ["fraction"], "accuracy", "range")
            if s.empty:
                continue
            x, y, lo, hi = (s[c].to_numpy() for c in ("fraction", "mean", "lo", "hi"))
            if baseline is not None:
                x, y, lo, hi = np.r_[0, x], np.r_[baseline, y], np.r_[baseline, lo], np.r_[baseline, hi]
            color = PRUNING_COLORS.get(name, RUN_COLORS[i % len(RUN_COLORS)])
            n = int(s["count"].max())
            ax.plot(x, y, marker="o", ms=3, color=color, label=name + (f" (mean of {n}, band min-max)" if n > 1 else ""))
            if n > 1:
                ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
        if ft:
            sc = _summarise(df[df["curve"] == "scratch"], ["fraction"], "accuracy", "range")
            if not sc.empty:
                ax.plot(sc["fraction"], sc["mean"], ls="--", marker="s", ms=3, color=PRUNING_COLORS["scratch"],
                        label="pruned architecture trained from scratch")
        pr = part[part["curve"] == "paper-rule"]
        if not pr.empty:
            ax.scatter(pr["fraction"], pr["accuracy"], marker="*", s=160, color=PRUNING_COLORS["paper-rule"],
                       edgecolor="black", zorder=5, label="paper rule (Betti > threshold)")
        if baseline is not None:
            ax.axhline(baseline, color="grey", ls=":", lw=1)
        ax.set_xlabel("fraction of filters removed per layer")
        ax.set_title("after fine-tuning" if ft else "no fine-tuning")
    axes[0].set_ylabel("test accuracy")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title, x=0.02, ha="left")
    fig.tight_layout()
    return fig


def plot_pruning_sizes(sizes: pd.DataFrame, title: Optional[str] = None):
    """Parameters, saved bytes and CPU latency (median with IQR bars, batch 1 and 256) per fraction.

    Parameters
    ----------
    sizes : pandas.DataFrame
        ``PruningStudy.sizes``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    cols = ["fraction", "params", "bytes", "latency_b1_ms", "latency_b1_iqr_ms", "latency_b256_ms",
            "latency_b256_iqr_ms"]
    df = _check_columns(sizes, cols, "plot_pruning_sizes", "pass PruningStudy.sizes").sort_values("fraction")
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
    x = df["fraction"]
    axes[0].plot(x, df["params"], marker="o")
    axes[0].set_title("parameters")
    axes[1].plot(x, df["bytes"] / 1024, marker="o")
    axes[1].set_title("saved file (KiB)")
    for ax, b in zip(axes[2:], (1, 256)):
        ax.errorbar(x, df[f"latency_b{b}_ms"], yerr=df[f"latency_b{b}_iqr_ms"] / 2, marker="o", capsize=3)
        ax.set_title(f"CPU latency, batch {b} (ms; bar = IQR)")
        ax.set_ylim(bottom=0)
    for ax in axes:
        ax.set_xlabel("fraction removed per layer")
    if title:
        fig.suptitle(title, x=0.02, ha="left")
    fig.tight_layout()
    return fig


