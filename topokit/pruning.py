"""Scoring CNN filters by the topology of their feature maps, and pruning them physically.

Kochar, Vengalil & Sinha (arXiv 2109.01572) prune "filters that transform data to a topological
space with large Betti numbers": "All filters with Betti numbers greater than 300 were removed
from each layer without significant reduction in accuracy. This resulted in faster prediction
time and reduced memory size of the model." Only their abstract exists, so every choice below is
ours and documented where it is made.

Any model
---------
Every function here takes a :class:`~topokit.models.LayeredNet` (built by
:func:`topokit.models.cnn`) or any other ``nn.Module`` with ``nn.Conv2d`` layers: a
:func:`topokit.models.resnet`, a user's own model (torchvision's and timm's models should work
too: only ``nn.Module`` and ``torch.fx`` are used; untested here, as torchvision does not import
with our CPU torch). Scores are keyed by conv: for a ``LayeredNet`` by its layer names
(``"conv1"``, ``"conv2"`` ...), for any other model by the convs' names in ``named_modules()``
(``"conv1"``, ``"layer1.0.conv2"``, ``"layer2.0.downsample.0"`` ...).

Scores (:func:`filter_scores`)
------------------------------
The *feature map* of a filter is its output channel at a point of the network:

- **LayeredNet** (as always): after the activation (conv -> batch norm -> activation), before
  pooling: hooked at the input of the block's ``MaxPool2d``.
- **Any other model** (``feature_point="auto"``): after the batch norm and the activation that
  consume the conv's output, when the graph has them, else the conv's output. Found by tracing
  the model with ``torch.fx``: from the conv, follow its only user if it is an
  ``nn.BatchNorm2d`` module, then the only user of that if it is an activation (module such as
  ``nn.ReLU``, function such as ``torch.relu``, or method such as ``x.relu()``); anything else in
  between stops the chain. In a residual block ``relu(bn2(conv2(x)) + shortcut)`` the addition
  comes first, so ``conv2``'s map is read after ``bn2`` (the last point that is ``conv2``'s alone),
  and a projection shortcut's after its batch norm. ``feature_point="conv"``, ``"bn"`` or
  ``"activation"`` picks the point for every conv (``"bn"``/``"activation"``: an error naming the
  convs that lack it); a model ``torch.fx`` cannot trace is read at the conv outputs with
  ``"auto"`` (a warning says why). ``details=True`` reports the point read per conv.

``"betti"`` (default)
    The N images, each mapped to the flattened feature map of the filter, form a point cloud
    in R^(H W). Per class, duplicates are removed and the Betti numbers b0 and b1 of the
    Euclidean Vietoris-Rips complex at a fixed scale eps are computed; the score is b0 + b1
    summed over the classes. A bar counts when ``birth <= eps < death``. Computed exactly and fast
    by :mod:`topokit.filtertopology`: the complex at eps is the flag complex of the graph
    "distance <= eps" with giotto-ph's own float32 distances; each pair is decided from a float32
    Gram matrix with a rigorous error bound, the rare pairs near eps from float64; dominated
    vertices are removed (strong collapses keep every Betti number) and giotto-ph's ripser runs on
    what is left. Checked equal to giotto-tda's full-filtration diagrams read at eps (tests, and
    every checked filter of notebook 04's CNNs in ``benchmarks/bench_pruning.py``).
    **Radius rule** (``radius=None``; ``scale=`` is its deprecated old name): one eps per layer,
    the median over the layer's *live* (filter, class) clouds of the median distance from a point
    to its 14th nearest other distinct point. A cloud is live when it has at least 15 distinct
    points: constant (dead) filters, whose cloud is one point, and nearly dead ones are left out.
    Left in, they had set the median to 0 in a layer with more than half its filters dead, and
    every live filter then scored the maximum, N. With no live cloud in a layer, eps = 1 (every cloud then scores its
    number of distinct points, at most 14 per class). Pass ``radius`` to use one eps everywhere.
    (``radius`` is a Euclidean distance; in :mod:`topokit.topology` ``scale`` is a number of hops.)
``"betti-knn"``
    The same clouds measured as :func:`topokit.topology.layer_betti` measures layers (Naitzat et
    al.): kNN graph with k = 14 counting the point itself, hop scale 2, duplicates removed; a
    class collapsed onto k or fewer distinct points counts as (1, 0).
``"cubical"``
    Each feature map is an image; its sublevel-set cubical persistence (pixels as top cells,
    giotto-tda's ``CubicalPersistence`` convention: 8-connected sublevel sets) gives H0 and H1
    bars. The score is the number of bars of persistence ``> noise`` (the essential H0 bar
    included), averaged over the images. **Noise level** (``noise=None``): 10% of the standard
    deviation of the layer's feature-map values over all its filters, images and pixels, one
    level per layer so that its filters are comparable. Computed exactly with union-find (H0:
    pixels in increasing order, 8-neighbours, elder rule; H1 by Alexander duality: pixels in
    decreasing order, 4-neighbours, the outside of the image as the oldest component), compiled
    with numba; checked equal to giotto-tda in the tests and the benchmark.
``"l1"``
    Sum of the absolute weights of the filter (Li et al., ICLR 2017).
``"hrank"``
    Average matrix rank of the filter's feature maps over the images (Lin et al., CVPR 2020),
    ``torch.linalg.matrix_rank`` in float32 with its default tolerance.
``"random"``
    Uniform on [0, 1), seeded.

``n_images`` (default: all the images given, up to 1,000) beyond which a seeded subsample
stratified by class is taken (each class keeps its share, rounded).

Pruning (:func:`prune`)
-----------------------
Removal is physical, through Torch-Pruning's ``DependencyGraph``, by **groups**: the output
channels that must go together. A conv, its batch norm and the next layer's input channels form
one group; channels tied by a residual addition (the stem and every block's ``conv2`` of a ResNet
stage, with the stage's projection shortcut) or by a concatenation form one group with several
convs. **Group score**: a channel's score in a group is the *mean* of the scores of the group's
convs for that channel (channels mapped through a concatenation by Torch-Pruning's index
mapping); convs of the group without scores are left out of the mean; a group with no scored conv
is not pruned. A layer with no coupling (every conv of a ``LayeredNet``) is a group of one conv,
whose scores are its own. Then a threshold rule (remove the channels whose group score is above
``threshold``, or below it with ``highest=False``) or a fraction rule (remove ``floor(fraction *
C)`` of each group's C scored channels, the highest-scoring or the lowest, ties broken by channel
index). A group is never emptied: when the rule would remove every channel, the one it would
remove last stays. Groups whose channels reach the model's output (the classifier, the last
``nn.Linear``) and groups with a layer of ``ignored_layers`` are kept. Traps handled: we pick
the indices ourselves, so Torch-Pruning's "remove the lowest importance" convention cannot flip
the direction (:func:`torch_pruning_importance` gives the negated importance its high-level
pruners need, and the tests check both agree); the classifier is never touched (the high-level
pruners need it in ``ignored_layers``); the dense layer's input size after
``AdaptiveAvgPool2d -> Flatten`` (Torch-Pruning issue #511) is checked against the last conv's
channels after every pruning; after each group the pruned model is run on the
example input, so an operation Torch-Pruning did not follow is named in a clear error (with the
group's convs to put in ``ignored_layers``); models are saved as architecture JSON + state dict,
or Torch-Pruning's pruned state for other models (:func:`topokit.models.save`), never pickled.
"""
from __future__ import annotations

import copy
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import _checks, _graph
from . import models as _models
from .filtertopology import SCALE_K, _distinct, cubical_counts, euclidean_betti, knn_betti, layer_scale, prepare
from .filtertopology import _KNN_HOPS, _KNN_K, _largest_d2, prepared_betti
from .models import LayeredNet

