"""topokit.stats on inputs with known answers, censored runs included, and bad input."""
import math

import numpy as np
import pytest

from topokit import stats

BASE = [300, 420, 510, 640, 700, 880, 930, 1010]


def test_identical_samples_ratio_one():
    r = stats.speedup(BASE, BASE)
    assert r.ratio == 1.0 and r.low <= 1.0 <= r.high
    assert r.p_value == pytest.approx(1.0) and r.prob_improvement == 0.5
    assert (r.n_baseline, r.n_candidate, r.censored_baseline, r.censored_candidate) == (8, 8, 0, 0)
    assert r.baseline_median == np.median(BASE) and r.n_boot_valid == r.n_boot == 2000


def test_half_the_epochs_ratio_two():
    r = stats.speedup(BASE, [e / 2 for e in BASE])
    assert r.ratio == 2.0 and 1.0 < r.low <= 2.0 <= r.high
    assert r.prob_improvement > 0.8 and r.p_value < 0.05
    odd = stats.speedup([400, 500, 600], [200, 250, 300])
    assert odd.ratio == 2.0 and odd.prob_improvement == 1.0
    # reversed roles: the candidate twice as slow
    assert stats.speedup([200, 250, 300], [400, 500, 600]).ratio == 0.5


def test_bootstrap_is_seeded():
    a, b = stats.speedup(BASE, BASE[::-1][:5], seed=3), stats.speedup(BASE, BASE[::-1][:5], seed=3)
    assert (a.low, a.high) == (b.low, b.high)


def test_km_median_known_answers():
    assert stats.km_median([5, 1, 3]) == 3 and stats.km_median([1, 2, 3, 4]) == 2.5  # np.median without censoring
    # censored runs at the cap after every observed epoch: KM is the empirical curve with mass
    # missing; P(reached by 200) = 1/2 exactly until 300, hence the midpoint (R's convention)
    assert stats.km_median([100, 200, 300, None], cap=500) == 250
    assert stats.km_median([100, float("nan"), 300, None, 50], cap=500) == 300
    assert stats.km_median([100, 200, None, None, None], cap=1000) == math.inf  # 2 of 5 converged
    assert stats.km_median([100, 200, None, None], cap=1000) == math.inf  # exactly half, then flat
    rng = np.random.default_rng(0)
    for _ in range(20):  # censoring at the cap: the KM median is the median with censored runs as +inf
        sample = [None if v > 800 else int(v) for v in rng.integers(1, 1000, rng.integers(2, 9))]
        as_inf = np.median([np.inf if v is None else v for v in sample])
        assert stats.km_median(sample, cap=1000) == as_inf
    assert stats.km_median([None, None], cap=10) == math.inf


def test_censored_speedup():
    r = stats.speedup([100, 200, 300, None], [50, 100, 150, None], cap=500)
    assert r.ratio == 2.0 and (r.censored_baseline, r.censored_candidate) == (1, 1)
    assert r.baseline_median == 250 and r.candidate_median == 125
    # the baseline mostly never converges: its median is infinite, so is the ratio
    r = stats.speedup([100, None, None], [40, 50, 60], cap=1000)
    assert r.ratio == math.inf and r.high == math.inf and r.p_value < 0.05
    assert r.prob_improvement == 1.0  # 40-60 beat 100 and both censored runs
    # the candidate mostly never converges
    assert stats.speedup([40, 50, 60], [100, None, None], cap=1000).ratio == 0.0
    # nobody converges: no ratio, no log-rank test
    r = stats.speedup([None, None], [None, None], cap=100)
    assert math.isnan(r.ratio) and math.isnan(r.p_value) and r.n_boot_valid == 0 and r.verdict() == "mixed"


def test_probability_of_improvement_censored_as_infinite():
    assert stats.probability_of_improvement([None, None], [10, None], cap=100) == 0.75
    assert stats.probability_of_improvement([5, 6], [1, 2]) == 1.0
    assert stats.probability_of_improvement([1, 2], [5, 6]) == 0.0


def test_km_curve_known_values():
    curve = stats.km_curve([1, 2, None], cap=5)
    assert curve.epoch.tolist() == [0, 1, 2, 5]
    np.testing.assert_allclose(curve.reached, [0, 1 / 3, 2 / 3, 2 / 3])
    assert (curve.n == 3).all() and (curve.censored == 1).all()
    assert (curve.low.iloc[1:] < curve.reached.iloc[1:]).all() and (curve.high.iloc[1:] > curve.reached.iloc[1:]).all()
    groups = stats.km_curve({"relu": [3, 4], "topo": [None, 2]}, cap=10)
    assert groups.columns[0] == "group" and set(groups.group) == {"relu", "topo"}
    assert groups[groups.group == "relu"].reached.iloc[-1] == 1.0
    assert groups[groups.group == "topo"].reached.iloc[-1] == 0.5
    nobody = stats.km_curve([None, None], cap=7)
    assert nobody.epoch.tolist() == [0, 7] and (nobody.reached == 0).all()


