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
import functools
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

__all__ = ["PAIR", "SIZES", "METHODS", "BLOCKS", "RULE", "ACCURACIES", "ROBUSTNESS", "ROBUSTNESS_CHOICES", "sizes",
           "load_data", "trained_resnet", "block_betti", "filter_scores", "pruning_table", "betti_vs_random", "claim",
           "robustness_runs", "specifications", "plot_training", "plot_block_betti", "plot_pruning"]

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

#: The accuracy columns of :func:`pruning_table` a verdict can read, and how the report names them.
ACCURACIES = {"accuracy": "after one fine-tuning epoch", "accuracy_pruned": "as pruned, before fine-tuning"}

#: Where the per-block topology is read: the stem and each stage's output, then the logits.
BLOCKS = ("relu", "layer1", "layer2", "layer3", "fc")


def sizes(mode: Optional[str] = None) -> dict:
    """The sizes of ``mode`` (default: :func:`topokit.fileio.run_mode`)."""
    mode = run_mode() if mode is None else _checks.choice(mode, "mode", SIZES)
    return dict(SIZES[mode], mode=mode)


def load_data(mode: Optional[str] = None, seed: int = 0):
    """(train, test) of :data:`PAIR` at the mode's sizes.

    Loaded once per process and (mode, seed): the notebook and every function of this study share
    the same read-only datasets instead of reading CIFAR-10 again (seconds each time).
    """
    s = sizes(mode)
    return _load_pair(s["mode"], _checks.integer(seed, "seed", minimum=0), s["train"], s["test"])


@functools.lru_cache(maxsize=4)
def _load_pair(mode: str, seed: int, n_train: int, n_test: int):
    train = _data.load("cifar10", split="train", seed=seed, classes=PAIR, max_per_class=n_train)
    test = _data.load("cifar10", split="test", seed=seed, classes=PAIR, max_per_class=n_test)
    for d in (train, test):
        for a in (d.X, d.y):
            if isinstance(a, np.ndarray):
                a.flags.writeable = False  # shared between callers: nobody may change it in place
    return train, test


def _code() -> str:
    return code_version(_models, _training, _pruning, _topology, trained_resnet, pruning_table, block_betti, _pruned_row)


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
        scores = {}
        for label, method, highest in METHODS:
            if method not in scores:
                scores[method] = filter_scores(model, method, s["mode"], seed, n_images=s["scored"],
                                               cache_dir=cache_dir, progress=progress)
        for r_seed in s["random_seeds"]:
            scores[f"random-{r_seed}"] = filter_scores(model, "random", s["mode"], r_seed, data_seed=seed,
                                                       cache_dir=cache_dir)

        def run(label, sc, highest, fraction, r_seed=None):
            rows.append(_pruned_row(model, sc, highest, fraction, train, test, s["fine_tune"], seed, label, r_seed))

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


def filter_scores(model, method: str = "betti", mode: Optional[str] = None, seed: int = 0, *,
                  n_images: Optional[int] = None, data_seed: Optional[int] = None, cache_dir=None,
                  progress: Optional[bool] = None, n_jobs: int = -1) -> dict:
    """:func:`topokit.pruning.filter_scores` on the mode's training images, cached (kind ``"prune-scores"``).

    ``seed`` seeds the scoring (the subsample of ``n_images``, or the random scores), ``data_seed``
    (default ``seed``) the training images of :func:`load_data`. Keyed by the model's weights, the
    method, the images and ``n_images``; the notebook's scoring cell and :func:`pruning_table`
    share the entry, so the filters are scored once. ``n_jobs`` (workers over clouds) does not
    change the scores and is not part of the key.
    """
    s = sizes(mode)
    method = _checks.choice(method, "method", ("betti", "betti-knn", "cubical", "l1", "hrank", "random"))
    seed = _checks.integer(seed, "seed", minimum=0)
    n_images = _checks.integer(n_images, "n_images", minimum=1, allow_none=True)
    data_seed = seed if data_seed is None else _checks.integer(data_seed, "data_seed", minimum=0)
    train, _ = load_data(s["mode"], data_seed)
    config = {"fn": "byom-scores", "pair": PAIR, "train": s["train"], "data_seed": data_seed,
              "weights": _weights_digest(model), "method": method, "seed": seed, "n_images": n_images}

    def compute():
        got = _pruning.filter_scores(model, train.X, train.y, method=method, n_images=n_images, seed=seed,
                                     progress=progress, n_jobs=n_jobs)
        return {name: np.asarray(v) for name, v in got.items()}

    return Cache(cache_dir).memo("prune-scores", config, compute, code=[_code()])


