"""Scoring CNN filters by the topology of their feature maps, and pruning them physically.

Kochar, Vengalil & Sinha (arXiv 2109.01572) prune "filters that transform data to a topological
space with large Betti numbers": "All filters with Betti numbers greater than 300 were removed
from each layer without significant reduction in accuracy. This resulted in faster prediction
time and reduced memory size of the model." Only their abstract exists, so every choice below is
ours and documented where it is made.

Scores (:func:`filter_scores`)
------------------------------
The *feature map* of a filter is its channel after the activation (conv -> batch norm ->
activation), before pooling: hooked at the input of the block's ``MaxPool2d``.

``"betti"`` (default)
    The N images, each mapped to the flattened feature map of the filter, form a point cloud
    in R^(H W). Per class, duplicates are removed and the Betti numbers b0 and b1 of the
    Euclidean Vietoris-Rips complex at a fixed scale eps are computed; the score is b0 + b1
    summed over the classes. A bar counts when ``birth <= eps < death``. Computed exactly: the
    complex at eps is the flag complex of the graph "distance <= eps" (giotto-ph's own float32
    distances, reproduced bit for bit: the same BLAS product and float64 steps as sklearn's
    ``pairwise_distances``), whose dominated vertices are removed first (strong collapses, which
    keep every Betti number), then giotto-ph's ``ripser_parallel`` runs on what is left with every
    edge at one filtration value. Checked equal to giotto-tda's full-filtration diagrams read at
    eps (tests, and every filter of notebook 04's CNNs in ``benchmarks/bench_pruning.py``).
    **Scale rule** (``scale=None``): one eps per layer, the median over the layer's *live*
    (filter, class) clouds of the median distance from a point to its 14th nearest other
    distinct point. A cloud is live when it has at least 15 distinct points: constant (dead)
    filters, whose cloud is one point, and nearly dead ones are left out. Left in, they had set
    the median to 0 in a layer with more than half its filters dead, and every live filter then
    scored the maximum, N. With no live cloud in a layer, eps = 1 (every cloud then scores its
    number of distinct points, at most 14 per class). Pass ``scale`` to use one eps everywhere.
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
A threshold rule (remove the filters scoring above ``threshold``, or below it with
``highest=False``) or a fraction rule (remove ``floor(fraction * C)`` filters of each layer of C,
the highest-scoring or the lowest, ties broken by filter index). A layer is never emptied: when
the rule would remove every filter, the one it would remove last stays. Removal is physical,
through Torch-Pruning's ``DependencyGraph``: the conv, its batch norm and the next conv's (or the
dense layer's) input channels all shrink. Traps handled: we pick the indices ourselves, so
Torch-Pruning's "remove the lowest importance" convention cannot flip the direction
(:func:`torch_pruning_importance` gives the negated importance its high-level pruners need,
and the tests check both agree); only conv output channels are pruned, so the classifier is
never touched (the high-level pruners need it in ``ignored_layers``); the dense layer's input
size after ``AdaptiveAvgPool2d -> Flatten`` (Torch-Pruning issue #511) is checked against the
last conv's channels after every pruning; models are saved as architecture JSON + state dict
(:func:`topokit.models.save`), never pickled.
"""
from __future__ import annotations

import copy
import math
import numbers
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numba
import numpy as np
import pandas as pd
import torch
from torch import nn

from . import models as _models
from .models import LayeredNet

__all__ = [
    "METHODS",
    "PAPER_THRESHOLD",
    "DEFAULT_MAX_IMAGES",
    "SCALE_K",
    "CUBICAL_NOISE_FRACTION",
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
    "measure",
    "scores_frame",
    "accuracy_curves",
    "scratch_curve",
    "STUDY_SETS",
    "STUDY_SIZES",
    "STUDY_CURVES",
    "PruningStudy",
    "study",
    "trained_model",
    "betti_sweep",
]

#: Scoring methods of :func:`filter_scores`.
METHODS = ("betti", "betti-knn", "cubical", "l1", "hrank", "random")
#: Kochar et al.'s threshold: filters with Betti numbers above it were removed.
PAPER_THRESHOLD = 300
#: Default cap on the number of images scored (a stratified subsample beyond it).
DEFAULT_MAX_IMAGES = 1000
#: The neighbour rank of the ``"betti"`` scale rule (Naitzat's k = 14 for D-I).
SCALE_K = 14
#: ``"cubical"`` noise level as a fraction of the layer's feature-map standard deviation.
CUBICAL_NOISE_FRACTION = 0.1
_KNN_K, _KNN_HOPS = 14, 2


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


def conv_layer_names(model) -> list[str]:
    """Names of the conv blocks of a :class:`~topokit.models.LayeredNet` (``["conv1", ...]``)."""
    return [name for name, _, _ in _conv_blocks(model)]


def _check_images(model, X, y=None):
    convs = _conv_blocks(model)
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X, dtype=np.float32)
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
    if y is None:
        return X, None
    y = np.asarray(y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y).reshape(-1)
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} images but y has {len(y)} labels; pass one label per image")
    return X, y


def _check_positive_int(value, what, fix):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}; {fix}")
    return int(value)


def _check_positive_number(value, what, fix):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive finite number, got {value!r}; {fix}")
    return float(value)


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


def feature_maps(model, X, batch_size: int = 256) -> dict:
    """Each conv block's feature maps: after its activation, before its pooling.

    The forward pass runs on a copy of the model in channels-last memory format (about twice as
    fast on CPU; values agree with the default format to float32 rounding) and stops after the
    last conv block; the model itself is not changed.

    Returns
    -------
    dict
        Conv-layer name -> float32 tensor ``(n, C, H, W)`` (CPU, contiguous). Eval mode, no gradients.
    """
    _conv_blocks(model)
    X, _ = _check_images(model, X)
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


def _distinct(cloud: np.ndarray) -> np.ndarray:
    """The distinct rows of a cloud, as float64, in order of first appearance.

    Rows are compared by their bytes (after -0.0 -> 0.0) in their own dtype (float32 feature maps
    convert to float64 exactly): a compiled pass hashes every row, and only rows with equal hashes
    are compared in full.
    """
    a = np.asarray(cloud)
    a = a.reshape(len(a), -1) if a.ndim != 2 else a
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    a = np.ascontiguousarray(a) + a.dtype.type(0)  # -0.0 -> 0.0, so equal values have equal bytes
    if a.shape[1] == 0:
        return np.zeros((min(len(a), 1), 0))
    keep = _first_rows(a.view(np.uint32 if a.dtype == np.float32 else np.uint64))
    return a[keep].astype(np.float64)


