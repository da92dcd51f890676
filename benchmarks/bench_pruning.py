"""Benchmark: scoring every filter of notebook 04's CNNs, ours against plain giotto-tda.

For each CNN of notebook 04 (``topokit.pruning.trained_model``, read from the cache once
trained) and 1,000 training images (a class-stratified subsample), every conv filter is scored
with ``topokit.pruning.filter_scores`` for the three topological methods: the whole job, timed
(feature maps, deduplication, the per-layer scale or noise rule and all clouds included; serial,
one thread; the median of ``--repeats`` runs), after one untimed run of the same job (compiled
kernels loaded, BLAS buffers allocated: what any second call in a session finds; a first call
in a fresh process takes 0.2-0.4 s more).

The same job done the plainest way with giotto-tda, filter by filter:

- the same feature maps (``topokit.pruning.feature_maps``: both sides need them, timed once);
- each class's cloud deduplicated with ``np.unique(axis=0)`` (rows kept in first-occurrence order);
- ``"betti"``: the scale rule's part for the cloud (sklearn ``pairwise_distances``, the 14th-neighbour
  distance by ``np.partition``, its median), then ``VietorisRipsPersistence`` (Euclidean, full
  filtration, ``reduced_homology=False``) read at the layer's scale (``birth <= eps < death``);
- ``"betti-knn"``: ``KNeighborsGraph(n_neighbors=k - 1)`` (it leaves the point itself out) ->
  ``GraphGeodesicDistance`` -> ``VietorisRipsPersistence(metric="precomputed")`` full filtration,
  read at 2 hops; a class collapsed onto k or fewer distinct points counts as (1, 0), as in ours;
- ``"cubical"``: the layer's noise level (standard deviation of its maps, once per layer), then
  ``CubicalPersistence(reduced_homology=False)`` on each feature map, bars of persistence above
  the noise level counted.

The plain per-filter work is slow, so for ``"betti-knn"`` and ``"cubical"`` it runs on 6 filters
of each layer (``--baseline-filters``), evenly spaced (the first filters are not typical), and its
mean time per filter is extrapolated to all of the layer's filters; ``"betti"``, fast enough, runs
the plain job on every filter (``--baseline-filters 0`` does so for all three). The layers are read at our
scale and noise level, and the scores of every filter both computed must be identical. The gate:
the plain job's time (feature maps + per-layer work + extrapolated per-filter work) at least
``--min-ratio`` (10) times ours for every method and data set; otherwise the script exits with
status 1. Also printed: the ratio without the feature maps on either side (the topology alone).
Times are CPU seconds of this process (``time.process_time``; BLAS and OpenMP at 1 thread, both
sides single-threaded), which other programs on a shared machine distort far less than wall
time; wall-clock figures are saved beside them. ``--json PATH`` also writes all figures as JSON.

    python benchmarks/bench_pruning.py                  # the three notebook CNNs (~3 minutes)
    python benchmarks/bench_pruning.py --sets fashion-mnist --json bench_pruning.json
    python benchmarks/bench_pruning.py --quick          # quick-mode CNNs, agreement only
"""
from __future__ import annotations

import argparse
import json
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
import platform
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also when imported by path (tests)
from _bench import write_json  # noqa: E402  (puts the project on the path)
from topokit import pruning  # noqa: E402

METHODS = ("betti", "betti-knn", "cubical")


def _clock():
    return time.process_time(), time.perf_counter()


def _since(start):
    return time.process_time() - start[0], time.perf_counter() - start[1]


def plain_distinct(cloud: np.ndarray) -> np.ndarray:
    """Distinct rows by ``np.unique(axis=0)``, in first-occurrence order (float64; -0.0 as 0.0)."""
    cloud = np.asarray(cloud, dtype=np.float64) + 0.0
    _, first = np.unique(cloud, axis=0, return_index=True)
    return cloud[np.sort(first)]


def plain_scale_part(cloud: np.ndarray, k: int = pruning.SCALE_K) -> float:
    """The scale rule's part for one cloud: median distance to the k-th nearest other point (sklearn, numpy)."""
    from sklearn.metrics import pairwise_distances

    if len(cloud) <= k:
        return float("nan")
    D = pairwise_distances(cloud).astype(np.float32)
    return float(np.median(np.partition(D, k, axis=1)[:, k]))


def giotto_betti(cloud: np.ndarray, eps: float) -> tuple:
    """Plain giotto-tda: Euclidean VR full filtration, read at eps (float32, as giotto-ph stores it)."""
    from gtda.homology import VietorisRipsPersistence

    if len(cloud) == 1:
        return (1, 0)
    dgm = VietorisRipsPersistence(homology_dimensions=(0, 1), reduced_homology=False, infinity_values=np.inf,
                                  n_jobs=1).fit_transform([cloud])[0]
    e = np.float32(eps)
    return tuple(int(np.sum((dgm[:, 2] == q) & (dgm[:, 0] <= e) & (dgm[:, 1] > e))) for q in (0, 1))


