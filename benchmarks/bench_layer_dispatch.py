"""Benchmark: what one ``layer_betti`` call costs, per epoch record, against its computation alone.

Notebook 02 records a net's per-layer Betti numbers every 50 epochs (``TopologyRecorder``), so
the cost of one call matters more than the throughput of many. On D-I's homology split with a
trained 2-15x9-2 ReLU net (22 clouds, about 28,000 distinct points), each in a fresh process as a
notebook kernel is:

(a) ``computation``: the 22 clouds one after another, in this process (the floor);
(b) ``workers, first call``: ``layer_betti(n_jobs=<cores>)``, joblib's process pool started for it
    (what the default ``n_jobs=-1`` did before small jobs ran in-process);
(c) ``workers, warm pool``: the same again, the pool already running;
(d) ``threads``: the threading backend on every core (do the kernels release the GIL?);
(e) ``default``: ``layer_betti()`` with its defaults (a job this small runs in-process).

The default call must cost at most ``--max-ratio`` (1.25) times the computation, else the
script exits with status 1.

    python benchmarks/bench_layer_dispatch.py          # about a minute on 2 cores
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _bench import ROOT, write_json  # noqa: E402  (puts the project on the path)

CHILD = r"""
import json, os, sys, time
import torch
torch.set_num_threads(1)
from joblib import Parallel, delayed, parallel_config
from topokit import data, models, topology
from topokit.topology import _collapsed_or_betti, _layer_clouds
net = models.load(sys.argv[1])
hom = data.load("D-I", split="homology", seed=0)
case, cores = sys.argv[2], os.cpu_count()
def one():
    if case == "computation":
        _, tasks = _layer_clouds(net, hom.X, hom.y, 14, 1, None, 0, None, 4096)
        return [_collapsed_or_betti(c, 14, 2, 1) for *_, c in tasks]
    if case == "threads":
        with parallel_config(backend="threading"):
            return topology.layer_betti(net, hom.X, hom.y, n_jobs=cores)
    if case == "workers":
        return topology.layer_betti(net, hom.X, hom.y, n_jobs=cores)
    return topology.layer_betti(net, hom.X, hom.y)
times = []
for _ in range(3):
    t = time.perf_counter(); one(); times.append(time.perf_counter() - t)
print(json.dumps({"first": times[0], "again": min(times[1:]), "load": os.getloadavg()[0]}))
"""


def child(case: str, model: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, model, case], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-ratio", type=float, default=1.25)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    from topokit import data, models, training

    tr = data.load("D-I", split="train", seed=0)
    net = models.mlp(2, 15, 9, "relu", seed=0)
    result = training.fit(net, tr.X, tr.y, seed=0, progress=False)
    print(f"2-15x9-2 ReLU on D-I converged at epoch {result.epochs_to_converge}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "net.pt")
        models.save(net, path)
        got = {case: child(case, path) for case in ("computation", "workers", "threads", "default")}
    figures = {
        "clouds": 22, "cores": os.cpu_count(),
        "computation_s": round(got["computation"]["again"], 2),
        "workers_first_call_s": round(got["workers"]["first"], 2),
        "workers_warm_pool_s": round(got["workers"]["again"], 2),
        "threads_s": round(got["threads"]["again"], 2),
        "default_first_call_s": round(got["default"]["first"], 2),
        "default_s": round(got["default"]["again"], 2),
        "load_average_1min": round(max(g["load"] for g in got.values()), 1),
    }
    ratio = figures["default_first_call_s"] / figures["computation_s"]
    figures["default_over_computation"] = round(ratio, 2)
    for k, v in figures.items():
        print(f"{k:28s} {v}")
    if args.json:
        write_json(args.json, {"benchmark": "layer_betti per call (D-I, 2-15x9-2, 22 clouds)", **figures,
                               "max_ratio": args.max_ratio})
    if ratio > args.max_ratio:
        print(f"FAIL: the default call costs {ratio:.2f}x its computation (limit {args.max_ratio})")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
