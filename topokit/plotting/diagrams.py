"""Persistence diagrams per layer (static and interactive)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .. import _checks
from ._base import DIM_COLORS, RUN_COLORS, _PLOTLY_FONT, _PLOTLY_TEMPLATE

__all__ = ["plot_diagrams_interactive", "plot_diagrams_grid"]

# ----------------------------------------------------------------------------- diagrams


def _check_diagrams(diagrams, layer_names) -> tuple[list[np.ndarray], list[str]]:
    if isinstance(diagrams, np.ndarray) and diagrams.ndim == 2:
        raise ValueError("diagrams must be a list of (m, 3) arrays, one per layer; wrap a single diagram as [diagram]")
    if diagrams is None or len(diagrams) == 0:
        raise ValueError("diagrams is empty; pass a list of (m, 3) arrays [birth, death, dim], one per layer")
    out = []
    for i, d in enumerate(diagrams):
        d = np.asarray(d, dtype=float)
        if d.size == 0:
            d = d.reshape(0, 3)
        if d.ndim != 2 or d.shape[1] != 3:
            raise ValueError(f"diagram {i} has shape {d.shape}; each must be (m, 3) with rows [birth, death, dim]")
        if np.isnan(d).any() or not np.isfinite(d[:, [0, 2]]).all():
            raise ValueError(f"diagram {i} has NaN values or an infinite birth/dim; only deaths may be inf")
        if (d[:, 2] < 0).any() or (d[:, 2] != np.round(d[:, 2])).any():
            raise ValueError(f"diagram {i} has dimensions {np.unique(d[:, 2])}; dims must be non-negative integers")
        if (d[:, 1] < d[:, 0]).any():
            raise ValueError(f"diagram {i} has bars dying before they are born (death < birth)")
        out.append(d)
    if layer_names is None:
        layer_names = [f"layer {i}" for i in range(len(out))]
    layer_names = [str(n) for n in layer_names]
    if len(layer_names) != len(out):
        raise ValueError(f"got {len(layer_names)} layer_names for {len(out)} diagrams")
    return out, layer_names


def _diagram_range(diagrams: list[np.ndarray]) -> tuple[float, float, float]:
    """Common (low, top of finite values, level of the inf line) over all diagrams."""
    finite = np.concatenate([d[:, :2][np.isfinite(d[:, :2])] for d in diagrams] + [np.zeros(0)])
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 1.0
    if high <= low:
        high = low + 1.0
    inf_level = high + 0.1 * (high - low)
    return low, high, inf_level


def _aggregate(d: np.ndarray, dim: int, inf_level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (birth, death) points of one dimension, with their multiplicity; inf -> inf_level."""
    pts = d[d[:, 2] == dim][:, :2].copy()
    if len(pts) == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=int)
    pts[~np.isfinite(pts[:, 1]), 1] = inf_level
    uniq, counts = np.unique(pts, axis=0, return_counts=True)
    return uniq[:, 0], uniq[:, 1], counts


def _marker_size(counts, base: float, per_doubling: float) -> np.ndarray:
    return base + per_doubling * np.log2(np.maximum(counts, 1))


def plot_diagrams_interactive(diagrams, layer_names: Optional[Sequence[str]] = None, title: Optional[str] = None):
    """Persistence diagrams of every layer in one plotly figure with a layer slider.

    One animation frame per layer; H0, H1, H2, ... in :data:`DIM_COLORS`; bars that never die
    (death ``inf``) sit on a dashed "inf" line above the largest finite value. All frames share
    the axis range. Identical points (common with hop distances, which are integers) are drawn
    once, the marker growing with their number; hovering shows the count.

    Parameters
    ----------
    diagrams : list of array-like, each (m, 3)
        One diagram per layer, rows ``[birth, death, dim]``
        (:func:`topokit.topology.persistence_diagram`).
    layer_names : list of str, optional
        Slider labels; default "layer 0", "layer 1", ...
    title : str, optional
        Figure title; the layer name is appended.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces: the diagonal, the inf line, then one scatter per homology dimension;
        ``len(fig.frames) == len(diagrams)``.
    """
    import plotly.graph_objects as go

    diagrams, layer_names = _check_diagrams(diagrams, layer_names)
    dims = sorted({int(v) for d in diagrams for v in d[:, 2]}) or [0]
    low, high, inf_level = _diagram_range(diagrams)
    pad = 0.05 * (inf_level - low)
    lo, hi = low - pad, inf_level + pad
    has_inf = any(np.isinf(d[:, 1]).any() for d in diagrams)
    title = title or "Persistence diagrams"

    def traces(d):
        out = [
            go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(color="grey", width=1),
                       hoverinfo="skip", showlegend=False, name="diagonal"),
            go.Scatter(x=[lo, hi], y=[inf_level, inf_level], mode="lines+text",
                       line=dict(color="grey", width=1, dash="dash"), text=["", "inf"],
                       textposition="top left", hoverinfo="skip", showlegend=False, name="inf",
                       visible=True if has_inf else "legendonly"),
        ]
        for q in dims:
            b, dth, counts = _aggregate(d, q, inf_level)
            deaths = np.where(dth == inf_level, np.inf, dth)
            out.append(go.Scatter(
                x=b, y=dth, mode="markers", name=f"H{q}",
                marker=dict(color=DIM_COLORS.get(q, RUN_COLORS[q % len(RUN_COLORS)]),
                            size=_marker_size(counts, 7, 2.5), line=dict(width=0.5, color="white")),
                customdata=np.c_[deaths, counts] if len(b) else None,
                hovertemplate=f"H{q}<br>birth %{{x:.3g}}<br>death %{{customdata[0]:.3g}}"
                              "<br>points %{customdata[1]}<extra></extra>",
            ))
        return out

    frames = [go.Frame(data=traces(d), name=str(i), layout=go.Layout(title_text=f"{title}: {name}"))
              for i, (d, name) in enumerate(zip(diagrams, layer_names))]
    fig = go.Figure(data=frames[0].data, frames=frames)
    steps = [dict(method="animate", label=name,
                  args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                       transition=dict(duration=0))])
             for i, name in enumerate(layer_names)]
    fig.update_layout(
        template=_PLOTLY_TEMPLATE, font=_PLOTLY_FONT, title_text=f"{title}: {layer_names[0]}",
        width=620, height=620,
        xaxis=dict(title="birth", range=[lo, hi], zeroline=False),
        yaxis=dict(title="death", range=[lo, hi], zeroline=False, scaleanchor="x", scaleratio=1),
        sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix="layer: "), pad=dict(t=40))],
        legend=dict(x=1.02, y=0.5),
    )
    return fig


