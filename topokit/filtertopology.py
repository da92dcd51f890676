"""Topology of one filter's feature maps, exactly and fast: what :mod:`topokit.pruning` scores are made of.

- Betti numbers b0, b1 of a point cloud's Euclidean Vietoris-Rips complex at one scale
  (:func:`euclidean_betti`), equal to giotto-tda's full-filtration diagrams read at that scale;
- the same clouds' kNN-geodesic Betti numbers as the layer analysis counts them
  (:func:`knn_betti`, Naitzat et al.'s k = 14, 2 hops);
- numbers of H0 and H1 bars above a noise level of images' sublevel cubical persistence
  (:func:`cubical_counts`), equal to giotto-tda's ``CubicalPersistence``.

How the Vietoris-Rips numbers are computed fast and still exactly
-----------------------------------------------------------------
The complex at scale eps is the flag complex of the graph "distance <= eps", whatever the
distances below eps. giotto-ph compares float32 distances, cast from sklearn's float64
``pairwise_distances``; a pair is an edge exactly when its float64 squared distance is at most T,
the largest float64 whose square root rounds (to float32) to eps or below (:func:`_largest_d2`).
Feature maps are float32, so their squared distances come from a float32 Gram matrix (half the
cost of float64), and every pair is decided with a rigorous error bound: |float32 estimate -
sklearn's float64 value| <= c (|x_i|^2 + |x_j|^2), c = 1.5 (d u / (1 - d u) + 8 u), u = 2^-24
(the classical bound for a dot product of length d, any summation order, plus the float32
steps). Pairs within the bound of T (about 1 in 10,000) are recomputed in float64 from the
points; a pair still undecided (none seen) sends the whole cloud to the float64 path, which
reproduces sklearn's matrix bit for bit (:func:`_distances`). The per-layer scale (median over
clouds of the median 14th-neighbour distance) is made exact the same way: bounds for every
cloud's median, then float64 rows only for the few points and clouds the bounds leave undecided
(:func:`layer_scale`). Strong collapses (dominated vertices removed, homotopy kept) shrink each
graph before giotto-ph's ripser runs on the rest with every edge at one filtration value.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from . import _checks
from ._jit import njit  # numba.njit, its cache=True kernels kept in topokit's cache folder

__all__ = ["SCALE_K", "euclidean_betti", "knn_betti", "prepare", "layer_scale", "prepared_betti", "cubical_counts"]

#: The neighbour rank of the scale rule (Naitzat's k = 14 for D-I).
SCALE_K = 14
_KNN_K, _KNN_HOPS = 14, 2
_U32, _U64 = 2.0 ** -24, 2.0 ** -53


# ----------------------------------------------------------------------------- clouds and distances


def _distinct(cloud: np.ndarray, float32: bool = False) -> np.ndarray:
    """The distinct rows of a cloud in order of first appearance: float64, or float32 kept with ``float32``.

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
    return a[keep] if float32 and a.dtype == np.float32 else a[keep].astype(np.float64)


@njit(cache=True)
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


@njit(cache=True)
def _distance_kernel(G, xx, k):
    n = G.shape[0]
    D, row, kth, buffers = _row_space(n, k)
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
            d += xi
            d += xx[j]
            row[j] = np.float32(np.sqrt(max(d, 0.0)))
        off = _store_row(row, i, off, D, kth, k, buffers)
    return D, kth


