"""Command line of topokit.

``topokit reproduce [--quick | --full] [--only 03 04] [--list] [--no-download] [--scheduler ADDR]
[--update-readme]`` executes the numbered notebooks headless (writing only into ignored folders;
``--update-readme``, a maintainer's act, also rewrites the README's table and ``docs/gallery/``); ``topokit cache info [--kind KIND] [--dir DIR]`` and
``topokit cache clear [--kind KIND] [--dir DIR]`` look after the on-disk cache (only a folder
topokit made, see :mod:`topokit.cache`; ``clear`` removes only entries it verifies and reports
what it removed and what it left); ``topokit strip NOTEBOOK...`` removes outputs before a commit.
Bad arguments exit with status 2 and a message saying what to pass instead.
"""
from __future__ import annotations

import argparse
import sys


def _reproduce(args) -> int:
    from . import data, parallel, pipeline

    if args.list:
        try:
            books = pipeline.find_notebooks(only=args.only)
        except (FileNotFoundError, ValueError) as exc:
            print(f"topokit reproduce: {exc}", file=sys.stderr)
            return 2
        for path in books:
            info = pipeline.notebook_info(path)
            needs = ", ".join(info["datasets"]) or "no downloaded data"
            print(f"{info['title']}  ({path.name}; needs {needs})")
        return 0
    try:
        runs = pipeline.reproduce(quick=args.quick, full=args.full, only=args.only, timeout=args.timeout,
                                  download=False if args.no_download else None, scheduler=args.scheduler,
                                  update_readme=args.update_readme)
    except pipeline.NotebookExecutionError as exc:
        print(f"topokit reproduce: {exc}", file=sys.stderr)
        return 1
    except (data.DataUnavailableError, parallel.SchedulerError) as exc:
        print(f"topokit reproduce: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"topokit reproduce: {exc}", file=sys.stderr)
        return 2
    total = sum(r.seconds for r in runs)
    print(f"{len(runs)} notebook(s) executed in {total:.1f} s; figures in figures/"
          + ("quick/" if runs and runs[0].quick else ""))
    return 0


def _cache(args) -> int:
    from ._checks import InvalidParameterError
    from .cache import Cache, NotACacheError, _check_kind

    try:
        kind = _check_kind(args.kind) if args.kind is not None else None
        cache = Cache(args.dir)
    except (InvalidParameterError, NotACacheError, OSError) as exc:
        print(f"topokit cache: {exc}", file=sys.stderr)
        return 2
    if args.action == "info":
        info = cache.info()
        if kind is not None:
            info = info[info["kind"] == kind]
        print(f"cache folder {cache.directory}" + ("" if cache.writable else " (read-only)"))
        if info.empty:
            print("empty")
        else:
            for row in info.itertuples():
                print(f"{row.kind:<20} {row.entries:>6} entries {row.bytes / 1e6:>10.2f} MB")
            print(f"{'total':<20} {info['entries'].sum():>6} entries {info['bytes'].sum() / 1e6:>10.2f} MB")
        return 0
    try:
        result = cache.clear(kind)
    except (InvalidParameterError, OSError) as exc:
        print(f"topokit cache: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    if result.temporary:
        print(f"removed {result.temporary} temporary folder(s) left by interrupted runs")
    if result.skipped:
        print(f"left {len(result.skipped)} item(s) untouched (not verified cache entries):")
        for path, why in result.skipped[:20]:
            print(f"  {path}: {why}")
        if len(result.skipped) > 20:
            print(f"  ... and {len(result.skipped) - 20} more")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``topokit`` command (also ``python -m topokit``)."""
    parser = argparse.ArgumentParser(prog="topokit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("reproduce", help="execute the numbered notebooks headless and write figures/")
    mode = rep.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", default=None,
                      help="small sizes for a fast check (also TOPOKIT_QUICK=1); figures go to figures/quick/")
    mode.add_argument("--full", action="store_true", default=None,
                      help="paper scale (also TOPOKIT_FULL=1); long, resumable through the cache")
    rep.add_argument("--only", nargs="+", metavar="PREFIX", help="run only notebooks starting with these, e.g. 03 04")
    rep.add_argument("--list", action="store_true", help="list the notebooks and the data they need, run nothing")
    rep.add_argument("--no-download", action="store_true",
                     help="never download missing data files (also TOPOKIT_DOWNLOAD=0)")
    rep.add_argument("--scheduler", metavar="ADDRESS",
                     help="run sweeps and filter scoring on a Dask cluster, e.g. tcp://host:8786 "
                          "(also TOPOKIT_SCHEDULER)")
    rep.add_argument("--update-readme", action="store_true",
                     help="a maintainer's act: let notebook 05 rewrite README.md's reproduction table and docs/gallery/ "
                          "from this run (also make readme); a reader's run never touches tracked files")
    rep.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell (default 3600)")
    cache = sub.add_parser("cache", help="inspect or clear the on-disk cache (data/cache or TOPOKIT_CACHE)")
    cache.add_argument("action", choices=["info", "clear"])
    cache.add_argument("--kind", help="only entries of this kind (one of topokit.cache.KINDS: sweep-run, "
                                      "prune-scores, claim, ...; see cache info)")
    cache.add_argument("--dir", help="the cache folder (default TOPOKIT_CACHE, else data/cache)")
    strip = sub.add_parser("strip", help="remove outputs from notebooks before committing")
    strip.add_argument("notebooks", nargs="+")
    args = parser.parse_args(argv)

    if args.command == "reproduce":
        return _reproduce(args)
    if args.command == "cache":
        return _cache(args)
    from . import pipeline

    for p in pipeline.strip_outputs(args.notebooks):
        print(f"stripped {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
