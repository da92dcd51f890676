"""Betti numbers of point clouds and of the layer outputs of a network.

Method (Naitzat, Zhitnikov & Lim, JMLR 2020)
--------------------------------------------
The topology of a class is read from a point cloud -- the class's inputs, or their images
under the first ``l`` layers of a net -- as follows.

1. Exact duplicates are removed (``np.unique(X, axis=0)``); ReLU layers map many points
   to the same image, and a point must not be its own neighbour twice.
2. The unweighted kNN graph is built with scikit-learn,
   ``NearestNeighbors(n_neighbors=k).kneighbors_graph(X)``: **k counts the point itself**
   (so each point gets ``k - 1`` other neighbours) and ties are broken as scikit-learn
   breaks them. The graph is made undirected (an edge if either point lists the other).
3. The distance between two points is the hop count of a shortest path in that graph.
4. Homology is that of the Vietoris-Rips complex at a fixed number of hops: the flag complex
   of the graph "hop distance <= hops". Naitzat's ``epsilon = 2.5`` on integer hops is hop
   distance <= 2, our default ``hops=2``. Their defaults are k = 14 for D-I and k = 35 for
   D-II and D-III (:data:`DEFAULT_K`). (``hops`` was called ``scale`` before; ``scale=`` still
   works, with a ``DeprecationWarning``.)
5. All of this is done **per class**; the topological complexity of a class at a layer is
   ``omega = b0 + b1 + ...``.

Fast computation
----------------
Nothing dense is built. Hop distances up to ``hops`` come from sparse boolean matrix
products (``R_h = R_{h-1} (A + I)``, the points within ``h`` hops), which is much cheaper
than all-pairs shortest paths. ``b0`` is the number of connected components of the kNN
graph (the same for every ``hops >= 1``). Higher Betti numbers come from giotto-ph's
``ripser_parallel`` run on the sparse upper triangle of the hop matrix (absent entries mean
"no edge", the diagonal is left out so every vertex is born at 0), thresholded at ``hops``.
A bar counts at ``hops = s`` when ``birth <= s < death``: at filtration value ``s`` the
complex holds every simplex of diameter ``<= s``, so a bar dying exactly at ``s`` is dead.
Edge collapse (giotto-ph ``collapse_edges``) is switched on for ``max_dim >= 2`` only: it
costs more than it saves for H1 and saves ~4x for H2. Clouds (layers x classes) run in
parallel with joblib, one thread each.

:func:`persistence_diagram` gives full (or thresholded) diagrams with giotto-tda, for
Euclidean clouds or the kNN-geodesic hop matrix; :func:`betti_from_diagram` and
:func:`betti_curve` read them with the same ``birth <= t < death`` convention (``t`` is any
filtration value: hops for kNN-geodesic diagrams, a radius for Euclidean ones).

Layers
------
:func:`layer_outputs`, :func:`layer_betti` and :func:`layer_diagrams` work on any
``nn.Module``; ``layers=`` chooses the layers (module names, :mod:`torch.fx` graph node names,
module types or ``"auto"``, see :mod:`topokit.layers`). The default ``layers=None`` is a
:class:`topokit.models.LayeredNet`'s blocks (named by its ``layer_names``), an ``nn.Sequential``'s
children (``"layer1"``, ``"layer2"``, ...) and ``"auto"`` for any other model.
"""
from __future__ import annotations

import contextlib
import math
import sys
import threading
import warnings
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import Parallel, delayed
from scipy.sparse.csgraph import connected_components, shortest_path

from . import _checks

# torch (and topokit.layers, which needs it) is imported by the functions that take a model: a
# notebook that measures point clouds only (the primer) does not pay torch's 2-4 s import.

__all__ = [
    "DEFAULT_K",
    "layer_outputs",
    "layer_names",
    "knn_graph",
    "hop_distances",
    "betti_numbers",
    "persistence_diagram",
    "betti_from_diagram",
    "betti_curve",
    "layer_betti",
    "layer_diagrams",
    "TopologyRecorder",
    "betti_callback",
]

#: Naitzat et al.'s k (counting the point itself) per data set; ``hops=2`` for all.
DEFAULT_K = {"D-I": 14, "D-II": 35, "D-III": 35}

_METRICS = ("euclidean", "knn-geodesic", "precomputed")


# ----------------------------------------------------------------------------- layer outputs


