"""Benchmark: seeds of the 2-15x9-2 ReLU net on D-I, trained as one ensemble against one by one.

In one run, on D-I's training split (7,800 points, data seed 0) with ``fit``'s defaults (Adam
lr 0.01 full batch, rate halved every 2,500 steps, cap 5,000 epochs, target 100%):

(a) one by one: ``training.fit(models.mlp(2, 15, 9, "relu", seed=s), X, y, seed=s)`` per seed;
(b) ``training.fit_ensemble(..., exact=True)``: the seeds in lockstep, each computing exactly
    fit's operations (what ``topokit.sweeps.sweep`` uses);
(c) ``training.fit_ensemble(..., exact=False)``: stacked parameters, one vmapped forward, one
    Adam (informative: faster, but it rounds differently, so its epochs differ from fit's).

It prints the wall-time ratios (a)/(b) and (a)/(c) and every seed's epochs to converge. The
exact ensemble must give the same ``epochs_to_converge`` as fit for every seed (or within 1%,
stated); otherwise the script exits with status 1. The issue's aim for the ratio is 5x; on CPU
the full-batch epoch is dominated by the matrix products themselves, which batching cannot
remove, so the ratio is reported, not enforced. Everything runs on one torch thread; timings
taken while other processes load the machine are noisy, the ratios less so.

    python benchmarks/bench_training.py                 # 10 seeds (about 1-2 minutes)
    python benchmarks/bench_training.py --quick         # 3 seeds, a 1,000-point D-I, cap 300
    python benchmarks/bench_training.py --json out.json # also write the figures
    python benchmarks/bench_training.py --batch-size 64 --max-epochs 5   # mini-batches
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import torch

from _bench import write_json  # noqa: E402  (puts the project on the path)
from topokit import data, models, training  # noqa: E402


def timed(label: str, train):
    t = time.perf_counter()
    results = train()
    seconds = time.perf_counter() - t
    print(f"{label}: {seconds:.1f} s")
    return results, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds (0..n-1), default 10")
    parser.add_argument("--quick", action="store_true", help="3 seeds, 1,000 points, cap 300 (a smoke test)")
    parser.add_argument("--skip-vmap", action="store_true", help="leave out the vmap engine")
    parser.add_argument("--batch-size", type=int, default=None, help="mini-batch size (default: full batch)")
    parser.add_argument("--max-epochs", type=int, default=None, help="epoch cap (default 5000; 300 with --quick)")
    parser.add_argument("--json", metavar="PATH", help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    seeds = list(range(3 if args.quick else args.seeds))
    params = dict(n=1000) if args.quick else {}
    cap = args.max_epochs or (300 if args.quick else 5000)
    d = data.load("D-I", "train", seed=0, **params)
    batch = "full batch" if args.batch_size is None else f"batches of {args.batch_size}"
    print(f"D-I train: {len(d.y)} points; 2-15x9-2 ReLU; seeds {seeds[0]}-{seeds[-1]}; cap {cap}; {batch}; "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}, 1 thread")
    opts = dict(max_epochs=cap, progress=False, num_threads=1, batch_size=args.batch_size)

    def nets():
        return [models.mlp(2, 15, 9, "relu", seed=s) for s in seeds]

    one, t_one = timed("(a) fit, one by one", lambda: [training.fit(m, d.X, d.y, seed=s, **opts)
                                                        for m, s in zip(nets(), seeds)])
    exact, t_exact = timed("(b) fit_ensemble, exact", lambda: training.fit_ensemble(nets(), d.X, d.y, seeds, **opts))
    fast, t_fast = (None, None) if args.skip_vmap else timed(
        "(c) fit_ensemble, vmap", lambda: training.fit_ensemble(nets(), d.X, d.y, seeds, exact=False, **opts))

    def epochs(results):
        return [r.epochs_to_converge for r in results]

    e_one, e_exact = epochs(one), epochs(exact)
    e_fast = epochs(fast) if fast is not None else [None] * len(seeds)
    print(f"\n{'seed':>4}  {'fit':>6}  {'exact':>6}  {'vmap':>6}   (None: censored at the cap)")
    for s, a, b, c in zip(seeds, e_one, e_exact, e_fast):
        print(f"{s:>4}  {str(a):>6}  {str(b):>6}  {str(c) if fast is not None else '-':>6}")

    def agree(x, y):
        if x is None or y is None:
            return x is y
        return abs(x - y) <= 0.01 * x

    identical = e_exact == e_one
    within = all(agree(a, b) for a, b in zip(e_one, e_exact))
    member_epochs = sum(len(r.history) for r in one)
    figures = {
        "points": int(len(d.y)), "seeds": seeds, "max_epochs": cap, "batch_size": args.batch_size,
        "member_epochs": member_epochs,
        "seconds_fit": t_one, "seconds_ensemble_exact": t_exact, "seconds_ensemble_vmap": t_fast,
        "ratio_exact": t_one / t_exact, "ratio_vmap": (t_one / t_fast) if t_fast else None,
        "ms_per_epoch_fit": 1000 * t_one / member_epochs, "epochs_fit": e_one, "epochs_exact": e_exact,
        "epochs_vmap": e_fast if fast is not None else None, "exact_identical": identical,
        "exact_within_1_percent": within,
        "vmap_identical": (e_fast == e_one) if fast is not None else None,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    print(f"\nspeed ratio, fit one by one / exact ensemble: {figures['ratio_exact']:.2f}x "
          f"({figures['ms_per_epoch_fit']:.2f} ms per epoch and seed with fit; the issue aims at 5x)")
    print(f"load average during the run: {figures['load_average']} (other processes make timings noisy)")
    if fast is not None:
        same = sum(a == c for a, c in zip(e_one, e_fast))
        print(f"speed ratio, fit one by one / vmap ensemble:  {figures['ratio_vmap']:.2f}x "
              f"(its epochs equal fit's for {same} of {len(seeds)} seeds; it rounds differently from fit, so "
              "converging runs drift)")
    if identical:
        print("exact ensemble: the same epochs_to_converge as fit for every seed")
    elif within:
        print("exact ensemble: epochs_to_converge within 1% of fit's for every seed, not identical")
    if args.json:
        write_json(args.json, figures)
        print(f"figures written to {args.json}")
    if not within:
        print("FAIL: the exact ensemble disagrees with fit by more than 1% on some seed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
