"""Figures for the notebooks: datasets, training curves, persistence diagrams, Betti numbers.

One style everywhere: :func:`set_style` sets a small matplotlib rc; colours are fixed per class
(:data:`CLASS_COLORS`), per activation (:data:`ACTIVATION_COLORS`) and per homology dimension
(:data:`DIM_COLORS`), in matplotlib and plotly alike (Okabe-Ito, readable by colour-blind
readers); classes are told apart by line style (:data:`CLASS_LINESTYLES`) where colour encodes
something else. Static figures are matplotlib, interactive ones (a slider over layers) plotly.

Every figure is written with :func:`save_figure`, atomically, into :func:`figures_dir`:
``figures/`` (or ``$TOPOKIT_FIGURES``), and its ``quick/`` subfolder in quick mode so that a
quick CI run never overwrites a full run's figures.

The functions are thin: they validate their inputs (``ValueError`` with the fix), draw with
matplotlib or plotly directly and return the figure; nothing is computed here that
:mod:`topokit.topology` should compute.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .fileio import atomic_path, quick_mode

__all__ = [
    "CLASS_COLORS",
    "CLASS_LINESTYLES",
    "ACTIVATION_COLORS",
    "DIM_COLORS",
    "RUN_COLORS",
    "STYLE",
    "figures_dir",
    "save_figure",
    "set_style",
    "plot_dataset",
    "plot_training_curves",
    "plot_diagrams_interactive",
    "plot_diagrams_grid",
    "plot_betti_by_layer",
    "plot_point_clouds",
    "plot_betti_by_epoch",
    "plot_betti_curves",
    "plot_betti_grid",
    "VERDICT_COLORS",
    "plot_verdicts",
    "PRUNING_COLORS",
    "plot_filter_scores",
    "plot_pruning_curves",
    "plot_pruning_sizes",
    "plot_activation_family",
    "plot_selection_tradeoff",
    "plot_km_curves",
    "plot_speedup_forest",
    "plot_rank_scatter",
    "family_explorer",
]

PROJECT_FIGURES = Path(__file__).resolve().parent.parent / "figures"

#: Colour of each class label (Okabe-Ito blue and vermillion).
CLASS_COLORS = {0: "#0072B2", 1: "#D55E00"}
#: Line style of each class where colour encodes something else (matplotlib and plotly names).
CLASS_LINESTYLES = {0: "-", 1: "--"}
_PLOTLY_DASH = {"-": "solid", "--": "dash", ":": "dot", "-.": "dashdot"}
#: Colour of each activation function (names of :mod:`topokit.activations`).
ACTIVATION_COLORS = {
    "relu": "#D55E00",
    "leaky_relu": "#E69F00",
    "tanh": "#0072B2",
    "sigmoid": "#56B4E9",
    "gelu": "#009E73",
    "silu": "#CC79A7",
    "clipped_relu": "#000000",
    "topo": "#009E73",  # bluish green, shared with gelu (never drawn together)
}
#: Colour of each homology dimension H0, H1, H2, H3.
DIM_COLORS = {0: "#0072B2", 1: "#D55E00", 2: "#009E73", 3: "#CC79A7"}
#: Colours for runs, seeds and anything else without a fixed colour, in order.
RUN_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999")
#: The matplotlib rc that :func:`set_style` applies.
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.6,
    "image.cmap": "viridis",
}
_PLOTLY_TEMPLATE = "plotly_white"
_PLOTLY_FONT = dict(family="DejaVu Sans, Arial, sans-serif", size=12)
_SAVE_FORMATS = {"matplotlib": ("png", "pdf", "svg"), "plotly": ("html",)}
_DEFAULT_FORMATS = {"matplotlib": ("png", "pdf"), "plotly": ("html",)}
_BETA = "\u03b2"


# ----------------------------------------------------------------------------- style and files


def set_style() -> None:
    """Apply the project's matplotlib style (:data:`STYLE`); call once per notebook."""
    import matplotlib as mpl

    mpl.rcParams.update(STYLE)