def _layer_refs(model, layers) -> list:
    """The chosen layers (:class:`topokit.layers.LayerRef`); ``None`` keeps the historical choice."""
    from torch import nn

    from . import layers as _layers

    if layers is None:
        if not isinstance(model, nn.Module):
            raise _checks.InvalidParameterError(
                f"model must be a torch.nn.Module, got {type(model).__name__}; pass the network itself")
        from .models import LayeredNet

        if isinstance(model, LayeredNet):
            return [_layers.LayerRef(name, "module", f"blocks.{i}") for i, name in enumerate(model.layer_names)]
        if isinstance(model, nn.Sequential):
            return [_layers.LayerRef(f"layer{i + 1}", "module", name)
                    for i, (name, _) in enumerate(model.named_children())]
        layers = "auto"
    return _layers.resolve(model, layers)


def layer_names(model, layers=None) -> list[str]:
    """Names of the outputs :func:`layer_outputs` returns: ``"input"``, then one per layer.

    Parameters
    ----------
    model : nn.Module
        Any PyTorch model.
    layers : None, "auto", str, nn.Module type or list of them, default None
        The layers (see :mod:`topokit.layers`). ``None``: a
        :class:`topokit.models.LayeredNet`'s ``layer_names``; ``"layer1"``, ``"layer2"``, ... for
        the children of an ``nn.Sequential``; the names ``"auto"`` chooses for any other model.
    """
    return ["input"] + [r.name for r in _layer_refs(model, layers)]


def layer_outputs(model, X, batch_size: int = 4096, layers=None, *,
                  max_memory_bytes: int | None = None) -> list[np.ndarray]:
    """Activations of the chosen layers of ``model`` on ``X``, input first.

    The model runs once over ``X`` in batches under ``torch.no_grad()`` in eval mode (its
    training mode is restored after), on the device of its parameters; see
    :func:`topokit.layers.capture`. Module outputs are read with forward hooks, graph nodes from
    the model's :mod:`torch.fx` graph, with the values of the original forward.

    Parameters
    ----------
    model : nn.Module
        Any PyTorch model (a :class:`topokit.models.LayeredNet`, an ``nn.Sequential``, your own).
    X : array-like or torch.Tensor, shape (n, ...)
        Inputs; converted to float32. One sample runs first: a shape the model rejects is
        reported with the shape it expects.
    batch_size : int, default 4096
        Points per forward pass.
    layers : None, "auto", str, nn.Module type or list of them, default None
        The layers (see :func:`layer_names`, :func:`topokit.layers.resolve`): module names,
        graph node names, module types or ``"auto"``. ``None``: a ``LayeredNet``'s blocks (input
        side first, logits last), an ``nn.Sequential``'s children, ``"auto"`` otherwise.
    max_memory_bytes : int, optional
        Budget for the recorded outputs; default half the free memory.

    Returns
    -------
    list of np.ndarray
        One float32 array per layer plus one: ``X`` itself, then each chosen layer's output
        (e.g. 4-D ``(n, C, H, W)`` arrays for conv blocks), in the order of :func:`layer_names`.
    """
    refs = _layer_refs(model, layers)
    return _outputs(model, X, refs, batch_size, max_memory_bytes)


def _outputs(model, X, refs, batch_size, max_memory_bytes=None) -> list[np.ndarray]:
    import torch

    from . import layers as _layers

    X = torch.as_tensor(X).float()
    captured = _layers.capture(model, X, refs, batch_size, max_memory_bytes=max_memory_bytes)
    first = X.cpu().numpy().astype(np.float32, copy=False)
    return [first] + [captured[r.name] for r in refs]


# ----------------------------------------------------------------------------- validation


def _check_k(k) -> int:
    return _checks.integer(k, "k (neighbours counting the point itself)", minimum=1,
                           fix=f"Naitzat et al. use {DEFAULT_K}")


class _DefaultHops(float):
    """The default ``hops=2``, told apart from a ``hops=2`` the caller passed."""

    def __repr__(self) -> str:
        return "2"


_HOPS = _DefaultHops(2)


def _check_hops(hops, name: str = "hops") -> float:
    return _checks.real(hops, name, minimum=0, include_min=False,
                        fix="a number of hops in the kNN graph; Naitzat's epsilon = 2.5 is hops=2 (hop distance <= 2)")


def _hops_arg(hops, scale, stacklevel: int = 3) -> float:
    """``hops``, or the deprecated ``scale=`` (with a DeprecationWarning); both at once is an error."""
    if scale is None:
        return _check_hops(hops)
    if hops is not _HOPS:
        raise _checks.InvalidParameterError(
            f"pass hops= only, not both hops={hops!r} and scale={scale!r}: scale= is the deprecated old name of hops=")
    warnings.warn("topology's scale= is now called hops= (a number of hops in the kNN graph); "
                  "use hops=, scale= will be removed", DeprecationWarning, stacklevel=stacklevel)
    return _check_hops(scale, "scale (now hops)")


