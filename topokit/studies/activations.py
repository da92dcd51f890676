"""Notebook 03's study: designing the topological activation ``topo`` and comparing activations fairly.

Moved here from ``topokit.selection`` (which still re-exports every public name). The study's
configuration is :data:`FAMILY_GRID`, :data:`LR_FACTORS`, :data:`MIN_CONVERGED` and
:data:`SELECTION_DATASETS`; the per-dataset training recipes it starts from are the sweep engine's
(:data:`topokit.sweeps.RECIPES`), shared with notebooks 01 and 02. Verdicts: the per-dataset
verdicts of the report's ``epochs`` claim are :func:`compare`'s ``verdict`` column
(:func:`topokit.stats.verdict`), combined over datasets by :func:`combine_verdicts`; the
``betti-reduction`` rule is :func:`betti_verdict`. Both rules are stated in notebook 03 before the
numbers, and the specification curves (:func:`epoch_specifications`, :func:`betti_specifications`)
apply the same functions to every alternative choice.

Seeds per cell are planned from a pilot of the cell's own runs (:func:`plan_seeds`,
:func:`planned_sweep`); the selection's winner is resampled (:func:`winner_stability`); the MLP
verdicts are checked under the exact engine (:func:`engine_check`). Derived tables are cached by
the content of their runs (:func:`cached`), so a warm rerun reads them.

The family is :class:`topokit.activations.Collapse`, ``f(x) = max(x - w, 0) + s min(x + w, 0)``:
a dead zone ``[-w, w]`` collapsed to a point and a negative piece of slope ``s`` (flattened for
``s = 0``, folded back for ``s < 0``). Injective members (``w = 0, s > 0``) are homeomorphisms and
cannot change topology; every other member can.

Selection procedure (run on :data:`SELECTION_DATASETS` only; the evaluation sets are disjoint)
----------------------------------------------------------------------------------------------
1. **Equal tuning budget.** Every candidate (each member of :data:`FAMILY_GRID`, and the
   baselines) gets its learning rate from the same grid :data:`LR_FACTORS` (multiples of each
   recipe's learning rate), chosen on the selection sets only, over the same seeds and caps
   (:func:`tune_lr`). The chosen factor is then used on every evaluation set.
2. **Speed.** At its tuned rate, each member's Kaplan-Meier median epochs to the target per
   selection set, as a speed-up over ReLU's (ReLU's median / the member's), combined over sets
   by the geometric mean.
3. **Betti reduction.** On converged nets (:func:`topokit.sweeps.sweep_topology` on each set's
   homology split), ``omega_ratio``: the mean over the layers after the input of omega(layer) /
   omega(input), per class, averaged over classes and runs. 0 would be "collapsed at once", 1
   "no reduction"; lower means Betti numbers fall faster per layer.
4. **Rule** (fixed before running it): eligible members are non-injective, are not an existing
   registry entry, converge in at least :data:`MIN_CONVERGED` of their selection runs, and reduce
   Betti numbers at least as fast as ReLU (``omega_ratio <= ReLU's``); the winner is the eligible
   member with the largest speed-up; if none is eligible, the non-injective new member with the
   largest speed-up (and the notebook says so).

The winner is frozen as ``topo`` in :mod:`topokit.activations` (:data:`~topokit.activations.TOPO_PARAMS`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .. import _checks
from .. import activations as _activations
from .. import stats as _stats
from .. import sweeps as _sweeps

__all__ = [
    "BETTI_CHOICES",
    "BettiVerdict",
    "cached",
    "EPOCH_CHOICES",
    "betti_specifications",
    "betti_verdict",
    "combine_verdicts",
    "epoch_specifications",
    "relative_epochs",
    "FAMILY_GRID",
    "LR_FACTORS",
    "MIN_CONVERGED",
    "SELECTION_DATASETS",
    "Selection",
    "activation_name",
    "compare",
    "digest",
    "engine_check",
    "explorer_frames",
    "km_curves",
    "omega_ratio",
    "plan_seeds",
    "planned_sweep",
    "scaled_lr",
    "select_topo",
    "selection_rule",
    "tune_lr",
    "tuned_sweep",
    "winner_stability",
]

#: Members (w, s) tried. (0, 0) is ReLU itself (run under the name "relu"); (0, 0.1) an
#: injective control; w = 0.1 adds a dead zone to each slope. Chosen after a pilot on the
#: selection sets (seeds 0-2) where w = 0.3 left 32x6 nets dead at 50% accuracy.
FAMILY_GRID = tuple((w, s) for w in (0.0, 0.1) for s in (-1.0, -0.5, -0.2, 0.0, 0.1))

#: Learning-rate grid, as factors on each recipe's own rate (the same grid for every activation).
LR_FACTORS = (1 / 3, 1.0, 3.0)

#: Fraction of its selection runs a member must converge in to be eligible.
MIN_CONVERGED = 0.8

#: Selection sets: small members of the two large-Betti families, drawn with another data seed
#: than the evaluation sets, trained with the checkerboard recipe's 2-32x6-2 net. Disjoint from
#: the evaluation sets (D-I, D-II, D-III, D-I-grid g=5, checkerboard c=6 and the image sets).
SELECTION_DATASETS = (
    ("checkerboard", {"c": 5, "size": 0.3, "data_seed": 1}),
    ("D-I-grid", {"g": 3, "size": 0.3, "data_seed": 1, "width": 32, "depth": 6, "lr": 0.01, "batch_size": 256,
                  "max_epochs": 300, "target_accuracy": 0.99}),
)


def activation_name(w: float, s: float) -> str:
    """Sweep name of the family member (w, s): "relu" for (0, 0), else :func:`topokit.activations.member_name`."""
    return "relu" if (w, s) == (0.0, 0.0) else _activations.member_name(w, s)


def _entries(datasets) -> list:
    if isinstance(datasets, str) or (isinstance(datasets, tuple) and len(datasets) == 2
                                     and isinstance(datasets[1], Mapping)):
        datasets = [datasets]
    return [(d, {}) if isinstance(d, str) else (d[0], dict(d[1])) for d in datasets]


def scaled_lr(datasets, factor: float) -> list:
    """Dataset entries with each recipe's learning rate multiplied by ``factor``."""
    if not factor > 0:
        raise ValueError(f"lr factor must be positive, got {factor}; e.g. one of {LR_FACTORS}")
    out = []
    for name, params in _entries(datasets):
        base = _sweeps.recipe(name, **params).fit_params["lr"]
        out.append((name, {**params, "lr": base * float(factor)}))
    return out