def figures_dir(quick: Optional[bool] = None) -> Path:
    """The folder figures are written to, created if needed.

    ``$TOPOKIT_FIGURES`` if set, else the project's ``figures/`` folder; in quick mode
    (``quick=True``, or ``TOPOKIT_QUICK=1`` when ``quick`` is None) its ``quick/`` subfolder, so
    a quick run never overwrites a full run's figures.

    Parameters
    ----------
    quick : bool, optional
        Quick mode; default from the ``TOPOKIT_QUICK`` environment variable.

    Returns
    -------
    pathlib.Path
    """
    env = os.environ.get("TOPOKIT_FIGURES", "").strip()
    base = Path(env).expanduser() if env else PROJECT_FIGURES
    folder = base / "quick" if quick_mode(quick) else base
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _kind(fig) -> str:
    from matplotlib.figure import Figure

    if isinstance(fig, Figure):
        return "matplotlib"
    try:
        import plotly.graph_objects as go

        if isinstance(fig, go.Figure):
            return "plotly"
    except ImportError:  # pragma: no cover - plotly is a dependency
        pass
    raise ValueError(
        f"save_figure takes a matplotlib Figure or a plotly Figure, got {type(fig).__name__}; "
        "for an Axes pass ax.figure"
    )


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"figure name must be a non-empty string, got {name!r}")
    if "/" in name or "\\" in name or os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"figure name {name!r} must not contain path separators; pass directory= instead")
    if name in (".", "..") or "\x00" in name or name != name.strip():
        raise ValueError(f"figure name {name!r} is not a valid file name")
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix in ("png", "pdf", "svg", "html"):
        raise ValueError(f"figure name {name!r} must not carry an extension; pass formats=[{suffix!r}] instead")
    return name


def save_figure(fig, name: str, formats: Optional[Sequence[str]] = None, directory=None) -> list[Path]:
    """Write a figure atomically: matplotlib as PNG (150 dpi) and PDF, plotly as HTML.

    Every file is first written to a temporary file in the target folder, and only when all of
    them are written are they moved into place with ``os.replace``. If any write fails, the
    temporary files are removed and files from an earlier save are left untouched.

    Parameters
    ----------
    fig : matplotlib.figure.Figure or plotly.graph_objects.Figure
        The figure.
    name : str
        File name without extension, e.g. ``"02_betti_by_layer"``; no path separators.
    formats : sequence of str, optional
        Default ``("png", "pdf")`` for matplotlib (``"svg"`` also allowed) and ``("html",)``
        for plotly: a page that loads ``plotly.min.js`` from its own folder, where one copy is
        written for all the interactive figures (about 4.6 MB, instead of a copy in every
        page); the folder opens offline as it is.
    directory : path, optional
        Default :func:`figures_dir`.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of ``formats``.

    Raises
    ------
    ValueError
        A bad name, an unknown figure type or a format that this kind of figure cannot be saved as.
    """
    kind = _kind(fig)
    name = _check_name(name)
    if formats is None:
        formats = _DEFAULT_FORMATS[kind]
    if isinstance(formats, str):
        formats = [formats]
    formats = [str(f).lower().lstrip(".") for f in formats]
    if not formats:
        raise ValueError("formats is empty; pass e.g. ['png'] or leave it out for the defaults")
    bad = [f for f in formats if f not in _SAVE_FORMATS[kind]]
    if bad:
        raise ValueError(f"a {kind} figure cannot be saved as {bad}; choose from {list(_SAVE_FORMATS[kind])}")
    folder = Path(directory) if directory is not None else figures_dir()
    folder.mkdir(parents=True, exist_ok=True)

    finals = [folder / f"{name}.{fmt}" for fmt in dict.fromkeys(formats)]
    if kind == "plotly":
        _write_plotlyjs(folder)
    with contextlib.ExitStack() as stack:  # all files or none: a failure replaces nothing
        for final in finals:
            tmp = str(stack.enter_context(atomic_path(final)))
            if kind == "matplotlib":
                fig.savefig(tmp, format=final.suffix[1:], dpi=150)
            else:
                fig.write_html(tmp, include_plotlyjs=PLOTLYJS, full_html=True)
    return finals


#: The file name of the one copy of plotly.js that interactive figures in a folder share.
PLOTLYJS = "plotly.min.js"


def _write_plotlyjs(folder: Path) -> Path:
    """Put plotly.js beside the HTML figures (once per folder, replaced when plotly changes)."""
    from plotly.offline import get_plotlyjs

    path = folder / PLOTLYJS
    js = get_plotlyjs().encode("utf-8")
    if not path.exists() or path.stat().st_size != len(js) or path.read_bytes() != js:
        with atomic_path(path) as tmp:
            tmp.write_bytes(js)
    return path


# ----------------------------------------------------------------------------- helpers


def _betti_str(b) -> str:
    return "(" + ", ".join(str(int(v)) for v in b) + ")"


def _class_name(label, class_names) -> str:
    if class_names is not None:
        try:
            return str(class_names[label])
        except (KeyError, IndexError, TypeError):
            pass
    return f"class {label}"


