"""Figures of datasets and of point clouds layer by layer."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ._base import _BETA, _PLOTLY_FONT, _PLOTLY_TEMPLATE, _betti_str, _class_color, _class_name

__all__ = ["plot_dataset", "plot_datasets", "plot_point_clouds"]

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


def plot_datasets(datasets, ncols: Optional[int] = None, panel_size: tuple = (3.0, 3.2), legend: bool = True,
                  max_points: int = 5000, seed: int = 0):
    """Several datasets side by side, one :func:`plot_dataset` panel each (3-D sets on 3-D axes).

    Parameters
    ----------
    datasets : mapping of str to topokit.data.Dataset, or sequence of Dataset
        The sets, in panel order (a mapping's keys are not drawn: each panel's title is its set's name).
    ncols : int, optional
        Panels per row (default: all in one row).
    panel_size : (float, float), default (3.0, 3.2)
        Width and height of one panel in inches.
    legend : bool, default True
        Keep each panel's class legend.
    max_points, seed
        As in :func:`plot_dataset`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from .. import _checks

    sets = list(datasets.values()) if hasattr(datasets, "values") else list(datasets)
    if not sets:
        raise ValueError("datasets is empty; pass e.g. {'D-I': data.load('D-I')}")
    ncols = len(sets) if ncols is None else _checks.integer(ncols, "ncols", minimum=1)
    ncols = min(ncols, len(sets))
    nrows = -(-len(sets) // ncols)
    if len(tuple(panel_size)) != 2:
        raise ValueError(f"panel_size must be (width, height) in inches, got {panel_size!r}")
    width, height = (_checks.real(v, "panel_size", minimum=0.5, maximum=20.0, fix="e.g. (3.0, 3.2)") for v in panel_size)
    fig = plt.figure(figsize=(width * ncols, height * nrows))
    for i, ds in enumerate(sets, 1):
        X = getattr(ds, "X", None)
        three_d = X is not None and np.ndim(X) == 2 and np.shape(X)[1] == 3
        ax = fig.add_subplot(nrows, ncols, i, projection="3d" if three_d else None)
        plot_dataset(ds, ax=ax, max_points=max_points, seed=seed)
        if not legend:
            ax.get_legend().remove()
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- point clouds


#: Layers up to this width are projected by an exact PCA (numpy's SVD); wider ones by scikit-learn's randomized PCA.
_EXACT_PCA_DIMS = 512


def _exact_pca(a: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """The first ``k`` principal components of ``a`` (rows are points) and the share of variance they keep.

    The same projection as scikit-learn's ``PCA(k, svd_solver="full")``, signs included (each
    component's largest loading on the points is positive), without importing scikit-learn (1-2 s
    of a notebook's warm rerun) or its randomized solver's QR steps (0.03-0.14 s a layer here).
    """
    c = a - a.mean(axis=0)
    u, s, _ = np.linalg.svd(c, full_matrices=False)
    u = u * np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])])
    var = s ** 2
    return u[:, :k] * s[:k], float(var[:k].sum() / var.sum()) if var.sum() > 0 else 1.0


def plot_point_clouds(outputs, y, layers: Optional[Sequence[int]] = None, layer_names: Optional[Sequence[str]] = None,
                      n_components: int = 3, max_points: int = 2000, class_names=None, seed: int = 0,
                      title: Optional[str] = None):
    """Layer activations as point clouds coloured by class, with a plotly layer slider.

    Layers wider than ``n_components`` are projected by PCA (exact, by numpy's SVD, up to 512 dims;
    scikit-learn's randomized PCA above), fitted per layer on
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
            if width <= _EXACT_PCA_DIMS:
                a, kept = _exact_pca(a, n_components)
            else:
                from sklearn.decomposition import PCA

                pca = PCA(n_components=n_components, svd_solver="randomized", random_state=seed)
                a = pca.fit_transform(a)
                kept = float(np.nansum(pca.explained_variance_ratio_))
            kept = kept if np.var(clouds[layer][idx]) > 0 else 1.0
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


