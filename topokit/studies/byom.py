"""Notebook 06's study: topokit's tools on a model it did not design, a CIFAR ResNet-20.

The model is treated exactly as a user's own would be: only ``nn.Module`` methods are used, layers
are chosen by name, filter scores are keyed by the convs' module names, and pruning goes through
Torch-Pruning's groups (residual additions tie channels; a group's score is the mean of its convs').

Configuration
-------------
:data:`SIZES` (per mode: images, width, epochs, fractions, random seeds), :data:`PAIR` (the
CIFAR-10 classes), :data:`METHODS` (the pruning curves: Betti high and low, L1, HRank, random).

Runner
------
:func:`trained_resnet` (cached), :func:`block_betti` (Betti numbers of each class after the stem
and each stage, as Naitzat et al. measure them layer by layer), :func:`pruning_table` (every method
at every fraction, one epoch of fine-tuning, accuracy, parameters, MACs, saved bytes, latency; the
unpruned model is given the same extra epoch so the comparison is fair).

Verdict rule (fixed before the numbers), for the report's extension row ``ext-resnet-betti``
-------------------------------------------------------------------------------------------------
*Does Betti-based pruning of a residual net beat random pruning at equal fractions?* Per fraction,
after the fine-tuning epoch, "betti (high)" **wins** when its test accuracy is above every random
seed's, **loses** when below every one, ties otherwise (:func:`betti_vs_random`). "reproduced"
(Betti beats random) when it wins at every fraction, "not reproduced" when it loses at every one,
"mixed" otherwise.
"""
from __future__ import annotations

import copy
from typing import Optional

import numpy as np
import pandas as pd
import torch

from .. import _checks
from .. import data as _data
from .. import models as _models
from .. import pruning as _pruning
from .. import topology as _topology
from .. import training as _training
from ..cache import Cache, code_version
from ..fileio import full_mode, quick_mode


def run_mode() -> str:
    """quick, default or full, as every notebook chooses it (``TOPOKIT_QUICK`` / ``TOPOKIT_FULL``)."""
    try:
        from ..fileio import run_mode as _run_mode
    except ImportError:  # pragma: no cover - older fileio
        return "quick" if quick_mode() else "full" if full_mode() else "default"
    return _run_mode()

__all__ = ["PAIR", "SIZES", "METHODS", "BLOCKS", "RULE", "sizes", "load_data", "trained_resnet", "block_betti",
           "pruning_table", "betti_vs_random", "claim"]

#: The CIFAR-10 pair (notebook 04 uses cat vs dog; this is a second, easier pair).
PAIR = ("automobile", "truck")

#: Per mode: training images per class, test images per class, scored images, ResNet width, epochs,
#: pruning fractions, random seeds, fine-tuning epochs.
SIZES = {
    "quick": dict(train=120, test=60, scored=100, width=4, epochs=1, fractions=(0.5,), random_seeds=(0, 1),
                  fine_tune=1, homology=60),
    "default": dict(train=600, test=500, scored=400, width=16, epochs=8, fractions=(0.3, 0.5),
                    random_seeds=(0, 1, 2), fine_tune=1, homology=300),
    "full": dict(train=5000, test=1000, scored=1000, width=16, epochs=30, fractions=(0.3, 0.5),
                 random_seeds=(0, 1, 2, 3, 4), fine_tune=1, homology=500),
}

#: The pruning curves: (label, scoring method, remove the highest scores?)
METHODS = (("betti (high)", "betti", True), ("betti (low)", "betti", False), ("l1", "l1", False),
           ("hrank", "hrank", False))

#: Where the per-block topology is read: the stem and each stage's output, then the logits.
BLOCKS = ("relu", "layer1", "layer2", "layer3", "fc")


def sizes(mode: Optional[str] = None) -> dict:
    """The sizes of ``mode`` (default: :func:`topokit.fileio.run_mode`)."""
    mode = run_mode() if mode is None else _checks.choice(mode, "mode", SIZES)
    return dict(SIZES[mode], mode=mode)


