"""Statistics for comparing training runs: speed-ups with censoring, Kaplan-Meier curves, ranks.

A run that never reached its target accuracy within the epoch cap is **censored**: we know only
that it needed more than ``cap`` epochs. Dropping such runs flatters whoever fails most (survivor
bias); counting them as taking ``cap`` epochs flatters them too. Here they stay censored:

- "epochs to the target" is treated as a time-to-event; the Kaplan-Meier estimate of
  P(reached the target by epoch e) comes from ``scipy.stats.ecdf`` on a
  ``scipy.stats.CensoredData`` (:func:`km_curve`);
- the typical epochs of a group is the **Kaplan-Meier median** (:func:`km_median`), infinite when
  more than half the runs never converge;
- groups are compared with the log-rank test (``scipy.stats.logrank``), a bootstrap confidence
  interval of the ratio of medians, and the probability of improvement (Mann-Whitney U / (n m),
  censored runs ranked after every converged one).

The tests the studies' verdict rules use live here too: bootstrap differences of means
(:func:`mean_difference`), exact binomial intervals (:func:`proportion_ci`), the exact McNemar
test of two classifiers on the same test items (:func:`mcnemar`, :func:`paired_mcnemar`) and the
interval rule (:func:`interval_verdict`).

No survival statistics are written by hand: every curve and test is scipy's.

Input convention everywhere: a sequence of epochs per run, where ``None``, ``NaN`` or ``inf``
mark a censored run, censored at ``cap`` (the epoch cap of the runs, required when any run is
censored).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from . import _checks


class _ScipyStats:
    """``scipy.stats``, imported at first use: 1-2 s that a warm notebook reading cached results skips."""

    def __getattr__(self, name):
        from scipy import stats

        return getattr(stats, name)


_st = _ScipyStats()

__all__ = [
    "SpeedUp",
    "Correlation",
    "speedup",
    "speedup_table",
    "km_median",
    "km_curve",
    "rank_correlation",
    "verdict",
    "probability_of_improvement",
    "Estimate",
    "mean_difference",
    "proportion_ci",
    "interval_verdict",
    "McNemar",
    "mcnemar",
    "paired_mcnemar",
]

_VERDICTS = ("reproduced", "not reproduced", "mixed")


# ----------------------------------------------------------------------------- input


def _censored_epochs(epochs, cap, what: str) -> tuple[np.ndarray, np.ndarray, Optional[float]]:
    """(times, censored mask, cap): censored runs (None/NaN/inf) get time ``cap``."""
    if isinstance(epochs, (str, bytes)) or not hasattr(epochs, "__len__"):
        raise ValueError(f"{what} must be a sequence of epochs (None or NaN for runs that never converged), "
                         f"got {epochs!r}")
    raw = np.asarray(epochs, dtype=object)
    if raw.ndim != 1:
        raise _checks.InvalidParameterError(
            f"{what} must be a flat sequence of epochs, one per run, got shape {raw.shape}; pass one group's "
            "runs at a time (e.g. a DataFrame column)")
    try:
        values = np.array([np.nan if v is None else v for v in raw], dtype=float)
    except (TypeError, ValueError):
        raise _checks.InvalidParameterError(
            f"{what} must hold numbers of epochs (None or NaN for runs that never converged), got "
            f"{[v for v in raw][:3]!r}...") from None
    if values.size == 0:
        raise ValueError(f"{what} is empty; pass the epochs to converge of at least one run")
    if np.any(np.isneginf(values)):
        raise _checks.InvalidParameterError(
            f"{what} holds -inf; a censored run (never converged) is None, NaN or +inf")
    censored = ~np.isfinite(values)
    if np.any(values[~censored] <= 0):
        raise ValueError(f"{what} holds non-positive epochs {values[~censored][values[~censored] <= 0][:3]}; "
                         "epochs to converge count from 1")
    if cap is not None:
        cap = _checks.real(cap, "cap", minimum=0, include_min=False,
                           fix="the epoch cap of the runs, a positive number of epochs")
        if np.any(values[~censored] > cap):
            raise ValueError(f"{what} holds epochs above the cap {cap:g} ({values[~censored].max():g}); pass the "
                             "cap the runs were trained with")
    elif censored.any():
        raise ValueError(f"{what} has {int(censored.sum())} censored runs (None/NaN) but no cap; pass cap=<the "
                         "epoch cap the runs were trained with>, e.g. cap=5000")
    times = np.where(censored, cap if cap is not None else np.nan, values)
    return times, censored, cap


def _censored_data(times: np.ndarray, censored: np.ndarray):
    return _st.CensoredData(uncensored=times[~censored], right=times[censored])


# ----------------------------------------------------------------------------- medians and curves


def _km_median(times: np.ndarray, censored: np.ndarray) -> float:
    if not censored.any():
        return float(np.median(times))
    if censored.all():
        return math.inf
    cdf = _st.ecdf(_censored_data(times, censored)).cdf
    q, p = np.asarray(cdf.quantiles, float), np.asarray(cdf.probabilities, float)
    jumps = np.diff(np.concatenate([[0.0], p])) > 0  # the epochs at which runs converged
    q, p = q[jumps], p[jumps]
    hit = np.flatnonzero(p >= 0.5 - 1e-12)
    if hit.size == 0:
        return math.inf
    i = hit[0]
    if abs(p[i] - 0.5) <= 1e-12:  # flat at exactly 1/2 until the next convergence: the midpoint
        return float((q[i] + q[i + 1]) / 2) if i + 1 < len(q) else math.inf
    return float(q[i])


def _resampled_medians(times: np.ndarray, censored: np.ndarray, index: np.ndarray) -> np.ndarray:
    """:func:`_km_median` of each resample ``times[index[i]]`` (plain medians where nothing is censored)."""
    out = np.median(times[index], axis=1)
    for i in np.flatnonzero(censored[index].any(axis=1)):
        out[i] = _km_median(times[index[i]], censored[index[i]])
    return out


def km_median(epochs: Sequence, cap: Optional[float] = None) -> float:
    """Kaplan-Meier median epochs to converge; ``inf`` when more than half never converge.

    Parameters
    ----------
    epochs : sequence of int or None
        Epochs to converge per run; None, NaN or inf mark a censored run.
    cap : float, optional
        The epoch cap at which censored runs were stopped (required if any run is censored).

    Returns
    -------
    float
        Without censored runs, the ordinary sample median (``np.median``). With censored runs,
        the smallest epoch ``e`` at which the Kaplan-Meier estimate of P(reached by e), from
        ``scipy.stats.ecdf(CensoredData(...))``, is at least 1/2; where that estimate equals
        exactly 1/2 between two observed epochs, their midpoint (the convention of R's
        ``survival`` package, under which the two rules agree on uncensored samples); ``inf``
        where it reaches exactly 1/2 at the last converged run and stays there. Because every
        censored run is censored at the cap, after every converged one, this is the same number
        as ``np.median`` with censored runs counted as ``+inf``.
        ``inf`` when the estimate never reaches 1/2.
    """
    times, censored, _ = _censored_epochs(epochs, cap, "epochs")
    return _km_median(times, censored)


def km_curve(epochs, cap: Optional[float] = None, *, confidence: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier curve of "reached the target by epoch e", as a tidy table.

    Parameters
    ----------
    epochs : sequence, or mapping of group name -> sequence
        Epochs to converge per run; None, NaN or inf mark a censored run. A mapping gives one
        curve per group (e.g. per activation).
    cap : float, optional
        The epoch cap (required if any run is censored); the curve is extended to it.
    confidence : float, default 0.95
        Level of the pointwise confidence band (scipy's ``confidence_interval``, Greenwood's
        variance with the log-log transform); NaN where it is undefined (an estimate of 1).

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` (only when a mapping was given), ``epoch``, ``reached`` (estimated
        fraction of runs that reached the target by that epoch), ``low``, ``high``, ``n``,
        ``censored``. One row at epoch 0 (nothing reached), one per distinct convergence
        epoch, and one at the cap; plot it as a step function (``where="post"``).
    """
    if isinstance(epochs, Mapping):
        if not epochs:
            raise ValueError("epochs is an empty mapping; pass {group name: epochs per run}")
        frames = [km_curve(v, cap, confidence=confidence).assign(group=str(k)) for k, v in epochs.items()]
        out = pd.concat(frames, ignore_index=True)
        return out[["group"] + [c for c in out.columns if c != "group"]]
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence}")
    times, censored, cap = _censored_epochs(epochs, cap, "epochs")
    n, n_cens = len(times), int(censored.sum())
    if n_cens == n:
        rows = [(0.0, 0.0, 0.0, 0.0), (cap, 0.0, 0.0, 0.0)]
    else:
        cdf = _st.ecdf(_censored_data(times, censored)).cdf
        q, p = np.asarray(cdf.quantiles, float), np.asarray(cdf.probabilities, float)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # undefined where the estimate is 0 or 1
            ci = cdf.confidence_interval(confidence_level=confidence, method="log-log")
            low, high = np.asarray(ci.low.evaluate(q), float), np.asarray(ci.high.evaluate(q), float)
        rows = [(0.0, 0.0, 0.0, 0.0)] + list(zip(q, p, low, high))
        end = cap if cap is not None else q[-1]
        if end > q[-1]:
            rows.append((end, p[-1], low[-1], high[-1]))
    frame = pd.DataFrame(rows, columns=["epoch", "reached", "low", "high"])
    frame["n"], frame["censored"] = n, n_cens
    return frame


