"""The activation claim on a ladder of Betti numbers, with the same tuning budget on every rung.

The paper states its 1.5-2x fewer epochs for synthetic sets "with Betti numbers above 150"; our
evaluation sets stop at 18-25 because larger ones did not train on an affordable budget. This
study answers with a curve instead of a point:

- **Rungs** of increasing Betti number in four families of known topology (:data:`FAMILIES`):
  D-I-grid (g x g disks), checkerboard (c x c cells), spirals (g x g cells of two interleaved arms)
  and rings (g x g Hopf links in 3-D). A rung's Betti number is the larger of its two classes'
  totals (beta_0 + beta_1 + ...): D-I-grid g = 13 is 170 (the holed square: 1 + 169), checkerboard
  c = 18 is 162.
- **Fair tuning**: every activation gets the same Optuna search (TPE sampler with a fixed seed, a
  fixed number of trials) over width, depth, learning rate, batch size and input scaling
  (:data:`SEARCH`), each trial trained on *selection* seeds for at most ``max_epochs`` epochs and
  scored by :func:`trial_score`; the best trial's recipe is then trained on *evaluation* seeds that
  the search never saw. Every trial is a cache entry (kind ``ladder-trial``), so a rerun tunes
  nothing and the search can be shown in full.
- **Verdicts per rung** (:func:`summarize`): the share of evaluation runs that converged per
  activation, and the speed-up of ``topo`` over each baseline (ratio of Kaplan-Meier median epochs,
  censored runs kept, 95% bootstrap interval) with the project's verdict rule
  (:func:`topokit.stats.verdict`). A rung on which no activation trained is reported as
  "not testable: no activation converged within N trials x E epochs", never dropped.

Remedies for high-frequency targets in the search space: wider and deeper nets, longer schedules
(``max_epochs``), input scaling (standardised inputs). Learning-rate warm-up is *not* in the space:
:func:`topokit.training.fit` has no warm-up schedule.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from .. import _checks
from .. import activations as _activations
from .. import data as _data
from .. import models as _models
from .. import stats as _stats
from .. import training as _training
from ..cache import Cache, code_version

__all__ = ["FAMILIES", "ACTIVATIONS", "SEARCH", "Rung", "rungs", "trial_score", "tune", "evaluate", "ladder",
           "summarize", "MIN_POINTS_PER_CELL"]

#: family -> (the dataset parameter that sets the rung, the rungs' values, cells per value)
FAMILIES = {
    "D-I-grid": ("g", (3, 5, 7, 9, 11, 13)),
    "checkerboard": ("c", (4, 6, 8, 10, 14, 18)),
    "spirals": ("g", (2, 3, 5, 7, 9, 13)),
    "rings": ("g", (2, 3, 5, 7, 9)),
}

#: The activations compared on every rung; add the best collapse-family member as a check.
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "topo")

#: The search space every activation gets (batch size 0 = full batch).
SEARCH = {"width": (32, 64, 128, 256), "depth": (2, 8), "lr": (1e-4, 3e-2), "batch_size": (64, 128, 256, 0),
          "scale_inputs": (False, True)}

#: A rung must give each cell (disk, square, arm, ring) at least this many training points.
MIN_POINTS_PER_CELL = 40


@dataclass(frozen=True)
class Rung:
    """One rung: a family, its size parameter and value, the data options and its Betti number."""

    family: str
    param: str
    value: int
    betti: int
    cells: int
    data_params: dict = field(default_factory=dict)

    @property
    def label(self) -> str:  # noqa: D102
        return f"{self.family} {self.param}={self.value}"

    def load(self, split: str = "train", seed: int = 0) -> _data.Dataset:
        """The rung's data (the train split trains, the test split measures accuracy)."""
        return _data.load(self.family, split=split, seed=seed, **{self.param: self.value}, **self.data_params)


def _cells(family: str, value: int) -> int:
    return value * value if family != "checkerboard" else (value * value + 1) // 2


