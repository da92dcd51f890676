"""Binary classification datasets, synthetic ones with known topology and real images.

Every dataset comes back from :func:`load` as a :class:`Dataset`: float32 features ``X``
(``[n, d]`` for point clouds, ``[n, c, h, w]`` for images), int64 labels ``y`` in {0, 1}, and for
the synthetic sets the ground-truth Betti numbers of each class in ``betti``.

Synthetic sets (Naitzat, Zhitnikov & Lim, JMLR 2020, and larger families)
--------------------------------------------------------------------------
``"D-I"``
    2-D. Class 0 (a): nine disks of radius 1.3, one at the origin and eight on a circle of
    radius 7. Class 1 (b): the square ``[-10, 10]^2`` with nine holes holding them; a band of
    width 0.5 (the margin) around each disk is left empty. beta(a) = (9, 0), beta(b) = (1, 9).
    Sampled on a square grid (as in Naitzat et al.'s code), with a seeded random grid offset.
``"D-II"``
    3-D. Nine units (the origin and the eight corners ``(+-3, +-3, +-3)``), each a pair of
    linked solid tori, one torus per class; which class gets the horizontal torus alternates
    per unit. beta(a) = beta(b) = (9, 9, 0). Scaled by ``MaxAbsScaler`` as in their code.
``"D-III"``
    3-D. Nine units, each a spherical shell of class 1 (radii 2 to 2.05) enclosing a shell of
    class 0 (radii 1 to 1.05) enclosing a ball of class 1 (radius 0.5).
    beta(a) = (9, 0, 9), beta(b) = (18, 0, 9). Scaled by ``MaxAbsScaler``.
``"D-I-grid"``
    D-I with a ``g x g`` grid of disks (parameter ``g``, default 13): beta(a) = (g^2, 0),
    beta(b) = (1, g^2). The paper's regime of Betti numbers above 150.
``"checkerboard"``
    A ``c x c`` checkerboard (parameter ``c``, default 18) with an empty band of width
    ``margin`` between cells; each class's beta0 is its number of cells, beta1 = 0.

Splits are ``"train"``, ``"test"`` and ``"homology"`` (the held-aside points on which topology is
measured, as in Naitzat et al.). Default sizes (points, train / homology) follow that paper:
D-I 7,800 / 2,600, D-II 45,000 / 11,250, D-III 37,800 / 9,450; ``size`` scales them, ``n`` sets
the count directly. The test split has as many points as the homology split.

Where our construction differs from the original code (which we cannot run here), the choice
is documented in the function that builds the set; the ground truth holds by construction and is
checked by ``tests/test_topology.py``.

Image sets
----------
``"fashion-mnist"`` (any pair of its ten classes), ``"cifar10"`` (any pair), ``"cats-vs-dogs"``
(resized to ``image_size``) and ``"digits"`` (scikit-learn's 8x8 digits, any pair; always
available). Files are looked up in ``$TOPOKIT_DATA``, then in the project's ``data/`` folder,
verified by sha256 (md5 for the official CIFAR-10 tarball, whose published checksum is an md5),
and downloaded from the official source only when absent and downloads are allowed
(``download=True`` or ``TOPOKIT_DOWNLOAD=1``). A missing file raises an error naming every path
tried; no other data is ever substituted.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from . import _checks
from .fileio import atomic_path, file_digest, progress_enabled

__all__ = [
    "Dataset",
    "DATASETS",
    "DATASET_FILES",
    "DataUnavailableError",
    "ensure_available",
    "FASHION_MNIST_CLASSES",
    "CIFAR10_CLASSES",
    "available_datasets",
    "data_dirs",
    "load",
    "validate_xy",
]

PROJECT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SPLITS = ("train", "test", "homology")

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


@dataclass
class Dataset:
    """A binary classification dataset.

    Attributes
    ----------
    X : ndarray of float32
        Features, ``[n, d]`` (point clouds) or ``[n, c, h, w]`` (images).
    y : ndarray of int64
        Labels in {0, 1}.
    name, split : str
        What was loaded.
    betti : dict or None
        Synthetic sets only: class label -> tuple of ground-truth Betti numbers (b0, b1, ...).
    classes : tuple of str
        Human-readable name of class 0 and class 1.
    params : dict
        The parameters the set was built with (seed included).
    """

    X: np.ndarray
    y: np.ndarray
    name: str
    split: str
    betti: Optional[Dict[int, Tuple[int, ...]]] = None
    classes: Tuple[str, str] = ("0", "1")
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        counts = np.bincount(self.y, minlength=2)
        betti = f", betti={self.betti}" if self.betti else ""
        return (
            f"Dataset({self.name!r}, split={self.split!r}, X={tuple(self.X.shape)}, "
            f"class counts={counts.tolist()}, classes={self.classes}{betti})"
        )

    @property
    def class_counts(self) -> np.ndarray:
        """Number of points of class 0 and class 1."""
        return np.bincount(self.y, minlength=2)


# ---------------------------------------------------------------------------------------------
# Validation shared by the package
# ---------------------------------------------------------------------------------------------

def validate_xy(X, y=None, *, name: str = "X") -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Check features and binary labels; return them as numpy arrays.

    Raises ``ValueError`` naming the problem and the fix for: an empty ``X``, NaN or inf in
    ``X``, ``X`` and ``y`` of different lengths, labels outside {0, 1}.
    """
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty array of shape [n, d] or [n, c, h, w], got shape {X.shape}; "
            "reshape single samples with X[None] and pass at least one sample"
        )
    if not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
    if not np.all(np.isfinite(X)):
        bad = int(np.count_nonzero(~np.isfinite(X)))
        raise ValueError(
            f"{name} contains {bad} NaN or inf values; remove or impute them before training "
            "(e.g. X = np.nan_to_num(X) or drop the rows)"
        )
    if y is None:
        return X, None
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D with one label per sample, got shape {y.shape}; use y.ravel()")
    if len(y) != len(X):
        raise ValueError(
            f"{name} and y have different lengths ({len(X)} vs {len(y)}); pass one label per sample"
        )
    if not np.all(np.isin(y, (0, 1))):
        bad = sorted(set(np.unique(y).tolist()) - {0, 1})[:5]
        raise ValueError(
            f"labels must be 0 or 1 for binary classification, found {bad}; "
            "map your two classes to 0 and 1 (e.g. y = (y == positive_class).astype(int))"
        )
    return X, y.astype(np.int64)


def _check_split(split: str, allowed: Sequence[str], name: str) -> str:
    return _checks.choice(split, f"split of {name!r}", allowed)


#: Bytes a synthetic point costs while it is drawn (candidate grid, labels, shuffles, float32
#: copy): a deliberately generous estimate, so that an impossible ``n`` fails before allocation.
_BYTES_PER_POINT = 256
#: Default cap on the points of one synthetic split; ``max_points`` raises it.
MAX_POINTS = 50_000_000