# ----------------------------------------------------------------------------- speed-up


def probability_of_improvement(baseline_epochs, candidate_epochs, cap: Optional[float] = None) -> float:
    """P(a candidate run converges in fewer epochs than a baseline run), ties counting 1/2.

    Mann-Whitney U / (n m) (``scipy.stats.mannwhitneyu``) with censored runs as ``+inf``: a
    censored run is slower than every converged one and ties with other censored runs.
    """
    b, bc, _ = _censored_epochs(baseline_epochs, cap, "baseline_epochs")
    c, cc, _ = _censored_epochs(candidate_epochs, cap, "candidate_epochs")
    return _prob_improvement(np.where(bc, np.inf, b), np.where(cc, np.inf, c))


def _prob_improvement(b_inf: np.ndarray, c_inf: np.ndarray) -> float:
    u = _st.mannwhitneyu(b_inf, c_inf, alternative="two-sided", method="asymptotic").statistic
    return float(u) / (len(b_inf) * len(c_inf))


def verdict(ratio: float, low: float, high: float, *, claimed: float = 1.5, null: float = 1.0) -> str:
    """The project's verdict rule for a claimed speed-up.

    ``"reproduced"`` when ``ratio >= claimed`` and ``low > null`` (the interval lies above no
    effect); ``"not reproduced"`` when ``high < claimed`` (the interval lies below the claim);
    ``"mixed"`` otherwise (including an undefined ratio).

    Parameters
    ----------
    ratio, low, high : float
        The speed-up and its confidence interval (see :func:`speedup`).
    claimed : float, default 1.5
        The claimed speed-up (Kochar et al.: 1.5-2x fewer epochs).
    null : float, default 1.0
        No effect.
    """
    if not claimed > 0 or not null > 0:
        raise ValueError(f"claimed and null must be positive ratios, got claimed={claimed}, null={null}")
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (ratio, low, high)):
        return "mixed"
    if ratio >= claimed and low > null:
        return "reproduced"
    if high < claimed:
        return "not reproduced"
    return "mixed"


