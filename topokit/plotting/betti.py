"""Betti numbers per layer, per epoch, Betti curves and parameter grids."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .. import _checks
from ._base import DIM_COLORS, RUN_COLORS, _BETA, _activation_color, _betti_str, _check_columns, _class_color, _class_name, _class_style
from .diagrams import _check_diagrams, _diagram_range

__all__ = ["plot_betti_by_layer", "plot_betti_by_epoch", "plot_betti_curves", "plot_betti_grid"]

# ----------------------------------------------------------------------------- Betti numbers


def _pad_small_range(ax) -> None:
    """Show at least 0..2 on a linear Betti axis, so a constant count does not look like noise."""
    lo, hi = ax.get_ylim()
    ax.set_ylim(min(lo, -0.3), max(hi, 2.3))


def _summarise(df: pd.DataFrame, keys: list[str], value: str, band: Optional[str]) -> pd.DataFrame:
    g = df.groupby(keys, sort=True)[value]
    out = g.agg(["mean", "min", "max", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    if band == "std":
        out["lo"], out["hi"] = out["mean"] - out["std"], out["mean"] + out["std"]
    else:
        out["lo"], out["hi"] = out["min"], out["max"]
    return out


def _betti_long(df: pd.DataFrame, keys: list[str], dims, omega: bool) -> pd.DataFrame:
    """Rows (keys..., dim, value) with dim = "omega" added when asked; replicates kept apart."""
    df = df.copy()
    df["_rep"] = df.groupby(keys + ["dim"], sort=False).cumcount()
    parts = []
    keep = df[df["dim"].isin(dims)]
    parts.append(keep[keys + ["_rep", "dim", "betti"]].rename(columns={"betti": "value"}).assign(
        panel=lambda t: t["dim"].map(lambda q: f"{_BETA}{int(q)}")))
    if omega:
        om = df.groupby(keys + ["_rep"], sort=False)["betti"].sum().reset_index(name="value")
        om["dim"], om["panel"] = -1, "\u03c9"
        parts.append(om)
    return pd.concat(parts, ignore_index=True)


def plot_betti_by_layer(df: pd.DataFrame, dims: Optional[Sequence[int]] = None, omega: bool = False,
                        log: bool = False, band: Optional[str] = "range", class_names=None,
                        title: Optional[str] = None, target_lines: bool = True):
    """Betti numbers against layer, per class and per activation (Naitzat et al.'s figure).

    One panel per homology dimension (plus topological complexity omega = b0 + b1 + ... when
    ``omega=True``). Classes differ by line style (:data:`CLASS_LINESTYLES`); when ``df`` has an
    ``activation`` column, activations differ by colour (:data:`ACTIVATION_COLORS`), else the
    class colour is used. Rows repeating the same (activation, label, layer, dim) -- several
    seeds or nets -- are averaged and a band shows their spread.

    Parameters
    ----------
    df : pandas.DataFrame
        :func:`topokit.topology.layer_betti` output (columns ``layer``, ``label``, ``dim``,
        ``betti``; ``layer_name`` and ``activation`` optional), possibly concatenated over
        activations and seeds. One epoch only.
    dims : list of int, optional
        Dimensions to show; default all in ``df``.
    omega : bool, default False
        Add a panel for omega (summed over the dimensions present in ``df``).
    log : bool, default False
        Symmetric-log y axis (linear below 1), for Betti numbers spanning decades.
    band : {"range", "std", None}, default "range"
        Spread over replicates: min-max, mean +- one standard deviation, or none.
    class_names : mapping or sequence, optional
        Legend name per label, e.g. ``Dataset.classes``.
    title : str, optional
        Figure title.
    target_lines : bool, default True
        Dotted grey line at what a well-trained net reaches: b0 = 1, higher Betti numbers 0.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per panel.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    hint = "pass topokit.topology.layer_betti(...) output"
    df = _check_columns(df, ["layer", "label", "dim", "betti"], "plot_betti_by_layer", hint)
    if "epoch" in df.columns and df["epoch"].nunique() > 1:
        raise ValueError(
            f"df holds {df['epoch'].nunique()} epochs; select one (df[df.epoch == e]) or use plot_betti_by_epoch"
        )
    if band not in ("range", "std", None):
        raise ValueError(f"band must be 'range', 'std' or None, got {band!r}")
    present = sorted(int(q) for q in df["dim"].unique())
    dims = present if dims is None else [int(q) for q in dims]
    missing = [q for q in dims if q not in present]
    if missing or not dims:
        raise ValueError(f"dims {dims} not all in the DataFrame, which has dims {present}")
    has_act = "activation" in df.columns
    keys = (["activation"] if has_act else []) + ["label", "layer"]
    long = _betti_long(df, keys, dims, omega)
    summary = _summarise(long, keys + ["dim", "panel"], "value", band)
    panels = [f"{_BETA}{q}" for q in dims] + (["\u03c9"] if omega else [])
    names = {}
    if "layer_name" in df.columns:
        names = df.drop_duplicates("layer").set_index("layer")["layer_name"].to_dict()

    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 0.6, 3.4), squeeze=False)
    axes = axes[0]
    activations = list(dict.fromkeys(df["activation"])) if has_act else [None]
    labels = sorted(df["label"].unique().tolist())
    for ax, panel in zip(axes, panels):
        part = summary[summary["panel"] == panel]
        for ai, act in enumerate(activations):
            for li, label in enumerate(labels):
                sel = part[(part["label"] == label) & ((part["activation"] == act) if has_act else True)]
                if sel.empty:
                    continue
                color = _activation_color(act, ai) if has_act else _class_color(label, li)
                ls = _class_style(label, li)
                ax.plot(sel["layer"], sel["mean"], color=color, ls=ls, marker="o", ms=3)
                if band and (sel["count"] > 1).any():
                    ax.fill_between(sel["layer"], sel["lo"], sel["hi"], color=color, alpha=0.15, lw=0)
        if target_lines and panel != "\u03c9":
            ax.axhline(1 if panel == f"{_BETA}0" else 0, color="grey", ls=":", lw=1, zorder=0)
        layers = sorted(part["layer"].unique().tolist())
        ax.set_xticks(layers)
        if names:
            ax.set_xticklabels([str(names.get(v, v)) for v in layers], rotation=60, ha="right", fontsize=7)
        ax.set_xlabel("layer")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(panel if panel == "\u03c9" else f"{panel} per layer")
        if log:
            ax.set_yscale("symlog", linthresh=1)
            ax.set_ylim(bottom=0)
        else:
            _pad_small_range(ax)
    axes[0].set_ylabel("Betti number")
    handles = []
    if has_act:
        handles += [Line2D([], [], color=_activation_color(a, i), label=str(a)) for i, a in enumerate(activations)]
    handles += [Line2D([], [], color="grey" if has_act else _class_color(lab, i), ls=_class_style(lab, i),
                       label=_class_name(lab, class_names)) for i, lab in enumerate(labels)]
    n_rep = int(summary["count"].max())
    if band and n_rep > 1:
        handles.append(Line2D([], [], color="grey", lw=6, alpha=0.2,
                              label=f"mean of {n_rep}, band {'min-max' if band == 'range' else '+-1 sd'}"))
    axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title, x=0.02, ha="left")
    fig.tight_layout()
    return fig