def _rng(seed: int, split: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), SPLITS.index(split) if split in SPLITS else 9])


def _count(split: str, defaults: Tuple[int, int], size: float, n: Optional[int],
           max_points: Optional[int] = None) -> int:
    """Points for a split: ``n`` if given, else the paper's default (train, homology) times size.

    The count is checked against :data:`MAX_POINTS` (or ``max_points``) and against the memory
    drawing it needs, before anything is allocated.
    """
    cap = _checks.integer(max_points, "max_points", minimum=2, allow_none=True) or MAX_POINTS
    if n is not None:
        n = _checks.integer(n, "n (number of points)", minimum=2, fix="pass e.g. n=2000")
    else:
        size = _checks.real(size, "size", minimum=0, include_min=False,
                            fix="pass a positive factor on the default number of points, e.g. size=0.5")
        base = defaults[0] if split == "train" else defaults[1]
        if base * size > cap:  # before rounding: a huge float must not become a huge int silently
            n = cap + 1
        else:
            n = max(2, int(round(base * size)))
    if n > cap:
        raise _checks.InvalidParameterError(
            f"this split would hold {n:,} points, more than the cap of {cap:,}; lower n or size "
            "(or raise the cap with max_points=...)")
    _checks.memory(n * _BYTES_PER_POINT, f"drawing {n:,} points", fix="lower n or size")
    return n


def _finish(X, y, name, split, betti, classes, params, noise=0.0, rng=None) -> Dataset:
    X = np.asarray(X, dtype=np.float64)
    if noise:
        X = X + rng.normal(scale=noise, size=X.shape)
    return Dataset(
        X=np.ascontiguousarray(X, dtype=np.float32),
        y=np.asarray(y, dtype=np.int64),
        name=name,
        split=split,
        betti=betti,
        classes=classes,
        params=params,
    )


# ---------------------------------------------------------------------------------------------
# 2-D families on a grid
# ---------------------------------------------------------------------------------------------