def test_speedup_table_from_runs():
    import pandas as pd

    runs = pd.DataFrame({
        "dataset": ["A"] * 8 + ["B"] * 4,
        "activation": ["relu"] * 4 + ["topo"] * 4 + ["relu"] * 2 + ["topo"] * 2,
        "epochs_to_converge": [400, 500, 600, np.nan, 200, 250, 300, np.nan, 100, 120, 100, 120],
        "max_epochs": [1000] * 8 + [500] * 4,
    })
    table = stats.speedup_table(runs, "relu", n_boot=200)
    assert table[["dataset", "baseline", "candidate"]].values.tolist() == [["A", "relu", "topo"], ["B", "relu", "topo"]]
    assert table.ratio.tolist() == [2.0, 1.0] and table.censored_baseline.tolist() == [1, 0]
    assert table.cap.tolist() == [1000, 500] and set(table.verdict) <= {"reproduced", "not reproduced", "mixed"}
    with pytest.raises(ValueError, match="different caps"):
        stats.speedup_table(runs.assign(dataset="A"), "relu")
    with pytest.raises(ValueError, match="baseline 'gelu' is not among"):
        stats.speedup_table(runs, "gelu")
    with pytest.raises(ValueError, match="lacks the column"):
        stats.speedup_table(runs.drop(columns="max_epochs"), "relu")


def test_verdict_rule():
    assert stats.verdict(2.0, 1.2, 3.0) == "reproduced"
    assert stats.verdict(1.2, 0.9, 1.4) == "not reproduced"
    assert stats.verdict(1.6, 0.9, 2.5) == "mixed"  # big but uncertain
    assert stats.verdict(1.4, 1.1, 1.9) == "mixed"  # surely faster, maybe less than claimed
    assert stats.verdict(float("nan"), 1, 2) == "mixed"
    assert stats.verdict(1.3, 1.1, 1.9, claimed=1.25) == "reproduced"
    r = stats.speedup(BASE, [e / 2 for e in BASE])
    assert r.verdict() == stats.verdict(r.ratio, r.low, r.high)
    assert set(r.as_dict()) >= {"ratio", "low", "high", "p_value", "prob_improvement"}


def test_rank_correlation():
    x = np.arange(10.0)
    c = stats.rank_correlation(x, x ** 2)
    assert c.rho == pytest.approx(1.0) and c.low == pytest.approx(1.0) and c.p_value < 1e-6 and c.n == 10
    c = stats.rank_correlation(x, -x, n_boot=200)
    assert c.rho == pytest.approx(-1.0) and c.high == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    c = stats.rank_correlation(rng.normal(size=40), rng.normal(size=40), seed=1)
    assert c.low < 0 < c.high
    c = stats.rank_correlation([1, 2, 3, np.nan, 5], [2, 3, 4, 5, np.inf])
    assert c.n == 4 and c.rho == pytest.approx(1.0)  # inf ranks last, the NaN pair is dropped


