"""Notebook 04's study: Kochar et al.'s Betti-number pruning on three small CNNs, and its verdict rules.

Moved here from :mod:`topokit.pruning`, which keeps the general tools (filter scores, physical
pruning, fine-tuning, measurement, accuracy curves) and still answers ``pruning.study``,
``pruning.trained_model``, ``pruning.betti_sweep``, ``pruning.STUDY_*`` and
``pruning.PruningStudy`` by importing this module on first use.

Configuration
-------------
:data:`STUDY_SETS` (the data sets and their CNNs), :data:`STUDY_SIZES` (default and quick sizes),
:data:`STUDY_CURVES` (the pruning curves compared) and the verdict parameters :data:`ALPHA`,
:data:`TIE_PP`, :data:`MARGIN`; the paper's threshold is :data:`topokit.pruning.PAPER_THRESHOLD`.

Runner
------
:func:`trained_model` trains (once, cached) the CNN of a set; :func:`study` scores, prunes and
measures it, cached piece by piece; :func:`betti_sweep` shows how the number of images and the
scale move the ``"betti"`` scores.

Verdict rules (fixed before the numbers; notebook 04 states them in words)
----------------------------------------------------------------------------
1. *"Removed ... without significant reduction in accuracy"* (:func:`judge_paper_rule`): on each
   data set the paper's rule (remove every filter with Betti score above the threshold) must
   remove at least one filter, and the pruned model must not be significantly less accurate than
   the trained model: exact McNemar test on the paired test predictions
   (:func:`topokit.stats.paired_mcnemar`), one-sided at :data:`ALPHA`; judged as pruned and after
   the fixed fine-tuning budget.
2. *"Faster prediction time"*: the pruned model's median CPU latency plus half its IQR is below the
   trained model's median minus half its IQR, at batch 1 and batch 256 separately.
3. *"Reduced memory size"*: the saved file has fewer bytes.
4. *Does removing high-Betti filters beat random or low-Betti removal?* (:func:`baseline_cells`,
   :func:`baseline_answer`): per (data set, fraction, fine-tuning) cell, Betti-high beats random when
   its accuracy is above the best random seed, loses when below the worst, ties otherwise; against
   Betti-low a difference under :data:`TIE_PP` percentage points is a tie. Overall "yes" when wins
   outnumber losses by at least :data:`MARGIN` of the cells, "no" for the reverse, else
   "no clear difference".

For the report (:data:`topokit.report.CLAIMS`): ``prune-accuracy`` (:func:`accuracy_claim`) is
reproduced when rule 1 holds on every data set (as pruned or after fine-tuning), not reproduced
when on none, mixed otherwise; ``prune-speed-size`` (:func:`speed_size_claim`) is reproduced when
every latency and size comparison of rules 2 and 3 holds, not reproduced when none does, mixed
otherwise.
"""
from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from .. import _checks
from .. import data as _data
from .. import filtertopology as _filtertopology
from .. import models as _models
from .. import pruning as _pruning
from .. import stats as _stats
from .. import training as _training
from ..cache import Cache
from ..fileio import quick_mode
from ..models import LayeredNet

__all__ = [
    "STUDY_SETS",
    "STUDY_SIZES",
    "STUDY_CURVES",
    "ALPHA",
    "TIE_PP",
    "MARGIN",
    "PruningStudy",
    "trained_model",
    "study",
    "betti_sweep",
    "PaperRuleJudgement",
    "judge_paper_rule",
    "baseline_cells",
    "baseline_answer",
    "accuracy_claim",
    "speed_size_claim",
]

#: The three image sets of notebook 04: data options and the CNN trained on each. Images are small
#: (28x28 grey, 32x32 colour) so that the default run fits its time budget on 2 cores.
STUDY_SETS = {
    "fashion-mnist": {"data": {"name": "fashion-mnist", "classes": ["T-shirt/top", "Shirt"]}, "in_channels": 1},
    "cifar10": {"data": {"name": "cifar10", "classes": ["airplane", "ship"]}, "in_channels": 3},
    "cats-vs-dogs": {"data": {"name": "cats-vs-dogs", "image_size": 32}, "in_channels": 3},
}