def _pruned_row(model, scores, highest, fraction, train, test, fine_tune, seed, label, r_seed=None,
                measure: bool = True) -> dict:
    """Prune a copy of ``model`` by ``scores``, fine-tune it, measure it: one row of :func:`pruning_table`
    (``measure=False``: accuracies only, size and latency NaN)."""
    pruned, report = _pruning.prune(copy.deepcopy(model), scores, fraction=fraction,
                                    example_input=torch.from_numpy(test.X[:1]), highest=highest)
    acc0 = _training.accuracy(pruned, test.X, test.y)
    _pruning.fine_tune(pruned, train.X, train.y, epochs=fine_tune, seed=seed, progress=False)
    m = (_pruning.measure(pruned, test.X, test.y, latency_batches=(1,)) if measure else
         {"accuracy": _training.accuracy(pruned, test.X, test.y),
          **dict.fromkeys(("params", "macs", "bytes", "latency_b1_ms"), float("nan"))})
    return {"method": label, "fraction": fraction, "seed": r_seed, "accuracy_pruned": acc0,
            "accuracy": m["accuracy"], "params": m["params"], "macs": m["macs"], "bytes": m["bytes"],
            "latency_b1_ms": m["latency_b1_ms"], "removed": int(sum(len(v) for v in report["removed"].values()))}


def betti_vs_random(table: pd.DataFrame, method: str = "betti (high)", accuracy: str = "accuracy") -> pd.DataFrame:
    """Per fraction: the method's accuracy (after fine-tuning; ``accuracy="accuracy_pruned"``: before)
    against the random seeds' range."""
    accuracy = _checks.choice(accuracy, "accuracy", ACCURACIES)
    need = {"method", "fraction", accuracy}
    if not isinstance(table, pd.DataFrame) or not need <= set(table.columns):
        raise _checks.InvalidParameterError(f"table must be pruning_table()'s frame with columns {sorted(need)}")
    rows = []
    for fraction, part in table[table.fraction > 0].groupby("fraction"):
        rand = part[part.method == "random"][accuracy]
        mine = part[part.method == method][accuracy]
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


def claim(table: pd.DataFrame, accuracy: str = "accuracy") -> dict:
    """The extension row's verdict by :data:`RULE`, as keyword arguments of ``report.record_claim``.

    ``accuracy="accuracy_pruned"`` applies the same rule to the accuracy before fine-tuning (a
    robustness specification, :func:`specifications`).
    """
    cells = betti_vs_random(table, accuracy=accuracy)
    if cells.empty:
        return dict(verdict="not testable here", value=float("nan"), measured="no pruning runs",
                    reason="no fraction has both Betti and random runs", rule=RULE, details={"cells": []})
    wins, losses = int((cells.outcome == "win").sum()), int((cells.outcome == "loss").sum())
    verdict = ("reproduced" if wins == len(cells) else "not reproduced" if losses == len(cells) else "mixed")
    gaps = cells["accuracy"] - (cells["random_min"] + cells["random_max"]) / 2
    measured = "; ".join(f"{r.fraction:.0%} removed: Betti (high) {r.accuracy:.3f}, random {r.random_min:.3f}-"
                         f"{r.random_max:.3f}" for r in cells.itertuples())
    return dict(verdict=verdict, value=float(gaps.mean()), low=float(gaps.min()), high=float(gaps.max()),
                measured=f"test accuracy {ACCURACIES[accuracy]} ({measured})",
                reason=(f"Betti (high) against random: {wins} win(s), {losses} loss(es), "
                        f"{len(cells) - wins - losses} tie(s)"),
                rule=RULE, details={"cells": cells.to_dict("records")})


# ----------------------------------------------------------------------------- robustness (issue 15)

#: Per mode, the extra runs of the robustness part: random seeds beyond :data:`SIZES`' and other
#: numbers of images for the Betti scores (each re-scored, pruned and fine-tuned at every fraction).
ROBUSTNESS = {
    "quick": dict(extra_seeds=(), scored=()),
    "default": dict(extra_seeds=(3,), scored=(200,)),  # four pruned and fine-tuned models, one re-scoring
    "full": dict(extra_seeds=(5, 6, 7, 8, 9), scored=(500, 2000)),
}
#: The free-choice columns of :func:`specifications`.
ROBUSTNESS_CHOICES = ["fractions", "fine-tuning", "random seeds", "scored images"]
_SPEC_COLUMNS = [*ROBUSTNESS_CHOICES, "verdict", "measured", "value", "low", "high"]