def _score(epochs: pd.Series, cap: float) -> float:
    """Kaplan-Meier median; a median beyond the cap ranks as twice the cap."""
    m = _stats.km_median(epochs.tolist(), cap=cap)
    return 2.0 * cap if math.isinf(m) else m


def tune_lr(activations: Sequence[str], datasets=SELECTION_DATASETS, seeds=range(5), factors=LR_FACTORS,
            **sweep_kw) -> tuple[Dict[str, float], pd.DataFrame]:
    """Pick each activation's learning-rate factor on the selection sets, same grid for all.

    Score of a factor: the geometric mean over datasets of the Kaplan-Meier median epochs to the
    target (a median past the cap counts as twice the cap); the lowest score wins, ties going to
    the factor closest to 1.

    Returns
    -------
    (dict, DataFrame)
        Activation -> chosen factor, and the table of every run (with an ``lr_factor`` column).
    """
    factors = [float(f) for f in factors]
    if not factors:
        raise ValueError("factors is empty; pass e.g. LR_FACTORS = (1/3, 1, 3)")
    frames = []
    for f in factors:
        t = _sweeps.sweep(list(activations), scaled_lr(datasets, f), seeds, **sweep_kw)
        t["lr_factor"] = f
        frames.append(t)
    runs = pd.concat(frames, ignore_index=True)
    return _best_factors(runs), runs


def _best_factors(runs: pd.DataFrame) -> Dict[str, float]:
    """Each activation's best learning-rate factor in a table of tuning runs (:func:`tune_lr`'s score)."""
    best = {}
    for act, g in runs.groupby("activation", sort=False):
        scores = {f: float(np.exp(np.mean([np.log(_score(d.epochs_to_converge, d.max_epochs.iloc[0]))
                                           for _, d in gf.groupby("dataset")])))
                  for f, gf in g.groupby("lr_factor")}
        best[act] = min(scores, key=lambda f: (round(scores[f], 6), abs(math.log(f))))
    return best


def omega_ratio(topology: pd.DataFrame) -> pd.DataFrame:
    """Per run, how fast Betti numbers fall across layers.

    Parameters
    ----------
    topology : DataFrame
        :func:`topokit.sweeps.sweep_topology` output (one row per run, layer, label, dim).

    Returns
    -------
    DataFrame
        One row per (activation, dataset, seed): ``omega_ratio`` (mean over layers after the
        input of omega / omega at the input, averaged over classes; lower = faster reduction),
        ``collapse_layer`` (first layer where every class has omega 1; layers + 1 if never),
        ``converged``, ``epochs_to_converge``.
    """
    need = {"activation", "dataset", "seed", "layer", "label", "omega", "converged", "epochs_to_converge"}
    missing = need - set(topology.columns)
    if missing:
        raise ValueError(f"topology table lacks columns {sorted(missing)}; pass sweeps.sweep_topology's output")
    om = topology.drop_duplicates(["activation", "dataset", "seed", "layer", "label"])
    rows = []
    for (act, ds, seed), g in om.groupby(["activation", "dataset", "seed"], sort=False):
        w = g.pivot(index="layer", columns="label", values="omega").sort_index()
        ratio = (w.iloc[1:] / w.iloc[0]).mean(axis=0).mean()
        ones = (w == 1).all(axis=1)
        ones = ones[ones.index > 0]
        rows.append({"activation": act, "dataset": ds, "seed": seed, "omega_ratio": float(ratio),
                     "collapse_layer": int(ones.idxmax()) if ones.any() else int(w.index.max()) + 1,
                     "converged": bool(g.converged.iloc[0]), "epochs_to_converge": g.epochs_to_converge.iloc[0]})
    return pd.DataFrame(rows)


@dataclass
class Selection:
    """What :func:`select_topo` returns.

    Attributes
    ----------
    table : DataFrame
        One row per member: ``activation, w, s, injective, lr_factor, speedup`` (geometric mean
        over selection sets of ReLU's KM median / the member's), ``converged_rate``,
        ``omega_ratio`` (mean over converged runs), ``eligible``.
    winner : tuple of float
        ``(w, s)`` chosen by the rule.
    rule_met : bool
        False when no member was eligible and the fallback picked the winner.
    lr_factors : dict
        Tuned factor per activation (baselines included).
    runs, topology : DataFrame
        The sweep rows and the per-run :func:`omega_ratio` rows behind the table.
    """

    table: pd.DataFrame
    winner: tuple
    rule_met: bool
    lr_factors: dict
    runs: pd.DataFrame
    topology: pd.DataFrame


def select_topo(grid=FAMILY_GRID, datasets=SELECTION_DATASETS, seeds=range(5), *, baselines=("leaky_relu", "tanh"),
                factors=LR_FACTORS, topology_seeds=range(3), max_points=None, **sweep_kw) -> Selection:
    """Run the selection procedure of this module's docstring.

    Parameters
    ----------
    grid : sequence of (w, s)
        Members to try; must include ReLU's ``(0, 0)`` (the reference).
    datasets : dataset entries
        Selection sets (:data:`SELECTION_DATASETS`).
    seeds : iterable of int
        Seeds for tuning and speed.
    baselines : sequence of str
        Other activations whose learning rate is tuned on the same grid (for the evaluation).
    factors : sequence of float
        Learning-rate grid (:data:`LR_FACTORS`).
    topology_seeds : iterable of int
        Seeds whose trained nets get per-layer Betti numbers.
    max_points : int, optional
        Points per class for the Betti numbers; default all homology points. Subsampling loses
        true features: with 300 points per class the input's Betti numbers came out wrong
        (D-I-grid g = 3: (1, 7) for (1, 9); the 5x5 checkerboard: 10 and 11 components for 13
        and 12), which biases the omega ratio.
    **sweep_kw
        Passed to :func:`topokit.sweeps.sweep` (``cache_dir``, ``n_jobs``, ``progress`` ...). The
        members' nets are kept in the cache (``keep_models=True``) for their Betti numbers.
    """
    grid = [(float(w), float(s)) for w, s in grid]
    if (0.0, 0.0) not in grid:
        raise ValueError("grid must contain ReLU's (0, 0) as the reference; add (0.0, 0.0)")
    names = {activation_name(w, s): (w, s) for w, s in grid}
    topo_kw = {k: v for k, v in sweep_kw.items() if k != "keep_models"}
    lr, runs = tune_lr(list(names), datasets, seeds, factors, keep_models=True, **topo_kw)
    if baselines:
        lr_b, runs_b = tune_lr(list(baselines), datasets, seeds, factors, **sweep_kw)
        lr, runs = {**lr, **lr_b}, pd.concat([runs, runs_b], ignore_index=True)
    topo_frames = [
        _sweeps.sweep_topology([a], scaled_lr(datasets, lr[a]), topology_seeds, max_points=max_points, **topo_kw)
        for a in names
    ]
    per_run = omega_ratio(pd.concat(topo_frames, ignore_index=True))
    table, winner, rule_met = selection_rule(runs, per_run, names, lr)
    return Selection(table=table, winner=winner, rule_met=rule_met, lr_factors=lr, runs=runs, topology=per_run)


