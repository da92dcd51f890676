"""Command line: ``topokit reproduce [--quick] [--only 01 02]`` and ``topokit strip NOTEBOOK...``."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    """Entry point of the ``topokit`` command (also ``python -m topokit``)."""
    parser = argparse.ArgumentParser(prog="topokit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("reproduce", help="execute the numbered notebooks headless and write figures/")
    rep.add_argument("--quick", action="store_true", default=None,
                     help="small sizes for a fast check (also TOPOKIT_QUICK=1); figures go to figures/quick/")
    rep.add_argument("--only", nargs="+", metavar="PREFIX", help="run only notebooks starting with these, e.g. 01 02")
    rep.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell (default 3600)")
    strip = sub.add_parser("strip", help="remove outputs from notebooks before committing")
    strip.add_argument("notebooks", nargs="+")
    args = parser.parse_args(argv)

    from . import pipeline

    if args.command == "strip":
        for p in pipeline.strip_outputs(args.notebooks):
            print(f"stripped {p}")
        return 0
    try:
        runs = pipeline.reproduce(quick=args.quick, only=args.only, timeout=args.timeout)
    except pipeline.NotebookExecutionError as exc:
        print(f"topokit reproduce: {exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as exc:
        print(f"topokit reproduce: {exc}", file=sys.stderr)
        return 2
    total = sum(r.seconds for r in runs)
    print(f"{len(runs)} notebook(s) executed in {total:.1f} s; figures in figures/"
          + ("quick/" if runs and runs[0].quick else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
