"""Notebook 02's study: Naitzat et al.'s layer-by-layer simplification of topology, and its verdict rules.

The nets are trained and measured with the library (:func:`topokit.sweeps.record_topology`,
:func:`topokit.sweeps.sweep`, :func:`topokit.sweeps.sweep_topology`,
:func:`topokit.topology.layer_betti`); this module holds what turns those tables into the
notebook's conclusions, so that the rules are code with tests rather than notebook cells.

Measures (per well-trained net and class, from a :func:`topokit.topology.layer_betti` table)
------------------------------------------------------------------------------------------
- **first simple layer** (:func:`first_simple_layer`): the first layer (0 = input) at which the
  class has Betti numbers (1, 0, ...), None if it never does;
- **sum of omega**: omega = b0 + b1 + ... summed over the layers (:func:`layer_summary`).

Verdict rules (fixed before the numbers; notebook 02 states them in words)
--------------------------------------------------------------------------
- The notebook's statement (:func:`compare_relu_tanh`): for each class, the mean first simple
  layer of the ReLU nets against the tanh nets (a class that never gets there counts as one layer
  past the logits), and the mean sum of omega of each activation. The numbers AGREE with Naitzat
  et al. when every one of these measures is lower for ReLU, DISAGREE when every one is lower for
  tanh, PARTLY agree otherwise.
- ``relu-vs-tanh`` (:func:`relu_vs_tanh_claim`, :data:`RELU_TANH_RULE`): per net, the sum of omega
  averaged over the classes; tanh minus ReLU difference of the means with a 95% bootstrap interval
  (:func:`topokit.stats.mean_difference`). Reproduced when the interval lies at or above 0, not
  reproduced when it lies wholly below 0, mixed otherwise; not testable here with fewer than two
  well-trained nets per activation.
- ``simple-at-logits`` (:func:`simple_at_logits_claim`, :data:`SIMPLE_RULE`): the share of (well-trained
  net, class) pairs whose logits have Betti numbers (1, 0, ...), with a 95% Clopper-Pearson interval
  (:func:`topokit.stats.proportion_ci`). Reproduced when the interval lies at or above 0.9, not
  reproduced when it lies wholly below 0.9, mixed otherwise; not testable here without a
  well-trained net.

Robustness (issue 15): the same two rules under other free choices
------------------------------------------------------------------
:func:`specifications` recomputes both verdicts, by the same functions, on the same cached nets,
one choice at a time away from the headline's specification: the kNN ``k`` (:data:`SPEC_K`), the
hop scale (:data:`SPEC_HOPS`) and what counts as the "last layer" (:data:`LAST_LAYERS`: the logits,
as the headline, or the last hidden layer; for ``relu-vs-tanh`` omega is summed from the input up
to that layer). The table (cached, kind ``"naitzat-specs"``) feeds
:func:`topokit.report.record_robustness`.

Warm reruns (issue 16)
----------------------
:func:`cached_layer_diagrams`, :func:`cached_layer_betti` and :func:`split_checks` cache the
notebook's own computations (kind ``"notebook-cell"``, keyed by a digest of the net and the points
or by the data sets' parameters), so a rerun of notebook 02 recomputes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .. import _checks
from .. import stats as _stats
from ..cache import Cache

__all__ = [
    "RELU_TANH_RULE",
    "SIMPLE_RULE",
    "SUMMARY_COLUMNS",
    "first_simple_layer",
    "layer_summary",
    "ReluTanhComparison",
    "compare_relu_tanh",
    "relu_vs_tanh_claim",
    "logits_ends",
    "simple_at_logits_claim",
    "SPEC_K",
    "SPEC_HOPS",
    "LAST_LAYERS",
    "SPEC_CHOICES",
    "SPEC_COLUMNS",
    "up_to_last_layer",
    "specifications",
    "cached_layer_diagrams",
    "cached_layer_betti",
    "split_checks",
]

#: The ``relu-vs-tanh`` rule as recorded in the report.
RELU_TANH_RULE = ("tanh minus ReLU mean omega summed over layers, 95% bootstrap CI: reproduced if the CI "
                  ">= 0, not reproduced if the CI < 0, mixed otherwise; needs >= 2 well-trained nets each")
#: The ``simple-at-logits`` rule as recorded in the report.
SIMPLE_RULE = ("share of (well-trained net, class) pairs with Betti numbers (1, 0, ...) at the logits, 95% "
               "Clopper-Pearson CI: reproduced if the CI >= 0.9, not reproduced if the CI < 0.9, mixed otherwise")
#: Columns of :func:`layer_summary`.
SUMMARY_COLUMNS = ["activation", "seed", "label", "first (1, 0) layer", "sum of omega"]


def _check_table(table, name: str, columns: Sequence[str], fix: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise _checks.InvalidParameterError(f"{name} must be a pandas DataFrame, got {type(table).__name__}; {fix}")
    missing = [c for c in columns if c not in table.columns]
    if missing and len(table):
        raise _checks.InvalidParameterError(f"{name} lacks columns {missing}; {fix}")
    return table


_BETTI_FIX = "pass a topokit.topology.layer_betti table (columns layer, label, dim, betti, omega)"


def first_simple_layer(table: pd.DataFrame) -> Optional[int]:
    """First layer (0 = input) at which a class has Betti numbers (1, 0, ...); None if it never does.

    ``table`` holds one class of one net: :func:`topokit.topology.layer_betti` rows (``layer, dim,
    betti``). A layer counts when b0 = 1 and every higher Betti number is 0.
    """
    _check_table(table, "table", ["layer", "dim", "betti"], _BETTI_FIX + ", one class")
    if table.empty:
        return None
    dims, betti = table["dim"].to_numpy(), table["betti"].to_numpy()
    layers, at = np.unique(table["layer"].to_numpy(), return_inverse=True)
    wrong = np.bincount(at, weights=np.where(dims == 0, betti != 1, betti != 0), minlength=len(layers))
    has_b0 = np.bincount(at, weights=dims == 0, minlength=len(layers))
    complete = np.bincount(at, minlength=len(layers)) >= len(np.unique(dims))  # every dimension measured
    ok = layers[(wrong == 0) & (has_b0 > 0) & complete]
    return int(ok.min()) if len(ok) else None


def layer_summary(compare: Optional[pd.DataFrame]) -> pd.DataFrame:
    """Per (activation, seed, class): the first simple layer and omega summed over the layers.

    Parameters
    ----------
    compare : pandas.DataFrame or None
        :func:`topokit.sweeps.sweep_topology` rows of the well-trained nets (``activation, seed,
        label, layer, dim, betti, omega``); None (no well-trained net) gives an empty table.

    Returns
    -------
    pandas.DataFrame
        :data:`SUMMARY_COLUMNS`; ``first (1, 0) layer`` is an ``Int64`` column, ``<NA>`` when the
        class never reaches (1, 0, ...).
    """
    rows = []
    if compare is not None:
        _check_table(compare, "compare", ["activation", "seed", "label", "layer", "dim", "betti", "omega"],
                     "pass sweeps.sweep_topology(...) rows of the well-trained nets, or None")
        for (activation, seed, label), t in compare.groupby(["activation", "seed", "label"]):
            rows.append({"activation": activation, "seed": seed, "label": label,
                         "first (1, 0) layer": first_simple_layer(t),
                         "sum of omega": int(t.drop_duplicates("layer")["omega"].sum())})
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    summary["first (1, 0) layer"] = summary["first (1, 0) layer"].astype("Int64")  # <NA>: never
    return summary


@dataclass
class ReluTanhComparison:
    """The notebook's ReLU against tanh statement (:func:`compare_relu_tanh`).

    Attributes
    ----------
    statement : str
        AGREE, DISAGREE, PARTLY agree, or not enough nets.
    parts : list of str
        One sentence per measure compared (each class's first simple layer, then omega).
    signs : list of float
        Per measure, the sign of tanh minus ReLU (+1: ReLU simplifies earlier, as Naitzat et al.).
    """

    statement: str
    parts: list = field(default_factory=list)
    signs: list = field(default_factory=list)


def compare_relu_tanh(summary: pd.DataFrame, n_layers: int, class_names: Sequence[str] = ("class 0", "class 1")
                      ) -> ReluTanhComparison:
    """Compare ReLU and tanh nets on each measure of :func:`layer_summary`; the rule of the statement.

    For each class with nets of both activations: the mean first simple layer over the nets (a
    class that never reaches (1, 0, ...) counts as layer ``n_layers + 1``, one past the logits);
    then the mean sum of omega over (net, class) pairs. The statement is that the numbers AGREE
    with Naitzat et al. (ReLU simplifies topology in earlier layers) when tanh minus ReLU is
    positive for every measure, DISAGREE when it is negative for every measure, PARTLY agree
    otherwise (a tie counts against both), and that there are not enough nets when no measure has
    both activations.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`layer_summary` of the well-trained nets.
    n_layers : int
        Index of the logits layer (the largest ``layer`` of the tables; the input is 0).
    class_names : sequence of str
        Names of classes 0 and 1, for the sentences.
    """
    _check_table(summary, "summary", SUMMARY_COLUMNS, "pass layer_summary(...)")
    n_layers = _checks.integer(n_layers, "n_layers", minimum=0, fix="the largest layer index of the tables")
    never = n_layers + 1  # a class that never reaches (1, 0) counts as one layer past the logits

    def mean_first(activation, label):
        s = summary[(summary.activation == activation) & (summary.label == label)]["first (1, 0) layer"]
        return s.fillna(never).mean() if len(s) else float("nan"), int(s.isna().sum()), len(s)

    signs, parts = [], []
    if not summary.empty:
        for label in (0, 1):
            (r_mean, r_never, r_n), (t_mean, t_never, t_n) = mean_first("relu", label), mean_first("tanh", label)
            if r_n and t_n:
                signs.append(float(np.sign(t_mean - r_mean)))
                parts.append(f"{class_names[label]}: ReLU at layer {r_mean:.1f} on average ({r_never} of {r_n} never), "
                             f"tanh at {t_mean:.1f} ({t_never} of {t_n} never)")
        om = summary.groupby("activation")["sum of omega"].mean()
        if {"relu", "tanh"} <= set(om.index):
            signs.append(float(np.sign(om["tanh"] - om["relu"])))
            parts.append(f"omega summed over the {n_layers + 1} layers (mean per class and net): ReLU "
                         f"{om['relu']:.1f}, tanh {om['tanh']:.1f}")
    if not signs:
        statement = "Not enough well-trained nets of both activations to compare ReLU and tanh."
    elif all(v > 0 for v in signs):
        statement = "Our numbers AGREE with Naitzat et al.: ReLU simplifies topology in earlier layers than tanh."
    elif all(v < 0 for v in signs):
        statement = "Our numbers DISAGREE with Naitzat et al.: tanh simplifies topology earlier than ReLU here."
    else:
        statement = ("Our numbers PARTLY agree with Naitzat et al.'s finding that ReLU simplifies topology faster "
                     "than tanh: the measures below do not all point the same way.")
    return ReluTanhComparison(statement, parts, signs)


def relu_vs_tanh_claim(summary: pd.DataFrame, seed: int = 0) -> dict:
    """The report's ``relu-vs-tanh`` record (keywords of :func:`topokit.report.record_claim`, figure aside).

    Rule (:data:`RELU_TANH_RULE`): per well-trained net, omega summed over the layers and averaged
    over the classes; the difference of the means, tanh minus ReLU, with a 95% bootstrap interval
    (:func:`topokit.stats.mean_difference`, seeded by ``seed``). Reproduced when the whole interval
    lies at or above 0 (tanh nets keep more topology), not reproduced when it lies wholly below 0,
    mixed otherwise; "not testable here" with fewer than two well-trained nets per activation.
    """
    _check_table(summary, "summary", SUMMARY_COLUMNS, "pass layer_summary(...)")
    seed = _checks.integer(seed, "seed", minimum=0)
    per_net = (summary.groupby(["activation", "seed"])["sum of omega"].mean() if not summary.empty
               else pd.Series(dtype=float))
    omega_by = {a: per_net.xs(a, level="activation").to_numpy() if a in per_net.index.get_level_values(0)
                else np.array([]) for a in ("relu", "tanh")}
    if min(len(omega_by["relu"]), len(omega_by["tanh"])) >= 2:
        diff = _stats.mean_difference(omega_by["relu"], omega_by["tanh"], seed=seed)
        verdict = _stats.interval_verdict(diff.low, diff.high, reproduced_above=0, refuted_below=0)
        measured = (f"tanh - ReLU omega summed over layers: {diff.estimate:+.1f} (95% CI {diff.low:+.1f} to "
                    f"{diff.high:+.1f}); ReLU {omega_by['relu'].mean():.1f}, tanh {omega_by['tanh'].mean():.1f} "
                    f"({len(omega_by['relu'])} and {len(omega_by['tanh'])} well-trained nets on D-I)")
        reason = {"reproduced": "the whole interval lies at or above 0: tanh nets keep more topology",
                  "not reproduced": "the whole interval lies below 0: ReLU nets keep more topology",
                  "mixed": "the interval contains 0: the nets do not tell ReLU and tanh apart"}[verdict]
        value, low, high = diff.estimate, diff.low, diff.high
    else:
        verdict, value, low, high = "not testable here", None, None, None
        measured = f"{len(omega_by['relu'])} well-trained ReLU and {len(omega_by['tanh'])} tanh nets"
        reason = "fewer than two well-trained nets per activation (quick mode trains one): no interval"
    return dict(measured=measured, value=value, low=low, high=high, verdict=verdict, reason=reason,
                rule=RELU_TANH_RULE,
                details={"omega_relu": omega_by["relu"].tolist(), "omega_tanh": omega_by["tanh"].tolist()})


def logits_ends(nets: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Betti numbers of each class at the logits (the last layer) of each net.

    Parameters
    ----------
    nets : dict
        A label for the net (e.g. ``"D-I relu seed 0"``) -> its :func:`topokit.topology.layer_betti`
        table. Pass well-trained nets only.

    Returns
    -------
    pandas.DataFrame
        One row per (net, class): ``where, label, betti`` (a tuple) and ``simple`` (b0 = 1 and
        every higher Betti number 0).
    """
    if not isinstance(nets, Mapping):
        raise _checks.InvalidParameterError(
            f"nets must be a dict of label -> layer_betti table, got {type(nets).__name__}")
    ends = []
    for where, table in nets.items():
        _check_table(table, f"nets[{where!r}]", ["layer", "label", "dim", "betti"], _BETTI_FIX)
        last = table[table.layer == table.layer.max()]
        for label, g in last.groupby("label"):
            b = g.sort_values("dim")["betti"].tolist()
            ends.append({"where": where, "label": int(label), "betti": tuple(b),
                         "simple": bool(b[0] == 1 and not any(b[1:]))})
    return pd.DataFrame(ends, columns=["where", "label", "betti", "simple"])


def simple_at_logits_claim(ends: pd.DataFrame) -> dict:
    """The report's ``simple-at-logits`` record (keywords of :func:`topokit.report.record_claim`, figure aside).

    Rule (:data:`SIMPLE_RULE`): over the (well-trained net, class) pairs of :func:`logits_ends`, the
    share that ends at Betti numbers (1, 0, ...) with a 95% Clopper-Pearson interval
    (:func:`topokit.stats.proportion_ci`). Reproduced when the whole interval lies at or above 0.9,
    not reproduced when it lies wholly below 0.9, mixed otherwise; "not testable here" without a pair.
    """
    _check_table(ends, "ends", ["where", "label", "betti", "simple"], "pass logits_ends(...)")
    if len(ends):
        share = _stats.proportion_ci(int(ends.simple.sum()), len(ends))
        verdict = _stats.interval_verdict(share.low, share.high, reproduced_above=0.9, refuted_below=0.9)
        measured = (f"{int(ends.simple.sum())} of {len(ends)} (net, class) pairs end at (1, 0, ...): "
                    f"{share.estimate:.2f} (95% CI {share.low:.2f}-{share.high:.2f})")
        reason = {"reproduced": "the whole interval lies at or above 0.9",
                  "not reproduced": "the whole interval lies below 0.9: well-trained nets often keep topology at "
                                    "the logits",
                  "mixed": "the interval straddles 0.9: too few nets to tell"}[verdict]
        value, low, high = share.estimate, share.low, share.high
    else:
        verdict, value, low, high, measured = "not testable here", None, None, None, "no well-trained net"
        reason = "no net reached 100% training accuracy"
    return dict(measured=measured, value=value, low=low, high=high, verdict=verdict, reason=reason,
                rule=SIMPLE_RULE,
                details={"not_simple": ends[~ends.simple.astype(bool)].astype(str).to_dict("records") if len(ends)
                         else []})


# ----------------------------------------------------------------------------- robustness (issue 15)

#: kNN neighbours (counting the point itself) of the specification curves; the headline uses 14 on D-I.
SPEC_K = (8, 11, 14, 17, 20)
#: Hop scales of the specification curves; the headline uses 2 (Naitzat's epsilon 2.5).
SPEC_HOPS = (1, 2, 3)
#: What the claims read as the "last layer": the logits (the headline) or the last hidden layer.
LAST_LAYERS = ("logits", "last hidden")
#: The free-choice columns of :func:`specifications`.
SPEC_CHOICES = ["k", "hops", "last layer"]
#: The headline's specification (Naitzat et al.'s D-I values).
SPEC_REFERENCE = {"k": 14, "hops": 2, "last layer": "logits"}
#: Columns of :func:`specifications`.
SPEC_COLUMNS = ["claim", *SPEC_CHOICES, "verdict", "measured", "value", "low", "high", "nets"]
_MAX_K, _MAX_HOPS = 200, 10


def up_to_last_layer(table: pd.DataFrame, last_layer: str = "logits", by: Sequence[str] = ()) -> pd.DataFrame:
    """The rows of a :func:`topokit.topology.layer_betti` table up to the chosen "last layer".

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of one net, or of several told apart by the columns ``by``.
    last_layer : {"logits", "last hidden"}
        ``"logits"`` keeps every layer (the headline); ``"last hidden"`` drops each net's largest
        layer, so that its last hidden layer becomes its last.
    by : sequence of str
        Columns identifying the nets (e.g. ``["activation", "seed"]``); empty for one net.
    """
    last_layer = _checks.choice(last_layer, "last_layer", LAST_LAYERS)
    by = list(by)
    _check_table(table, "table", ["layer", *by], _BETTI_FIX)
    if last_layer == "logits" or table.empty:
        return table
    top = table.groupby(by)["layer"].transform("max") if by else table["layer"].max()
    return table[table["layer"] < top]


def _spec_list(k_values, hops_values, last_layers, reference) -> tuple[dict, list]:
    """Validated reference and the one-at-a-time specifications (reference first), before any work."""
    fix_k = "neighbours counting the point itself; Naitzat et al. use 14 on D-I"
    fix_h = "a number of hops in the kNN graph; Naitzat et al. use 2"

    def k_of(v, name):
        return _checks.integer(v, name, minimum=1, maximum=_MAX_K, fix=fix_k)

    def hops_of(v, name):
        h = _checks.real(v, name, minimum=0, include_min=False, maximum=_MAX_HOPS, fix=fix_h)
        return int(h) if h.is_integer() else h

    reference = dict(SPEC_REFERENCE if reference is None else reference)
    if not isinstance(reference, dict) or sorted(reference) != sorted(SPEC_CHOICES):
        raise _checks.InvalidParameterError(
            f"reference must give a value for each of {SPEC_CHOICES}, got {reference!r}")
    ref = {"k": k_of(reference["k"], "reference k"), "hops": hops_of(reference["hops"], "reference hops"),
           "last layer": _checks.choice(reference["last layer"], "reference last layer", LAST_LAYERS)}
    for name, values in (("k_values", k_values), ("hops_values", hops_values), ("last_layers", last_layers)):
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise _checks.InvalidParameterError(f"{name} must be a sequence of alternatives, got {values!r}")
    alternatives = {"k": [k_of(v, "k") for v in k_values], "hops": [hops_of(v, "hops") for v in hops_values],
                    "last layer": [_checks.choice(v, "last layer", LAST_LAYERS) for v in last_layers]}
    specs = [dict(ref)]
    for choice in SPEC_CHOICES:
        for v in alternatives[choice]:
            spec = dict(ref, **{choice: v})
            if spec not in specs:
                specs.append(spec)
    return ref, specs


def _frame_digest(table: pd.DataFrame) -> str:
    from ..fileio import frame_digest

    return frame_digest(table.reset_index(drop=True))


def specifications(activations: Sequence[str], dataset, seeds: Sequence[int], *, k_values=SPEC_K,
                   hops_values=SPEC_HOPS, last_layers=LAST_LAYERS, reference: Optional[Mapping] = None,
                   extra: Optional[Mapping[str, pd.DataFrame]] = None, seed: int = 0, cache_dir=None,
                   n_jobs: Optional[int] = None) -> pd.DataFrame:
    """Both claims' verdicts under each one-at-a-time change of k, hop scale and "last layer".

    The nets are the sweep's (:func:`topokit.sweeps.sweep`, the same call as notebook 02's, so they
    come from the cache); their per-layer Betti numbers at each (k, hops) come from
    :func:`topokit.sweeps.sweep_topology` (cached per net). Only well-trained nets are measured,
    as in the headline. Each specification's verdicts are computed by the headline's own
    functions: :func:`layer_summary` + :func:`relu_vs_tanh_claim` and :func:`logits_ends` +
    :func:`simple_at_logits_claim`, on the tables cut at the chosen last layer
    (:func:`up_to_last_layer`). The whole table is cached (kind ``"naitzat-specs"``), so a rerun
    recomputes nothing.

    Parameters
    ----------
    activations : sequence of str
        As for :func:`topokit.sweeps.sweep` (``relu-vs-tanh`` needs ``"relu"`` and ``"tanh"``).
    dataset : str or (str, dict)
        One dataset entry of :func:`topokit.sweeps.sweep` (e.g. ``("D-I", {"size": 1.0, ...})``).
    seeds : sequence of int
    k_values, hops_values, last_layers : sequence
        The alternatives tried for each choice (defaults :data:`SPEC_K`, :data:`SPEC_HOPS`,
        :data:`LAST_LAYERS`); k from 1 to 200, hops above 0 and at most 10.
    reference : dict, optional
        The headline's specification, ``{"k", "hops", "last layer"}``; default :data:`SPEC_REFERENCE`.
    extra : dict, optional
        Other well-trained nets' :func:`topokit.topology.layer_betti` tables (name -> table) that
        the ``simple-at-logits`` headline also counts (notebook 02's 3-D nets, outside quick mode).
        They keep their own k and hops in every specification; only the last-layer choice
        applies to them.
    seed : int, default 0
        Seed of the bootstrap of :func:`relu_vs_tanh_claim`, as in the headline.
    cache_dir, n_jobs
        As for :func:`topokit.sweeps.sweep`.

    Returns
    -------
    pandas.DataFrame
        :data:`SPEC_COLUMNS`: one row per (claim, specification), the reference first in each
        claim; ``value``, ``low``, ``high`` are NaN where a verdict is not testable; ``nets``
        counts the well-trained nets measured.

    Raises
    ------
    topokit._checks.InvalidParameterError
        For a k, hops or last layer outside its range, before any training or measurement.
    """
    import sys

    from .. import activations as _activations
    from .. import data as _data
    from .. import engine as _engine
    from .. import models as _models
    from .. import reproducibility as _reproducibility
    from .. import sweeps as _sweeps
    from .. import topology as _topology
    from .. import training as _training

    ref, specs = _spec_list(k_values, hops_values, last_layers, reference)
    seed = _checks.integer(seed, "seed", minimum=0)
    if isinstance(activations, str):
        activations = [activations]
    activations = [_checks.string(a, "activation", nonempty=True) for a in activations]
    seeds = [_checks.integer(s, "seed of a net", minimum=0) for s in seeds]
    extra = dict(extra or {})
    for name, table in extra.items():
        _check_table(table, f"extra[{name!r}]", ["layer", "label", "dim", "betti"], _BETTI_FIX)
    name = dataset[0] if isinstance(dataset, (tuple, list)) else dataset
    config = {"activations": activations, "dataset": dataset, "seeds": seeds, "specs": specs, "seed": seed,
              "extra": {n: _frame_digest(t) for n, t in sorted(extra.items())},
              "numerics": {k: v for k, v in _reproducibility.settings().items() if k != "machine"}}

    def compute() -> pd.DataFrame:
        runs = _sweeps.sweep(activations, [dataset], seeds, cache_dir=cache_dir, n_jobs=n_jobs, keep_models=True)
        well = {a: sorted(int(s) for s in runs[(runs.activation == a) & runs.converged].seed) for a in activations}
        tables = {}
        for spec in specs:
            at = (spec["k"], spec["hops"])
            if at not in tables:
                parts = [_sweeps.sweep_topology([a], [dataset], s, cache_dir=cache_dir, n_jobs=n_jobs, k=at[0],
                                                hops=at[1]) for a, s in well.items() if s]
                tables[at] = pd.concat(parts, ignore_index=True) if parts else None
        rows = []
        for spec in specs:
            measured = tables[(spec["k"], spec["hops"])]
            cut = (up_to_last_layer(measured, spec["last layer"], by=["activation", "seed"])
                   if measured is not None else None)
            nets = ({f"{name} {a} seed {s}": t for (a, s), t in cut.groupby(["activation", "seed"])}
                    if cut is not None else {})
            n_d = len(nets)
            nets.update({n: up_to_last_layer(t, spec["last layer"]) for n, t in extra.items()})
            for claim, record, n in (("relu-vs-tanh", relu_vs_tanh_claim(layer_summary(cut), seed=seed), n_d),
                                     ("simple-at-logits", simple_at_logits_claim(logits_ends(nets)), len(nets))):
                rows.append({"claim": claim, **spec, "verdict": record["verdict"], "measured": record["measured"],
                             **{c: np.nan if record[c] is None else float(record[c]) for c in ("value", "low", "high")},
                             "nets": n})
        out = pd.DataFrame(rows, columns=SPEC_COLUMNS)
        return out.sort_values("claim", kind="stable").reset_index(drop=True)

    code = [sys.modules[__name__], _stats, _sweeps, _topology, _training, _engine, _models, _activations, _data]
    return Cache(cache_dir).memo("naitzat-specs", config, compute, code=code)


# ----------------------------------------------------------------------------- warm reruns (issue 16)

def _net_digest(model) -> str:
    from .. import models as _models

    return _models.to_state(model)["digest"]


def cached_layer_diagrams(model, X, y, *, k: int = 14, max_dim: int = 1, max_edge_length: float = 4,
                          max_points: Optional[int] = None, seed: int = 0, labels: Optional[Sequence[int]] = None,
                          n_jobs: int = -1, cache_dir=None) -> dict:
    """:func:`topokit.topology.layer_diagrams`, computed once per net, points and parameters.

    Cached (kind ``"notebook-cell"``) under a digest of the net (:func:`topokit.models.to_state`),
    of ``X`` and ``y``, and the parameters; a rerun loads the diagrams. Parameters and result as
    for :func:`topokit.topology.layer_diagrams` (``n_jobs`` does not change the result and is not
    part of the key).
    """
    from .. import topology as _topology
    from ..fileio import array_digest

    k = _checks.integer(k, "k", minimum=1, fix="neighbours counting the point itself, e.g. 14")
    max_dim = _checks.integer(max_dim, "max_dim", minimum=0, maximum=8)
    max_edge_length = _checks.real(max_edge_length, "max_edge_length", minimum=0, include_min=False)
    max_points = _checks.integer(max_points, "max_points", minimum=1, allow_none=True)
    seed = _checks.integer(seed, "seed", minimum=0)
    labels = None if labels is None else [_checks.integer(v, "label") for v in labels]
    config = {"fn": "layer_diagrams", "net": _net_digest(model), "points": array_digest(np.asarray(X), np.asarray(y)),
              "k": k, "max_dim": max_dim, "max_edge_length": max_edge_length, "max_points": max_points,
              "seed": seed, "labels": labels}

    def compute() -> dict:
        out = _topology.layer_diagrams(model, X, y, k=k, max_dim=max_dim, max_edge_length=max_edge_length,
                                       n_jobs=n_jobs, max_points=max_points, seed=seed, labels=labels)
        return {f"{int(label)}_{i}": np.asarray(d, dtype=np.float64) for label, ds in out.items()
                for i, d in enumerate(ds)}

    flat = Cache(cache_dir).memo("notebook-cell", config, compute, code=[_topology])
    keyed = sorted((tuple(map(int, key.split("_"))), d) for key, d in flat.items())
    diagrams: dict = {}
    for (label, _), d in keyed:
        diagrams.setdefault(label, []).append(d)
    return diagrams


def cached_layer_betti(model, X, y, *, k: int = 14, hops: float = 2, max_dim: int = 1,
                       max_points: Optional[int] = None, seed: int = 0, n_jobs: int = -1,
                       cache_dir=None) -> pd.DataFrame:
    """:func:`topokit.topology.layer_betti`, computed once per net, points and parameters.

    Cached (kind ``"layer-betti"``) under a digest of the net, of ``X`` and ``y``, and the
    parameters; arguments and result as for :func:`topokit.topology.layer_betti`.
    """
    from .. import topology as _topology
    from ..fileio import array_digest

    k = _checks.integer(k, "k", minimum=1, fix="neighbours counting the point itself, e.g. 14")
    hops = _checks.real(hops, "hops", minimum=0, include_min=False, fix="a number of hops, e.g. 2")
    max_dim = _checks.integer(max_dim, "max_dim", minimum=0, maximum=8)
    max_points = _checks.integer(max_points, "max_points", minimum=1, allow_none=True)
    seed = _checks.integer(seed, "seed", minimum=0)
    config = {"fn": "layer_betti", "net": _net_digest(model), "points": array_digest(np.asarray(X), np.asarray(y)),
              "k": k, "hops": hops, "max_dim": max_dim, "max_points": max_points, "seed": seed}
    return Cache(cache_dir).memo(
        "layer-betti", config,
        lambda: _topology.layer_betti(model, X, y, k=k, hops=hops, max_dim=max_dim, n_jobs=n_jobs,
                                      max_points=max_points, seed=seed),
        code=[_topology])


#: Columns of :func:`split_checks`.
SPLIT_COLUMNS = ["dataset", "size", "class", "points", "k", "estimate", "truth", "right"]


def split_checks(sets: Mapping[str, tuple], sizes: Sequence[float], *, hops: float = 2, seed: int = 0,
                 cache_dir=None) -> pd.DataFrame:
    """The homology split's Betti numbers at the input against each data set's truth, per size.

    Parameters
    ----------
    sets : dict
        Data set name -> ``(k, max_dim)`` (e.g. ``{"D-I": (14, 1), "D-II": (35, 2)}``).
    sizes : sequence of float
        Sizes of the homology split (fractions of Naitzat's, above 0 and at most 1).
    hops, seed
        As for :func:`topokit.topology.betti_numbers` and :func:`topokit.data.load`.

    Returns
    -------
    pandas.DataFrame
        :data:`SPLIT_COLUMNS`, one row per (data set, size, class): ``estimate`` (None when a
        class has no more than k points) and ``truth`` are tuples up to ``max_dim``. Cached (kind
        ``"notebook-cell"``, keyed by the parameters and the code of topology and data), so a
        rerun neither generates the data nor computes anything.
    """
    from .. import data as _data
    from .. import topology as _topology

    if not isinstance(sets, Mapping) or not sets:
        raise _checks.InvalidParameterError(f"sets must be a non-empty dict of name -> (k, max_dim), got {sets!r}")
    plan = {}
    for name, spec in sets.items():
        if not isinstance(spec, (tuple, list)) or len(spec) != 2:
            raise _checks.InvalidParameterError(f"sets[{name!r}] must be (k, max_dim), got {spec!r}")
        plan[_checks.string(name, "data set name", nonempty=True)] = [
            _checks.integer(spec[0], f"k of {name}", minimum=1), _checks.integer(spec[1], f"max_dim of {name}",
                                                                                  minimum=0, maximum=8)]
    sizes = [_checks.real(s, "size", minimum=0, include_min=False, maximum=1,
                          fix="a fraction of Naitzat's homology split") for s in sizes]
    hops = _checks.real(hops, "hops", minimum=0, include_min=False)
    seed = _checks.integer(seed, "seed", minimum=0)

    def compute() -> pd.DataFrame:
        rows = []
        for name, (k, max_dim) in plan.items():
            for size in sizes:
                d = _data.load(name, split="homology", size=size, seed=seed)
                for label in (0, 1):
                    X = d.X[d.y == label]
                    est = _topology.betti_numbers(X, k=k, hops=hops, max_dim=max_dim) if len(X) > k else None
                    truth = tuple(d.betti[label][:max_dim + 1])
                    rows.append({"dataset": name, "size": size, "class": d.classes[label], "points": len(X), "k": k,
                                 "estimate": None if est is None else list(est), "truth": list(truth),
                                 "right": est == truth})
        return pd.DataFrame(rows, columns=SPLIT_COLUMNS)

    config = {"fn": "split_checks", "sets": plan, "sizes": sizes, "hops": hops, "seed": seed}
    table = Cache(cache_dir).memo("notebook-cell", config, compute, code=[_topology, _data, split_checks])
    table = table.copy()
    for col in ("estimate", "truth"):
        table[col] = [None if v is None else tuple(int(x) for x in v) for v in table[col]]
    return table