def rungs(families: Optional[Sequence[str]] = None, *, upto: Optional[int] = None, values: Optional[dict] = None,
          n: Optional[int] = None) -> list[Rung]:
    """The ladder's rungs, lowest Betti number first.

    Parameters
    ----------
    families : sequence of str, optional
        Subset of :data:`FAMILIES` (default all).
    upto : int, optional
        Keep rungs whose Betti number is at most this (e.g. the lower rungs in default mode).
    values : dict, optional
        family -> values, replacing :data:`FAMILIES`' values (e.g. tiny rungs for a test).
    n : int, optional
        Training points per rung (default each family's own count per cell); refused when a cell
        would get fewer than :data:`MIN_POINTS_PER_CELL`.
    """
    families = list(FAMILIES) if families is None else [
        _checks.choice(f, "family", FAMILIES) for f in ([families] if isinstance(families, str) else families)]
    if not families:
        raise _checks.InvalidParameterError("families is empty; choose from " + ", ".join(FAMILIES))
    upto = _checks.integer(upto, "upto", minimum=1, allow_none=True)
    n = _checks.integer(n, "n", minimum=2, allow_none=True)
    out = []
    for fam in families:
        param, default = FAMILIES[fam]
        for v in (values or {}).get(fam, default):
            v = _checks.integer(v, f"{fam} {param}", minimum=1 if param == "g" else 2)
            cells = _cells(fam, v)
            if n is not None and n < MIN_POINTS_PER_CELL * cells * 2:
                raise _checks.InvalidParameterError(
                    f"{fam} {param}={v} has {cells} cells per class but n={n} points give fewer than "
                    f"{MIN_POINTS_PER_CELL} per cell; pass n >= {MIN_POINTS_PER_CELL * cells * 2} or a smaller {param}")
            truth = _data.load(fam, split="homology", **{param: v}, n=max(2 * cells * 4, 50)).betti
            betti = max(sum(truth[0]), sum(truth[1]))
            out.append(Rung(fam, param, v, betti, cells, {"n": n} if n is not None else {}))
    out = [r for r in out if upto is None or r.betti <= upto]
    return sorted(out, key=lambda r: (r.betti, r.family))


def trial_score(epochs: Optional[int], best_accuracy: float, max_epochs: int) -> float:
    """What the search minimises for one run: epochs to converge, or more than the cap when it did not.

    A run that converged scores its epochs (<= ``max_epochs``); one that did not scores
    ``max_epochs * (2 - best training accuracy)``, so among failures the closer one ranks first and
    every failure ranks after every success.
    """
    if epochs is not None:
        return float(epochs)
    return float(max_epochs) * (2.0 - float(best_accuracy))


def _net(rung: Rung, activation: str, width: int, depth: int, seed: int, in_dim: int):
    return _models.mlp(in_dim, width, depth, activation, seed=seed)


def _train(rung: Rung, activation: str, params: dict, seed: int, max_epochs: int, target: float) -> dict:
    """One run: the train split of the rung's data seed 0, the net and batches of this seed."""
    d = rung.load("train", seed=0)
    X = d.X
    if params["scale_inputs"]:
        X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    net = _net(rung, activation, params["width"], params["depth"], seed, X.shape[1])
    res = _training.fit(net, X, d.y, max_epochs=max_epochs, lr=params["lr"],
                        batch_size=params["batch_size"] or None, lr_decay=None, target_accuracy=target,
                        seed=seed, progress=False, num_threads=1)
    best = float(res.history["train_accuracy"].max()) if len(res.history) else 0.0
    return {"epochs": res.epochs_to_converge, "best_accuracy": best, "epochs_run": int(len(res.history))}


def _memo_train(cache: Cache, kind: str, rung: Rung, activation: str, params: dict, seed: int, max_epochs: int,
                target: float) -> dict:
    config = {"rung": [rung.family, rung.param, rung.value, rung.data_params], "activation": activation,
              "params": params, "seed": seed, "max_epochs": max_epochs, "target": target}
    return cache.memo(kind, config, lambda: _train(rung, activation, params, seed, max_epochs, target),
                      code=[_code()])