#: Sizes of the study, default and quick (CI) mode.
STUDY_SIZES = {
    False: {"max_per_class": 1000, "test_per_class": 1000, "channels": [16, 32, 64], "hidden": 64, "epochs": 6,
            "batch_size": 64, "lr": 1e-3,
            "fractions": [0.25, 0.5, 0.75, 0.9], "random_seeds": [0, 1, 2], "finetune_epochs": 1,
            "n_images": 1000, "latency_min_run_time": 0.3},
    True: {"max_per_class": 150, "test_per_class": 150, "channels": [8, 16], "hidden": 16, "epochs": 6,
           "batch_size": 16, "lr": 3e-3,
           "fractions": [0.5, 0.9], "random_seeds": [0, 1], "finetune_epochs": 1,
           "n_images": 200, "latency_min_run_time": 0.02},
}

#: The curves of the study: name -> (scoring method, remove the highest scores?).
STUDY_CURVES = {
    "betti-high": ("betti", True),
    "betti-low": ("betti", False),
    "cubical-high": ("cubical", True),
    "cubical-low": ("cubical", False),
    "l1-low": ("l1", False),
    "hrank-low": ("hrank", False),
}


@dataclass
class PruningStudy:
    """Everything notebook 04 shows for one data set (see :func:`study`).

    Attributes
    ----------
    name : str
        Key of :data:`STUDY_SETS`.
    model : LayeredNet
        The trained CNN.
    history : pandas.DataFrame
        Its training history.
    train, test : topokit.data.Dataset
    scores : dict
        Method -> (layer -> scores); random ones as ``"random-<seed>"``.
    score_info : dict
        Method -> (layer -> the scale / noise and number of images used).
    curves : pandas.DataFrame
        :func:`topokit.pruning.accuracy_curves` rows for every curve (random seeds included), the
        ``"scratch"`` rows of :func:`topokit.pruning.scratch_curve` and the ``"paper-rule"`` rows
        (Betti > threshold; its fraction is the share of all filters removed).
    sizes : pandas.DataFrame
        Per fraction (0 = the trained model): params, macs, bytes and CPU latency (median and
        IQR, batch 1 and 256) of the architecture the fraction rule leaves.
    table : pandas.DataFrame
        The measurement table: original, paper rule with and without fine-tuning, and the main
        methods at half the filters with fine-tuning.
    config : dict
        Sizes and options used.
    """

    name: str
    model: LayeredNet
    history: pd.DataFrame
    train: object
    test: object
    scores: dict
    score_info: dict
    curves: pd.DataFrame
    sizes: pd.DataFrame
    table: pd.DataFrame
    config: dict


def _load_split(spec: dict, split: str, per_class: int, seed: int):
    opts = dict(spec["data"])
    name = opts.pop("name")
    if "classes" in opts:
        opts["classes"] = tuple(opts["classes"])
    return _data.load(name, split=split, seed=seed, max_per_class=per_class, **opts)


def _code():
    """Modules whose source keys the study's cache entries: this study and the tools it calls."""
    return [sys.modules[__name__], _pruning, _filtertopology, _models, _training]


def _check_name(name) -> str:
    return _checks.choice(name, "name (a study set)", STUDY_SETS)