def _check_max_dim(max_dim) -> int:
    return _checks.integer(max_dim, "max_dim", minimum=0, maximum=8, fix="homology dimensions 0, 1 are usual")


def _as_cloud(points, what: str = "points") -> np.ndarray:
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported
    if torch is not None and isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    X = np.asarray(points, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        X = X.reshape(len(X), -1)
    if X.shape[0] == 0:
        raise ValueError(f"{what} is empty; pass at least one point")
    if not np.isfinite(X).all():
        raise ValueError(f"{what} contain NaN/inf values; drop or fix those points first")
    return X


def _check_count(n: int, k: int | None, max_dim: int, what: str = "the cloud") -> None:
    if k is not None and n < k + 1:
        raise ValueError(
            f"{what} has only {n} distinct points (after removing duplicates) but the kNN graph "
            f"with k={k} needs at least k + 1 = {k + 1}; lower k or pass more points"
        )
    if n < max_dim + 2:
        raise ValueError(
            f"{what} has only {n} distinct points; homology up to dimension max_dim={max_dim} "
            f"needs at least max_dim + 2 = {max_dim + 2} points; lower max_dim or pass more points"
        )


def _check_memory(needed: float, what: str, max_memory_bytes: int | None) -> None:
    """Raise ValueError when ``needed`` bytes exceed the budget (half the free memory by default)."""
    _checks.memory(needed, what, fix="subsample the points (e.g. max_points=...) or lower k",
                   max_memory_bytes=max_memory_bytes)


# ----------------------------------------------------------------------------- kNN-geodesic


def knn_graph(X: np.ndarray, k: int) -> sp.csr_matrix:
    """Undirected unweighted kNN graph, Naitzat's way.

    Parameters
    ----------
    X : np.ndarray, shape (n, d)
        Distinct points (call ``np.unique(X, axis=0)`` first).
    k : int
        Neighbours per point **counting the point itself**, as
        ``sklearn.neighbors.NearestNeighbors(n_neighbors=k).kneighbors_graph``.

    Returns
    -------
    scipy.sparse.csr_matrix of bool, shape (n, n)
        Symmetric adjacency matrix with an empty diagonal.
    """
    from sklearn.neighbors import NearestNeighbors  # imported here: 0.5-1 s a notebook need not pay at import

    with _one_blas_thread():
        A = NearestNeighbors(n_neighbors=k).fit(X).kneighbors_graph(X)
    A = (A + A.T).tocsr()
    A.setdiag(0)
    A.eliminate_zeros()
    return A.astype(bool)


@contextlib.contextmanager
def _one_blas_thread():
    """BLAS limited to one thread, for scikit-learn's kNN search.

    scikit-learn parallelises the brute-force search over its own OpenMP threads and calls BLAS in
    each. When torch was imported before scikit-learn (as in a notebook that imports torch, then
    measures topology), OpenBLAS then also starts its threads inside that OpenMP loop on wide clouds
    (thousands of dimensions): it printed "OpenBLAS Warning : Detect OpenMP Loop and this
    application may hang" once per point (1,200 lines in notebook 06) and ran slower. One BLAS thread
    per OpenMP thread gives the same neighbours (OpenBLAS splits the product's rows and columns
    between its threads, not the sums) and no warning.

    The limit is process-wide: with several threads measuring clouds at once, the first one in sets
    it and the last one out restores the thread counts it found (read then, not when the libraries
    were first listed, so a limit the user set meanwhile is kept).
    """
    from threadpoolctl import ThreadpoolController

    with _BLAS["lock"]:
        if _BLAS["depth"] == 0:
            if _BLAS["libs"] is None:  # listed once (5 ms): the libraries loaded by now, scikit-learn's included
                _BLAS["libs"] = ThreadpoolController().select(user_api="blas").lib_controllers
            _BLAS["saved"] = [(lib, lib.get_num_threads()) for lib in _BLAS["libs"]]
            for lib, _ in _BLAS["saved"]:
                lib.set_num_threads(1)
        _BLAS["depth"] += 1
    try:
        yield
    finally:
        with _BLAS["lock"]:
            _BLAS["depth"] -= 1
            if _BLAS["depth"] == 0:
                for lib, n in _BLAS["saved"]:
                    lib.set_num_threads(n)


_BLAS = {"lock": threading.Lock(), "depth": 0, "libs": None, "saved": []}


def _sparse_hop_bytes(A: sp.csr_matrix, hops: int) -> float:
    """Upper bound on the memory of the within-``hops`` reachability matrices."""
    n = A.shape[0]
    Af = A.astype(np.float64)
    walks = np.ones(n)
    for _ in range(hops):
        walks = np.minimum(Af @ walks + walks, n)  # walks of length h in A + I bound row h of R_h
    nnz = float(walks.sum())
    return 40.0 * nnz  # a few matrices of (int32 index + float32 value) alive at once, coo for ripser


def hop_distances(A: sp.spmatrix, hops: int) -> sp.csr_matrix:
    """Graph hop distances up to ``hops``, as a sparse matrix.

    ``R_h``, the pairs within ``h`` hops, comes from sparse products
    ``R_h = R_{h-1} (A + I)``; the distance is ``hops - #{h < hops : pair in R_h}``.

    Parameters
    ----------
    A : sparse matrix, shape (n, n)
        Symmetric adjacency matrix (diagonal ignored).
    hops : int
        Largest hop distance kept (>= 1).

    Returns
    -------
    scipy.sparse.csr_matrix of float32
        Strictly upper-triangular: entry (i, j), i < j, is the hop distance when it is at
        most ``hops``; absent entries are farther (or unreachable). No explicit zeros.
    """
    n = A.shape[0]
    step = (sp.csr_matrix(A, dtype=np.float32) + sp.identity(n, dtype=np.float32, format="csr")).tocsr()
    step.data[:] = 1.0
    reach = step
    count = None  # number of h in 1..hops-1 with the pair within h hops
    for _ in range(hops - 1):
        count = reach if count is None else count + reach
        reach = (reach @ step).tocsr()
        reach.data[:] = 1.0
    D = reach * float(hops) if count is None else reach * float(hops) - count
    D = sp.triu(D, k=1, format="csr")
    D.eliminate_zeros()
    return D.astype(np.float32)


def _betti_distinct(X: np.ndarray, k: int, hops: float, max_dim: int, max_memory_bytes=None) -> tuple:
    """Betti numbers of a cloud of distinct, finite points (no validation)."""
    from gph import ripser_parallel

    A = knn_graph(X, k)
    whole = int(math.floor(hops))  # hop distances are integers
    b0 = connected_components(A, directed=False)[0] if whole >= 1 else len(X)
    if max_dim == 0 or whole == 0:
        return (int(b0),) + (0,) * max_dim
    _check_memory(_sparse_hop_bytes(A, whole), f"the {whole}-hop distance matrix of {len(X)} points", max_memory_bytes)
    D = hop_distances(A, whole)
    # Edge collapse costs more than it saves for H1 but is ~4x faster for H2 (D-III).
    dgms = ripser_parallel(
        D, maxdim=max_dim, thresh=float(whole), metric="precomputed", collapse_edges=max_dim >= 2, n_threads=1
    )["dgms"]
    higher = tuple(int(np.count_nonzero((d[:, 0] <= hops) & (d[:, 1] > hops))) for d in dgms[1:])
    return (int(b0),) + higher


def betti_numbers(points, k: int = 14, hops: float = _HOPS, max_dim: int = 1, *, scale: float | None = None,
                  max_memory_bytes: int | None = None) -> tuple:
    """Betti numbers of a point cloud at a fixed number of kNN-graph hops (Naitzat et al.).

    Duplicates are removed, the kNN graph is built with k counting the point itself, and the
    homology of the Vietoris-Rips complex of hop distance ``<= hops`` is returned. See the
    module docstring.

    Parameters
    ----------
    points : array-like, shape (n, d) (or (n, ...), flattened per point)
        One class's point cloud.
    k : int, default 14
        Neighbours counting the point itself (:data:`DEFAULT_K`: 14 for D-I, 35 for D-II/D-III).
    hops : float, default 2
        Number of hops in the kNN graph (> 0); hop distances are integers, so ``hops=2`` and
        Naitzat's ``epsilon = 2.5`` agree.
    max_dim : int, default 1
        Largest homology dimension.
    scale : float, optional
        Deprecated old name of ``hops`` (a ``DeprecationWarning``; passing both is an error).
    max_memory_bytes : int, optional
        Memory budget for the sparse hop matrices; default half the free memory.

    Returns
    -------
    tuple of int
        ``(b0, b1, ..., b_max_dim)``.

    Raises
    ------
    ValueError
        NaN/inf points, too few distinct points for k or max_dim, hops <= 0, too much memory.
    """
    k, hops, max_dim = _check_k(k), _hops_arg(hops, scale), _check_max_dim(max_dim)
    X = np.unique(_as_cloud(points), axis=0)
    _check_count(len(X), k, max_dim)
    return _betti_distinct(X, k, hops, max_dim, max_memory_bytes)


# ----------------------------------------------------------------------------- diagrams


def persistence_diagram(
    points,
    max_dim: int = 1,
    metric: str = "euclidean",
    k: int | None = None,
    max_edge_length: float = np.inf,
    *,
    max_memory_bytes: int | None = None,
) -> np.ndarray:
    """Vietoris-Rips persistence diagram with giotto-tda, traps handled.

    Uses ``gtda.homology.VietorisRipsPersistence`` with ``reduced_homology=False`` (the
    default ``True`` drops one infinite H0 bar, so b0 would be one short), removes the
    padding triples (birth == death, not features), and reports bars alive at
    ``max_edge_length`` with death ``inf`` (giotto-tda would report ``max_edge_length``,
    and counting ``death > eps`` would miss them).

    Parameters
    ----------
    points : array-like
        ``(n, d)`` point cloud, or an ``(n, n)`` distance matrix for ``metric="precomputed"``
        (dense: ``inf`` for pairs never joined; sparse: absent entries are never joined and
        explicit zeros off the diagonal are edges at 0, as in giotto-ph).
    max_dim : int, default 1
        Largest homology dimension.
    metric : {"euclidean", "knn-geodesic", "precomputed"}, default "euclidean"
        ``"knn-geodesic"`` uses hop distances in the kNN graph of the (deduplicated) points.
    k : int, optional
        Neighbours counting the point itself; required for ``"knn-geodesic"``.
    max_edge_length : float, default inf
        Stop the filtration here (much faster); bars alive there get death ``inf``.
    max_memory_bytes : int, optional
        Budget for the dense distance matrix; default half the free memory.

    Returns
    -------
    np.ndarray, shape (m, 3)
        Rows ``[birth, death, dim]`` sorted by dim; ``death = inf`` for bars that never die.
    """
    max_dim = _check_max_dim(max_dim)
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {_METRICS}")
    _checks.real(max_edge_length, "max_edge_length", minimum=0, include_min=False, finite=False,
                 fix="a positive number, or inf for the whole filtration")
    if metric == "precomputed":
        D = points if sp.issparse(points) else np.asarray(points, dtype=np.float64)
        if D.ndim != 2 or D.shape[0] != D.shape[1]:
            raise ValueError(f"metric='precomputed' needs a square distance matrix, got shape {D.shape}")
        if np.isnan(D.data if sp.issparse(D) else D).any():
            raise ValueError("the distance matrix contains NaN; use inf for pairs that are never joined")
        _check_count(D.shape[0], None, max_dim)
        cloud, vr_metric = D, "precomputed"
    else:
        X = np.unique(_as_cloud(points), axis=0)
        n = len(X)
        if metric == "knn-geodesic":
            if k is None:
                raise ValueError("metric='knn-geodesic' needs k (neighbours counting the point itself), e.g. k=14")
            k = _check_k(k)
            _check_count(n, k, max_dim)
            _check_memory(3.0 * 8 * n * n, f"the dense {n} x {n} hop-distance matrix", max_memory_bytes)
            cloud = shortest_path(knn_graph(X, k), directed=False, unweighted=True)
            vr_metric = "precomputed"
        else:
            _check_count(n, None, max_dim)
            _check_memory(2.0 * 8 * n * n, f"the dense {n} x {n} distance matrix", max_memory_bytes)
            cloud, vr_metric = X, "euclidean"
    from gtda.homology import VietorisRipsPersistence  # after the checks: giotto-tda takes seconds to import

    vr = VietorisRipsPersistence(
        metric=vr_metric,
        homology_dimensions=tuple(range(max_dim + 1)),
        max_edge_length=float(max_edge_length),
        infinity_values=np.inf,
        reduced_homology=False,
        n_jobs=1,
    )
    dgm = vr.fit_transform([cloud])[0]
    return dgm[dgm[:, 0] < dgm[:, 1]]


def betti_from_diagram(diagram: np.ndarray, scale: float, max_dim: int = 1) -> tuple:
    """Betti numbers at ``scale``: bars with ``birth <= scale < death``, per dimension.

    Parameters
    ----------
    diagram : np.ndarray, shape (m, 3)
        Rows ``[birth, death, dim]`` as from :func:`persistence_diagram` (death ``inf`` for
        bars alive at the end; a giotto-tda diagram cut at ``max_edge_length`` must have
        those deaths set to ``inf`` first).
    scale : float
        Filtration value.
    max_dim : int, default 1
        Largest dimension reported (dimensions without bars give 0).

    Returns
    -------
    tuple of int
    """
    curve = betti_curve(diagram, [scale], max_dim=max_dim)
    return tuple(int(b) for b in curve[:, 0])


def betti_curve(diagram: np.ndarray, grid: Sequence[float], max_dim: int = 1) -> np.ndarray:
    """Betti curves of a diagram on an explicit grid.

    Pass the **same** grid for every layer you compare (giotto-tda's ``BettiCurve`` fits its
    grid to whatever it is fitted on, so curves fitted per layer are not comparable).

    Parameters
    ----------
    diagram : np.ndarray, shape (m, 3)
        Rows ``[birth, death, dim]``.
    grid : sequence of float
        Filtration values ``t``.
    max_dim : int, default 1
        Rows 0..max_dim of the result.

    Returns
    -------
    np.ndarray of int, shape (max_dim + 1, len(grid))
        Entry ``[q, j]`` counts bars of dimension q with ``birth <= grid[j] < death``.
    """
    max_dim = _check_max_dim(max_dim)
    diagram = np.asarray(diagram, dtype=float).reshape(-1, 3)
    grid = np.asarray(grid, dtype=float).reshape(-1)
    out = np.zeros((max_dim + 1, len(grid)), dtype=np.int64)
    for q in range(max_dim + 1):
        bars = diagram[diagram[:, 2] == q]
        alive = (bars[:, :1] <= grid[None, :]) & (bars[:, 1:2] > grid[None, :])
        out[q] = alive.sum(axis=0)
    return out


# ----------------------------------------------------------------------------- per layer


def layer_betti(
    model,
    X,
    y,
    k: int = 14,
    hops: float = _HOPS,
    max_dim: int = 1,
    n_jobs: int = -1,
    max_points: int | None = None,
    seed: int = 0,
    labels: Sequence | None = None,
    *,
    batch_size: int = 4096,
    max_memory_bytes: int | None = None,
    layers=None,
    scale: float | None = None,
) -> pd.DataFrame:
    """Betti numbers of each class at every chosen layer of a net (Naitzat et al.'s analysis).

    Parameters
    ----------
    model : nn.Module
        Any PyTorch model (see :func:`layer_outputs`).
    X : array-like, shape (n, ...)
        Inputs.
    y : array-like of int, shape (n,)
        Class labels.
    k : int, default 14
        Neighbours counting the point itself (:data:`DEFAULT_K`).
    hops : float, default 2
        Number of hops in the kNN graph (2 = Naitzat's epsilon 2.5).
    max_dim : int, default 1
        Largest homology dimension.
    n_jobs : int, default -1
        joblib workers over (layer, class) clouds; each cloud runs on one thread. With the
        default -1 a small job (H0/H1, up to about 60,000 distinct points over all clouds at
        k = 14 and 2 hops) runs in this process, where starting workers would cost more than it saves.
    max_points : int, optional
        Subsample each class to at most this many inputs (the same inputs at every layer).
    seed : int, default 0
        Seed of that subsample.
    labels : sequence, optional
        Classes to analyse; default all values in ``y``.
    batch_size : int, default 4096
        Forward-pass batch size.
    max_memory_bytes : int, optional
        Memory budget per cloud (see :func:`betti_numbers`) and for the recorded layer outputs.
    layers : None, "auto", str, nn.Module type or list of them, default None
        The layers (see :func:`layer_outputs` and :mod:`topokit.layers`), e.g.
        ``layers=["layer1", "layer2", "layer3"]``; ``None``: a ``LayeredNet``'s blocks, an
        ``nn.Sequential``'s children, ``"auto"`` for any other model.
    scale : float, optional
        Deprecated old name of ``hops`` (a ``DeprecationWarning``; passing both is an error).

    Returns
    -------
    pandas.DataFrame
        Tidy, one row per (layer, label, dim): columns ``layer`` (0 = input, then the chosen
        layers in order), ``layer_name`` (``"input"`` and the chosen layers' names), ``label``,
        ``n_points`` (distinct points), ``dim``, ``betti`` and ``omega`` (sum of the Betti
        numbers of that layer and label).

    Raises
    ------
    ValueError
        Before any homology is computed: bad k/hops/max_dim, a ``layers=`` entry that names
        nothing (with the closest names), inputs the model rejects (with the shape it expects),
        a layer with NaN/inf activations (named), a class with fewer than k + 1 distinct input
        points.

    Notes
    -----
    A layer can map a class onto k or fewer distinct points (ReLU sends many points to the
    same place; a well-trained net may collapse a class entirely). The kNN graph is then
    complete, so the class has Betti numbers (1, 0, ...) there, which is what the table
    reports; ``n_points`` shows the collapse.
    """
    k, hops, max_dim = _check_k(k), _hops_arg(hops, scale), _check_max_dim(max_dim)
    names, tasks = _layer_clouds(model, X, y, k, max_dim, max_points, seed, labels, batch_size, layers,
                                 max_memory_bytes)
    results = Parallel(n_jobs=_jobs(n_jobs, tasks, k, max_dim, hops))(
        delayed(_collapsed_or_betti)(cloud, k, hops, max_dim, max_memory_bytes) for _, _, cloud in tasks
    )
    rows = []
    for (layer, label, cloud), betti in zip(tasks, results):
        for dim, b in enumerate(betti):
            rows.append(
                {"layer": layer, "layer_name": names[layer], "label": label, "n_points": len(cloud),
                 "dim": dim, "betti": int(b), "omega": int(sum(betti))}
            )
    return pd.DataFrame(rows, columns=["layer", "layer_name", "label", "n_points", "dim", "betti", "omega"])


#: Work (distinct points over all clouds x (k/14)^2 x (hops/2)^3) up to which the default n_jobs=-1
#: runs the clouds in this process, H0/H1 only: fresh workers cost more than they save there
#: (D-I's 22 clouds of a 2-15x9-2 net, 28,000 points: 1.6 s of work, 3.8 s with new workers).
_SERIAL_WORK = 60_000


def _jobs(n_jobs, tasks, k: int, max_dim: int, hops: float):
    """``n_jobs`` for joblib, except that the default -1 runs a small job serially."""
    work = sum(len(cloud) for *_, cloud in tasks) * (k / 14) ** 2 * (min(float(hops), 1e6) / 2) ** 3
    return 1 if n_jobs == -1 and max_dim <= 1 and work <= _SERIAL_WORK else n_jobs


def _layer_clouds(model, X, y, k, max_dim, max_points, seed, labels, batch_size, layers=None,
                  max_memory_bytes=None):
    """Validate, run the net once, and return (layer names, [(layer, label, distinct cloud)])."""
    refs = _layer_refs(model, layers)
    names = ["input"] + [r.name for r in refs]
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1, fix="e.g. batch_size=4096")
    X = _checks.finite_array(X, "X", dtype=np.float32, fix="pass the inputs of the net, one row per sample")
    if X.ndim < 2:
        X = X.reshape(len(X), -1)
    y = _checks.labels(y, len(X), what="points", fix="pass one class label per row of X")
    max_points = _checks.integer(max_points, "max_points", minimum=1, allow_none=True,
                                 fix=f"a number of points per class above k={k}, or None for all")
    seed = _checks.integer(seed, "seed", minimum=0)
    labels = sorted(np.unique(y).tolist()) if labels is None else list(labels)
    rng = np.random.default_rng(seed)
    index = {}
    for label in labels:
        idx = np.flatnonzero(y == label)
        if len(idx) == 0:
            raise ValueError(f"no points with label {label!r}; labels present: {sorted(np.unique(y).tolist())}")
        if max_points is not None and len(idx) > max_points:
            idx = np.sort(rng.choice(idx, size=int(max_points), replace=False))
        index[label] = idx
    keep = np.sort(np.concatenate(list(index.values())))
    outputs = _outputs(model, X[keep], refs, batch_size, max_memory_bytes)
    pos = {label: np.searchsorted(keep, idx) for label, idx in index.items()}

    tasks = []
    for layer, out in enumerate(outputs):
        flat = out.reshape(len(out), -1)
        if not np.isfinite(flat).all():
            raise ValueError(f"layer {layer} ({names[layer]}) has NaN/inf activations; the net diverged or its inputs are bad")
        for label in labels:
            cloud = np.unique(flat[pos[label]].astype(np.float64), axis=0)
            if layer == 0:
                _check_count(len(cloud), k, max_dim, f"label {label!r} at the input")
            tasks.append((layer, label, cloud))
    return names, tasks


