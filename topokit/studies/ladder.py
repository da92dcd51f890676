"""The activation claim on a ladder of Betti numbers, with the same tuning budget on every rung.

The paper states its 1.5-2x fewer epochs for synthetic sets "with Betti numbers above 150"; our
evaluation sets stop at 18-25 because larger ones did not train on an affordable budget. This
study answers with a curve instead of a point:

- **Rungs** of increasing Betti number in four families of known topology (:data:`FAMILIES`):
  D-I-grid (g x g disks), checkerboard (c x c cells), spirals (g x g cells of two interleaved arms)
  and rings (g x g Hopf links in 3-D). A rung's Betti number is the larger of its two classes'
  totals (beta_0 + beta_1 + ...): D-I-grid g = 13 is 170 (the holed square: 1 + 169), checkerboard
  c = 18 is 162.
- **Activations** (:data:`ACTIVATIONS`): ReLU, leaky ReLU, tanh, ``topo`` and, as a check, one other
  member of the collapse family, :data:`CHECK_MEMBER` (w = 0.1, s = -0.2). It is a *fixed* member,
  not read from a cache, so the ladder does not depend on which notebook ran before it: the member
  that notebook 03's default-mode selection picked when it was rerun on an Intel Xeon (issue 15),
  where the frozen ``topo`` (w = 0.1, s = -0.5) came from the same rule on an AMD EPYC. If ``topo``'s
  lead were an accident of the frozen slope, this runner-up would show it.
- **Fair tuning**: every activation gets the same Optuna search (TPE sampler with a fixed seed, a
  fixed number of trials) over :data:`SEARCH`, each trial trained on *selection* seeds for at most
  ``max_epochs`` epochs and scored by :func:`trial_score`; the best trial's recipe is then trained
  on *evaluation* seeds that the search never saw. TPE starts with 10 random trials drawn from the
  sampler's seed, the same for every activation and rung, so a budget of 10 trials or fewer is a
  shared random search (each activation keeps its best of the same candidates); above 10, TPE
  adapts to each activation's own results. Every run of every trial is a cache entry (kind
  ``ladder-trial``; evaluation runs ``ladder-run``), so a rerun tunes nothing and the search can be
  shown in full.
- **Verdicts per rung** (:func:`summarize`, :func:`rung_verdicts`): the share of evaluation runs
  that converged per activation, and the speed-up of ``topo`` over each baseline (ratio of
  Kaplan-Meier median epochs, censored runs kept, 95% bootstrap interval) with the project's
  verdict rule (:func:`topokit.stats.verdict`: reproduced when the ratio is >= 1.5 and the interval
  lies above 1; not reproduced when the interval lies below 1.5; mixed otherwise). A rung's verdict
  is the one against ReLU, as in the report's ``epochs`` claim. A rung on which no activation
  trained is reported as "not testable: no activation converged within N trials x E epochs", never
  dropped.

Remedies for high-frequency targets, all in the search space (:data:`SEARCH`), so that "did not
train" means "did not train with any of them": wider nets (width up to 256) and deeper ones (up to
8 hidden layers); learning-rate warm-up (``warmup_epochs``, a linear ramp, see
:func:`topokit.training.fit`); input scaling (standardised inputs: the large rungs' coordinates
have a standard deviation of 10-30); a range of learning rates and batch sizes (smaller batches:
more steps per epoch). Longer schedules are the epoch cap ``max_epochs`` (the budget): a trial
stops at convergence, so a schedule shorter than the cap could only converge later or not at all,
and the cap is raised rather than searched below itself (full mode runs the longest).

Engines: runs without warm-up train all seeds of one recipe together with
:func:`topokit.training.fit_ensemble` (``engine="fast"``, batched over seeds, deterministic, each
seed's run independent of the others; on 800 points, 40 epochs, measured under load: 2.5-8x faster
than fit even for a single seed, 6x for two seeds at batches of 128); runs with warm-up use :func:`topokit.training.fit` one by one while the fast engine lacks the
option (:func:`engine_for`). The engine is part of every run's cache key.
"""
from __future__ import annotations

import functools
import inspect
import math
import time
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
from ..cache import MISSING, Cache, code_version, make_key

__all__ = ["FAMILIES", "ACTIVATIONS", "CHECK_MEMBER", "SEARCH", "Rung", "rungs", "trial_score", "engine_for", "tune",
           "evaluate", "ladder", "summarize", "shares", "rung_verdicts", "headline", "plot_ladder", "plot_search", "cost_estimate",
           "MIN_POINTS_PER_CELL", "Plan", "plan"]

#: family -> (the dataset parameter that sets the rung, the rungs' values, cells per value)
FAMILIES = {
    "D-I-grid": ("g", (3, 5, 7, 9, 11, 13)),
    "checkerboard": ("c", (4, 6, 8, 10, 14, 18)),
    "spirals": ("g", (2, 3, 5, 7, 9, 13)),
    "rings": ("g", (2, 3, 5, 7, 9)),
}

#: The collapse-family member run as a check next to ``topo`` (w, s): see the module docstring.
CHECK_MEMBER = (0.1, -0.2)