@dataclass(frozen=True)
class SpeedUp:
    """Result of :func:`speedup`.

    Attributes
    ----------
    ratio : float
        Median epochs of the baseline / median epochs of the candidate (Kaplan-Meier medians,
        see :func:`km_median`); > 1 means the candidate converges in fewer epochs. ``inf`` when
        only the baseline's median is infinite, ``0`` when only the candidate's is, NaN when both.
    low, high : float
        Percentile bootstrap confidence interval of ``ratio``.
    p_value : float
        Two-sided log-rank test (``scipy.stats.logrank``) that the two groups' curves of
        "reached the target by epoch e" are the same; NaN when every run is censored.
    baseline_median, candidate_median : float
    n_baseline, n_candidate : int
        Runs per group.
    censored_baseline, censored_candidate : int
        Runs per group that never reached the target.
    prob_improvement : float
        P(candidate run faster than baseline run), see :func:`probability_of_improvement`.
    cap : float or None
    confidence : float
    n_boot : int
        Bootstrap resamples drawn; ``n_boot_valid`` of them had a defined ratio (resamples in
        which both medians are infinite have none and are left out).
    """

    ratio: float
    low: float
    high: float
    p_value: float
    baseline_median: float
    candidate_median: float
    n_baseline: int
    n_candidate: int
    censored_baseline: int
    censored_candidate: int
    prob_improvement: float
    cap: Optional[float]
    confidence: float
    n_boot: int
    n_boot_valid: int

    def verdict(self, claimed: float = 1.5, null: float = 1.0) -> str:
        """The verdict rule of :func:`verdict` applied to this ratio and interval."""
        return verdict(self.ratio, self.low, self.high, claimed=claimed, null=null)

    def as_dict(self) -> dict:
        """The fields as a plain dict (one row of a results table)."""
        from dataclasses import asdict

        return asdict(self)