def giotto_betti_knn(cloud: np.ndarray, k: int = 14, hops: int = 2) -> tuple:
    """Plain giotto-tda: kNN graph -> geodesic hop distances -> VR full filtration, read at ``hops``."""
    from gtda.graphs import GraphGeodesicDistance, KNeighborsGraph
    from gtda.homology import VietorisRipsPersistence

    if len(cloud) <= k:
        return (1, 0)
    G = KNeighborsGraph(n_neighbors=k - 1).fit_transform([cloud])
    D = GraphGeodesicDistance(directed=False, unweighted=True).fit_transform(G)
    dgm = VietorisRipsPersistence(metric="precomputed", homology_dimensions=(0, 1), reduced_homology=False,
                                  infinity_values=np.inf, n_jobs=1).fit_transform(D)[0]
    dgm = dgm[dgm[:, 0] < dgm[:, 1]]
    return tuple(int(np.sum((dgm[:, 2] == q) & (dgm[:, 0] <= hops) & (dgm[:, 1] > hops))) for q in (0, 1))


def giotto_cubical(maps: np.ndarray, noise: float) -> float:
    """Plain giotto-tda: CubicalPersistence per map; bars of persistence > noise, mean over maps."""
    from gtda.homology import CubicalPersistence

    dg = CubicalPersistence(homology_dimensions=(0, 1), reduced_homology=False, infinity_values=np.inf,
                            n_jobs=1).fit_transform(maps)
    return float(np.mean([np.sum(d[:, 1] - d[:, 0] > noise) for d in dg]))


def baseline_filter(method: str, maps: torch.Tensor, y: np.ndarray, c: int, info: dict) -> float:
    """The plain score of filter ``c`` from its layer's feature maps (n, C, H, W), read at our scale/noise."""
    if method == "cubical":
        return giotto_cubical(maps[:, c].numpy(), info["noise"])
    flat = maps[:, c].reshape(len(maps), -1).numpy()
    total = 0
    for label in np.unique(y):
        cloud = plain_distinct(flat[y == label])
        if method == "betti":
            plain_scale_part(cloud)  # the plain job computes it for every cloud; the layer is read at ours
            total += sum(giotto_betti(cloud, info["scale"]))
        else:
            total += sum(giotto_betti_knn(cloud))
    return float(total)


def checked_filters(n_filters: int, baseline_filters: int) -> np.ndarray:
    """``baseline_filters`` evenly spaced filter indices (all of them for 0 or more than there are)."""
    if baseline_filters <= 0 or baseline_filters >= n_filters:
        return np.arange(n_filters)
    return np.unique(np.linspace(0, n_filters - 1, baseline_filters).round().astype(int))