def robustness_runs(model, mode: Optional[str] = None, seed: int = 0, cache_dir=None,
                    progress: Optional[bool] = None) -> pd.DataFrame:
    """The extra runs of the robustness part (:data:`ROBUSTNESS`), cached with the pruning table.

    Rows as :func:`pruning_table`'s plus ``scored`` (the images behind the Betti scores): the
    random seeds of ``extra_seeds`` at every fraction, and "betti (high)" with the scores of each
    number of images in ``scored``. Only the accuracies are measured (size and latency are NaN:
    the verdict does not read them). Nothing is computed in a mode without extra runs.
    """
    s = sizes(mode)
    extra = ROBUSTNESS[s["mode"]]
    seed = _checks.integer(seed, "seed", minimum=0)
    columns = ["method", "fraction", "seed", "accuracy_pruned", "accuracy", "params", "macs", "bytes",
               "latency_b1_ms", "removed", "scored"]
    if not extra["extra_seeds"] and not extra["scored"]:
        return pd.DataFrame(columns=columns)
    train, test = load_data(s["mode"], seed)
    config = {"fn": "robustness", "pair": PAIR, "seed": seed, "weights": _weights_digest(model),
              **{k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items() if k != "mode"},
              **{k: list(v) for k, v in extra.items()}}

    def compute():
        rows = []
        for n in extra["scored"]:
            sc = filter_scores(model, "betti", s["mode"], seed, n_images=n, cache_dir=cache_dir, progress=progress)
            for fraction in s["fractions"]:
                rows.append({**_pruned_row(model, sc, True, fraction, train, test, s["fine_tune"], seed,
                                           "betti (high)", measure=False), "scored": n})
        for r_seed in extra["extra_seeds"]:
            sc = filter_scores(model, "random", s["mode"], r_seed, data_seed=seed, cache_dir=cache_dir)
            for fraction in s["fractions"]:
                rows.append({**_pruned_row(model, sc, True, fraction, train, test, s["fine_tune"], seed, "random",
                                           r_seed, measure=False), "scored": None})
        return pd.DataFrame(rows, columns=columns)

    return Cache(cache_dir).memo("byom-table", config, compute, code=[_code(), robustness_runs])


def _label(values, fmt="{}") -> str:
    return ", ".join(fmt.format(v) for v in values)