def trained_model(name: str, quick: Optional[bool] = None, seed: int = 0, cache=None,
                  progress: Optional[bool] = None):
    """The CNN of one of notebook 04's data sets, trained once and then read from the cache.

    Returns
    -------
    (model, history, train, test)
        The trained :class:`~topokit.models.LayeredNet` (eval mode), its training history and
        the train and test :class:`~topokit.data.Dataset`.
    """
    name = _check_name(name)
    seed = _checks.integer(seed, "seed", minimum=0)
    quick = quick_mode(quick)
    cache = cache if cache is not None else Cache()
    spec, size = STUDY_SETS[name], STUDY_SIZES[quick]
    train = _load_split(spec, "train", size["max_per_class"], seed)
    test = _load_split(spec, "test", size["test_per_class"], seed)
    config = {"set": spec, "size": {k: size[k] for k in ("max_per_class", "test_per_class", "channels", "hidden",
                                                         "epochs", "batch_size", "lr")}, "seed": seed}

    def train_model():
        net = _models.cnn(spec["in_channels"], channels=size["channels"], hidden=size["hidden"], seed=seed)
        r = _training.fit(net, train.X, train.y, X_test=test.X, y_test=test.y, max_epochs=size["epochs"],
                          lr=size["lr"], lr_decay=None, batch_size=size["batch_size"], stop_at_target=False,
                          seed=seed, num_threads=1, progress=progress)
        return {"model": _models.to_state(net), "history": {k: list(map(float, v)) for k, v in r.history.items()}}

    entry = cache.memo("prune-model", config, train_model, code=[_models, _training.fit])
    return _models.from_state(entry["model"]), pd.DataFrame(entry["history"]), train, test


def study(name: str, quick: Optional[bool] = None, seed: int = 0, cache=None, progress: Optional[bool] = None,
          threshold: float = _pruning.PAPER_THRESHOLD, knn: bool = False) -> PruningStudy:
    """Train, score, prune and measure one of notebook 04's data sets; cached piece by piece.

    Trained models are cached as architecture JSON + state dict (``topokit.models.to_state``),
    scores as arrays, curves and measurements as DataFrames (:class:`topokit.cache.Cache`), so a
    rerun computes nothing twice. Latencies come from the cache too once measured (they were
    measured when the entry was made, at 1 thread).

    Parameters
    ----------
    name : {"fashion-mnist", "cifar10", "cats-vs-dogs"}
    quick : bool, optional
        Small sizes (:data:`STUDY_SIZES`); default from ``TOPOKIT_QUICK``.
    seed : int, default 0
    cache : topokit.cache.Cache, optional
        Default ``Cache()``.
    progress : bool, optional
    threshold : float, default 300
        The paper rule's threshold on the ``"betti"`` scores.
    knn : bool, default False
        Also compute the ``"betti-knn"`` scores (slowest; they cannot rank filters at Naitzat's
        defaults, see notebook 04), shown but not used for pruning.
    """
    name = _check_name(name)
    seed = _checks.integer(seed, "seed", minimum=0)
    # validated but kept as given (an int stays an int): it is part of the cache keys
    _checks.real(threshold, "threshold", fix=f"e.g. the paper's {_pruning.PAPER_THRESHOLD}")
    knn = _checks.boolean(knn, "knn")
    quick = quick_mode(quick)
    cache = cache if cache is not None else Cache()
    model, history, train, test = trained_model(name, quick=quick, seed=seed, cache=cache, progress=progress)
    spec, size = STUDY_SETS[name], STUDY_SIZES[quick]
    code = _code()
    base = {"set": spec, "size": size, "seed": seed}

    scores, info = {}, {}
    for method in ("betti",) + (("betti-knn",) if knn else ()) + ("cubical", "l1", "hrank"):
        def compute(method=method):
            s, det = _pruning.filter_scores(model, train.X, train.y, method=method, n_images=size["n_images"],
                                            seed=seed, progress=progress, details=True)
            out = {f"score/{k}": v for k, v in s.items()}
            out.update({f"info/{k}/{kk}": np.asarray(float(vv)) for k, d in det.items() for kk, vv in d.items()})
            return out
        arrays = cache.memo("prune-scores", {**base, "method": method}, compute, code=code)
        scores[method] = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("score/")}
        info[method] = {}
        for k, v in arrays.items():
            if k.startswith("info/"):
                _, layer, key = k.split("/")
                info[method].setdefault(layer, {})[key] = float(v)
    for s in size["random_seeds"]:
        scores[f"random-{s}"] = _pruning.filter_scores(model, train.X, train.y, method="random", seed=s)

    def curves_frame():
        specs = [(c, (scores[m], high)) for c, (m, high) in STUDY_CURVES.items()]
        specs += [("random", (scores[f"random-{s}"], True, s)) for s in size["random_seeds"]]
        frames = [_pruning.accuracy_curves(model, {c: v}, train.X, train.y, test.X, test.y, size["fractions"],
                                           size["finetune_epochs"], seed=seed, lr=size["lr"],
                                           batch_size=size["batch_size"], progress=progress) for c, v in specs]
        frames.append(_pruning.scratch_curve(model, train.X, train.y, test.X, test.y, size["fractions"],
                                             size["epochs"], seeds=[seed], lr=size["lr"],
                                             batch_size=size["batch_size"], progress=progress))
        frames.append(_paper_rule_rows(model, scores["betti"], threshold, train, test, size, seed))
        return pd.concat(frames, ignore_index=True)

    curves = cache.memo("prune-curves", {**base, "threshold": threshold}, curves_frame, code=code)
    curves["seed"] = curves["seed"].astype("Int64")

    def sizes_frame():
        rows = []
        x1 = torch.from_numpy(test.X[:1])
        for f in [0.0] + list(size["fractions"]):
            pruned = _pruning.prune(model, scores["l1"], fraction=f, example_input=x1)[0] if f else model
            m = _pruning.measure(pruned, test.X[:256], test.y[:256], min_run_time=size["latency_min_run_time"])
            m.pop("accuracy")
            rows.append({"fraction": f, **m})
        return pd.DataFrame(rows)

    sizes = cache.memo("prune-sizes", base, sizes_frame, code=code)
    table = cache.memo("prune-table", {**base, "threshold": threshold},
                       lambda: _measurement_table(model, scores, threshold, train, test, size, seed), code=code)
    return PruningStudy(name, model, history, train, test, scores, info, curves, sizes, table,
                        {**size, "quick": quick, "seed": seed, "threshold": threshold, **spec})