__all__ = [
    "METHODS",
    "PAPER_THRESHOLD",
    "DEFAULT_MAX_IMAGES",
    "SCALE_K",
    "CUBICAL_NOISE_FRACTION",
    "FEATURE_POINTS",
    "conv_layer_names",
    "feature_maps",
    "subsample",
    "filter_scores",
    "layer_scales",
    "cubical_counts",
    "euclidean_betti",
    "select_filters",
    "prune",
    "torch_pruning_importance",
    "fine_tune",
    "count_params_macs",
    "saved_bytes",
    "latency",
    "latencies",
    "measure",
    "measure_models",
    "scores_frame",
    "accuracy_curves",
    "scratch_curve",
]  # the study names (study, trained_model, ...) still resolve through __getattr__ below, lazily

#: Scoring methods of :func:`filter_scores`.
METHODS = ("betti", "betti-knn", "cubical", "l1", "hrank", "random")
#: Kochar et al.'s threshold: filters with Betti numbers above it were removed.
PAPER_THRESHOLD = 300
#: Default cap on the number of images scored (a stratified subsample beyond it).
DEFAULT_MAX_IMAGES = 1000
#: ``"cubical"`` noise level as a fraction of the layer's feature-map standard deviation.
CUBICAL_NOISE_FRACTION = 0.1
#: Where a filter's feature map is read in a model that is not a LayeredNet (see the module docstring).
FEATURE_POINTS = _graph.FEATURE_POINTS
#: Marks an argument that was not passed (the deprecated ``scale=``).
_UNSET = object()


# ----------------------------------------------------------------------------- validation


def _conv_blocks(model) -> list:
    """[(name, block, conv)] of the conv blocks of a LayeredNet; ValueError otherwise."""
    if not isinstance(model, LayeredNet):
        raise ValueError(
            f"model must be a topokit.models.LayeredNet (built by topokit.models.cnn), got {type(model).__name__}"
        )
    out = []
    for name, block in zip(model.layer_names, model.blocks):
        first = block[0] if isinstance(block, nn.Sequential) and len(block) else block
        if isinstance(first, nn.Conv2d):
            out.append((name, block, first))
    if not out:
        raise ValueError(
            f"the model has no conv layers (its layers are {model.layer_names}); filter pruning needs a CNN, "
            "e.g. topokit.models.cnn(1)"
        )
    return out


