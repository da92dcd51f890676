"""The Betti ladder (topokit.studies.ladder) on tiny rungs: tuning, evaluation, caching, verdicts."""
import numpy as np
import pandas as pd
import pytest

from topokit.studies import ladder


@pytest.fixture
def tiny():
    return ladder.rungs(["D-I-grid", "spirals"], values={"D-I-grid": (2,), "spirals": (1,)}, n=400)


def test_rungs_are_ordered_by_betti_number_and_carry_their_truth():
    full = ladder.rungs()
    assert [r.betti for r in full] == sorted(r.betti for r in full)
    top = {(r.family, r.value): r.betti for r in full}
    assert top["D-I-grid", 13] == 170 and top["checkerboard", 18] == 162 and top["rings", 9] == 162
    assert max(top.values()) >= 150  # the paper's regime is on the ladder
    assert all(r.betti <= 30 for r in ladder.rungs(upto=30))


def test_tiny_ladder_tunes_evaluates_and_a_rerun_computes_nothing(tiny, tmp_path, monkeypatch):
    kw = dict(activations=("relu", "topo"), seeds=(0, 1), n_trials=2, max_epochs=15, selection_seeds=(100,),
              cache_dir=tmp_path, progress=False)
    runs, trials = ladder.ladder(tiny, **kw)
    assert len(runs) == 2 * 2 * 2 and len(trials) == 2 * 2 * 2
    assert set(runs.columns) >= {"family", "rung", "betti", "activation", "seed", "epochs_to_converge", "best_width"}
    assert trials["score"].notna().all() and (trials["runs"] == 1).all()

    calls = []
    real = ladder._train
    monkeypatch.setattr(ladder, "_train", lambda *a, **k: calls.append(a) or real(*a, **k))
    again, again_trials = ladder.ladder(tiny, **kw)
    assert calls == []  # every trial and run came from the cache
    pd.testing.assert_frame_equal(runs, again)
    pd.testing.assert_frame_equal(trials, again_trials)


def test_a_rung_where_nothing_trains_is_reported_not_dropped(tiny, tmp_path):
    runs, _ = ladder.ladder(tiny[:1], activations=("relu", "topo"), seeds=(0, 1), n_trials=1, max_epochs=1,
                            selection_seeds=(100,), cache_dir=tmp_path, progress=False)
    assert not runs["converged"].any()
    table = ladder.summarize(runs, n_trials=1)
    assert len(table) == 1 and table["verdict"].iloc[0] == "not testable: no activation converged within 1 trials x 1 epochs"


def test_summarize_known_speedup():
    rows = [{"family": "f", "rung": 3, "betti": 9, "activation": a, "seed": s, "epochs_to_converge": e,
             "converged": True, "max_epochs": 1000}
            for s in range(8) for a, e in (("relu", 400 + s), ("topo", 200 + s / 2))]
    table = ladder.summarize(pd.DataFrame(rows), baselines=["relu"], n_boot=200)
    assert table["ratio"].iloc[0] == pytest.approx(2.0, rel=0.02) and table["verdict"].iloc[0] == "reproduced"


@pytest.mark.parametrize("call, match", [
    (lambda: ladder.rungs(["D-I-grid"], values={"D-I-grid": (13,)}, n=1000), "fewer than 40 per cell"),
    (lambda: ladder.rungs(["hexagons"]), "family must be one of"),
    (lambda: ladder.rungs([]), "families is empty"),
    (lambda: ladder.tune(ladder.rungs(["spirals"], values={"spirals": (1,)})[0], "relu", n_trials=0),
     r"n_trials \(the search budget\) must be an integer in \[1, 10000\]"),
    (lambda: ladder.tune(ladder.rungs(["spirals"], values={"spirals": (1,)})[0], "swishy"), "activation must be one of"),
    (lambda: ladder.ladder(ladder.rungs(["spirals"], values={"spirals": (1,)}), seeds=(1000,)), "must differ"),
])
def test_bad_input_before_any_training(call, match):
    with pytest.raises(ValueError, match=match):
        call()
