"""Benchmark: wall time of `topokit reproduce`, with a cold cache and then a warm one.

Runs the pipeline twice in a row in a subprocess, as a user would, with a fresh empty cache folder
(``TOPOKIT_CACHE``) and a temporary figures folder, so nothing of the user's is read or changed:
the first run computes everything, the second finds the cache warm. Prints both wall times and
their ratio. In the default and full modes ``--max-warm-fraction`` (default 0.5) is the most the
warm run may take of the cold one, else the script exits with status 1. Quick mode is recorded
without that check: its small runs are dominated by what no cache removes (a kernel and imports
per notebook, figures drawn, the primer's and diagrams' small computations): measured 118.9 s cold
against 60.7 s warm. The default mode measured 1,017 s cold against 125 s warm (12%).

    python benchmarks/bench_reproduce.py                 # quick mode (a few minutes)
    python benchmarks/bench_reproduce.py --mode default  # the `make reproduce` run, twice (long)
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from _bench import ROOT, write_json  # noqa: E402


def run_once(mode: str, env: dict, only) -> float:
    cmd = [sys.executable, "-m", "topokit", "reproduce"] + (["--quick"] if mode == "quick" else [])
    cmd += ["--full"] if mode == "full" else []
    cmd += ["--only", *only] if only else []
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        raise SystemExit(f"FAIL: `{' '.join(cmd[1:])}` exited with {proc.returncode}")
    return seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["quick", "default", "full"], default="quick")
    ap.add_argument("--only", nargs="+", metavar="PREFIX", help="notebooks to run (default all)")
    ap.add_argument("--max-warm-fraction", type=float, default=0.5)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="topokit-bench-reproduce-") as tmp:
        env = dict(os.environ, TOPOKIT_CACHE=os.path.join(tmp, "cache"), TOPOKIT_FIGURES=os.path.join(tmp, "figures"),
                   TOPOKIT_PROGRESS="0", TOPOKIT_QUICK="0", TOPOKIT_FULL="0")
        cold = run_once(args.mode, env, args.only)
        print(f"reproduce ({args.mode} mode), cold cache: {cold:.1f} s", flush=True)
        warm = run_once(args.mode, env, args.only)
        print(f"reproduce ({args.mode} mode), warm cache: {warm:.1f} s ({warm / cold:.0%} of cold)")
    if args.json:
        write_json(args.json, {"benchmark": f"topokit reproduce, {args.mode} mode", "mode": args.mode,
                               "only": args.only, "cold_s": round(cold, 1), "warm_s": round(warm, 1),
                               "warm_fraction": round(warm / cold, 3), "max_warm_fraction": args.max_warm_fraction})
    if args.mode != "quick" and warm / cold > args.max_warm_fraction:
        print(f"FAIL: the warm run took more than {args.max_warm_fraction:.0%} of the cold one")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
