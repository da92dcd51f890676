"""What pinning the math libraries costs (topokit.reproducibility), and the per-seed reference epochs.

Each setting runs in fresh interpreters (the libraries pick their code paths when they start),
alternating, median of ``--repeats`` timings:

- MLP: D-I train split, 2-15x9-2 ReLU, full batch, ``--epochs`` epochs, one thread, with
  ``MKL_CBWR=AVX2`` (topokit's pin) against ``MKL_CBWR=AUTO`` (MKL's own choice), and
  ``COMPATIBLE`` (the one path for every x86 CPU) for its cost;
- CNN: a CIFAR-10 ResNet-20 (width 16), ``--steps`` Adam steps on batches of 64, two threads, with
  oneDNN (topokit's default) against ``TOPOKIT_STRICT_CONV=1`` (convolutions through MKL).

It also records the per-seed epochs to converge of the D-I net (``mlp(2, 15, 9, "relu", seed=s)``,
``fit(..., seed=s, max_epochs=3000)``, seeds 0-2) under the pins: the reference that the same
configuration on another x86 CPU with AVX2 should reproduce exactly.

    python benchmarks/bench_numerics.py [--quick] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

from _bench import ROOT, machine, write_json  # noqa: E402

MLP = textwrap.dedent("""
    import json, time, warnings
    warnings.simplefilter("ignore")
    import topokit
    from topokit import data, models, training
    d = data.load("D-I")
    net = models.mlp(2, 15, 9, "relu", seed=0)
    t = time.perf_counter()
    training.fit(net, d.X, d.y, max_epochs={epochs}, stop_at_target=False, progress=False, num_threads=1)
    print(json.dumps(time.perf_counter() - t))
""")

CNN = textwrap.dedent("""
    import json, time, warnings
    warnings.simplefilter("ignore")
    import topokit
    import torch
    from topokit import models, reproducibility
    torch.set_num_threads(2)
    net = models.resnet(20, width=16, seed=0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 3, 32, 32, generator=g), torch.randint(0, 2, (64,), generator=g)
    opt = torch.optim.Adam(net.parameters())
    def step():
        opt.zero_grad(); torch.nn.functional.cross_entropy(net(x), y).backward(); opt.step()
    with reproducibility.deterministic():
        step()
        t = time.perf_counter()
        for _ in range({steps}):
            step()
    print(json.dumps(time.perf_counter() - t))
""")

EPOCHS = textwrap.dedent("""
    import json, warnings
    warnings.simplefilter("ignore")
    import topokit
    from topokit import data, models, reproducibility, training
    d = data.load("D-I")
    out = [training.fit(models.mlp(2, 15, 9, "relu", seed=s), d.X, d.y, seed=s, max_epochs=3000, progress=False,
                        num_threads=1).epochs_to_converge for s in {seeds}]
    print(json.dumps({{"epochs": out, "settings": reproducibility.settings()}}))
""")


def _run(code: str, **env) -> object:
    full = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "TOPOKIT_STRICT_CONV")}
    full.update(env, PYTHONPATH=ROOT, TOPOKIT_PROGRESS="0")
    out = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _paired(code: str, pinned: dict, free: dict, repeats: int) -> tuple[float, float]:
    a, b = [], []
    for _ in range(repeats):
        a.append(_run(code, **pinned))
        b.append(_run(code, **free))
    return statistics.median(a), statistics.median(b)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer epochs, steps and repeats; no reference epochs")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    epochs = args.epochs or (40 if args.quick else 300)
    steps = args.steps or (2 if args.quick else 10)
    repeats = args.repeats or (1 if args.quick else 3)

    mlp_pinned, mlp_free = _paired(MLP.format(epochs=epochs), {}, {"MKL_CBWR": "AUTO"}, repeats)
    mlp_compat, _ = _paired(MLP.format(epochs=epochs), {"MKL_CBWR": "COMPATIBLE"}, {"MKL_CBWR": "AUTO"}, 1)
    print(f"MLP, {epochs} epochs: MKL_CBWR=AVX2 {mlp_pinned:.2f} s, AUTO {mlp_free:.2f} s "
          f"({mlp_pinned / mlp_free:.2f}x); COMPATIBLE {mlp_compat:.2f} s ({mlp_compat / mlp_free:.2f}x)")
    cnn_default, cnn_strict = _paired(CNN.format(steps=steps), {}, {"TOPOKIT_STRICT_CONV": "1"}, repeats)
    print(f"ResNet-20, {steps} steps: oneDNN {cnn_default:.2f} s, TOPOKIT_STRICT_CONV=1 {cnn_strict:.2f} s "
          f"({cnn_strict / cnn_default:.2f}x)")
    figures = {"mlp_epochs_timed": epochs, "mlp_seconds_pinned": mlp_pinned, "mlp_seconds_unpinned": mlp_free,
               "mlp_cost_of_pin": mlp_pinned / mlp_free, "mlp_seconds_compatible": mlp_compat,
               "mlp_cost_of_compatible": mlp_compat / mlp_free, "cnn_steps_timed": steps,
               "cnn_seconds_onednn": cnn_default, "cnn_seconds_strict": cnn_strict,
               "cnn_cost_of_strict_conv": cnn_strict / cnn_default, "repeats": repeats}
    if not args.quick:
        ref = _run(EPOCHS.format(seeds=[0, 1, 2]))
        print(f"reference epochs to converge, seeds 0-2, pinned: {ref['epochs']}")
        figures.update(reference_epochs=ref["epochs"], reference_settings=ref["settings"])
    if args.json:
        write_json(args.json, {**figures, "machine": machine()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