def _collapsed_or_betti(X: np.ndarray, k: int, hops: float, max_dim: int, max_memory_bytes=None) -> tuple:
    """Betti numbers of a layer's cloud; a cloud collapsed to k or fewer distinct points has a
    complete kNN graph (every point is a neighbour of every other), hence (1, 0, ...)."""
    if len(X) <= k:
        return (1,) + (0,) * max_dim
    return _betti_distinct(X, k, hops, max_dim, max_memory_bytes)


def _collapsed_or_diagram(X: np.ndarray, k: int, max_dim: int, max_edge_length: float, max_memory_bytes=None):
    """kNN-geodesic diagram of a layer's cloud; a cloud of n <= k distinct points has a complete
    kNN graph: n - 1 H0 bars die at 1 hop, one lives for ever, nothing else."""
    if len(X) <= k:
        return np.array([[0.0, 1.0, 0.0]] * (len(X) - 1) + [[0.0, np.inf, 0.0]])
    return persistence_diagram(X, max_dim=max_dim, metric="knn-geodesic", k=k, max_edge_length=max_edge_length,
                               max_memory_bytes=max_memory_bytes)


def layer_diagrams(
    model,
    X,
    y,
    k: int = 14,
    max_dim: int = 1,
    max_edge_length: float = 4,
    n_jobs: int = -1,
    max_points: int | None = None,
    seed: int = 0,
    labels: Sequence | None = None,
    *,
    batch_size: int = 4096,
    max_memory_bytes: int | None = None,
    layers=None,
) -> dict:
    """kNN-geodesic persistence diagrams of each class at every chosen layer.

    The diagram-level companion of :func:`layer_betti`, with the same inputs and the same
    handling of layers that collapse a class onto k or fewer points.

    Parameters
    ----------
    model, X, y, k, max_dim, n_jobs, max_points, seed, labels, batch_size, max_memory_bytes, layers
        As in :func:`layer_betti`.
    max_edge_length : float, default 4
        Hops at which the filtration stops (bars alive there get death ``inf``).

    Returns
    -------
    dict
        label -> list of ``(m, 3)`` diagrams ``[birth, death, dim]``, one per layer (input first,
        then the layers of :func:`layer_names` with the same ``layers``).
    """
    k, max_dim = _check_k(k), _check_max_dim(max_dim)
    _, tasks = _layer_clouds(model, X, y, k, max_dim, max_points, seed, labels, batch_size, layers,
                             max_memory_bytes)
    diagrams = Parallel(n_jobs=_jobs(n_jobs, tasks, k, max_dim, max_edge_length))(
        delayed(_collapsed_or_diagram)(cloud, k, max_dim, max_edge_length, max_memory_bytes) for _, _, cloud in tasks
    )
    out: dict = {}
    for (_, label, _), dgm in zip(tasks, diagrams):
        out.setdefault(label, []).append(dgm)
    return out


