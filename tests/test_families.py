"""The Betti-ladder families (spirals, rings): their ground truth recovered by Naitzat's method on
the homology split, and the same numbers from an independent engine (dense hop distances + ripser.py)."""
import numpy as np
import pytest

from topokit import data
from topokit.topology import betti_numbers


def _independent(X, k, max_dim=1):
    """Dense all-pairs kNN hop distances and ripser.py, read at 2 hops: shares no code with topokit."""
    from ripser import ripser
    from scipy.sparse.csgraph import shortest_path
    from sklearn.neighbors import NearestNeighbors

    X = np.unique(X, axis=0)
    A = NearestNeighbors(n_neighbors=k).fit(X).kneighbors_graph(X)
    D = shortest_path(A, directed=False, unweighted=True)
    dgms = ripser(D, maxdim=max_dim, distance_matrix=True, thresh=3)["dgms"]
    return tuple(int(((d[:, 0] <= 2) & (d[:, 1] > 2)).sum()) for d in dgms)


@pytest.mark.parametrize("name, g", [("spirals", 2), ("spirals", 3), ("rings", 2), ("rings", 3)])
def test_ladder_families_recover_their_truth(name, g):
    d = data.load(name, split="homology", g=g)
    k = 14 if d.X.shape[1] == 2 else 35
    assert d.betti[0][:2] == d.betti[1][:2] == ((g * g, 0) if name == "spirals" else (g * g, g * g))
    for label in (0, 1):
        assert betti_numbers(d.X[d.y == label], k=k, max_dim=1) == d.betti[label][:2]


@pytest.mark.parametrize("name", ["spirals", "rings"])
def test_ladder_families_agree_with_an_independent_engine(name):
    d = data.load(name, split="homology", g=2, seed=3)
    k = 14 if d.X.shape[1] == 2 else 35
    for label in (0, 1):
        assert _independent(d.X[d.y == label], k) == d.betti[label][:2]


def test_ladder_families_are_registered_and_seeded():
    assert {"spirals", "rings"} <= set(data.SYNTHETIC)
    a, b = data.load("spirals", g=2, seed=1), data.load("spirals", g=2, seed=1)
    np.testing.assert_array_equal(a.X, b.X)
    assert set(np.unique(a.y)) == {0, 1} and a.X.shape[1] == 2
    assert data.load("rings", g=2).X.shape[1] == 3


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="spirals", g=0), r"g \(cells per side\) must be an integer >= 1"),
    (dict(name="spirals", gap=0.9), "gap must be a finite number in"),
    (dict(name="spirals", turns=10), "turns must be"),
    (dict(name="rings", spacing=2.0), "links must not touch"),
    (dict(name="rings", g=10 ** 4), "more than the cap"),
    (dict(name="spirals", g=3, n=10 ** 9), "more than the cap"),
])
def test_ladder_families_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load(**kwargs)
