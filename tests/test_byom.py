"""Notebook 06's verdict rule (topokit.studies.byom) on tables with known answers."""
import pandas as pd
import pytest

from topokit import report
from topokit.studies import byom


def _table(betti_acc, randoms=((0.70, 0.72, 0.74), (0.60, 0.62, 0.64))):
    rows = [{"method": "unpruned + same epochs", "fraction": 0.0, "accuracy": 0.8}]
    for f, acc, rand in zip((0.3, 0.5), betti_acc, randoms):
        rows.append({"method": "betti (high)", "fraction": f, "accuracy": acc})
        rows += [{"method": "random", "fraction": f, "accuracy": a} for a in rand]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("betti_acc, verdict, outcomes", [
    ((0.76, 0.66), "reproduced", ["win", "win"]),
    ((0.60, 0.50), "not reproduced", ["loss", "loss"]),
    ((0.76, 0.63), "mixed", ["win", "tie"]),
    ((0.72, 0.64), "mixed", ["tie", "tie"]),  # equal to a random seed is a tie, not a win
])
def test_betti_against_random_rule(betti_acc, verdict, outcomes):
    got = byom.claim(_table(betti_acc))
    assert got["verdict"] == verdict
    assert [c["outcome"] for c in got["details"]["cells"]] == outcomes
    assert got["verdict"] in report.VERDICTS and "ext-resnet-betti" in report.CLAIMS


def test_missing_runs_are_not_testable_and_bad_tables_are_refused():
    assert byom.claim(pd.DataFrame({"method": ["random"], "fraction": [0.5], "accuracy": [0.6]}))["verdict"] == \
        "not testable here"
    with pytest.raises(ValueError, match="pruning_table"):
        byom.betti_vs_random(pd.DataFrame({"x": [1]}))
    with pytest.raises(ValueError, match="mode must be one of"):
        byom.sizes("huge")