class TopologyRecorder:
    """Training callback recording :func:`layer_betti` against the epoch.

    Pass it as ``callback=`` to :func:`topokit.training.fit`; it is called as
    ``recorder(epoch, model, history_row)`` and computes the per-layer Betti numbers at the
    first epoch it sees and whenever ``epoch % every == 0``. :meth:`record` forces a
    measurement: ``recorder.record(0, model)`` before training, and
    ``recorder.record(result.history["epoch"].iloc[-1], model)`` after it (``fit`` stops at
    convergence, usually between two multiples of ``every``).

    Parameters
    ----------
    X, y : array-like
        The points to analyse (e.g. the homology split) and their labels.
    every : int, default 100
        Record every ``every`` epochs.
    **kwargs
        Passed on to :func:`layer_betti` (k, hops, max_dim, n_jobs, max_points, layers, ...);
        the deprecated ``scale=`` is accepted as ``hops=`` with a ``DeprecationWarning``.

    Attributes
    ----------
    frame : pandas.DataFrame
        All records so far: the columns of :func:`layer_betti` after an ``epoch`` column.
    """

    def __init__(self, X, y, every: int = 100, **kwargs):
        every = _checks.integer(every, "every", minimum=1, fix="a number of epochs between records")
        if kwargs.get("scale") is not None:
            kwargs["hops"] = _hops_arg(kwargs.get("hops", _HOPS), kwargs.pop("scale"), stacklevel=3)
        kwargs.pop("scale", None)
        self.X, self.y, self.every, self.kwargs = X, y, every, kwargs
        self._frames: list[pd.DataFrame] = []
        self._epochs: set = set()

    def __call__(self, epoch, model, row=None) -> None:  # noqa: D102
        if not self._frames or int(epoch) % self.every == 0:
            self.record(epoch, model)

    def record(self, epoch, model) -> pd.DataFrame:
        """Compute and store the per-layer Betti numbers of ``model`` at ``epoch`` (once per epoch)."""
        if epoch in self._epochs:
            return self.frame[self.frame["epoch"] == epoch]
        df = layer_betti(model, self.X, self.y, **self.kwargs)
        df.insert(0, "epoch", int(epoch))
        self._frames.append(df)
        self._epochs.add(epoch)
        return df

    @property
    def frame(self) -> pd.DataFrame:  # noqa: D102
        if not self._frames:
            return pd.DataFrame(columns=["epoch", "layer", "layer_name", "label", "n_points", "dim", "betti", "omega"])
        return pd.concat(self._frames, ignore_index=True)


def betti_callback(X, y, every: int = 100, **kwargs) -> TopologyRecorder:
    """A :class:`TopologyRecorder` for ``fit(..., callback=...)``; read ``.frame`` after training.

    ``kwargs`` go to :func:`layer_betti` (``k``, ``hops``, ``max_dim``, ``layers``, ...).
    """
    if kwargs.get("scale") is not None:
        kwargs["hops"] = _hops_arg(kwargs.get("hops", _HOPS), kwargs.pop("scale"))
    return TopologyRecorder(X, y, every=every, **kwargs)