def _ratio(mb: float, mc: float) -> float:
    if math.isinf(mb) and math.isinf(mc):
        return math.nan
    if math.isinf(mc):
        return 0.0
    if math.isinf(mb):
        return math.inf
    return mb / mc


#: Most bootstrap resamples accepted (each one is a vector of the sample's size).
MAX_BOOT = 1_000_000


def _check_boot(n_boot, confidence, seed) -> None:
    _checks.integer(n_boot, "n_boot", minimum=1, maximum=MAX_BOOT,
                    fix="a number of bootstrap resamples, e.g. 2000")
    _checks.real(confidence, "confidence", minimum=0, maximum=1, include_min=False, include_max=False,
                 fix="e.g. 0.95")
    _checks.integer(seed, "seed", minimum=0)


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    finite = np.where(np.isinf(values), np.finfo(float).max / 4, values)
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    # linear interpolation towards an infinite neighbour is infinite
    upper = np.quantile(values, [alpha, 1 - alpha], method="higher")
    low, high = (math.inf if np.isinf(u) else float(q) for q, u in zip((low, high), upper))
    return low, high


def speedup(baseline_epochs, candidate_epochs, cap: Optional[float] = None, n_boot: int = 2000, seed: int = 0,
            *, confidence: float = 0.95) -> SpeedUp:
    """Speed-up of a candidate over a baseline in epochs to converge, censored runs included.

    Parameters
    ----------
    baseline_epochs, candidate_epochs : sequence of int or None
        Epochs to converge of each run (e.g. ReLU's and ``topo``'s over the same seeds); None,
        NaN or inf for a run that never reached the target (censored at ``cap``).
    cap : float, optional
        The epoch cap of the runs; required when any run is censored.
    n_boot : int, default 2000
        Bootstrap resamples for the confidence interval.
    seed : int, default 0
        Seed of the bootstrap.
    confidence : float, default 0.95

    Returns
    -------
    SpeedUp
        ``ratio``, ``low``, ``high``, ``p_value`` and the extras documented there.

    Notes
    -----
    - ``ratio`` = :func:`km_median` (baseline) / :func:`km_median` (candidate). Without censored
      runs these are ordinary sample medians; with censored runs, Kaplan-Meier medians (scipy's
      ``ecdf`` on ``CensoredData``), infinite when more than half the runs never converged.
    - The interval is a percentile bootstrap: each group is resampled with replacement on its
      own (runs are not paired), the ratio recomputed by the same rule, and the
      ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles taken over the resamples
      whose ratio is defined. The interval can be infinite on the side where resamples had
      more than half of the candidate's (or baseline's) runs censored.
    - ``p_value``: ``scipy.stats.logrank`` (two-sided) on the two censored samples.

    Examples
    --------
    >>> r = speedup([400, 500, 600], [200, 250, 300])
    >>> r.ratio
    2.0
    >>> speedup([400, None, 600], [200, 250, None], cap=1000).ratio
    2.4
    """
    _check_boot(n_boot, confidence, seed)
    b, bc, cap_b = _censored_epochs(baseline_epochs, cap, "baseline_epochs")
    c, cc, _ = _censored_epochs(candidate_epochs, cap, "candidate_epochs")
    mb, mc = _km_median(b, bc), _km_median(c, cc)
    ratio = _ratio(mb, mc)

    rng = np.random.default_rng(int(seed))
    ib = rng.integers(0, len(b), (int(n_boot), len(b)))
    ic = rng.integers(0, len(c), (int(n_boot), len(c)))
    boots = np.array([_ratio(x, y) for x, y in zip(_resampled_medians(b, bc, ib), _resampled_medians(c, cc, ic))])
    low, high = _percentile_interval(boots, confidence)

    if bc.all() and cc.all():
        p_value = math.nan
    else:
        p_value = float(_st.logrank(_censored_data(b, bc), _censored_data(c, cc), alternative="two-sided").pvalue)
    prob = _prob_improvement(np.where(bc, np.inf, b), np.where(cc, np.inf, c))
    return SpeedUp(ratio=ratio, low=low, high=high, p_value=p_value, baseline_median=mb, candidate_median=mc,
                   n_baseline=len(b), n_candidate=len(c), censored_baseline=int(bc.sum()),
                   censored_candidate=int(cc.sum()), prob_improvement=prob, cap=cap_b, confidence=confidence,
                   n_boot=int(n_boot), n_boot_valid=int(np.count_nonzero(~np.isnan(boots))))