def selection_rule(runs: pd.DataFrame, topology: pd.DataFrame, members: Mapping[str, tuple],
                   lr_factors: Mapping[str, float]) -> tuple:
    """Steps 2-4 of the selection procedure on given runs: the table, the winner, whether the rule was met.

    Parameters
    ----------
    runs : DataFrame
        Tuning runs (:func:`tune_lr`'s table, with ``lr_factor``) of every member and ReLU.
    topology : DataFrame
        :func:`omega_ratio` rows of the members' nets (measured at their tuned factors).
    members : mapping
        Sweep name -> ``(w, s)`` of each member tried (ReLU's ``(0, 0)`` among them).
    lr_factors : mapping
        Activation -> learning-rate factor at which its speed is read.

    Returns
    -------
    (DataFrame, tuple, bool)
        :attr:`Selection.table`, the winner ``(w, s)`` and ``rule_met``.
    """
    best = runs[runs.lr_factor == runs.activation.map(lr_factors)]
    medians = {(a, d): _score(g.epochs_to_converge, g.max_epochs.iloc[0])
               for (a, d), g in best.groupby(["activation", "dataset"])}
    conv = topology[topology.converged].groupby("activation").omega_ratio.mean()
    rows = []
    for a, (w, s) in members.items():
        ds = sorted({d for (b, d) in medians if b == a})
        speed = float(np.exp(np.mean([np.log(medians[("relu", d)] / medians[(a, d)]) for d in ds])))
        rows.append({"activation": a, "w": w, "s": s, "injective": _activations.is_injective(w, s),
                     "lr_factor": lr_factors[a], "speedup": speed,
                     "converged_rate": float(best[best.activation == a].converged.mean()),
                     "omega_ratio": float(conv.get(a, math.nan))})
    table = pd.DataFrame(rows)
    relu_omega = float(table.loc[table.activation == "relu", "omega_ratio"].iloc[0])
    new = ~table.activation.isin(list(_activations.ACTIVATIONS)) & ~table.injective
    table["eligible"] = new & (table.converged_rate >= MIN_CONVERGED) & (table.omega_ratio <= relu_omega)
    pool = table[table.eligible] if table.eligible.any() else table[new]
    win = pool.sort_values(["speedup", "omega_ratio"], ascending=[False, True]).iloc[0]
    return (table.sort_values("speedup", ascending=False, ignore_index=True), (float(win.w), float(win.s)),
            bool(table.eligible.any()))