#: The activations compared on every rung: the baselines, ``topo`` and the check member.
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "topo", _activations.member_name(*CHECK_MEMBER))

#: The search space every activation gets (batch size 0 = full batch; warm-up in epochs).
SEARCH = {"width": (32, 64, 128, 256), "depth": (2, 8), "lr": (1e-4, 3e-2), "batch_size": (64, 128, 256, 0),
          "scale_inputs": (False, True), "warmup_epochs": (0, 5, 20)}

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

    Raises
    ------
    topokit._checks.InvalidParameterError
        An unknown family, an empty list, a bad value, or a rung whose points cannot be drawn
        (too many cells for ``n``), before any data are drawn.
    """
    families = list(FAMILIES) if families is None else [
        _checks.choice(f, "family", FAMILIES) for f in ([families] if isinstance(families, str) else families)]
    if not families:
        raise _checks.InvalidParameterError("families is empty; choose from " + ", ".join(FAMILIES))
    upto = _checks.integer(upto, "upto", minimum=1, allow_none=True)
    n = _checks.integer(n, "n", minimum=2, allow_none=True)
    unknown = sorted(set(values or {}) - set(FAMILIES))
    if unknown:
        raise _checks.InvalidParameterError(f"values names unknown families {unknown}; choose from " + ", ".join(FAMILIES))
    chosen = []
    for fam in families:
        param, default = FAMILIES[fam]
        for v in (values or {}).get(fam, default):
            v = _checks.integer(v, f"{fam} {param}", minimum=1 if param == "g" else 2)
            cells = _cells(fam, v)
            if n is not None and n < MIN_POINTS_PER_CELL * cells * 2:
                raise _checks.InvalidParameterError(
                    f"{fam} {param}={v} has {cells} cells per class but n={n} points give fewer than "
                    f"{MIN_POINTS_PER_CELL} per cell; pass n >= {MIN_POINTS_PER_CELL * cells * 2} or a smaller {param}")
            chosen.append((fam, param, v, cells))
    out = []
    for fam, param, v, cells in chosen:
        truth = _data.load(fam, split="homology", **{param: v}, n=max(2 * cells * 4, 50)).betti
        betti = max(sum(truth[0]), sum(truth[1]))
        out.append(Rung(fam, param, v, betti, cells, {"n": n} if n is not None else {}))
    out = [r for r in out if upto is None or r.betti <= upto]
    return sorted(out, key=lambda r: (r.betti, r.family))


@dataclass(frozen=True)
class Plan:
    """What notebook 07 runs in one mode: the rungs, the search budget and the seeds (see :func:`plan`)."""

    rungs: list
    n_trials: int
    max_epochs: int
    selection_seeds: tuple
    seeds: tuple
    target: float
    device: str
    n_jobs: int

    def ladder_kwargs(self) -> dict:
        """The keyword arguments of :func:`ladder` (everything but the rungs)."""
        return {"seeds": self.seeds, "n_trials": self.n_trials, "max_epochs": self.max_epochs,
                "selection_seeds": self.selection_seeds, "target": self.target, "device": self.device,
                "n_jobs": self.n_jobs}


#: Training points per rung in default mode (enough for every lowest rung: 40 per cell).
DEFAULT_POINTS = 800


def plan(mode: str) -> Plan:
    """The ladder notebook 07 runs in ``mode`` ("quick", "default" or "full").

    - quick (CI): two tiny rungs (spirals g = 1 and D-I-grid g = 2 at 320 points), 2 trials of
      at most 20 epochs on one selection seed, 3 evaluation seeds: the machinery, no verdict.
    - default: the lowest rung of each family at :data:`DEFAULT_POINTS` points, 4 trials of at
      most 150 epochs on one selection seed, 5 evaluation seeds, 2 workers (about 6 minutes on 2
      idle cores; see notebook 07 for the measured time).
    - full: every rung of :data:`FAMILIES` at its family's own density, 20 trials of at most 500
      epochs on 2 selection seeds, 10 evaluation seeds, CUDA when present (``device="auto"``),
      resumable through the cache (and on a Dask cluster when ``TOPOKIT_SCHEDULER`` names one).

    Every mode trains to 99% training accuracy (the target of the grid recipes, whose rungs have
    points right at the cell borders) and uses the same search space (:data:`SEARCH`).
    """
    mode = _checks.choice(mode, "mode", ("quick", "default", "full"))
    common = dict(target=0.99, selection_seeds=(1000, 1001))
    if mode == "quick":
        return Plan(rungs(["D-I-grid", "spirals"], values={"D-I-grid": (2,), "spirals": (1,)}, n=320), n_trials=2,
                    max_epochs=20, seeds=(0, 1, 2), device="cpu", n_jobs=1, **{**common, "selection_seeds": (1000,)})
    if mode == "default":
        lowest = {f: (min(v),) for f, (_, v) in FAMILIES.items()}
        return Plan(rungs(values=lowest, n=DEFAULT_POINTS), n_trials=4, max_epochs=150, seeds=tuple(range(5)),
                    device="cpu", n_jobs=2, **{**common, "selection_seeds": (1000,)})
    return Plan(rungs(), n_trials=20, max_epochs=500, seeds=tuple(range(10)), device="auto", n_jobs=2, **common)


def trial_score(epochs: Optional[int], best_accuracy: float, max_epochs: int) -> float:
    """What the search minimises for one run: epochs to converge, or more than the cap when it did not.

    A run that converged scores its epochs (<= ``max_epochs``); one that did not scores
    ``max_epochs * (2 - best training accuracy)``, so among failures the closer one ranks first and
    every failure ranks after every success.
    """
    if epochs is not None:
        return float(epochs)
    return float(max_epochs) * (2.0 - float(best_accuracy))


def _check_activation(a) -> str:
    """A registry name (``relu``, ``topo`` ...) or a collapse-family member's name (``collapse_w0.1_sm0.2``)."""
    if isinstance(a, str) and _activations.parse_member(a) is not None:
        return a
    return _checks.choice(a, "activation", _activations.available_activations(),
                          fix="or a collapse-family member named like 'collapse_w0.1_sm0.2'")


