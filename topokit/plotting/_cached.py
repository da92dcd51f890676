"""Figures drawn once: :func:`draw` saves what a plot function draws, and on a rerun with the same
inputs writes the stored files again without drawing.

A warm rerun of a notebook reads every computation from the cache and then spends most of its time
drawing figures (a dozen-panel grid takes about a second to lay out and render on 2 cores, twice
in the default mode's PNG + PDF). The files a figure becomes are a function of the plot
function's code, its arguments, matplotlib's rc settings and version: :func:`draw` keys them by
all of these (the arguments by their content: numbers, strings, arrays, DataFrames and containers
of them) and keeps the files' bytes in the cache (kind ``figure``).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .. import _checks
from . import _base

__all__ = ["draw", "content_digest"]


def _feed(value, h, where: str) -> None:
    import pandas as pd

    from ..fileio import array_digest, frame_digest

    if value is None or isinstance(value, (bool, int, float, str, complex)):
        h.update(repr((type(value).__name__, value)).encode())
    elif isinstance(value, np.generic):
        _feed(value.item(), h, where)
    elif isinstance(value, Path):
        h.update(repr(("path", str(value))).encode())
    elif isinstance(value, np.ndarray):
        if value.dtype == object:
            h.update(f"object{value.shape}".encode())
            for i, v in enumerate(value.ravel().tolist()):
                _feed(v, h, f"{where}[{i}]")
        else:
            h.update(array_digest(value).encode())
    elif isinstance(value, pd.DataFrame):
        h.update(("frame" + frame_digest(value)).encode())
    elif isinstance(value, pd.Series):
        h.update(("series" + repr(value.name) + frame_digest(value.to_frame())).encode())
    elif isinstance(value, Mapping):
        h.update(f"{type(value).__name__}{len(value)}".encode())
        for k in sorted(value, key=repr):
            _feed(k, h, where)
            _feed(value[k], h, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple, range)):
        h.update(f"{type(value).__name__}{len(value)}".encode())
        for i, v in enumerate(value):
            _feed(v, h, f"{where}[{i}]")
    elif isinstance(value, (set, frozenset)):
        _feed(sorted(value, key=repr), h, where)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        h.update(type(value).__qualname__.encode())
        _feed({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, h, where)
    else:
        raise TypeError(f"{where} is a {type(value).__name__}, which draw() cannot key by its content; "
                        "pass numbers, strings, arrays, DataFrames or containers of them (or use save_figure)")


def content_digest(*values) -> str:
    """A hash of values by their content (numbers, strings, paths, numpy arrays, DataFrames and
    Series, and lists, tuples, dicts, sets and dataclasses of them); ``TypeError`` names the first
    value it cannot hash by content."""
    h = hashlib.sha256()
    for i, v in enumerate(values):
        _feed(v, h, f"argument {i}")
    return h.hexdigest()[:32]


#: rc settings that do not change a saved file (the interactive backend, key bindings, GUI toolkits).
_RC_IGNORED = ("backend", "interactive", "toolbar", "keymap.", "webagg.", "macosx.", "tk.", "savefig.directory")


def _rc_digest() -> str:
    import matplotlib as mpl

    items = sorted((k, repr(v)) for k, v in mpl.rcParams.items() if not k.startswith(_RC_IGNORED))
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


def draw(name: str, plot: Callable, *args, formats: Optional[Sequence[str]] = None, directory=None,
         show: Optional[bool] = None, **kwargs) -> _base.SavedFiles:
    """Save ``plot(*args, **kwargs)`` as :func:`save_figure` does, drawing it only when something changed.

    The files' bytes are cached (kind ``figure``), keyed by ``name``, the plot function (its
    module's source and the plotting package's), the arguments' content, the formats, matplotlib's
    rc settings and version. A rerun with the same key writes the same files again, atomically,
    without calling ``plot``; in a notebook (see ``show`` in :func:`save_figure`) the PNG is shown
    either way. A read-only or full cache only costs the drawing. Plotly figures are saved by
    :func:`save_figure` and not cached (their page embeds the figure's data, and it is displayed
    by the notebook itself).

    Parameters
    ----------
    name : str
        File name without extension, as in :func:`save_figure`.
    plot : callable
        Returns a matplotlib (or plotly) figure, e.g. :func:`topokit.plotting.plot_betti_by_layer`.
    *args, **kwargs
        Its arguments: numbers, strings, arrays, DataFrames and containers of them.
    formats, directory, show
        As in :func:`save_figure`.

    Returns
    -------
    SavedFiles
        The files written (a list of paths), as :func:`save_figure` returns them.

    Raises
    ------
    TypeError
        An argument that cannot be keyed by its content (say which; draw it and call
        :func:`save_figure` instead), before anything is drawn.
    ValueError
        A bad name or format, as in :func:`save_figure`.
    """
    import matplotlib as mpl

    from ..cache import Cache

    if not callable(plot):
        raise _checks.InvalidParameterError(f"plot must be a function returning a figure, got {type(plot).__name__}")
    show = _base._inline_kernel() if show is None else _checks.boolean(show, "show")
    finals = _base._targets("matplotlib", name, formats, directory)
    module = sys.modules.get(getattr(plot, "__module__", ""), None)
    if not getattr(module, "__file__", None):
        raise _checks.InvalidParameterError(
            f"plot {getattr(plot, '__qualname__', plot)!r} is not defined in an importable module, whose source would "
            "version the cached files (a function defined in a notebook is not); call "
            "save_figure(plot(...), name) for it instead")
    config = {"name": finals[0].stem, "plot": f"{getattr(plot, '__module__', '?')}.{getattr(plot, '__qualname__', '?')}",
              "arguments": content_digest(list(args), kwargs), "formats": [f.suffix[1:] for f in finals],
              "rc": _rc_digest(), "matplotlib": mpl.__version__, "dpi": _base._SAVE_DPI}
    code = [module, *_plotting_modules()]
    drawn = []

    def compute() -> dict:
        fig = plot(*args, **kwargs)
        kind = _base._kind(fig)
        if kind != "matplotlib":
            drawn.append(fig)
            raise _NotCached
        try:
            return {fmt: np.frombuffer(data, dtype=np.uint8) for fmt, data in _base._render(fig, finals).items()}
        finally:
            import matplotlib.pyplot as plt

            plt.close(fig)

    try:
        payload = Cache().memo("figure", config, compute, code=code, required=False)
    except _NotCached:
        return _base.save_figure(drawn[0], name, formats=formats, directory=directory, show=show)
    _base._write_all({f: payload[f.suffix[1:]].tobytes() for f in finals})
    shown = bool(show and "png" in payload)
    if shown:
        _base._display_png(payload["png"].tobytes(), mpl.rcParams["figure.dpi"])
    return _base.SavedFiles(finals, shown=shown)


class _NotCached(Exception):
    """The plot returned a figure that draw() does not cache (plotly): save it as it is."""


@functools.lru_cache(maxsize=None)
def _plotting_modules() -> tuple:
    """The plotting package and all its modules, in name order (their source is part of every figure's key).

    Listed from the package's folder, not from what happens to be imported, so that the key is the
    same in every process; listed once per process.
    """
    import importlib
    import pkgutil

    package = sys.modules[__package__]
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}."))
    return (package, *(importlib.import_module(n) for n in names))