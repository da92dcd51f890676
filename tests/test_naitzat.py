"""Notebook 02's robustness table and cached computations (topokit.studies.naitzat)."""
import numpy as np
import pandas as pd
import pytest

from topokit import models, report, sweeps, topology
from topokit.studies import naitzat

SEEDS = list(range(6))


def _net_rows(activation, seed, layers):
    """sweep_topology-like rows of one net: ``layers`` lists (b0, b1) per layer, the same for both classes."""
    rows = [{"activation": activation, "seed": seed, "dataset": "D-I", "layer": layer, "label": label, "dim": dim,
             "betti": b, "omega": sum(bs)}
            for layer, bs in enumerate(layers) for label in (0, 1) for dim, b in enumerate(bs)]
    return pd.DataFrame(rows)


@pytest.fixture
def fake_sweeps(monkeypatch):
    """Replace training and measurement by tables whose verdicts are known for each (k, hops).

    Every net ends at (1, 0) at the logits and (2, 0) at the last hidden layer, except at k = 8
    where the logits keep (2, 0); tanh nets keep more topology than ReLU nets (about 10 more
    omega) except at one hop, where ReLU keeps more. tanh seed 5 never converges.
    """
    calls = {"sweep": 0, "topology": []}

    def sweep(activations, datasets, seeds, **kwargs):
        calls["sweep"] += 1
        return pd.DataFrame([{"activation": a, "seed": s, "converged": not (a == "tanh" and s == 5)}
                             for a in activations for s in seeds])

    def sweep_topology(activations, datasets, seeds, *, k, hops, **kwargs):
        calls["topology"].append((tuple(activations), tuple(seeds), k, hops))
        frames = []
        for a in activations:
            for s in seeds:
                more = (a == "tanh") != (hops == 1)
                middle = (6 + s % 2, 1) if more else (1, 0)
                logits = (2, 0) if k == 8 else (1, 0)
                frames.append(_net_rows(a, s, [(9, 1), middle, (2, 0), logits]))
        return pd.concat(frames, ignore_index=True)

    monkeypatch.setattr(sweeps, "sweep", sweep)
    monkeypatch.setattr(sweeps, "sweep_topology", sweep_topology)
    return calls


def test_up_to_last_layer_drops_each_nets_logits():
    both = pd.concat([_net_rows("relu", 0, [(3, 1), (1, 0)]), _net_rows("tanh", 0, [(3, 1), (2, 0), (1, 0)])])
    cut = naitzat.up_to_last_layer(both, "last hidden", by=["activation", "seed"])
    assert cut.groupby("activation").layer.max().to_dict() == {"relu": 0, "tanh": 1}
    assert naitzat.up_to_last_layer(both, "logits") is both
    one = naitzat.up_to_last_layer(_net_rows("relu", 0, [(3, 1), (2, 0), (1, 0)]), "last hidden")
    assert one.layer.max() == 1
    with pytest.raises(ValueError, match="last_layer must be one of"):
        naitzat.up_to_last_layer(both, "penultimate")


