"""The benchmark runner records every figure with the machine, the versions and the date."""
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _script(folder: Path, name: str, body: str) -> None:
    (folder / f"bench_{name}.py").write_text(
        "import argparse, json, sys\n"
        "ap = argparse.ArgumentParser(); ap.add_argument('--json'); ap.add_argument('--quick', action='store_true')\n"
        "args = ap.parse_args()\n" + body)


def test_run_all_writes_figures_machine_and_failures(tmp_path):
    _script(tmp_path, "good", "json.dump({'ratio': 12.5, 'quick': args.quick}, open(args.json, 'w'))\n")
    _script(tmp_path, "bad", "json.dump({'ratio': 3.0}, open(args.json, 'w')); sys.exit(1)\n")
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--dir", str(tmp_path), "--output", str(out),
                           "--quick"], capture_output=True, text=True)
    assert proc.returncode == 1 and "FAILED: bad" in proc.stdout
    record = json.loads(out.read_text())
    good, bad = record["benchmarks"]["good"], record["benchmarks"]["bad"]
    assert good["ok"] and good["figures"] == {"ratio": 12.5, "quick": True}
    assert not bad["ok"] and bad["exit_status"] == 1 and bad["figures"] == {"ratio": 3.0}
    facts = good["machine"]
    assert facts["cpus"] >= 1 and facts["python"] and facts["date"] and "torch" in facts["versions"]
    # a later partial run keeps the figures of benchmarks it did not run
    subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--dir", str(tmp_path), "--output", str(out),
                    "--only", "good"], capture_output=True, text=True, check=True)
    again = json.loads(out.read_text())["benchmarks"]
    assert again["bad"] == bad and again["good"]["figures"] == {"ratio": 12.5, "quick": False}


def test_ladder_probe_records_every_rung_with_its_verdict(tmp_path):
    """The mid-ladder probe writes one record per rung (verdict, shares, recipes) and refuses a bad rung."""
    out = tmp_path / "probe.json"
    cmd = [sys.executable, str(BENCH / "ladder_probe.py"), "--json", str(out), "--cache", str(tmp_path / "cache"),
           "--per-cell", "40", "--trials", "1", "--epochs", "2", "--seeds", "2", "--figure", str(tmp_path / "ladder.png"),
           "--rungs", "checkerboard:2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(out.read_text())
    (rung,) = record["rungs"]
    assert rung["family"] == "checkerboard" and rung["value"] == 2 and rung["points"] == 2 * 40 * 2
    assert set(rung["share_converged"]) == set(rung["best_recipes"]) and len(rung["share_converged"]) == 5
    assert rung["verdict"]["verdict"].startswith(("not testable", "mixed", "reproduced", "not reproduced"))
    assert record["budget"]["n_trials"] == 1 and record["machine"]["cpus"] >= 1
    assert rung["epochs_run"] >= 1 and rung["training_cpu_s"] > 0 and isinstance(rung["same_recipe"], list)
    assert (tmp_path / "ladder.png").stat().st_size > 10_000  # the share / speed-up figure of the rungs run
    # the figure again from the record alone: no training, no cache
    redraw = [sys.executable, str(BENCH / "ladder_probe.py"), "--redraw", str(out), "--figure", str(tmp_path / "re.png")]
    env = dict(os.environ, TOPOKIT_CACHE=str(tmp_path / "empty-cache"))
    done = subprocess.run(redraw, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and (tmp_path / "re.png").stat().st_size > 10_000, done.stderr[-2000:]
    assert not (tmp_path / "empty-cache").exists()
    (tmp_path / "junk.json").write_text("[1, 2]")
    junk = subprocess.run(redraw[:3] + [str(tmp_path / "junk.json")] + redraw[4:], capture_output=True, text=True,
                          timeout=120)
    assert junk.returncode == 2 and "not a probe record" in junk.stderr
    bad = subprocess.run(cmd[:-1] + ["checkerboard"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "FAMILY:VALUE" in bad.stderr
