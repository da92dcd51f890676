"""topokit: research companion to Kochar, Vengalil & Sinha, arXiv 2109.01572.

Library (general tools; none of them imports a study):

- :mod:`topokit.data` -- binary classification datasets: synthetic ones with known topology and real images.
- :mod:`topokit.models` -- model builders (MLPs, small CNNs), saving and loading without pickle.
- :mod:`topokit.activations` -- activation functions by name, the collapse family and the frozen ``topo``.
- :mod:`topokit.training` -- training binary classifiers to convergence, reproducibly (``fit``, ``fit_ensemble``).
- :mod:`topokit.layers` -- choosing layers of any ``nn.Module`` (names, torch.fx nodes, types, "auto") and capturing them.
- :mod:`topokit.topology` -- Betti numbers and persistence diagrams of point clouds and of a network's layers.
- :mod:`topokit.filtertopology` -- the exact, fast topology of one filter's feature maps (numba kernels).
- :mod:`topokit.pruning` -- filter scores (Betti, cubical, L1, HRank, random), physical pruning and measurement.
- :mod:`topokit.sweeps` -- the sweep engine: seeded runs over activations x datasets x seeds, per-dataset recipes.
- :mod:`topokit.stats` -- censored speed-ups, Kaplan-Meier, bootstrap intervals, exact McNemar, verdict rules.
- :mod:`topokit.robustness` -- seeds sized to the variance, winner stability, specification curves.
- :mod:`topokit.reproducibility` -- the math libraries' code paths pinned, so a seed gives the same numbers on any x86 CPU.
- :mod:`topokit.cache` -- the on-disk cache, keyed by configuration and code.
- :mod:`topokit.parallel` -- where parallel work runs: local cores or a Dask cluster.
- :mod:`topokit.fileio` -- where topokit writes and how (atomic writes, quick/full mode, progress).
- :mod:`topokit.plotting` -- the notebooks' figures (matplotlib and plotly).

Studies (one notebook's experiment each, built on the library; see :mod:`topokit.studies`):

- :mod:`topokit.studies.naitzat` -- notebook 02: Naitzat et al.'s layer-by-layer simplification and its verdicts.
- :mod:`topokit.studies.activations` -- notebook 03: selecting ``topo`` and comparing activations fairly.
- :mod:`topokit.studies.pruning` -- notebook 04: Kochar et al.'s Betti pruning study and its verdicts.
- :mod:`topokit.studies.ladder` -- the activation claim on a ladder of Betti numbers up to the paper's 150+.
- :mod:`topokit.selection` -- the old name of :mod:`topokit.studies.activations` (re-exports it).

Running and reporting:

- :mod:`topokit.pipeline` -- runs the numbered notebooks headless (``topokit reproduce``).
- :mod:`topokit.report` -- the claim-by-claim reproduction report (``CLAIMS``, ``record_claim``).
- ``topokit.__main__`` -- the ``topokit`` command line.

Internal: ``topokit._checks`` (the parameter checks every public function uses) and
``topokit._jit`` (numba's ``njit`` with its kernels cached in topokit's cache folder).
"""
__version__ = "0.1.0"

# Pin the math libraries' code paths before anything imports torch (topokit.reproducibility).
from . import reproducibility as _reproducibility  # noqa: E402

_reproducibility.pin()
