"""Notebook 03's study: designing the topological activation ``topo`` and comparing activations fairly.

Moved here from ``topokit.selection`` (which still re-exports every public name). The study's
configuration is :data:`FAMILY_GRID`, :data:`LR_FACTORS`, :data:`MIN_CONVERGED` and
:data:`SELECTION_DATASETS`; the per-dataset training recipes it starts from are the sweep engine's
(:data:`topokit.sweeps.RECIPES`), shared with notebooks 01 and 02. Verdicts: the per-dataset
verdicts of the report's ``epochs`` claim are :func:`compare`'s ``verdict`` column
(:func:`topokit.stats.verdict`); how they combine over datasets, and the ``betti-reduction`` rule,
are still written in notebook 03's last cells.

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
from typing import Dict, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import activations as _activations
from .. import stats as _stats
from .. import sweeps as _sweeps

__all__ = [
    "FAMILY_GRID",
    "LR_FACTORS",
    "MIN_CONVERGED",
    "SELECTION_DATASETS",
    "Selection",
    "activation_name",
    "compare",
    "explorer_frames",
    "km_curves",
    "omega_ratio",
    "scaled_lr",
    "select_topo",
    "tune_lr",
    "tuned_sweep",
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
    best = {}
    for act, g in runs.groupby("activation", sort=False):
        scores = {f: float(np.exp(np.mean([np.log(_score(d.epochs_to_converge, d.max_epochs.iloc[0]))
                                           for _, d in gf.groupby("dataset")])))
                  for f, gf in g.groupby("lr_factor")}
        best[act] = min(scores, key=lambda f: (round(scores[f], 6), abs(math.log(f))))
    return best, runs


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
    best = runs[runs.lr_factor == runs.activation.map(lr)]
    medians = {(a, d): _score(g.epochs_to_converge, g.max_epochs.iloc[0])
               for (a, d), g in best.groupby(["activation", "dataset"])}
    topo_frames = [
        _sweeps.sweep_topology([a], scaled_lr(datasets, lr[a]), topology_seeds, max_points=max_points, **topo_kw)
        for a in names
    ]
    per_run = omega_ratio(pd.concat(topo_frames, ignore_index=True))
    rows = []
    for a, (w, s) in names.items():
        ds = sorted({d for (b, d) in medians if b == a})
        speed = float(np.exp(np.mean([np.log(medians[("relu", d)] / medians[(a, d)]) for d in ds])))
        mine = per_run[(per_run.activation == a) & per_run.converged]
        rows.append({"activation": a, "w": w, "s": s, "injective": _activations.is_injective(w, s),
                     "lr_factor": lr[a], "speedup": speed,
                     "converged_rate": float(best[best.activation == a].converged.mean()),
                     "omega_ratio": float(mine.omega_ratio.mean()) if len(mine) else math.nan})
    table = pd.DataFrame(rows)
    relu_omega = float(table.loc[table.activation == "relu", "omega_ratio"].iloc[0])
    new = ~table.activation.isin(list(_activations.ACTIVATIONS)) & ~table.injective
    table["eligible"] = new & (table.converged_rate >= MIN_CONVERGED) & (table.omega_ratio <= relu_omega)
    pool = table[table.eligible] if table.eligible.any() else table[new]
    win = pool.sort_values(["speedup", "omega_ratio"], ascending=[False, True]).iloc[0]
    return Selection(table=table.sort_values("speedup", ascending=False, ignore_index=True),
                     winner=(float(win.w), float(win.s)), rule_met=bool(table.eligible.any()), lr_factors=lr,
                     runs=runs, topology=per_run)


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