def engine_for(params: dict) -> str:
    """The engine a recipe trains with: ``"fast"`` (batched over seeds) unless it warms up and
    :func:`topokit.training.fit_ensemble` cannot yet (then ``"exact"``: one :func:`~topokit.training.fit` per seed)."""
    if not params.get("warmup_epochs") or "warmup_epochs" in inspect.signature(_training.fit_ensemble).parameters:
        return "fast"
    return "exact"


def _net(rung: Rung, activation: str, width: int, depth: int, seed: int, in_dim: int):
    return _models.mlp(in_dim, width, depth, activation, seed=seed)


def _inputs(rung: Rung, scale: bool) -> tuple:
    d = rung.load("train", seed=0)
    X = d.X
    if scale:
        X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    return X, d.y


def _outcome(res, points: int) -> dict:
    h = res.history
    best = float(h["train_accuracy"].max()) if len(h) else 0.0
    return {"epochs": res.epochs_to_converge, "best_accuracy": best, "epochs_run": int(len(h)), "points": points,
            "seconds": float(h["seconds"].iloc[-1]) if len(h) else 0.0,
            "diverged": res.params.get("diverged_at") is not None}


def _train(rung: Rung, activation: str, params: dict, seeds: Sequence[int], max_epochs: int, target: float,
           engine: str, device: str) -> list:
    """The runs of one recipe on the train split of the rung's data seed 0, one per seed (its net and batches).

    A run whose loss diverges is kept as not converged (``diverged``), never dropped.
    """
    X, y = _inputs(rung, params["scale_inputs"])
    opts = dict(max_epochs=max_epochs, lr=params["lr"], batch_size=params["batch_size"] or None, lr_decay=None,
                target_accuracy=target, progress=False, device=device)
    warmup = int(params.get("warmup_epochs", 0))
    nets = [_net(rung, activation, params["width"], params["depth"], s, X.shape[1]) for s in seeds]
    if engine == "fast":
        extra = {"warmup_epochs": warmup} if warmup else {}
        res = _training.fit_ensemble(nets, X, y, list(seeds), engine="fast", on_diverge="censor", num_threads=1,
                                     **opts, **extra)
        return [_outcome(r, len(y)) for r in res]
    out = []
    for net, s in zip(nets, seeds):
        try:
            out.append(_outcome(_training.fit(net, X, y, seed=s, num_threads=1, warmup_epochs=warmup, **opts), len(y)))
        except FloatingPointError:
            out.append({"epochs": None, "best_accuracy": 0.0, "epochs_run": 0, "points": len(y), "seconds": 0.0,
                        "diverged": True})
    return out


@functools.lru_cache(maxsize=None)
def _code() -> str:
    """The version of the code a ladder run depends on (the functions as defined, even if wrapped later;
    computed once per process)."""
    return code_version(*_CODE, _models, _training, _data)


_CODE = (_train, _net, _inputs, _outcome)


class _Uncached(Exception):
    """Raised by :func:`_runs` in cache-only mode when a run is not stored (the cell goes to a worker)."""


#: While true (ladder's first pass before starting workers), a run that is not cached raises _Uncached.
_CACHE_ONLY = [False]