def _grid_sample(label_fn: Callable[[np.ndarray], np.ndarray], box: Tuple[float, float, float, float],
                 n: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Sample about ``n`` points on a square grid over ``box`` whose label_fn is 0 or 1.

    The spacing is the largest that leaves at least ``n`` kept points; the grid is shifted by a
    random offset (so splits and seeds give different points), and exactly ``n`` points are kept
    by a seeded subsample of the few extra.
    """
    x0, x1, y0, y1 = box
    offset = rng.uniform(0, 1, size=2)

    def grid(h):
        xs = x0 + (offset[0] + np.arange(int(np.floor((x1 - x0) / h)))) * h
        ys = y0 + (offset[1] + np.arange(int(np.floor((y1 - y0) / h)))) * h
        P = np.stack(np.meshgrid(xs, ys, indexing="xy"), axis=-1).reshape(-1, 2)
        lab = label_fn(P)
        keep = lab >= 0
        return P[keep], lab[keep]

    # kept fraction estimate from a fine probe, then shrink h until enough points
    P, lab = grid(min(x1 - x0, y1 - y0) / 200)
    frac = len(P) / 200 ** 2
    h = np.sqrt((x1 - x0) * (y1 - y0) * max(frac, 1e-6) / n)
    for _ in range(200):
        P, lab = grid(h)
        if len(P) >= n:
            break
        h *= 0.995
    if len(P) < n:
        raise ValueError(f"could not place {n} points in the region; lower n")
    idx = np.sort(rng.choice(len(P), size=n, replace=False))
    return P[idx], lab[idx]


def _points_per_cell(value) -> Tuple[int, int]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise _checks.InvalidParameterError(
            f"points_per_cell must be a pair (train, homology) of point counts, got {value!r}")
    return tuple(_checks.integer(v, "points_per_cell", minimum=1) for v in value)


def _disks_label(centres: np.ndarray, radius: float, margin: float) -> Callable:
    from scipy.spatial import cKDTree

    tree = cKDTree(centres)

    def label(P):
        d, _ = tree.query(P)
        lab = np.where(d <= radius, 0, 1)
        lab[(d > radius) & (d <= radius + margin)] = -1
        return lab
    return label


def _check_geometry(radius, margin, noise=0.0):
    _checks.real(radius, "radius", minimum=0, include_min=False)
    _checks.real(margin, "margin", minimum=0, include_min=False,
                 fix="the width of the empty band between classes, e.g. margin=0.5")
    _check_noise(noise)


def _check_noise(noise) -> float:
    return _checks.real(noise, "noise", minimum=0, fix="the std of Gaussian jitter, e.g. noise=0.05 (0 for none)")


def _d1(split, seed, size=1.0, n=None, radius=1.3, margin=0.5, noise=0.0, max_points=None):
    """Naitzat's D-I: nine disks (class 0) in the nine holes of a square (class 1)."""
    _check_geometry(radius, margin, noise)
    n = _count(split, (7800, 2600), size, n, max_points)
    rng = _rng(seed, split)
    angles = np.arange(8) * 2 * np.pi / 8
    centres = np.vstack([[0.0, 0.0], 7.0 * np.c_[np.cos(angles), np.sin(angles)]])
    if 7.0 * 2 * np.sin(np.pi / 8) <= 2 * (radius + margin) or 7.0 + radius + margin >= 10:
        raise ValueError("radius + margin too large: the disks would touch each other or the border")
    box = (-10.0, 10.0, -10.0, 10.0)
    X, y = _grid_sample(_disks_label(centres, radius, margin), box, n, rng)
    betti = {0: (9, 0), 1: (1, 9)}
    params = dict(seed=seed, n=n, radius=radius, margin=margin, noise=noise)
    return _finish(X, y, "D-I", split, betti, ("disks", "holed square"), params, noise, rng)


def _d1_grid(split, seed, g=13, size=1.0, n=None, radius=1.3, margin=0.5, spacing=5.0,
             points_per_cell=(600, 200), noise=0.0, max_points=None):
    """D-I with a g x g grid of disks: beta(disks) = (g^2, 0), beta(holed square) = (1, g^2)."""
    _check_geometry(radius, margin, noise)
    g = _checks.integer(g, "g (disks per side)", minimum=1, fix="e.g. g=3 gives 9 disks")
    spacing = _checks.real(spacing, "spacing", minimum=0, include_min=False)
    if spacing <= 2 * (radius + margin):
        raise ValueError(f"spacing {spacing} must exceed 2 * (radius + margin) = {2 * (radius + margin)}")
    per_cell = _points_per_cell(points_per_cell)
    n = _count(split, (per_cell[0] * g * g, per_cell[1] * g * g), size, n, max_points)
    rng = _rng(seed, split)
    c = (np.arange(g) - (g - 1) / 2) * spacing
    centres = np.stack(np.meshgrid(c, c), -1).reshape(-1, 2)
    half = g * spacing / 2
    box = (-half, half, -half, half)
    X, y = _grid_sample(_disks_label(centres, radius, margin), box, n, rng)
    betti = {0: (g * g, 0), 1: (1, g * g)}
    params = dict(seed=seed, g=g, n=n, radius=radius, margin=margin, spacing=spacing, noise=noise)
    return _finish(X, y, "D-I-grid", split, betti, ("disks", "holed square"), params, noise, rng)


def _checkerboard(split, seed, c=18, size=1.0, n=None, cell=2.0, margin=0.6,
                  points_per_cell=(300, 100), noise=0.0, max_points=None):
    """A c x c checkerboard; cells of one colour are one class, an empty band separates cells."""
    c = _checks.integer(c, "c (cells per side)", minimum=2, fix="e.g. c=4 gives 8 cells per class")
    cell = _checks.real(cell, "cell", minimum=0, include_min=False)
    _checks.real(margin, "margin", minimum=0, maximum=cell, include_min=False, include_max=False)
    _check_noise(noise)
    per_cell = _points_per_cell(points_per_cell)
    n = _count(split, (per_cell[0] * c * c, per_cell[1] * c * c), size, n, max_points)
    rng = _rng(seed, split)

    def label(P):
        q = P / cell
        i, j = np.floor(q[:, 0]).astype(int), np.floor(q[:, 1]).astype(int)
        fx, fy = (q[:, 0] - i) * cell, (q[:, 1] - j) * cell
        inside = (np.minimum(fx, cell - fx) > margin / 2) & (np.minimum(fy, cell - fy) > margin / 2)
        inside &= (i >= 0) & (i < c) & (j >= 0) & (j < c)
        return np.where(inside, (i + j) % 2, -1)

    X, y = _grid_sample(label, (0.0, c * cell, 0.0, c * cell), n, rng)
    X = X - c * cell / 2
    n0 = (c * c + 1) // 2
    betti = {0: (n0, 0), 1: (c * c - n0, 0)}
    params = dict(seed=seed, c=c, n=n, cell=cell, margin=margin, noise=noise)
    return _finish(X, y, "checkerboard", split, betti, ("even cells", "odd cells"), params, noise, rng)


def _spirals(split, seed, g=3, size=1.0, n=None, turns=0.75, cell=8.0, gap=0.3, noise=0.0,
             points_per_cell=(2400, 1600), max_points=None):
    """A g x g grid of cells, each holding two interleaved Archimedean spiral arms, one per class.

    In each cell, a point at polar coordinates (r, theta) about the cell's centre has the phase
    ``u = frac(r / pitch - theta / 2 pi)``: class 0 where ``u`` lies in ``(gap/2, 1/2 - gap/2)``,
    class 1 where it lies in ``(1/2 + gap/2, 1 - gap/2)``, for ``r`` between a fifth and two fifths
    of the cell (``turns`` turns in between), nothing elsewhere. Each arm is one connected strip,
    the arms never touch, and the cells are apart: beta(class 0) = beta(class 1) = (g^2, 0).
    Neither Naitzat's sets nor the evaluation sets look like this: the classes are interleaved at
    every radius, the 2-D counterpart of the linked rings. The defaults (3/4 of a turn, 30% of
    each turn empty, 1,600 homology points per cell) were chosen so that Naitzat's method (k = 14,
    2 hops) recovers the truth: with 1,200 points per cell and 20% empty, thin arms showed spurious
    loops in some seeds.
    """
    g = _checks.integer(g, "g (cells per side)", minimum=1, fix="e.g. g=3 gives 9 arms per class")
    turns = _checks.real(turns, "turns", minimum=0.25, maximum=4, fix="e.g. turns=1.0")
    cell = _checks.real(cell, "cell", minimum=0, include_min=False)
    gap = _checks.real(gap, "gap", minimum=0, maximum=0.8, include_min=False, include_max=False,
                       fix="the share of each turn left empty between the arms, e.g. 0.3")
    _check_noise(noise)
    per_cell = _points_per_cell(points_per_cell)
    n = _count(split, (per_cell[0] * g * g, per_cell[1] * g * g), size, n, max_points)
    rng = _rng(seed, split)
    r0, r1 = cell / 5, 2 * cell / 5
    pitch = (r1 - r0) / turns

    def label(P):
        q = P / cell
        i, j = np.floor(q[:, 0]).astype(int), np.floor(q[:, 1]).astype(int)
        d = P - (np.c_[i, j] + 0.5) * cell
        r, theta = np.hypot(d[:, 0], d[:, 1]), np.arctan2(d[:, 1], d[:, 0])
        u = np.mod(r / pitch - theta / (2 * np.pi), 1.0)
        inside = (r >= r0) & (r <= r1) & (i >= 0) & (i < g) & (j >= 0) & (j < g)
        lab = np.where((u > gap / 2) & (u < 0.5 - gap / 2), 0, np.where((u > 0.5 + gap / 2) & (u < 1 - gap / 2), 1, -1))
        return np.where(inside, lab, -1)

    X, y = _grid_sample(label, (0.0, g * cell, 0.0, g * cell), n, rng)
    X = X - g * cell / 2
    betti = {0: (g * g, 0), 1: (g * g, 0)}
    params = dict(seed=seed, g=g, n=n, turns=turns, cell=cell, gap=gap, noise=noise)
    return _finish(X, y, "spirals", split, betti, ("arms a", "arms b"), params, noise, rng)


# ---------------------------------------------------------------------------------------------
# 3-D sets
# ---------------------------------------------------------------------------------------------

_UNIT_CENTRES = np.vstack([[0.0, 0.0, 0.0],
                           3.0 * np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T])


def _split_evenly(n: int, parts: int) -> np.ndarray:
    """Point counts of ``parts`` pieces adding up to n."""
    per = np.full(parts, n // parts)
    per[: n % parts] += 1
    return per


def _shuffle_and_scale(Xs, ys, rng) -> Tuple[np.ndarray, np.ndarray]:
    """Stack the pieces, shuffle, and scale each axis by its maximum |x| (MaxAbsScaler)."""
    X, y = np.vstack(Xs), np.concatenate(ys)
    perm = rng.permutation(len(y))
    X = X[perm]
    return X / np.max(np.abs(X), axis=0, keepdims=True), y[perm]


def _solid_torus(n, centre, R, r, plane, rng):
    """n points uniform in a solid torus of radii (R, r) around ``centre``; plane 'xy' or 'xz'."""
    t = rng.uniform(0, 2 * np.pi, n)
    # area-uniform point in the tube's disk cross-section, then reject by the torus Jacobian
    rho = r * np.sqrt(rng.uniform(0, 1, n))
    phi = rng.uniform(0, 2 * np.pi, n)
    radial = R + rho * np.cos(phi)
    out = rho * np.sin(phi)
    a, b = radial * np.cos(t), radial * np.sin(t)
    P = np.c_[a, b, out] if plane == "xy" else np.c_[a, out, b]
    return P + centre


def _d2(split, seed, size=1.0, n=None, R=1.0, r=0.2, noise=0.0, max_points=None):
    """Naitzat's D-II: nine pairs of linked solid tori, one torus of each pair per class.

    Each unit has a torus in the xy-plane centred at ``centre - (R/2, 0, 0)`` and one in the
    xz-plane centred at ``centre + (R/2, 0, 0)``: each core circle passes through the other's
    disk, so they link once. The original code uses thin noisy circles of radii 2.5 and 2.2;
    here the rings are solid tori of core radius ``R`` and tube radius ``r`` (r must stay below
    the distance between the core circles, about 0.3 R), which keeps the units apart after
    the same MaxAbsScaler.
    """
    R = _checks.real(R, "R (core radius)", minimum=0, include_min=False)
    _checks.real(r, "r (tube radius)", minimum=0, maximum=0.3 * R, include_min=False, include_max=False,
                 fix="the linked tori must not touch: keep r below 0.3 * R")
    _check_noise(noise)
    n = _count(split, (45000, 11250), size, n, max_points)
    rng = _rng(seed, split)
    per = _split_evenly(n, 18)
    Xs, ys = [], []
    for u, centre in enumerate(_UNIT_CENTRES):
        first = u % 2  # which class gets the xy-torus alternates per unit
        for j, (plane, shift) in enumerate((("xy", -R / 2), ("xz", R / 2))):
            k = 2 * u + j
            Xs.append(_solid_torus(per[k], centre + np.array([shift, 0, 0]), R, r, plane, rng))
            ys.append(np.full(per[k], first if j == 0 else 1 - first))
    X, y = _shuffle_and_scale(Xs, ys, rng)
    betti = {0: (9, 9, 0), 1: (9, 9, 0)}
    params = dict(seed=seed, n=n, R=R, r=r, noise=noise)
    return _finish(X, y, "D-II", split, betti, ("torus a", "torus b"), params, noise, rng)


def _rings(split, seed, g=3, size=1.0, n=None, R=1.0, r=0.2, spacing=4.5, noise=0.0,
           points_per_ring=(1200, 600), max_points=None):
    """A g x g grid of Hopf links in the plane z = 0: at each position two linked solid tori, one per class.

    Each link is D-II's unit (a torus in the xy-plane and one in the xz-plane, each core circle
    through the other's disk); which class holds the xy-torus alternates like a checkerboard.
    Every torus is a component with one loop: beta(class 0) = beta(class 1) = (g^2, g^2, 0).
    Positions are ``spacing`` apart (units of the core radius R; a link spans 3 R + 2 r along x);
    no MaxAbsScaler, so the
    geometry of a link is the same on every rung of a ladder.
    """
    g = _checks.integer(g, "g (links per side)", minimum=1, fix="e.g. g=3 gives 9 rings per class")
    R = _checks.real(R, "R (core radius)", minimum=0, include_min=False)
    _checks.real(r, "r (tube radius)", minimum=0, maximum=0.3 * R, include_min=False, include_max=False,
                 fix="the linked tori must not touch: keep r below 0.3 * R")
    spacing = _checks.real(spacing, "spacing", minimum=3 + 2 * r / R, include_min=False,
                           fix="links must not touch: keep spacing (in units of R) above 3 + 2 r / R")
    _check_noise(noise)
    per = _points_per_cell(points_per_ring)
    n = _count(split, (2 * per[0] * g * g, 2 * per[1] * g * g), size, n, max_points)
    rng = _rng(seed, split)
    counts = _split_evenly(n, 2 * g * g)
    Xs, ys = [], []
    grid = (np.arange(g) - (g - 1) / 2) * spacing * R
    for u, (cx, cy) in enumerate((a, b) for a in grid for b in grid):
        first = (u + (u // g if g % 2 == 0 else 0)) % 2
        for j, (plane, shift) in enumerate((("xy", -R / 2), ("xz", R / 2))):
            k = 2 * u + j
            Xs.append(_solid_torus(counts[k], np.array([cx + shift, cy, 0.0]), R, r, plane, rng))
            ys.append(np.full(counts[k], first if j == 0 else 1 - first))
    X, y = np.vstack(Xs), np.concatenate(ys)
    perm = rng.permutation(len(y))
    betti = {0: (g * g, g * g, 0), 1: (g * g, g * g, 0)}
    params = dict(seed=seed, g=g, n=n, R=R, r=r, spacing=spacing, noise=noise)
    return _finish(X[perm], y[perm], "rings", split, betti, ("rings a", "rings b"), params, noise, rng)


def _shell(n, centre, r0, r1, rng):
    """n points uniform in the shell r0 <= |x - centre| <= r1 (a ball when r0 == 0)."""
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    rad = np.cbrt(rng.uniform(r0 ** 3, r1 ** 3, n))
    return centre + v * rad[:, None]


def _d3(split, seed, size=1.0, n=None, noise=0.0, shares=(0.5, 0.4, 0.1), max_points=None):
    """Naitzat's D-III: in each of nine units, a ball (class 1) inside a shell (class 0) inside a
    shell (class 1).

    Shell radii are those of the original (1-1.05 and 2-2.05; inner ball 0.5). The original
    samples Fibonacci spheres; here points are uniform in the thin shells (seeded). ``shares``
    is the fraction of points in the inner shell, the outer shell and the ball.
    """
    shares = _checks.finite_array(shares, "shares", ndim=1,
                                  fix="three positive fractions (inner shell, outer shell, ball)")
    if shares.shape != (3,) or np.any(shares <= 0):
        raise ValueError("shares must be three positive fractions (inner shell, outer shell, ball)")
    shares = shares / shares.sum()
    _check_noise(noise)
    n = _count(split, (37800, 9450), size, n, max_points)
    rng = _rng(seed, split)
    per_unit = _split_evenly(n, 9)
    Xs, ys = [], []
    for u, centre in enumerate(_UNIT_CENTRES):
        k_in = int(round(per_unit[u] * shares[0]))
        k_ball = int(round(per_unit[u] * shares[2]))
        k_out = per_unit[u] - k_in - k_ball
        Xs += [_shell(k_in, centre, 1.0, 1.05, rng), _shell(k_out, centre, 2.0, 2.05, rng),
               _shell(k_ball, centre, 0.0, 0.5, rng)]
        ys += [np.zeros(k_in), np.ones(k_out), np.ones(k_ball)]
    X, y = _shuffle_and_scale(Xs, ys, rng)
    betti = {0: (9, 0, 9), 1: (18, 0, 9)}
    params = dict(seed=seed, n=n, noise=noise)
    return _finish(X, y, "D-III", split, betti, ("middle shells", "balls and outer shells"),
                   params, noise, rng)


# ---------------------------------------------------------------------------------------------
# Files: lookup, checksums, download
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Remote:
    """A file a loader needs: its name under the data folder, checksum and official URL."""

    relpath: str
    digest: str
    url: Optional[str] = None
    algorithm: str = "sha256"


_FMNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FILES = {
    "fmnist-train-images": _Remote("fashion-mnist/train-images-idx3-ubyte.gz",
                                   "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                                   _FMNIST_URL + "train-images-idx3-ubyte.gz"),
    "fmnist-train-labels": _Remote("fashion-mnist/train-labels-idx1-ubyte.gz",
                                   "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                                   _FMNIST_URL + "train-labels-idx1-ubyte.gz"),
    "fmnist-test-images": _Remote("fashion-mnist/t10k-images-idx3-ubyte.gz",
                                  "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                                  _FMNIST_URL + "t10k-images-idx3-ubyte.gz"),
    "fmnist-test-labels": _Remote("fashion-mnist/t10k-labels-idx1-ubyte.gz",
                                  "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                                  _FMNIST_URL + "t10k-labels-idx1-ubyte.gz"),
    # The official CIFAR-10 release publishes an md5 checksum only.
    "cifar10-tarball": _Remote("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                               "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "md5"),
    "cifar10-images": _Remote("cifar-10-images.zip",
                              "554be6129ca692d42f08255fb91b17abf91216e32d2cda5e991bceb396352755"),
    "cats-vs-dogs": _Remote("cats_and_dogs_filtered.zip",
                            "82a2db9769d34d24f9276494462726719fa6dd9d33d7350aaa3f00bd69a2e8e0",
                            "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"),
}


def data_dirs() -> list[Path]:
    """Folders searched for data files, in order: ``$TOPOKIT_DATA`` (may list several,
    separated by ``os.pathsep``), then the project's ``data/`` folder."""
    dirs = [Path(p).expanduser() for p in os.environ.get("TOPOKIT_DATA", "").split(os.pathsep) if p]
    dirs.append(PROJECT_DATA_DIR)
    out = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


_verified: Dict[Tuple[str, int, int], bool] = {}


def _verify(path: Path, remote: _Remote) -> Path:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if not _verified.get(key):
        got = file_digest(path, remote.algorithm)
        if got != remote.digest:
            raise ValueError(
                f"checksum mismatch for {path}: {remote.algorithm} is {got}, expected {remote.digest}. "
                "The file is corrupt, truncated or a different version: delete it and put the "
                "official file there (or re-download it with download=True)"
            )
        _verified[key] = True
    return path


def _downloads_allowed(download: Optional[bool]) -> bool:
    if download is not None:
        return bool(download)
    return os.environ.get("TOPOKIT_DOWNLOAD", "0").lower() in ("1", "true", "yes")


def _download(remote: _Remote, target: Path) -> Path:
    """Fetch ``remote.url`` into ``target`` atomically, verifying the checksum before the rename."""
    from tqdm.auto import tqdm

    created = [d for d in reversed(target.parents) if not d.exists()]  # folders a failure must not leave behind
    try:
        return _fetch(remote, target, tqdm)
    except BaseException:
        for folder in reversed(created):
            try:
                folder.rmdir()  # only if still empty
            except OSError:
                break
        raise


def _fetch(remote: _Remote, target: Path, tqdm) -> Path:
    with atomic_path(target, suffix=".part") as tmp:
        with open(tmp, "wb") as out, urllib.request.urlopen(remote.url, timeout=60) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {target.name}",
                      disable=not progress_enabled()) as bar:
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        got = file_digest(tmp, remote.algorithm)
        if got != remote.digest:
            raise ValueError(f"downloaded {remote.url} but its {remote.algorithm} is {got}, expected {remote.digest}")
    return target


def _locate(keys: Sequence[str]) -> Tuple[Optional[str], Optional[Path], list, list]:
    """The first of ``keys`` present and verified in :func:`data_dirs` as (key, path, tried, errors).

    A copy whose checksum does not match is skipped with a warning naming it, so a corrupt file
    early on the search path does not hide a good copy later on it; ``errors`` lists the skipped.
    """
    import warnings

    tried, errors = [], []
    for d in data_dirs():
        for key in keys:
            p = d / FILES[key].relpath
            tried.append(p)
            if p.is_file():
                try:
                    return key, _verify(p, FILES[key]), tried, errors
                except (ValueError, OSError) as exc:
                    errors.append(str(exc))
                    warnings.warn(f"skipping {p}: {exc}", UserWarning, stacklevel=3)
    return None, None, tried, errors


def _missing_message(keys: Sequence[str], dataset: str, tried: Sequence[Path], errors: Sequence[str],
                     download: Optional[bool]) -> str:
    downloadable = [k for k in keys if FILES[k].url]
    want = "; or ".join(f"{FILES[k].relpath}" + (f" (from {FILES[k].url})" if FILES[k].url else "") for k in keys)
    hint = "" if _downloads_allowed(download) or not downloadable else (
        " Or allow a download of the official files with download=True or TOPOKIT_DOWNLOAD=1."
    )
    return (
        f"{dataset} data not found. Tried: " + ", ".join(str(p) for p in tried) + ". "
        + (" ".join(errors) + ". " if errors else "")
        + f"Put {want} in a folder and set TOPOKIT_DATA to it, or copy it into {PROJECT_DATA_DIR}."
        + hint
    )


def _find(keys: Sequence[str], dataset: str, download: Optional[bool] = None) -> Tuple[str, Path]:
    """Return (key, path) of the first of ``keys`` found (and verified) in :func:`data_dirs`.

    When none is found, downloads the first downloadable one if allowed, else raises a
    ``FileNotFoundError`` naming every path tried and what to put there.
    """
    key, path, tried, errors = _locate(keys)
    if key is not None:
        return key, path
    downloadable = [k for k in keys if FILES[k].url]
    if downloadable and _downloads_allowed(download):
        key = downloadable[0]
        target = data_dirs()[0] / FILES[key].relpath
        try:
            return key, _download(FILES[key], target)
        except (OSError, ValueError) as exc:  # network down, host unknown, bad checksum
            errors.append(f"download of {FILES[key].url} failed: {exc}")
    raise FileNotFoundError(_missing_message(keys, dataset, tried, errors, download))


#: The files each image dataset needs: one tuple of alternative :data:`FILES` keys per file.
DATASET_FILES = {
    "fashion-mnist": [("fmnist-train-images",), ("fmnist-train-labels",), ("fmnist-test-images",),
                      ("fmnist-test-labels",)],
    "cifar10": [("cifar10-tarball", "cifar10-images")],
    "cats-vs-dogs": [("cats-vs-dogs",)],
}


class DataUnavailableError(FileNotFoundError):
    """Some files that datasets need are missing (or corrupt) and could not be downloaded.

    ``missing`` lists one message per file, each naming the paths tried and what to put where.
    """

    def __init__(self, missing: Sequence[str]):
        self.missing = list(missing)
        super().__init__(
            f"{len(self.missing)} data file(s) missing; nothing has run yet.\n- " + "\n- ".join(self.missing)
        )


def _canonical_name(name: str) -> str:
    if not isinstance(name, str):
        raise _checks.InvalidParameterError(
            f"dataset name must be a string, got {type(name).__name__}; choose one of: {', '.join(DATASETS)}")
    key = name if name in DATASETS else _ALIASES.get(str(name).strip().lower().replace(" ", "-"))
    if key is None:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return key


def ensure_available(datasets: Sequence[str], download: Optional[bool] = None) -> Dict[str, list]:
    """Check, before any long work, that every file the named datasets need is present and intact.

    Missing files are downloaded from their official source (checksum verified, atomically, with a
    progress bar) when downloads are allowed; a present file whose checksum is wrong (say a
    download that was cut off) is replaced by a download when allowed, and reported otherwise.
    Synthetic sets and digits need no file.

    Parameters
    ----------
    datasets : sequence of str
        Dataset names as accepted by :func:`load`.
    download : bool, optional
        Allow downloads; default from ``TOPOKIT_DOWNLOAD`` (off unless set to 1).

    Returns
    -------
    dict
        Dataset name -> list of the verified file paths it will read.

    Raises
    ------
    DataUnavailableError
        Listing every file that is still missing, where it was looked for and what to put where.
    """
    found: Dict[str, list] = {}
    problems = []
    for name in dict.fromkeys(_canonical_name(n) for n in datasets):
        found[name] = []
        for keys in DATASET_FILES.get(name, []):
            key, path, _, _ = _locate(keys)
            if key is not None:
                found[name].append(path)
                continue
            try:
                found[name].append(_find(keys, name, download)[1])
            except FileNotFoundError as exc:
                problems.append(str(exc))
    if problems:
        raise DataUnavailableError(problems)
    return found


# ---------------------------------------------------------------------------------------------
# Image sets
# ---------------------------------------------------------------------------------------------

def _class_index(cls, names: Sequence[str], dataset: str) -> int:
    if isinstance(cls, (int, np.integer)) and not isinstance(cls, bool):
        if 0 <= int(cls) < len(names):
            return int(cls)
    else:
        key = str(cls).strip().lower()
        norm = [n.lower() for n in names]
        for i, n in enumerate(norm):
            if key == n or key == n.split("/")[0] or key.rstrip("s") == n.rstrip("s"):
                return i
    raise ValueError(
        f"unknown class {cls!r} for {dataset}; choose two of: "
        + ", ".join(f"{i} {n!r}" for i, n in enumerate(names))
    )


def _pair(classes, names, dataset) -> Tuple[int, int]:
    if isinstance(classes, (str, int)) or len(classes) != 2:
        raise ValueError(f"classes must name exactly two classes of {dataset}, got {classes!r}")
    a, b = (_class_index(c, names, dataset) for c in classes)
    if a == b:
        raise ValueError(f"classes must be two different classes of {dataset}, got {classes!r} twice")
    return a, b


def _select(images: np.ndarray, labels: np.ndarray, pair, max_per_class, rng) -> Tuple[np.ndarray, np.ndarray]:
    """Keep the two classes (relabelled 0 and 1), at most max_per_class each (seeded choice)."""
    idx = []
    for c in pair:
        where = np.flatnonzero(labels == c)
        if max_per_class is not None and len(where) > max_per_class:
            where = np.sort(rng.choice(where, size=int(max_per_class), replace=False))
        idx.append(where)
    sel = np.concatenate(idx)
    y = np.concatenate([np.full(len(i), k) for k, i in enumerate(idx)])
    perm = rng.permutation(len(sel))
    return images[sel[perm]], y[perm]


#: Largest side accepted for ``image_size`` (pixels); the memory check bounds the whole batch.
MAX_IMAGE_SIZE = 1024


def _check_image_args(max_per_class, image_size=None, *, per_class: int = 6000, channels: int = 3):
    """Validate the image options and refuse a batch the machine cannot hold, before reading.

    ``per_class`` is the most images one class can contribute and ``channels`` the colour
    channels, so the estimate (float32 images plus the uint8 batch they are decoded into) is an
    upper bound.
    """
    max_per_class = _checks.integer(max_per_class, "max_per_class", minimum=1, allow_none=True,
                                    fix="pass a number of images per class, or None for all")
    image_size = _checks.integer(image_size, "image_size", minimum=1, maximum=MAX_IMAGE_SIZE,
                                 allow_none=True, fix="a side in pixels, e.g. image_size=64")
    count = 2 * min(per_class, max_per_class or per_class)
    side = image_size or 64
    _checks.memory(count * channels * side * side * 5, f"{count:,} images of {side}x{side} pixels",
                   fix="lower max_per_class or image_size")
    return max_per_class, image_size


def _read_idx(path: Path, magic: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    got = int.from_bytes(data[:4], "big")
    if got != magic:
        raise ValueError(f"{path} is not an IDX file of the expected kind (magic {got}, expected {magic})")
    if magic == 2051:
        n, h, w = (int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(3))
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, h, w)
    n = int.from_bytes(data[4:8], "big")
    return np.frombuffer(data, np.uint8, offset=8)[:n]


def _resize(images: np.ndarray, image_size: Optional[int]) -> np.ndarray:
    """Resize a uint8 batch [n, h, w(, c)] to image_size x image_size with Pillow (bilinear)."""
    if image_size is None or images.shape[1] == image_size and images.shape[2] == image_size:
        return images
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(im).resize((image_size, image_size), Image.BILINEAR))
                     for im in images])


def _to_float(images: np.ndarray) -> np.ndarray:
    """uint8 [n, h, w] or [n, h, w, c] -> float32 [n, c, h, w] in [0, 1]."""
    x = images.astype(np.float32) / 255.0
    return x[:, None] if x.ndim == 3 else np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _fashion_mnist(split, seed, classes=("Pullover", "Coat"), max_per_class=None, image_size=None,
                   download=None):
    """Fashion-MNIST, two of its classes, from the official IDX files."""
    _check_split(split, ("train", "test"), "fashion-mnist")
    max_per_class, image_size = _check_image_args(max_per_class, image_size, per_class=6000, channels=1)
    pair = _pair(classes, FASHION_MNIST_CLASSES, "fashion-mnist")
    part = "train" if split == "train" else "test"
    _, img_path = _find([f"fmnist-{part}-images"], "Fashion-MNIST", download)
    _, lab_path = _find([f"fmnist-{part}-labels"], "Fashion-MNIST", download)

    def read():
        images, labels = _read_idx(img_path, 2051), _read_idx(lab_path, 2049)
        images, y = _select(images, labels, pair, max_per_class, _rng(seed, split))
        return _resize(images, image_size), y

    images, y = _cached_images("fashion-mnist", [_file_identity(img_path), _file_identity(lab_path)],
                               dict(split=split, seed=seed, pair=pair, max_per_class=max_per_class,
                                    image_size=image_size), read,
                               code=[_fashion_mnist, _read_idx, _select, _resize])
    X = _to_float(images)
    names = tuple(FASHION_MNIST_CLASSES[c] for c in pair)
    params = dict(seed=seed, classes=names, max_per_class=max_per_class, image_size=image_size)
    return Dataset(X, y.astype(np.int64), "fashion-mnist", split, None, names, params)


#: File endings read as images in image-folder trees; other files (a README, .DS_Store) are not images.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


def _decode(blob: bytes, image_size: Optional[int], mode: str = "RGB", name: str = "an image") -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(blob)) as im:
            im = im.convert(mode)
            if image_size is not None and im.size != (image_size, image_size):
                im = im.resize((image_size, image_size), Image.BILINEAR)
            return np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"{name} is not a readable image ({exc.__class__.__name__}: {exc}); "
                         "remove or replace that file") from None


def _folder_images(source: Path, root: str, split_dir: str, class_dirs: Sequence[str],
                   max_per_class, rng, image_size) -> Tuple[np.ndarray, np.ndarray]:
    """Read ``root/split_dir/<class>/*`` images from a zip file or a directory tree."""
    members: Dict[int, list] = {i: [] for i in range(len(class_dirs))}
    if source.suffix == ".zip":
        zf = zipfile.ZipFile(source)
        for name in zf.namelist():
            parts = name.split("/")
            if (len(parts) == 4 and parts[0] == root and parts[1] == split_dir and parts[2] in class_dirs
                    and parts[3].lower().endswith(IMAGE_SUFFIXES)):
                members[class_dirs.index(parts[2])].append(name)
        read = zf.read
    else:
        zf = None
        for i, c in enumerate(class_dirs):
            members[i] = [str(p) for p in (source / split_dir / c).glob("*")
                          if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES)]
        read = lambda p: Path(p).read_bytes()  # noqa: E731
    try:
        images, labels = [], []
        for label, names in members.items():
            if not names:
                raise FileNotFoundError(f"no images for class {class_dirs[label]!r} under {source} ({root}/{split_dir})")
            names = sorted(names)
            if max_per_class is not None and len(names) > max_per_class:
                names = [names[i] for i in np.sort(rng.choice(len(names), int(max_per_class), replace=False))]
            images += [_decode(read(n), image_size, name=f"{source}: {n}" if zf is not None else n)
                       for n in names]
            labels += [label] * len(names)
    finally:
        if zf is not None:
            zf.close()
    sizes = {im.shape for im in images}
    if len(sizes) > 1:
        raise ValueError(f"images under {source} differ in size {sorted(sizes)[:3]}; pass image_size to resize them")
    perm = rng.permutation(len(labels))
    return np.stack(images)[perm], np.asarray(labels, dtype=np.int64)[perm]


def _cifar10(split, seed, classes=("cat", "dog"), max_per_class=None, image_size=None, download=None):
    """CIFAR-10, two of its classes, from the official python tarball or an image-folder tree."""
    _check_split(split, ("train", "test"), "cifar10")
    max_per_class, image_size = _check_image_args(max_per_class, image_size, per_class=5000)
    pair = _pair(classes, CIFAR10_CLASSES, "cifar10")
    class_dirs = [CIFAR10_CLASSES[c] for c in pair]
    options = dict(split=split, seed=seed, pair=pair, max_per_class=max_per_class, image_size=image_size)
    code = [_cifar10, _folder_images, _decode, _select, _resize]
    # an unpacked image-folder tree counts too
    for d in data_dirs():
        tree = d / "cifar-10-images"
        if (tree / split).is_dir():
            X, y = _cached_images("cifar10", [_tree_identity(tree, split, class_dirs)], options,
                                  lambda: _folder_images(tree, "cifar-10-images", split, class_dirs, max_per_class,
                                                         _rng(seed, split), image_size), code)
            break
    else:
        key, path = _find(["cifar10-tarball", "cifar10-images"], "CIFAR-10", download)
        if key == "cifar10-images":
            X, y = _cached_images("cifar10", [_file_identity(path)], options,
                                  lambda: _folder_images(path, "cifar-10-images", split, class_dirs, max_per_class,
                                                         _rng(seed, split), image_size), code)
        else:
            def read():
                batches = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
                data, labels = [], []
                with tarfile.open(path, "r:gz") as tf:
                    for b in batches:
                        d = pickle.load(tf.extractfile(f"cifar-10-batches-py/{b}"), encoding="bytes")
                        data.append(d[b"data"])
                        labels += d[b"labels"]
                images = np.concatenate(data).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
                X, y = _select(images, np.asarray(labels), pair, max_per_class, _rng(seed, split))
                return _resize(X, image_size), y

            X, y = _cached_images("cifar10", [_file_identity(path)], options, read, code)
    names = tuple(CIFAR10_CLASSES[c] for c in pair)
    params = dict(seed=seed, classes=names, max_per_class=max_per_class, image_size=image_size)
    return Dataset(_to_float(X), y.astype(np.int64), "cifar10", split, None, names, params)


def _cats_vs_dogs(split, seed, image_size=64, max_per_class=None, download=None):
    """Cats (0) vs dogs (1), the 'cats_and_dogs_filtered' subset; "test" is its validation set."""
    _check_split(split, ("train", "test"), "cats-vs-dogs")
    max_per_class, image_size = _check_image_args(max_per_class, image_size, per_class=1000)
    if image_size is None:
        raise ValueError("cats-vs-dogs images differ in size: pass image_size, e.g. image_size=64")
    sub = "train" if split == "train" else "validation"
    for d in data_dirs():
        tree = d / "cats_and_dogs_filtered"
        if (tree / sub).is_dir():
            source, identity = tree, _tree_identity(tree, sub, ["cats", "dogs"])
            break
    else:
        _, source = _find(["cats-vs-dogs"], "cats vs dogs", download)
        identity = _file_identity(source)
    X, y = _cached_images(
        "cats-vs-dogs", [identity], dict(split=split, seed=seed, max_per_class=max_per_class, image_size=image_size),
        lambda: _folder_images(source, "cats_and_dogs_filtered", sub, ["cats", "dogs"], max_per_class,
                               _rng(seed, split), int(image_size)),
        [_cats_vs_dogs, _folder_images, _decode])
    params = dict(seed=seed, image_size=image_size, max_per_class=max_per_class)
    return Dataset(_to_float(X), y, "cats-vs-dogs", split, None, ("cat", "dog"), params)


def _digits(split, seed, classes=(3, 8), test_fraction=0.3, image_size=None):
    """scikit-learn's 8x8 digits, two classes; a seeded stratified train/test split."""
    _check_split(split, ("train", "test"), "digits")
    _, image_size = _check_image_args(None, image_size, per_class=200, channels=1)
    pair = _pair(classes, [str(i) for i in range(10)], "digits")
    _checks.real(test_fraction, "test_fraction", minimum=0, maximum=1, include_min=False, include_max=False)
    from sklearn.datasets import load_digits  # after the checks: its import alone takes 1-2 s

    d = load_digits()
    rng = np.random.default_rng([int(seed), 7])
    idx_train, idx_test = [], []
    for c in pair:
        where = rng.permutation(np.flatnonzero(d.target == c))
        k = int(round(len(where) * test_fraction))
        idx_test.append(where[:k])
        idx_train.append(where[k:])
    idx = idx_train if split == "train" else idx_test
    sel = np.concatenate(idx)
    y = np.concatenate([np.full(len(i), k) for k, i in enumerate(idx)])
    perm = _rng(seed, split).permutation(len(sel))
    images = (d.images[sel[perm]] / 16.0 * 255).round().astype(np.uint8)
    X = _to_float(_resize(images, image_size))
    names = (str(pair[0]), str(pair[1]))
    params = dict(seed=seed, classes=names, image_size=image_size)
    return Dataset(X, y[perm].astype(np.int64), "digits", split, None, names, params)


# ---------------------------------------------------------------------------------------------
# Decoded images, cached
# ---------------------------------------------------------------------------------------------


def _file_identity(path: Path) -> dict:
    """What identifies a data file's content for :func:`_cached_images`: its resolved path, its size
    and its modification time in nanoseconds (replacing or rewriting the file changes them)."""
    path = Path(path).resolve()
    st = path.stat()
    return {"path": str(path), "bytes": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def _tree_identity(tree: Path, split_dir: str, class_dirs: Sequence[str]) -> dict:
    """The identity of an image-folder tree's class folders: a digest of every file's name, size
    and modification time, so an image added, removed or rewritten changes it."""
    h = hashlib.sha256()
    for c in class_dirs:
        folder = Path(tree) / split_dir / c
        for p in sorted(folder.iterdir()) if folder.is_dir() else []:
            st = p.stat()
            h.update(f"{c}/{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8"))
    return {"path": str(Path(tree).resolve()), "files": h.hexdigest()}


def _cached_images(dataset: str, sources: Sequence[dict], options: dict, read: Callable, code: Sequence):
    """``read()`` -> (uint8 images, labels), stored in topokit's cache (kind ``"data-images"``).

    A warm run then skips listing a 60,000-entry zip and decoding its images. The key holds the
    sources' identities (:func:`_file_identity`, :func:`_tree_identity`), every option that selects
    the images (split, seed, classes, counts, size) and the source of the reading code, so a changed
    file, option or reader is read afresh, never served stale. Without a usable cache folder (none
    can be made, or it is read-only and misses) the images are read as before; a failed store is
    not an error either (``Cache.memo(..., required=False)``).
    """
    from .cache import Cache

    try:
        cache = Cache()
    except (OSError, ValueError):  # no usable cache folder (NotACacheError is both)
        return read()

    def compute() -> dict:
        images, labels = read()
        return {"images": np.ascontiguousarray(images), "labels": np.asarray(labels)}

    value = cache.memo("data-images", {"dataset": dataset, "sources": list(sources), **options}, compute, code,
                       required=False)
    return value["images"], value["labels"]


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------

DATASETS: Dict[str, Callable] = {
    "D-I": _d1,
    "D-II": _d2,
    "D-III": _d3,
    "D-I-grid": _d1_grid,
    "checkerboard": _checkerboard,
    "spirals": _spirals,
    "rings": _rings,
    "fashion-mnist": _fashion_mnist,
    "cifar10": _cifar10,
    "cats-vs-dogs": _cats_vs_dogs,
    "digits": _digits,
}
SYNTHETIC = ("D-I", "D-II", "D-III", "D-I-grid", "checkerboard", "spirals", "rings")
_ALIASES = {"d1": "D-I", "d2": "D-II", "d3": "D-III", "di": "D-I", "dii": "D-II", "diii": "D-III",
            "fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist", "cifar-10": "cifar10",
            "cats_vs_dogs": "cats-vs-dogs", "d-i-grid": "D-I-grid"}


def available_datasets() -> list[str]:
    """Names accepted by :func:`load`."""
    return list(DATASETS)


def load(name: str, split: str = "train", seed: int = 0, **params) -> Dataset:
    """Load a binary classification dataset.

    Parameters
    ----------
    name : str
        One of :func:`available_datasets`: "D-I", "D-II", "D-III", "D-I-grid", "checkerboard",
        "fashion-mnist", "cifar10", "cats-vs-dogs", "digits".
    split : {"train", "test", "homology"}, default "train"
        "homology" (the held-aside points on which topology is measured) exists for the
        synthetic sets only.
    seed : int, default 0
        Same seed, same data.
    **params
        Dataset options. Synthetic: ``size`` (factor on the default number of points), ``n``
        (number of points), ``noise`` (std of Gaussian jitter), ``margin`` and shape parameters
        (``g`` for "D-I-grid", ``c`` for "checkerboard"). Images: ``classes`` (a pair of class
        names or indices), ``max_per_class``, ``image_size``, ``download``.

    Returns
    -------
    Dataset
        With ``X`` (float32), ``y`` (int64 in {0, 1}) and, for synthetic sets, ``betti``.

    Examples
    --------
    >>> from topokit.data import load
    >>> d = load("D-I", split="homology")
    >>> d.X.shape, d.betti
    ((2600, 2), {0: (9, 0), 1: (1, 9)})
    """
    key = _canonical_name(name)
    if key in SYNTHETIC:
        _check_split(split, SPLITS, key)
    seed = _checks.integer(seed, "seed", minimum=0)
    import inspect

    accepted = set(inspect.signature(DATASETS[key]).parameters) - {"split", "seed"}
    unknown = set(params) - accepted
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {sorted(unknown)} for {key!r}; it accepts: {', '.join(sorted(accepted))}"
        )
    return DATASETS[key](split, int(seed), **params)
