"""Run every benchmark in this folder and record their figures in ``benchmarks/results.json``.

Each ``bench_*.py`` runs in its own process, one after another (two at once on two cores would
distort each other's timings), with ``--json`` so that its figures come back as JSON. The record
holds, per benchmark: its figures, its exit status, its wall time, and the machine, versions and
date it ran on. A benchmark that fails (exit status non-zero: a ratio under its limit, a wrong
result) is recorded as failed and makes this script exit with status 1; the others still run.

    python benchmarks/run_all.py                     # every benchmark (make bench)
    python benchmarks/run_all.py --only topology fit_overhead
    python benchmarks/run_all.py --quick             # pass --quick to those that have it
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

from _bench import ROOT, machine, write_json  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", metavar="NAME", help="benchmarks to run, e.g. topology (bench_topology.py)")
    ap.add_argument("--quick", action="store_true", help="pass --quick to the benchmarks that accept it")
    ap.add_argument("--output", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--dir", default=HERE, help="folder holding the bench_*.py scripts (default: this one)")
    args = ap.parse_args(argv)
    scripts = sorted(glob.glob(os.path.join(args.dir, "bench_*.py")))
    names = [os.path.basename(s)[6:-3] for s in scripts]
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            print(f"unknown benchmark(s) {unknown}; available: {', '.join(names)}", file=sys.stderr)
            return 2
        scripts = [s for s, n in zip(scripts, names) if n in args.only]
    try:
        with open(args.output) as f:
            record = json.load(f)  # keep figures of benchmarks not run this time
    except (OSError, ValueError):
        record = {}
    record.setdefault("benchmarks", {})
    failed = []
    for script in scripts:
        name = os.path.basename(script)[6:-3]
        with open(script) as f:
            accepts_quick = "--quick" in f.read()
        print(f"=== {name}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "figures.json")
            cmd = [sys.executable, script, "--json", out] + (["--quick"] if args.quick and accepts_quick else [])
            facts = machine()
            t = time.perf_counter()
            status = subprocess.run(cmd, cwd=ROOT).returncode
            seconds = time.perf_counter() - t
            try:
                with open(out) as f:
                    figures = json.load(f)
            except (OSError, ValueError):
                figures = None
        record["benchmarks"][name] = {"ok": status == 0, "exit_status": status, "wall_s": round(seconds, 1),
                                      "figures": figures, "machine": facts}
        if status != 0:
            failed.append(name)
    record["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json(args.output, record)
    print(f"\nwrote {args.output}" + (f"; FAILED: {', '.join(failed)}" if failed else "; all passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
