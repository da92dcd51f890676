"""The studies above the library (topokit.studies): layering, re-exports, and the verdict rules."""
import ast
import copy
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import topokit
from topokit import models, pruning, report, selection, stats, training
from topokit.cache import Cache
from topokit.studies import activations as activations_study
from topokit.studies import naitzat
from topokit.studies import pruning as pruning_study

PACKAGE = Path(topokit.__file__).parent
#: Modules above the library: they may import a study. Every other module of topokit is library.
ABOVE_LIBRARY = {"selection.py", "report.py", "pipeline.py", "__main__.py"}
#: The one documented way a library module reaches a study: a module-level ``__getattr__``
#: importing it lazily (file, enclosing function, imported module).
ALLOWED = {("pruning.py", "__getattr__", "topokit.studies.pruning")}


# ----------------------------------------------------------------------------- layering


def _library_files():
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "studies" or str(rel) in ABOVE_LIBRARY:
            continue
        out.append(rel)
    return out


def _module_name(rel: Path) -> str:
    parts = ("topokit",) + rel.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(rel: Path):
    """(imported module, enclosing function or None) for every import in the file, however nested."""
    tree = ast.parse((PACKAGE / rel).read_text())
    package = _module_name(rel) if rel.name == "__init__.py" else _module_name(rel).rpartition(".")[0]
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Import):
                found.extend((alias.name, function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[:len(base) - (child.level - 1)]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                for alias in child.names:  # "from X import Y": the module X.Y when that is a study, else X
                    full = f"{mod}.{alias.name}"
                    found.append((full if _is_study(full) else mod, function))
            elif (isinstance(child, ast.Constant) and isinstance(child.value, str)
                  and re.fullmatch(r"(topokit)?\.?studies(\.\w+)*", child.value)):
                found.append(("topokit." + child.value.lstrip(".").removeprefix("topokit."), function))  # dynamic
            visit(child, inner)

    visit(tree, None)
    return found


def _is_study(module: str) -> bool:
    return module in ("topokit.studies", "topokit.selection") or module.startswith("topokit.studies.")


def test_import_parser_sees_relative_and_local_imports():
    # the parser itself: a function-local relative import of a study is found, with its function
    found = _imports(Path("pruning.py"))
    assert ("topokit.studies.pruning", "__getattr__") in found
    assert ("topokit.filtertopology", None) in found and ("topokit.models", None) in found
    assert any(m == "torch_pruning" and f is not None for m, f in found)  # a function-local absolute import


def test_library_modules_never_import_a_study():
    files = _library_files()
    names = {str(f) for f in files}
    assert {"data.py", "models.py", "training.py", "topology.py", "filtertopology.py", "pruning.py", "stats.py",
            "cache.py", "parallel.py", "sweeps.py", "plotting/__init__.py"} <= names
    offending, allowed_seen = [], set()
    for rel in files:
        for module, function in _imports(rel):
            if not _is_study(module):
                continue
            key = (str(rel), function, module)
            if key in ALLOWED:
                allowed_seen.add(key)
            else:
                offending.append(key)
    assert not offending, f"library modules import a study: {offending}"
    assert allowed_seen == ALLOWED  # the documented shim exists, and is the only exception
    # ... and the shim is a module-level function, not code run at import time
    tree = ast.parse((PACKAGE / "pruning.py").read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body)


@pytest.mark.slow  # a fresh interpreter importing torch, giotto-tda and matplotlib: ~10 s on a busy machine
def test_importing_the_library_loads_no_study():
    code = ("import sys\n"
            "import topokit.data, topokit.models, topokit.activations, topokit.training, topokit.topology\n"
            "import topokit.filtertopology, topokit.pruning, topokit.sweeps, topokit.stats, topokit.cache\n"
            "import topokit.parallel, topokit.fileio, topokit.plotting\n"
            "print(sorted(m for m in sys.modules if m.startswith(('topokit.studies', 'topokit.selection'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(PACKAGE.parent))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- re-exports


def test_old_pruning_names_are_the_study_objects_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("STUDY_SETS", "STUDY_SIZES", "STUDY_CURVES", "PruningStudy", "study", "trained_model",
                     "betti_sweep"):
            assert getattr(pruning, name) is getattr(pruning_study, name)
            assert name in dir(pruning)
        from topokit.pruning import study  # noqa: F401  (the from-import form goes through __getattr__ too)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        pruning.not_a_name  # noqa: B018
    assert pruning.filter_scores.__module__ == "topokit.pruning"  # the library stays in the library


def test_selection_reexports_every_public_name():
    assert selection.__all__ == activations_study.__all__
    for name in activations_study.__all__:
        assert getattr(selection, name) is getattr(activations_study, name)


def test_study_sets_are_checked_with_close_matches():
    with pytest.raises(ValueError, match="did you mean 'cifar10'"):
        pruning_study.trained_model("cifar")
    with pytest.raises(ValueError, match="knn must be True or False"):
        pruning_study.study("cifar10", knn="yes")


# ----------------------------------------------------------------------------- notebook 02's rules


def _betti_rows(net_betti, **extra):
    """layer_betti-like rows from {label: [(b0, b1) per layer]}."""
    rows = []
    for label, layers in net_betti.items():
        for layer, bs in enumerate(layers):
            for dim, b in enumerate(bs):
                rows.append({**extra, "layer": layer, "label": label, "dim": dim, "betti": b, "omega": sum(bs)})
    return pd.DataFrame(rows)


def test_first_simple_layer_known_answers():
    t = _betti_rows({0: [(9, 0), (3, 1), (1, 0), (1, 0)]})
    assert naitzat.first_simple_layer(t) == 2
    assert naitzat.first_simple_layer(_betti_rows({0: [(9, 0), (1, 1), (2, 0)]})) is None
    assert naitzat.first_simple_layer(_betti_rows({0: [(1, 0), (2, 0)]})) == 0
    with pytest.raises(ValueError, match="lacks columns"):
        naitzat.first_simple_layer(pd.DataFrame({"layer": [0]}))


def _compare(relu_first, tanh_first, n_layers=4, seeds=(0, 1)):
    """sweep_topology-like rows: each class simple from the given layer on (None: never)."""
    frames = []
    for act, first in (("relu", relu_first), ("tanh", tanh_first)):
        for s in seeds:
            per_class = {}
            for label in (0, 1):
                f = first[label]
                per_class[label] = [(1, 0) if f is not None and layer >= f else (3, 2) for layer in range(n_layers + 1)]
            frames.append(_betti_rows(per_class, activation=act, seed=s))
    return pd.concat(frames, ignore_index=True)


def test_layer_summary_and_the_statement():
    compare = _compare({0: 1, 1: 2}, {0: 3, 1: None})
    summary = naitzat.layer_summary(compare)
    assert list(summary.columns) == naitzat.SUMMARY_COLUMNS and len(summary) == 2 * 2 * 2
    relu0 = summary[(summary.activation == "relu") & (summary.label == 0)].iloc[0]
    assert relu0["first (1, 0) layer"] == 1 and relu0["sum of omega"] == 5 + 4 * 1  # (3, 2) then four (1, 0)
    assert summary["first (1, 0) layer"].isna().sum() == 2  # tanh, class 1, both seeds
    agree = naitzat.compare_relu_tanh(summary, 4, class_names=("a", "b"))
    assert agree.statement.startswith("Our numbers AGREE") and agree.signs == [1.0, 1.0, 1.0]
    assert "b: ReLU at layer 2.0 on average (0 of 2 never), tanh at 5.0 (2 of 2 never)" in agree.parts[1]
    reverse = naitzat.compare_relu_tanh(naitzat.layer_summary(_compare({0: 3, 1: 3}, {0: 1, 1: 1})), 4)
    assert reverse.statement.startswith("Our numbers DISAGREE")
    mixed = naitzat.compare_relu_tanh(naitzat.layer_summary(_compare({0: 1, 1: 3}, {0: 3, 1: 1})), 4)
    assert mixed.statement.startswith("Our numbers PARTLY") and sorted(mixed.signs) == [-1.0, 0.0, 1.0]
    empty = naitzat.layer_summary(None)
    assert empty.empty and list(empty.columns) == naitzat.SUMMARY_COLUMNS
    assert naitzat.compare_relu_tanh(empty, 4).statement.startswith("Not enough")


def test_relu_vs_tanh_claim_rule(tmp_path):
    def summary(relu, tanh):
        rows = [{"activation": a, "seed": s, "label": lab, "first (1, 0) layer": 1, "sum of omega": v}
                for a, vals in (("relu", relu), ("tanh", tanh)) for s, v in enumerate(vals) for lab in (0, 1)]
        return pd.DataFrame(rows, columns=naitzat.SUMMARY_COLUMNS)

    more = naitzat.relu_vs_tanh_claim(summary([10, 11, 12], [20, 21, 22]))
    assert more["verdict"] == "reproduced" and more["value"] == pytest.approx(10.0) and more["low"] > 0
    assert more["details"] == {"omega_relu": [10.0, 11.0, 12.0], "omega_tanh": [20.0, 21.0, 22.0]}
    less = naitzat.relu_vs_tanh_claim(summary([20, 21, 22], [10, 11, 12]))
    assert less["verdict"] == "not reproduced" and less["high"] < 0
    assert naitzat.relu_vs_tanh_claim(summary([10, 20, 15], [11, 19, 16]))["verdict"] == "mixed"
    one = naitzat.relu_vs_tanh_claim(summary([10], [20, 21]))
    assert one["verdict"] == "not testable here" and one["value"] is None
    assert naitzat.relu_vs_tanh_claim(naitzat.layer_summary(None))["verdict"] == "not testable here"
    # the record is what report.record_claim takes
    rec = report.record_claim("relu-vs-tanh", **more, figure="x.png", cache_dir=tmp_path, mode="quick")
    assert rec.verdict == "reproduced" and rec.rule == naitzat.RELU_TANH_RULE


def test_simple_at_logits_rule(tmp_path):
    simple = {f"net {i}": _betti_rows({0: [(5, 1), (1, 0)], 1: [(4, 0), (1, 0)]}) for i in range(20)}
    ends = naitzat.logits_ends(simple)
    assert len(ends) == 40 and ends.simple.all() and ends.betti.iloc[0] == (1, 0)
    claim = naitzat.simple_at_logits_claim(ends)
    # 40 of 40: the Clopper-Pearson lower bound is 0.025 ** (1 / 40) = 0.912 >= 0.9
    assert claim["verdict"] == "reproduced" and claim["low"] == pytest.approx(0.025 ** (1 / 40))
    few = naitzat.simple_at_logits_claim(naitzat.logits_ends(dict(list(simple.items())[:5])))
    assert few["verdict"] == "mixed"  # 10 of 10: lower bound 0.69
    kept = naitzat.logits_ends({"n": _betti_rows({0: [(1, 1)] * 2, 1: [(2, 0)] * 2})})
    assert not kept.simple.any()
    none = naitzat.simple_at_logits_claim(pd.concat([kept] * 10, ignore_index=True))
    assert none["verdict"] == "not reproduced" and len(none["details"]["not_simple"]) == 20
    empty = naitzat.simple_at_logits_claim(naitzat.logits_ends({}))
    assert empty["verdict"] == "not testable here" and empty["details"] == {"not_simple": []}
    assert report.record_claim("simple-at-logits", **claim, cache_dir=tmp_path, mode="quick").verdict == "reproduced"


# ----------------------------------------------------------------------------- notebook 04's rules


def _old_mcnemar_lower(y, pred_a, pred_b):
    """Notebook 04's own cell, before the move: the reference the study must reproduce."""
    from scipy import stats as st

    a_ok, b_ok = pred_a == y, pred_b == y
    worse, better = int(np.sum(a_ok & ~b_ok)), int(np.sum(~a_ok & b_ok))
    if worse + better == 0:
        return 1.0
    return st.binomtest(worse, worse + better, 0.5, alternative="greater").pvalue


def test_paired_mcnemar_matches_the_old_notebook_cell():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    for flip in (0.0, 0.05, 0.2):
        a = np.where(rng.random(200) < 0.1, 1 - y, y)
        b = np.where(rng.random(200) < flip, 1 - a, a)
        got = stats.paired_mcnemar(a == y, b == y, alternative="greater").pvalue
        assert got == pytest.approx(_old_mcnemar_lower(y, a, b), rel=1e-12)


@pytest.fixture(scope="module")
def tiny_study():
    """A PruningStudy of a tiny CNN on 8x8 digits, with hand-set measurement rows."""
    from topokit import data

    train, test = data.load("digits", "train", classes=(3, 8)), data.load("digits", "test", classes=(3, 8))
    net = models.cnn(1, channels=[4, 6], hidden=6, seed=0)
    training.fit(net, train.X, train.y, max_epochs=3, lr=0.01, lr_decay=None, batch_size=32, stop_at_target=False,
                 seed=0, num_threads=1, progress=False)
    net.eval()
    rng = np.random.default_rng(0)
    betti = {n: np.array([100, 400, 200, 500, 350, 10][:c.out_channels], float)
             for n, _, c in pruning._conv_blocks(net)}
    table = pd.DataFrame([
        {"model": "trained model", "accuracy": 0.9, "bytes": 1000, "latency_b1_ms": 1.0, "latency_b1_iqr_ms": 0.1,
         "latency_b256_ms": 10.0, "latency_b256_iqr_ms": 1.0},
        {"model": "paper rule", "accuracy": 0.8, "bytes": 800, "latency_b1_ms": 0.5, "latency_b1_iqr_ms": 0.1,
         "latency_b256_ms": 9.9, "latency_b256_iqr_ms": 1.0},
    ])
    config = {"finetune_epochs": 1, "lr": 1e-3, "batch_size": 32, "random_seeds": [0, 1]}
    curves = []
    for ft in (False, True):
        for f, (high, low, r0, r1) in {0.5: (0.80, 0.70, 0.75, 0.78), 0.9: (0.60, 0.598, 0.65, 0.70)}.items():
            for curve, acc, seed in (("betti-high", high, None), ("betti-low", low, None), ("random", r0, 0),
                                     ("random", r1, 1)):
                curves.append({"curve": curve, "seed": seed, "fraction": f, "finetuned": ft, "accuracy": acc})
    st = pruning_study.PruningStudy("digits", net, pd.DataFrame(), train, test, {"betti": betti}, {},
                                    pd.DataFrame(curves), pd.DataFrame(), table, config)
    return st


def test_judge_paper_rule_known_answers(tiny_study, tmp_path, monkeypatch):
    st = tiny_study
    cache = Cache(tmp_path / "cache")
    tuned = []
    real_fine_tune = pruning.fine_tune

    def counting(model, *args, **kwargs):
        tuned.append(kwargs["epochs"])
        return real_fine_tune(model, *args, **kwargs)

    monkeypatch.setattr(pruning, "fine_tune", counting)
    judged = pruning_study.judge_paper_rule({"digits": st}, threshold=300, alpha=0.05, seed=0, cache=cache)
    assert sorted(tuned) == [1, 1]  # the pruned model and the trained one, the same extra epoch each
    again = pruning_study.judge_paper_rule({"digits": st}, threshold=300, alpha=0.05, seed=0, cache=cache)
    assert sorted(tuned) == [1, 1]  # the second call is all cache hits: nothing fine-tuned again
    pd.testing.assert_frame_equal(again.accuracy, judged.accuracy)
    acc = judged.accuracy
    assert list(acc.model) == ["as pruned", "after fine-tuning"]
    assert list(acc.baseline) == ["as trained", "same extra epochs"] and judged.baseline == "same extra epochs"
    extra = copy.deepcopy(st.model)
    real_fine_tune(extra, st.train.X, st.train.y, epochs=1, seed=0, lr=1e-3, batch_size=32, progress=False)
    fair = training.predict(extra, st.test.X) == st.test.y
    assert np.array_equal(judged.correct["digits"]["baseline"], fair)
    assert acc.accuracy_before.iloc[1] == pytest.approx(fair.mean())
    as_trained = pruning_study.judge_paper_rule({"digits": st}, seed=0, baseline="as trained", cache=cache)
    assert sorted(tuned) == [1, 1]  # as trained needs no extra epochs; the pruned model's come from the cache
    assert as_trained.accuracy.accuracy_before.iloc[1] == pytest.approx(as_trained.correct["digits"]["orig"].mean())
    no_tuning = pruning_study.judge_paper_rule({"digits": st}, seed=0, finetune_epochs=0, cache=cache)
    assert list(no_tuning.accuracy.model) == ["as pruned"]
    with pytest.raises(ValueError, match="baseline must be one of"):
        pruning_study.judge_paper_rule({"digits": st}, baseline="as-trained", cache=cache)
    with pytest.raises(ValueError, match="finetune_epochs"):
        pruning_study.judge_paper_rule({"digits": st}, finetune_epochs=-1, cache=cache)
    assert (acc.filters_removed == 2 + 3).all()  # above 300: 400, 500 of conv1's 4; 400, 500, 350 of conv2's 6
    y = st.test.y
    orig = training.predict(st.model, st.test.X)
    assert np.array_equal(judged.correct["digits"]["orig"], orig == y)
    pruned, _ = pruning.prune(st.model, st.scores["betti"], threshold=300, example_input=st.test.X[:1])
    raw = training.predict(pruned, st.test.X)
    assert acc.p_value.iloc[0] == pytest.approx(_old_mcnemar_lower(y, orig, raw))
    assert acc.accuracy_after.iloc[0] == pytest.approx(np.mean(raw == y))
    assert list(acc.supported) == list(acc.p_value >= 0.05)
    # latency: batch 1 0.5 + 0.05 < 1.0 - 0.05 supported; batch 256 9.9 + 0.5 < 10 - 0.5 not
    assert list(judged.latency.supported) == [True, False] and list(judged.latency.batch) == [1, 256]
    assert judged.size.supported.tolist() == [True] and judged.finetune_epochs == 1
    speed = pruning_study.speed_size_claim(judged)
    assert speed["verdict"] == "mixed" and speed["value"] == pytest.approx(10.0 / 9.9)
    claim = pruning_study.accuracy_claim(judged, seed=0)
    assert claim["verdict"] == ("reproduced" if acc.supported.any() else "not reproduced")
    assert "McNemar, one-sided 5%" in claim["reason"] and "Betti score > 300 and 1 epoch(s)" in claim["measured"]
    nothing = pruning_study.judge_paper_rule({"digits": st}, threshold=10_000, cache=cache)  # removes no filter
    assert not nothing.accuracy.supported.any() and not nothing.latency.supported.any()
    assert pruning_study.accuracy_claim(nothing)["verdict"] == "not reproduced"
    with pytest.raises(ValueError, match="PruningStudy"):
        pruning_study.judge_paper_rule({"digits": object()})
    with pytest.raises(ValueError, match="alpha must be"):
        pruning_study.judge_paper_rule({"digits": st}, alpha=1.5)


def test_robustness_tables_follow_the_headline_rules_and_come_from_the_cache(tiny_study, tmp_path, monkeypatch):
    import dataclasses

    st = dataclasses.replace(tiny_study, config={**tiny_study.config, "n_images": 60, "seed": 0, "quick": True,
                                                 "latency_min_run_time": 0.01})
    st.scores = {**st.scores, "cubical": {k: np.arange(len(v), dtype=float) for k, v in st.scores["betti"].items()}}
    studies = {"digits": st}
    nothing = {k: np.zeros_like(v) for k, v in st.scores["betti"].items()}  # a variant whose rule removes nothing
    run = pruning_study.VariantRun(pruning_study.Variant("digits", "no filter above 300"), st.model, st.train,
                                   st.test, st.config, nothing, 0.9, float("nan"), float("nan"))
    plan = {"n_images": [40], "scale_factors": [2.0], "scores": ["cubical"], "budgets": [0], "baselines": ["as trained"],
            "batches": [[1], [32]], "threads": [2]}
    cache = Cache(tmp_path / "cache")
    calls = []
    for name in ("fine_tune", "latencies"):
        real = getattr(pruning, name)
        monkeypatch.setattr(pruning, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    specs = pruning_study.accuracy_robustness(studies, [run], plan=plan, cache=cache)
    assert len(specs) == 7 and set(specs.verdict) <= set(report.VERDICTS)
    ref = specs.iloc[0]
    assert (ref.data, ref.N, ref["scale factor"], ref.score, ref["fine-tuning epochs"], ref.baseline) == \
        (pruning_study.AS_STUDIED, 60, 1.0, "betti", 1, "same extra epochs")
    judged = pruning_study.judge_paper_rule(studies, cache=cache)
    assert ref.verdict == pruning_study.accuracy_claim(judged)["verdict"]  # the same rule as the headline
    assert ref.value == pytest.approx(pruning_study.accuracy_claim(judged)["value"])
    by = specs.set_index("data")
    assert by.loc["digits: no filter above 300"].verdict == "not reproduced"
    assert "0 filters removed" in by.loc["digits: no filter above 300"].measured
    cubical = specs[specs.score == "cubical"].iloc[0]
    assert cubical.measured.split(",")[0] == ref.measured.split(",")[0] == "digits 5 filters removed"  # same count
    assert pruning_study.judge_paper_rule(studies, finetune_epochs=0, cache=cache).accuracy.supported.any() == \
        (specs[specs["fine-tuning epochs"] == 0].verdict.iloc[0] == "reproduced")
    speed = pruning_study.speed_size_robustness(studies, judged, [run], plan=plan, cache=cache)
    assert list(speed["batch sizes timed"]) == ["1 and 256", "1", "32", "1 and 256", "1 and 256"]
    assert speed.verdict.iloc[0] == pruning_study.speed_size_claim(judged)["verdict"] == "mixed"
    assert speed.verdict.iloc[1] == "reproduced"  # batch 1 (from the table) and the size are supported
    assert speed.verdict.iloc[4] == "not reproduced"  # nothing removed: neither faster nor smaller
    part = report.record_robustness("prune-accuracy", specs, ["data", "N", "scale factor", "score",
                                                              "fine-tuning epochs", "baseline"],
                                    ref[["data", "N", "scale factor", "score", "fine-tuning epochs",
                                         "baseline"]].to_dict(), cache_dir=tmp_path / "report")
    assert part.headline.startswith(f"{ref.verdict} in ")
    assert calls.count("fine_tune") >= 2 and "latencies" in calls
    calls.clear()  # a second run is all cache hits: nothing fine-tuned, nothing timed
    again = pruning_study.accuracy_robustness(studies, [run], plan=plan, cache=cache)
    again_speed = pruning_study.speed_size_robustness(studies, judged, [run], plan=plan, cache=cache)
    assert calls == []
    pd.testing.assert_frame_equal(again.drop(columns="cpu_by_set"), specs.drop(columns="cpu_by_set"))
    pd.testing.assert_frame_equal(again_speed, speed)
    with pytest.raises(ValueError, match="N"):
        pruning_study.accuracy_robustness(studies, plan={**plan, "n_images": [0]}, cache=cache)
    with pytest.raises(ValueError, match="VariantRun"):
        pruning_study.accuracy_robustness(studies, [object()], plan=plan, cache=cache)
    with pytest.raises(ValueError, match="mode must be one of"):
        pruning_study.robustness_plan("fast")
    full = pruning_study.robustness_plan("full")["variant_list"]
    assert all(sum(v.set == s for v in full) >= 3 for s in pruning_study.STUDY_SETS)


def test_baseline_cells_and_answer(tiny_study):
    cells = pruning_study.baseline_cells({"digits": tiny_study}, tie_pp=0.5)
    assert len(cells) == 4
    # fraction 0.5: 0.80 > best random 0.78 (win), vs low 0.70 (win); 0.9: 0.60 < worst random 0.65 (loss), 0.2 pp (tie)
    assert list(cells.vs_random) == ["win", "loss", "win", "loss"]
    assert list(cells.vs_low) == ["win", "tie", "win", "tie"]
    assert pruning_study.baseline_answer(cells, "vs_random") == ("no clear difference", 2, 2, 4)
    assert pruning_study.baseline_answer(cells, "vs_low") == ("yes", 2, 0, 4)
    assert pruning_study.baseline_answer(cells, "vs_low", margin=0.75)[0] == "no clear difference"
    with pytest.raises(ValueError, match="did you mean 'vs_low'"):
        pruning_study.baseline_answer(cells, "vs_lo")


def test_betti_sweep_at_factor_one_is_filter_scores(tiny_study):
    st = tiny_study
    sweep = pruning.betti_sweep(st.model, st.train.X, st.train.y, [40], [1.0, 2.0], seed=0)
    assert set(sweep.columns) >= {"n_images", "scale_factor", "scale", "layer", "filter", "score"}
    assert len(sweep) == 2 * (4 + 6)
    direct = pruning.filter_scores(st.model, st.train.X, st.train.y, method="betti", n_images=40, seed=0)
    at_one = sweep[sweep.scale_factor == 1.0]
    for layer, scores in direct.items():
        assert np.array_equal(at_one[at_one.layer == layer].sort_values("filter").score.to_numpy(), scores)
    with pytest.raises(ValueError, match="each scale factor must be"):
        pruning.betti_sweep(st.model, st.train.X, st.train.y, [40], [0.0])
