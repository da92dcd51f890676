"""Topology tools on a model topokit did not design: a CIFAR ResNet-20 (width 16), 1,000 CIFAR-10 images.

Two timings (wall seconds, one torch thread, median of ``--repeats`` after an untimed run), each with
its target of under a minute on 2 cores:

- per-block Betti numbers of each class (``topology.layer_betti`` after the stem, each stage and the
  logits; k = 14, 2 hops);
- ``betti`` scores of all 21 convolutions (``pruning.filter_scores``).

    python benchmarks/bench_anymodel.py [--quick] [--json PATH]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from _bench import machine, write_json  # noqa: E402

LIMIT_S = 60.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 images, one repeat")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    import topokit  # noqa: F401  (pins the math libraries before torch starts)
    import torch

    from topokit import data, models, pruning, topology

    torch.set_num_threads(1)
    per_class = 100 if args.quick else 500
    repeats = args.repeats or (1 if args.quick else 3)
    d = data.load("cifar10", split="test", classes=("cat", "dog"), max_per_class=per_class)
    net = models.resnet(20, width=16, seed=0).eval()
    blocks = ["relu", "layer1", "layer2", "layer3", "fc"]

    def betti():
        return topology.layer_betti(net, d.X, d.y, k=14, hops=2, n_jobs=1, layers=blocks)

    def scores():
        return pruning.filter_scores(net, d.X, d.y, method="betti", n_images=len(d.y), progress=False)

    figures = {"images": int(len(d.y)), "threads": 1, "repeats": repeats}
    failed = False
    for name, job in (("block_betti", betti), ("betti_scores", scores)):
        job()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            out = job()
            times.append(time.perf_counter() - t)
        s = statistics.median(times)
        figures[f"{name}_seconds"] = s
        ok = s < LIMIT_S
        failed |= not ok
        size = len(out) if hasattr(out, "__len__") else ""
        print(f"{name}: {s:.1f} s on {len(d.y)} images ({size} rows/layers) -- {'ok' if ok else 'over'} "
              f"the {LIMIT_S:.0f} s target")
    if args.json:
        write_json(args.json, {**figures, "limit_s": LIMIT_S, "machine": machine()})
    return 1 if failed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