def betti_sweep(model, X, y, n_images: Sequence[int], scale_factors: Sequence[float] = (1.0,), seed: int = 0,
                cache=None, cache_config: Optional[Mapping] = None, progress: Optional[bool] = None) -> pd.DataFrame:
    """``"betti"`` scores for several numbers of images N and multiples of the per-layer scale rule.

    For each N the rule's scale of each layer is computed on those N images and multiplied by
    each factor. With ``cache`` and ``cache_config`` (a JSON-able description of the model, e.g.
    the study's configuration) each setting is cached.

    Returns
    -------
    pandas.DataFrame
        ``n_images, scale_factor, scale, layer, filter, score``.
    """
    X, y = _pruning._check_images(model, X, y)
    n_images = [_checks.integer(n, "each n_images", minimum=1, fix="e.g. n_images=[250, 500, 1000]")
                for n in n_images]
    scale_factors = [_checks.real(f, "each scale factor", minimum=0, include_min=False,
                                  fix="e.g. scale_factors=[0.5, 1, 2]") for f in scale_factors]
    frames = []
    for n in n_images:
        layers: dict = {}  # feature maps and prepared clouds of the N images, made once for all factors

        def prepared(n=n):
            if not layers:
                idx = _pruning.subsample(y, n, seed)
                labels = np.unique(y[idx])
                for name, m in _pruning.feature_maps(model, X[idx]).items():
                    preps = _pruning._prepared_clouds(m, y[idx], labels)
                    layers[name] = (m, labels, preps, _filtertopology.layer_scale(preps))
            return layers

        for factor in scale_factors:

            def compute(n=n, factor=factor):
                parts = []
                for layer, (m, labels, preps, eps) in prepared().items():
                    s = _pruning._layer_betti(m, labels, preps, eps * factor, 1, f"betti {layer}", progress)
                    parts.append(_pruning.scores_frame({layer: s}, "betti", n_images=n, scale_factor=factor,
                                                       scale=eps * factor))
                return pd.concat(parts, ignore_index=True)

            if cache is not None and cache_config is not None:
                df = cache.memo("prune-sweep", {**dict(cache_config), "n": n, "factor": factor, "seed": seed},
                                compute, code=_code())
            else:
                df = compute()
            frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _paper_rule_rows(model, betti, threshold, train, test, size, seed) -> pd.DataFrame:
    """The paper's rule (remove every filter with Betti score > threshold) as points on the curves."""
    accuracy = _training.accuracy
    x1 = torch.from_numpy(test.X[:1])
    pruned, rep = _pruning.prune(model, betti, threshold=threshold, example_input=x1)
    total = sum(rep["channels_before"].values())
    frac = sum(len(v) for v in rep["removed"].values()) / total
    base = {"curve": "paper-rule", "seed": pd.NA, "fraction": frac, "params": rep["params_after"],
            "macs": rep["macs_after"], "channels": str(list(rep["channels_after"].values()))}
    rows = [{**base, "finetuned": False, "epochs": 0, "accuracy": accuracy(pruned, test.X, test.y)}]
    _pruning.fine_tune(pruned, train.X, train.y, epochs=size["finetune_epochs"], seed=seed, lr=size["lr"],
                       batch_size=size["batch_size"], progress=False)
    rows.append({**base, "finetuned": True, "epochs": size["finetune_epochs"], "accuracy": accuracy(pruned, test.X, test.y)})
    return pd.DataFrame(rows)