@pytest.mark.parametrize("call, match", [
    (lambda: stats.speedup([100, None], [50, 60]), "censored runs .* but no cap; pass cap="),
    (lambda: stats.speedup([100, 700], [50], cap=500), "above the cap 500"),
    (lambda: stats.speedup([], [50]), "baseline_epochs is empty"),
    (lambda: stats.speedup([0, 5], [50]), "non-positive epochs"),
    (lambda: stats.speedup([10], [5], n_boot=0), r"n_boot must be an integer in \[1, 1000000\]"),
    (lambda: stats.speedup([10], [5], confidence=95), r"confidence must be a finite number in \(0, 1\)"),
    (lambda: stats.speedup(100, [5]), "must be a sequence of epochs"),
    (lambda: stats.speedup([10, -np.inf], [5], cap=50), "holds -inf; a censored run"),
    (lambda: stats.speedup([[10, 20], [30, 40]], [5], cap=50), r"flat sequence of epochs.*shape \(2, 2\)"),
    (lambda: stats.speedup(["ten"], [5]), "must hold numbers of epochs"),
    (lambda: stats.speedup([10], [5], seed=-1), "seed must be an integer >= 0"),
    (lambda: stats.km_curve({}), "empty mapping"),
    (lambda: stats.rank_correlation([1, 2, 3], [1, 2]), "must pair up"),
    (lambda: stats.rank_correlation([1, 2], [1, 2]), "at least 3 pairs"),
    (lambda: stats.verdict(2, 1, 3, claimed=0), "must be positive"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("low, high, expected", [
    (1.6, 2.4, "reproduced"), (1.5, 1.9, "reproduced"), (0.7, 1.4, "not reproduced"),
    (1.2, 1.8, "mixed"), (0.9, 2.5, "mixed"), (float("nan"), 2.0, "not testable here"),
])
def test_interval_verdict(low, high, expected):
    assert stats.interval_verdict(low, high, reproduced_above=1.5, refuted_below=1.5) == expected


def test_interval_verdict_rejects_inverted_thresholds():
    with pytest.raises(ValueError, match="must not exceed"):
        stats.interval_verdict(1, 2, reproduced_above=1, refuted_below=2)


def test_mean_difference_known_answers():
    same = stats.mean_difference([3, 4, 5, 6], [3, 4, 5, 6])
    assert same.estimate == 0 and same.low <= 0 <= same.high
    shifted = stats.mean_difference([1, 2, 3, 4, 5], [11, 12, 13, 14, 15])
    assert shifted.estimate == 10 and 8 <= shifted.low <= 10 <= shifted.high <= 12
    one = stats.mean_difference([1.0], [2.0, 3.0])
    assert one.estimate == 1.5 and math.isnan(one.low) and math.isnan(one.high)
    with pytest.raises(ValueError, match="NaN"):
        stats.mean_difference([1, float("nan")], [1, 2])


def test_proportion_ci_exact():
    all_ok = stats.proportion_ci(10, 10)
    assert all_ok.estimate == 1 and all_ok.high == 1 and abs(all_ok.low - 0.025 ** 0.1) < 1e-9  # Clopper-Pearson
    half = stats.proportion_ci(5, 10)
    assert half.low < 0.5 < half.high
    with pytest.raises(ValueError, match=r"successes must be an integer in \[0, 3\]"):
        stats.proportion_ci(4, 3)


def test_mean_difference_paired():
    before = np.array([1, 1, 1, 0, 1, 1, 0, 1, 1, 1] * 20, dtype=float)
    after = before.copy()
    after[:20] = 0  # the same images, 20 of 200 now wrong
    d = stats.mean_difference(before, after, paired=True)
    assert d.estimate == pytest.approx(after.mean() - before.mean()) and d.high < 0
    with pytest.raises(ValueError, match="equal lengths"):
        stats.mean_difference([1, 2, 3], [1, 2], paired=True)


# ----------------------------------------------------------------------------- exact McNemar


def test_mcnemar_known_answers():
    assert stats.mcnemar(0, 10).pvalue == pytest.approx(2 * 0.5 ** 10)  # every discordant pair one way
    assert stats.mcnemar(10, 0).pvalue == pytest.approx(2 * 0.5 ** 10)
    for k in (1, 4, 25):
        assert stats.mcnemar(k, k).pvalue == 1.0
    assert stats.mcnemar(0, 0).pvalue == 1.0 and stats.mcnemar(0, 0).n_discordant == 0  # no evidence at all
    # by hand, n = 10 discordant pairs: P(X <= 2) = (1 + 10 + 45) / 1024, P(X >= 8) the same
    assert stats.mcnemar(8, 2).pvalue == pytest.approx(2 * 56 / 1024)
    assert stats.mcnemar(8, 2, alternative="greater").pvalue == pytest.approx(56 / 1024)
    assert stats.mcnemar(8, 2, alternative="less").pvalue == pytest.approx(1 - 11 / 1024)
    assert stats.mcnemar(2, 8, alternative="less").pvalue == pytest.approx(56 / 1024)


def test_paired_mcnemar_counts_the_discordant_items():
    first = np.array([1, 1, 1, 0, 0, 1, 1, 0], bool)
    second = np.array([1, 0, 0, 1, 0, 0, 1, 0], bool)
    r = stats.paired_mcnemar(first, second, alternative="greater")
    assert (r.b, r.c, r.alternative) == (3, 1, "greater")
    assert r.pvalue == pytest.approx(5 / 16)  # P(X >= 3), X ~ Bin(4, 1/2)
    assert stats.paired_mcnemar(first.astype(int), second.astype(int)) == stats.paired_mcnemar(first, second)
    assert stats.paired_mcnemar(first, first).pvalue == 1.0


def test_mcnemar_refuses_bad_input():
    with pytest.raises(ValueError, match="b .* must be an integer >= 0"):
        stats.mcnemar(-1, 3)
    with pytest.raises(ValueError, match="must be an integer"):
        stats.mcnemar(2.5, 3)
    with pytest.raises(ValueError, match="did you mean 'greater'"):
        stats.mcnemar(1, 2, alternative="greatr")
    with pytest.raises(ValueError, match="one entry per item each, got 3 and 2"):
        stats.paired_mcnemar([True, False, True], [True, False])
    with pytest.raises(ValueError, match="booleans"):
        stats.paired_mcnemar([0, 1, 2], [1, 1, 1])
    with pytest.raises(ValueError, match="1-D"):
        stats.paired_mcnemar([], [])
