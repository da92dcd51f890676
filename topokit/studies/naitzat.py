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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .. import _checks
from .. import stats as _stats

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
    wide = table.pivot_table(index="layer", columns="dim", values="betti")
    ok = wide[(wide[0] == 1) & (wide.drop(columns=0) == 0).all(axis=1)].index
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