def _measurement_table(model, scores, threshold, train, test, size, seed) -> pd.DataFrame:
    """Notebook 04's measurement table: the trained model, the paper's rule, each method at 50%."""
    prune, fine_tune = _pruning.prune, _pruning.fine_tune
    x1 = torch.from_numpy(test.X[:1])
    rows = [("trained model", model, 0.0)]
    pruned, rep = prune(model, scores["betti"], threshold=threshold, example_input=x1)
    frac = sum(len(v) for v in rep["removed"].values()) / sum(rep["channels_before"].values())
    rows.append((f"paper rule (Betti > {threshold:g})", copy.deepcopy(pruned), frac))
    fine_tune(pruned, train.X, train.y, epochs=size["finetune_epochs"], seed=seed, lr=size["lr"],
              batch_size=size["batch_size"], progress=False)
    rows.append((f"paper rule + fine-tune ({size['finetune_epochs']} epoch)", pruned, frac))
    for label, key, high in [("Betti-high", "betti", True), ("Betti-low", "betti", False), ("L1 lowest", "l1", False),
                             ("random", f"random-{size['random_seeds'][0]}", True)]:
        p, _ = prune(model, scores[key], fraction=0.5, example_input=x1, highest=high)
        fine_tune(p, train.X, train.y, epochs=size["finetune_epochs"], seed=seed, lr=size["lr"],
                  batch_size=size["batch_size"], progress=False)
        rows.append((f"{label} 50% + fine-tune", p, 0.5))
    out = []
    for label, m, frac in rows:
        r = _pruning.measure(m, test.X, test.y, min_run_time=size["latency_min_run_time"])
        out.append({"model": label, "filters_removed": frac, **r})
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- verdict rules

#: Rule 1: one-sided level of the exact McNemar test (pruned model less accurate than the trained one).
ALPHA = 0.05
#: Rule 4: percentage points under which Betti-high against Betti-low is a tie.
TIE_PP = 0.5
#: Rule 4: share of the cells by which wins must outnumber losses (or the reverse) for a "yes" ("no").
MARGIN = 0.25


def _check_studies(studies) -> dict:
    if not isinstance(studies, Mapping) or not studies:
        raise _checks.InvalidParameterError(
            f"studies must be a non-empty dict of data set name -> PruningStudy, got {type(studies).__name__}; "
            "pass {name: study(name, ...) for name in STUDY_SETS}")
    for name, st in studies.items():
        if not isinstance(st, PruningStudy):
            raise _checks.InvalidParameterError(
                f"studies[{name!r}] must be a PruningStudy (from study(...)), got {type(st).__name__}")
    return dict(studies)


