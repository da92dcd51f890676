"""topokit: research companion to Kochar, Vengalil & Sinha, arXiv 2109.01572.

Modules, one per concern: :mod:`topokit.data`, :mod:`topokit.models`,
:mod:`topokit.activations`, :mod:`topokit.training`, :mod:`topokit.topology`,
:mod:`topokit.sweeps`, :mod:`topokit.stats`, :mod:`topokit.plotting` and :mod:`topokit.pipeline`.
"""
__version__ = "0.1.0"

# Pin the math libraries' code paths before anything imports torch (topokit.reproducibility).
from . import reproducibility as _reproducibility  # noqa: E402

_reproducibility.pin()