def winner_stability(sel: Selection, *, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """How often each member wins the selection rule over bootstrap resamples of the selection seeds.

    A resample draws the selection seeds with replacement and keeps every run of a drawn seed (all
    members and sets, and its nets' omega ratios), then applies :func:`selection_rule` (computed
    on arrays, checked against it on all seeds) with the learning-rate factors held at those tuned
    on all seeds (the Betti numbers were measured at them). Built on
    :func:`topokit.robustness.winner_stability`.

    Parameters
    ----------
    sel : Selection
        :func:`select_topo`'s result.
    n_boot : int, default 200
        Bootstrap resamples.
    seed : int, default 0

    Returns
    -------
    DataFrame
        One row per member that won at least once: ``activation, w, s, share`` (of resamples
        won), ``winner`` (True for the winner on all seeds), sorted by share; ``attrs`` hold
        ``n_boot`` and ``n_seeds``.
    """
    from .. import robustness as _robustness

    if not isinstance(sel, Selection):
        raise _checks.InvalidParameterError(f"sel must be select_topo's Selection, got {type(sel).__name__}")
    n_boot = _checks.integer(n_boot, "n_boot", minimum=1, maximum=100_000, fix="e.g. n_boot=200")
    members = {a: (float(w), float(s)) for a, w, s in zip(sel.table.activation, sel.table.w, sel.table.s)}
    names = list(members)
    lr = dict(sel.lr_factors)
    best = sel.runs[sel.runs.activation.isin(names) & (sel.runs.lr_factor == sel.runs.activation.map(lr))]
    seeds = sorted(set(best.seed))
    pos = {sd: i for i, sd in enumerate(seeds)}
    datasets = sorted(set(best.dataset))
    # per seed: epochs (inf = censored) per (member, set); converged counts; omega sums and counts
    E = np.full((len(names), len(datasets), len(seeds)), np.nan)
    cap = np.array([float(best[best.dataset == d].max_epochs.max()) for d in datasets])
    for r in best.itertuples():
        e = r.epochs_to_converge
        E[names.index(r.activation), datasets.index(r.dataset), pos[r.seed]] = e if np.isfinite(e) else np.inf
    conv = np.isfinite(E).sum(axis=1)                      # (member, seed)
    nruns = (~np.isnan(E)).sum(axis=1)
    osum, ocount = np.zeros((len(names), len(seeds))), np.zeros((len(names), len(seeds)))
    for r in sel.topology[sel.topology.converged & sel.topology.seed.isin(seeds)].itertuples():
        if r.activation in members and np.isfinite(r.omega_ratio):
            osum[names.index(r.activation), pos[r.seed]] += r.omega_ratio
            ocount[names.index(r.activation), pos[r.seed]] += 1
    injective = np.array([_activations.is_injective(*members[a]) for a in names])
    new = np.array([a not in _activations.ACTIVATIONS for a in names]) & ~injective
    relu = names.index("relu")

    def rule(draw: np.ndarray) -> str:
        # selection_rule on the drawn seeds (a median with censored runs as +inf is the KM median)
        med = np.median(E[:, :, draw], axis=2)
        med = np.where(np.isinf(med), 2.0 * cap, med)
        speed = np.exp(np.mean(np.log(med[relu] / med), axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            omega = osum[:, draw].sum(axis=1) / ocount[:, draw].sum(axis=1)
            rate = conv[:, draw].sum(axis=1) / nruns[:, draw].sum(axis=1)
        eligible = new & (rate >= MIN_CONVERGED) & (omega <= omega[relu])
        pool = np.flatnonzero(eligible if eligible.any() else new)
        order = sorted(pool, key=lambda i: (-speed[i], omega[i] if np.isfinite(omega[i]) else np.inf))
        return names[order[0]]

    units = pd.DataFrame({"seed": seeds, "_i": range(len(seeds))})
    if rule(np.arange(len(seeds))) != activation_name(*sel.winner):
        raise RuntimeError("the resampling rule disagrees with select_topo on all seeds; report this as a bug")

    def choose(sample: pd.DataFrame) -> str:
        return rule(sample["_i"].to_numpy())

    share = _robustness.winner_stability(units, choose, unit="seed", n_boot=n_boot, seed=seed)
    out = pd.DataFrame({"activation": share.index, "share": share.to_numpy()})
    out["w"] = [members[a][0] for a in out.activation]
    out["s"] = [members[a][1] for a in out.activation]
    out["winner"] = out.activation == share.attrs["original"]
    out = out[["activation", "w", "s", "share", "winner"]]
    out.attrs.update(n_boot=n_boot, n_seeds=int(sel.runs.seed.nunique()))
    return out


def tuned_sweep(lr_factors: Mapping[str, float], datasets, seeds, **sweep_kw) -> pd.DataFrame:
    """:func:`topokit.sweeps.sweep` of each activation at its tuned learning-rate factor.

    Parameters
    ----------
    lr_factors : mapping
        Activation name -> factor on each recipe's learning rate (from :func:`tune_lr`).
    datasets, seeds, **sweep_kw
        As for :func:`topokit.sweeps.sweep`.
    """
    if not lr_factors:
        raise ValueError("lr_factors is empty; pass e.g. {'relu': 1.0, 'topo': 1.0}")
    frames = []
    for act, f in lr_factors.items():
        t = _sweeps.sweep([act], scaled_lr(datasets, f), seeds, **sweep_kw)
        t["lr_factor"] = float(f)
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def digest(*tables: pd.DataFrame) -> str:
    """A short hash of the content of tables of runs (columns, index and values), for keying a
    derived table in the cache (kind ``"activation-study"``) so that a warm rerun reads it
    (:func:`topokit.fileio.frame_digest`)."""
    from ..fileio import frame_digest

    for t in tables:
        if not isinstance(t, pd.DataFrame):
            raise _checks.InvalidParameterError(f"digest takes DataFrames, got {type(t).__name__}")
    return frame_digest(*tables)


def cached(what: str, tables: Sequence[pd.DataFrame], compute, *, cache_dir=None, **params):
    """``compute()`` once per content of ``tables`` and ``params``; later calls read it from the cache.

    For the study's derived tables (comparisons, seed plans, verdicts, winner stability), which take
    seconds of bootstraps and cannot change while their runs do not: kind ``"activation-study"``,
    keyed by :func:`digest` of the tables, ``what``, ``params`` and the source of this module and
    :mod:`topokit.stats`.
    """
    from ..cache import Cache

    what = _checks.string(what, "what", nonempty=True)
    config = {"what": what, "tables": digest(*tables), **params}
    return Cache(cache_dir).memo("activation-study", config, compute, code=[_study_code()])


def _study_code() -> str:
    import sys

    from ..cache import code_version

    return code_version(sys.modules[__name__], _stats)


def _compare_cached(runs: pd.DataFrame, candidate: str, baselines: Sequence[str], *, n_boot: int = 2000,
                    cache_dir=None) -> pd.DataFrame:
    return cached("compare", [runs], lambda: compare(runs, candidate, baselines, n_boot=n_boot), cache_dir=cache_dir,
                  candidate=candidate, baselines=list(baselines), n_boot=n_boot)


def _dataset_name(entry) -> str:
    return entry if isinstance(entry, str) else entry[0]


def plan_seeds(pilot: pd.DataFrame, candidate: str = "topo", baseline: str = "relu", *, width: float = 1.3,
               minimum: int = 30, max_seeds: int = 60, n_boot: int = 2000) -> pd.DataFrame:
    """Seeds per cell, chosen per dataset from a pilot of the cell's own runs.

    The rule (:func:`topokit.robustness.seeds_needed`): from the pilot's 95% bootstrap interval of
    the speed-up of ``candidate`` over ``baseline`` (Kaplan-Meier medians, censored runs kept),
    the smallest number of seeds per arm that brings the interval within a factor ``width``
    around the ratio, assuming its log-width shrinks as ``1 / sqrt(n)``; never fewer than
    ``minimum``, never more than ``max_seeds``. The comparison planned is the verdict's (``topo``
    against ReLU); the other baselines run on the same seeds.

    Parameters
    ----------
    pilot : DataFrame
        Sweep rows (:func:`tuned_sweep`) of both activations on every dataset, same seeds.
    candidate, baseline : str
    width : float, default 1.3
        Target: the interval within ratio / width .. ratio * width (> 1).
    minimum : int, default 30
        Seeds per cell at least (the pilot itself usually has this many).
    max_seeds : int, default 60
        Cap on seeds per cell; where the target is out of reach the plan says so and gives the
        width expected at the cap.
    n_boot : int, default 2000

    Returns
    -------
    DataFrame
        One row per dataset: ``dataset, pilot_n, ratio, pilot_width, n_seeds, reachable,
        width_at_cap, target_width, message`` (:meth:`topokit.robustness.SeedPlan.message`).
    """
    from .. import robustness as _robustness

    need = {"activation", "dataset", "seed", "epochs_to_converge", "max_epochs"}
    if not isinstance(pilot, pd.DataFrame) or need - set(pilot.columns):
        raise _checks.InvalidParameterError(f"pilot must be a sweep table with columns {sorted(need)}")
    for name, act in (("candidate", candidate), ("baseline", baseline)):
        _checks.choice(act, name, sorted(set(pilot.activation)), fix="an activation present in the pilot")
    width = _checks.real(width, "width", minimum=1, include_min=False, fix="e.g. width=1.3")
    minimum = _checks.integer(minimum, "minimum", minimum=3, fix="e.g. 30 per MLP cell, 10 per CNN cell")
    max_seeds = _checks.integer(max_seeds, "max_seeds", minimum=minimum, fix=f"at least minimum={minimum}")
    rows = []
    for ds, g in pilot.groupby("dataset", sort=False):
        b = g[g.activation == baseline].sort_values("seed")
        c = g[g.activation == candidate].sort_values("seed")
        plan = _robustness.seeds_needed(b.epochs_to_converge.tolist(), c.epochs_to_converge.tolist(),
                                        float(g.max_epochs.max()), width=width, minimum=minimum,
                                        max_seeds=max_seeds, n_boot=n_boot)
        rows.append({"dataset": ds, "pilot_n": plan.pilot_n, "ratio": plan.ratio, "pilot_width": plan.pilot_width,
                     "n_seeds": plan.n_seeds, "reachable": plan.reachable, "width_at_cap": plan.width_at_cap,
                     "target_width": plan.target_width, "message": plan.message()})
    return pd.DataFrame(rows)


def planned_sweep(lr_factors: Mapping[str, float], datasets, plan: pd.DataFrame, **sweep_kw) -> pd.DataFrame:
    """:func:`tuned_sweep` with each dataset's seeds ``0 .. n_seeds - 1`` from :func:`plan_seeds`.

    The pilot's runs are the first seeds of each cell, so they come from the cache.
    """
    if not isinstance(plan, pd.DataFrame) or not {"dataset", "n_seeds"} <= set(plan.columns):
        raise _checks.InvalidParameterError("plan must be plan_seeds's table (columns dataset, n_seeds)")
    n = dict(zip(plan.dataset, plan.n_seeds))
    frames = []
    for entry in _entries(datasets):
        name = _sweeps.recipe(entry[0]).dataset
        if name not in n:
            raise _checks.InvalidParameterError(f"the plan has no row for {name!r}; it covers {sorted(n)}")
        frames.append(tuned_sweep(lr_factors, [entry], range(int(n[name])), **sweep_kw))
    return pd.concat(frames, ignore_index=True)


def engine_check(runs: pd.DataFrame, lr_factors: Mapping[str, float], datasets, seeds=range(10),
                 candidate: str = "topo", baseline: str = "relu", **sweep_kw) -> pd.DataFrame:
    """Each dataset's verdict under the fast and the exact engine, on the same seeds.

    Reruns ``candidate`` and ``baseline`` with ``engine="exact"`` (bitwise :func:`topokit.training.fit`)
    on ``seeds``, and compares with the same seeds of ``runs`` (trained on the fast engine):
    :func:`compare`'s verdict on each.

    Parameters
    ----------
    runs : DataFrame
        The comparison's sweep rows (fast engine).
    lr_factors : mapping
        The tuned factors (:func:`tuned_sweep`'s).
    datasets : dataset entries
        MLP sets, as passed to the comparison.
    seeds : iterable of int, default range(10)
        Seeds rerun on the exact engine (all of them present in ``runs``).

    Returns
    -------
    DataFrame
        One row per dataset: ``dataset, n, speedup_fast, low_fast, high_fast, verdict_fast,
        speedup_exact, low_exact, high_exact, verdict_exact, same``, then for each arm (``candidate``
        first) the Kaplan-Meier median epochs under each engine and the log-rank p-value of the
        two engines' runs (``<arm>_median_fast, <arm>_median_exact, <arm>_p``): whether the engines
        themselves agree, which a verdict near its rule's boundary can hide or exaggerate.
    """
    seeds = [_checks.integer(s, "each seed", minimum=0) for s in seeds]
    if not seeds:
        raise _checks.InvalidParameterError("seeds is empty; pass e.g. range(10)")
    names = [_sweeps.recipe(name, **params).dataset for name, params in _entries(datasets)]
    sub = runs[runs.activation.isin([candidate, baseline]) & runs.seed.isin(seeds) & runs.dataset.isin(names)]
    if set(sub.engine) != {"fast"}:
        raise _checks.InvalidParameterError(f"runs must come from the fast engine; their engines: {sorted(set(sub.engine))}")
    exact = tuned_sweep({a: lr_factors[a] for a in (baseline, candidate)}, datasets, seeds,
                        **{**sweep_kw, "engine": "exact"})
    fast, slow = (_compare_cached(t, candidate, [baseline], cache_dir=sweep_kw.get("cache_dir")).set_index("dataset")
                  for t in (sub, exact))
    out = pd.DataFrame({"n": fast.n})
    for tag, t in (("fast", fast), ("exact", slow)):
        for col in ("speedup", "low", "high", "verdict"):
            out[f"{col}_{tag}"] = t[col]
    out["same"] = out.verdict_fast == out.verdict_exact
    # the engines' own agreement, arm by arm: the same seeds' epochs to converge under each
    for arm in (candidate, baseline):
        for name in out.index:
            f, e = (t[(t.activation == arm) & (t.dataset == name)].sort_values("seed") for t in (sub, exact))
            cap = float(max(f.max_epochs.max(), e.max_epochs.max()))
            agree = _stats.speedup(e.epochs_to_converge.to_numpy(float), f.epochs_to_converge.to_numpy(float), cap=cap,
                                   n_boot=200)
            out.loc[name, f"{arm}_median_fast"] = agree.candidate_median
            out.loc[name, f"{arm}_median_exact"] = agree.baseline_median
            out.loc[name, f"{arm}_p"] = agree.p_value
    return out.reset_index()


def compare(runs: pd.DataFrame, candidate: str = "topo", baselines: Sequence[str] = ("relu", "leaky_relu", "tanh"),
            *, n_boot: int = 2000, claimed: float = 1.5) -> pd.DataFrame:
    """Speed-up of ``candidate`` over each baseline, per dataset, with the verdict.

    Parameters
    ----------
    runs : DataFrame
        Sweep rows (:func:`tuned_sweep`), one per run, same seeds for every activation.
    candidate : str
    baselines : sequence of str
    n_boot : int
        Bootstrap resamples of :func:`topokit.stats.speedup`.
    claimed : float, default 1.5
        The claimed speed-up that :func:`topokit.stats.verdict` tests.

    Returns
    -------
    DataFrame
        One row per (dataset, baseline): ``speedup, low, high, p_value`` (log-rank),
        ``prob_improvement``, the KM medians, censored counts, ``wall_speedup`` (ratio of median
        seconds per run, baseline / candidate), ``test_accuracy`` of each, ``verdict``.
    """
    need = {"activation", "dataset", "seed", "epochs_to_converge", "max_epochs", "seconds", "test_accuracy"}
    if need - set(runs.columns):
        raise ValueError(f"runs lacks columns {sorted(need - set(runs.columns))}; pass a sweep table")
    frames = [_stats.speedup_table(runs, b, [candidate], n_boot=n_boot, claimed=claimed)
              for b in baselines if b in set(runs.activation)]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True).rename(columns={"ratio": "speedup", "n_candidate": "n"})
    per = runs.groupby(["dataset", "activation"]).agg(sec=("seconds", "median"), acc=("test_accuracy", "mean"))
    table["wall_speedup"] = [per.loc[(d, b), "sec"] / per.loc[(d, c), "sec"]
                             for d, b, c in zip(table.dataset, table.baseline, table.candidate)]
    table["baseline_test_accuracy"] = [per.loc[(d, b), "acc"] for d, b in zip(table.dataset, table.baseline)]
    table["candidate_test_accuracy"] = [per.loc[(d, c), "acc"] for d, c in zip(table.dataset, table.candidate)]
    order = {d: i for i, d in enumerate(dict.fromkeys(runs.dataset))}
    return table.sort_values("dataset", key=lambda c: c.map(order), kind="stable", ignore_index=True)


def combine_verdicts(per_dataset: Sequence[str]) -> str:
    """The ``epochs`` claim's rule over datasets: every dataset reproduced -> "reproduced"; every one
    not reproduced -> "not reproduced"; otherwise (or none) "mixed"."""
    per_dataset = [str(v) for v in per_dataset]
    if per_dataset and all(v == "reproduced" for v in per_dataset):
        return "reproduced"
    if per_dataset and all(v == "not reproduced" for v in per_dataset):
        return "not reproduced"
    return "mixed"


def relative_epochs(per_run: pd.DataFrame, caps: Mapping[str, float]) -> np.ndarray:
    """Epochs to converge over each dataset's cap; censored runs are ``inf`` (they rank slowest)."""
    return np.array([(e if np.isfinite(e) else np.inf) / caps[d]
                     for e, d in zip(per_run.epochs_to_converge, per_run.dataset)], dtype=float)


@dataclass
class BettiVerdict:
    """What :func:`betti_verdict` returns: the verdict, the difference of omega ratios and the correlation.

    Attributes
    ----------
    verdict : str
    fall : Estimate or None
        ReLU's mean omega ratio minus ``topo``'s with its 95% interval (None when untestable).
    corr : Correlation
        Pooled Spearman correlation of omega ratio and relative epochs.
    parts : list of str
        The two interval verdicts (Betti reduction, link to convergence).
    relu_mean, topo_mean : float
        Mean omega ratios.
    """

    verdict: str
    fall: object
    corr: object
    parts: list
    relu_mean: float
    topo_mean: float

    def to_dict(self) -> dict:
        """Plain JSON-able fields (for the cache); :meth:`from_dict` rebuilds the object."""
        from dataclasses import asdict

        return {"verdict": self.verdict, "fall": asdict(self.fall) if self.fall is not None else None,
                "corr": asdict(self.corr), "parts": list(self.parts), "relu_mean": self.relu_mean,
                "topo_mean": self.topo_mean}

    @classmethod
    def from_dict(cls, d: Mapping) -> "BettiVerdict":
        """The object :meth:`to_dict` described."""
        return cls(d["verdict"], _stats.Estimate(**d["fall"]) if d["fall"] is not None else None,
                   _stats.Correlation(**d["corr"]), list(d["parts"]), d["relu_mean"], d["topo_mean"])

    def measured(self) -> str:
        """The numbers in words."""
        f, c = self.fall, self.corr
        return (f"omega ratio (last layer / input) ReLU {self.relu_mean:.2f} vs topo {self.topo_mean:.2f}; "
                + (f"difference {f.estimate:+.2f} (95% CI {f.low:+.2f} to {f.high:+.2f}); " if f is not None else "")
                + f"pooled Spearman rho (omega ratio vs epochs) {c.rho:.2f} (95% CI {c.low:.2f} to {c.high:.2f})")


def betti_verdict(per_run: pd.DataFrame, caps: Mapping[str, float], candidate: str = "topo",
                  baseline: str = "relu", *, cache_dir=None) -> BettiVerdict:
    """The ``betti-reduction`` claim's verdict rule (notebook 03, fixed before the numbers).

    **reproduced** when the 95% bootstrap interval of ReLU's mean omega ratio minus ``topo``'s lies
    above 0 (topo's Betti numbers fall faster) *and* the pooled rank correlation between omega
    ratio and relative epochs (:func:`relative_epochs`) has its interval above 0; **not
    reproduced** when either interval lies wholly below 0; **not testable here** with fewer than
    two measured nets per activation (or an undefined interval); **mixed** otherwise.

    Parameters
    ----------
    per_run : DataFrame
        :func:`omega_ratio` rows (all activations measured).
    caps : mapping
        Dataset -> epoch cap.
    cache_dir : path, optional
        The result is cached (:func:`cached`) by the content of ``per_run``: a warm rerun skips
        the bootstraps.
    """
    need = {"activation", "dataset", "omega_ratio", "epochs_to_converge"}
    if not isinstance(per_run, pd.DataFrame) or need - set(per_run.columns):
        raise _checks.InvalidParameterError(f"per_run must be omega_ratio's table (columns {sorted(need)})")
    caps = {str(k): float(v) for k, v in dict(caps).items()}
    stored = cached("betti_verdict", [per_run[sorted(need | {"seed"} & set(per_run.columns))]],
                    lambda: _betti_verdict(per_run, caps, candidate, baseline).to_dict(), cache_dir=cache_dir,
                    caps=caps, candidate=candidate, baseline=baseline)
    return BettiVerdict.from_dict(stored)


def _betti_verdict(per_run: pd.DataFrame, caps: Mapping[str, float], candidate: str, baseline: str) -> BettiVerdict:
    need = {"activation", "dataset", "omega_ratio", "epochs_to_converge"}
    if not isinstance(per_run, pd.DataFrame) or need - set(per_run.columns):
        raise _checks.InvalidParameterError(f"per_run must be omega_ratio's table (columns {sorted(need)})")
    corr = _stats.rank_correlation(per_run.omega_ratio, relative_epochs(per_run, caps))
    ratio = {a: per_run.loc[per_run.activation == a, "omega_ratio"].dropna().to_numpy() for a in (baseline, candidate)}
    means = [float(ratio[a].mean()) if len(ratio[a]) else math.nan for a in (baseline, candidate)]
    if min(len(ratio[baseline]), len(ratio[candidate])) < 2:
        return BettiVerdict("not testable here", None, corr, ["fewer than two measured nets per activation", ""], *means)
    fall = _stats.mean_difference(ratio[candidate], ratio[baseline], seed=0)  # baseline minus candidate
    parts = [_stats.interval_verdict(fall.low, fall.high, reproduced_above=0, refuted_below=0),
             _stats.interval_verdict(corr.low, corr.high, reproduced_above=0, refuted_below=0)]
    verdict = ("reproduced" if all(b == "reproduced" for b in parts) else
               "not reproduced" if "not reproduced" in parts else
               "not testable here" if "not testable here" in parts else "mixed")
    return BettiVerdict(verdict, fall, corr, parts, *means)


#: The free choices of the ``epochs`` claim's specification curve, with the reference (headline) value first.
EPOCH_CHOICES = {"target accuracy": ("recipe's", 0.95, 0.98, 0.99, 1.0),
                 "learning rate": ("tuned", "recipe's"),
                 "batch size": ("recipe's", "0.5x", "2x")}

#: The free choices of the ``betti-reduction`` claim's specification curve (reference first): k as a
#: factor on each recipe's ``topology_k`` (D-I and checkerboard: 10, 14, 20; D-II: 25, 35, 49) and
#: the scale in hops.
BETTI_CHOICES = {"k": ("recipe's", "0.7x", "1.4x"), "hops": (2.0, 1.0, 3.0)}


def _one_at_a_time(choices: Mapping[str, tuple]) -> list:
    ref = {c: v[0] for c, v in choices.items()}
    specs = [dict(ref)]
    for c, values in choices.items():
        specs += [{**ref, c: v} for v in values[1:]]
    return specs


def _batch(r, factor: float) -> int:
    n = len(r.load("train").y)
    b = r.fit_params["batch_size"] or n
    return max(1, min(n, int(round(b * factor))))


def epoch_specifications(lr_factors: Mapping[str, float], datasets, plan: pd.DataFrame, *,
                         fixed: Optional[Mapping[str, str]] = None, candidate: str = "topo", baseline: str = "relu",
                         choices: Mapping[str, tuple] = None, n_boot: int = 2000, **sweep_kw) -> pd.DataFrame:
    """The ``epochs`` claim under one-at-a-time changes of its free choices, by the headline's rule.

    Each specification changes one of :data:`EPOCH_CHOICES` from the reference (the recipe's
    target, the tuned learning rates, the recipe's batch size) on every dataset in ``datasets``,
    runs ``candidate`` and ``baseline`` on each dataset's planned seeds (:func:`plan_seeds`),
    gives each dataset :func:`compare`'s verdict and combines them with :func:`combine_verdicts`
    (together with ``fixed``, the verdicts of datasets the specification does not change).

    A target below the one a run stopped at is read off the run's recorded per-epoch training
    accuracy (a run that stops at 0.99 has passed 0.95 on the way, on the same trajectory, so its
    first epoch at 0.95 is what a run stopped at 0.95 would report). So targets at or below a
    recipe's own come from the headline's runs, and every target above it from one training to the
    highest of them; a recipe's learning rate and another batch size are trained (cached). Twice a
    full batch is the full batch.

    Parameters
    ----------
    lr_factors : mapping
        Tuned learning-rate factors (``candidate`` and ``baseline`` among them).
    datasets : dataset entries
        The MLP sets of the comparison.
    plan : DataFrame
        :func:`plan_seeds`'s table (seeds per dataset).
    fixed : mapping, optional
        Dataset -> verdict of datasets the specifications leave unchanged (e.g. the CNN sets).
    choices : mapping, optional
        Choice -> values, reference first; default :data:`EPOCH_CHOICES`.
    **sweep_kw
        Passed to :func:`topokit.sweeps.sweep`.

    Returns
    -------
    DataFrame
        One row per specification: the choices, ``verdict``, ``speedup`` (geometric mean over the
        changed datasets of the speed-up over ``baseline``), ``measured`` (per dataset, in
        words) and ``per_dataset`` (dict dataset -> verdict).
    """
    choices = dict(EPOCH_CHOICES if choices is None else choices)
    if set(choices) != set(EPOCH_CHOICES):
        raise _checks.InvalidParameterError(f"choices must name {sorted(EPOCH_CHOICES)}, got {sorted(choices)}")
    for t in choices["target accuracy"][1:]:
        _checks.real(t, "each target accuracy", minimum=0, maximum=1, include_min=False, fix="e.g. 0.95, 0.98, 0.99, 1.0")
    for b in choices["batch size"][1:]:
        if not (isinstance(b, str) and b.endswith("x")):
            raise _checks.InvalidParameterError(f"each batch size must be a factor such as '0.5x', got {b!r}")
        _checks.real(float(b[:-1]), "batch size factor", minimum=0, include_min=False, fix="e.g. '0.5x' or '2x'")
    for v in choices["learning rate"][1:]:
        _checks.choice(v, "learning rate", ["recipe's"])
    n = dict(zip(plan.dataset, plan.n_seeds))
    fixed = dict(fixed or {})
    entries = _entries(datasets)
    targets = sorted(float(t) for t in choices["target accuracy"][1:])
    rows = []
    for spec in _one_at_a_time(choices):
        lr = {a: (1.0 if spec["learning rate"] == "recipe's" else float(lr_factors[a])) for a in (baseline, candidate)}
        cmp_rows, speeds, verdicts = [], [], dict(fixed)
        for name, params in entries:
            r = _sweeps.recipe(name, **params)
            over = dict(params)
            if spec["batch size"] != "recipe's":
                over["batch_size"] = _batch(r, float(spec["batch size"][:-1]))
            col = None
            t = spec["target accuracy"]
            if t != "recipe's":
                own = r.fit_params["target_accuracy"]
                higher = [u for u in targets if u > own]
                if float(t) > own:  # one training to the highest target serves every target above the recipe's
                    over["target_accuracy"] = max(higher)
                if float(t) < over.get("target_accuracy", own):
                    col = _sweeps.ladder_column(t)
            runs = tuned_sweep(lr, [(name, over)], range(int(n[r.dataset])), ladder=targets, **sweep_kw)
            if col is not None:
                runs = runs.assign(epochs_to_converge=runs[col])
            row = _compare_cached(runs, candidate, [baseline], n_boot=n_boot,
                                  cache_dir=sweep_kw.get("cache_dir")).iloc[0]
            verdicts[r.dataset] = row.verdict
            speeds.append(row.speedup)
            cmp_rows.append(f"{r.dataset} {row.speedup:.2f}x ({row.low:.2f}-{row.high:.2f}) {row.verdict}")
        finite = [v for v in speeds if np.isfinite(v) and v > 0]
        rows.append({**spec, "verdict": combine_verdicts(list(verdicts.values())),
                     "speedup": float(np.exp(np.mean(np.log(finite)))) if finite else math.nan,
                     "measured": "; ".join(cmp_rows), "per_dataset": verdicts})
    return pd.DataFrame(rows)


def betti_specifications(lr_factors: Mapping[str, float], datasets, seeds, caps: Mapping[str, float], *,
                         choices: Mapping[str, tuple] = None, candidate: str = "topo", baseline: str = "relu",
                         **sweep_kw) -> pd.DataFrame:
    """The ``betti-reduction`` claim under one-at-a-time changes of k and the hop scale, by its rule.

    Each specification recomputes the per-layer Betti numbers of the same trained nets (cached;
    :func:`topokit.sweeps.sweep_topology`) with k scaled on each recipe's ``topology_k`` or another
    scale in hops, then applies :func:`betti_verdict`.

    Parameters
    ----------
    lr_factors : mapping
        Activation -> tuned factor; every activation listed is measured (the correlation pools them).
    datasets : dataset entries
        The mechanism's sets.
    seeds : iterable of int
    caps : mapping
        Dataset -> epoch cap (for :func:`relative_epochs`).
    choices : mapping, optional
        Default :data:`BETTI_CHOICES`.

    Returns
    -------
    DataFrame
        One row per specification: ``k, hops, verdict, difference, low, high, rho, measured``.
    """
    choices = dict(BETTI_CHOICES if choices is None else choices)
    if set(choices) != set(BETTI_CHOICES):
        raise _checks.InvalidParameterError(f"choices must name {sorted(BETTI_CHOICES)}, got {sorted(choices)}")
    for h in choices["hops"]:
        _checks.real(h, "hops", minimum=0, include_min=False, fix="a scale in hops, e.g. 1, 2 or 3")
    for k in choices["k"][1:]:
        if not (isinstance(k, str) and k.endswith("x")):
            raise _checks.InvalidParameterError(f"each k must be a factor on the recipe's k such as '0.7x', got {k!r}")
        _checks.real(float(k[:-1]), "k factor", minimum=0, include_min=False, fix="e.g. '0.7x' or '1.4x'")
    rows = []
    for spec in _one_at_a_time(choices):
        frames = []
        for a, f in lr_factors.items():
            for name, params in scaled_lr(datasets, f):
                r = _sweeps.recipe(name, **params)
                k = r.topology_k if spec["k"] == "recipe's" else max(2, int(round(r.topology_k * float(spec["k"][:-1]))))
                frames.append(_sweeps.sweep_topology([a], [(name, params)], seeds, k=k, hops=float(spec["hops"]),
                                                     **sweep_kw))
        per_run = omega_ratio(pd.concat(frames, ignore_index=True))
        bv = betti_verdict(per_run, caps, candidate, baseline, cache_dir=sweep_kw.get("cache_dir"))
        f = bv.fall
        rows.append({**spec, "verdict": bv.verdict, "difference": f.estimate if f is not None else math.nan,
                     "low": f.low if f is not None else math.nan, "high": f.high if f is not None else math.nan,
                     "rho": bv.corr.rho, "measured": bv.measured()})
    return pd.DataFrame(rows)


def km_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """Kaplan-Meier curves per dataset and activation (:func:`topokit.stats.km_curve`) in one table.

    Returns
    -------
    DataFrame
        ``dataset, group`` (activation) and :func:`topokit.stats.km_curve`'s columns.
    """
    need = {"activation", "dataset", "epochs_to_converge", "max_epochs"}
    if need - set(runs.columns):
        raise ValueError(f"runs lacks columns {sorted(need - set(runs.columns))}; pass a sweep table")
    frames = []
    for ds, g in runs.groupby("dataset", sort=False):
        groups = {a: d.epochs_to_converge.tolist() for a, d in g.groupby("activation", sort=False)}
        frames.append(_stats.km_curve(groups, cap=float(g.max_epochs.max())).assign(dataset=ds))
    out = pd.concat(frames, ignore_index=True)
    return out[["dataset"] + [c for c in out.columns if c != "dataset"]]


def explorer_frames(members: Mapping[str, tuple], dataset: str = "D-I", seed: int = 0, layer: int = 3,
                    max_points: int = 500, **sweep_kw) -> dict:
    """Precompute what :func:`topokit.plotting.family_explorer` shows, one frame per member.

    Each member's net is the dataset's recipe net trained by :func:`topokit.sweeps.load_model`
    (cached); the frame holds that net's ``layer`` output on the homology split projected to
    2-D by PCA, and the Betti numbers per class at that layer and omega at every layer.

    Parameters
    ----------
    members : mapping
        Label -> ``(w, s)``.
    dataset : str, default "D-I"
    seed : int, default 0
    layer : int, default 3
        Layer shown (0 = input, 1 = first hidden layer ...).
    max_points : int, default 500
        Points per class.
    """
    from sklearn.decomposition import PCA

    from .. import topology as _topology

    if not members:
        raise ValueError("members is empty; pass {label: (w, s)}")
    r = _sweeps.recipe(dataset)
    hom = r.load(r.homology_split())
    rng = np.random.default_rng(seed)
    idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(hom.y == c), min(max_points, int((hom.y == c).sum())),
                                             replace=False) for c in (0, 1)]))
    X, y = hom.X[idx], hom.y[idx]
    frames = {}
    for label, (w, s) in members.items():
        act = activation_name(float(w), float(s))
        net = _sweeps.load_model(act, dataset, seed, **sweep_kw)
        if not 0 <= layer < len(net.blocks) + 1:
            raise ValueError(f"layer must be in 0..{len(net.blocks)}, got {layer}")
        out = _topology.layer_outputs(net, X)[layer].reshape(len(X), -1)
        pts = PCA(2).fit_transform(out) if out.shape[1] > 2 and np.ptp(out, axis=0).max() > 0 else out[:, :2]
        bt = _topology.layer_betti(net, X, y, k=r.topology_k, n_jobs=1)
        om = bt.drop_duplicates(["layer", "label"]).groupby("layer").omega.sum()
        at = bt[bt.layer == layer]
        betti = ", ".join(f"class {c}: " + str(tuple(at[at.label == c].sort_values("dim").betti))
                          for c in sorted(at.label.unique()))
        frames[label] = {"points": pts, "y": y, "title": f"{label}: {net.layer_names[layer - 1] if layer else 'input'}",
                         "betti": f"Betti {betti}; omega by layer {om.tolist()}"}
    return frames