@dataclass
class PaperRuleJudgement:
    """Rules 1-3 applied to the paper's threshold rule on each data set (:func:`judge_paper_rule`).

    Attributes
    ----------
    accuracy : pandas.DataFrame
        Rule 1, two rows per data set (``model``: "as pruned", "after fine-tuning"): ``data, model,
        filters_removed, accuracy_before, accuracy_after, p_value, supported``.
    latency : pandas.DataFrame
        Rule 2, one row per (data set, batch): ``data, batch, before_ms, after_ms, supported``.
    size : pandas.DataFrame
        Rule 3, one row per data set: ``data, bytes_before, bytes_after, supported``.
    correct : dict
        Data set -> {"orig", "pruned", "finetuned"}: which test images each model gets right.
    threshold, alpha : float
        The threshold of the paper's rule and the McNemar level used.
    finetune_epochs : int
        The fine-tuning budget (epochs) of the "after fine-tuning" rows.
    """

    accuracy: pd.DataFrame
    latency: pd.DataFrame
    size: pd.DataFrame
    correct: dict
    threshold: float
    alpha: float
    finetune_epochs: int


def judge_paper_rule(studies: Mapping[str, PruningStudy], threshold: float = _pruning.PAPER_THRESHOLD,
                     alpha: float = ALPHA, seed: int = 0) -> PaperRuleJudgement:
    """Apply rules 1-3 (module docstring) to the paper's rule on every study.

    **Rule 1** per data set, for the model as pruned and after ``finetune_epochs`` of fine-tuning
    (the study's budget, seeded by ``seed``): supported when the paper's rule removed at least one
    filter and the exact McNemar test of "the pruned model is less accurate than the trained one"
    on the paired test predictions has p >= ``alpha`` (:func:`topokit.stats.paired_mcnemar`,
    ``alternative="greater"``: b counts the images only the trained model gets right).
    **Rule 2** per data set and batch size (1, 256): supported when at least one filter was removed
    and the pruned model's median latency + IQR/2 is below the trained model's median - IQR/2
    (both from the study's measurement table). **Rule 3** per data set: supported when the saved
    file of the pruned model has fewer bytes than the trained model's.

    Parameters
    ----------
    studies : dict
        Data set name -> :class:`PruningStudy` (:func:`study`), in report order.
    threshold : float, default :data:`topokit.pruning.PAPER_THRESHOLD`
        The rule's threshold on the ``"betti"`` scores (the one the studies' tables used).
    alpha : float, default :data:`ALPHA`
    seed : int, default 0
        Fine-tuning seed (the studies' own).
    """
    studies = _check_studies(studies)
    threshold = _checks.real(threshold, "threshold", fix=f"e.g. the paper's {_pruning.PAPER_THRESHOLD}")
    alpha = _checks.real(alpha, "alpha", minimum=0, maximum=1, include_min=False, include_max=False, fix="e.g. 0.05")
    seed = _checks.integer(seed, "seed", minimum=0)
    claim1, claim2, claim3 = [], [], []
    correct = {}
    epochs = None
    for name, st in studies.items():
        t = st.table.set_index("model")
        orig = t.iloc[0]
        size = st.config
        epochs = int(size["finetune_epochs"]) if epochs is None else epochs
        pruned, rep = _pruning.prune(st.model, st.scores["betti"], threshold=threshold, example_input=st.test.X[:1])
        n_removed = sum(len(v) for v in rep["removed"].values())
        p_orig = _training.predict(st.model, st.test.X)
        p_raw = _training.predict(pruned, st.test.X)
        _pruning.fine_tune(pruned, st.train.X, st.train.y, epochs=size["finetune_epochs"], seed=seed, lr=size["lr"],
                           batch_size=size["batch_size"], progress=False)
        p_ft = _training.predict(pruned, st.test.X)
        correct[name] = {"orig": p_orig == st.test.y, "pruned": p_raw == st.test.y, "finetuned": p_ft == st.test.y}
        for label, key in (("as pruned", "pruned"), ("after fine-tuning", "finetuned")):
            pv = _stats.paired_mcnemar(correct[name]["orig"], correct[name][key], alternative="greater").pvalue
            claim1.append({"data": name, "model": label, "filters_removed": n_removed,
                           "accuracy_before": float(orig.accuracy),
                           "accuracy_after": float(np.mean(correct[name][key])),
                           "p_value": pv, "supported": n_removed > 0 and pv >= alpha})
        rule = t.iloc[1]
        for b in (1, 256):
            faster = (rule[f"latency_b{b}_ms"] + rule[f"latency_b{b}_iqr_ms"] / 2
                      < orig[f"latency_b{b}_ms"] - orig[f"latency_b{b}_iqr_ms"] / 2)
            claim2.append({"data": name, "batch": b, "before_ms": orig[f"latency_b{b}_ms"],
                           "after_ms": rule[f"latency_b{b}_ms"], "supported": bool(faster and n_removed > 0)})
        claim3.append({"data": name, "bytes_before": int(orig.bytes), "bytes_after": int(rule.bytes),
                       "supported": bool(rule.bytes < orig.bytes)})
    return PaperRuleJudgement(pd.DataFrame(claim1), pd.DataFrame(claim2), pd.DataFrame(claim3), correct,
                              threshold, alpha, int(epochs))