def specifications(table: pd.DataFrame, extra: Optional[pd.DataFrame] = None, mode: Optional[str] = None
                   ) -> tuple[pd.DataFrame, dict]:
    """The extension verdict under each one-at-a-time change of its free choices, by :data:`RULE`.

    Choices (:data:`ROBUSTNESS_CHOICES`), the reference first: the pruning **fractions** judged
    (all of the mode's, as the headline, or each alone); the **fine-tuning** (one epoch, or none:
    the accuracy as pruned); the **random seeds** of the baseline (the mode's; each leave-one-out
    subset; the mode's plus :data:`ROBUSTNESS`' extra seeds); the **scored images** behind the
    Betti scores (the mode's, or each of :data:`ROBUSTNESS`' alternatives).

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`pruning_table`.
    extra : pandas.DataFrame, optional
        :func:`robustness_runs` (without it, the choices that need extra runs keep their reference).
    mode : str, optional
        The run mode whose sizes made the tables (default :func:`topokit.fileio.run_mode`).

    Returns
    -------
    (pandas.DataFrame, dict)
        The specifications (the choices, ``verdict``, ``measured``, and ``value``, ``low``,
        ``high``: the mean, smallest and largest gap between Betti (high) and the random seeds'
        mid-range over the fractions), and the reference specification.
    """
    s = sizes(mode)
    extra = pd.DataFrame(columns=["method", "fraction", "seed", "accuracy", "accuracy_pruned", "scored"]) \
        if extra is None else extra
    for name, frame, need in (("table", table, {"method", "fraction", "seed", "accuracy", "accuracy_pruned"}),
                              ("extra", extra, {"method", "fraction", "seed", "accuracy", "accuracy_pruned",
                                                "scored"})):
        if not isinstance(frame, pd.DataFrame) or not need <= set(frame.columns):
            raise _checks.InvalidParameterError(
                f"{name} must be {'pruning_table' if name == 'table' else 'robustness_runs'}()'s frame with columns "
                f"{sorted(need)}")
    fractions = sorted(float(f) for f in table.loc[table.fraction > 0, "fraction"].unique())
    seeds = sorted(int(v) for v in table.loc[table.method == "random", "seed"].dropna().unique())
    more = sorted(int(v) for v in extra.loc[extra.method == "random", "seed"].dropna().unique() if int(v) not in seeds)
    reference = {"fractions": _label(fractions, "{:.0%}"), "fine-tuning": f"{s['fine_tune']} epoch" + ("s" if s["fine_tune"] > 1 else ""),
                 "random seeds": _label(seeds), "scored images": int(s["scored"])}
    variants = [({}, dict(fractions=fractions, accuracy="accuracy", seeds=seeds, scored=None))]
    if len(fractions) > 1:
        variants += [({"fractions": f"{f:.0%}"}, dict(fractions=[f], accuracy="accuracy", seeds=seeds, scored=None))
                     for f in fractions]
    variants.append(({"fine-tuning": "none"}, dict(fractions=fractions, accuracy="accuracy_pruned", seeds=seeds,
                                                    scored=None)))
    if len(seeds) > 1:
        variants += [({"random seeds": _label([v for v in seeds if v != out])},
                      dict(fractions=fractions, accuracy="accuracy", seeds=[v for v in seeds if v != out], scored=None))
                     for out in seeds]
    if more:
        variants.append(({"random seeds": _label(seeds + more)},
                         dict(fractions=fractions, accuracy="accuracy", seeds=seeds + more, scored=None)))
    for n in sorted(int(v) for v in extra.loc[extra.method == "betti (high)", "scored"].dropna().unique()):
        variants.append(({"scored images": n}, dict(fractions=fractions, accuracy="accuracy", seeds=seeds, scored=n)))

    both = pd.concat([table.assign(scored=np.nan), extra], ignore_index=True)
    both = both.astype({"fraction": float})
    rows = []
    for change, how in variants:
        keep = both.fraction.isin(how["fractions"])
        random = keep & (both.method == "random") & both.seed.isin(how["seeds"])
        betti = keep & (both.method == "betti (high)") & (both.scored.isna() if how["scored"] is None
                                                          else both.scored == how["scored"])
        verdict = claim(both[random | betti], accuracy=how["accuracy"])
        rows.append({**reference, **change, **{c: verdict.get(c, np.nan) for c in ("verdict", "measured")},
                     **{c: float(verdict.get(c, np.nan)) for c in ("value", "low", "high")}})
    return pd.DataFrame(rows, columns=_SPEC_COLUMNS), reference


# ----------------------------------------------------------------------------- figures (drawn by plotting.draw)


def plot_training(history: pd.DataFrame):
    """Train and test accuracy per epoch of :func:`trained_resnet`'s history."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(history.epoch, history.train_accuracy, label="train")
    ax.plot(history.epoch, history.test_accuracy, label="test")
    ax.set(xlabel="epoch", ylabel="accuracy", title="ResNet-20 on a CIFAR-10 pair")
    ax.legend()
    return fig


def plot_block_betti(betti: pd.DataFrame, classes):
    """b0 + b1 of each class block by block, from :func:`block_betti`'s table."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    for label in sorted(betti.label.unique()):
        sums = betti[betti.label == label].groupby("layer")["betti"].sum()
        ax.plot(sums.index, sums.values, marker="o", label=classes[label])
    ax.set_xticks(range(len(betti.layer_name.unique())), betti.drop_duplicates("layer").layer_name, rotation=30)
    ax.set(ylabel="b0 + b1", title="Topology of each class, block by block")
    ax.legend()
    return fig


def plot_pruning(table: pd.DataFrame):
    """Accuracy after fine-tuning per method and fraction (mean, min-max), and size and speed, from :func:`pruning_table`."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for method, part in table[table.fraction > 0].groupby("method"):
        agg = part.groupby("fraction")["accuracy"].agg(["mean", "min", "max"])
        axes[0].errorbar(agg.index, agg["mean"], yerr=[agg["mean"] - agg["min"], agg["max"] - agg["mean"]],
                         marker="o", capsize=3, label=method)
    base = table[table.fraction == 0].iloc[0]
    axes[0].axhline(base.accuracy, color="k", ls="--", lw=1, label="unpruned + same epoch")
    axes[0].set(xlabel="share of filters removed", ylabel="test accuracy", title="Accuracy after one epoch of fine-tuning")
    axes[0].legend(fontsize=7)
    sizes_ = table.groupby("fraction")[["params", "macs", "bytes", "latency_b1_ms"]].median()
    (sizes_ / sizes_.iloc[0]).plot(ax=axes[1], marker="o")
    axes[1].set(xlabel="share of filters removed", ylabel="relative to unpruned", title="Size and speed")
    return fig