def plot_diagrams_grid(diagrams, layer_names: Optional[Sequence[str]] = None, ncols: int = 4,
                       title: Optional[str] = None, annotate_counts: bool = True, panel_size: float = 2.4):
    """Persistence diagrams of every layer as small multiples with a common axis range.

    Parameters
    ----------
    diagrams : list of array-like, each (m, 3)
        One diagram per layer, rows ``[birth, death, dim]``.
    layer_names : list of str, optional
        Panel titles; default "layer 0", "layer 1", ...
    ncols : int, default 4
        Panels per row.
    title : str, optional
        Figure title.
    annotate_counts : bool, default True
        Write the number of identical points next to a point when a panel has few distinct
        points (hop-distance diagrams): ``"x2400"``.
    panel_size : float, default 2.4
        Inches per panel.

    Returns
    -------
    matplotlib.figure.Figure
        With exactly ``len(diagrams)`` axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    diagrams, layer_names = _check_diagrams(diagrams, layer_names)
    ncols = _checks.integer(ncols, "ncols", minimum=1, fix="a number of panels per row")
    ncols = min(ncols, len(diagrams))
    nrows = int(np.ceil(len(diagrams) / ncols))
    dims = sorted({int(v) for d in diagrams for v in d[:, 2]}) or [0]
    low, high, inf_level = _diagram_range(diagrams)
    pad = 0.05 * (inf_level - low)
    lo, hi = low - pad, inf_level + pad
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, (panel_size + 0.4) * nrows + 0.5),
                             squeeze=False, sharex=True, sharey=True)
    flat = axes.ravel()
    for ax, d, name in zip(flat, diagrams, layer_names):
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        ax.axhline(inf_level, color="grey", lw=0.8, ls="--")
        ax.text(lo + 0.02 * (hi - lo), inf_level, "inf", va="bottom", fontsize=7, color="grey")
        distinct = sum(len(_aggregate(d, q, inf_level)[0]) for q in dims)
        for q in dims:
            b, dth, counts = _aggregate(d, q, inf_level)
            ax.scatter(b, dth, s=_marker_size(counts, 10, 6), color=DIM_COLORS.get(q, RUN_COLORS[q % len(RUN_COLORS)]),
                       alpha=0.8, linewidths=0, zorder=3)
            if annotate_counts and distinct <= 12:
                for x, yv, c in zip(b, dth, counts):
                    if c > 1:
                        ax.annotate(f"\u00d7{c}", (x, yv), xytext=(4, -8), textcoords="offset points", fontsize=6,
                                    color=DIM_COLORS.get(q, "black"))
        ax.set_title(name, fontsize=9)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
    for ax in flat[len(diagrams):]:
        ax.remove()
    for i, ax in enumerate(flat[:len(diagrams)]):
        if i + ncols >= len(diagrams):  # nothing below it
            ax.set_xlabel("birth")
    for ax in axes[:, 0]:
        ax.set_ylabel("death")
    for ax in flat[:len(diagrams)]:
        ax.tick_params(labelbottom=True)
    handles = [Line2D([], [], ls="", marker="o", color=DIM_COLORS.get(q, "black"), label=f"H{q}") for q in dims]
    fig.legend(handles=handles, loc="upper right", ncol=len(dims))
    if title:
        fig.suptitle(title, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