@numba.njit(cache=True)
def _first_rows(w):
    """Mask of the first occurrence of every distinct row of an integer matrix."""
    n, m = w.shape
    mult = np.empty(m, np.uint64)
    x = np.uint64(0x9E3779B97F4A7C15)
    for j in range(m):  # fixed odd multipliers (splitmix-style sequence)
        x = x * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
        mult[j] = x | np.uint64(1)
    h = np.zeros(n, np.uint64)
    for i in range(n):
        acc = np.uint64(0)
        for j in range(m):
            acc += np.uint64(w[i, j]) * mult[j]
        h[i] = acc
    order = np.argsort(h, kind="mergesort")  # stable: equal hashes stay in row order
    keep = np.ones(n, np.bool_)
    s = 0
    while s < n:
        e = s + 1
        while e < n and h[order[e]] == h[order[s]]:
            e += 1
        for a in range(s + 1, e):
            ra = order[a]
            for b in range(s, a):
                rb = order[b]
                if not keep[rb]:
                    continue
                same = True
                for j in range(m):
                    if w[ra, j] != w[rb, j]:
                        same = False
                        break
                if same:
                    keep[ra] = False
                    break
        s = e
    return keep


def _distances(cloud: np.ndarray, k: int = SCALE_K) -> tuple:
    """giotto-ph's float32 distances of a distinct cloud, and each point's k-th neighbour distance.

    giotto-ph takes sklearn's ``pairwise_distances`` (float64: ``-2 X X^T``, plus the squared row
    norms, clipped at 0, square root), casts it to float32 and reads its upper triangle. The same
    BLAS product and the same float64 operations in the same order give the same values bit for
    bit (tested), fused here into one compiled pass that also keeps the k-th smallest value of
    every row (the point itself counting as the 0th).

    Returns
    -------
    (D, kth)
        ``D``: float32, the upper triangle (i < j) row by row, as ``M[np.triu_indices(n, 1)]``
        of the square matrix; ``kth``: float32 (n,), NaN when n <= k.
    """
    from sklearn.utils.extmath import row_norms

    X = np.ascontiguousarray(cloud, dtype=np.float64)
    return _distance_kernel(X @ X.T, row_norms(X, squared=True), int(k))