def _class_color(label, i: int = 0) -> str:
    try:
        return CLASS_COLORS[int(label)]
    except (KeyError, TypeError, ValueError):
        return RUN_COLORS[i % len(RUN_COLORS)]


def _class_style(label, i: int = 0) -> str:
    styles = ["-", "--", ":", "-."]
    try:
        return CLASS_LINESTYLES[int(label)]
    except (KeyError, TypeError, ValueError):
        return styles[i % len(styles)]


def _activation_color(name, i: int) -> str:
    return ACTIVATION_COLORS.get(str(name).lower(), RUN_COLORS[i % len(RUN_COLORS)])


def _check_columns(df, required: Sequence[str], what: str, hint: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{what} needs a pandas DataFrame, got {type(df).__name__}; {hint}")
    if df.empty:
        raise ValueError(f"{what} got an empty DataFrame; {hint}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {list(required)}; missing {missing} (has {list(df.columns)}); {hint}")
    return df


# ----------------------------------------------------------------------------- datasets


def _image_montage(X: np.ndarray, y: np.ndarray, per_class: int, rng) -> tuple[np.ndarray, list]:
    labels = sorted(np.unique(y).tolist())
    rows = []
    for label in labels:
        idx = np.flatnonzero(y == label)
        idx = np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
        ims = X[idx].astype(np.float64)  # (m, c, h, w)
        lo = ims.reshape(len(ims), -1).min(axis=1)[:, None, None, None]
        hi = ims.reshape(len(ims), -1).max(axis=1)[:, None, None, None]
        ims = (ims - lo) / np.where(hi > lo, hi - lo, 1.0)
        ims = ims.transpose(0, 2, 3, 1)  # (m, h, w, c)
        pad = np.ones((per_class - len(ims),) + ims.shape[1:])
        ims = np.concatenate([ims, pad]) if len(pad) else ims
        gap = np.ones((ims.shape[1], 1, ims.shape[3]))
        rows.append(np.concatenate([np.concatenate([im, gap], axis=1) for im in ims], axis=1))
    gap = np.ones((1,) + rows[0].shape[1:])
    montage = np.concatenate([np.concatenate([r, gap], axis=0) for r in rows], axis=0)
    return (montage[..., 0] if montage.shape[-1] == 1 else montage), labels


def plot_dataset(ds, ax=None, max_points: int = 5000, per_class: int = 8, seed: int = 0):
    """Scatter a synthetic dataset coloured by class, or show sample images of an image set.

    Parameters
    ----------
    ds : topokit.data.Dataset
        2-D or 3-D point cloud (``X`` of shape ``(n, 2)`` or ``(n, 3)``), or images
        ``(n, c, h, w)``.
    ax : matplotlib Axes, optional
        Where to draw; a 3-D dataset needs a 3-D axes (``projection="3d"``). Default: a new
        figure.
    max_points : int, default 5000
        Points drawn at most (a seeded subsample), so 3-D scatters stay readable.
    per_class : int, default 8
        Images per class (one row per class) for image sets.
    seed : int, default 0
        Seed of the subsample.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the plot; the title gives the ground-truth Betti numbers per class.
    """
    import matplotlib.pyplot as plt

    X = getattr(ds, "X", None)
    y = getattr(ds, "y", None)
    if X is None or y is None:
        raise ValueError(f"plot_dataset needs a topokit Dataset (with X and y), got {type(ds).__name__}")
    X, y = np.asarray(X), np.asarray(y).reshape(-1)
    if len(X) == 0 or len(X) != len(y):
        raise ValueError(f"dataset has {len(X)} points and {len(y)} labels; need a non-empty, matching pair")
    name = getattr(ds, "name", "dataset")
    classes = getattr(ds, "classes", None)
    rng = np.random.default_rng(seed)

    if X.ndim == 4:
        montage, labels = _image_montage(X, y, int(per_class), rng)
        if ax is None:
            fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * per_class), 0.9 * len(labels) + 0.8))
        ax.imshow(montage, cmap="gray" if montage.ndim == 2 else None, interpolation="nearest")
        h = montage.shape[0] / len(labels)
        ax.set_yticks([(i + 0.5) * h for i in range(len(labels))])
        ax.set_yticklabels([_class_name(lab, classes) for lab in labels])
        ax.set_xticks([])
        ax.grid(False)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        ax.set_title(f"{name} ({getattr(ds, 'split', '')}): {per_class} samples per class")
        return ax.figure

    if X.ndim != 2 or X.shape[1] not in (2, 3):
        raise ValueError(f"plot_dataset draws 2-D or 3-D point clouds or images (n, c, h, w); X has shape {X.shape}")
    three_d = X.shape[1] == 3
    if ax is None:
        fig = plt.figure(figsize=(4.5, 4.5))
        ax = fig.add_subplot(projection="3d" if three_d else None)
    elif three_d != (getattr(ax, "name", "") == "3d"):
        raise ValueError(
            f"{name} is {X.shape[1]}-D but the axes is {'3-D' if ax.name == '3d' else '2-D'}; "
            f"create it with fig.add_subplot(projection={'3d' if three_d else None!r})"
        )
    idx = np.arange(len(X))
    if len(X) > max_points:
        idx = np.sort(rng.choice(len(X), size=int(max_points), replace=False))
    size = max(0.5, min(8.0 if three_d else 6.0, 4000.0 / len(idx)))
    betti = getattr(ds, "betti", None) or {}
    for i, label in enumerate(sorted(np.unique(y).tolist())):
        sel = idx[y[idx] == label]
        text = _class_name(label, classes)
        if label in betti:
            text += f" {_BETA}={_betti_str(betti[label])}"
        ax.scatter(*X[sel].T, s=size, color=_class_color(label, i), label=text, alpha=0.8 if three_d else 0.9,
                   linewidths=0, rasterized=True)
    if betti:
        lines = "  ".join(f"{_BETA}({_class_name(k, classes)}) = {_betti_str(v)}" for k, v in sorted(betti.items()))
        ax.set_title(f"{name}\n{lines}", fontsize=9)
    else:
        ax.set_title(name)
    if not three_d:
        ax.set_aspect("equal")
        ax.grid(False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02 if three_d else -0.06), ncol=2, markerscale=4,
              fontsize=7)
    return ax.figure


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
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    ncols = min(int(ncols), len(diagrams))
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

    from .topology import betti_curve

    diagrams, names = _check_diagrams(diagrams, names)
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
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


