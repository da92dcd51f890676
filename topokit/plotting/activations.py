"""Figures of notebook 03: comparing activations and selecting the topological one."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ._base import RUN_COLORS, _activation_color, _check_columns, _class_color

__all__ = ["plot_activation_family", "plot_selection_tradeoff", "plot_km_curves", "plot_speedup_forest", "plot_rank_scatter", "family_explorer"]

# ----------------------------------------------------------------------------- activation comparison (notebook 03)

def plot_activation_family(members: Sequence, x_range: tuple = (-2.0, 2.0), highlight=None,
                           title: Optional[str] = None):
    """Graphs of members of the collapse family ``f(x) = max(x - w, 0) + s min(x + w, 0)``.

    Parameters
    ----------
    members : sequence of (w, s)
        Parameters to draw; the dead zone ``[-w, w]`` is shaded per member.
    x_range : (float, float)
    highlight : (w, s), optional
        Member drawn thick (e.g. the frozen ``topo``).
    """
    import matplotlib.pyplot as plt

    members = [(float(w), float(s)) for w, s in members]
    if not members:
        raise ValueError("members is empty; pass (w, s) pairs, e.g. [(0, 0), (0.1, -0.5)]")
    x = np.linspace(*x_range, 401)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (w, s) in enumerate(members):
        y = np.maximum(x - w, 0) + s * np.minimum(x + w, 0)
        thick = highlight is not None and (w, s) == tuple(float(v) for v in highlight)
        ax.plot(x, y, color=RUN_COLORS[i % len(RUN_COLORS)], lw=3 if thick else 1.4,
                label=f"w={w:g}, s={s:g}" + (" (topo)" if thick else ""))
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend(ncol=2)
    ax.set_title(title or "The collapse family: dead zone [-w, w], negative slope s")
    return fig


def plot_selection_tradeoff(table: pd.DataFrame, winner=None, title: Optional[str] = None):
    """Speed-up over ReLU against Betti reduction per layer, one point per family member.

    Parameters
    ----------
    table : DataFrame
        :class:`topokit.selection.Selection` ``.table`` (columns ``w, s, speedup, omega_ratio``;
        ``eligible`` optional).
    winner : (w, s), optional
        Member circled as the selected one.
    """
    import matplotlib.pyplot as plt

    _check_columns(table, ["w", "s", "speedup", "omega_ratio"], "plot_selection_tradeoff",
                   "pass selection.select_topo(...).table")
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, r in enumerate(table.itertuples()):
        face = RUN_COLORS[i % len(RUN_COLORS)] if getattr(r, "eligible", True) else "white"
        ax.scatter(r.omega_ratio, r.speedup, s=60, color=face, edgecolor=RUN_COLORS[i % len(RUN_COLORS)], zorder=3)
        ax.annotate(f"w={r.w:g}, s={r.s:g}", (r.omega_ratio, r.speedup), textcoords="offset points", xytext=(5, 4),
                    fontsize=7)
        if winner is not None and (float(r.w), float(r.s)) == tuple(float(v) for v in winner):
            ax.scatter(r.omega_ratio, r.speedup, s=260, facecolor="none", edgecolor="k", lw=1.5, zorder=4)
    ax.axhline(1, color="0.5", lw=0.8, ls="--")
    ax.set_xlabel("omega ratio: mean over layers of omega(layer) / omega(input)  (lower = faster Betti reduction)")
    ax.set_ylabel("speed-up over ReLU (KM median epochs)")
    ax.set_title(title or "Selection trade-off (hollow: not eligible; circled: selected)")
    return fig


def plot_km_curves(curves: pd.DataFrame, ncols: int = 3, title: Optional[str] = None):
    """Kaplan-Meier curves of "reached the target by epoch e", one panel per dataset.

    Parameters
    ----------
    curves : DataFrame
        Columns ``dataset, group`` (the activation), ``epoch, reached`` and optionally ``low,
        high`` (a band), as :func:`topokit.selection.km_curves` returns.
    """
    import matplotlib.pyplot as plt

    _check_columns(curves, ["dataset", "group", "epoch", "reached"], "plot_km_curves",
                   "pass topokit.selection.km_curves(runs)")
    datasets = list(dict.fromkeys(curves.dataset))
    ncols = max(1, min(int(ncols), len(datasets)))
    nrows = -(-len(datasets) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    for ax, ds in zip(axes.flat, datasets):
        d = curves[curves.dataset == ds]
        for i, (g, c) in enumerate(d.groupby("group", sort=False)):
            col = _activation_color(g, i)
            ax.step(c.epoch, c.reached, where="post", color=col, label=str(g), lw=2.2 if g == "topo" else 1.4)
            if {"low", "high"} <= set(c.columns):
                ax.fill_between(c.epoch, c.low.fillna(c.reached), c.high.fillna(c.reached), step="post",
                                color=col, alpha=0.12, lw=0)
        ax.set_title(ds)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("epoch")
        ax.set_ylabel("fraction reached target")
    for ax in list(axes.flat)[len(datasets):]:
        ax.set_visible(False)
    axes.flat[0].legend()
    fig.suptitle(title or "Reaching the training-accuracy target (Kaplan-Meier, censored runs kept)")
    fig.tight_layout()
    return fig


def plot_speedup_forest(comparison: pd.DataFrame, claimed: float = 1.5, title: Optional[str] = None):
    """Forest plot of speed-ups with 95% intervals, one row per (dataset, baseline).

    Parameters
    ----------
    comparison : DataFrame
        :func:`topokit.selection.compare` output (``dataset, baseline, speedup, low, high``).
    claimed : float, default 1.5
        The claimed speed-up, drawn as a dashed line (no effect, 1, is solid).
    """
    import matplotlib.pyplot as plt

    _check_columns(comparison, ["dataset", "baseline", "speedup", "low", "high"], "plot_speedup_forest",
                   "pass topokit.selection.compare(runs)")
    c = comparison.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7, 0.38 * len(c) + 1.2))
    ys = np.arange(len(c))[::-1]
    finite = np.concatenate([c[["low", "speedup", "high"]].to_numpy(float).ravel(), [claimed, 1.0]])
    finite = finite[np.isfinite(finite) & (finite > 0)]
    lo, hi = finite.min() / 1.3, finite.max() * 1.3
    for y, r in zip(ys, c.itertuples()):
        col = _activation_color(r.baseline, 0)
        l, h, m = (min(max(v, lo), hi) if np.isfinite(v) else hi for v in (r.low, r.high, r.speedup))
        ax.plot([l, h], [y, y], color=col, lw=2)
        ax.plot(m, y, "o", color=col)
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r.dataset} vs {r.baseline}" for r in c.itertuples()])
    ax.axvline(1.0, color="0.3", lw=1)
    ax.axvline(claimed, color="0.3", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("speed-up: baseline median epochs / topo median epochs (log scale)")
    ax.set_title(title or f"Speed-up of topo with 95% bootstrap CI (dashed: claimed {claimed:g}x)")
    return fig


def plot_rank_scatter(df: pd.DataFrame, x: str, y: str, hue: str = "activation", title: Optional[str] = None,
                      logy: bool = False):
    """Scatter of two per-run measures coloured by activation (e.g. omega ratio vs epochs).

    Parameters
    ----------
    df : DataFrame
        One row per run with columns ``x``, ``y`` and ``hue``.
    """
    import matplotlib.pyplot as plt

    _check_columns(df, [x, y, hue], "plot_rank_scatter", "pass one row per run, e.g. selection.omega_ratio(...)")
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for i, (g, d) in enumerate(df.groupby(hue, sort=False)):
        ax.scatter(d[x], d[y], s=28, color=_activation_color(g, i), label=str(g), alpha=0.85)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend()
    if title:
        ax.set_title(title)
    return fig


def family_explorer(frames: Mapping, description: str = "w"):
    """A slider over precomputed family members showing a layer's point cloud and its Betti numbers.

    Parameters
    ----------
    frames : mapping
        Parameter value -> dict with ``points`` (``(n, 2)`` array, the layer's output projected
        to 2-D), ``y`` (labels), ``betti`` (text) and ``title``; as
        :func:`topokit.selection.explorer_frames` returns. Precomputed, so the slider is instant.
    description : str
        Slider label.

    Returns
    -------
    ipywidgets.VBox
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    if not frames:
        raise ValueError("frames is empty; pass selection.explorer_frames(...)")
    values = list(frames)
    out = widgets.Output()
    slider = widgets.SelectionSlider(options=values, value=values[0], description=description,
                                     continuous_update=True)

    def draw(value):
        f = frames[value]
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(5, 4.5))
            for label in np.unique(f["y"]):
                pts = f["points"][f["y"] == label]
                ax.scatter(pts[:, 0], pts[:, 1], s=3, color=_class_color(label), label=f"class {label}")
            ax.set_title(f"{f['title']}\n{f['betti']}")
            ax.legend(markerscale=4)
            display(fig)
            plt.close(fig)

    slider.observe(lambda change: draw(change["new"]), names="value")
    draw(values[0])
    return widgets.VBox([slider, out])