@numba.njit(cache=True)
def _distance_kernel(G, xx, k):
    n = G.shape[0]
    D = np.empty(n * (n - 1) // 2, np.float32)
    row = np.empty(n, np.float32)
    kth = np.full(n, np.nan, np.float32)
    buf = np.empty(k + 1, np.float32)
    cand = np.empty(n, np.float32)
    m0 = min(n, 64)
    r = min(m0 - 1, ((k + 1) * m0) // n + 4)
    small = np.empty(r + 1, np.float32)
    off = 0
    for i in range(n):
        xi = xx[i]
        for j in range(i):  # entry (j, i) of the upper triangle, as sklearn computes it (G is symmetric)
            d = -2.0 * G[i, j]
            d += xx[j]
            d += xi
            row[j] = np.float32(np.sqrt(max(d, 0.0)))
        row[i] = 0.0
        for j in range(i + 1, n):
            d = -2.0 * G[i, j]
            d += xx[i]
            d += xx[j]
            if d < 0.0:
                d = 0.0
            v = np.float32(np.sqrt(d))
            row[j] = v
            D[off + j - i - 1] = v
        off += n - 1 - i
        if n > k:
            kth[i] = _kth_of_row(row, k, buf, cand, small, m0, r)
    return D, kth


@numba.njit(cache=True, inline="always")
def _keep_smallest(buf, size, cap, v):
    """Insert v into the ascending buffer of the ``size`` smallest values seen (at most ``cap``); new size."""
    if size == cap:
        if v >= buf[cap - 1]:
            return size
        t = cap - 1
    else:
        t = size
        size += 1
    while t > 0 and buf[t - 1] > v:
        buf[t] = buf[t - 1]
        t -= 1
    buf[t] = v
    return size


@numba.njit(cache=True)
def _kth_of_row(row, k, buf, cand, small, m0, r):
    """The k-th smallest value (0-based) of a row of more than k values.

    A bound first: the (r+1)-th smallest of the row's first m0 values usually has a few dozen of
    the row's values below it; the k-th smallest is selected among those (or among the whole row
    when k or fewer fall below). Exact either way.
    """
    n = len(row)
    size = 0
    for j in range(m0):
        size = _keep_smallest(small, size, r + 1, row[j])
    bound = small[size - 1]
    c = 0
    for j in range(n):
        v = row[j]
        cand[c] = v
        c += v <= bound
    src = cand
    if c <= k:
        src = row
        c = n
    size = 0
    for j in range(c):
        size = _keep_smallest(buf, size, k + 1, src[j])
    return buf[k]


def _scale_of(kth: np.ndarray) -> float:
    """One cloud's contribution to the scale rule: the median k-th neighbour distance (NaN below k + 1 points)."""
    return float("nan") if np.isnan(kth).any() else float(np.median(kth))


def euclidean_betti(cloud, scale: float, distances: Optional[np.ndarray] = None) -> tuple:
    """(b0, b1) of the Euclidean Vietoris-Rips complex of a cloud at ``scale``, duplicates removed.

    Bars count when ``birth <= scale < death``; distances are float32, compared with
    ``float32(scale)``, as in giotto-ph/giotto-tda, so a full-filtration giotto-tda diagram read
    at the same scale gives identical counts. The complex at one scale is the flag complex of the
    graph "distance <= scale", whatever the distances below it (see :func:`_flag_betti`).

    Parameters
    ----------
    cloud : array-like, shape (n, ...)
        Points (flattened per point); duplicates are removed here.
    scale : float
    distances : np.ndarray, optional
        The float32 distance matrix (n, n) of the *distinct* points, if already computed (its
        upper triangle is read).
    """
    if distances is None:
        X = _distinct(np.asarray(cloud).reshape(len(cloud), -1))
        D = _distances(X)[0]
    else:
        distances = np.asarray(distances, dtype=np.float32)
        D = distances[np.triu_indices(len(distances), 1)]
    return _betti_at(D, np.float32(scale))


def _betti_at(D: np.ndarray, eps) -> tuple:
    """(b0, b1) of the flag complex of the graph ``D <= eps`` (D: float32 upper triangle, as :func:`_distances`)."""
    return _flag_betti(D, eps)


def _points(upper: np.ndarray) -> int:
    """The number of points n of an upper triangle of n (n - 1) / 2 entries."""
    n = int(round((1 + math.sqrt(1 + 8 * len(upper))) / 2))
    if n * (n - 1) // 2 != len(upper):
        raise ValueError(f"{len(upper)} entries are not the upper triangle of a square matrix")
    return n


def _flag_betti(M: np.ndarray, threshold) -> tuple:
    """(b0, b1) of the flag (clique) complex of the graph ``M <= threshold``.

    ``M``: the upper triangle (i < j) of a symmetric matrix, row by row (``A[np.triu_indices(n, 1)]``).

    b0 and the strong-collapse core come from :func:`_flag_core` (compiled); b1 is 0 when the
    core has no edge, the number of core components when every core vertex has two neighbours
    (disjoint cycles of length >= 4, which have no triangle), and otherwise giotto-ph's
    ``ripser_parallel`` on the core with every edge at filtration value 1.
    """
    b0, m, i, j, cycles = _flag_core(M, _points(M), M.dtype.type(threshold))
    if m == 0:
        return (int(b0), 0)
    if cycles >= 0:
        return (int(b0), int(cycles))
    from gph import ripser_parallel
    import scipy.sparse as sp

    A = sp.coo_matrix((np.ones(len(i), np.float32), (i, j)), shape=(m, m))
    dgm = ripser_parallel(A, maxdim=1, thresh=1.0, metric="precomputed", n_threads=1)["dgms"][1]
    return (int(b0), int(np.count_nonzero(dgm[:, 1] > 1.0)))


@numba.njit(cache=True)
def _find(parent, a):
    root = a
    while parent[root] != root:
        root = parent[root]
    while parent[a] != root:
        nxt = parent[a]
        parent[a] = root
        a = nxt
    return root


@numba.njit(cache=True)
def _flag_core(M, n, threshold):
    """Components and strong-collapse core of the graph ``M <= threshold`` on n vertices (M: upper triangle).

    Vertex v is dominated by a neighbour u when every neighbour of v is u or a neighbour of u
    (closed neighbourhoods N[v] within N[u]). Removing it is a strong collapse of the flag complex
    (Boissonnat & Pritam 2020): the homotopy type, hence every Betti number, is unchanged. A
    vertex is re-examined only after one of its neighbours left. Components are counted on the
    core (same number as the graph's).

    Returns
    -------
    (b0, m, i, j, cycles)
        The number of components; the m core vertices that keep an edge, renumbered 0..m-1, and
        their edges (i < j); ``cycles``: the number of core components when every one of those
        vertices has exactly two neighbours, else -1.
    """
    one = np.uint64(1)
    deg = np.zeros(n, np.int64)
    off = 0
    for a in range(n):
        c = 0
        for t in range(n - 1 - a):
            e = M[off + t] <= threshold
            c += e
            deg[a + 1 + t] += e
        deg[a] += c
        off += n - 1 - a
    start = np.zeros(n + 1, np.int64)
    for a in range(n):
        start[a + 1] = start[a] + deg[a]
    nbr = np.empty(start[n], np.int64)
    fill = start[:n].copy()
    words = (n + 63) // 64
    bits = np.zeros((n, words), np.uint64)
    off = 0
    for a in range(n):
        bits[a, a >> 6] |= one << np.uint64(a & 63)
        for t in range(n - 1 - a):
            if M[off + t] <= threshold:
                b = a + 1 + t
                nbr[fill[a]] = b
                fill[a] += 1
                nbr[fill[b]] = a
                fill[b] += 1
                bits[a, b >> 6] |= one << np.uint64(b & 63)
                bits[b, a >> 6] |= one << np.uint64(a & 63)
        off += n - 1 - a
    alive = np.ones(n, np.bool_)
    dirty = np.ones(n, np.bool_)  # a neighbour left since the vertex was last examined
    changed = True
    while changed:
        changed = False
        for v in range(n):
            if not dirty[v] or not alive[v]:
                continue
            dirty[v] = False
            if deg[v] == 0:
                continue
            for t in range(start[v], start[v + 1]):
                u = nbr[t]
                if not alive[u] or deg[u] < deg[v]:
                    continue
                inside = True
                for w in range(words):
                    if bits[v, w] & ~bits[u, w]:
                        inside = False
                        break
                if inside:
                    alive[v] = False
                    changed = True
                    for s in range(start[v], start[v + 1]):
                        x = nbr[s]
                        if alive[x]:
                            bits[x, v >> 6] &= ~(one << np.uint64(v & 63))
                            deg[x] -= 1
                            dirty[x] = True
                    break
    label = np.full(n, -1, np.int64)
    m = 0
    isolated = 0
    two = True
    e = 0
    for a in range(n):
        if alive[a]:
            if deg[a] == 0:
                isolated += 1
            else:
                label[a] = m
                m += 1
                e += deg[a]
                two = two and deg[a] == 2
    ei = np.empty(e // 2, np.int64)
    ej = np.empty(e // 2, np.int64)
    parent = np.arange(m)
    e = 0
    for a in range(n):
        if label[a] < 0:
            continue
        for t in range(start[a], start[a + 1]):
            b = nbr[t]
            if b > a and alive[b]:
                ei[e] = label[a]
                ej[e] = label[b]
                e += 1
                ra, rb = _find(parent, label[a]), _find(parent, label[b])
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    pieces = 0
    for a in range(m):
        if _find(parent, a) == a:
            pieces += 1
    return isolated + pieces, m, ei, ej, pieces if two and m > 0 else -1


def _class_clouds(maps: torch.Tensor, y: np.ndarray, labels):
    """Yield the distinct cloud of every (filter, class) of a layer's maps (n, C, H, W), filter by filter.

    One at a time, so that memory is reused from cloud to cloud; the owner of the i-th cloud is
    filter ``i // len(labels)`` (:func:`_owners`).
    """
    flat = maps.reshape(maps.shape[0], maps.shape[1], -1).numpy()
    masks = [y == lab for lab in labels]
    for c in range(flat.shape[1]):
        for mask in masks:
            yield _distinct(flat[mask, c])


def _owners(maps: torch.Tensor, labels) -> np.ndarray:
    """The filter of each cloud :func:`_class_clouds` yields."""
    return np.repeat(np.arange(maps.shape[1]), len(labels))


def _per_filter(maps: torch.Tensor, labels, results) -> np.ndarray:
    """Per-filter score: b0 + b1 summed over the classes' clouds."""
    score = np.zeros(maps.shape[1])
    np.add.at(score, _owners(maps, labels), [sum(b) for b in results])
    return score


def layer_scales(model, X, y, n_images: Optional[int] = None, seed: int = 0, k: int = SCALE_K) -> dict:
    """The ``"betti"`` scale of every conv layer by the documented rule (see the module docstring).

    Returns
    -------
    dict
        Layer name -> eps (float).
    """
    X, y = _check_images(model, X, y)
    idx = subsample(y, n_images, seed)
    maps = feature_maps(model, X[idx])
    return {name: _scale_from_kth([_distances(cloud, k)[1] for cloud in _class_clouds(m, y[idx], np.unique(y[idx]))])
            for name, m in maps.items()}


def _scale_from_kth(kths) -> float:
    """The layer's scale from each cloud's k-th neighbour distances: median over the live clouds."""
    values = [_scale_of(kth) for kth in kths]
    values = [v for v in values if np.isfinite(v) and v > 0]
    return float(np.median(values)) if values else 1.0


def _run(tasks, fn, n_jobs: int, desc: str, progress: Optional[bool], total: Optional[int] = None):
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    from .fileio import progress_enabled

    it = tqdm(tasks, desc=desc, leave=False, total=total, disable=not progress_enabled(progress))
    if n_jobs == 1:
        return [fn(*t) for t in it]
    return Parallel(n_jobs=n_jobs)(delayed(fn)(*t) for t in it)


def _knn_betti(cloud: np.ndarray) -> tuple:
    """(b0, b1) as :func:`topokit.topology.layer_betti` counts them (k = 14, 2 hops) for a distinct cloud.

    The same kNN neighbours as :func:`topokit.topology.knn_graph` (sklearn, the point itself
    counted); the complex at 2 hops is the flag complex of "hop distance <= 2"
    (:func:`_hop_adjacency`), measured by :func:`_flag_betti`.
    """
    from sklearn.neighbors import NearestNeighbors

    if len(cloud) <= _KNN_K:
        return (1, 0)
    ind = NearestNeighbors(n_neighbors=_KNN_K).fit(cloud).kneighbors(cloud, return_distance=False)
    return _flag_betti(_hop_adjacency(ind, _KNN_HOPS), 0)


@numba.njit(cache=True)
def _hop_adjacency(ind, hops):
    """Pairs within ``hops`` hops of the undirected graph of neighbour lists ``ind``.

    Returns the upper triangle (i < j, row by row) as uint8, 0 where within, so that
    :func:`_flag_betti` reads the graph as ``R <= 0``.
    """
    n, k = ind.shape
    A = np.zeros((n, n), np.bool_)
    for i in range(n):
        for t in range(k):
            j = ind[i, t]
            if j != i:
                A[i, j] = True
                A[j, i] = True
    start = np.zeros(n + 1, np.int64)
    for i in range(n):
        c = 0
        for j in range(n):
            if A[i, j]:
                c += 1
        start[i + 1] = start[i] + c
    nbr = np.empty(start[n], np.int64)
    for i in range(n):
        t = start[i]
        for j in range(n):
            if A[i, j]:
                nbr[t] = j
                t += 1
    R = np.zeros((n, n), np.bool_)
    depth = np.full(n, -1, np.int64)
    queue = np.empty(n, np.int64)
    for s in range(n):
        depth[s] = 0
        queue[0] = s
        head, tail = 0, 1
        while head < tail:
            v = queue[head]
            head += 1
            if depth[v] == hops:
                continue
            for t in range(start[v], start[v + 1]):
                u = nbr[t]
                if depth[u] < 0:
                    depth[u] = depth[v] + 1
                    R[s, u] = True
                    queue[tail] = u
                    tail += 1
        for t in range(tail):
            depth[queue[t]] = -1
    out = np.empty(n * (n - 1) // 2, np.uint8)
    off = 0
    for i in range(n):
        for j in range(i + 1, n):
            out[off + j - i - 1] = 0 if R[i, j] else 1
        off += n - 1 - i
    return out


# ----------------------------------------------------------------------------- "cubical"


@numba.njit(cache=True)
def _radix_order(bits):
    """Stable ascending order of every row of float32 values given as their uint32 bits (LSD radix sort)."""
    m_count, n = bits.shape
    out = np.empty((m_count, n), np.int32)
    keys = np.empty(n, np.uint32)
    a = np.empty(n, np.int32)
    b = np.empty(n, np.int32)
    count = np.empty(257, np.int64)
    for m in range(m_count):
        for i in range(n):  # IEEE bits -> unsigned keys in the order of the values
            u = bits[m, i]
            keys[i] = ~u if u >> np.uint32(31) else u | np.uint32(0x80000000)
            a[i] = i
        src_is_a = True
        for shift in range(0, 32, 8):
            s = np.uint32(shift)
            count[:] = 0
            for i in range(n):
                count[np.int64((keys[i] >> s) & np.uint32(255)) + 1] += 1
            if count.max() == n:  # every key has this digit: the pass would change nothing
                continue
            for d in range(256):
                count[d + 1] += count[d]
            src, dst = (a, b) if src_is_a else (b, a)
            for i in range(n):
                p = src[i]
                d = np.int64((keys[p] >> s) & np.uint32(255))
                dst[count[d]] = p
                count[d] += 1
            src_is_a = not src_is_a
        out[m] = a if src_is_a else b
    return out


@numba.njit(cache=True, inline="always")
def _root(parent, a):
    while parent[a] != a:  # path halving
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


@numba.njit(cache=True)
def _cubical_union_find(f, order, h, w, noise):
    """Union-find persistence counts of maps ``f`` (m, h*w) given each row's ascending ``order``.

    H0: pixels in increasing order, 8-neighbours; H1 by Alexander duality: pixels in decreasing
    order, 4-neighbours, the outside of the image (node h*w) the oldest component. A component's
    root is its oldest pixel, so the elder rule compares entry steps.
    """
    m_count, n = f.shape
    out = np.zeros((m_count, 2), np.int64)
    parent = np.empty(n + 1, np.int32)
    step = np.empty(n + 1, np.int32)  # when a pixel entered the filtration; -1: not yet
    for m in range(m_count):
        fm = f[m]
        om = order[m]
        step[:] = -1
        c0 = 1  # the essential bar
        for r in range(n):
            p = om[r]
            step[p] = r
            parent[p] = p
            fp = np.float64(fm[p])
            pi = p // w
            pj = p - pi * w
            a = p
            for qi in range(max(pi - 1, 0), min(pi + 2, h)):
                for qj in range(max(pj - 1, 0), min(pj + 2, w)):
                    q = qi * w + qj
                    if step[q] < 0 or q == p:
                        continue
                    b = _root(parent, q)
                    if a == b:
                        continue
                    if step[a] < step[b]:
                        old, young = a, b
                    else:
                        old, young = b, a
                    if fp - np.float64(fm[young]) > noise:
                        c0 += 1
                    parent[young] = old
                    a = old
        step[:] = -1
        parent[n] = n
        step[n] = 0  # the outside: entered first, oldest of all
        c1 = 0
        for r in range(n):
            p = om[n - 1 - r]
            step[p] = r + 1
            parent[p] = p
            fp = np.float64(fm[p])
            pi = p // w
            pj = p - pi * w
            a = p
            border = pi == 0 or pj == 0 or pi == h - 1 or pj == w - 1
            for k in range(5):
                if k == 0:
                    if pi == 0:
                        continue
                    q = p - w
                elif k == 1:
                    if pi == h - 1:
                        continue
                    q = p + w
                elif k == 2:
                    if pj == 0:
                        continue
                    q = p - 1
                elif k == 3:
                    if pj == w - 1:
                        continue
                    q = p + 1
                else:
                    if not border:
                        continue
                    q = n
                if step[q] < 0:
                    continue
                b = _root(parent, q)
                if a == b:
                    continue
                if step[a] < step[b]:
                    old, young = a, b
                else:
                    old, young = b, a
                if np.float64(fm[young]) - fp > noise:
                    c1 += 1
                parent[young] = old
                a = old
        out[m, 0] = c0
        out[m, 1] = c1
    return out


def cubical_counts(maps, noise: float, chunk: int = 4096) -> np.ndarray:
    """Numbers of H0 and H1 bars of persistence ``> noise`` of each 2-D map's sublevel filtration.

    Exact (union-find; see the module docstring), equal to counting the bars of giotto-tda's
    ``CubicalPersistence(reduced_homology=False)`` diagrams with ``death - birth > noise`` (the
    essential H0 bar included). Pixels are ordered by a radix sort of their float32 bits (numpy's
    argsort for float64 maps); ties in the order only ever make bars of persistence 0.

    Parameters
    ----------
    maps : array-like, shape (m, H, W)
        Images (float32 kept, anything else as float64).
    noise : float
        Persistence threshold (>= 0).
    chunk : int, default 4096
        Maps ordered at a time (bounds the memory of the orders).

    Returns
    -------
    np.ndarray of int, shape (m, 2)
        Columns H0, H1.
    """
    a = maps.detach().cpu().numpy() if isinstance(maps, torch.Tensor) else np.asarray(maps)
    if a.ndim != 3 or a.shape[1] < 1 or a.shape[2] < 1:
        raise ValueError(f"maps must have shape (m, H, W), got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("maps contain NaN/inf")
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not noise >= 0:
        raise ValueError(f"noise must be a non-negative number, got {noise!r}")
    m, h, w = a.shape
    flat = np.ascontiguousarray(a.reshape(m, h * w), dtype=np.float32 if a.dtype == np.float32 else np.float64)
    out = np.empty((m, 2), np.int64)
    for s in range(0, m, chunk):
        part = flat[s:s + chunk]
        order = (_radix_order(part.view(np.uint32)) if part.dtype == np.float32
                 else np.argsort(part, axis=1).astype(np.int32))
        out[s:s + chunk] = _cubical_union_find(part, order, h, w, float(noise))
    return out


# ----------------------------------------------------------------------------- filter_scores


def filter_scores(model, X, y, method: str = "betti", scale: Optional[float] = None,
                  n_images: Optional[int] = None, seed: int = 0, *, noise: Optional[float] = None,
                  n_jobs: int = 1, progress: Optional[bool] = None, details: bool = False):
    """One score per output channel of every conv layer.

    Parameters
    ----------
    model : LayeredNet
        A CNN from :func:`topokit.models.cnn` (pruned or not).
    X : array-like, shape (n, C, H, W)
        Images (e.g. the training split).
    y : array-like, shape (n,)
        Class labels.
    method : {"betti", "betti-knn", "cubical", "l1", "hrank", "random"}, default "betti"
        See the module docstring for each.
    scale : float, optional
        ``"betti"`` only: the Vietoris-Rips scale for every layer; default one per layer by the
        documented rule (:func:`layer_scales`).
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
        Also return a dict of what was used per layer (``scale``/``noise``, ``n_images``).

    Returns
    -------
    dict
        Conv-layer name -> float array, one score per output channel (and the details dict when
        ``details=True``).

    Raises
    ------
    ValueError
        Unknown method, no conv layers, images of the wrong shape, bad ``scale``/``n_images``/
        ``noise`` -- before any feature map is computed.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(repr(m) for m in METHODS)}")
    convs = _conv_blocks(model)
    if scale is not None:
        scale = _check_positive_number(scale, "scale", "pass a Vietoris-Rips radius or None for the per-layer rule")
        if method != "betti":
            raise ValueError(f"scale applies to method='betti' only, not {method!r}; leave scale=None")
    if noise is not None:
        if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not noise >= 0:
            raise ValueError(f"noise must be a non-negative number, got {noise!r}; or None for the per-layer rule")
        if method != "cubical":
            raise ValueError(f"noise applies to method='cubical' only, not {method!r}; leave noise=None")
    if n_images is not None:
        n_images = _check_positive_int(n_images, "n_images", "e.g. n_images=1000, or None for all up to 1,000")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    n_jobs = int(n_jobs)
    info: dict = {}
    if method == "l1":
        out = {name: conv.weight.detach().abs().sum(dim=(1, 2, 3)).cpu().double().numpy() for name, _, conv in convs}
        return (out, info) if details else out
    if method == "random":
        out = {name: np.random.default_rng([int(seed), i]).random(conv.out_channels)
               for i, (name, _, conv) in enumerate(convs)}
        return (out, info) if details else out

    X, y = _check_images(model, X, y)
    labels = np.unique(y)
    idx = subsample(y, n_images, seed)
    X, y = X[idx], y[idx]
    maps = feature_maps(model, X)
    out = {}
    for name, m in maps.items():
        if method == "hrank":
            flat = m.reshape(-1, m.shape[2], m.shape[3])
            ranks = torch.cat([torch.linalg.matrix_rank(flat[i:i + 8192]) for i in range(0, len(flat), 8192)])
            out[name] = ranks.reshape(m.shape[0], m.shape[1]).double().mean(0).numpy()
        elif method == "cubical":
            level = float(noise) if noise is not None else CUBICAL_NOISE_FRACTION * float(m.double().std())
            c = cubical_counts(m.reshape(-1, m.shape[2], m.shape[3]), level)
            out[name] = c.sum(1).reshape(m.shape[0], m.shape[1]).mean(0).astype(np.float64)
            info[name] = {"noise": level, "n_images": len(X)}
        else:
            clouds = _class_clouds(m, y, labels)
            total = m.shape[1] * len(labels)
            if method == "betti":
                D, kth = zip(*[_distances(cloud) for cloud in clouds])
                eps = scale if scale is not None else _scale_from_kth(kth)
                res = _run(((d, np.float32(eps)) for d in D), _betti_at, n_jobs, f"betti {name}", progress, total)
                info[name] = {"scale": eps, "n_images": len(X)}
            else:
                res = _run(((cloud,) for cloud in clouds), _knn_betti, n_jobs, f"betti-knn {name}", progress, total)
                info[name] = {"k": _KNN_K, "hops": _KNN_HOPS, "n_images": len(X)}
            out[name] = _per_filter(m, labels, res)
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
    convs = _conv_blocks(model)
    if not isinstance(scores, Mapping):
        raise ValueError(f"scores must be a dict from conv-layer name to scores, got {type(scores).__name__}; "
                         "use filter_scores(model, X, y)")
    names = [n for n, _, _ in convs]
    if set(scores) != set(names):
        raise ValueError(f"scores name layers {sorted(scores)} but the model's conv layers are {names}; "
                         "compute them with filter_scores on this model")
    out = {}
    for name, _, conv in convs:
        s = np.asarray(scores[name], dtype=np.float64).reshape(-1)
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
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not np.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number, got {threshold!r}; e.g. threshold=300")
        return float(threshold), None
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 <= fraction < 1:
        raise ValueError(f"fraction must be a number in [0, 1), got {fraction!r}; e.g. fraction=0.5 removes "
                         "half the filters of each layer")
    return None, float(fraction)


def select_filters(scores: Mapping, threshold: Optional[float] = None, fraction: Optional[float] = None,
                   highest: bool = True) -> dict:
    """The filters a rule removes: layer -> sorted list of indices (never all of a layer).

    ``threshold``: scores ``> threshold`` (``highest=True``) or ``< threshold`` (``highest=False``).
    ``fraction``: ``floor(fraction * C)`` filters per layer of C, from the top (``highest=True``)
    or the bottom, ties by index. If a layer would lose every filter, the one the rule ranks
    last (lowest score with ``highest=True``) stays.
    """
    threshold, fraction = _check_rule(threshold, fraction)
    removed = {}
    for name, s in scores.items():
        s = np.asarray(s, dtype=np.float64)
        n = len(s)
        order = np.argsort(-s if highest else s, kind="stable")  # the order of removal
        if threshold is not None:
            k = int(np.count_nonzero(s > threshold if highest else s < threshold))
        else:
            k = int(math.floor(fraction * n + 1e-9))
        k = min(k, n - 1)
        removed[name] = sorted(int(i) for i in order[:k])
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
    convs = _conv_blocks(model)
    if example_input is None:
        side = max(8, 2 ** len(convs))
        return torch.zeros(1, convs[0][2].in_channels, side, side)
    x = torch.as_tensor(example_input).float()
    if x.ndim == 3:
        x = x[None]
    _check_images(model, x[:1].cpu().numpy())
    return x[:1]


def prune(model, scores, threshold: Optional[float] = None, fraction: Optional[float] = None,
          example_input=None, highest: bool = True):
    """Physically remove filters chosen by their scores; return ``(pruned_model, report)``.

    Parameters
    ----------
    model : LayeredNet
        A CNN; it is not modified (a deep copy is pruned).
    scores : dict
        Conv-layer name -> one score per filter (:func:`filter_scores`).
    threshold : float, optional
        Remove filters scoring above it (below it with ``highest=False``). Kochar et al.'s value
        is :data:`PAPER_THRESHOLD` = 300 for Betti scores; what it means depends on N and the
        scale (see notebook 04).
    fraction : float in [0, 1), optional
        Remove ``floor(fraction * C)`` filters of each layer of C. Exactly one of threshold and
        fraction.
    example_input : tensor, optional
        One input for tracing and counting MACs; default zeros of the smallest size the net
        takes (global pooling makes MACs scale with the image area: pass a real image size to
        compare MACs).
    highest : bool, default True
        Remove the highest scores (Kochar et al.'s direction); False removes the lowest (L1 and
        HRank's direction).

    Returns
    -------
    pruned_model : LayeredNet
        Smaller conv, batch-norm and next-layer weights; eval mode.
    report : dict
        ``params_before``, ``params_after``, ``macs_before``, ``macs_after``, ``removed`` (layer
        -> sorted removed output-channel indices, original numbering), ``channels_before``,
        ``channels_after`` (layer -> count).
    """
    import torch_pruning as tp

    scores = _check_scores(model, scores)
    removed = select_filters(scores, threshold=threshold, fraction=fraction, highest=bool(highest))
    x = _example(model, example_input)
    pruned = copy.deepcopy(model).cpu().eval()
    params_before, macs_before = count_params_macs(pruned, x)
    before = {n: c.out_channels for n, _, c in _conv_blocks(pruned)}
    if any(removed.values()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            DG = tp.DependencyGraph().build_dependency(pruned, example_inputs=x)  # traced: not under no_grad
        for name, _, conv in _conv_blocks(pruned):
            idxs = removed[name]
            if not idxs:
                continue
            group = DG.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=list(idxs))
            if not DG.check_pruning_group(group):
                raise RuntimeError(f"Torch-Pruning refused to prune {name} channels {idxs}")
            group.prune()
    _check_pruned(pruned, before, removed, x, model)
    params_after, macs_after = count_params_macs(pruned, x)
    report = {"params_before": params_before, "params_after": params_after, "macs_before": macs_before,
              "macs_after": macs_after, "removed": removed, "channels_before": before,
              "channels_after": {n: c.out_channels for n, _, c in _conv_blocks(pruned)}}
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
        {id(conv): np.asarray(scores[name]) for name, _, conv in _conv_blocks(model)})
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
    from torch.utils import benchmark

    m = copy.deepcopy(model).cpu().eval()
    x = torch.randn(int(batch_size), *[int(v) for v in input_shape])
    with torch.no_grad():
        m(x)  # warm-up
        timer = benchmark.Timer(stmt="m(x)", globals={"m": m, "x": x}, num_threads=int(threads))
        t = timer.blocked_autorange(min_run_time=min_run_time)
    return {"median_ms": t.median * 1e3, "iqr_ms": t.iqr * 1e3, "runs": len(t.times)}


def measure(model, X_test, y_test, *, latency_batches: Sequence[int] = (1, 256), threads: int = 1,
            min_run_time: float = 0.3) -> dict:
    """Accuracy, parameters, MACs (per image at the test size), saved bytes and CPU latency."""
    from .training import accuracy

    X_test, y_test = _check_images(model, X_test, y_test)
    params, macs = count_params_macs(model.cpu(), torch.from_numpy(X_test[:1]))
    row = {"accuracy": accuracy(model, X_test, y_test), "params": params, "macs": macs, "bytes": saved_bytes(model)}
    for b in latency_batches:
        t = latency(model, X_test.shape[1:], batch_size=b, threads=threads, min_run_time=min_run_time)
        row[f"latency_b{b}_ms"] = t["median_ms"]
        row[f"latency_b{b}_iqr_ms"] = t["iqr_ms"]
    return row


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

#: The three image sets of notebook 04: data options and the CNN trained on each. Images are small
#: (28x28 grey, 32x32 colour) so that the default run fits its time budget on 2 cores.
STUDY_SETS = {
    "fashion-mnist": {"data": {"name": "fashion-mnist", "classes": ["T-shirt/top", "Shirt"]}, "in_channels": 1},
    "cifar10": {"data": {"name": "cifar10", "classes": ["airplane", "ship"]}, "in_channels": 3},
    "cats-vs-dogs": {"data": {"name": "cats-vs-dogs", "image_size": 32}, "in_channels": 3},
}

#: Sizes of the study, default and quick (CI) mode.
STUDY_SIZES = {
    False: {"max_per_class": 1000, "test_per_class": 1000, "channels": [16, 32, 64], "hidden": 64, "epochs": 6,
            "batch_size": 64, "lr": 1e-3,
            "fractions": [0.25, 0.5, 0.75, 0.9], "random_seeds": [0, 1, 2], "finetune_epochs": 1,
            "n_images": 1000, "latency_min_run_time": 0.3},
    True: {"max_per_class": 150, "test_per_class": 150, "channels": [8, 16], "hidden": 16, "epochs": 6,
           "batch_size": 16, "lr": 3e-3,
           "fractions": [0.5, 0.9], "random_seeds": [0, 1], "finetune_epochs": 1,
           "n_images": 200, "latency_min_run_time": 0.02},
}

#: The curves of the study: name -> (scoring method, remove the highest scores?).
STUDY_CURVES = {
    "betti-high": ("betti", True),
    "betti-low": ("betti", False),
    "cubical-high": ("cubical", True),
    "cubical-low": ("cubical", False),
    "l1-low": ("l1", False),
    "hrank-low": ("hrank", False),
}


@dataclass
class PruningStudy:
    """Everything notebook 04 shows for one data set (see :func:`study`).

    Attributes
    ----------
    name : str
        Key of :data:`STUDY_SETS`.
    model : LayeredNet
        The trained CNN.
    history : pandas.DataFrame
        Its training history.
    train, test : topokit.data.Dataset
    scores : dict
        Method -> (layer -> scores); random ones as ``"random-<seed>"``.
    score_info : dict
        Method -> (layer -> the scale / noise and number of images used).
    curves : pandas.DataFrame
        :func:`accuracy_curves` rows for every curve (random seeds included), the ``"scratch"``
        rows of :func:`scratch_curve` and the ``"paper-rule"`` rows (Betti > 300; its fraction is
        the share of all filters removed).
    sizes : pandas.DataFrame
        Per fraction (0 = the trained model): params, macs, bytes and CPU latency (median and
        IQR, batch 1 and 256) of the architecture the fraction rule leaves.
    table : pandas.DataFrame
        The measurement table: original, paper rule with and without fine-tuning, and the main
        methods at half the filters with fine-tuning.
    config : dict
        Sizes and options used.
    """

    name: str
    model: LayeredNet
    history: pd.DataFrame
    train: object
    test: object
    scores: dict
    score_info: dict
    curves: pd.DataFrame
    sizes: pd.DataFrame
    table: pd.DataFrame
    config: dict


def _load_split(spec: dict, split: str, per_class: int, seed: int):
    from .data import load

    opts = dict(spec["data"])
    name = opts.pop("name")
    if "classes" in opts:
        opts["classes"] = tuple(opts["classes"])
    return load(name, split=split, seed=seed, max_per_class=per_class, **opts)


def _code():
    import sys

    from . import training

    return [sys.modules[__name__], _models, training]


def trained_model(name: str, quick: Optional[bool] = None, seed: int = 0, cache=None,
                  progress: Optional[bool] = None):
    """The CNN of one of notebook 04's data sets, trained once and then read from the cache.

    Returns
    -------
    (model, history, train, test)
        The trained :class:`~topokit.models.LayeredNet` (eval mode), its training history and
        the train and test :class:`~topokit.data.Dataset`.
    """
    from .cache import Cache
    from .fileio import quick_mode
    from .training import fit

    if name not in STUDY_SETS:
        raise ValueError(f"unknown study set {name!r}; choose one of {', '.join(STUDY_SETS)}")
    quick = quick_mode(quick)
    cache = cache if cache is not None else Cache()
    spec, size = STUDY_SETS[name], STUDY_SIZES[quick]
    train = _load_split(spec, "train", size["max_per_class"], seed)
    test = _load_split(spec, "test", size["test_per_class"], seed)
    config = {"set": spec, "size": {k: size[k] for k in ("max_per_class", "test_per_class", "channels", "hidden",
                                                         "epochs", "batch_size", "lr")}, "seed": seed}

    def train_model():
        net = _models.cnn(spec["in_channels"], channels=size["channels"], hidden=size["hidden"], seed=seed)
        r = fit(net, train.X, train.y, X_test=test.X, y_test=test.y, max_epochs=size["epochs"], lr=size["lr"],
                lr_decay=None, batch_size=size["batch_size"], stop_at_target=False, seed=seed, num_threads=1,
                progress=progress)
        return {"model": _models.to_state(net), "history": {k: list(map(float, v)) for k, v in r.history.items()}}

    entry = cache.memo("prune-model", config, train_model, code=[_models, fit])
    return _models.from_state(entry["model"]), pd.DataFrame(entry["history"]), train, test


def study(name: str, quick: Optional[bool] = None, seed: int = 0, cache=None, progress: Optional[bool] = None,
          threshold: float = PAPER_THRESHOLD, knn: bool = False) -> PruningStudy:
    """Train, score, prune and measure one of notebook 04's data sets; cached piece by piece.

    Trained models are cached as architecture JSON + state dict (``topokit.models.to_state``),
    scores as arrays, curves and measurements as DataFrames (:class:`topokit.cache.Cache`), so a
    rerun computes nothing twice. Latencies come from the cache too once measured (they were
    measured when the entry was made, at 1 thread).

    Parameters
    ----------
    name : {"fashion-mnist", "cifar10", "cats-vs-dogs"}
    quick : bool, optional
        Small sizes (:data:`STUDY_SIZES`); default from ``TOPOKIT_QUICK``.
    seed : int, default 0
    cache : topokit.cache.Cache, optional
        Default ``Cache()``.
    progress : bool, optional
    threshold : float, default 300
        The paper rule's threshold on the ``"betti"`` scores.
    knn : bool, default False
        Also compute the ``"betti-knn"`` scores (slowest; they cannot rank filters at Naitzat's
        defaults, see notebook 04), shown but not used for pruning.
    """
    from .cache import Cache
    from .fileio import quick_mode

    quick = quick_mode(quick)
    cache = cache if cache is not None else Cache()
    model, history, train, test = trained_model(name, quick=quick, seed=seed, cache=cache, progress=progress)
    spec, size = STUDY_SETS[name], STUDY_SIZES[quick]
    code = _code()
    base = {"set": spec, "size": size, "seed": seed}

    scores, info = {}, {}
    for method in ("betti",) + (("betti-knn",) if knn else ()) + ("cubical", "l1", "hrank"):
        def compute(method=method):
            s, det = filter_scores(model, train.X, train.y, method=method, n_images=size["n_images"], seed=seed,
                                   progress=progress, details=True)
            out = {f"score/{k}": v for k, v in s.items()}
            out.update({f"info/{k}/{kk}": np.asarray(float(vv)) for k, d in det.items() for kk, vv in d.items()})
            return out
        arrays = cache.memo("prune-scores", {**base, "method": method}, compute, code=code)
        scores[method] = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("score/")}
        info[method] = {}
        for k, v in arrays.items():
            if k.startswith("info/"):
                _, layer, key = k.split("/")
                info[method].setdefault(layer, {})[key] = float(v)
    for s in size["random_seeds"]:
        scores[f"random-{s}"] = filter_scores(model, train.X, train.y, method="random", seed=s)

    def curves_frame():
        specs = [(c, (scores[m], high)) for c, (m, high) in STUDY_CURVES.items()]
        specs += [("random", (scores[f"random-{s}"], True, s)) for s in size["random_seeds"]]
        frames = [accuracy_curves(model, {c: v}, train.X, train.y, test.X, test.y, size["fractions"],
                                  size["finetune_epochs"], seed=seed, lr=size["lr"],
                                  batch_size=size["batch_size"], progress=progress) for c, v in specs]
        frames.append(scratch_curve(model, train.X, train.y, test.X, test.y, size["fractions"], size["epochs"],
                                    seeds=[seed], lr=size["lr"], batch_size=size["batch_size"], progress=progress))
        frames.append(_paper_rule_rows(model, scores["betti"], threshold, train, test, size, seed))
        return pd.concat(frames, ignore_index=True)

    curves = cache.memo("prune-curves", {**base, "threshold": threshold}, curves_frame, code=code)
    curves["seed"] = curves["seed"].astype("Int64")

    def sizes_frame():
        rows = []
        x1 = torch.from_numpy(test.X[:1])
        for f in [0.0] + list(size["fractions"]):
            pruned = prune(model, scores["l1"], fraction=f, example_input=x1)[0] if f else model
            m = measure(pruned, test.X[:256], test.y[:256], min_run_time=size["latency_min_run_time"])
            m.pop("accuracy")
            rows.append({"fraction": f, **m})
        return pd.DataFrame(rows)

    sizes = cache.memo("prune-sizes", base, sizes_frame, code=code)
    table = cache.memo("prune-table", {**base, "threshold": threshold},
                       lambda: _measurement_table(model, scores, threshold, train, test, size, seed), code=code)
    return PruningStudy(name, model, history, train, test, scores, info, curves, sizes, table,
                        {**size, "quick": quick, "seed": seed, "threshold": threshold, **spec})


def betti_sweep(model, X, y, n_images: Sequence[int], scale_factors: Sequence[float] = (1.0,), seed: int = 0,
                cache=None, cache_config: Optional[Mapping] = None, progress: Optional[bool] = None) -> pd.DataFrame:
    """``"betti"`` scores for several numbers of images N and multiples of the per-layer scale rule.

    For each N the rule's scale of each layer is computed on those N images and multiplied by
    each factor. With ``cache`` and ``cache_config`` (a JSON-able description of the model, e.g.
    the study's configuration) each setting is cached.

    Returns
    -------
    pandas.DataFrame
        ``n_images, scale_factor, scale, layer, filter, score``.
    """
    frames = []
    for n in n_images:
        n = _check_positive_int(n, "each n_images", "e.g. n_images=[250, 500, 1000]")
        for factor in scale_factors:
            factor = _check_positive_number(factor, "each scale factor", "e.g. scale_factors=[0.5, 1, 2]")

            def compute(n=n, factor=factor):
                rule = layer_scales(model, X, y, n_images=n, seed=seed)
                parts = []
                for layer, eps in rule.items():
                    s = _betti_one_layer(model, X, y, layer, eps * factor, n, seed, progress)
                    parts.append(scores_frame({layer: s}, "betti", n_images=n, scale_factor=factor, scale=eps * factor))
                return pd.concat(parts, ignore_index=True)

            if cache is not None and cache_config is not None:
                df = cache.memo("prune-sweep", {**dict(cache_config), "n": n, "factor": factor, "seed": seed},
                                compute, code=_code())
            else:
                df = compute()
            frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _betti_one_layer(model, X, y, layer, eps, n_images, seed, progress):
    X, y = _check_images(model, X, y)
    idx = subsample(y, n_images, seed)
    maps = feature_maps(model, X[idx])[layer]
    labels = np.unique(y[idx])
    res = _run(((cloud, eps) for cloud in _class_clouds(maps, y[idx], labels)), euclidean_betti, 1, f"betti {layer}",
               progress, maps.shape[1] * len(labels))
    return _per_filter(maps, labels, res)


def _paper_rule_rows(model, betti, threshold, train, test, size, seed) -> pd.DataFrame:
    """The paper's rule (remove every filter with Betti score > threshold) as points on the curves."""
    from .training import accuracy

    x1 = torch.from_numpy(test.X[:1])
    pruned, rep = prune(model, betti, threshold=threshold, example_input=x1)
    total = sum(rep["channels_before"].values())
    frac = sum(len(v) for v in rep["removed"].values()) / total
    base = {"curve": "paper-rule", "seed": pd.NA, "fraction": frac, "params": rep["params_after"],
            "macs": rep["macs_after"], "channels": str(list(rep["channels_after"].values()))}
    rows = [{**base, "finetuned": False, "epochs": 0, "accuracy": accuracy(pruned, test.X, test.y)}]
    fine_tune(pruned, train.X, train.y, epochs=size["finetune_epochs"], seed=seed, lr=size["lr"],
              batch_size=size["batch_size"], progress=False)
    rows.append({**base, "finetuned": True, "epochs": size["finetune_epochs"], "accuracy": accuracy(pruned, test.X, test.y)})
    return pd.DataFrame(rows)


def _measurement_table(model, scores, threshold, train, test, size, seed) -> pd.DataFrame:
    x1 = torch.from_numpy(test.X[:1])
    rows = [("trained model", model, 0.0)]
    pruned, rep = prune(model, scores["betti"], threshold=threshold, example_input=x1)
    frac = sum(len(v) for v in rep["removed"].values()) / sum(rep["channels_before"].values())
    rows.append((f"paper rule (Betti > {threshold:g})", copy.deepcopy(pruned), frac))
    fine_tune(pruned, train.X, train.y, epochs=size["finetune_epochs"], seed=seed, lr=size["lr"],
              batch_size=size["batch_size"], progress=False)
    rows.append((f"paper rule + fine-tune ({size['finetune_epochs']} epoch)", pruned, frac))
    for label, key, high in [("Betti-high", "betti", True), ("Betti-low", "betti", False), ("L1 lowest", "l1", False),
                             ("random", f"random-{size['random_seeds'][0]}", True)]:
        p, _ = prune(model, scores[key], fraction=0.5, example_input=x1, highest=high)
        fine_tune(p, train.X, train.y, epochs=size["finetune_epochs"], seed=seed, lr=size["lr"],
                  batch_size=size["batch_size"], progress=False)
        rows.append((f"{label} 50% + fine-tune", p, 0.5))
    out = []
    for label, m, frac in rows:
        r = measure(m, test.X, test.y, min_run_time=size["latency_min_run_time"])
        out.append({"model": label, "filters_removed": frac, **r})
    return pd.DataFrame(out)