def _runs(cache: Cache, kind: str, rung: Rung, activation: str, params: dict, seeds: Sequence[int],
          max_epochs: int, target: float, device: str) -> tuple[list, list]:
    """Each seed's run of one recipe, from the cache where stored; the missing seeds trained together.

    Returns the runs and, per run, whether it came from the cache (counted here, since the cache
    object of a joblib worker is not the caller's)."""
    engine = engine_for(params)
    dev = _training.resolve_device(device).type
    base = {"rung": [rung.family, rung.param, rung.value, rung.data_params], "activation": activation,
            "params": params, "max_epochs": max_epochs, "target": target, "engine": engine}
    if dev != "cpu":
        base["device"] = dev
    code = [_code()]
    configs = [{**base, "seed": int(s)} for s in seeds]
    keys = [make_key(c, code) for c in configs]
    found = [cache.get(kind, k, config=c) for k, c in zip(keys, configs)]
    missing = [i for i, v in enumerate(found) if v is MISSING]
    if missing and _CACHE_ONLY[0]:
        raise _Uncached(kind)
    cache.stats.hits += len(seeds) - len(missing)
    if missing:
        cache.stats.misses += len(missing)
        cache.require_writable(kind)
        cpu = time.process_time()
        fresh = _train(rung, activation, params, [int(seeds[i]) for i in missing], max_epochs, target, engine, dev)
        cpu = time.process_time() - cpu  # this process's CPU time: what the run cost, whatever else the machine ran
        epochs = sum(max(v["epochs_run"], 1) for v in fresh)
        fresh = [{**v, "cpu_seconds": cpu * max(v["epochs_run"], 1) / epochs} for v in fresh]
        for i, value in zip(missing, fresh):
            found[i] = cache.put(kind, keys[i], value, config=configs[i])
    return found, [i not in missing for i in range(len(seeds))]


def _suggest(trial) -> dict:
    return {"width": trial.suggest_categorical("width", list(SEARCH["width"])),
            "depth": trial.suggest_int("depth", *SEARCH["depth"]),
            "lr": trial.suggest_float("lr", *SEARCH["lr"], log=True),
            "batch_size": trial.suggest_categorical("batch_size", list(SEARCH["batch_size"])),
            "scale_inputs": trial.suggest_categorical("scale_inputs", list(SEARCH["scale_inputs"])),
            "warmup_epochs": trial.suggest_categorical("warmup_epochs", list(SEARCH["warmup_epochs"]))}


def _check_budget(n_trials, max_epochs, target, selection_seeds) -> tuple:
    n_trials = _checks.integer(n_trials, "n_trials (the search budget)", minimum=1, maximum=10_000,
                               fix="the same number of trials for every activation, e.g. 20")
    max_epochs = _checks.integer(max_epochs, "max_epochs", minimum=1, maximum=_training.MAX_EPOCHS)
    target = _checks.real(target, "target", minimum=0, maximum=1, include_min=False,
                          fix="a training accuracy such as 0.99 or 1.0")
    if isinstance(selection_seeds, (str, bytes)) or not hasattr(selection_seeds, "__iter__"):
        raise _checks.InvalidParameterError(f"selection_seeds must be a list of integers, got {selection_seeds!r}")
    seeds = [_checks.integer(s, "each selection seed", minimum=0) for s in selection_seeds]
    if not seeds:
        raise _checks.InvalidParameterError("selection_seeds is empty; pass e.g. (1000, 1001)")
    return n_trials, max_epochs, target, seeds


def tune(rung: Rung, activation: str, *, n_trials: int = 20, max_epochs: int = 300,
         selection_seeds: Sequence[int] = (1000, 1001), target: float = 1.0, search_seed: int = 0,
         cache_dir=None, device: str = "cpu") -> tuple[dict, pd.DataFrame]:
    """Optuna's TPE search for one activation on one rung; every trial's runs cached.

    Parameters
    ----------
    rung : Rung
    activation : str
        A registry name or a collapse-family member's name.
    n_trials : int, default 20
        The search budget, the same for every activation (>= 1).
    max_epochs : int, default 300
        Each run's epoch cap.
    selection_seeds : sequence of int
        The seeds every trial trains (nets and batches); disjoint from the evaluation seeds.
    target : float, default 1.0
        Training accuracy that counts as converged.
    search_seed : int, default 0
        Seed of the TPE sampler.
    cache_dir : path, optional
    device : {"cpu", "cuda", "auto"}, default "cpu"

    Returns
    -------
    (best params, trials)
        ``trials`` has one row per trial: its parameters, the mean :func:`trial_score` over the
        selection seeds, how many of them converged, the epochs they ran, their seconds (as
        measured when they were trained) and whether they all came from the cache (``cached``).
    """
    import optuna

    if not isinstance(rung, Rung):
        raise _checks.InvalidParameterError(f"rung must be a Rung (see rungs()), got {type(rung).__name__}")
    activation = _check_activation(activation)
    n_trials, max_epochs, target, seeds = _check_budget(n_trials, max_epochs, target, selection_seeds)
    search_seed = _checks.integer(search_seed, "search_seed", minimum=0)
    cache = Cache(cache_dir)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial raises; no warning per trial
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=search_seed))
    rows = []

    def objective(trial):
        params = _suggest(trial)
        runs, hits = _runs(cache, "ladder-trial", rung, activation, params, seeds, max_epochs, target, device)
        score = float(np.mean([trial_score(r["epochs"], r["best_accuracy"], max_epochs) for r in runs]))
        rows.append({**params, "trial": trial.number, "score": score,
                     "converged": sum(r["epochs"] is not None for r in runs), "runs": len(runs),
                     "epochs_run": sum(r["epochs_run"] for r in runs), "seconds": sum(r["seconds"] for r in runs),
                     "cpu_seconds": sum(r.get("cpu_seconds", math.nan) for r in runs),
                     "points": runs[0]["points"], "engine": engine_for(params), "cached": all(hits)})
        return score

    study.optimize(objective, n_trials=n_trials)
    return dict(study.best_params), pd.DataFrame(rows)


