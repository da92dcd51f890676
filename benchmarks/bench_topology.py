"""Benchmark: per-layer, per-class Betti numbers of a trained 2-15x9-2 ReLU net on D-I.

Runs Naitzat et al.'s analysis (kNN graph with k = 14 counting the point itself, hop
scale 2, per class, at every layer) on the D-I homology split two ways in the same run:

(a) ``topokit.topology.layer_betti``: sparse hop-limited distances, thresholded giotto-ph,
    clouds in parallel;
(b) plain giotto-tda: ``KNeighborsGraph(n_neighbors=k - 1)`` (it leaves the point itself out)
    -> ``GraphGeodesicDistance`` -> ``VietorisRipsPersistence(metric="precomputed")`` over the
    full filtration with ``reduced_homology=False``, read at the scale.

(b) takes tens of seconds per large cloud, so it runs on the first ``--baseline-layers``
layers only. The Betti numbers must be identical on every cloud both computed, and our
per-cloud time (on those same clouds, serial, and over the whole parallel analysis, worker
start-up included) must be at least ``--min-ratio`` (50) times faster; otherwise the script
exits with status 1. ``--quick`` checks agreement only: its small clouds take plain giotto-tda
under a second, too little for the speed ratio to mean anything.

    python benchmarks/bench_topology.py            # full run (~2 minutes on 2 cores)
    python benchmarks/bench_topology.py --quick    # 600 points per class, 1 baseline layer
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np
import pandas as pd
import torch

from _bench import write_json  # noqa: E402  (puts the project on the path)
from topokit import data, models, training  # noqa: E402
from topokit.topology import DEFAULT_K, betti_numbers, layer_betti, layer_outputs  # noqa: E402


def train_net(seed: int):
    d = data.load("D-I", split="train", seed=seed)
    net = models.mlp(2, 15, 9, "relu", seed=seed)
    t = time.perf_counter()
    result = training.fit(net, d.X, d.y, seed=seed, progress=False)
    acc = training.accuracy(net, d.X, d.y)
    print(f"trained 2-15x9-2 ReLU on D-I train ({len(d.X)} points): epochs {result.epochs_to_converge}, "
          f"train accuracy {acc:.4f}, {time.perf_counter() - t:.1f} s")
    if acc < 1.0:
        print("warning: the net is not well-trained (train accuracy < 100%)")
    return net


def giotto_betti(cloud: np.ndarray, k: int, scale: float) -> tuple:
    """Plain giotto-tda, full filtration, on a deduplicated cloud."""
    from gtda.graphs import GraphGeodesicDistance, KNeighborsGraph
    from gtda.homology import VietorisRipsPersistence

    G = KNeighborsGraph(n_neighbors=k - 1).fit_transform([cloud])
    D = GraphGeodesicDistance(directed=False, unweighted=True).fit_transform(G)
    dgm = VietorisRipsPersistence(
        metric="precomputed", homology_dimensions=(0, 1), reduced_homology=False
    ).fit_transform(D)[0]
    dgm = dgm[dgm[:, 0] < dgm[:, 1]]  # padding triples are not features
    alive = (dgm[:, 0] <= scale) & (dgm[:, 1] > scale)
    return tuple(int(np.count_nonzero(alive & (dgm[:, 2] == q))) for q in (0, 1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="600 points per class and 1 baseline layer")
    ap.add_argument("--baseline-layers", type=int, default=None,
                    help="layers (from the input on) also run through plain giotto-tda (default 2, quick 1)")
    ap.add_argument("--max-points", type=int, default=None, help="points per class (default all; quick 600)")
    ap.add_argument("--n-jobs", type=int, default=-1, help="joblib workers for layer_betti")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-ratio", type=float, default=50.0)
    ap.add_argument("--json", metavar="PATH", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    baseline_layers = args.baseline_layers if args.baseline_layers is not None else (1 if args.quick else 2)
    max_points = args.max_points if args.max_points is not None else (600 if args.quick else None)
    k, scale = DEFAULT_K["D-I"], 2
    warnings.filterwarnings("ignore")
    print(f"python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPUs; "
          f"k={k}, scale={scale} hops, max_points={max_points}")

    net = train_net(args.seed)
    d = data.load("D-I", split="homology", seed=args.seed)
    print(f"D-I homology split: {len(d.X)} points, class counts {np.bincount(d.y).tolist()}")

    # (a) ours, all layers; first call pays the joblib worker start-up, the second does not
    t = time.perf_counter()
    fast = layer_betti(net, d.X, d.y, k=k, hops=scale, n_jobs=args.n_jobs, max_points=max_points, seed=args.seed)
    t_fast = time.perf_counter() - t
    t = time.perf_counter()
    layer_betti(net, d.X, d.y, k=k, hops=scale, n_jobs=args.n_jobs, max_points=max_points, seed=args.seed)
    t_fast_warm = time.perf_counter() - t
    n_clouds = fast.groupby(["layer", "label"]).ngroups
    print(f"\n(a) layer_betti, {n_clouds} clouds ({fast.layer.nunique()} layers x 2 classes), n_jobs={args.n_jobs}: "
          f"{t_fast:.2f} s cold, {t_fast_warm:.2f} s warm, {t_fast / n_clouds * 1e3:.1f} ms per cloud (cold)")

    # the same clouds layer_betti saw (same subsample), for the baseline and a serial re-time of ours
    rng = np.random.default_rng(args.seed)
    index = {}
    for label in (0, 1):
        idx = np.flatnonzero(d.y == label)
        if max_points is not None and len(idx) > max_points:
            idx = np.sort(rng.choice(idx, size=max_points, replace=False))
        index[label] = idx
    outs = layer_outputs(net, d.X)
    names = ["input"] + net.layer_names

    rows, ok = [], True
    for layer in range(min(baseline_layers, len(outs))):
        for label in (0, 1):
            cloud = np.unique(outs[layer][index[label]].reshape(len(index[label]), -1).astype(np.float64), axis=0)
            t = time.perf_counter()
            ours = betti_numbers(cloud, k=k, hops=scale)
            t_ours = time.perf_counter() - t
            t = time.perf_counter()
            base = giotto_betti(cloud, k, scale)
            t_base = time.perf_counter() - t
            table = tuple(fast[(fast.layer == layer) & (fast.label == label)].sort_values("dim").betti)
            same = base == ours == table
            ok &= same
            rows.append({"layer": layer, "layer_name": names[layer], "label": label, "n_points": len(cloud),
                         "layer_betti": table, "fast_serial": ours, "giotto_tda": base, "agree": same,
                         "fast_s": round(t_ours, 4), "giotto_s": round(t_base, 2),
                         "ratio": round(t_base / t_ours, 1)})
            print(f"    baseline layer {layer} label {label}: {len(cloud)} points, giotto-tda {t_base:.1f} s, "
                  f"ours {t_ours * 1e3:.1f} ms", flush=True)
    base_df = pd.DataFrame(rows)

    wide = fast.pivot_table(index=["layer", "layer_name", "label", "n_points"], columns="dim", values="betti")
    wide.columns = [f"b{c}" for c in wide.columns]
    wide = wide.astype(int)
    wide = wide.reset_index()
    wide["omega"] = wide["b0"] + wide["b1"]
    pd.set_option("display.width", 200)
    print("\nBetti numbers per layer and class (layer_betti):")
    print(wide.to_string(index=False))
    print("\n(b) plain giotto-tda (full filtration) vs ours on the same clouds:")
    print(base_df.to_string(index=False))

    per_cloud_base = base_df.giotto_s.mean()
    ratio_same = base_df.giotto_s.sum() / base_df.fast_s.sum()
    ratio_table = per_cloud_base / (t_fast / n_clouds)
    print(f"\nplain giotto-tda: {base_df.giotto_s.sum():.1f} s for {len(base_df)} clouds, {per_cloud_base:.2f} s per cloud")
    print(f"ours, same clouds, serial: {base_df.fast_s.sum():.3f} s, {base_df.fast_s.mean() * 1e3:.1f} ms per cloud"
          f" -> speed ratio {ratio_same:.0f}x")
    print(f"ours, whole analysis (layer_betti, cold, parallel): {t_fast / n_clouds * 1e3:.1f} ms per cloud"
          f" -> speed ratio {ratio_table:.0f}x")
    if args.json:
        write_json(args.json, {"benchmark": "layer analysis vs plain giotto-tda (D-I, 2-15x9-2 ReLU)",
                               "identical_betti": bool(ok), "clouds_compared": len(base_df),
                               "giotto_tda_s_per_cloud": round(float(per_cloud_base), 3),
                               "ours_s_per_cloud_serial": round(float(base_df.fast_s.mean()), 5),
                               "ratio_same_clouds": round(float(ratio_same), 1),
                               "ratio_whole_analysis": round(float(ratio_table), 1), "min_ratio": args.min_ratio,
                               "quick": bool(args.quick)})
    if not ok:
        print("FAIL: Betti numbers differ between the two methods")
        return 1
    if args.quick:
        print("OK: identical Betti numbers (--quick: clouds too small for the speed-ratio check)")
        return 0
    if min(ratio_same, ratio_table) < args.min_ratio:
        print(f"FAIL: speed ratio below {args.min_ratio:.0f}x")
        return 1
    print(f"OK: identical Betti numbers on {len(base_df)} clouds, speed ratio >= {args.min_ratio:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
