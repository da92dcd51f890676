"""The benchmark runner records every figure with the machine, the versions and the date."""
import json
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