def speedup_table(runs: pd.DataFrame, baseline: str, candidates: Optional[Sequence[str]] = None, *,
                  by: Sequence[str] = ("dataset",), group: str = "activation", value: str = "epochs_to_converge",
                  cap: str = "max_epochs", n_boot: int = 2000, seed: int = 0, confidence: float = 0.95,
                  claimed: float = 1.5) -> pd.DataFrame:
    """:func:`speedup` of each candidate over a baseline, per configuration, from a table of runs.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per run, e.g. :func:`topokit.sweeps.sweep`'s table.
    baseline : str
        The value of ``group`` to compare against (e.g. ``"relu"``).
    candidates : sequence of str, optional
        Values of ``group`` to compare; default every other value present.
    by : sequence of str, default ("dataset",)
        Columns that define a comparison (e.g. ``("dataset", "net")``); the cap must be the same
        within each. Arms may differ in other settings (each activation with its own tuned
        learning rate, say): filter the table to the runs you mean to compare first.
    group, value, cap : str
        Columns holding the arm (activation), the epochs to converge (NaN when censored) and
        the epoch cap.
    n_boot, seed, confidence
        As for :func:`speedup`.
    claimed : float, default 1.5
        The claimed speed-up for the ``verdict`` column (:func:`verdict`).

    Returns
    -------
    pandas.DataFrame
        One row per (``by`` values, candidate): the ``by`` columns, ``baseline``, ``candidate``
        and the fields of :class:`SpeedUp`, plus ``verdict``.
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in by + [group, value, cap] if c not in runs.columns]
    if missing:
        raise ValueError(f"runs lacks the column(s) {missing}; pass a table of runs such as sweeps.sweep() returns, "
                         "or name the columns with by=, group=, value=, cap=")
    if baseline not in set(runs[group]):
        raise ValueError(f"baseline {baseline!r} is not among the {group} values {sorted(set(runs[group]))}")
    rows = []
    for keys, part in runs.groupby(by, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        caps = part[cap].unique()
        if len(caps) != 1:
            raise ValueError(f"runs of {dict(zip(by, keys))} have different caps {sorted(caps)}; add the cap's column "
                             "to by= or compare runs trained with one cap")
        base = part.loc[part[group] == baseline, value]
        if base.empty:
            continue
        others = candidates if candidates is not None else [g for g in part[group].unique() if g != baseline]
        for cand in others:
            cand_values = part.loc[part[group] == cand, value]
            if cand_values.empty:
                continue
            res = speedup(base.tolist(), cand_values.tolist(), cap=float(caps[0]), n_boot=n_boot, seed=seed,
                          confidence=confidence)
            rows.append({**dict(zip(by, keys)), "baseline": baseline, "candidate": cand, **res.as_dict(),
                         "verdict": res.verdict(claimed=claimed)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- rank correlation


@dataclass(frozen=True)
class Correlation:
    """Result of :func:`rank_correlation`: Spearman's ``rho`` with its bootstrap interval.

    Attributes
    ----------
    rho, low, high, p_value : float
        Spearman's rank correlation, the percentile bootstrap interval (pairs resampled), and
        scipy's p-value for no correlation.
    n : int
        Pairs used (pairs with a NaN in either variable are dropped).
    n_boot, n_boot_valid : int
        Resamples drawn, and those where rho was defined (not all values tied).
    confidence : float
    """

    rho: float
    low: float
    high: float
    p_value: float
    n: int
    n_boot: int
    n_boot_valid: int
    confidence: float


def rank_correlation(x, y, n_boot: int = 2000, seed: int = 0, *, confidence: float = 0.95) -> Correlation:
    """Spearman rank correlation of paired values with a percentile bootstrap interval.

    Used to ask whether faster Betti reduction goes with faster convergence across runs.
    ``inf`` values (e.g. censored epochs) are allowed: they rank last. Pairs with a NaN in
    either variable are dropped.

    Parameters
    ----------
    x, y : sequence of float
        Paired observations, one pair per run.
    n_boot : int, default 2000
    seed : int, default 0
    confidence : float, default 0.95
    """
    _check_boot(n_boot, confidence, seed)
    x = np.asarray([np.nan if v is None else v for v in np.asarray(x, dtype=object).ravel()], dtype=float)
    y = np.asarray([np.nan if v is None else v for v in np.asarray(y, dtype=object).ravel()], dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"x and y must pair up (one value each per run), got lengths {len(x)} and {len(y)}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) < 3:
        raise ValueError(f"need at least 3 pairs without NaN for a rank correlation, got {len(x)}")

    constant = np.all(x == x[0]) or np.all(y == y[0])
    res = None if constant else _st.spearmanr(x, y)
    rho = float(res.statistic) if res is not None else math.nan
    p = float(res.pvalue) if res is not None else math.nan
    # Spearman's rho of every resample at once: Pearson's r of the (tie-averaged) ranks
    idx = np.random.default_rng(int(seed)).integers(0, len(x), (int(n_boot), len(x)))
    rx, ry = _st.rankdata(x[idx], axis=1), _st.rankdata(y[idx], axis=1)
    rx, ry = rx - rx.mean(1, keepdims=True), ry - ry.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        boots = (rx * ry).sum(1) / np.sqrt((rx * rx).sum(1) * (ry * ry).sum(1))
    boots[~np.isfinite(boots)] = np.nan  # a resample with all values tied has no rank correlation
    low, high = _percentile_interval(boots, confidence)
    return Correlation(rho=rho, low=low, high=high, p_value=p, n=len(x), n_boot=int(n_boot),
                       n_boot_valid=int(np.count_nonzero(~np.isnan(boots))), confidence=confidence)


# ----------------------------------------------------------------------------- other claims


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval (:func:`mean_difference`, :func:`proportion_ci`)."""

    estimate: float
    low: float
    high: float
    n: int
    confidence: float


