"""The Betti ladder above the default mode's lowest rungs, on a budget one core can afford in hours.

The default mode runs each family's lowest rung (Betti 4-10) and the full ladder would take weeks
on 2 cores (notebook 07's cost table). This probe climbs the two large-Betti families of the
selection sets' kind (D-I-grid and checkerboard) to Betti 50 with the ladder's own code
(:func:`topokit.studies.ladder.ladder`: the same Optuna search for every activation, evaluation on
unseen seeds, censored runs kept), at a stated, smaller budget:

- training points: ``--per-cell`` points per cell per class (default 100; the ladder's floor is 40),
  instead of each family's homology-dense count (600 per disk on D-I-grid);
- ``--trials`` search trials (TPE's first 10 trials are its seeded random draws, so up to 10 this is
  one shared random search: every activation keeps its best of the same candidates), each on one
  selection seed, at most ``--epochs`` epochs, target 99% training accuracy;
- 5 evaluation seeds per activation.

It writes one JSON record (every rung's verdict, the share converged per activation, the best recipe
per activation and the CPU time) to ``--json`` after each rung, so an interrupted probe keeps what it
measured; rerunning it resumes from the cache.

Usage::

    python benchmarks/ladder_probe.py --json build/ladder_probe.json [--cache DIR]
    python benchmarks/ladder_probe.py --redraw benchmarks/results.json --figure docs/ladder_probe.png

``--redraw`` draws the figure from a record (a probe's JSON, or ``results.json`` whose key
``ladder_probe`` holds the merged record of several probes) without training or reading the cache:
a change to topokit's code changes every run's cache key, but not what the record measured.
"""
from __future__ import annotations

import argparse
import os
import time

import _bench

RUNGS = (("checkerboard", 6), ("D-I-grid", 5), ("checkerboard", 8), ("D-I-grid", 7), ("checkerboard", 10))


def _same_recipe(L, rung, runs, best, budget, n_trials) -> list:
    """topo against each baseline whose search picked another recipe, the baseline trained with topo's
    recipe on the same evaluation seeds: the activation's effect without the search's luck."""
    import pandas as pd

    recipe = {k[5:]: (v.item() if hasattr(v, "item") else v) for k, v in best.loc["topo"].items()}
    out = []
    for act, row in best.iterrows():
        if act == "topo" or row.equals(best.loc["topo"]):
            continue
        base = L.evaluate(rung, act, recipe, budget["seeds"], max_epochs=budget["max_epochs"],
                          target=budget["target"], device=budget["device"])
        both = pd.concat([runs[runs.activation == "topo"], base], ignore_index=True)
        row_ = L.summarize(both, n_trials=n_trials).iloc[0]
        out.append({"baseline": act, "ratio": round(float(row_.ratio), 3), "low": round(float(row_.low), 3),
                    "high": round(float(row_.high), 3), "verdict": row_.verdict,
                    "converged_baseline": float(row_.converged_baseline)})
    return out


def _frames(rungs: list) -> tuple:
    """``(summary, share)`` for :func:`topokit.studies.ladder.plot_ladder`, from a record's rungs."""
    import pandas as pd

    summary = pd.DataFrame([row for r in rungs for row in r["summary"]])
    share = pd.DataFrame([{"family": r["family"], "rung": r["value"], "betti": r["betti"], "activation": act,
                           "converged": value} for r in rungs for act, value in r["share_converged"].items()])
    return (summary.sort_values(["betti", "family", "baseline"], kind="stable", ignore_index=True),
            share.sort_values(["betti", "family"], kind="stable", ignore_index=True))


def _draw(rungs: list, budget: dict, path: str) -> None:
    from pathlib import Path

    from topokit import plotting
    from topokit.studies import ladder as L

    plotting.set_style()
    fig = L.plot_ladder(*_frames(rungs))
    fig.suptitle(f"Betti ladder probe: {budget['n_trials']} trials x {budget['max_epochs']} epochs per activation, "
                 f"{len(budget['seeds'])} evaluation seeds, {budget['points_per_cell_per_class']} points per cell "
                 "and class", fontsize=9)
    fig.tight_layout()
    target = Path(path)
    plotting.save_figure(fig, target.stem, formats=["png"], directory=target.parent, show=False)


