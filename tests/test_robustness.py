"""Seed counts sized to the variance, winner stability and specification curves (topokit.robustness)."""
import math

import numpy as np
import pandas as pd
import pytest

from topokit import robustness, stats


def _cell(rng, n, sigma=0.5, ratio=1.5, base=400.0):
    """A synthetic cell of known variance: log-normal epochs, candidate ``ratio`` times faster."""
    return (base * np.exp(rng.normal(0, sigma, n)), base / ratio * np.exp(rng.normal(0, sigma, n)))


def _width(b, c):
    s = stats.speedup(b, c, n_boot=400, seed=1)
    return max(s.high / s.ratio, s.ratio / s.low)


def test_the_planned_seeds_reach_the_target_width_on_a_cell_of_known_variance():
    rng = np.random.default_rng(0)
    plan = robustness.seeds_needed(*_cell(rng, 12), width=1.3, minimum=10, max_seeds=400)
    # theory for medians of log-normal(0, 0.5): sd of log ratio = sqrt(2) * 1.2533 * 0.5 / sqrt(n)
    theory = (1.96 * math.sqrt(2) * 1.2533 * 0.5 / math.log(1.3)) ** 2
    assert plan.reachable and 0.4 * theory <= plan.n_seeds <= 2.5 * theory, (plan, theory)
    at_plan = np.median([_width(*_cell(rng, plan.n_seeds)) for _ in range(15)])
    at_quarter = np.median([_width(*_cell(rng, max(3, plan.n_seeds // 4))) for _ in range(15)])
    assert at_plan <= 1.3 * 1.12 and at_quarter > at_plan * 1.2


def test_an_unreachable_width_says_so_and_reports_the_width_reached():
    rng = np.random.default_rng(1)
    plan = robustness.seeds_needed(*_cell(rng, 10, sigma=1.0), width=1.05, minimum=10, max_seeds=30)
    assert not plan.reachable and plan.n_seeds == 30 and plan.width_at_cap > 1.05
    assert "out of reach within 30 seeds" in plan.message()
    with pytest.raises(ValueError, match="out of reach.*raise max_seeds"):
        robustness.seeds_needed(*_cell(rng, 10, sigma=1.0), width=1.05, max_seeds=30, strict=True)


def test_a_mostly_censored_pilot_is_unreachable():
    plan = robustness.seeds_needed([100, None, None, None, None], [50, 60, None, None, None], cap=500)
    assert not plan.reachable and math.isinf(plan.width_at_cap)


@pytest.mark.parametrize("kwargs, match", [
    (dict(width=1.0), r"width must be a finite number > 1"),
    (dict(width=float("nan")), "width must be"),
    (dict(minimum=1), "minimum must be an integer >= 2"),
    (dict(minimum=10, max_seeds=5), "max_seeds must be an integer >= 10"),
    (dict(strict="yes"), "strict must be True or False"),
])
def test_seed_rule_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        robustness.seeds_needed([300, 400, 500], [200, 250, 300], **kwargs)


def test_winner_stability_known_answers():
    rng = np.random.default_rng(0)
    rows = [{"seed": s, "member": m, "epochs": base * np.exp(rng.normal(0, 0.3))}
            for s in range(20) for m, base in (("a", 100.0), ("b", 300.0), ("c", 310.0))]
    runs = pd.DataFrame(rows)

    def choose(df):
        return df.groupby("member")["epochs"].median().idxmin()

    share = robustness.winner_stability(runs, choose, n_boot=100)
    assert share.attrs["original"] == "a" and share["a"] == 1.0
    close = robustness.winner_stability(runs[runs.member != "a"], choose, n_boot=200)
    assert set(close.index) == {"b", "c"} and 0.2 < close["b"] < 0.95  # b and c are nearly tied


def test_specification_curve_shares_and_a_known_flip():
    specs = pd.DataFrame([
        {"target": t, "lr": lr, "verdict": "not reproduced" if (t == 1.0 and lr == "tuned") else "reproduced"}
        for t in (0.95, 0.98, 0.99, 1.0) for lr in ("recipe", "tuned")])
    curve = robustness.specification_curve(specs, ["target", "lr"], reference={"target": 1.0, "lr": "recipe"})
    assert list(curve.columns) == ["choice", "value", "n", "not reproduced", "reproduced"]
    overall = curve[curve.choice == "all"].iloc[0]
    assert overall["n"] == 8 and overall["reproduced"] == 7 / 8
    tuned = curve[(curve.choice == "lr") & (curve.value == "tuned")].iloc[0]
    assert tuned["reproduced"] == 3 / 4
    flips = curve.attrs["flips"]
    assert flips.to_dict("records") == [{"choice": "lr", "value": "tuned", "verdict": "not reproduced",
                                         "reference_verdict": "reproduced"}]
    with pytest.raises(ValueError, match="lacks the column"):
        robustness.specification_curve(specs, ["batch"])
    with pytest.raises(ValueError, match="no specification matches"):
        robustness.flips(specs, ["target", "lr"], "verdict", {"target": 0.5, "lr": "recipe"})