def mean_difference(baseline, candidate, n_boot: int = 9999, seed: int = 0, *,
                    confidence: float = 0.95, paired: bool = False) -> Estimate:
    """Difference of means, ``mean(candidate) - mean(baseline)``, with a bootstrap interval.

    By default the two groups are independent samples (e.g. nets of two activations), resampled
    separately by ``scipy.stats.bootstrap`` (percentile method). ``paired=True`` takes them as
    pairs (e.g. the same test images before and after pruning) and resamples the pairs. With
    fewer than two values in a group there is no interval: ``low`` and ``high`` are NaN.
    """
    _check_boot(n_boot, confidence, seed)
    b = np.asarray(baseline, dtype=float).ravel()
    c = np.asarray(candidate, dtype=float).ravel()
    if np.isnan(b).any() or np.isnan(c).any():
        raise ValueError("mean_difference takes measured values only; drop the NaN entries first")
    if len(b) == 0 or len(c) == 0:
        raise ValueError(f"both groups need values, got {len(b)} baseline and {len(c)} candidate")
    if paired and len(b) != len(c):
        raise ValueError(f"paired samples need equal lengths, got {len(b)} and {len(c)}")
    est = float(c.mean() - b.mean())
    if min(len(b), len(c)) < 2:
        return Estimate(est, math.nan, math.nan, len(b) + len(c), confidence)
    if np.all(b == b[0]) and np.all(c == c[0]):
        return Estimate(est, est, est, len(b) + len(c), confidence)
    res = _st.bootstrap((b, c), lambda x, y, axis: np.mean(y, axis=axis) - np.mean(x, axis=axis),
                        n_resamples=int(n_boot), confidence_level=confidence, method="percentile",
                        random_state=np.random.default_rng(int(seed)), vectorized=True, paired=paired)
    return Estimate(est, float(res.confidence_interval.low), float(res.confidence_interval.high),
                    len(b) + len(c), confidence)