def evaluate(rung: Rung, activation: str, params: dict, seeds: Sequence[int], *, max_epochs: int = 300,
             target: float = 1.0, cache_dir=None, device: str = "cpu") -> pd.DataFrame:
    """The tuned recipe on evaluation seeds: one row per run (censored runs have NaN epochs; ``cached``
    says whether the run was read from the cache)."""
    cache = Cache(cache_dir)
    found, hits = _runs(cache, "ladder-run", rung, _check_activation(activation), dict(params),
                        [int(s) for s in seeds], max_epochs, target, device)
    return pd.DataFrame([
        {"family": rung.family, "rung": rung.value, "betti": rung.betti, "activation": activation, "seed": int(s),
         "epochs_to_converge": np.nan if r["epochs"] is None else r["epochs"], "converged": r["epochs"] is not None,
         "best_accuracy": r["best_accuracy"], "epochs_run": r["epochs_run"], "seconds": r["seconds"],
         "cpu_seconds": r.get("cpu_seconds", math.nan),
         "points": r["points"],
         "max_epochs": max_epochs, "engine": engine_for(params), "cached": hit}
        for s, r, hit in zip(seeds, found, hits)])


def _cell(r: Rung, a: str, seeds, kw: dict) -> tuple:
    """Tune one activation on one rung, then evaluate its best recipe (one unit of parallel work)."""
    best, tr = tune(r, a, **kw)
    ev = {k: kw[k] for k in ("max_epochs", "target", "cache_dir", "device")}
    runs = evaluate(r, a, best, seeds, **ev).assign(**{f"best_{k}": v for k, v in best.items()})
    return runs, tr.assign(family=r.family, rung=r.value, betti=r.betti, activation=a)