def plot_betti_by_epoch(df: pd.DataFrame, dims: Optional[Sequence[int]] = None, layers: Optional[Sequence[int]] = None,
                        log: bool = False, class_names=None, title: Optional[str] = None, cmap: str = "viridis"):
    """Betti numbers against epoch: one line per layer (colour ramp input -> logits), per class.

    Parameters
    ----------
    df : pandas.DataFrame
        The recorder's frame (:class:`topokit.topology.TopologyRecorder`): the
        :func:`~topokit.topology.layer_betti` columns plus ``epoch``. Repeated rows (several
        seeds) are averaged.
    dims : list of int, optional
        Dimensions to show (one column of panels each); default all.
    layers : list of int, optional
        Layers to draw; default all.
    log : bool, default False
        Symmetric-log y axis.
    class_names : mapping or sequence, optional
        Row title per label.
    title : str, optional
        Figure title.
    cmap : str, default "viridis"
        Colour ramp over layers.

    Returns
    -------
    matplotlib.figure.Figure
        A grid of ``n_labels x n_dims`` axes plus one colour bar axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm
    from matplotlib.ticker import MaxNLocator

    hint = "pass the recorder's .frame (TopologyRecorder / betti_callback)"
    df = _check_columns(df, ["epoch", "layer", "label", "dim", "betti"], "plot_betti_by_epoch", hint)
    present = sorted(int(q) for q in df["dim"].unique())
    dims = present if dims is None else [int(q) for q in dims]
    if not dims or any(q not in present for q in dims):
        raise ValueError(f"dims {dims} not all in the DataFrame, which has dims {present}")
    all_layers = sorted(int(v) for v in df["layer"].unique())
    layers = all_layers if layers is None else [int(v) for v in layers]
    if not layers or any(v not in all_layers for v in layers):
        raise ValueError(f"layers {layers} not all in the DataFrame, which has layers {all_layers}")
    summary = df[df["dim"].isin(dims) & df["layer"].isin(layers)].groupby(
        ["label", "dim", "layer", "epoch"])["betti"].mean().reset_index()
    labels = sorted(df["label"].unique().tolist())
    ramp = colormaps[cmap]
    norm = BoundaryNorm(np.arange(min(all_layers) - 0.5, max(all_layers) + 1.5), ramp.N)
    fig, axes = plt.subplots(len(labels), len(dims), figsize=(3.6 * len(dims) + 1.2, 2.8 * len(labels)),
                             squeeze=False, sharex=True)
    for r, label in enumerate(labels):
        for c, q in enumerate(dims):
            ax = axes[r, c]
            part = summary[(summary["label"] == label) & (summary["dim"] == q)]
            for layer in layers:
                sel = part[part["layer"] == layer]
                ax.plot(sel["epoch"], sel["betti"], color=ramp(norm(layer)), marker="o", ms=2.5, lw=1.2)
            ax.axhline(1 if q == 0 else 0, color="grey", ls=":", lw=1, zorder=0)
            ax.set_title(f"{_class_name(label, class_names)}: {_BETA}{q}")
            if log:
                ax.set_yscale("symlog", linthresh=1)
                ax.set_ylim(bottom=0)
            else:
                _pad_small_range(ax)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            if r == len(labels) - 1:
                ax.set_xlabel("epoch")
            if c == 0:
                ax.set_ylabel("Betti number")
    fig.tight_layout(rect=(0, 0, 0.9, 0.95 if title else 1))
    cax = fig.add_axes((0.92, 0.15, 0.015, 0.7), label="colorbar")
    cb = fig.colorbar(ScalarMappable(norm=norm, cmap=ramp), cax=cax)
    cb.set_label("layer (0 = input)")
    step = max(1, len(all_layers) // 6)
    cb.set_ticks(all_layers[::step])
    if title:
        fig.suptitle(title, x=0.02, ha="left")
    return fig


def plot_betti_curves(diagrams, names: Optional[Sequence[str]] = None, scale: Optional[float] = None,
                      grid: Optional[Sequence[float]] = None, truth: Optional[Sequence[Sequence[int]]] = None,
                      ncols: int = 5, title: Optional[str] = None, panel_size: float = 2.6):
    """Betti curves of several diagrams: the number of bars alive at each filtration value.

    A Betti curve counts, for every scale ``t``, the bars with ``birth <= t < death``
    (:func:`topokit.topology.betti_curve`); its value at a scale is the Betti numbers read
    there. All panels use the same grid, so they can be compared.

    Parameters
    ----------
    diagrams : list of array-like, each (m, 3)
        Rows ``[birth, death, dim]``.
    names : list of str, optional
        Panel titles.
    scale : float, optional
        Draw a dashed vertical line at this scale and write the Betti numbers read there.
    grid : sequence of float, optional
        Filtration values; default 200 points from 0 to the largest finite value.
    truth : list of tuple, optional
        Known Betti numbers per diagram, added to the panel titles; each panel then shows (and
        reads) the dimensions 0 .. len(truth) - 1 only.
    ncols : int, default 5
        Panels per row.
    title : str, optional
        Figure title.
    panel_size : float, default 2.6
        Inches per panel.

    Returns
    -------
    matplotlib.figure.Figure
        With exactly ``len(diagrams)`` axes, one line per homology dimension in each.
    """
    import matplotlib.pyplot as plt

    from ..topology import betti_curve

    diagrams, names = _check_diagrams(diagrams, names)
    ncols = _checks.integer(ncols, "ncols", minimum=1, fix="a number of panels per row")
    if truth is not None and len(truth) != len(diagrams):
        raise ValueError(f"got {len(truth)} truth tuples for {len(diagrams)} diagrams")
    if scale is not None and not (isinstance(scale, (int, float, np.number)) and np.isfinite(scale)):
        raise ValueError(f"scale must be a finite number, got {scale!r}")
    dims = sorted({int(v) for d in diagrams for v in d[:, 2]}) or [0]
    low, high, _ = _diagram_range(diagrams)
    if grid is None:
        grid = np.linspace(max(low, 0.0), high, 200)
    grid = np.asarray(grid, dtype=float).reshape(-1)
    if grid.size == 0 or not np.isfinite(grid).all():
        raise ValueError("grid must be a non-empty sequence of finite numbers")
    ncols = min(int(ncols), len(diagrams))
    nrows = int(np.ceil(len(diagrams) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * 0.85 * nrows + 0.4),
                             squeeze=False, sharex=True)
    flat = axes.ravel()
    for i, (ax, d, name) in enumerate(zip(flat, diagrams, names)):
        own = list(range(len(truth[i]))) if truth is not None else dims
        curves = betti_curve(d, grid, max_dim=max(own))
        for q in own:
            ax.step(grid, curves[q], where="post", color=DIM_COLORS.get(q, RUN_COLORS[q % len(RUN_COLORS)]),
                    label=f"{_BETA}{q}")
        text = name if truth is None else f"{name}\ntrue {_BETA} = {_betti_str(truth[i])}"
        if scale is not None:
            ax.axvline(scale, color="grey", ls="--", lw=1)
            read = betti_curve(d, [scale], max_dim=max(own))[:, 0]
            text += f"\nat {scale:g}: {_betti_str(read)}"
        ax.set_title(text, fontsize=8)
        ax.set_yscale("symlog", linthresh=2)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("scale")
    for ax in flat[len(diagrams):]:
        ax.remove()
    for ax in axes[:, 0]:
        ax.set_ylabel("bars alive")
    flat[0].legend(loc="upper right")
    if title:
        fig.suptitle(title, x=0.02, ha="left")
    fig.tight_layout()
    return fig


def plot_betti_grid(df: pd.DataFrame, x: str = "scale", y: str = "k", truth: Optional[Mapping] = None,
                    by: Optional[str] = "label", class_names=None, title: Optional[str] = None):
    """Betti numbers over a grid of two parameters (e.g. k and the scale), right answers marked.

    Each cell shows the Betti numbers computed with that pair of parameters; with ``truth``
    given, cells equal to the known answer are green, the others grey.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per parameter pair (and per ``by`` value): columns ``x``, ``y`` and ``betti``
        (a tuple of ints, as from :func:`topokit.topology.betti_numbers`).
    x, y : str, default "scale" and "k"
        Columns for the horizontal and vertical axes.
    truth : mapping, optional
        ``by`` value -> known Betti numbers (e.g. ``Dataset.betti``); with ``by=None`` a
        mapping with the single key ``None``, or the tuple itself.
    by : str or None, default "label"
        One panel per value of this column; None for a single panel.
    class_names : mapping or sequence, optional
        Panel titles per ``by`` value.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per panel.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    required = [x, y, "betti"] + ([by] if by is not None else [])
    df = _check_columns(df, required, "plot_betti_grid", "pass one row per parameter pair with a 'betti' tuple")
    groups = [None] if by is None else sorted(df[by].unique().tolist())
    if truth is not None and not isinstance(truth, Mapping):
        truth = {None: tuple(truth)} if by is None else None
        if truth is None:
            raise ValueError("truth must map each value of the 'by' column to its Betti numbers")
    xs, ys = sorted(df[x].unique().tolist()), sorted(df[y].unique().tolist())
    fig, axes = plt.subplots(1, len(groups), figsize=(0.95 * len(xs) * len(groups) + 1.5 * len(groups), 0.42 * len(ys) + 1.4),
                             squeeze=False)
    cmap = ListedColormap(["#eeeeee", "#9fd8a4"])
    for ax, g in zip(axes[0], groups):
        part = df if g is None else df[df[by] == g]
        want = None if truth is None else truth.get(g)
        hit = np.zeros((len(ys), len(xs)))
        for _, row in part.iterrows():
            i, j = ys.index(row[y]), xs.index(row[x])
            b = tuple(int(v) for v in row["betti"])
            ok = want is not None and tuple(want) == b
            hit[i, j] = ok
            ax.text(j, i, _betti_str(b), ha="center", va="center", fontsize=7, fontweight="bold" if ok else "normal")
        ax.imshow(hit, cmap=cmap, vmin=0, vmax=1, aspect="auto", origin="lower")
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels([f"{v:g}" if isinstance(v, float) else str(v) for v in xs])
        ax.set_yticks(range(len(ys)))
        ax.set_yticklabels([str(v) for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.grid(False)
        name = "" if g is None else _class_name(g, class_names)
        ax.set_title(f"{name}{': ' if name else ''}true {_BETA} = {_betti_str(want)}" if want is not None else name)
    if title:
        fig.suptitle(title, x=0.02, ha="left")
    fig.tight_layout()
    return fig


