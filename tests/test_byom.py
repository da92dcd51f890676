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


def _runs(betti, randoms, before=None, fractions=(0.3, 0.5)):
    """pruning_table-like rows: Betti (high) and random seeds 0, 1, 2 per fraction (accuracy before = after - 0.1
    unless ``before`` gives Betti's)."""
    rows = [{"method": "unpruned + same epochs", "fraction": 0.0, "seed": None, "accuracy": 0.8,
             "accuracy_pruned": 0.8}]
    for i, f in enumerate(fractions):
        rows.append({"method": "betti (high)", "fraction": f, "seed": None, "accuracy": betti[i],
                     "accuracy_pruned": before[i] if before else betti[i] - 0.1})
        rows += [{"method": "random", "fraction": f, "seed": s, "accuracy": a, "accuracy_pruned": a - 0.1}
                 for s, a in enumerate(randoms[i])]
    return pd.DataFrame(rows)


def test_specifications_one_change_at_a_time_with_known_flips(tmp_path):
    table = _runs((0.75, 0.66), ((0.70, 0.72, 0.74), (0.60, 0.62, 0.67)), before=(0.70, 0.40))
    extra = pd.DataFrame([
        {"method": "betti (high)", "fraction": 0.3, "seed": None, "accuracy": 0.60, "accuracy_pruned": 0.5, "scored": 200},
        {"method": "betti (high)", "fraction": 0.5, "seed": None, "accuracy": 0.50, "accuracy_pruned": 0.4, "scored": 200},
        {"method": "random", "fraction": 0.3, "seed": 3, "accuracy": 0.76, "accuracy_pruned": 0.6, "scored": None},
        {"method": "random", "fraction": 0.5, "seed": 3, "accuracy": 0.61, "accuracy_pruned": 0.5, "scored": None},
    ])
    specs, reference = byom.specifications(table, extra, mode="default")
    assert reference == {"fractions": "30%, 50%", "fine-tuning": "1 epoch", "random seeds": "0, 1, 2",
                         "scored images": 400}
    got = {tuple(row[c] for c in byom.ROBUSTNESS_CHOICES): row["verdict"] for _, row in specs.iterrows()}
    ref = tuple(reference.values())

    def at(**change):
        return got[tuple({**reference, **change}[c] for c in byom.ROBUSTNESS_CHOICES)]

    assert list(got)[0] == ref and got[ref] == "mixed"  # wins at 30%, ties at 50% (0.66 < 0.67)
    assert at(fractions="30%") == "reproduced" and at(fractions="50%") == "mixed"
    assert at(**{"fine-tuning": "none"}) == "mixed"  # before fine-tuning: 0.70 vs 0.6-0.64 wins, 0.40 loses
    assert at(**{"random seeds": "0, 1"}) == "reproduced"  # without seed 2 (0.67) Betti wins at 50% too
    assert at(**{"random seeds": "0, 1, 2, 3"}) == "mixed"  # seed 3 beats Betti at 30%: both ties
    assert at(**{"scored images": 200}) == "not reproduced"
    assert len(specs) == 1 + 2 + 1 + 3 + 1 + 1
    part = report.record_robustness("ext-resnet-betti", specs, byom.ROBUSTNESS_CHOICES, reference,
                                    cache_dir=tmp_path, mode="default")
    assert part.headline.startswith("mixed in ") and "scored images = 200 (not reproduced)" in part.headline


def test_specifications_without_extra_runs_and_bad_tables():
    table = _runs((0.76,), ((0.70, 0.72),), fractions=(0.5,))
    table = table[~((table.method == "random") & (table.seed == 2))]
    specs, reference = byom.specifications(table, None, mode="quick")
    assert reference["random seeds"] == "0, 1" and reference["scored images"] == 100
    assert specs["random seeds"].tolist() == ["0, 1", "0, 1", "1", "0"]  # reference, no fine-tuning, leave-one-out
    assert set(specs.verdict) == {"reproduced"}
    with pytest.raises(ValueError, match="robustness_runs"):
        byom.specifications(table, pd.DataFrame({"method": []}), mode="quick")
    with pytest.raises(ValueError, match="accuracy must be one of"):
        byom.claim(table, accuracy="accuracy_after")


def test_filter_scores_are_computed_once(monkeypatch, tmp_path):
    from types import SimpleNamespace

    import numpy as np

    from topokit import models, pruning

    rng = np.random.default_rng(0)
    images = SimpleNamespace(X=rng.normal(size=(40, 3, 8, 8)).astype(np.float32), y=np.repeat([0, 1], 20))
    monkeypatch.setattr(byom, "load_data", lambda mode=None, seed=0: (images, images))
    calls = []
    original = pruning.filter_scores

    def counted(*args, **kwargs):
        calls.append(kwargs["method"])
        return original(*args, **kwargs)

    monkeypatch.setattr(pruning, "filter_scores", counted)
    net = models.resnet(20, num_classes=2, in_channels=3, width=2, seed=0)
    first = [byom.filter_scores(net, m, "quick", 1, cache_dir=tmp_path, n_jobs=1) for m in ("l1", "random")]
    again = [byom.filter_scores(net, m, "quick", 1, cache_dir=tmp_path, n_jobs=1) for m in ("l1", "random")]
    assert calls == ["l1", "random"]  # the second round comes from the cache
    assert all(list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a) for a, b in zip(first, again))
    byom.filter_scores(net, "random", "quick", 2, cache_dir=tmp_path, n_jobs=1)  # another seed: computed
    assert calls == ["l1", "random", "random"]
    with pytest.raises(ValueError, match="method must be one of"):
        byom.filter_scores(net, "magnitude", "quick", cache_dir=tmp_path)


def test_figures_of_the_notebook_from_small_tables():
    """The notebook's three figures, drawn from tables of the shapes the study returns."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = pd.DataFrame({"epoch": [1, 2, 3], "train_accuracy": [0.6, 0.8, 0.9], "test_accuracy": [0.6, 0.7, 0.75]})
    assert len(byom.plot_training(history).axes[0].lines) == 2
    betti = pd.DataFrame([{"layer": layer, "layer_name": f"block{layer}", "label": label, "dim": dim,
                           "betti": 1 + layer + dim, "omega": 0} for layer in range(3) for label in (0, 1) for dim in (0, 1)])
    fig = byom.plot_block_betti(betti, ("cat", "truck"))
    lines = fig.axes[0].lines
    assert [ln.get_label() for ln in lines] == ["cat", "truck"] and list(lines[0].get_ydata()) == [3, 5, 7]  # b0 + b1
    table = pd.DataFrame([{"method": m, "fraction": f, "seed": 0, "accuracy_pruned": 0.5, "accuracy": 0.8 - f / 10,
                           "params": 100 * (1 - f), "macs": 1000 * (1 - f), "bytes": 400 * (1 - f),
                           "latency_b1_ms": 2.0 * (1 - f / 2)} for m in ("betti (high)", "random") for f in (0.0, 0.25, 0.5)])
    fig = byom.plot_pruning(table)
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 4  # params, MACs, bytes and latency, relative
    plt.close("all")