def baseline_cells(studies: Mapping[str, PruningStudy], tie_pp: float = TIE_PP) -> pd.DataFrame:
    """Rule 4 per cell: Betti-high against random and against Betti-low.

    For every data set, fine-tuning state (without, with) and fraction of the ``"betti-high"``
    curve: ``vs_random`` is "win" when Betti-high's accuracy is above the best random seed's,
    "loss" when below the worst one's, "tie" otherwise; ``vs_low`` is "tie" when Betti-high and
    Betti-low differ by less than ``tie_pp`` percentage points, else "win" or "loss".

    Returns
    -------
    pandas.DataFrame
        ``data, finetuned, fraction, betti_high, betti_low, random_min, random_max, vs_random, vs_low``.
    """
    studies = _check_studies(studies)
    tie_pp = _checks.real(tie_pp, "tie_pp", minimum=0, fix="a number of percentage points, e.g. 0.5")
    cells = []
    for name, st in studies.items():
        c = st.curves
        for ft in (False, True):
            for f in sorted(c[c.curve == "betti-high"].fraction.unique()):
                def pick(k):
                    return c[(c.curve == k) & (c.finetuned == ft) & np.isclose(c.fraction, f)].accuracy

                high, low, rnd = float(pick("betti-high").mean()), float(pick("betti-low").mean()), pick("random")
                vs_random = "win" if high > rnd.max() else "loss" if high < rnd.min() else "tie"
                vs_low = "tie" if abs(high - low) * 100 < tie_pp else "win" if high > low else "loss"
                cells.append({"data": name, "finetuned": ft, "fraction": f, "betti_high": high, "betti_low": low,
                              "random_min": rnd.min(), "random_max": rnd.max(), "vs_random": vs_random,
                              "vs_low": vs_low})
    return pd.DataFrame(cells, columns=["data", "finetuned", "fraction", "betti_high", "betti_low", "random_min",
                                        "random_max", "vs_random", "vs_low"])


def baseline_answer(cells: pd.DataFrame, column: str, margin: float = MARGIN) -> tuple[str, int, int, int]:
    """Rule 4 overall: "yes", "no" or "no clear difference", with the wins, losses and cells counted.

    "yes" when ``wins - losses >= margin * n`` over the ``n`` cells of ``column`` ("vs_random" or
    "vs_low" of :func:`baseline_cells`), "no" when ``losses - wins >= margin * n``, otherwise
    "no clear difference".
    """
    column = _checks.choice(column, "column", ("vs_random", "vs_low"))
    margin = _checks.real(margin, "margin", minimum=0, maximum=1, fix="a share of the cells, e.g. 0.25")
    if not isinstance(cells, pd.DataFrame) or column not in cells.columns:
        raise _checks.InvalidParameterError(f"cells must be baseline_cells(...)'s table, with a {column!r} column")
    wins, losses = int((cells[column] == "win").sum()), int((cells[column] == "loss").sum())
    n = len(cells)
    verdict = ("yes" if wins - losses >= margin * n else "no" if losses - wins >= margin * n
               else "no clear difference")
    return verdict, wins, losses, n


