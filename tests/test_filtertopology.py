"""Exact and fast topology of feature maps (topokit.filtertopology), checked against sklearn, ripser and giotto-tda."""
import numpy as np
import pytest
import torch

from topokit import filtertopology as ft
from topokit import models, pruning


def _exact_scale(clouds, k=ft.SCALE_K):
    """The scale rule from sklearn-exact float64 distances (the reference)."""
    values = [ft._scale_of(ft._distances(np.asarray(c, np.float64), k)[1]) for c in clouds]
    values = [v for v in values if np.isfinite(v) and v > 0]
    return float(np.median(values)) if values else 1.0


def _clouds(rng):
    grid = np.stack(np.meshgrid(np.arange(8), np.arange(8), np.arange(3)), -1).reshape(-1, 3)
    out = [np.maximum(rng.normal(size=(n, d)) * s, 0) for n, d, s in
           ((300, 64, 3.0), (200, 784, 1.0), (60, 5, 1.0), (15, 3, 1.0), (14, 3, 1.0), (2, 2, 1.0), (1, 4, 1.0))]
    out += [grid, grid * 0.1, 1e-3 * rng.normal(size=(40, 3)) + 5.0]  # exact ties; a tight cloud far from 0
    return [ft._distinct(np.asarray(c, np.float32), float32=True) for c in out]