def ladder(rung_list: Sequence[Rung], activations: Sequence[str] = ACTIVATIONS, seeds: Sequence[int] = range(10), *,
           n_trials: int = 20, max_epochs: int = 300, selection_seeds: Sequence[int] = (1000, 1001),
           target: float = 1.0, cache_dir=None, device: str = "cpu", n_jobs: int = 1,
           progress: Optional[bool] = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tune every activation on every rung with the same budget, then train the evaluation seeds.

    Parameters
    ----------
    rung_list : list of Rung
    activations : sequence of str, default :data:`ACTIVATIONS`
    seeds : sequence of int
        Evaluation seeds (disjoint from ``selection_seeds``).
    n_trials, max_epochs, selection_seeds, target
        As in :func:`tune`; every activation on every rung gets the same.
    cache_dir : path, optional
    device : {"cpu", "cuda", "auto"}, default "cpu"
        "auto" trains on CUDA when present (the engine, and the device when not the CPU, are in
        each run's cache key).
    n_jobs : int, default 1
        joblib workers over (rung, activation) cells, one torch thread each; with a Dask scheduler
        named by ``TOPOKIT_SCHEDULER`` they run on that cluster (:func:`topokit.parallel.backend`;
        its workers must share the cache folder).
    progress : bool, optional

    Returns
    -------
    (runs, trials)
        ``runs``: one row per evaluation run; ``trials``: every search trial with its rung and
        activation. Resumable: finished trials and runs are cache hits.

    Raises
    ------
    topokit._checks.InvalidParameterError
        Before any training: no rungs, an unknown activation, empty or overlapping seeds, a search
        budget below 1, a bad cap, target or device.
    """
    from tqdm.auto import tqdm

    from .. import parallel as _parallel
    from ..fileio import progress_enabled

    if isinstance(rung_list, Rung) or not rung_list or not all(isinstance(r, Rung) for r in rung_list):
        raise _checks.InvalidParameterError("rung_list must be a non-empty list of Rung (see rungs())")
    if isinstance(activations, str):
        activations = [activations]
    acts = [_check_activation(a) for a in activations]
    if not acts:
        raise _checks.InvalidParameterError("activations is empty; pass e.g. ('relu', 'topo')")
    seeds = [_checks.integer(s, "each seed", minimum=0) for s in seeds]
    if not seeds:
        raise _checks.InvalidParameterError("seeds is empty; pass e.g. range(10)")
    n_trials, max_epochs, target, sel = _check_budget(n_trials, max_epochs, target, selection_seeds)
    if set(seeds) & set(sel):
        raise _checks.InvalidParameterError(
            f"evaluation seeds must differ from the selection seeds {sel}; overlap {sorted(set(seeds) & set(sel))}")
    _checks.choice(device, "device", ("cpu", "cuda", "auto"))
    _training.resolve_device(device)
    n_jobs = _checks.integer(n_jobs, "n_jobs", minimum=1, fix="e.g. n_jobs=2")
    kw = dict(n_trials=n_trials, max_epochs=max_epochs, selection_seeds=sel, target=target, cache_dir=cache_dir,
              device=device)
    cells = [(r, a) for r in rung_list for a in acts]
    bar = tqdm(total=len(cells), desc="Betti ladder", disable=not progress_enabled(progress))
    if n_jobs == 1:
        done = []
        for r, a in cells:
            done.append(_cell(r, a, seeds, kw))
            bar.update()
    else:
        from joblib import Parallel, delayed

        done, pending = [None] * len(cells), []
        _CACHE_ONLY[0] = True  # first the cells stored in full, here: a warm rerun starts no worker
        try:
            for i, (r, a) in enumerate(cells):
                try:
                    done[i] = _cell(r, a, seeds, kw)
                    bar.update()
                except _Uncached:
                    pending.append(i)
        finally:
            _CACHE_ONLY[0] = False
        if pending:
            with _parallel.backend():  # a Dask cluster when TOPOKIT_SCHEDULER names one, else local workers
                out = Parallel(n_jobs=n_jobs)(delayed(_cell)(*cells[i], seeds, kw) for i in pending)
            for i, d in zip(pending, out):
                done[i] = d
            bar.update(len(pending))
    bar.close()
    return pd.concat([d[0] for d in done], ignore_index=True), pd.concat([d[1] for d in done], ignore_index=True)


def _check_runs(runs) -> None:
    need = {"family", "rung", "betti", "activation", "seed", "epochs_to_converge", "converged", "max_epochs"}
    if not isinstance(runs, pd.DataFrame) or not need <= set(runs.columns):
        raise _checks.InvalidParameterError(f"runs must be ladder()'s table with columns {sorted(need)}")


def shares(runs: pd.DataFrame) -> pd.DataFrame:
    """Per rung and activation: the share of evaluation runs that converged, and how many ran.

    Returns
    -------
    DataFrame
        ``family, rung, betti, activation, converged (share), runs, median_epochs (KM)``.
    """
    _check_runs(runs)
    rows = []
    for (fam, val, act), part in runs.groupby(["family", "rung", "activation"], sort=False):
        cap = float(part["max_epochs"].max())
        rows.append({"family": fam, "rung": val, "betti": int(part["betti"].iloc[0]), "activation": act,
                     "converged": float(part["converged"].mean()), "runs": len(part),
                     "median_epochs": _stats.km_median(part["epochs_to_converge"].tolist(), cap=cap)})
    return pd.DataFrame(rows).sort_values(["betti", "family"], kind="stable", ignore_index=True)


def summarize(runs: pd.DataFrame, candidate: str = "topo", baselines: Optional[Sequence[str]] = None, *,
              n_trials: Optional[int] = None, n_boot: int = 2000) -> pd.DataFrame:
    """Per rung and baseline: share converged, speed-up of ``candidate`` with its interval, verdict.

    A rung where no activation converged gets the verdict "not testable" and says within what
    budget; it stays in the table. So does a rung whose candidate or baseline never converged
    while another did: its ratio is then 0 or infinite (Kaplan-Meier medians beyond the cap) and
    the verdict rule applies to it as to any other.
    """
    _check_runs(runs)
    baselines = [a for a in runs["activation"].unique() if a != candidate] if baselines is None else list(baselines)
    # the bootstraps take seconds and cannot change while the runs do not: a warm rerun reads the rows
    config = {"what": "summary", "runs": _runs_digest(runs), "candidate": candidate, "baselines": baselines,
              "n_trials": n_trials, "n_boot": n_boot}
    rows = Cache().memo("ladder-derived", config, lambda: _summary_rows(runs, candidate, baselines, n_trials, n_boot),
                        code=[_summary_rows, _stats])
    out = pd.DataFrame(rows)
    return out.sort_values(["betti", "family", "baseline"], kind="stable").reset_index(drop=True)


#: The columns of ladder()'s runs that :func:`summarize` reads.
_SUMMARY_COLUMNS = ["family", "rung", "betti", "activation", "seed", "epochs_to_converge", "converged", "max_epochs"]


def _runs_digest(runs: pd.DataFrame) -> str:
    """A hash of the values :func:`summarize` reads from ``runs`` (their order included)."""
    from ..fileio import frame_digest

    return frame_digest(runs[_SUMMARY_COLUMNS].reset_index(drop=True))


def _summary_rows(runs: pd.DataFrame, candidate: str, baselines: list, n_trials, n_boot: int) -> list[dict]:
    """:func:`summarize`'s rows, unsorted, as plain values (computed on a cache miss)."""
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
                row.update(ratio=float(s.ratio), low=float(s.low), high=float(s.high), verdict=s.verdict())
            rows.append({k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()})
    return rows


def rung_verdicts(summary: pd.DataFrame, reference: str = "relu") -> pd.DataFrame:
    """One row per rung: its verdict (``topo`` against ``reference``, as the report's epochs claim)
    and the verdicts against the other baselines, for the report's "Betti ladder" part."""
    if not isinstance(summary, pd.DataFrame) or not {"family", "rung", "betti", "baseline", "verdict"} <= set(summary):
        raise _checks.InvalidParameterError("summary must be summarize()'s table")
    rows = []
    for (fam, val), part in summary.groupby(["family", "rung"], sort=False):
        ref = part[part.baseline == reference]
        if ref.empty:
            raise _checks.InvalidParameterError(f"{fam} {val}: no row against {reference!r}; baselines there: "
                                                f"{sorted(part.baseline)}")
        r = ref.iloc[0]
        speed = "n/a" if np.isnan(r.ratio) else f"{r.ratio:.2f}x ({r.low:.2f}-{r.high:.2f})"
        rows.append({"family": fam, "rung": f"{FAMILIES[fam][0]}={val}" if fam in FAMILIES else str(val),
                     "Betti number": int(r.betti), f"topo vs {reference}": speed,
                     "converged (topo / ReLU)": f"{r.converged_candidate:.0%} / {r.converged_baseline:.0%}",
                     "verdict": r.verdict,
                     "other baselines": "" if _kind(r.verdict) == "not testable" else "; ".join(
                         f"{o.baseline}: {o.verdict}" for o in part.itertuples() if o.baseline != reference)})
    return pd.DataFrame(rows)


def _kind(verdict: str) -> str:
    return "not testable" if verdict.startswith("not testable") else verdict


def headline(verdicts: pd.DataFrame) -> str:
    """One sentence, in words, on where along the ladder the claim holds, fails or could not be tested."""
    if not isinstance(verdicts, pd.DataFrame) or not {"family", "rung", "Betti number", "verdict"} <= set(verdicts):
        raise _checks.InvalidParameterError("verdicts must be rung_verdicts()'s table")
    words = {"reproduced": "holds", "not reproduced": "fails", "mixed": "is undecided (mixed)",
             "not testable": "could not be tested (no activation trained)"}
    parts = []
    for kind in ("reproduced", "not reproduced", "mixed", "not testable"):
        d = verdicts[verdicts.verdict.map(_kind) == kind]
        if len(d):
            where = ", ".join(f"{r['family']} {r['rung']} (Betti {r['Betti number']})" for r in d.to_dict("records"))
            parts.append(f"{words[kind]} on {len(d)} ({where})")
    top = int(verdicts["Betti number"].max())
    return (f"Over {len(verdicts)} rungs up to Betti number {top}, the 1.5x claim (topo vs ReLU) "
            + "; ".join(parts) + ".")


def plot_search(trials: pd.DataFrame, rungs, max_epochs: int):
    """Each rung's search: every trial's score per activation (one panel per rung).

    ``trials`` is :func:`tune`'s record (``family, rung, activation, trial, score``); a score above
    ``max_epochs`` (the dotted line) is a trial that did not converge.
    """
    import matplotlib.pyplot as plt

    rungs = list(rungs)
    if not rungs:
        raise _checks.InvalidParameterError("rungs is empty; pass the plan's rungs (plan().rungs)")
    fig, axes = plt.subplots(1, len(rungs), figsize=(3.2 * len(rungs), 3.2), sharey=True, squeeze=False)
    for ax, r in zip(axes[0], rungs):
        d = trials[(trials.family == r.family) & (trials.rung == r.value)]
        for act, g in d.groupby("activation", sort=False):
            ax.plot(g.trial, g.score, "o-", label=act, alpha=0.7)
        ax.axhline(max_epochs, color="grey", ls=":", lw=0.8)
        ax.set(title=f"{r.label} (Betti {r.betti})", xlabel="trial")
    axes[0][0].set_ylabel("trial score (epochs; above the dotted cap: not converged)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _spaced(values: list, gap: float = 1.1) -> list:
    """Tick values at least a factor ``gap`` apart on a log axis (the first of a close group kept), so labels
    of rungs with nearly equal Betti numbers (49 and 50) do not print over each other."""
    kept = []
    for v in values:
        if not kept or v >= kept[-1] * gap:
            kept.append(v)
    return kept


def plot_ladder(summary: pd.DataFrame, share: pd.DataFrame, *, claimed: float = 1.5):
    """The figure that answers the paper: share converged and speed-up against the rung's Betti number.

    Left: the share of evaluation runs that converged per activation. Right: the speed-up of
    ``topo`` over each baseline (KM median ratio, 95% interval); a rung where nothing trained is
    marked with an x on the axis, an infinite or zero ratio with a triangle at the edge.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    families = list(dict.fromkeys(share.family))
    styles = dict(zip(families, ["-", "--", ":", "-."] * 4))
    for (act, d), marker, color in zip(share.groupby("activation", sort=False), "osD^vP*", plt.cm.tab10.colors):
        for fam, f in d.groupby("family", sort=False):  # one line per family: rungs of one family are comparable
            f = f.sort_values("betti")
            ax1.plot(f.betti, f.converged, marker=marker, ls=styles[fam], color=color, alpha=0.7,
                     label=act if fam == d.family.iloc[0] else None)
    for fam in families:
        ax1.plot([], [], ls=styles[fam], color="grey", label=fam)
    ax1.set(xscale="log", xlabel="Betti number of the rung (larger class)", ylabel="share of runs converged",
            ylim=(-0.05, 1.05), title="Did it train?")
    ax1.legend(fontsize=8)
    finite = summary[np.isfinite(summary.ratio) & (summary.ratio > 0)]
    hi = max(4.0, float(finite.high[np.isfinite(finite.high)].max()) * 1.2) if len(finite) else 4.0
    lo = 0.2
    offsets = {b: 1 + 0.04 * (i - 1) for i, b in enumerate(summary.baseline.unique())}
    for b, d in summary.groupby("baseline", sort=False):
        x = d.betti * offsets[b]
        ok = np.isfinite(d.ratio) & (d.ratio > 0)
        low = np.clip(d.low.fillna(lo), lo, hi)
        high = np.clip(d.high.replace(np.inf, hi).fillna(hi), lo, hi)
        line = ax2.errorbar(x[ok], d.ratio[ok], yerr=[(d.ratio - low)[ok].clip(lower=0), (high - d.ratio)[ok].clip(lower=0)],
                            fmt="o", capsize=3, label=f"topo vs {b}")
        edge = ~ok & d.ratio.notna()
        ax2.scatter(x[edge], np.where(d.ratio[edge] == 0, lo, hi), marker="^", color=line[0].get_color())
    undefined = summary[summary.ratio.isna() & ~summary.verdict.str.startswith("not testable")]
    if len(undefined):
        ax2.scatter(undefined.betti, [1.0] * len(undefined), marker="o", s=70, facecolors="none", edgecolors="grey",
                    label="undefined (both medians beyond the cap)")
    untestable = summary[summary.verdict.str.startswith("not testable")].drop_duplicates(["family", "rung"])
    if len(untestable):
        ax2.scatter(untestable.betti, [lo] * len(untestable), marker="x", s=80, color="k", zorder=5,
                    label="nothing trained")
    ax2.axhline(1.0, color="grey", lw=0.8)
    ax2.axhline(claimed, color="C3", ls="--", lw=0.8, label=f"claimed {claimed}x")
    ax2.set(xscale="log", yscale="log", ylim=(lo * 0.9, hi * 1.1), xlabel="Betti number of the rung (larger class)",
            ylabel="speed-up (KM median epochs ratio)", title="Speed-up of topo, 95% CI")
    ax2.set_yticks([t for t in (0.25, 0.5, 1, 1.5, 2, 3, 4, 8, 16) if lo <= t <= hi])
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        for axis in (ax.xaxis, ax.yaxis) if ax is ax2 else (ax.xaxis,):
            axis.set_major_formatter(ScalarFormatter())
            axis.set_minor_formatter(NullFormatter())
        ax.set_xticks(_spaced(sorted(set(int(b) for b in share.betti))))
    fig.tight_layout()
    return fig


def _points(rung: Rung) -> int:
    """The number of training points of ``rung`` (generating a high rung's data takes a second or
    more, so the count is cached, keyed by the rung and the data module's source)."""
    config = {"what": "points", "family": rung.family, "param": rung.param, "value": rung.value,
              "data": rung.data_params}
    return int(Cache().memo("ladder-derived", config, lambda: len(rung.load().y), code=[_data]))


def cost_estimate(runs: pd.DataFrame, trials: pd.DataFrame, plan: Sequence[Rung], *, n_trials: int,
                  selection_seeds: int, seeds: int, max_epochs: int, activations: int = len(ACTIVATIONS)) -> pd.DataFrame:
    """Extrapolated cost of a ladder plan from the measured runs: seconds per epoch per training point.

    The measured rate is the total CPU seconds (``cpu_seconds``: the training process's own CPU
    time, which other processes on a loaded machine do not inflate; wall ``seconds`` for runs
    cached before it was recorded) over the total (epochs run x points) of every run and trial (the search draws widths and depths from the same space on every rung, so the
    mix is the same); each planned rung's cost is that rate x its points x the epochs its runs may
    take. ``upper`` assumes every run reaches the cap (what an untrainable rung costs);
    ``expected`` uses the share of the cap the measured evaluation runs used (an optimistic
    guess for high rungs, where fewer runs converge early).

    Returns
    -------
    DataFrame
        One row per planned rung: ``family, rung, betti, points, runs, upper_hours, expected_hours``.
    """
    for name, v in (("n_trials", n_trials), ("selection_seeds", selection_seeds), ("seeds", seeds),
                    ("max_epochs", max_epochs), ("activations", activations)):
        _checks.integer(v, name, minimum=1)
    pts = {(r.family, r.value): _points(r) for r in plan}
    measured = pd.concat([runs, trials], ignore_index=True)
    timed = "cpu_seconds" if "cpu_seconds" in measured and measured.cpu_seconds.notna().all() else "seconds"
    work = float((measured.epochs_run * measured.points).sum())
    rate = float(measured[timed].sum()) / work if work else math.nan
    cap_used = float(runs.epochs_run.sum() / (len(runs) * runs.max_epochs.iloc[0])) if len(runs) else 1.0
    n_runs = activations * (n_trials * selection_seeds + seeds)
    rows = []
    for r in plan:
        n = pts[(r.family, r.value)]
        upper = rate * n * n_runs * max_epochs / 3600
        rows.append({"family": r.family, "rung": r.value, "betti": r.betti, "points": n, "runs": n_runs,
                     "upper_hours": upper, "expected_hours": upper * cap_used})
    return pd.DataFrame(rows)