def _convs(model) -> list:
    """[(key, module name, conv)] of every ``nn.Conv2d`` a model scores and prunes, in module order.

    The key is the layer name for a LayeredNet (``"conv1"``), else the conv's name in
    ``named_modules()``. ValueError for anything that is not an ``nn.Module`` with Conv2d layers.
    """
    if isinstance(model, LayeredNet):
        names = {id(m): n for n, m in model.named_modules()}
        return [(key, names[id(conv)], conv) for key, _, conv in _conv_blocks(model)]
    if not isinstance(model, nn.Module):
        raise _checks.InvalidParameterError(
            f"model must be a torch nn.Module with Conv2d layers (e.g. topokit.models.resnet(20) or your own), got "
            f"{type(model).__name__}")
    out = [(name, name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not out:
        raise _checks.InvalidParameterError(
            f"the model ({type(model).__name__}) has no conv layers (nn.Conv2d); filter scores and pruning need a "
            "CNN, e.g. topokit.models.cnn(1) or topokit.models.resnet(20)")
    return out


def conv_layer_names(model) -> list[str]:
    """The keys of a model's scores: a LayeredNet's conv layer names (``["conv1", ...]``), else the
    names of its ``nn.Conv2d`` modules in ``named_modules()`` (``["conv1", "layer1.0.conv1", ...]``)."""
    return [key for key, _, _ in _convs(model)]


def _check_labels(X, y):
    if y is None:
        return X, None
    return X, _checks.labels(y, len(X), what="images", fix="pass one label per image")


def _check_images(model, X, y=None):
    if not isinstance(model, LayeredNet):
        return _check_any_images(model, X, y)
    convs = _conv_blocks(model)
    X = _checks.finite_array(X, "images", dtype=np.float32, nonempty=False,
                             fix="pass a Dataset's X from topokit.data.load")
    c_in = convs[0][2].in_channels
    need = 2 ** len(convs)
    if X.ndim != 4 or X.shape[1] != c_in:
        raise ValueError(
            f"images must have shape (n, {c_in}, height, width) for this model (its first conv takes {c_in} "
            f"channel(s)), got {X.shape}; pass a Dataset's X from topokit.data.load"
        )
    if X.shape[2] < need or X.shape[3] < need:
        raise ValueError(
            f"images of {X.shape[2]}x{X.shape[3]} pixels are too small for {len(convs)} pooling layers; "
            f"use at least {need}x{need} (image_size=...)"
        )
    if len(X) == 0:
        raise ValueError("no images given; pass at least one image per class")
    if not np.isfinite(X).all():
        raise ValueError("images contain NaN/inf; fix or drop those images")
    return _check_labels(X, y)


def _check_any_images(model, X, y=None):
    """Images for a model that is not a LayeredNet: (n, C, H, W), finite, and accepted by the model
    (one image is run through it, so a wrong shape is refused before any heavy work)."""
    convs = _convs(model)
    first = (convs[0][1], convs[0][2].in_channels)
    X = _checks.finite_array(X, "images", dtype=np.float32, fix="pass images of shape (n, channels, height, width)")
    if X.ndim != 4:
        raise _checks.InvalidParameterError(
            f"images must have shape (n, channels, height, width), got {X.shape} (the model's first conv, "
            f"{first[0]!r}, takes {first[1]} channel(s)); pass e.g. a Dataset's X from topokit.data.load")
    X, y = _check_labels(X, y)
    _graph.probe(model, X, first)
    return X, y


def _check_positive_int(value, what, fix):
    return _checks.integer(value, what, minimum=1, fix=fix)


def _check_positive_number(value, what, fix):
    return _checks.real(value, what, minimum=0, include_min=False, fix=fix)


# ----------------------------------------------------------------------------- feature maps


def subsample(y, n_images: Optional[int] = None, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded subsample of at most ``n_images``, stratified by class.

    Default ``n_images``: all, up to :data:`DEFAULT_MAX_IMAGES`. Each class keeps its share of
    the subsample (largest remainders round), chosen without replacement.
    """
    y = np.asarray(y).reshape(-1)
    cap = DEFAULT_MAX_IMAGES if n_images is None else int(n_images)
    if len(y) <= cap:
        return np.arange(len(y))
    labels, counts = np.unique(y, return_counts=True)
    quota = counts / counts.sum() * cap
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take), kind="stable")[: cap - take.sum()]:
        take[i] += 1
    rng = np.random.default_rng(seed)
    idx = [rng.choice(np.flatnonzero(y == lab), size=int(t), replace=False) for lab, t in zip(labels, take)]
    return np.sort(np.concatenate(idx))


class _LastMapTaken(Exception):
    """Stops a forward pass once the last conv block's feature maps are stored."""


def _check_point(feature_point) -> str:
    return _checks.choice(feature_point, "feature_point", FEATURE_POINTS,
                          fix="'auto' reads each conv after its batch norm and activation when the graph has them")


def feature_maps(model, X, batch_size: int = 64, *, feature_point: str = "auto", details: bool = False):
    """Each conv's feature maps (see the module docstring for where they are read).

    For a LayeredNet with ``feature_point="auto"``: each conv block's maps after its activation,
    before its pooling (as always). For any other model, or another ``feature_point``: each
    ``nn.Conv2d``'s output channels at the feature point, found by ``torch.fx`` tracing.

    The forward pass runs on a copy of the model in channels-last memory format (about twice as
    fast on CPU; values agree with the default format to float32 rounding) and stops once the
    last map is taken; the model itself is not changed. One image is run first, so a model that
    rejects the images, a point a conv lacks, or maps that would not fit in memory are refused
    before the full pass.

    Parameters
    ----------
    model : nn.Module
        A LayeredNet or any model with ``nn.Conv2d`` layers.
    X : array-like, shape (n, C, H, W)
    batch_size : int, default 64
    feature_point : {"auto", "conv", "bn", "activation"}, default "auto"
    details : bool, default False
        Also return conv -> the point read (``"conv"``, ``"bn"`` or ``"activation"``).

    Returns
    -------
    dict
        Conv key (:func:`conv_layer_names`) -> float32 tensor ``(n, C, H, W)`` (CPU, contiguous).
        Eval mode, no gradients.
    """
    feature_point = _check_point(feature_point)
    _convs(model)
    X, _ = _check_images(model, X)
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1, fix="e.g. batch_size=64")
    details = _checks.boolean(details, "details")
    if isinstance(model, LayeredNet) and feature_point == "auto":
        maps = _layered_maps(model, X, batch_size)
        return (maps, {name: "activation" for name in maps}) if details else maps
    maps, points = _any_maps(model, X, batch_size, feature_point)
    return (maps, points) if details else maps


def _any_maps(model, X, batch_size: int, feature_point: str) -> tuple:
    """(maps, points) of every conv by :func:`topokit._graph.capture`, keyed as :func:`conv_layer_names`."""
    convs = _convs(model)
    names = [name for _, name, _ in convs]
    one, _ = _graph.capture(model, X[:1], names, feature_point)  # the points exist; the sizes of the maps
    per_image = sum(m[0].numel() for m in one.values())
    _checks.memory(4.0 * per_image * len(X), f"the feature maps of {len(X):,} images",
                   fix="pass fewer images (n_images=...)")
    maps, points = _graph.capture(model, X, names, feature_point, batch_size=batch_size, quiet=True)
    return ({key: maps[name] for key, name, _ in convs}, {key: points[name] for key, name, _ in convs})


def _layered_maps(model, X, batch_size: int) -> dict:
    """A LayeredNet's maps at the input of each conv block's pooling (checked images)."""
    # every conv block keeps its size and the pooling after it halves it (topokit.models.cnn)
    per_image = sum(conv.out_channels * (X.shape[2] >> i) * (X.shape[3] >> i)
                    for i, (_, _, conv) in enumerate(_conv_blocks(model)))
    _checks.memory(4.0 * per_image * len(X), f"the feature maps of {len(X):,} images",
                   fix="pass fewer images (n_images=...)")
    net = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    convs = _conv_blocks(net)
    store: dict = {}
    last = convs[-1][0]
    at = [0]  # first image of the batch in flight

    def stash(name, value):
        value = value.detach().float().cpu()
        if name not in store:  # one output array per layer, filled batch by batch (no concatenation)
            store[name] = torch.empty((len(X),) + tuple(value.shape[1:]), dtype=torch.float32)
        store[name][at[0]:at[0] + len(value)].copy_(value)
        if name == last:
            raise _LastMapTaken

    for name, block, _ in convs:
        pools = [m for m in block if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
        if pools:
            pools[0].register_forward_pre_hook(lambda _m, args, name=name: stash(name, args[0]))
        else:
            block.register_forward_hook(lambda _m, _a, out, name=name: stash(name, out))
    dev = next(net.parameters()).device
    with torch.no_grad():
        Xt = torch.from_numpy(X)
        for i in range(0, len(Xt), batch_size):
            at[0] = i
            try:
                net(Xt[i:i + batch_size].to(dev).contiguous(memory_format=torch.channels_last))
            except _LastMapTaken:
                pass
    return {name: store[name] for name, _, _ in convs}


# ----------------------------------------------------------------------------- "betti"


def _class_clouds(maps: torch.Tensor, y: np.ndarray, labels, float32: bool = False):
    """Yield the distinct cloud of every (filter, class) of a layer's maps (n, C, H, W), filter by filter.

    One at a time, so that memory is reused from cloud to cloud; the owner of the i-th cloud is
    filter ``i // len(labels)`` (:func:`_owners`). Float64, or the maps' float32 with ``float32``.
    """
    flat = maps.reshape(maps.shape[0], maps.shape[1], -1).numpy()
    masks = [y == lab for lab in labels]
    for c in range(flat.shape[1]):
        for mask in masks:
            yield _distinct(flat[mask, c], float32=float32)


def _owners(maps: torch.Tensor, labels) -> np.ndarray:
    """The filter of each cloud :func:`_class_clouds` yields."""
    return np.repeat(np.arange(maps.shape[1]), len(labels))


def _per_filter(maps: torch.Tensor, labels, results) -> np.ndarray:
    """Per-filter score: b0 + b1 summed over the classes' clouds."""
    score = np.zeros(maps.shape[1])
    np.add.at(score, _owners(maps, labels), [sum(b) for b in results])
    return score


def _prepared_clouds(maps: torch.Tensor, y: np.ndarray, labels, k: int = SCALE_K) -> list:
    """Every (filter, class) cloud of a layer, prepared for the scale rule and the graph at a scale."""
    return [prepare(cloud, k) for cloud in _class_clouds(maps, y, labels, float32=True)]


def _layer_betti(maps: torch.Tensor, labels, preps: list, eps: float, n_jobs: int, desc: str,
                 progress: Optional[bool]) -> np.ndarray:
    """Per-filter ``"betti"`` scores of a layer's prepared clouds at scale eps."""
    T = _largest_d2(eps)
    res = _run(((p, eps, T) for p in preps), prepared_betti, n_jobs, desc, progress, len(preps))
    return _per_filter(maps, labels, res)


def layer_scales(model, X, y, n_images: Optional[int] = None, seed: int = 0, k: int = SCALE_K, *,
                 feature_point: str = "auto") -> dict:
    """The ``"betti"`` radius of every conv layer by the documented rule (see the module docstring).

    Returns
    -------
    dict
        Conv key -> eps (float).
    """
    feature_point = _check_point(feature_point)
    X, y = _check_images(model, X, y)
    idx = subsample(y, n_images, seed)
    maps = feature_maps(model, X[idx], feature_point=feature_point)
    labels = np.unique(y[idx])
    return {name: layer_scale(_prepared_clouds(m, y[idx], labels, k), k) for name, m in maps.items()}


def _run(tasks, fn, n_jobs: int, desc: str, progress: Optional[bool], total: Optional[int] = None):
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    from .fileio import progress_enabled

    it = tqdm(tasks, desc=desc, leave=False, total=total, disable=not progress_enabled(progress))
    if n_jobs == 1:
        return [fn(*t) for t in it]
    return Parallel(n_jobs=n_jobs)(delayed(fn)(*t) for t in it)


# ----------------------------------------------------------------------------- filter_scores


def _radius_argument(radius, scale, where: str):
    """``(value, name)`` of the Euclidean radius, accepting the deprecated ``scale=`` (not both)."""
    if scale is _UNSET:
        return radius, "radius"
    if radius is not None:
        raise _checks.InvalidParameterError(
            f"{where} got both radius={radius!r} and scale={scale!r}; scale= is the old name of radius=: pass radius= "
            "only")
    warnings.warn(f"{where}(scale=...) is deprecated: the Euclidean Vietoris-Rips radius is now called radius= "
                  "(in topokit.topology, scale means a number of hops); pass radius= instead", DeprecationWarning,
                  stacklevel=3)
    return scale, "scale"


def filter_scores(model, X, y, method: str = "betti", radius: Optional[float] = None,
                  n_images: Optional[int] = None, seed: int = 0, *, noise: Optional[float] = None,
                  n_jobs: int = 1, progress: Optional[bool] = None, details: bool = False,
                  feature_point: str = "auto", scale=_UNSET):
    """One score per output channel of every conv layer, for a LayeredNet or any model with Conv2d layers.

    Parameters
    ----------
    model : nn.Module
        A CNN from :func:`topokit.models.cnn` or :func:`topokit.models.resnet` (pruned or not), or
        any ``nn.Module`` with ``nn.Conv2d`` layers. Not modified.
    X : array-like, shape (n, C, H, W)
        Images (e.g. the training split). One is run through the model first: a shape it rejects
        is refused before any heavy work.
    y : array-like, shape (n,)
        Class labels.
    method : {"betti", "betti-knn", "cubical", "l1", "hrank", "random"}, default "betti"
        See the module docstring for each.
    radius : float, optional
        ``"betti"`` only: the Euclidean Vietoris-Rips radius for every layer; default one per
        layer by the documented rule (:func:`layer_scales`).
    n_images : int, optional
        Images scored; default all given, up to 1,000; beyond that a seeded subsample
        stratified by class.
    seed : int, default 0
        Seed of the subsample (and of ``"random"``).
    noise : float, optional
        ``"cubical"`` only: the persistence threshold for every layer; default 10% of each
        layer's feature-map standard deviation.
    n_jobs : int, default 1
        joblib workers over clouds for ``"betti"`` and ``"betti-knn"``.
    progress : bool, optional
        tqdm bar (default on unless ``TOPOKIT_PROGRESS=0``).
    details : bool, default False
        Also return a dict of what was used per layer (``radius`` (also under its old name
        ``scale``) or ``noise``, ``n_images``; and ``feature_point``, the point read, except for a
        LayeredNet read with ``"auto"``, which is always after the activation).
    feature_point : {"auto", "conv", "bn", "activation"}, default "auto"
        Where a filter's feature map is read (module docstring; a LayeredNet with ``"auto"`` is read
        as always, after the activation).
    scale : float, optional
        Deprecated name of ``radius`` (a DeprecationWarning; passing both is an error).

    Returns
    -------
    dict
        Conv key -> float array, one score per output channel (and the details dict when
        ``details=True``). Keys: a LayeredNet's layer names, else the convs' module names
        (:func:`conv_layer_names`).

    Raises
    ------
    ValueError
        Unknown method or feature point, no conv layers, images the model rejects, bad
        ``radius``/``n_images``/``noise`` -- before any feature map is computed.
    """
    radius, radius_name = _radius_argument(radius, scale, "filter_scores")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(repr(m) for m in METHODS)}")
    feature_point = _check_point(feature_point)
    convs = _convs(model)
    if radius is not None:
        radius = _check_positive_number(radius, radius_name,
                                        "pass a Vietoris-Rips radius or None for the per-layer rule")
        if method != "betti":
            raise ValueError(f"{radius_name} applies to method='betti' only, not {method!r}; leave {radius_name}=None")
        _largest_d2(radius)  # a radius float32 distances can hold, or a clear error now
    if noise is not None:
        _checks.real(noise, "noise", minimum=0, fix="or None for the per-layer rule")
        if method != "cubical":
            raise ValueError(f"noise applies to method='cubical' only, not {method!r}; leave noise=None")
    if n_images is not None:
        n_images = _check_positive_int(n_images, "n_images", "e.g. n_images=1000, or None for all up to 1,000")
    _checks.integer(seed, "seed", minimum=0)
    n_jobs = _checks.integer(n_jobs, "n_jobs", fix="a number of workers, or -1 for all cores")
    if n_jobs == 0:
        raise _checks.InvalidParameterError("n_jobs must not be 0; pass a number of workers, or -1 for all cores")
    details = _checks.boolean(details, "details")
    info: dict = {}
    X, y = _check_images(model, X, y)  # every method is given images: refuse bad ones even if unread
    if method == "l1":
        out = {key: conv.weight.detach().abs().sum(dim=(1, 2, 3)).cpu().double().numpy() for key, _, conv in convs}
        return (out, info) if details else out
    if method == "random":
        out = {key: np.random.default_rng([int(seed), i]).random(conv.out_channels)
               for i, (key, _, conv) in enumerate(convs)}
        return (out, info) if details else out

    labels = np.unique(y)
    idx = subsample(y, n_images, seed)
    X, y = X[idx], y[idx]
    layered = isinstance(model, LayeredNet) and feature_point == "auto"
    if layered:  # read as always (the numbers in info stay numbers, as benchmarks/bench_pruning.py expects)
        maps, points = feature_maps(model, X), {}
    else:
        maps, points = feature_maps(model, X, feature_point=feature_point, details=True)
    out = {}
    for name in list(maps):
        m = maps.pop(name)  # each layer's maps are freed once scored
        if method == "hrank":
            flat = m.reshape(-1, m.shape[2], m.shape[3])
            ranks = torch.cat([torch.linalg.matrix_rank(flat[i:i + 8192]) for i in range(0, len(flat), 8192)])
            out[name] = ranks.reshape(m.shape[0], m.shape[1]).double().mean(0).numpy()
            info[name] = {"n_images": len(X)}
        elif method == "cubical":
            level = float(noise) if noise is not None else CUBICAL_NOISE_FRACTION * float(m.double().std())
            c = cubical_counts(m.reshape(-1, m.shape[2], m.shape[3]), level)
            out[name] = c.sum(1).reshape(m.shape[0], m.shape[1]).mean(0).astype(np.float64)
            info[name] = {"noise": level, "n_images": len(X)}
        else:
            total = m.shape[1] * len(labels)
            if method == "betti":
                preps = _prepared_clouds(m, y, labels)
                eps = radius if radius is not None else layer_scale(preps)
                out[name] = _layer_betti(m, labels, preps, eps, n_jobs, f"betti {name}", progress)
                info[name] = {"radius": eps, "scale": eps, "n_images": len(X)}
            else:
                clouds = _class_clouds(m, y, labels)
                res = _run(((cloud,) for cloud in clouds), knn_betti, n_jobs, f"betti-knn {name}", progress, total)
                out[name] = _per_filter(m, labels, res)
                info[name] = {"k": _KNN_K, "hops": _KNN_HOPS, "n_images": len(X)}
        if not layered:
            info[name]["feature_point"] = points[name]
    return (out, info) if details else out


def scores_frame(scores: Mapping, method: str = "", **columns) -> pd.DataFrame:
    """Tidy frame of a scores dict: columns ``layer, filter, score`` (+ method and any extras)."""
    rows = [{"layer": layer, "filter": i, "score": float(s)} for layer, arr in scores.items() for i, s in enumerate(arr)]
    df = pd.DataFrame(rows, columns=["layer", "filter", "score"])
    df.insert(0, "method", method)
    for k, v in columns.items():
        df[k] = v
    return df


# ----------------------------------------------------------------------------- pruning


def _check_scores(model, scores) -> dict:
    """Scores as conv key -> float64 array, checked against the model's convs.

    A LayeredNet needs scores for every conv layer (as always); any other model may score a
    subset of its convs (the others count as unscored in their groups).
    """
    convs = _convs(model)
    if not isinstance(scores, Mapping):
        raise ValueError(f"scores must be a dict from conv-layer name to scores, got {type(scores).__name__}; "
                         "use filter_scores(model, X, y)")
    names = [n for n, _, _ in convs]
    if isinstance(model, LayeredNet):
        if set(scores) != set(names):
            raise ValueError(f"scores name layers {sorted(scores)} but the model's conv layers are {names}; "
                             "compute them with filter_scores on this model")
    else:
        if not scores:
            raise _checks.InvalidParameterError("scores is empty; compute them with filter_scores(model, X, y)")
        for key in scores:
            if key not in names:
                _checks.choice(key, "a key of scores", names,
                               fix="keys are the model's Conv2d names from named_modules(); compute the scores with "
                                   "filter_scores on this model")
    out = {}
    for name, _, conv in convs:
        if name not in scores:
            continue
        try:
            s = np.asarray(scores[name], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise _checks.InvalidParameterError(f"scores[{name!r}] is not an array of numbers; use filter_scores"
                                                ) from None
        if len(s) != conv.out_channels:
            raise ValueError(f"scores[{name!r}] has {len(s)} values but {name} has {conv.out_channels} filters; "
                             "compute the scores on this model (not on a pruned or other one)")
        if not np.isfinite(s).all():
            raise ValueError(f"scores[{name!r}] contains NaN/inf; fix the scores")
        out[name] = s
    return out


def _check_rule(threshold, fraction):
    if (threshold is None) == (fraction is None):
        raise ValueError("pass exactly one of threshold= (remove filters scoring above it) and fraction= "
                         f"(remove that share of each layer), got threshold={threshold!r}, fraction={fraction!r}")
    if threshold is not None:
        return _checks.real(threshold, "threshold", fix="e.g. threshold=300"), None
    return None, _checks.real(fraction, "fraction", minimum=0, maximum=1, include_max=False,
                              fix="e.g. fraction=0.5 removes half the filters of each layer")


def _count_removed(s: np.ndarray, threshold, fraction, highest: bool, cap: int) -> np.ndarray:
    """The indices (into ``s``) a rule removes, in removal order, at most ``cap``."""
    order = np.argsort(-s if highest else s, kind="stable")  # the order of removal
    if threshold is not None:
        k = int(np.count_nonzero(s > threshold if highest else s < threshold))
    else:
        k = int(math.floor(fraction * len(s) + 1e-9))
    return order[:max(0, min(k, cap))]


def select_filters(scores: Mapping, threshold: Optional[float] = None, fraction: Optional[float] = None,
                   highest: bool = True) -> dict:
    """The filters a rule removes: layer -> sorted list of indices (never all of a layer).

    ``threshold``: scores ``> threshold`` (``highest=True``) or ``< threshold`` (``highest=False``).
    ``fraction``: ``floor(fraction * C)`` filters per layer of C, from the top (``highest=True``)
    or the bottom, ties by index. If a layer would lose every filter, the one the rule ranks
    last (lowest score with ``highest=True``) stays. (:func:`prune` applies the same rule to
    each group's mean scores.)
    """
    threshold, fraction = _check_rule(threshold, fraction)
    removed = {}
    for name, s in scores.items():
        s = np.asarray(s, dtype=np.float64)
        removed[name] = sorted(int(i) for i in _count_removed(s, threshold, fraction, highest, len(s) - 1))
    return removed


def count_params_macs(model, example_input) -> tuple:
    """(parameters, MACs) of one forward pass, by Torch-Pruning's ``count_ops_and_params``."""
    import torch_pruning as tp

    was = model.training
    model.eval()
    try:
        macs, params = tp.utils.count_ops_and_params(model, example_input)
    finally:
        model.train(was)
    return int(params), int(macs)


def _example(model, example_input):
    """One input (batch of 1) for tracing and counting MACs, checked against the model."""
    if isinstance(model, LayeredNet):
        convs = _conv_blocks(model)
        if example_input is None:
            side = max(8, 2 ** len(convs))
            return torch.zeros(1, convs[0][2].in_channels, side, side)
        x = _as_input(example_input)
        _check_images(model, x[:1].cpu().numpy())
        return x[:1]
    convs = _convs(model)
    if example_input is None:
        if not isinstance(model, _models.ResNet):
            raise _checks.InvalidParameterError(
                f"example_input is needed for a {type(model).__name__}: pass one input of the size the model takes "
                f"(e.g. example_input=X[:1], shape (1, {convs[0][2].in_channels}, height, width)); it is used to "
                "trace the model and count MACs")
        return torch.zeros(1, convs[0][2].in_channels, 32, 32)
    x = _as_input(example_input)[:1]
    _check_any_images(model, x.cpu().numpy())
    return x


def _as_input(example_input) -> torch.Tensor:
    try:
        x = torch.as_tensor(np.asarray(example_input.detach().cpu() if isinstance(example_input, torch.Tensor)
                                       else example_input, dtype=np.float32))
    except (TypeError, ValueError):
        raise _checks.InvalidParameterError(
            f"example_input must be an image tensor or array, got {type(example_input).__name__}; e.g. X[:1]") from None
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or len(x) == 0:
        raise _checks.InvalidParameterError(f"example_input must have shape (1, channels, height, width), got "
                                            f"{tuple(x.shape)}; e.g. X[:1]")
    return x


def _check_ignored(model, ignored_layers) -> list:
    """Module names (of ``model``) whose output channels are kept, containers expanded to their modules."""
    if ignored_layers is None:
        return []
    if isinstance(ignored_layers, (str, nn.Module)):
        ignored_layers = [ignored_layers]
    try:
        entries = list(ignored_layers)
    except TypeError:
        raise _checks.InvalidParameterError(
            f"ignored_layers must be a list of modules of the model or their names, got {type(ignored_layers).__name__}"
        ) from None
    named = dict(model.named_modules())
    by_id = {id(m): n for n, m in named.items()}
    aliases = {}
    if isinstance(model, LayeredNet):  # its layer names ("conv1", "dense") name blocks
        aliases = {name: by_id[id(block)] for name, block in zip(model.layer_names, model.blocks)}
    out = []
    for entry in entries:
        if isinstance(entry, nn.Module):
            if id(entry) not in by_id:
                raise _checks.InvalidParameterError(
                    f"ignored_layers holds a {type(entry).__name__} that is not a module of this model; pass the "
                    "model's own modules or their names")
            name = by_id[id(entry)]
        elif isinstance(entry, str):
            name = aliases.get(entry, entry)
            if name not in named or name == "":
                _checks.choice(entry, "an ignored_layers entry", [n for n in list(aliases) + list(named) if n],
                               fix="name modules as model.named_modules() does")
        else:
            raise _checks.InvalidParameterError(
                f"ignored_layers entries must be modules of the model or their names, got {type(entry).__name__} "
                f"{entry!r:.60}")
        prefix = name + "."
        out += [n for n in named if n == name or n.startswith(prefix)]
    return sorted(set(out))


def _user_frame(exc: BaseException) -> str:
    """Where in the user's code (outside torch, Torch-Pruning and topokit) an exception was raised."""
    import traceback

    skip = (os.path.dirname(torch.__file__), os.path.dirname(os.path.abspath(__file__)))
    try:
        import torch_pruning as tp

        skip += (os.path.dirname(tp.__file__),)
    except ImportError:  # pragma: no cover
        pass
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not os.path.abspath(f.filename).startswith(skip)]
    if not frames:
        return ""
    f = frames[-1]
    code = f" `{f.line.strip()}`" if f.line else ""
    return f" at{code} ({os.path.basename(f.filename)}:{f.lineno}, in {f.name})"


def _untraceable(what: str, exc: BaseException, convs, unknown) -> _checks.InvalidParameterError:
    ops = f"; Torch-Pruning treated these operations as element-wise: {', '.join(sorted(unknown)[:5])}" if unknown \
        else ""
    keep = f"ignored_layers={sorted(convs)[:6]!r}" if convs else "ignored_layers=[...]"
    return _checks.InvalidParameterError(
        f"Torch-Pruning cannot prune this model: {what}{_user_frame(exc)}: {type(exc).__name__}: "
        f"{str(exc).strip()[:300]}{ops}. The operation there ties channels in a way Torch-Pruning does not follow; "
        f"keep the convs whose channels reach it with {keep}, or rewrite it with standard layers")


def _is_output_op(module) -> bool:
    return type(module).__name__ == "_OutputOp"


def prune(model, scores, threshold: Optional[float] = None, fraction: Optional[float] = None,
          example_input=None, highest: bool = True, *, ignored_layers=None):
    """Physically remove filters chosen by their scores, through coupled channels; return ``(pruned_model, report)``.

    Works on a LayeredNet and on any model Torch-Pruning can trace, residual networks included
    (see the module docstring): the output channels that must go together (a conv with the convs
    its output is added to or concatenated with) form a Torch-Pruning group; **a channel's group
    score is the mean of the scores of the group's scored convs for that channel** (unscored
    convs are left out; a group without any scored conv is not pruned); the threshold or
    fraction rule is applied to each group's scores and never empties a group.

    Parameters
    ----------
    model : nn.Module
        A LayeredNet, a :func:`topokit.models.resnet` or any model with Conv2d layers; not
        modified (a deep copy is pruned).
    scores : dict
        Conv key -> one score per filter (:func:`filter_scores`). A LayeredNet needs every conv
        layer; other models may score a subset of their convs.
    threshold : float, optional
        Remove channels whose group score is above it (below it with ``highest=False``). Kochar
        et al.'s value is :data:`PAPER_THRESHOLD` = 300 for Betti scores; what it means depends
        on N and the radius (see notebook 04).
    fraction : float in [0, 1), optional
        Remove ``floor(fraction * C)`` channels of each group of C scored channels. Exactly one
        of threshold and fraction.
    example_input : tensor, optional
        One input for tracing and counting MACs. Default: for a LayeredNet zeros of the smallest
        size the net takes, for a ResNet zeros of 32x32; needed for any other model. Global
        pooling makes MACs scale with the image area: pass a real image to compare MACs.
    highest : bool, default True
        Remove the highest scores (Kochar et al.'s direction); False removes the lowest (L1 and
        HRank's direction).
    ignored_layers : list of modules or names, optional
        Layers whose output channels are kept (a group containing one is not pruned; its input
        channels still follow the layers before it). Module names as ``named_modules()`` gives
        them (a container such as ``"layer1"`` keeps every layer in it), a LayeredNet's layer
        names, or the model's modules. The classifier (the last ``nn.Linear``) and any layer
        whose channels reach the model's output are always kept.

    Returns
    -------
    pruned_model : nn.Module
        Smaller conv, batch-norm and next-layer weights; eval mode.
    report : dict
        ``params_before``, ``params_after``, ``macs_before``, ``macs_after``; ``removed`` (conv
        key -> sorted removed output-channel indices, original numbering), ``channels_before``,
        ``channels_after`` (conv key -> count); ``groups``: one dict per group with a conv
        (``convs``: its convs' keys, ``scored``: those with scores, ``channels``, ``removed``:
        channel indices of the group's first conv, ``kept``: None, or why the group was not
        pruned: ``"ignored_layers"``, ``"output"`` or ``"no scores"``).

    Raises
    ------
    ValueError
        Bad scores or rule, an example input the model rejects, or a model Torch-Pruning cannot
        prune (the error names the operation where the pruned model breaks and suggests the
        ``ignored_layers`` that keep it).
    """
    import torch_pruning as tp

    convs = _convs(model)
    scores = _check_scores(model, scores)
    threshold, fraction = _check_rule(threshold, fraction)
    highest = _checks.boolean(highest, "highest")
    ignored = set(_check_ignored(model, ignored_layers))
    x = _example(model, example_input)
    pruned = copy.deepcopy(model).cpu().eval()
    named = dict(pruned.named_modules())
    key_of = {id(named[name]): key for key, name, _ in convs}
    linears = [n for n, m in named.items() if isinstance(m, nn.Linear)]
    kept_names = ignored | ({linears[-1]} if linears else set())
    kept = {id(named[n]) for n in kept_names}
    params_before, macs_before = count_params_macs(pruned, x)
    before = {key: named[name].out_channels for key, name, _ in convs}
    with torch.no_grad():
        ref = pruned(x)
    removed = {key: [] for key, _, _ in convs}
    report_groups = []
    unknown: set = set()
    if scores:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                DG = tp.DependencyGraph().build_dependency(pruned, example_inputs=x)  # traced: not under no_grad
                groups = list(DG.get_all_groups(ignored_layers=[], root_module_types=(nn.Conv2d, nn.Linear)))
            except Exception as exc:  # noqa: BLE001 - Torch-Pruning's tracer fails in many ways
                raise _untraceable("its dependency graph could not be built", exc, [], ()) from None
        unknown = {str(w.message).split("Unknown operation ")[-1].split(" encountered")[0]
                   for w in caught if "Unknown operation" in str(w.message)}
        reached = {id(m) for m in DG.module2node if isinstance(m, nn.Module)}
        lost = [key for key, name, _ in convs
                if key in scores and id(named[name]) not in reached and name not in ignored]
        if lost:
            raise _checks.InvalidParameterError(
                f"Torch-Pruning's trace of the model on example_input does not reach {_graph._names(lost)} (used "
                "under torch.no_grad, through a custom autograd function, or not at all in forward?), so Torch-Pruning "
                f"cannot prune {'it' if len(lost) == 1 else 'them'}: leave {'it' if len(lost) == 1 else 'them'} out of "
                f"the scores or keep {'it' if len(lost) == 1 else 'them'} with ignored_layers={lost[:6]!r}")
        plans = []
        for group in groups:
            root = group[0]
            members, touches_output, has_kept = [], False, False
            for item in group:
                module = item.dep.target.module
                if not DG.is_out_channel_pruning_fn(item.dep.handler):
                    continue
                touches_output |= _is_output_op(module)
                has_kept |= id(module) in kept
                if id(module) in key_of:
                    members.append((key_of[id(module)], list(item.idxs), list(item.root_idxs)))
            if not members:
                continue
            n_root = len(root.idxs)
            scored = [m for m in members if m[0] in scores]
            total, count = np.zeros(n_root), np.zeros(n_root)
            for key, own, roots in scored:
                np.add.at(total, roots, scores[key][own])
                np.add.at(count, roots, 1)
            order = list(before)
            info = {"convs": sorted((m[0] for m in members), key=order.index),
                    "scored": sorted((m[0] for m in scored), key=order.index), "channels": n_root,
                    "removed": [], "kept": None}
            if has_kept:
                info["kept"] = "ignored_layers"
            elif touches_output:
                info["kept"] = "output"
            elif not scored:
                info["kept"] = "no scores"
            else:
                live = np.flatnonzero(count > 0)
                mean = total[live] / count[live]
                chosen = _count_removed(mean, threshold, fraction, highest, min(len(live), n_root - 1))
                info["removed"] = sorted(int(live[i]) for i in chosen)
                if info["removed"]:
                    plans.append((root.dep.target.module, root.dep.handler, info["removed"], members))
            report_groups.append(info)
        for module, handler, idxs, members in plans:
            gone = set(idxs)
            group = DG.get_pruning_group(module, handler, idxs=list(idxs))
            if not DG.check_pruning_group(group):
                raise RuntimeError(f"Torch-Pruning refused to prune channels {idxs} of the group of "
                                   f"{[m[0] for m in members]}")
            group.prune()
            for key, own, roots in members:
                removed[key] = sorted(removed[key] + [o for o, r in zip(own, roots) if r in gone])
            try:
                with torch.no_grad():
                    out = pruned(x)
            except Exception as exc:  # noqa: BLE001 - name the operation that broke and the group to keep
                raise _untraceable("after removing channels of the group of "
                                   f"{_graph._names([m[0] for m in members])} the pruned model fails", exc,
                                   [m[0] for m in members], unknown) from None
            if out.shape != ref.shape:
                raise _untraceable("the pruned model's output changed shape", ValueError(
                    f"{tuple(ref.shape)} -> {tuple(out.shape)}"), [m[0] for m in members], unknown)
    if isinstance(model, LayeredNet):
        _check_pruned(pruned, before, removed, x, model)
    else:
        for key, name, _ in convs:
            want = before[key] - len(removed[key])
            if named[name].out_channels != want:
                raise RuntimeError(f"{key} has {named[name].out_channels} filters after pruning, expected {want}")
    params_after, macs_after = count_params_macs(pruned, x)
    report = {"params_before": params_before, "params_after": params_after, "macs_before": macs_before,
              "macs_after": macs_after, "removed": removed, "channels_before": before,
              "channels_after": {key: named[name].out_channels for key, name, _ in convs},
              "groups": sorted(report_groups, key=lambda g: list(before).index(g["convs"][0]))}
    _models._record_unpruned(pruned, model)
    return pruned.eval(), report


def _check_pruned(pruned, before, removed, x, original):
    """Every conv lost exactly its removed channels and the next layer's inputs match (issue #511)."""
    convs = _conv_blocks(pruned)
    for i, (name, _, conv) in enumerate(convs):
        want = before[name] - len(removed[name])
        if conv.out_channels != want:
            raise RuntimeError(f"{name} has {conv.out_channels} filters after pruning, expected {want}")
        bn = [m for m in convs[i][1] if isinstance(m, nn.BatchNorm2d)]
        if bn and bn[0].num_features != want:
            raise RuntimeError(f"{name}'s batch norm has {bn[0].num_features} features, expected {want}")
        nxt = convs[i + 1][2].in_channels if i + 1 < len(convs) else None
        if nxt is None:
            dense = [m for m in pruned.blocks[len(convs)].modules() if isinstance(m, nn.Linear)]
            nxt = dense[0].in_features if dense else want
        if nxt != want:
            raise RuntimeError(f"the layer after {name} takes {nxt} inputs but {name} now has {want} channels "
                               "(Torch-Pruning issue #511?)")
    was = original.training
    try:
        with torch.no_grad():
            out = pruned(x)
            ref = original.eval()(x.to(next(original.parameters()).device))
    finally:
        original.train(was)
    if out.shape != ref.shape:
        raise RuntimeError(f"the pruned model outputs {tuple(out.shape)}, the original {tuple(ref.shape)}")


def torch_pruning_importance(scores: Mapping, highest: bool = True):
    """A Torch-Pruning importance (``importance(group) -> 1-D tensor``) from our scores.

    Torch-Pruning's high-level pruners remove the LOWEST importance; to remove the highest
    scores (``highest=True``) the importance is minus the score. Used in the tests to check that
    ``tp.pruner.BasePruner`` (with the classifier in ``ignored_layers``) and :func:`prune` agree.
    """
    by_module = {}

    def importance(group):
        layer = group[0][0].target.module
        s = torch.as_tensor(by_module[id(layer)], dtype=torch.float32)
        return -s if highest else s

    importance.bind = lambda model: by_module.update(  # noqa: E731
        {id(conv): np.asarray(scores[key]) for key, _, conv in _convs(model) if key in scores})
    return importance


# ----------------------------------------------------------------------------- fine-tuning and measuring


def fine_tune(model, X, y, epochs: int = 1, *, lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
              X_test=None, y_test=None, num_threads: int = 1, progress: Optional[bool] = None):
    """Train a (pruned) model a few more epochs with :func:`topokit.training.fit` (Adam, constant rate).

    Returns the :class:`~topokit.training.FitResult`; ``model`` is trained in place.
    """
    from .training import fit

    epochs = _check_positive_int(epochs, "epochs", "e.g. epochs=1")
    return fit(model, X, y, X_test=X_test, y_test=y_test, max_epochs=epochs, lr=lr, lr_decay=None,
               batch_size=batch_size, stop_at_target=False, seed=seed, num_threads=num_threads, progress=progress)


def saved_bytes(model) -> int:
    """Size in bytes of the file :func:`topokit.models.save` writes for ``model``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = _models.save(model, Path(tmp) / "model.pt")
        return os.path.getsize(path)


def latency(model, input_shape: Sequence[int], batch_size: int = 1, threads: int = 1,
            min_run_time: float = 0.3) -> dict:
    """CPU inference latency with ``torch.utils.benchmark`` (fixed threads, warm-up, blocked runs).

    Returns
    -------
    dict
        ``median_ms``, ``iqr_ms``, ``runs`` (number of timed blocks) for one batch.
    """
    return latencies([model], input_shape, batch_size, threads, min_run_time, rounds=1)[0]


def latencies(models: Sequence, input_shape: Sequence[int], batch_size: int = 1, threads: int = 1,
              min_run_time: float = 0.3, rounds: int = 5) -> list:
    """CPU inference latencies of several models, timed in interleaved rounds.

    Each round times every model in turn (``torch.utils.benchmark`` blocked runs of
    ``min_run_time / rounds`` seconds each), so a slow spell of the machine (another process, the
    clock) falls on all the models alike instead of on whichever was timed then. A model's median
    and IQR are taken over its blocks of all rounds, so they include the spread between rounds:
    at batch 1 a small CNN takes well under a millisecond, and separate timings of the same model a
    minute apart differed by up to 2x here, far more than one timing's own IQR.

    Parameters
    ----------
    models : sequence of nn.Module
        Copied to the CPU in eval mode; not modified.
    input_shape : sequence of int
        One input's shape (without the batch).
    batch_size, threads : int
    min_run_time : float, default 0.3
        Seconds of timed runs per model, over all rounds.
    rounds : int, default 5

    Returns
    -------
    list of dict
        Per model, in order: ``median_ms``, ``iqr_ms``, ``runs`` (number of timed blocks).
    """
    from torch.utils import benchmark

    models = list(models)
    if not models:
        raise _checks.InvalidParameterError("models is empty; pass at least one model")
    rounds = _checks.integer(rounds, "rounds", minimum=1, fix="e.g. rounds=5")
    min_run_time = _checks.real(min_run_time, "min_run_time", minimum=0, include_min=False, fix="e.g. 0.3 seconds")
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1, fix="e.g. batch_size=1")
    threads = _checks.integer(threads, "threads", minimum=1, fix="e.g. threads=1")
    shape = [_checks.integer(v, "input_shape entry", minimum=1, fix="one input's shape without the batch, e.g. (1, 28, 28)")
             for v in (input_shape if isinstance(input_shape, (list, tuple)) else [input_shape])]
    x = torch.randn(batch_size, *shape)
    copies = [copy.deepcopy(m).cpu().eval() for m in models]
    times: list = [[] for _ in copies]
    with torch.no_grad():
        timers = []
        for i, m in enumerate(copies):
            try:
                m(x)  # warm-up, and the check that the model takes this input
            except (RuntimeError, ValueError, TypeError) as exc:
                raise ValueError(f"model {i} ({type(m).__name__}) cannot take a batch of shape {tuple(x.shape)}: {exc}; "
                                 f"pass input_shape as one input's shape without the batch") from exc
            timers.append(benchmark.Timer(stmt="m(x)", globals={"m": m, "x": x}, num_threads=threads))
        for _ in range(rounds):
            for i, timer in enumerate(timers):
                times[i] += list(timer.blocked_autorange(min_run_time=min_run_time / rounds).times)
    out = []
    for t in times:
        q25, q50, q75 = np.percentile(t, [25, 50, 75])
        out.append({"median_ms": float(q50) * 1e3, "iqr_ms": float(q75 - q25) * 1e3, "runs": len(t)})
    return out


def measure(model, X_test, y_test, *, latency_batches: Sequence[int] = (1, 256), threads: int = 1,
            min_run_time: float = 0.3) -> dict:
    """Accuracy, parameters, MACs (per image at the test size), saved bytes and CPU latency."""
    return measure_models([model], X_test, y_test, latency_batches=latency_batches, threads=threads,
                          min_run_time=min_run_time, rounds=1)[0]


def measure_models(models: Sequence, X_test, y_test, *, latency_batches: Sequence[int] = (1, 256), threads: int = 1,
                   min_run_time: float = 0.3, rounds: int = 5) -> list:
    """:func:`measure` for several models, their latencies timed in interleaved rounds (:func:`latencies`).

    Compare the latencies of models measured together: each timing of a model alone takes
    whatever state the machine is in at that moment.

    Returns
    -------
    list of dict
        Per model, in order: ``accuracy, params, macs, bytes`` and ``latency_b{batch}_ms``,
        ``latency_b{batch}_iqr_ms`` for each batch.
    """
    from .training import accuracy

    models = list(models)
    if not models:
        raise _checks.InvalidParameterError("models is empty; pass at least one model")
    rows = []
    for model in models:
        X, y = _check_images(model, X_test, y_test)
        params, macs = count_params_macs(model.cpu(), torch.from_numpy(X[:1]))
        rows.append({"accuracy": accuracy(model, X, y), "params": params, "macs": macs, "bytes": saved_bytes(model)})
    for b in latency_batches:
        for row, t in zip(rows, latencies(models, X.shape[1:], batch_size=b, threads=threads,
                                          min_run_time=min_run_time, rounds=rounds)):
            row[f"latency_b{b}_ms"] = t["median_ms"]
            row[f"latency_b{b}_iqr_ms"] = t["iqr_ms"]
    return rows


# ----------------------------------------------------------------------------- curves


@dataclass
class _Curve:
    name: str
    scores: dict
    highest: bool
    seed: Optional[int] = None


def accuracy_curves(model, curves: Mapping, X_train, y_train, X_test, y_test, fractions: Sequence[float],
                    finetune_epochs: int = 1, *, seed: int = 0, lr: float = 1e-3, batch_size: int = 64,
                    progress: Optional[bool] = None) -> pd.DataFrame:
    """Test accuracy against the fraction of filters removed per layer, with and without fine-tuning.

    Parameters
    ----------
    model : LayeredNet
        The trained CNN (not modified).
    curves : dict
        Curve name -> ``(scores, highest)`` or ``(scores, highest, seed)`` (e.g.
        ``{"betti-high": (betti, True), "random": (r, True, 0)}``).
    X_train, y_train : array-like
        For fine-tuning.
    X_test, y_test : array-like
        For the accuracy.
    fractions : sequence of float in [0, 1)
    finetune_epochs : int, default 1
        The fixed fine-tuning budget (0: none); every pruned model gets the same.
    seed : int, default 0
        Fine-tuning seed.
    lr, batch_size : float, int
        Fine-tuning optimiser settings (Adam, constant rate; :func:`fine_tune`).

    Returns
    -------
    pandas.DataFrame
        One row per (curve, fraction, finetuned): ``curve, seed, fraction, finetuned, epochs,
        accuracy, params, macs, channels``.
    """
    from tqdm.auto import tqdm

    from .fileio import progress_enabled
    from .training import accuracy

    X_train, y_train = _check_images(model, X_train, y_train)
    X_test, y_test = _check_images(model, X_test, y_test)
    for f in fractions:
        _check_rule(None, f)
    specs = []
    for name, spec in curves.items():
        scores, highest = spec[0], spec[1]
        specs.append(_Curve(str(name), _check_scores(model, scores), bool(highest), spec[2] if len(spec) > 2 else None))
    x1 = torch.from_numpy(X_test[:1])
    rows = []
    bar = tqdm(total=len(specs) * len(fractions), desc="curves", leave=False, disable=not progress_enabled(progress))
    for c in specs:
        for f in fractions:
            pruned, rep = prune(model, c.scores, fraction=f, example_input=x1, highest=c.highest)
            base = {"curve": c.name, "seed": c.seed, "fraction": float(f), "params": rep["params_after"],
                    "macs": rep["macs_after"], "channels": str(list(rep["channels_after"].values()))}
            rows.append({**base, "finetuned": False, "epochs": 0, "accuracy": accuracy(pruned, X_test, y_test)})
            if finetune_epochs:
                fine_tune(pruned, X_train, y_train, epochs=finetune_epochs, seed=seed, lr=lr, batch_size=batch_size,
                          progress=False)
                rows.append({**base, "finetuned": True, "epochs": int(finetune_epochs),
                             "accuracy": accuracy(pruned, X_test, y_test)})
            bar.update()
    bar.close()
    return pd.DataFrame(rows, columns=["curve", "seed", "fraction", "finetuned", "epochs", "accuracy", "params",
                                       "macs", "channels"])


def scratch_curve(model, X_train, y_train, X_test, y_test, fractions: Sequence[float], epochs: int,
                  *, seeds: Sequence[int] = (0,), lr: float = 1e-3, batch_size: int = 64,
                  progress: Optional[bool] = None) -> pd.DataFrame:
    """Liu et al. (2019)'s baseline: the pruned architecture trained from scratch.

    The fraction rule gives every layer ``C - floor(fraction * C)`` filters whatever the scores,
    so one architecture per fraction; each is built fresh (seeded) and trained ``epochs`` epochs.

    Returns
    -------
    pandas.DataFrame
        ``curve ("scratch"), seed, fraction, finetuned (False), epochs, accuracy, params, macs, channels``.
    """
    from .training import accuracy, fit

    X_train, y_train = _check_images(model, X_train, y_train)
    X_test, y_test = _check_images(model, X_test, y_test)
    arch = _models.architecture(model)
    x1 = torch.from_numpy(X_test[:1])
    rows = []
    for f in fractions:
        _check_rule(None, f)
        channels = [c - min(int(math.floor(f * c + 1e-9)), c - 1) for c in arch["channels"]]
        for s in seeds:
            net = _models.cnn(arch["in_channels"], arch["num_classes"], arch["activation"], channels, arch["hidden"],
                              arch["batch_norm"], seed=int(s))
            fit(net, X_train, y_train, max_epochs=int(epochs), lr=lr, lr_decay=None, batch_size=batch_size,
                stop_at_target=False, seed=int(s), num_threads=1, progress=progress)
            params, macs = count_params_macs(net, x1)
            rows.append({"curve": "scratch", "seed": int(s), "fraction": float(f), "finetuned": False,
                         "epochs": int(epochs), "accuracy": accuracy(net, X_test, y_test), "params": params,
                         "macs": macs, "channels": str(channels)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- the notebook's study

#: Names of notebook 04's study, now defined in :mod:`topokit.studies.pruning` (see :func:`__getattr__`).
_STUDY_NAMES = ("STUDY_SETS", "STUDY_SIZES", "STUDY_CURVES", "PruningStudy", "study", "trained_model", "betti_sweep")


def __getattr__(name: str):
    """The names of notebook 04's study (:data:`_STUDY_NAMES`), imported from :mod:`topokit.studies.pruning`.

    ``pruning.study``, ``pruning.trained_model``, ``pruning.betti_sweep``, ``pruning.STUDY_SETS``,
    ``pruning.STUDY_SIZES``, ``pruning.STUDY_CURVES`` and ``pruning.PruningStudy`` are the same
    objects as in the study module, imported on first use and without a warning (they are entry
    points outside code calls). This is the only place a library module reaches a study, and only
    lazily: importing :mod:`topokit.pruning` never imports :mod:`topokit.studies`
    (``tests/test_studies.py`` checks both).
    """
    if name in _STUDY_NAMES:
        from .studies import pruning as _study

        return getattr(_study, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_STUDY_NAMES))