def load_data(mode: Optional[str] = None, seed: int = 0):
    """(train, test) of :data:`PAIR` at the mode's sizes."""
    s = sizes(mode)
    train = _data.load("cifar10", split="train", seed=seed, classes=PAIR, max_per_class=s["train"])
    test = _data.load("cifar10", split="test", seed=seed, classes=PAIR, max_per_class=s["test"])
    return train, test


def _code() -> str:
    return code_version(_models, _training, _pruning, _topology, trained_resnet, pruning_table, block_betti)


def trained_resnet(mode: Optional[str] = None, seed: int = 0, cache_dir=None, progress: Optional[bool] = None):
    """A ResNet-20 trained on :data:`PAIR` (Adam 1e-3, batches of 64), cached; returns (model, history)."""
    s = sizes(mode)
    train, test = load_data(s["mode"], seed)
    config = {"pair": PAIR, "seed": seed, **{k: s[k] for k in ("train", "test", "width", "epochs")}}

    def compute():
        net = _models.resnet(20, num_classes=2, in_channels=3, width=s["width"], seed=seed)
        r = _training.fit(net, train.X, train.y, X_test=test.X, y_test=test.y, max_epochs=s["epochs"], lr=1e-3,
                          batch_size=64, lr_decay=None, stop_at_target=False, seed=seed, progress=progress)
        return {"model": _models.to_state(r.model), "history": {k: list(map(float, v)) for k, v in r.history.items()}}

    entry = Cache(cache_dir).memo("byom-model", config, compute, code=[_code()])
    return _models.from_state(entry["model"]), pd.DataFrame(entry["history"])


def block_betti(model, mode: Optional[str] = None, seed: int = 0, cache_dir=None, layers=BLOCKS) -> pd.DataFrame:
    """Betti numbers of each class after the stem, each stage and the logits (k = 14, 2 hops), cached."""
    s = sizes(mode)
    _, test = load_data(s["mode"], seed)
    layers = list(layers)
    config = {"pair": PAIR, "seed": seed, "layers": layers, "homology": s["homology"],
              "weights": _weights_digest(model)}

    def compute():
        return _topology.layer_betti(model, test.X, test.y, k=14, hops=2, max_dim=1, n_jobs=1,
                                     max_points=s["homology"], seed=seed, layers=layers)

    return Cache(cache_dir).memo("byom-betti", config, compute, code=[_code()])


def _weights_digest(model) -> str:
    import hashlib

    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def pruning_table(model, mode: Optional[str] = None, seed: int = 0, cache_dir=None,
                  progress: Optional[bool] = None) -> pd.DataFrame:
    """Every method at every fraction: accuracy as pruned and after fine-tuning, size, MACs, latency.

    Rows: ``method, fraction, seed, accuracy_pruned, accuracy, params, macs, bytes, latency_b1_ms``
    plus the unpruned model's row (``method = "unpruned + same epochs"``, fraction 0), which is
    fine-tuned for the same epochs as every pruned model.
    """
    s = sizes(mode)
    train, test = load_data(s["mode"], seed)
    config = {"pair": PAIR, "seed": seed, "weights": _weights_digest(model),
              **{k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items() if k != "mode"}}

    def compute():
        rows = []
        example = torch.from_numpy(test.X[:1])
        scores = {}
        for label, method, highest in METHODS:
            if method not in scores:
                scores[method] = _pruning.filter_scores(model, train.X, train.y, method=method,
                                                        n_images=s["scored"], seed=seed, progress=progress)
        for r_seed in s["random_seeds"]:
            scores[f"random-{r_seed}"] = _pruning.filter_scores(model, train.X, train.y, method="random", seed=r_seed)

        def run(label, sc, highest, fraction, r_seed=None):
            pruned, report = _pruning.prune(copy.deepcopy(model), sc, fraction=fraction, example_input=example,
                                            highest=highest)
            acc0 = _training.accuracy(pruned, test.X, test.y)
            _pruning.fine_tune(pruned, train.X, train.y, epochs=s["fine_tune"], seed=seed, progress=False)
            m = _pruning.measure(pruned, test.X, test.y, latency_batches=(1,))
            rows.append({"method": label, "fraction": fraction, "seed": r_seed, "accuracy_pruned": acc0,
                         "accuracy": m["accuracy"], "params": m["params"], "macs": m["macs"], "bytes": m["bytes"],
                         "latency_b1_ms": m["latency_b1_ms"],
                         "removed": int(sum(len(v) for v in report["removed"].values()))})

        base = copy.deepcopy(model)
        acc0 = _training.accuracy(base, test.X, test.y)
        _pruning.fine_tune(base, train.X, train.y, epochs=s["fine_tune"], seed=seed, progress=False)
        m = _pruning.measure(base, test.X, test.y, latency_batches=(1,))
        rows.append({"method": "unpruned + same epochs", "fraction": 0.0, "seed": None, "accuracy_pruned": acc0,
                     "accuracy": m["accuracy"], "params": m["params"], "macs": m["macs"], "bytes": m["bytes"],
                     "latency_b1_ms": m["latency_b1_ms"], "removed": 0})
        for fraction in s["fractions"]:
            for label, method, highest in METHODS:
                run(label, scores[method], highest, fraction)
            for r_seed in s["random_seeds"]:
                run("random", scores[f"random-{r_seed}"], True, fraction, r_seed)
        return pd.DataFrame(rows)

    return Cache(cache_dir).memo("byom-table", config, compute, code=[_code()])