# ----------------------------------------------------------------------------- point clouds


def plot_point_clouds(outputs, y, layers: Optional[Sequence[int]] = None, layer_names: Optional[Sequence[str]] = None,
                      n_components: int = 3, max_points: int = 2000, class_names=None, seed: int = 0,
                      title: Optional[str] = None):
    """Layer activations as point clouds coloured by class, with a plotly layer slider.

    Layers wider than ``n_components`` are projected by PCA (scikit-learn, fitted per layer on
    the drawn points of both classes; the frame title gives the variance kept); narrower ones
    are padded with zeros. Each frame sets its own axis ranges, since layers differ in scale.

    Parameters
    ----------
    outputs : list of array-like
        :func:`topokit.topology.layer_outputs` result: one ``(n, ...)`` array per layer
        (flattened per point), input first.
    y : array-like, shape (n,)
        Class labels.
    layers : list of int, optional
        Which layers to show; default all.
    layer_names : list of str, optional
        Names of all layers in ``outputs`` (e.g. :func:`topokit.topology.layer_names`).
    n_components : {2, 3}, default 3
        2-D scatter or 3-D scatter.
    max_points : int, default 2000
        Points drawn per layer at most (the same seeded subsample in every layer).
    class_names : mapping or sequence, optional
        Legend names, e.g. ``Dataset.classes``.
    seed : int, default 0
        Seed of the subsample.
    title : str, optional
        Figure title; the layer is appended.

    Returns
    -------
    plotly.graph_objects.Figure
        One trace per class; one frame per shown layer.
    """
    import plotly.graph_objects as go
    from sklearn.decomposition import PCA

    if outputs is None or len(outputs) == 0:
        raise ValueError("outputs is empty; pass topokit.topology.layer_outputs(model, X)")
    if n_components not in (2, 3):
        raise ValueError(f"n_components must be 2 or 3, got {n_components!r}")
    y = np.asarray(y).reshape(-1)
    clouds = []
    for i, out in enumerate(outputs):
        a = np.asarray(out, dtype=float)
        a = a.reshape(len(a), -1) if a.ndim != 1 else a[:, None]
        if len(a) != len(y):
            raise ValueError(f"layer {i} has {len(a)} points but y has {len(y)} labels")
        if not np.isfinite(a).all():
            raise ValueError(f"layer {i} has NaN/inf activations")
        clouds.append(a)
    if len(y) == 0:
        raise ValueError("y is empty; pass at least one point")
    if layer_names is None:
        layer_names = [f"layer {i}" for i in range(len(clouds))]
    layer_names = [str(n) for n in layer_names]
    if len(layer_names) != len(clouds):
        raise ValueError(f"got {len(layer_names)} layer_names for {len(clouds)} layers")
    layers = list(range(len(clouds))) if layers is None else [int(v) for v in layers]
    if not layers or any(v < 0 or v >= len(clouds) for v in layers):
        raise ValueError(f"layers must be indices in 0..{len(clouds) - 1}, got {layers}")
    rng = np.random.default_rng(seed)
    idx = np.arange(len(y))
    if len(y) > max_points:
        idx = np.sort(rng.choice(len(y), size=int(max_points), replace=False))
    labels = sorted(np.unique(y[idx]).tolist())
    title = title or "Layer outputs"
    axis_keys = ["x", "y", "z"][:n_components]

    frames = []
    for layer in layers:
        a = clouds[layer][idx]
        width = a.shape[1]
        note = f"{width} dims"
        if width > n_components:
            pca = PCA(n_components=n_components, random_state=seed)
            a = pca.fit_transform(a)
            kept = float(np.nansum(pca.explained_variance_ratio_)) if np.var(clouds[layer][idx]) > 0 else 1.0
            note = f"PCA {n_components} of {width} dims, {100 * kept:.0f}% variance"
        elif width < n_components:
            a = np.c_[a, np.zeros((len(a), n_components - width))]
        data = []
        for li, label in enumerate(labels):
            pts = a[y[idx] == label]
            kw = dict(mode="markers", name=_class_name(label, class_names),
                      marker=dict(size=2.5 if n_components == 3 else 4, color=_class_color(label, li), opacity=0.7))
            coords = {k: pts[:, j] for j, k in enumerate(axis_keys)}
            data.append(go.Scatter3d(**coords, **kw) if n_components == 3 else go.Scatter(**coords, **kw))
        lo, hi = a.min(axis=0), a.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        ranges = [[float(lo[j] - 0.05 * span[j]), float(hi[j] + 0.05 * span[j])] for j in range(n_components)]
        if n_components == 3:
            layout = go.Layout(title_text=f"{title}: {layer_names[layer]} ({note})",
                               scene=dict(xaxis=dict(range=ranges[0]), yaxis=dict(range=ranges[1]),
                                          zaxis=dict(range=ranges[2]), aspectmode="cube"))
        else:
            layout = go.Layout(title_text=f"{title}: {layer_names[layer]} ({note})",
                               xaxis=dict(range=ranges[0]), yaxis=dict(range=ranges[1]))
        frames.append(go.Frame(data=data, name=str(layer), layout=layout))

    fig = go.Figure(data=frames[0].data, frames=frames, layout=frames[0].layout)
    steps = [dict(method="animate", label=layer_names[layer],
                  args=[[str(layer)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                           transition=dict(duration=0))])
             for layer in layers]
    fig.update_layout(template=_PLOTLY_TEMPLATE, font=_PLOTLY_FONT, width=700, height=650,
                      sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix="layer: "), pad=dict(t=30))],
                      legend=dict(itemsizing="constant"))
    return fig