def test_float32_route_gives_the_exact_scale_and_betti_numbers():
    rng = np.random.default_rng(7)
    clouds = _clouds(rng)
    preps = [ft.prepare(c) for c in clouds]
    assert all("D2" in p for p, c in zip(preps, clouds) if len(c) >= 2)  # the float32 route was taken
    assert ft.layer_scale(preps) == _exact_scale(clouds)
    for prep, cloud in zip(preps, clouds):
        assert ft._cloud_scale(prep) == _exact_scale([cloud]) or len(cloud) <= ft.SCALE_K
        D = ft._distances(cloud.astype(np.float64))[0]
        scales = [0.1, 0.2, 1.0, np.sqrt(2), 2.0] + ([float(D[len(D) // 3]), float(np.median(D))] if len(D) > 3 else [])
        for eps in scales:  # pairs exactly at the scale included (grid distances, a pair's own distance)
            assert ft.prepared_betti(prep, eps) == ft._betti_at(D, np.float32(eps)), (cloud.shape, eps)
            assert ft.euclidean_betti(cloud, eps) == ft._betti_at(D, np.float32(eps))


def test_a_pair_on_the_boundary_falls_back_to_sklearns_values(monkeypatch):
    X = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [3, 3]], np.float32)
    prep = ft.prepare(X)
    xx = prep["xx"]
    _, decided = ft._certify(prep["D2"], xx, X, prep["c"], 1e-15, 1.0)  # T exactly a squared distance
    assert not decided
    _, decided = ft._certify(prep["D2"], xx, X, prep["c"], 1e-15, ft._largest_d2(1.0))
    assert decided
    monkeypatch.setattr(ft, "_certify", lambda *a: (None, False))
    assert ft.prepared_betti(prep, 1.0) == ft._betti_at(ft._distances(X.astype(np.float64))[0], np.float32(1.0)) == (2, 1)


def test_largest_squared_distance_at_a_scale():
    for eps in (1e-3, 0.5, 1.0, 3.7, 13.253165, 1e4):
        e32 = np.float32(eps)
        T = ft._largest_d2(e32)
        assert ft._to_distance(np.array([T]))[0] <= e32 < ft._to_distance(np.array([np.nextafter(T, np.inf)]))[0]


def test_exact_median_only_asks_where_the_bounds_leave_it_open():
    rng = np.random.default_rng(8)
    for n in (1, 2, 7, 50, 51):
        exact = rng.random(n)
        width = rng.random(n) * 0.01
        asked = []

        def reveal(i):
            asked.append(i)
            return exact[i]

        assert ft._exact_median(exact - width, exact + width, reveal) == float(np.median(exact))
        assert len(asked) <= n and (n < 20 or len(asked) < n // 2)


def test_euclidean_betti_equals_giotto_full_filtration():
    from gtda.homology import VietorisRipsPersistence

    rng = np.random.default_rng(1)
    t = rng.random(80) * 2 * np.pi
    cloud = np.c_[np.cos(t), np.sin(t), 0.1 * rng.normal(size=(80, 3))]
    dgm = VietorisRipsPersistence(homology_dimensions=(0, 1), reduced_homology=False, infinity_values=np.inf,
                                  n_jobs=1).fit_transform([cloud])[0]
    for eps in (0.05, 0.2, 0.5, 1.0, 2.5):
        want = tuple(int(np.sum((dgm[:, 2] == q) & (dgm[:, 0] <= np.float32(eps)) & (dgm[:, 1] > np.float32(eps))))
                     for q in (0, 1))
        assert ft.euclidean_betti(cloud, eps) == want



def test_distances_are_giottos_float32_values_and_kth_neighbours():
    from sklearn.metrics import pairwise_distances

    rng = np.random.default_rng(3)
    grid = np.stack(np.meshgrid(np.arange(9), np.arange(9)), -1).reshape(-1, 2)  # many equal distances
    line = np.sort(rng.normal(size=(300, 1)), axis=0)  # sorted rows: the k-th neighbour bound's worst case
    for X in [np.maximum(rng.normal(size=(n, d)) * spread, 0)
              for n, d, spread in ((1, 3, 1.0), (2, 3, 1.0), (40, 1, 1e-3), (300, 49, 10.0), (200, 784, 1.0))] + [grid, line]:
        X = ft._distinct(X)
        upper, kth = ft._distances(X)
        want = pairwise_distances(X, metric="euclidean").astype(np.float32)  # what giotto-ph reads
        iu = np.triu_indices(len(X), 1)
        assert np.array_equal(upper, want[iu])
        D = np.zeros_like(want)
        D[iu] = upper
        D = D + D.T
        if len(X) > ft.SCALE_K:
            assert np.array_equal(kth, np.partition(D, ft.SCALE_K, axis=1)[:, ft.SCALE_K])
        else:
            assert np.isnan(kth).all()



def test_distinct_keeps_first_occurrences_in_order():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 3, size=(300, 3)).astype(np.float32)
    a[7] = -0.0 * a[7]  # -0.0 equals 0.0
    for cloud in (a, a.astype(np.float64), np.zeros((5, 2)), rng.normal(size=(20, 4))):
        rows = [tuple(r) for r in np.asarray(cloud, np.float64) + 0.0]
        want = [r for i, r in enumerate(rows) if r not in rows[:i]]
        got = ft._distinct(cloud)
        assert got.dtype == np.float64 and [tuple(r) for r in got] == want



def test_flag_betti_after_strong_collapse_equals_ripser_on_the_whole_graph():
    from gph import ripser_parallel
    import scipy.sparse as sp

    rng = np.random.default_rng(5)
    graphs = []
    for n, p in ((1, 0.0), (6, 0.0), (30, 0.05), (60, 0.08), (80, 0.15), (120, 0.3)):
        upper = np.triu(rng.random((n, n)) < p, 1)
        graphs.append(upper | upper.T)
    ring = np.zeros((12, 12), bool)  # a 12-cycle plus a 5-cycle: the all-cycles shortcut
    for i in range(7):
        ring[i, (i + 1) % 7] = ring[(i + 1) % 7, i] = True
    for i in range(5):
        ring[7 + i, 7 + (i + 1) % 5] = ring[7 + (i + 1) % 5, 7 + i] = True
    graphs.append(ring)
    for adj in graphs:
        i, j = np.nonzero(np.triu(adj, 1))
        A = sp.coo_matrix((np.ones(len(i), np.float32), (i, j)), shape=adj.shape)
        dgms = ripser_parallel(A, maxdim=1, thresh=1.0, metric="precomputed", n_threads=1)["dgms"]
        want = tuple(int(np.count_nonzero(d[:, 1] > 1.0)) for d in dgms)
        M = np.where(adj, 0.5, 2.0).astype(np.float32)[np.triu_indices(len(adj), 1)]  # the graph M <= 1
        assert ft._flag_betti(M, 1.0) == want
    assert ft._flag_betti(np.where(ring, 0.5, 2.0).astype(np.float32)[np.triu_indices(12, 1)], 1.0) == (2, 2)



def test_hop_adjacency_equals_the_layer_analysis_hop_distances():
    from sklearn.neighbors import NearestNeighbors

    from topokit.topology import hop_distances, knn_graph

    rng = np.random.default_rng(6)
    X = ft._distinct(rng.normal(size=(150, 5)))
    ind = NearestNeighbors(n_neighbors=14).fit(X).kneighbors(X, return_distance=False)
    within = ft._hop_adjacency(ind, 2) == 0  # upper triangle
    want = hop_distances(knn_graph(X, 14), 2).toarray() > 0  # strictly upper triangular
    assert np.array_equal(within, want[np.triu_indices(len(X), 1)])



def test_cubical_counts_rings_and_giotto():
    from gtda.homology import CubicalPersistence

    ring = np.zeros((3, 9, 9), np.float32)
    ring[:, 2:7, 2:7] = -1
    ring[:, 3:6, 3:6] = 0  # a dark ring: one component, one hole per image
    assert ft.cubical_counts(ring, 0.5).tolist() == [[1, 1]] * 3
    net = models.cnn(1, channels=(1,), hidden=2, batch_norm=False, activation="tanh", seed=0).eval()
    with torch.no_grad():
        net.blocks[0][0].weight.zero_()
        net.blocks[0][0].bias.zero_()
        net.blocks[0][0].weight[0, 0, 1, 1] = 1.0
    X = np.zeros((4, 1, 9, 9), np.float32)
    X[:, 0, 2:7, 2:7], X[:, 0, 3:6, 3:6] = -1, 0
    s = pruning.filter_scores(net, X, np.array([0, 1, 0, 1]), method="cubical", noise=0.5)
    assert s["conv1"].tolist() == [2.0]  # beta0 + beta1 = 1 + 1, averaged over the images
    rng = np.random.default_rng(0)
    maps = np.maximum(rng.normal(size=(60, 10, 12)) + rng.normal(size=(60, 1, 1)), 0).astype(np.float32)
    maps[:20] = np.round(maps[:20] * 2) / 2  # ties
    dg = CubicalPersistence(homology_dimensions=(0, 1), reduced_homology=False, infinity_values=np.inf,
                            n_jobs=1).fit_transform(maps)
    for noise in (0.0, 0.3):
        want = [[int(np.sum((d[:, 2] == q) & (d[:, 1] - d[:, 0] > noise))) for q in (0, 1)] for d in dg]
        assert ft.cubical_counts(maps, noise).tolist() == want
        assert ft.cubical_counts(maps.astype(np.float64), noise).tolist() == want  # argsort path
        assert ft.cubical_counts(maps, noise, chunk=7).tolist() == want
    neg = -maps[:10]  # negative values and -0.0 order right
    dg = CubicalPersistence(homology_dimensions=(0, 1), reduced_homology=False, infinity_values=np.inf,
                            n_jobs=1).fit_transform(neg)
    want = [[int(np.sum((d[:, 2] == q) & (d[:, 1] - d[:, 0] > 0.1))) for q in (0, 1)] for d in dg]
    assert ft.cubical_counts(neg, 0.1).tolist() == want