def betti_vs_random(table: pd.DataFrame, method: str = "betti (high)") -> pd.DataFrame:
    """Per fraction: the method's accuracy after fine-tuning against the random seeds' range."""
    need = {"method", "fraction", "accuracy"}
    if not isinstance(table, pd.DataFrame) or not need <= set(table.columns):
        raise _checks.InvalidParameterError(f"table must be pruning_table()'s frame with columns {sorted(need)}")
    rows = []
    for fraction, part in table[table.fraction > 0].groupby("fraction"):
        rand = part[part.method == "random"]["accuracy"]
        mine = part[part.method == method]["accuracy"]
        if rand.empty or mine.empty:
            continue
        acc = float(mine.iloc[0])
        outcome = "win" if acc > rand.max() else "loss" if acc < rand.min() else "tie"
        rows.append({"fraction": fraction, "accuracy": acc, "random_min": float(rand.min()),
                     "random_max": float(rand.max()), "outcome": outcome})
    return pd.DataFrame(rows, columns=["fraction", "accuracy", "random_min", "random_max", "outcome"])


RULE = ("per fraction, after one fine-tuning epoch, Betti (high) wins when its test accuracy is above every random "
        "seed's and loses when below every one; reproduced when it wins at every fraction, not reproduced when it "
        "loses at every one, mixed otherwise")


def claim(table: pd.DataFrame) -> dict:
    """The extension row's verdict by :data:`RULE`, as keyword arguments of ``report.record_claim``."""
    cells = betti_vs_random(table)
    if cells.empty:
        return dict(verdict="not testable here", value=float("nan"), measured="no pruning runs",
                    reason="no fraction has both Betti and random runs", rule=RULE, details={"cells": []})
    wins, losses = int((cells.outcome == "win").sum()), int((cells.outcome == "loss").sum())
    verdict = ("reproduced" if wins == len(cells) else "not reproduced" if losses == len(cells) else "mixed")
    gaps = cells["accuracy"] - (cells["random_min"] + cells["random_max"]) / 2
    measured = "; ".join(f"{r.fraction:.0%} removed: Betti (high) {r.accuracy:.3f}, random {r.random_min:.3f}-"
                         f"{r.random_max:.3f}" for r in cells.itertuples())
    return dict(verdict=verdict, value=float(gaps.mean()), low=float(gaps.min()), high=float(gaps.max()),
                measured=f"test accuracy after one fine-tuning epoch ({measured})",
                reason=(f"Betti (high) against random: {wins} win(s), {losses} loss(es), "
                        f"{len(cells) - wins - losses} tie(s)"),
                rule=RULE, details={"cells": cells.to_dict("records")})
