"""Benchmark: what `training.fit` and an idle topology callback cost over a plain PyTorch loop.

Trains Naitzat's 2-15x9-2 ReLU net on D-I for a fixed number of full-batch epochs two ways, in the
same process, alternating, from the same initial weights:

(a) ``topokit.training.fit`` with a ``topology.TopologyRecorder`` attached whose recording
    interval is longer than the run. As in notebook 02, the recorder takes its epoch-0 snapshot
    before training (outside the timing); during the run it is called every epoch and records
    nothing, so what is timed is fit's own machinery plus the idle callback; and
(b) a plain PyTorch loop doing the same work per epoch: Adam with the same decay schedule, one
    full-batch step, then the training accuracy in eval mode (what fit needs to detect
    convergence).

The overhead, median time per epoch of (a) over (b) minus one, must stay under ``--max-overhead``
(5%); otherwise the script exits with status 1.

    python benchmarks/bench_fit_overhead.py [--epochs 300] [--repeats 5] [--json PATH]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch
from torch import nn

from _bench import write_json  # noqa: E402  (puts the project on the path)
from topokit import data, models, topology, training  # noqa: E402


def plain_loop(model, X, y, epochs: int, lr: float = 0.01, decay: float = 0.5, decay_steps: int = 2500) -> float:
    """The same work as fit's full-batch epoch, written out; returns seconds."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: decay ** (step / decay_steps))
    loss_fn = nn.CrossEntropyLoss()
    t = time.perf_counter()
    for _ in range(epochs):
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            (model(X).argmax(1) == y).float().mean().item()
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-overhead", type=float, default=0.05)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    d = data.load("D-I", split="train", seed=0)
    hom = data.load("D-I", split="homology", seed=0)
    X, y = torch.as_tensor(d.X), torch.as_tensor(d.y)
    start = models.mlp(2, 15, 9, "relu", seed=0)
    fit_s, plain_s = [], []
    for i in range(args.repeats + 1):  # the first round warms up both paths and is not counted
        net = copy.deepcopy(start)
        recorder = topology.TopologyRecorder(hom.X, hom.y, every=10 * args.epochs)
        recorder.record(0, net)  # the pre-training snapshot, as notebook 02 takes it
        t = time.perf_counter()
        training.fit(net, d.X, d.y, max_epochs=args.epochs, stop_at_target=False, callback=recorder,
                     progress=False, num_threads=1, device="cpu")
        seconds = time.perf_counter() - t
        assert recorder.frame["epoch"].unique().tolist() == [0], "the idle callback recorded during the run"
        plain = plain_loop(copy.deepcopy(start), X, y, args.epochs)
        if i:
            fit_s.append(seconds)
            plain_s.append(plain)
    per_fit = statistics.median(fit_s) / args.epochs
    per_plain = statistics.median(plain_s) / args.epochs
    overhead = per_fit / per_plain - 1
    print(f"{args.epochs} full-batch epochs of 2-15x9-2 on D-I ({len(d.X)} points), {args.repeats} repeats, 1 thread")
    print(f"fit + idle TopologyRecorder: {per_fit * 1e3:.3f} ms/epoch (runs {', '.join(f'{s:.2f}' for s in fit_s)} s)")
    print(f"plain PyTorch loop:          {per_plain * 1e3:.3f} ms/epoch (runs {', '.join(f'{s:.2f}' for s in plain_s)} s)")
    print(f"overhead: {overhead * 100:+.1f}% (limit {args.max_overhead * 100:.0f}%)")
    if args.json:
        write_json(args.json, {"benchmark": "fit with an idle topology callback vs a plain PyTorch loop",
                               "ms_per_epoch_fit": round(per_fit * 1e3, 4),
                               "ms_per_epoch_plain": round(per_plain * 1e3, 4),
                               "overhead": round(overhead, 4), "max_overhead": args.max_overhead,
                               "epochs": args.epochs, "repeats": args.repeats})
    if overhead > args.max_overhead:
        print("FAIL: fit's machinery costs more than the limit")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
