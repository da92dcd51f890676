"""What importing topokit's point-cloud tools costs: no torch, giotto-tda, plotly or scikit-learn.

A notebook that measures point clouds only (the primer, notebook 00) pays its imports on every
rerun; torch alone takes 2-4 s on a loaded machine. Counted as modules imported, not seconds.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "gtda", "plotly", "sklearn", "dask")


def _imported_after(statement: str) -> set:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_point_cloud_tools_import_no_heavy_library():
    loaded = _imported_after("from topokit import data, fileio, topology, plotting, cache")
    assert not loaded & set(HEAVY), f"imported at import time: {sorted(loaded & set(HEAVY))}"


def test_statistics_import_scipy_stats_at_first_use():
    code = ("import sys\nfrom topokit import stats\nbefore = 'scipy.stats' in sys.modules\n"
            "r = stats.speedup([400, 500, 600], [200, 250, 300], n_boot=50)\n"
            "print(before, 'scipy.stats' in sys.modules, r.ratio)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["False", "True", "2.0"]


def test_a_model_still_works_with_topology_imported_first():
    loaded = _imported_after(
        "from topokit import topology\n"
        "import numpy as np, torch\n"
        "net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))\n"
        "outs = topology.layer_outputs(net, np.zeros((5, 2), np.float32))\n"
        "assert [o.shape for o in outs] == [(5, 2), (5, 3), (5, 3), (5, 2)], [o.shape for o in outs]\n"
        "assert topology.betti_numbers(torch.rand(40, 2), k=5) is not None")
    assert "torch" in loaded