def proportion_ci(successes: int, n: int, *, confidence: float = 0.95) -> Estimate:
    """A share ``successes / n`` with its exact (Clopper-Pearson) interval from ``scipy.stats.binomtest``."""
    n = _checks.integer(n, "n (number of trials)", minimum=1)
    successes = _checks.integer(successes, "successes", minimum=0, maximum=n)
    confidence = _checks.real(confidence, "confidence", minimum=0, maximum=1, include_min=False,
                              include_max=False, fix="e.g. 0.95")
    ci = _st.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return Estimate(successes / n, float(ci.low), float(ci.high), int(n), confidence)


def interval_verdict(low: float, high: float, *, reproduced_above: float, refuted_below: float) -> str:
    """A verdict from a confidence interval and two thresholds fixed in advance.

    ``"reproduced"`` when the whole interval lies at or above ``reproduced_above``;
    ``"not reproduced"`` when it lies wholly below ``refuted_below``; ``"mixed"`` otherwise (the
    data cannot tell); ``"not testable here"`` when the interval is undefined (NaN or None).
    """
    reproduced_above = _checks.real(reproduced_above, "reproduced_above", finite=False)
    refuted_below = _checks.real(refuted_below, "refuted_below", finite=False)
    if refuted_below > reproduced_above:
        raise ValueError("refuted_below must not exceed reproduced_above")
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "not testable here"
    if low >= reproduced_above:
        return "reproduced"
    if high < refuted_below:
        return "not reproduced"
    return "mixed"