def compare(model, X, y, method: str, n_images: int = 1000, baseline_filters: int = 6, seed: int = 0,
            repeats: int = 1) -> dict:
    """Time ours on every filter (median of ``repeats`` runs) and the plain job on ``baseline_filters`` evenly
    spaced filters per layer.

    Returns a dict with ``ours_s``, the feature-map time, per-layer plain seconds per filter, the
    extrapolated plain total, the ratios, the filters checked and whether every checked score agrees.
    """
    runs = []
    for _ in range(max(1, int(repeats))):
        start = _clock()
        ours, info = pruning.filter_scores(model, X, y, method=method, n_images=n_images, seed=seed, details=True,
                                           progress=False)
        runs.append(_since(start))
    ours_s, ours_wall = (float(np.median([r[i] for r in runs])) for i in (0, 1))
    idx = pruning.subsample(y, n_images, seed)
    start = _clock()
    maps = pruning.feature_maps(model, X[idx])
    maps_s, maps_wall = _since(start)
    ys = np.asarray(y)[idx]
    layers, agree, mismatches = {}, True, []
    est, est_wall = maps_s, maps_wall
    for name, m in maps.items():
        start = _clock()
        if method == "cubical":
            float(m.double().std())  # the layer's noise level (the plain job computes it too)
        shared, shared_wall = _since(start)
        picks = checked_filters(m.shape[1], baseline_filters)
        start = _clock()
        base = [baseline_filter(method, m, ys, int(c), info[name]) for c in picks]
        spent, spent_wall = _since(start)
        per, per_wall = spent / len(picks), spent_wall / len(picks)
        same = np.array_equal(np.asarray(base), ours[name][picks])
        if not same:
            mismatches.append({"layer": name, "filters": picks.tolist(), "ours": ours[name][picks].tolist(),
                               "giotto": base})
        agree &= same
        layers[name] = {"filters": int(m.shape[1]), "checked": int(len(picks)), "checked_filters": picks.tolist(),
                        "baseline_s_per_filter": per, "baseline_wall_s_per_filter": per_wall, "shared_s": shared,
                        "scores_checked": base, **{k: float(v) for k, v in info[name].items()}}
        est += shared + per * m.shape[1]
        est_wall += shared_wall + per_wall * m.shape[1]
    return {"method": method, "n_images": int(len(idx)), "filters": int(sum(v["filters"] for v in layers.values())),
            "ours_s": ours_s, "ours_runs_s": [r[0] for r in runs], "feature_maps_s": maps_s, "baseline_est_s": est, "ratio": est / ours_s,
            "ratio_without_feature_maps": (est - maps_s) / max(ours_s - maps_s, 1e-9),
            "ours_wall_s": ours_wall, "baseline_est_wall_s": est_wall, "ratio_wall": est_wall / ours_wall,
            "agree": bool(agree), "mismatches": mismatches, "layers": layers}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=list(pruning.STUDY_SETS), choices=list(pruning.STUDY_SETS))
    ap.add_argument("--quick", action="store_true", help="quick-mode CNNs (200 images per class); agreement only")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--n-images", type=int, default=1000)
    ap.add_argument("--baseline-filters", type=int, default=None,
                    help="evenly spaced filters per layer also scored the plain way (default: all for betti, 6 for "
                         "the slower two; quick 2; 0: all)")
    ap.add_argument("--min-ratio", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of ours; their median counts (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    def checked(method: str) -> int:
        if args.baseline_filters is not None:
            return args.baseline_filters
        return 2 if args.quick else (0 if method == "betti" else 6)

    nb = {m: checked(m) for m in args.methods}
    print(f"python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPUs, 1 thread; "
          f"{args.n_images} images; the plain giotto-tda job on "
          + ", ".join(f"{n or 'all'} ({m})" for m, n in nb.items())
          + " evenly spaced filter(s) of each layer, its time per filter extrapolated to every filter of the layer")
    results, ok = [], True
    for name in args.sets:
        model, _, train, _ = pruning.trained_model(name, quick=args.quick, seed=args.seed, progress=False)
        for method in args.methods:  # one untimed run first: compiled kernels loaded, BLAS buffers allocated
            pruning.filter_scores(model, train.X, train.y, method=method, n_images=args.n_images, seed=args.seed,
                                  progress=False)
        print(f"\n{name}: CNN channels {pruning.conv_layer_names(model)} = "
              f"{[c.out_channels for _, _, c in pruning._conv_blocks(model)]}, images {train.X.shape[1:]}")
        for method in args.methods:
            r = compare(model, train.X, train.y, method, n_images=args.n_images, baseline_filters=nb[method],
                        seed=args.seed, repeats=1 if args.quick else args.repeats)
            r["set"] = name
            results.append(r)
            speed_ok = args.quick or r["ratio"] >= args.min_ratio
            ok &= r["agree"] and speed_ok
            print(f"  {method:9s} ours {r['ours_s']:7.2f} CPU s for all {r['filters']} filters (median of "
                  f"{len(r['ours_runs_s'])}) | giotto-tda "
                  + ", ".join(f"{k} {v['baseline_s_per_filter']:.2f} s/filter ({v['checked']} checked)"
                              for k, v in r["layers"].items())
                  + f" + feature maps {r['feature_maps_s']:.2f} s -> {r['baseline_est_s']:.0f} s | ratio {r['ratio']:.1f}x "
                  f"(wall clock {r['ratio_wall']:.1f}x; without the feature maps {r['ratio_without_feature_maps']:.1f}x) "
                  f"| identical scores: "
                  f"{'yes' if r['agree'] else 'NO ' + json.dumps(r['mismatches'])}", flush=True)
    worst = min((r["ratio"] for r in results), default=float("nan"))
    verdict = "PASS" if ok else "FAIL"
    print(f"\n{verdict}: smallest ratio {worst:.1f}x (required {args.min_ratio:g}x"
          f"{', not checked in quick mode' if args.quick else ''}); all checked scores identical: "
          f"{all(r['agree'] for r in results)}")
    if args.json:
        payload = {"benchmark": "bench_pruning", "python": platform.python_version(), "torch": torch.__version__,
                   "cpus": os.cpu_count(), "n_images": args.n_images, "baseline_filters_per_layer": nb,
                   "quick": args.quick, "min_ratio": args.min_ratio, "ok": bool(ok), "results": results}
        write_json(args.json, payload)
        print(f"figures written to {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
