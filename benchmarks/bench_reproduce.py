"""Benchmark: wall time of `topokit reproduce`, with a cold cache and then a warm one.

Runs the pipeline twice in a row in a subprocess, as a user would, with a fresh empty cache folder
(``TOPOKIT_CACHE``) and a temporary figures folder, so nothing of the user's is read or changed:
the first run computes everything, the second finds the cache warm. Prints both wall times and
their ratio. In the default and full modes ``--max-warm-fraction`` (default 0.5) is the most the
warm run may take of the cold one, else the script exits with status 1. The targets (issue 16):
a warm quick reproduce at most one third of the cold one (``--max-warm-fraction`` defaults to 1/3
in quick mode), and a warm default reproduce under 90 s on 2 cores (``--max-warm-seconds``,
default 90 in the default mode). Each notebook's time in both runs is recorded too (the pipeline's
own record), so the notebook that misses its share is named.

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


def notebook_seconds(mode: str) -> dict:
    """Each notebook's time in the run just made: the pipeline's ``runs.json`` (latest run wins)."""
    import json

    from pathlib import Path

    path = Path(ROOT) / "build" / ("notebooks-quick" if mode == "quick" else "notebooks") / "runs.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {name: v["seconds"] for name, v in sorted(record.items()) if isinstance(v, dict) and "seconds" in v}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["quick", "default", "full"], default="quick")
    ap.add_argument("--only", nargs="+", metavar="PREFIX", help="notebooks to run (default all)")
    ap.add_argument("--max-warm-fraction", type=float, default=None,
                    help="most the warm run may take of the cold one (default 1/3 in quick mode, 0.5 otherwise)")
    ap.add_argument("--max-warm-seconds", type=float, default=None,
                    help="most the warm run may take in seconds (default 90 in the default mode, none otherwise)")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    if args.max_warm_fraction is None:
        args.max_warm_fraction = 1 / 3 if args.mode == "quick" else 0.5
    if args.max_warm_seconds is None and args.mode == "default":
        args.max_warm_seconds = 90.0
    with tempfile.TemporaryDirectory(prefix="topokit-bench-reproduce-") as tmp:
        env = dict(os.environ, TOPOKIT_CACHE=os.path.join(tmp, "cache"), TOPOKIT_FIGURES=os.path.join(tmp, "figures"),
                   TOPOKIT_PROGRESS="0", TOPOKIT_QUICK="0", TOPOKIT_FULL="0")
        cold = run_once(args.mode, env, args.only)
        cold_books = notebook_seconds(args.mode)
        print(f"reproduce ({args.mode} mode), cold cache: {cold:.1f} s", flush=True)
        warm = run_once(args.mode, env, args.only)
        warm_books = notebook_seconds(args.mode)
        print(f"reproduce ({args.mode} mode), warm cache: {warm:.1f} s ({warm / cold:.0%} of cold)")
        for name in cold_books:
            print(f"  {name}: cold {cold_books[name]:.1f} s, warm {warm_books.get(name, float('nan')):.1f} s")
    if args.json:
        write_json(args.json, {"benchmark": f"topokit reproduce, {args.mode} mode", "mode": args.mode,
                               "only": args.only, "cold_s": round(cold, 1), "warm_s": round(warm, 1),
                               "warm_fraction": round(warm / cold, 3), "max_warm_fraction": round(args.max_warm_fraction, 3),
                               "max_warm_seconds": args.max_warm_seconds, "notebooks_cold_s": cold_books,
                               "notebooks_warm_s": warm_books, "load": os.getloadavg()[0]})
    failed = False
    if warm / cold > args.max_warm_fraction:
        print(f"FAIL: the warm run took more than {args.max_warm_fraction:.0%} of the cold one")
        failed = True
    if args.max_warm_seconds is not None and warm > args.max_warm_seconds:
        print(f"FAIL: the warm run took more than {args.max_warm_seconds:.0f} s")
        failed = True
    if failed:
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
