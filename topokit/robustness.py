"""How many seeds a comparison needs, how stable a selection is, and how a verdict fares under
the reasonable alternatives to its free choices.

- :func:`seeds_needed`: the number of seeds per arm that brings a speed-up's confidence interval to
  a stated width, planned from a pilot of the cell's own runs;
- :func:`winner_stability`: how often each candidate wins a selection over bootstrap resamples of
  the selection runs (a winner that changes under resampling is not a finding);
- :func:`specification_curve`: one verdict per combination of free choices, the share of
  specifications in which each verdict holds and the choices whose change alone flips it.

Everything statistical comes from :mod:`topokit.stats` (Kaplan-Meier medians, bootstrap intervals).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from . import _checks
from . import stats as _stats

__all__ = ["SeedPlan", "seeds_needed", "winner_stability", "specification_curve", "flips"]


@dataclass(frozen=True)
class SeedPlan:
    """Result of :func:`seeds_needed`.

    Attributes
    ----------
    n_seeds : int
        Seeds per arm to run (at least ``minimum``, at most ``max_seeds``).
    pilot_n : int
        Seeds per arm in the pilot.
    pilot_width : float
        The pilot's interval width as a factor around its ratio: ``max(high / ratio, ratio / low)``.
    target_width : float
    reachable : bool
        False when the target needs more than ``max_seeds`` seeds (or the pilot's interval is
        unbounded); then ``n_seeds == max_seeds`` and ``width_at_cap`` is what it should give.
    width_at_cap : float
        The width expected at ``n_seeds`` seeds (the target when reachable).
    ratio : float
        The pilot's speed-up.
    """

    n_seeds: int
    pilot_n: int
    pilot_width: float
    target_width: float
    reachable: bool
    width_at_cap: float
    ratio: float

    def message(self) -> str:
        """One sentence for a notebook or a log."""
        if self.reachable:
            return (f"{self.n_seeds} seeds per arm should bring the interval to a factor of {self.target_width:g} "
                    f"around the ratio (pilot of {self.pilot_n}: a factor of {self.pilot_width:.2f})")
        return (f"a factor of {self.target_width:g} is out of reach within {self.n_seeds} seeds per arm: the pilot "
                f"of {self.pilot_n} gave {self.pilot_width:.2f}, so about {self.width_at_cap:.2f} is expected at "
                f"{self.n_seeds}")


def seeds_needed(pilot_baseline, pilot_candidate, cap: Optional[float] = None, *, width: float = 1.3,
                 minimum: int = 10, max_seeds: int = 200, confidence: float = 0.95, n_boot: int = 2000,
                 seed: int = 0, strict: bool = False) -> SeedPlan:
    """Seeds per arm that bring the speed-up's interval to ``ratio / width .. ratio * width``.

    Parameters
    ----------
    pilot_baseline, pilot_candidate : sequence
        Epochs to converge of the pilot runs (None/NaN for censored runs), as for
        :func:`topokit.stats.speedup`.
    cap : float, optional
        The pilot's epoch cap (required when a run is censored).
    width : float, default 1.3
        The target: the interval's larger side as a factor of the ratio (> 1).
    minimum : int, default 10
        Never fewer seeds than this (the issue's rule: 30 per MLP cell, 10 per CNN cell).
    max_seeds : int, default 200
        The cap on seeds per arm.
    strict : bool, default False
        Raise ``ValueError`` (saying the width reached) instead of returning an unreachable plan.

    Returns
    -------
    SeedPlan

    Notes
    -----
    The rule: the log-width of a bootstrap interval of a ratio of medians shrinks as
    ``1 / sqrt(n)``, so from the pilot's log-width ``h0`` at ``n0`` seeds per arm the plan is
    ``n = ceil(n0 * (h0 / log(width)) ** 2)``, clipped to ``[minimum, max_seeds]``. The pilot's
    own interval is :func:`topokit.stats.speedup`'s percentile bootstrap. An unbounded pilot
    interval (too many censored runs) is unreachable: more seeds of a cell that rarely converges do
    not make its median finite.
    """
    width = _checks.real(width, "width", minimum=1, include_min=False,
                         fix="a factor above 1, e.g. width=1.3 for an interval within ratio/1.3 .. ratio*1.3")
    minimum = _checks.integer(minimum, "minimum", minimum=2)
    max_seeds = _checks.integer(max_seeds, "max_seeds", minimum=minimum,
                                fix=f"at least minimum={minimum}")
    strict = _checks.boolean(strict, "strict")
    pilot = _stats.speedup(pilot_baseline, pilot_candidate, cap, n_boot=n_boot, seed=seed, confidence=confidence)
    n0 = min(pilot.n_baseline, pilot.n_candidate)
    if n0 < 3:
        raise _checks.InvalidParameterError(f"a pilot needs at least 3 runs per arm, got {n0}; run a few seeds first")
    ratio, low, high = pilot.ratio, pilot.low, pilot.high
    finite = all(np.isfinite(v) and v > 0 for v in (ratio, low, high))
    if not finite:
        plan = SeedPlan(max_seeds, n0, math.inf, width, False, math.inf, ratio)
    else:
        h0 = max(math.log(high / ratio), math.log(ratio / low), 1e-12)
        need = math.ceil(n0 * (h0 / math.log(width)) ** 2)
        n = min(max(need, minimum), max_seeds)
        reached = math.exp(h0 * math.sqrt(n0 / n))
        plan = SeedPlan(n, n0, math.exp(h0), width, need <= max_seeds, reached, ratio)
    if strict and not plan.reachable:
        raise ValueError(plan.message() + "; raise max_seeds, accept a wider interval or change the cell")
    return plan


def winner_stability(runs: pd.DataFrame, choose: Callable[[pd.DataFrame], str], *, unit: str = "seed",
                     n_boot: int = 200, seed: int = 0) -> pd.Series:
    """How often each candidate wins ``choose`` over bootstrap resamples of the runs' units.

    Parameters
    ----------
    runs : DataFrame
        The selection runs, one row per run, with a column ``unit`` (the seed) shared by the
        candidates' runs: a resample draws units with replacement and keeps all their rows.
    choose : callable
        The selection rule: a DataFrame of runs -> the winning candidate's name.
    n_boot : int, default 200

    Returns
    -------
    Series
        Share of resamples won, per candidate, sorted descending; ``.attrs["original"]`` holds the
        winner on the runs as they are.
    """
    if not isinstance(runs, pd.DataFrame) or unit not in runs.columns or runs.empty:
        raise _checks.InvalidParameterError(f"runs must be a non-empty DataFrame with a {unit!r} column")
    if not callable(choose):
        raise _checks.InvalidParameterError("choose must be a function from a DataFrame of runs to a winner's name")
    n_boot = _checks.integer(n_boot, "n_boot", minimum=1, maximum=100_000)
    seed = _checks.integer(seed, "seed", minimum=0)
    units = runs[unit].unique()
    groups = {u: runs[runs[unit] == u] for u in units}
    rng = np.random.default_rng(seed)
    wins: dict = {}
    for _ in range(n_boot):
        draw = rng.choice(len(units), size=len(units), replace=True)
        sample = pd.concat([groups[units[i]] for i in draw], ignore_index=True)
        w = choose(sample)
        wins[w] = wins.get(w, 0) + 1
    share = pd.Series(wins, dtype=float).div(n_boot).sort_values(ascending=False)
    share.attrs["original"] = choose(runs)
    return share


def specification_curve(specs: pd.DataFrame, choices: Sequence[str], verdict: str = "verdict",
                        *, reference: Optional[Mapping] = None) -> pd.DataFrame:
    """Share of specifications in which each verdict holds, overall and per value of each choice.

    Parameters
    ----------
    specs : DataFrame
        One row per specification: a column per free choice (``choices``) and the verdict reached
        under it (``verdict``).
    choices : sequence of str
        The free-choice columns.
    verdict : str, default "verdict"
    reference : mapping, optional
        The default specification (choice -> value); when given, the returned frame's attrs hold
        its verdict and :func:`flips` lists single-choice changes that flip it.

    Returns
    -------
    DataFrame
        Rows: ``choice`` ("all" for the overall share), ``value``, ``n`` (specifications), then one
        column per verdict with the share of those specifications reaching it.
    """
    if not isinstance(specs, pd.DataFrame) or specs.empty:
        raise _checks.InvalidParameterError("specs must be a non-empty DataFrame, one row per specification")
    choices = list(choices)
    missing = [c for c in choices + [verdict] if c not in specs.columns]
    if missing:
        raise _checks.InvalidParameterError(f"specs lacks the column(s) {missing}; it has {list(specs.columns)}")
    verdicts = sorted(specs[verdict].astype(str).unique())
    rows = [{"choice": "all", "value": "", "n": len(specs),
             **{v: float((specs[verdict].astype(str) == v).mean()) for v in verdicts}}]
    for c in choices:
        for value, part in specs.groupby(c, sort=True):
            rows.append({"choice": c, "value": value, "n": len(part),
                         **{v: float((part[verdict].astype(str) == v).mean()) for v in verdicts}})
    out = pd.DataFrame(rows, columns=["choice", "value", "n", *verdicts])
    if reference is not None:
        out.attrs["reference"] = dict(reference)
        out.attrs["flips"] = flips(specs, choices, verdict, reference)
    return out


def flips(specs: pd.DataFrame, choices: Sequence[str], verdict: str, reference: Mapping) -> pd.DataFrame:
    """Single-choice departures from ``reference`` whose verdict differs from the reference's.

    Returns
    -------
    DataFrame
        Columns ``choice``, ``value``, ``verdict``, ``reference_verdict``; empty when no single
        change flips the verdict.
    """
    unknown = [c for c in reference if c not in choices]
    if unknown:
        raise _checks.InvalidParameterError(f"reference names {unknown}, which are not among the choices {list(choices)}")
    mask = np.ones(len(specs), dtype=bool)
    for c in choices:
        mask &= (specs[c] == reference[c]).to_numpy()
    if not mask.any():
        raise _checks.InvalidParameterError(f"no specification matches the reference {dict(reference)}")
    ref_verdict = str(specs.loc[mask, verdict].iloc[0])
    rows = []
    for c in choices:
        others = np.ones(len(specs), dtype=bool)
        for d in choices:
            if d != c:
                others &= (specs[d] == reference[d]).to_numpy()
        for _, row in specs[others & (specs[c] != reference[c]).to_numpy()].iterrows():
            if str(row[verdict]) != ref_verdict:
                rows.append({"choice": c, "value": row[c], "verdict": str(row[verdict]),
                             "reference_verdict": ref_verdict})
    return pd.DataFrame(rows, columns=["choice", "value", "verdict", "reference_verdict"])