@njit(cache=True)
def _row_space(n, k):
    """Packed triangle, row and k-th outputs, and k-th work space for a row-by-row pass over n points."""
    return np.empty(n * (n - 1) // 2, np.float32), np.empty(n, np.float32), np.full(n, np.nan, np.float32), \
        _kth_buffers(n, k)


@njit(cache=True)
def _kth_buffers(n, k):
    """Work space of :func:`_kth_of_row` for rows of n values."""
    m0 = min(n, 64)
    r = min(m0 - 1, ((k + 1) * m0) // n + 4)
    return np.empty(k + 1, np.float32), np.empty(n, np.float32), np.empty(r + 1, np.float32), m0, r


@njit(cache=True, inline="always")
def _store_row(row, i, off, out, kth, k, buffers):
    """Row i's upper part into the packed triangle ``out`` from ``off``, its k-th smallest into kth[i]; next offset."""
    n = len(row)
    for j in range(i + 1, n):
        out[off + j - i - 1] = row[j]
    if n > k:
        buf, cand, small, m0, r = buffers
        kth[i] = _kth_of_row(row, k, buf, cand, small, m0, r)
    return off + n - 1 - i


@njit(cache=True, inline="always")
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


@njit(cache=True)
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


def _check_cloud(cloud) -> np.ndarray:
    """A non-empty, finite cloud with one row per point (float32 kept, anything else float64)."""
    dtype = np.float32 if getattr(cloud, "dtype", None) == np.float32 else np.float64
    a = _checks.finite_array(cloud, "cloud", dtype=dtype, fix="pass one row of coordinates per point")
    return a.reshape(len(a), -1) if a.ndim != 2 else a


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
    scale = _checks.real(scale, "scale", minimum=0, include_min=False, fix="a Vietoris-Rips radius")
    if distances is None:
        T = _largest_d2(scale)  # a bad scale fails here, before any distance is computed
        cloud = _check_cloud(cloud)
        return prepared_betti(prepare(_distinct(cloud.reshape(len(cloud), -1), float32=True)), scale, T)
    distances = np.asarray(distances, dtype=np.float32)
    return _betti_at(distances[np.triu_indices(len(distances), 1)], np.float32(scale))


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


@njit(cache=True, inline="always")
def _root(parent, a):
    while parent[a] != a:  # path halving
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


@njit(cache=True)
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
                ra, rb = _root(parent, label[a]), _root(parent, label[b])
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    pieces = 0
    for a in range(m):
        if _root(parent, a) == a:
            pieces += 1
    return isolated + pieces, m, ei, ej, pieces if two and m > 0 else -1


# ----------------------------------------------------------------------------- float32 Gram, certified


def _gamma(d: int, u: float) -> float:
    """Relative error bound of a length-d dot product in precision u (any summation order)."""
    return d * u / (1.0 - d * u)


def prepare(cloud: np.ndarray, k: int = SCALE_K) -> dict:
    """What the scale rule and the graph at any scale need of one distinct cloud (phase one).

    A float32 cloud of at least two points gets the float32 Gram route (see the module
    docstring); anything else the float64 route, which reproduces sklearn bit for bit.
    """
    X = np.ascontiguousarray(cloud)
    if X.dtype != np.float32 or len(X) < 2:
        X = X.astype(np.float64)
        D, kth = _distances(X, k)
        return {"X": X, "D": D, "kth": kth}
    xx = _squared_norms(X)
    D2, kth2 = _approx_kernel(X @ X.T, xx.astype(np.float32), int(k))
    return {"X": X, "xx": xx, "D2": D2, "kth2": kth2, "c": 1.5 * (_gamma(X.shape[1], _U32) + 8 * _U32)}


@njit(cache=True)
def _squared_norms(X):
    n, d = X.shape
    out = np.empty(n)
    for i in range(n):
        s = 0.0
        for q in range(d):
            v = np.float64(X[i, q])
            s += v * v
        out[i] = s
    return out


@njit(cache=True)
def _approx_kernel(G, xx, k):
    """Float32 squared distances (packed upper triangle) and every row's k-th smallest of them."""
    n = G.shape[0]
    D2, row, kth, buffers = _row_space(n, k)
    two, zero = np.float32(2.0), np.float32(0.0)
    off = 0
    for i in range(n):
        xi = xx[i]
        for j in range(n):
            row[j] = max((xi + xx[j]) - two * G[i, j], zero)
        row[i] = zero
        off = _store_row(row, i, off, D2, kth, k, buffers)
    return D2, kth


def _to_distance(d2):
    """giotto-ph's float32 distance of float64 squared distances (sklearn: clip at 0, square root, cast)."""
    return np.sqrt(np.maximum(d2, 0.0)).astype(np.float32)


def _exact_row(prep: dict, r: int) -> np.ndarray:
    """Row r of giotto-ph's float32 distances (its upper-triangle values), from float64 arithmetic."""
    if "X64" not in prep:  # converted once per cloud, for the few rows that need it
        prep["X64"] = prep["X"].astype(np.float64)
    X64 = prep["X64"]
    xx = prep["xx"]
    g = -2.0 * (X64 @ X64[r])
    d2 = np.empty_like(g)
    d2[:r] = (g[:r] + xx[:r]) + xx[r]  # entry (j, r), j < r, as sklearn computes the upper triangle
    d2[r + 1:] = (g[r + 1:] + xx[r]) + xx[r + 1:]
    d2[r] = 0.0
    return _to_distance(d2)


def _kth_intervals(prep: dict) -> tuple:
    """Per point, float32 bounds (lo, hi) of its k-th neighbour distance, from the float32 estimates."""
    kth2 = prep["kth2"].astype(np.float64)
    beta = prep["c"] * (prep["xx"] + prep["xx"].max())
    return _to_distance(kth2 - beta), _to_distance(kth2 + beta)


def _cloud_bounds(prep: dict, k: int = SCALE_K) -> tuple:
    """Bounds (lo, hi) of the cloud's scale value (median k-th neighbour distance); NaN below k + 1 points."""
    if "D" in prep:
        v = _scale_of(prep["kth"])
        return v, v
    if len(prep["kth2"]) <= k:
        return float("nan"), float("nan")
    lo, hi = _kth_intervals(prep)
    return float(np.median(lo)), float(np.median(hi))


def _cloud_scale(prep: dict, k: int = SCALE_K) -> float:
    """The cloud's scale value exactly: float64 rows only for the points near the median."""
    if "D" in prep:
        return _scale_of(prep["kth"])
    if len(prep["kth2"]) <= k:
        return float("nan")
    return _exact_median(*_kth_intervals(prep), lambda r: np.float32(np.partition(_exact_row(prep, r), k)[k]))


def _exact_median(lo: np.ndarray, hi: np.ndarray, exact) -> float:
    """``np.median`` of values known to lie in [lo, hi], computing ``exact(i)`` only where the bounds leave it open.

    Values certainly below both middle order statistics (hi < the lower middle's least possible
    value) or above them cannot change the median; they stand in as -inf and +inf.
    """
    n = len(lo)
    m1, m2 = (n - 1) // 2, n // 2
    floor = np.partition(lo, m1)[m1]
    ceil = np.partition(hi, m2)[m2]
    vals = np.full(n, np.nan, dtype=np.result_type(lo.dtype, hi.dtype))
    vals[hi < floor] = -np.inf
    vals[lo > ceil] = np.inf
    for i in np.flatnonzero(np.isnan(vals)):
        vals[i] = exact(i)
    return float(np.median(vals))


def layer_scale(preps: list, k: int = SCALE_K) -> float:
    """The scale rule over a layer's prepared clouds: median over the live clouds of their scale values.

    A cloud is live when its value is finite and positive (at least k + 1 distinct points, not
    collapsed); with no live cloud the scale is 1. Exact: clouds are refined to their exact value
    only where the bounds leave the median or the liveness open.
    """
    bounds = [_cloud_bounds(p, k) for p in preps]
    live, lo, hi = [], [], []
    for i, (a, b) in enumerate(bounds):
        if not np.isfinite(a) or b <= 0:
            continue
        if a <= 0:  # liveness open: refine
            a = b = _cloud_scale(preps[i], k)
            if not a > 0:
                continue
        live.append(i)
        lo.append(a)
        hi.append(b)
    if not live:
        return 1.0
    return _exact_median(np.array(lo), np.array(hi), lambda j: _cloud_scale(preps[live[j]], k))


def _largest_d2(eps) -> float:
    """The largest float64 squared distance that giotto-ph's float32 distance puts at or below float32(eps)."""
    with np.errstate(over="ignore"):
        eps32 = np.float32(eps)

    def at_most(bits: int) -> bool:
        return _to_distance(np.array([bits], np.int64).view(np.float64))[0] <= eps32

    lo = int(np.array([np.float64(eps32) ** 2 * (1 - 1e-6)]).view(np.int64)[0])
    hi = int(np.array([np.float64(np.nextafter(eps32, np.float32(np.inf))) ** 2 * (1 + 1e-6)]).view(np.int64)[0])
    if not (np.isfinite(eps32) and eps32 > 0 and at_most(lo) and not at_most(hi)):
        raise ValueError(f"scale {float(eps):g} is not a positive float32 distance (giotto-ph compares float32); "
                         f"pass a scale between {float(np.finfo(np.float32).tiny):g} and 1e38")
    while hi - lo > 1:  # bisection on the bit patterns of positive float64 values (ordered like the values)
        mid = lo + (hi - lo) // 2
        lo, hi = (mid, hi) if at_most(mid) else (lo, mid)
    return float(np.array([lo], np.int64).view(np.float64)[0])


@njit(cache=True)
def _certify(D2, xx, X, c, c64, T):
    """The graph "sklearn's squared distance <= T" as a packed uint8 triangle (0: edge, 2: none), and whether every pair was decided.

    A first pass decides with the float32 bound, branch-free (1: open); the few open pairs are
    then recomputed in float64 from the points.
    """
    n = X.shape[0]
    out = np.empty(len(D2), np.uint8)
    off = 0
    open_pairs = 0
    for a in range(n):
        xa = xx[a]
        for t in range(n - 1 - a):
            v = np.float64(D2[off + t])
            bound = c * (xa + xx[a + 1 + t])
            state = np.uint8(v + bound > T) + np.uint8(v - bound > T)  # 0: <= T for sure, 2: > T for sure
            out[off + t] = state
            open_pairs += state == 1
        off += n - 1 - a
    off = 0
    for a in range(n):
        for t in range(n - 1 - a):
            state = out[off + t]
            if state == 1:
                b = a + 1 + t
                e = 0.0
                for q in range(X.shape[1]):
                    u = np.float64(X[a, q]) - np.float64(X[b, q])
                    e += u * u
                bound = c64 * (xx[a] + xx[b] + e)
                if e + bound <= T:
                    out[off + t] = 0
                elif e - bound > T:
                    out[off + t] = 2
                else:
                    return out, False
                open_pairs -= 1
                if open_pairs == 0:
                    return out, True
        off += n - 1 - a
    return out, True


def prepared_betti(prep: dict, eps, T: Optional[float] = None) -> tuple:
    """(b0, b1) of the Vietoris-Rips complex at ``eps`` of a :func:`prepare`-d cloud (``T``: ``_largest_d2(eps)``)."""
    eps32 = np.float32(eps)
    if "D" in prep:
        return _flag_betti(prep["D"], eps32)
    T = _largest_d2(eps32) if T is None else T
    X = prep["X"]
    c64 = 4 * _gamma(X.shape[1], _U64) + 16 * _U64
    A, decided = _certify(prep["D2"], prep["xx"], X, prep["c"], c64, T)
    if not decided:  # a pair on the boundary to float64 precision: sklearn's values bit for bit
        return _flag_betti(_distances(X.astype(np.float64))[0], eps32)
    return _flag_betti(A, 1)


# ----------------------------------------------------------------------------- kNN-geodesic


def knn_betti(cloud: np.ndarray) -> tuple:
    """(b0, b1) as :func:`topokit.topology.layer_betti` counts them (k = 14, 2 hops) for a distinct cloud.

    The same kNN neighbours as :func:`topokit.topology.knn_graph` (sklearn, the point itself
    counted); the complex at 2 hops is the flag complex of "hop distance <= 2"
    (:func:`_hop_adjacency`), measured by :func:`_flag_betti`.
    """
    cloud = _check_cloud(cloud)  # before scikit-learn's import (1.5 s on 2 cores): bad input is refused at once
    if len(cloud) <= _KNN_K:
        return (1, 0)
    from sklearn.neighbors import NearestNeighbors

    ind = NearestNeighbors(n_neighbors=_KNN_K).fit(cloud).kneighbors(cloud, return_distance=False)
    return _flag_betti(_hop_adjacency(ind, _KNN_HOPS), 0)


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True, inline="always")
def _merge(parent, step, a, q):
    """Join root a's component with q's, the older root (entered first) staying root: (root, younger root or -1)."""
    b = _root(parent, q)
    if a == b:
        return a, -1
    old, young = (a, b) if step[a] < step[b] else (b, a)
    parent[young] = old
    return old, young


@njit(cache=True)
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
                    a, young = _merge(parent, step, a, q)
                    if young >= 0 and fp - np.float64(fm[young]) > noise:
                        c0 += 1
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
                a, young = _merge(parent, step, a, q)
                if young >= 0 and np.float64(fm[young]) - fp > noise:
                    c1 += 1
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
    _checks.real(noise, "noise", minimum=0)
    m, h, w = a.shape
    flat = np.ascontiguousarray(a.reshape(m, h * w), dtype=np.float32 if a.dtype == np.float32 else np.float64)
    out = np.empty((m, 2), np.int64)
    for s in range(0, m, chunk):
        part = flat[s:s + chunk]
        order = (_radix_order(part.view(np.uint32)) if part.dtype == np.float32
                 else np.argsort(part, axis=1).astype(np.int32))
        out[s:s + chunk] = _cubical_union_find(part, order, h, w, float(noise))
    return out
