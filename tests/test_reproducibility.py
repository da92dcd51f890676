"""Same seed, same numbers whatever instruction set the math libraries would pick (topokit.reproducibility).

Each case trains in a fresh interpreter, because MKL and ATen choose their code paths when they
start. Forcing an instruction set (``MKL_ENABLE_INSTRUCTIONS``, ``ONEDNN_MAX_CPU_ISA``) stands in
for running on another CPU; with topokit's pins the per-seed epochs of an MLP and the final loss of
a CNN (with ``TOPOKIT_STRICT_CONV=1``, convolutions through MKL) must not change by a single bit.
The control shows the harness sees instruction-set effects: PyTorch's scalar kernels
(``ATEN_CPU_CAPABILITY=default``, what a CPU without AVX2 runs) give other numbers.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json, warnings
    warnings.simplefilter("ignore")
    import topokit
    from topokit import data, models, reproducibility, training
    d = data.load("D-I", n=1000, seed=0)
    epochs = []
    for s in (0, 1):
        r = training.fit(models.mlp(2, 15, 9, "relu", seed=s), d.X, d.y, seed=s, max_epochs=1500,
                         progress=False, num_threads=1)
        epochs.append(r.epochs_to_converge)
    im = data.load("digits", classes=(3, 8))
    cnn = models.cnn(1, channels=(4, 8), hidden=8, seed=0)
    res = training.fit(cnn, im.X, im.y, max_epochs=2, batch_size=32, stop_at_target=False, seed=0,
                       progress=False, num_threads=1)
    print(json.dumps({"epochs": epochs, "cnn_loss": float(res.history["loss"].iloc[-1]).hex(),
                      "settings": reproducibility.settings()}))
""")


def _run(**env) -> dict:
    full = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "ATEN_CPU_CAPABILITY",
                                                              "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")}
    full.update(PYTHONPATH=str(ROOT), TOPOKIT_PROGRESS="0", TOPOKIT_STRICT_CONV="1")
    full.update(env)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=full, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_PINNED: dict = {}  # the run under topokit's own pins, made once for the tests below


def _pinned_and(*envs: dict) -> tuple:
    """The pinned run and one run per environment; two interpreters at a time (one thread each)."""
    from concurrent.futures import ThreadPoolExecutor

    todo = ([] if _PINNED else [{}]) + list(envs)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda env: _run(**env), todo))
    if not _PINNED:
        _PINNED.update(runs.pop(0))
    return _PINNED, runs


@pytest.mark.slow
def test_forced_instruction_sets_do_not_change_the_numbers():
    envs = ({"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}, {"ONEDNN_MAX_CPU_ISA": "SSE41"})
    reference, forced = _pinned_and(*envs)
    assert reference["settings"]["pinned"] and reference["settings"]["MKL_CBWR"] == "AVX2"
    for env, got in zip(envs, forced):
        assert (got["epochs"], got["cnn_loss"]) == (reference["epochs"], reference["cnn_loss"]), env


@pytest.mark.slow
def test_another_instruction_set_moves_the_numbers():
    """The control: PyTorch's kernels for another instruction set give other numbers."""
    pinned, (scalar,) = _pinned_and({"ATEN_CPU_CAPABILITY": "default"})
    assert not scalar["settings"]["pinned"]
    assert (scalar["epochs"], scalar["cnn_loss"]) != (pinned["epochs"], pinned["cnn_loss"])


def test_a_late_or_overridden_pin_is_reported():
    code = ("import warnings, json\nwarnings.simplefilter('always')\nimport torch\n"
            "with warnings.catch_warnings(record=True) as w:\n    import topokit\n"
            "from topokit import reproducibility as r\n"
            "print(json.dumps([r.pinned(), [str(x.message) for x in w]]))")
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "ATEN_CPU_CAPABILITY")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    pinned, messages = json.loads(out.stdout.strip().splitlines()[-1])
    assert not pinned and any("import topokit before torch" in m for m in messages)
    env["MKL_CBWR"] = "AVX512"
    out = subprocess.run([sys.executable, "-c", code.replace("import torch\n", "")], env=env, capture_output=True,
                         text=True, timeout=120)
    pinned, messages = json.loads(out.stdout.strip().splitlines()[-1])
    assert not pinned and any("MKL_CBWR" in m and "AVX512" in m for m in messages)


def test_settings_are_part_of_a_sweep_runs_cache_key():
    from topokit import sweeps

    cfg = sweeps._run_config(sweeps.recipe("D-I"), "relu", 0, "fit", "cpu")
    assert cfg["numerics"]["MKL_CBWR"] == "AVX2" and cfg["numerics"]["pinned"] is True


def test_strict_convolutions_switch(monkeypatch):
    import torch

    from topokit import reproducibility

    monkeypatch.delenv("TOPOKIT_STRICT_CONV", raising=False)
    assert not reproducibility.strict_convolutions()
    with reproducibility.deterministic():
        assert torch.backends.mkldnn.enabled
    monkeypatch.setenv("TOPOKIT_STRICT_CONV", "1")
    with reproducibility.deterministic():
        assert not torch.backends.mkldnn.enabled
    assert torch.backends.mkldnn.enabled
    monkeypatch.setenv("TOPOKIT_STRICT_CONV", "maybe")
    with pytest.raises(ValueError, match="TOPOKIT_STRICT_CONV must be 1/0"):
        reproducibility.strict_convolutions()