def _code() -> str:
    """The version of the code a ladder run depends on (the functions as defined, even if wrapped later)."""
    return code_version(*_CODE, _models, _training, _data)


_CODE = (_train, _net)


def tune(rung: Rung, activation: str, *, n_trials: int = 20, max_epochs: int = 300,
         selection_seeds: Sequence[int] = (1000, 1001), target: float = 1.0, search_seed: int = 0,
         cache_dir=None) -> tuple[dict, pd.DataFrame]:
    """Optuna's TPE search for one activation on one rung; every trial cached.

    Returns
    -------
    (best params, trials)
        ``trials`` has one row per trial: its parameters, the mean :func:`trial_score` over the
        selection seeds and how many of them converged.
    """
    import optuna

    activation = _checks.choice(activation, "activation", _activations.available_activations())
    n_trials = _checks.integer(n_trials, "n_trials (the search budget)", minimum=1, maximum=10_000,
                               fix="the same number of trials for every activation, e.g. 20")
    max_epochs = _checks.integer(max_epochs, "max_epochs", minimum=1, maximum=_training.MAX_EPOCHS)
    seeds = [_checks.integer(s, "each selection seed", minimum=0) for s in selection_seeds]
    if not seeds:
        raise _checks.InvalidParameterError("selection_seeds is empty; pass e.g. (1000, 1001)")
    cache = Cache(cache_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=search_seed))
    rows = []

    def objective(trial):
        params = {"width": trial.suggest_categorical("width", list(SEARCH["width"])),
                  "depth": trial.suggest_int("depth", *SEARCH["depth"]),
                  "lr": trial.suggest_float("lr", *SEARCH["lr"], log=True),
                  "batch_size": trial.suggest_categorical("batch_size", list(SEARCH["batch_size"])),
                  "scale_inputs": trial.suggest_categorical("scale_inputs", list(SEARCH["scale_inputs"]))}
        runs = [_memo_train(cache, "ladder-trial", rung, activation, params, s, max_epochs, target) for s in seeds]
        score = float(np.mean([trial_score(r["epochs"], r["best_accuracy"], max_epochs) for r in runs]))
        rows.append({**params, "trial": trial.number, "score": score,
                     "converged": sum(r["epochs"] is not None for r in runs), "runs": len(runs)})
        return score

    study.optimize(objective, n_trials=n_trials)
    best = dict(study.best_params)
    return best, pd.DataFrame(rows)


def evaluate(rung: Rung, activation: str, params: dict, seeds: Sequence[int], *, max_epochs: int = 300,
             target: float = 1.0, cache_dir=None) -> pd.DataFrame:
    """The tuned recipe on evaluation seeds: one row per run (censored runs have NaN epochs)."""
    cache = Cache(cache_dir)
    rows = []
    for s in seeds:
        r = _memo_train(cache, "ladder-run", rung, activation, params, int(s), max_epochs, target)
        rows.append({"family": rung.family, "rung": rung.value, "betti": rung.betti, "activation": activation,
                     "seed": int(s), "epochs_to_converge": np.nan if r["epochs"] is None else r["epochs"],
                     "converged": r["epochs"] is not None, "best_accuracy": r["best_accuracy"],
                     "max_epochs": max_epochs})
    return pd.DataFrame(rows)