# ----------------------------------------------------------------------------- reproduction report

#: Colour of each verdict of the reproduction report.
VERDICT_COLORS = {"reproduced": "#009E73", "not reproduced": "#D55E00", "mixed": "#E69F00",
                  "not testable here": "#999999"}


def plot_verdicts(claims: pd.DataFrame, title: Optional[str] = None):
    """One row per claim: its id and source, the measured value and the verdict as a coloured box.

    ``claims`` is :func:`topokit.report.load_claims`'s table.
    """
    import matplotlib.pyplot as plt
    import textwrap

    claims = _check_columns(claims, ["claim_id", "source", "measured", "verdict"], "claims",
                            "pass topokit.report.load_claims()")
    n = len(claims)
    fig, ax = plt.subplots(figsize=(10, 0.75 * n + 0.8))
    ax.set_xlim(0, 10)
    ax.set_ylim(n, 0)
    ax.axis("off")
    for i, r in enumerate(claims.itertuples()):
        color = VERDICT_COLORS.get(r.verdict, "#999999")
        ax.add_patch(plt.Rectangle((7.7, i + 0.12), 2.25, 0.76, color=color, alpha=0.85))
        ax.text(8.825, i + 0.5, r.verdict, ha="center", va="center", color="white", fontweight="bold", fontsize=9)
        ax.text(0.05, i + 0.5, f"{r.claim_id}\n({r.source})", va="center", fontsize=9, fontweight="bold")
        ax.text(2.3, i + 0.5, "\n".join(textwrap.wrap(str(r.measured), 70)[:3]), va="center", fontsize=8)
    if title:
        ax.set_title(title, loc="left")
    return fig


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
