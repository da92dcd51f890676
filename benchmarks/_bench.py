"""What the benchmark scripts share: the project on the path, JSON output, machine facts."""
from __future__ import annotations

import json
import os
import platform
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from topokit.fileio import atomic_write_text  # noqa: E402


def write_json(path, figures: dict) -> None:
    """Write a benchmark's figures as JSON, atomically (``run_all.py`` collects them)."""
    atomic_write_text(path, json.dumps(figures, indent=1, default=float))


def machine() -> dict:
    """The machine, the versions that matter and the date, for every recorded figure."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for pkg in ("torch", "numpy", "scipy", "giotto-tda", "giotto-ph", "torch-pruning", "joblib", "dask"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu": cpu, "cpus": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version(), "versions": versions,
            "load_average_1min_at_start": load}