def ladder(rung_list: Sequence[Rung], activations: Sequence[str] = ACTIVATIONS, seeds: Sequence[int] = range(10), *,
           n_trials: int = 20, max_epochs: int = 300, selection_seeds: Sequence[int] = (1000, 1001),
           target: float = 1.0, cache_dir=None, progress: Optional[bool] = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tune every activation on every rung with the same budget, then train the evaluation seeds.

    Returns
    -------
    (runs, trials)
        ``runs``: one row per evaluation run; ``trials``: every search trial with its rung and
        activation. Resumable: finished trials and runs are cache hits.
    """
    from tqdm.auto import tqdm

    from ..fileio import progress_enabled

    if not rung_list or not all(isinstance(r, Rung) for r in rung_list):
        raise _checks.InvalidParameterError("rung_list must be a non-empty list of Rung (see rungs())")
    acts = [_checks.choice(a, "activation", _activations.available_activations()) for a in activations]
    if not acts:
        raise _checks.InvalidParameterError("activations is empty; pass e.g. ('relu', 'topo')")
    seeds = [_checks.integer(s, "each seed", minimum=0) for s in seeds]
    if not seeds:
        raise _checks.InvalidParameterError("seeds is empty; pass e.g. range(10)")
    if set(seeds) & {int(s) for s in selection_seeds}:
        raise _checks.InvalidParameterError("evaluation seeds must differ from the selection seeds")
    _checks.integer(n_trials, "n_trials (the search budget)", minimum=1, maximum=10_000)
    runs, trials = [], []
    bar = tqdm(total=len(rung_list) * len(acts), desc="Betti ladder", disable=not progress_enabled(progress))
    for r in rung_list:
        for a in acts:
            best, tr = tune(r, a, n_trials=n_trials, max_epochs=max_epochs, selection_seeds=selection_seeds,
                            target=target, cache_dir=cache_dir)
            trials.append(tr.assign(family=r.family, rung=r.value, betti=r.betti, activation=a))
            runs.append(evaluate(r, a, best, seeds, max_epochs=max_epochs, target=target, cache_dir=cache_dir)
                        .assign(**{f"best_{k}": v for k, v in best.items()}))
            bar.update()
    bar.close()
    return pd.concat(runs, ignore_index=True), pd.concat(trials, ignore_index=True)


def summarize(runs: pd.DataFrame, candidate: str = "topo", baselines: Optional[Sequence[str]] = None, *,
              n_trials: Optional[int] = None, n_boot: int = 2000) -> pd.DataFrame:
    """Per rung and baseline: share converged, speed-up of ``candidate`` with its interval, verdict.

    A rung where no activation converged gets the verdict "not testable" and says within what
    budget; it stays in the table.
    """
    need = {"family", "rung", "betti", "activation", "seed", "epochs_to_converge", "converged", "max_epochs"}
    if not isinstance(runs, pd.DataFrame) or not need <= set(runs.columns):
        raise _checks.InvalidParameterError(f"runs must be ladder()'s table with columns {sorted(need)}")
    baselines = [a for a in runs["activation"].unique() if a != candidate] if baselines is None else list(baselines)
    rows = []
    for (fam, val), part in runs.groupby(["family", "rung"], sort=False):
        cap = float(part["max_epochs"].max())
        share = part.groupby("activation")["converged"].mean()
        cand = part[part.activation == candidate]["epochs_to_converge"]
        budget = f"{n_trials} trials x {int(cap)} epochs" if n_trials else f"{int(cap)} epochs per run"
        for b in baselines:
            base = part[part.activation == b]["epochs_to_converge"]
            row = {"family": fam, "rung": val, "betti": int(part["betti"].iloc[0]), "baseline": b,
                   "converged_candidate": float(share.get(candidate, np.nan)),
                   "converged_baseline": float(share.get(b, np.nan))}
            if not part["converged"].any():
                row.update(ratio=np.nan, low=np.nan, high=np.nan,
                           verdict=f"not testable: no activation converged within {budget}")
            elif cand.empty or base.empty:
                row.update(ratio=np.nan, low=np.nan, high=np.nan, verdict="not testable: missing runs")
            else:
                s = _stats.speedup(base.tolist(), cand.tolist(), cap=cap, n_boot=n_boot)
                row.update(ratio=s.ratio, low=s.low, high=s.high, verdict=s.verdict())
            rows.append(row)
    out = pd.DataFrame(rows)
    return out.sort_values(["betti", "family", "baseline"], kind="stable").reset_index(drop=True)
