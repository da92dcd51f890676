"""Benchmark: scoring every filter of notebook 04's CNNs, ours against plain giotto-tda.

For each CNN of notebook 04 (``topokit.pruning.trained_model``, read from the cache once
trained) and 1,000 training images (a class-stratified subsample), every conv filter is scored
with ``topokit.pruning.filter_scores`` for the three topological methods, timed over all filters
(feature maps, the per-layer scale or noise rule and all clouds included, serial, 1 thread).
The same scores are computed for a subset of filters in the plainest giotto-tda way:

- ``"betti"``: ``VietorisRipsPersistence`` (Euclidean, full filtration, ``reduced_homology=False``)
  on each class's deduplicated cloud, read at the layer's scale (``birth <= eps < death``);
- ``"betti-knn"``: ``KNeighborsGraph(n_neighbors=k - 1)`` (it leaves the point itself out) ->
  ``GraphGeodesicDistance`` -> ``VietorisRipsPersistence(metric="precomputed")`` full filtration,
  read at 2 hops; a class collapsed onto k or fewer distinct points counts as (1, 0), as in ours;
- ``"cubical"``: ``CubicalPersistence(reduced_homology=False)`` on each feature map, bars of
  persistence above the layer's noise level counted.

The baseline is slow, so it runs on the first ``--baseline-filters`` filters of each layer and its
time per filter (the mean over those, per layer) is extrapolated to all of the layer's filters;
the output says so. The scores of every filter both computed must be identical, and our total
time must be at least ``--min-ratio`` (10) times below the extrapolated baseline for every method;
otherwise the script exits with status 1. Times are CPU seconds of this process (``time.process_time``,
BLAS and OpenMP held at 1 thread, both sides single-threaded), which other programs on a shared machine
distort far less than wall time; wall-clock figures are printed and saved beside them. ``--json PATH``
also writes all figures as JSON.

    python benchmarks/bench_pruning.py                  # the three notebook CNNs (~10 minutes)
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
    """The baseline score of filter ``c`` from its layer's feature maps (n, C, H, W)."""
    if method == "cubical":
        return giotto_cubical(maps[:, c].numpy(), info["noise"])
    flat = maps[:, c].reshape(len(maps), -1).numpy()
    total = 0
    for label in np.unique(y):
        cloud = pruning._distinct(flat[y == label])  # the cloud's definition: distinct points
        total += sum(giotto_betti(cloud, info["scale"]) if method == "betti" else giotto_betti_knn(cloud))
    return float(total)


def compare(model, X, y, method: str, n_images: int = 1000, baseline_filters: int = 2, seed: int = 0) -> dict:
    """Time ours on every filter and the baseline on the first ``baseline_filters`` of each layer.

    Returns a dict with ``ours_s``, per-layer baseline seconds per filter, the extrapolated
    baseline total, the ratio, the filters checked and whether every checked score agrees.
    """
    t, w = time.process_time(), time.perf_counter()
    ours, info = pruning.filter_scores(model, X, y, method=method, n_images=n_images, seed=seed, details=True,
                                       progress=False)
    ours_s, ours_wall = time.process_time() - t, time.perf_counter() - w
    idx = pruning.subsample(y, n_images, seed)
    maps = pruning.feature_maps(model, X[idx])
    ys = np.asarray(y)[idx]
    layers, est, est_wall, agree, mismatches = {}, 0.0, 0.0, True, []
    for name, m in maps.items():
        n_check = min(baseline_filters, m.shape[1])
        t, w = time.process_time(), time.perf_counter()
        base = [baseline_filter(method, m, ys, c, info[name]) for c in range(n_check)]
        per, per_wall = (time.process_time() - t) / n_check, (time.perf_counter() - w) / n_check
        same = np.array_equal(np.asarray(base), ours[name][:n_check])
        if not same:
            mismatches.append({"layer": name, "ours": ours[name][:n_check].tolist(), "giotto": base})
        agree &= same
        layers[name] = {"filters": int(m.shape[1]), "checked": n_check, "baseline_s_per_filter": per,
                        "baseline_wall_s_per_filter": per_wall,
                        "scores_checked": base, **{k: float(v) for k, v in info[name].items()}}
        est += per * m.shape[1]
        est_wall += per_wall * m.shape[1]
    return {"method": method, "n_images": int(len(idx)), "filters": int(sum(v["filters"] for v in layers.values())),
            "ours_s": ours_s, "baseline_est_s": est, "ratio": est / ours_s, "ours_wall_s": ours_wall,
            "baseline_est_wall_s": est_wall, "ratio_wall": est_wall / ours_wall, "agree": bool(agree),
            "mismatches": mismatches, "layers": layers}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=list(pruning.STUDY_SETS), choices=list(pruning.STUDY_SETS))
    ap.add_argument("--quick", action="store_true", help="quick-mode CNNs (200 images per class); agreement only")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--n-images", type=int, default=1000)
    ap.add_argument("--baseline-filters", type=int, default=None,
                    help="filters per layer also scored by plain giotto-tda (default 2; quick 1)")
    ap.add_argument("--min-ratio", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    nb = args.baseline_filters if args.baseline_filters is not None else (1 if args.quick else 2)
    print(f"python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPUs, 1 thread; "
          f"{args.n_images} images; plain giotto-tda on the first {nb} filter(s) of each layer, its time per filter "
          f"extrapolated to every filter of the layer")
    results, ok = [], True
    for name in args.sets:
        model, _, train, _ = pruning.trained_model(name, quick=args.quick, seed=args.seed, progress=False)
        for method in args.methods:  # load the compiled kernels once, outside the timings
            pruning.filter_scores(model, train.X[:40], train.y[:40], method=method, progress=False)
        print(f"\n{name}: CNN channels {pruning.conv_layer_names(model)} = "
              f"{[c.out_channels for _, _, c in pruning._conv_blocks(model)]}, images {train.X.shape[1:]}")
        for method in args.methods:
            r = compare(model, train.X, train.y, method, n_images=args.n_images, baseline_filters=nb, seed=args.seed)
            r["set"] = name
            results.append(r)
            speed_ok = args.quick or r["ratio"] >= args.min_ratio
            ok &= r["agree"] and speed_ok
            print(f"  {method:9s} ours {r['ours_s']:7.2f} CPU s for all {r['filters']} filters | giotto-tda "
                  + ", ".join(f"{k} {v['baseline_s_per_filter']:.2f} s/filter ({v['checked']} checked)"
                              for k, v in r["layers"].items())
                  + f" -> {r['baseline_est_s']:.0f} s extrapolated | ratio {r['ratio']:.1f}x "
                  f"(wall clock {r['ratio_wall']:.1f}x) | identical scores: "
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