# ----------------------------------------------------------------------------- paired classifiers

_ALTERNATIVES = ("two-sided", "greater", "less")


@dataclass(frozen=True)
class McNemar:
    """The exact McNemar test of two classifiers on the same items (:func:`mcnemar`).

    Attributes
    ----------
    b : int
        Discordant items the first classifier gets right and the second wrong.
    c : int
        Discordant items the first gets wrong and the second right.
    pvalue : float
        The exact binomial p-value (1.0 when there is no discordant item).
    alternative : str
        ``"two-sided"``, ``"greater"`` (b > c: the second is less accurate) or ``"less"``.
    """

    b: int
    c: int
    pvalue: float
    alternative: str

    @property
    def n_discordant(self) -> int:
        """``b + c``: the items on which the two classifiers disagree about being right."""
        return self.b + self.c


def mcnemar(b: int, c: int, *, alternative: str = "two-sided") -> McNemar:
    """Exact (binomial) McNemar test from the two discordant counts.

    Of ``n = b + c`` items on which exactly one of two classifiers is right, ``b`` are those the
    first gets right and ``c`` those the second gets right. Under the null hypothesis (equal
    accuracy) ``b ~ Binomial(n, 1/2)``; the p-value is ``scipy.stats.binomtest(b, n, 0.5,
    alternative)``: two-sided (the default), ``"greater"`` (the second classifier is less accurate:
    large ``b``) or ``"less"``. Concordant items do not enter the test. With no discordant item
    (``b = c = 0``) there is no evidence of a difference and the p-value is 1.

    Examples
    --------
    >>> mcnemar(0, 10).pvalue == 2 * 0.5 ** 10
    True
    >>> mcnemar(7, 7).pvalue
    1.0
    """
    b = _checks.integer(b, "b (items the first classifier gets right and the second wrong)", minimum=0)
    c = _checks.integer(c, "c (items the first classifier gets wrong and the second right)", minimum=0)
    alternative = _checks.choice(alternative, "alternative", _ALTERNATIVES)
    if b + c == 0:
        return McNemar(b, c, 1.0, alternative)
    p = float(_st.binomtest(b, b + c, 0.5, alternative=alternative).pvalue)
    return McNemar(b, c, min(p, 1.0), alternative)


def paired_mcnemar(first_correct, second_correct, *, alternative: str = "two-sided") -> McNemar:
    """Exact McNemar test on paired correctness arrays (one entry per test item).

    ``first_correct[i]`` and ``second_correct[i]`` say whether each classifier gets item ``i``
    right (booleans, or 0/1); ``b`` counts the items only the first gets right, ``c`` those only
    the second gets right, and :func:`mcnemar` does the rest. Pass ``prediction == y`` of each
    model on the same items in the same order.
    """
    a = _correctness(first_correct, "first_correct")
    d = _correctness(second_correct, "second_correct")
    if a.shape != d.shape:
        raise _checks.InvalidParameterError(
            f"first_correct and second_correct must have one entry per item each, got {a.size} and {d.size}; "
            "pass both models' results on the same items in the same order")
    return mcnemar(int(np.sum(a & ~d)), int(np.sum(~a & d)), alternative=alternative)


def _correctness(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise _checks.InvalidParameterError(
            f"{name} must be a non-empty 1-D array of booleans (one per item), got shape {arr.shape}; "
            "pass e.g. model_prediction == y")
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number) or not np.isin(arr, (0, 1)).all():
            raise _checks.InvalidParameterError(
                f"{name} must hold booleans (or 0/1), got values such as {arr[:3].tolist()!r}; pass "
                "e.g. model_prediction == y")
        arr = arr.astype(bool)
    return arr