def test_specifications_one_at_a_time_same_rule_and_cached(fake_sweeps, tmp_path):
    specs = naitzat.specifications(["relu", "tanh"], "D-I", SEEDS, cache_dir=tmp_path)
    assert list(specs.columns) == naitzat.SPEC_COLUMNS
    # 5 k + 2 other hops + 1 other last layer, per claim; the reference first in each claim
    assert specs.groupby("claim").size().to_dict() == {"relu-vs-tanh": 8, "simple-at-logits": 8}
    for _, part in specs.groupby("claim"):
        ref = part.iloc[0]
        assert (ref.k, ref.hops, ref["last layer"]) == (14, 2, "logits")
        away = (part[naitzat.SPEC_CHOICES] != pd.Series(naitzat.SPEC_REFERENCE)).sum(axis=1)
        assert away.tolist() == [0] + [1] * 7
    # only the converged nets were measured: tanh seed 5 never
    assert all(5 not in seeds for acts, seeds, _, _ in fake_sweeps["topology"] if acts == ("tanh",))
    assert {(k, h) for _, _, k, h in fake_sweeps["topology"]} == {(8, 2), (11, 2), (14, 2), (17, 2), (20, 2),
                                                                   (14, 1), (14, 3)}
    # the reference row is the headline, computed by the headline's own functions
    reference = sweeps.sweep_topology(["relu", "tanh"], ["D-I"], SEEDS, k=14, hops=2)
    reference = reference[~((reference.activation == "tanh") & (reference.seed == 5))]
    headline = naitzat.relu_vs_tanh_claim(naitzat.layer_summary(reference))
    rt = specs[specs.claim == "relu-vs-tanh"].set_index(["k", "hops", "last layer"])
    assert rt.loc[(14, 2, "logits"), "verdict"] == headline["verdict"] == "reproduced"
    assert rt.loc[(14, 2, "logits"), "measured"] == headline["measured"]
    assert rt.loc[(14, 1, "logits"), "verdict"] == "not reproduced"  # ReLU keeps more at one hop
    assert rt.loc[(14, 2, "last hidden"), "verdict"] == "reproduced"
    sl = specs[specs.claim == "simple-at-logits"].set_index(["k", "hops", "last layer"])
    assert sl.loc[(14, 2, "logits"), "verdict"] == "mixed"  # 22 of 22 pairs: the lower bound is below 0.9
    assert sl.loc[(8, 2, "logits"), "verdict"] == sl.loc[(14, 2, "last hidden"), "verdict"] == "not reproduced"
    assert sl.loc[(8, 2, "logits"), "nets"] == 11 and specs[specs.claim == "relu-vs-tanh"].value.notna().all()
    # the report names the flips
    part = report.record_robustness("simple-at-logits", specs[specs.claim == "simple-at-logits"],
                                    naitzat.SPEC_CHOICES, naitzat.SPEC_REFERENCE, cache_dir=tmp_path, mode="quick")
    assert part.headline.startswith("mixed in 6 of 8 specifications")
    assert "k = 8 (not reproduced)" in part.headline and "last layer = last hidden (not reproduced)" in part.headline
    # a second run computes nothing
    n_topology = len(fake_sweeps["topology"])
    again = naitzat.specifications(["relu", "tanh"], "D-I", SEEDS, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(again, specs)
    assert fake_sweeps["sweep"] == 1 and len(fake_sweeps["topology"]) == n_topology


def test_specifications_extra_nets_and_bad_values(fake_sweeps, tmp_path):
    extra = {"D-II relu": _net_rows("relu", 0, [(9, 9), (1, 0), (1, 0)])}
    specs = naitzat.specifications(["relu", "tanh"], "D-I", SEEDS, k_values=[14], hops_values=[2],
                                   extra=extra, cache_dir=tmp_path)
    sl = specs[specs.claim == "simple-at-logits"].set_index("last layer")
    assert sl.loc["logits", "nets"] == 12 and "24 of 24" in sl.loc["logits", "measured"]
    assert "2 of 24" in sl.loc["last hidden", "measured"]  # only D-II's last hidden layer is at (1, 0)
    calls = fake_sweeps["sweep"]
    for kwargs, match in [(dict(k_values=[0]), r"k must be an integer in \[1, 200\], got 0"),
                          (dict(k_values=[14.5]), "k must be an integer"),
                          (dict(hops_values=[0]), r"hops must be a finite number in \(0, 10\], got 0"),
                          (dict(hops_values=[11]), r"hops must be a finite number in \(0, 10\], got 11"),
                          (dict(last_layers=["penultimate"]), "last layer must be one of"),
                          (dict(reference={"k": 14}), "reference must give a value for each of"),
                          (dict(k_values=8), "k_values must be a sequence")]:
        with pytest.raises(ValueError, match=match):
            naitzat.specifications(["relu", "tanh"], "D-I", SEEDS, cache_dir=tmp_path, **kwargs)
    assert fake_sweeps["sweep"] == calls  # refused before any training


def _cloud(seed=0, n=60):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(0, 1, (n, 2)), rng.normal(4, 1, (n, 2))]).astype(np.float32)
    return X, np.repeat([0, 1], n)


def test_notebook_cells_are_computed_once(monkeypatch, tmp_path):
    counts = {"layer_diagrams": 0, "layer_betti": 0, "betti_numbers": 0}
    for name in counts:
        original = getattr(topology, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(topology, name, counted)
    net = models.mlp(2, 5, 2, "relu", seed=0)
    X, y = _cloud()
    for _ in range(2):
        diagrams = naitzat.cached_layer_diagrams(net, X, y, k=8, max_edge_length=3, n_jobs=1, cache_dir=tmp_path)
        betti = naitzat.cached_layer_betti(net, X, y, k=8, hops=2, n_jobs=1, cache_dir=tmp_path)
        splits = naitzat.split_checks({"D-I": (14, 1)}, [0.1], cache_dir=tmp_path)
    assert counts == {"layer_diagrams": 1, "layer_betti": 1, "betti_numbers": 2}  # two classes, once each
    direct = topology.layer_diagrams(net, X, y, k=8, max_edge_length=3, n_jobs=1)
    assert sorted(diagrams) == [0, 1] and len(diagrams[0]) == len(topology.layer_names(net)) == 4
    assert all(np.array_equal(a, b) for label in (0, 1) for a, b in zip(diagrams[label], direct[label]))
    pd.testing.assert_frame_equal(betti.reset_index(drop=True),
                                  topology.layer_betti(net, X, y, k=8, hops=2, n_jobs=1).reset_index(drop=True),
                                  check_dtype=False)
    assert list(splits.columns) == naitzat.SPLIT_COLUMNS and splits.truth.tolist() == [(9, 0), (1, 9)]
    # another net, other points or other parameters are other entries
    naitzat.cached_layer_betti(models.mlp(2, 5, 2, "relu", seed=1), X, y, k=8, n_jobs=1, cache_dir=tmp_path)
    naitzat.cached_layer_betti(net, *_cloud(1), k=8, n_jobs=1, cache_dir=tmp_path)
    naitzat.cached_layer_betti(net, X, y, k=9, n_jobs=1, cache_dir=tmp_path)
    assert counts["layer_betti"] == 1 + 1 + 3  # the direct call above, then three new entries
    with pytest.raises(ValueError, match="size must be"):
        naitzat.split_checks({"D-I": (14, 1)}, [1.5], cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"must be \(k, max_dim\)"):
        naitzat.split_checks({"D-I": 14}, [0.5], cache_dir=tmp_path)