def _check_judged(judged) -> None:
    if not isinstance(judged, PaperRuleJudgement):
        raise _checks.InvalidParameterError(
            f"judged must be judge_paper_rule(...)'s result, got {type(judged).__name__}")


def _combined(supported) -> str:
    """All supported: reproduced; none: not reproduced; otherwise mixed."""
    supported = [bool(s) for s in supported]
    return "reproduced" if all(supported) else "not reproduced" if not any(supported) else "mixed"


def accuracy_claim(judged: PaperRuleJudgement, seed: int = 0) -> dict:
    """The report's ``prune-accuracy`` record (keywords of :func:`topokit.report.record_claim`, figure aside).

    Rule: reproduced when rule 1 is supported on every data set (as pruned or after fine-tuning),
    not reproduced when on none, mixed otherwise. The headline value is the largest accuracy
    loss after fine-tuning over the data sets (the smallest change), with a paired 95% bootstrap
    interval over the test images (:func:`topokit.stats.mean_difference`, seeded by ``seed``).
    """
    _check_judged(judged)
    seed = _checks.integer(seed, "seed", minimum=0)
    alpha, threshold, claim1 = judged.alpha, judged.threshold, judged.accuracy
    changes = {name: _stats.mean_difference(c["orig"].astype(float), c["finetuned"].astype(float), paired=True,
                                            seed=seed)
               for name, c in judged.correct.items()}
    worst = min(changes, key=lambda n: changes[n].estimate)
    ok_any = claim1.groupby("data").supported.any()
    return dict(
        verdict=_combined(ok_any), value=changes[worst].estimate, low=changes[worst].low, high=changes[worst].high,
        measured=(f"accuracy change after pruning every filter with Betti score > {threshold:g} and "
                  f"{judged.finetune_epochs} epoch(s) of fine-tuning: "
                  + "; ".join(f"{n} {ch.estimate:+.3f} (95% CI {ch.low:+.3f} to {ch.high:+.3f})"
                              for n, ch in changes.items())),
        reason=(f"supported (McNemar, one-sided {alpha:.0%}) on {int(ok_any.sum())} of {len(ok_any)} data sets, as "
                "pruned or after fine-tuning"),
        rule="supported on every data set: reproduced; on none: not reproduced; otherwise mixed (per data set: at "
             f"least one filter removed and no significant accuracy loss, McNemar one-sided at {alpha:.0%})",
        details={"per_dataset": claim1.astype({"supported": bool}).to_dict("records")})


def speed_size_claim(judged: PaperRuleJudgement) -> dict:
    """The report's ``prune-speed-size`` record (keywords of :func:`topokit.report.record_claim`, figure aside).

    Rule: reproduced when every latency comparison (batch 1 and 256, rule 2) and every size
    comparison (rule 3) is supported, not reproduced when none is, mixed otherwise. The headline
    value is the smallest latency ratio before/after.
    """
    _check_judged(judged)
    claim2, claim3 = judged.latency, judged.size
    speed = claim2.assign(ratio=claim2.before_ms / claim2.after_ms)
    return dict(
        verdict=_combined(list(claim2.supported) + list(claim3.supported)), value=float(speed.ratio.min()),
        measured=("latency before/after (median): "
                  + "; ".join(f"{r.data} batch {r.batch} {r.ratio:.2f}x" for r in speed.itertuples())
                  + "; saved size: "
                  + "; ".join(f"{r.data} {r.bytes_before:,} -> {r.bytes_after:,} bytes" for r in claim3.itertuples())),
        reason=(f"{int(claim2.supported.sum())} of {len(claim2)} latency comparisons and {int(claim3.supported.sum())} "
                f"of {len(claim3)} size comparisons supported (latency: median + IQR/2 below the original's median - "
                "IQR/2)"),
        rule="every latency comparison (batch 1 and 256) and every size comparison supported: reproduced; none: not "
             "reproduced; otherwise mixed",
        details={"latency": speed.to_dict("records"), "size": claim3.to_dict("records")})