def _redraw(source: str, figure) -> int:
    import json
    import sys
    from pathlib import Path

    if not figure:
        print("--redraw needs --figure PATH.png (where to draw)", file=sys.stderr)
        return 2
    try:
        record = json.loads(Path(source).read_text())
        record = record["benchmarks"]["ladder_probe"]["figures"] if "benchmarks" in record else record
        rungs, budget = record["rungs"], record["budget"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"--redraw {source}: not a probe record or a results.json with one ({type(exc).__name__}: {exc})",
              file=sys.stderr)
        return 2
    _draw(rungs, budget, figure)
    print(f"{len(rungs)} rungs drawn to {figure}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", help="where to write the record (rewritten after each rung); required unless --redraw")
    ap.add_argument("--redraw", metavar="RECORD", help="only draw --figure from this record (no training)")
    ap.add_argument("--cache", help="cache folder (default: TOPOKIT_CACHE or the user cache)")
    ap.add_argument("--per-cell", type=int, default=100)
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--figure", help="also draw the ladder figure of all these rungs to this PNG path")
    ap.add_argument("--no-same-recipe", action="store_true",
                    help="skip the recipe-matched check (recorded as null: not run)")
    ap.add_argument("--rungs", nargs="+", metavar="FAMILY:VALUE", default=[f"{f}:{v}" for f, v in RUNGS],
                    help="the rungs, lowest first (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.redraw:
        return _redraw(args.redraw, args.figure)
    if not args.json:
        ap.error("--json PATH is required (or --redraw RECORD --figure PATH)")
    rung_list = []
    for text in args.rungs:
        fam, _, value = text.rpartition(":")
        if not fam or not value.isdigit():
            ap.error(f"--rungs takes FAMILY:VALUE such as checkerboard:6, not {text!r}")
        rung_list.append((fam, int(value)))
    if args.cache:
        os.environ["TOPOKIT_CACHE"] = args.cache
    from topokit.studies import ladder as L

    budget = dict(seeds=tuple(range(args.seeds)), n_trials=args.trials, max_epochs=args.epochs,
                  selection_seeds=(1000,), target=0.99, device="cpu", n_jobs=1, progress=True)
    record = {"machine": _bench.machine(), "budget": {**{k: v for k, v in budget.items() if k != "progress"},
                                                      "points_per_cell_per_class": args.per_cell},
              "rungs": []}
    for fam, value in rung_list:
        cells = L._cells(fam, value)
        rung = L.rungs([fam], values={fam: (value,)}, n=2 * args.per_cell * cells)[0]
        t0, c0 = time.perf_counter(), time.process_time()
        runs, trials = L.ladder([rung], **budget)
        summary = L.summarize(runs, n_trials=args.trials)
        verdicts = L.rung_verdicts(summary)
        best = runs.groupby("activation").first()[[c for c in runs if c.startswith("best_") and c != "best_accuracy"]]
        matched = None if args.no_same_recipe else _same_recipe(L, rung, runs, best, budget, args.trials)
        record["rungs"].append({
            "family": fam, "value": value, "betti": rung.betti, "points": 2 * args.per_cell * cells,
            "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
            # the training's own CPU time, as recorded with each run in the cache (also on a warm rerun)
            "training_cpu_s": round(float(runs.cpu_seconds.sum() + trials.cpu_seconds.sum()), 1),
            "epochs_run": int(runs.epochs_run.sum() + trials.epochs_run.sum()),
            "verdict": verdicts.iloc[0].to_dict(),
            "share_converged": runs.groupby("activation").converged.mean().round(3).to_dict(),
            "trials_converged": trials.groupby("activation").converged.sum().astype(int).to_dict(),
            "best_train_accuracy": runs.groupby("activation").best_accuracy.max().round(4).to_dict(),
            "summary": summary.round(3).to_dict("records"),
            "best_recipes": {a: {k[5:]: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                             for a, row in best.iterrows()},
            "same_recipe": matched,
        })
        _bench.write_json(args.json, record)
        print(rung.label, rung.betti, record["rungs"][-1]["share_converged"], verdicts.iloc[0]["verdict"], flush=True)
    if args.figure:
        _draw(record["rungs"], record["budget"], args.figure)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
