"""Shared style, colours, file writing and input checks of the figure modules."""
from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from .. import _checks
from ..fileio import PROJECT_ROOT, atomic_path, quick_mode


__all__ = ["CLASS_COLORS", "CLASS_LINESTYLES", "ACTIVATION_COLORS", "DIM_COLORS", "RUN_COLORS", "STYLE", "figures_dir", "save_figure", "set_style", "SavedFiles"]

PROJECT_FIGURES = PROJECT_ROOT / "figures"

#: Colour of each class label (Okabe-Ito blue and vermillion).
CLASS_COLORS = {0: "#0072B2", 1: "#D55E00"}
#: Line style of each class where colour encodes something else (matplotlib and plotly names).
CLASS_LINESTYLES = {0: "-", 1: "--"}
_PLOTLY_DASH = {"-": "solid", "--": "dash", ":": "dot", "-.": "dashdot"}
#: Colour of each activation function (names of :mod:`topokit.activations`).
ACTIVATION_COLORS = {
    "relu": "#D55E00",
    "leaky_relu": "#E69F00",
    "tanh": "#0072B2",
    "sigmoid": "#56B4E9",
    "gelu": "#009E73",
    "silu": "#CC79A7",
    "clipped_relu": "#000000",
    "topo": "#009E73",  # bluish green, shared with gelu (never drawn together)
}
#: Colour of each homology dimension H0, H1, H2, H3.
DIM_COLORS = {0: "#0072B2", 1: "#D55E00", 2: "#009E73", 3: "#CC79A7"}
#: Colours for runs, seeds and anything else without a fixed colour, in order.
RUN_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999")
#: The matplotlib rc that :func:`set_style` applies.
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.6,
    "image.cmap": "viridis",
}
_PLOTLY_TEMPLATE = "plotly_white"
_PLOTLY_FONT = dict(family="DejaVu Sans, Arial, sans-serif", size=12)
_SAVE_FORMATS = {"matplotlib": ("png", "pdf", "svg"), "plotly": ("html",)}
_DEFAULT_FORMATS = {"matplotlib": ("png", "pdf"), "plotly": ("html",)}
_SAVE_DPI = 150
_BETA = "\u03b2"


# ----------------------------------------------------------------------------- style and files


def set_style() -> None:
    """Apply the project's matplotlib style (:data:`STYLE`); call once per notebook."""
    import matplotlib as mpl

    mpl.rcParams.update(STYLE)


def figures_dir(quick: Optional[bool] = None) -> Path:
    """The folder figures are written to, created if needed.

    ``$TOPOKIT_FIGURES`` if set, else the project's ``figures/`` folder; in quick mode
    (``quick=True``, or ``TOPOKIT_QUICK=1`` when ``quick`` is None) its ``quick/`` subfolder, so
    a quick run never overwrites a full run's figures.

    Parameters
    ----------
    quick : bool, optional
        Quick mode; default from the ``TOPOKIT_QUICK`` environment variable.

    Returns
    -------
    pathlib.Path
    """
    env = os.environ.get("TOPOKIT_FIGURES", "").strip()
    base = Path(env).expanduser() if env else PROJECT_FIGURES
    folder = base / "quick" if quick_mode(quick) else base
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _kind(fig) -> str:
    from matplotlib.figure import Figure

    if isinstance(fig, Figure):
        return "matplotlib"
    try:
        import plotly.graph_objects as go

        if isinstance(fig, go.Figure):
            return "plotly"
    except ImportError:  # pragma: no cover - plotly is a dependency
        pass
    raise ValueError(
        f"save_figure takes a matplotlib Figure or a plotly Figure, got {type(fig).__name__}; "
        "for an Axes pass ax.figure"
    )


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"figure name must be a non-empty string, got {name!r}")
    if "/" in name or "\\" in name or os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"figure name {name!r} must not contain path separators; pass directory= instead")
    if name in (".", "..") or "\x00" in name or name != name.strip():
        raise ValueError(f"figure name {name!r} is not a valid file name")
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix in ("png", "pdf", "svg", "html"):
        raise ValueError(f"figure name {name!r} must not carry an extension; pass formats=[{suffix!r}] instead")
    return name


def _inline_kernel() -> bool:
    """True in a Jupyter kernel whose matplotlib figures show through the inline backend."""
    ipython = sys.modules.get("IPython")  # never imported here: a script does not pay for it
    if ipython is None or getattr(ipython, "get_ipython", lambda: None)() is None:
        return False
    import matplotlib

    return "inline" in str(matplotlib.get_backend()).lower()


def _display_png(png: bytes, dpi: float) -> None:
    """Display a PNG saved at :data:`_SAVE_DPI` at the size the inline backend shows a figure of ``dpi``."""
    from IPython.display import Image, display

    width = int.from_bytes(png[16:20], "big")  # the PNG header's IHDR width, in pixels
    display(Image(data=png, format="png", width=max(1, round(width * float(dpi) / _SAVE_DPI))))


def _show_png(fig, png: bytes) -> None:
    """Display ``png`` (the figure as saved) at the size the inline backend would, and close ``fig``."""
    import matplotlib.pyplot as plt

    _display_png(png, fig.get_dpi())
    plt.close(fig)


#: Environment variables (and a folder) by which plotly picks a renderer other than its plain mimetype
#: one in a Jupyter kernel (``plotly.io._renderers``): there a figure is displayed by plotly itself.
_PLOTLY_HOSTS = ("PLOTLY_RENDERER", "COLAB_NOTEBOOK_ID", "AZURE_NOTEBOOKS_HOST", "VSCODE_PID", "NTERACT_EXE",
                 "COCALC_PROJECT_ID", "DATABRICKS_RUNTIME_VERSION")


def _display_plotly(fig) -> None:
    """Display a plotly figure in a Jupyter kernel as plotly's default renderer there does.

    Plotly's renderers module imports ``nbformat`` (for its version), which imports
    ``jsonschema``, which imports ``rfc3987_syntax``: about 3 s on 2 cores, compiling a grammar,
    before the first figure of a kernel shows. In a plain Jupyter kernel plotly's default renderer
    sends one ``application/vnd.plotly.v1+json`` output (the figure as JSON, drawn by JupyterLab's
    plotly extension); this sends the same without that import. Where plotly would choose another
    renderer (outside a Jupyter kernel, ``PLOTLY_RENDERER``, Colab, VS Code and the other hosts it
    detects), or where its renderers module is already imported (its default may have been
    changed), plotly displays the figure itself.
    """
    import json

    from IPython.display import display

    ipython = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()  # None in a plain script
    if (type(ipython).__name__ != "ZMQInteractiveShell"  # a terminal IPython: plotly opens a browser
            or "plotly.io._renderers" in sys.modules or any(os.environ.get(v) for v in _PLOTLY_HOSTS)
            or os.path.exists("/kaggle/input")):
        display(fig)
        return
    figure = json.loads(fig.to_json(validate=False, remove_uids=False))
    display({"application/vnd.plotly.v1+json": figure}, raw=True)


class SavedFiles(list):
    """The files a figure was saved as: a list of :class:`pathlib.Path`, in the order of the formats.

    ``shown`` says whether the figure was displayed (from its PNG, or interactively). A notebook
    cell that ends with a save then shows the figure only, not the list of paths under it;
    otherwise (a save outside a notebook, or with ``show=False``) IPython shows the list as usual.
    """

    def __init__(self, paths=(), shown: bool = False):
        super().__init__(paths)
        self.shown = bool(shown)

    def _ipython_display_(self) -> None:
        if not self.shown:
            from IPython.display import display

            display(list(self))


def save_figure(fig, name: str, formats: Optional[Sequence[str]] = None, directory=None,
                show: Optional[bool] = None) -> SavedFiles:
    """Write a figure atomically: matplotlib as PNG (150 dpi) and PDF, plotly as HTML.

    In quick mode (:func:`topokit.fileio.quick_mode`) matplotlib figures are written as PNG only:
    quick runs check the code path, and the PDF doubled the time a warm rerun spends saving.

    Every file is first written to a temporary file in the target folder, and only when all of
    them are written are they moved into place with ``os.replace``. If any write fails, the
    temporary files are removed and files from an earlier save are left untouched.

    Parameters
    ----------
    fig : matplotlib.figure.Figure or plotly.graph_objects.Figure
        The figure.
    name : str
        File name without extension, e.g. ``"02_betti_by_layer"``; no path separators.
    formats : sequence of str, optional
        Default ``("png", "pdf")`` for matplotlib (``("png",)`` in quick mode; ``"svg"`` also
        allowed) and ``("html",)``
        for plotly: a page that loads ``plotly.min.js`` from its own folder, where one copy is
        written for all the interactive figures (about 4.6 MB, instead of a copy in every
        page); the folder opens offline as it is.
    directory : path, optional
        Default :func:`figures_dir`.
    show : bool, optional
        Display a matplotlib figure from the PNG just written, and close it, so that a notebook
        shows it once without drawing it again. By default (None) this happens in a Jupyter kernel
        with the inline backend, where the figure would otherwise be drawn a second time (with its
        tight bounding box, twice) when the cell ends; there it is the same picture, at the same
        size, as the saved file. ``False`` leaves the figure open and its display to you (for
        example to change and save it again); ``True`` displays it in any IPython front end.
        A plotly figure is displayed interactively, as plotly's default renderer in Jupyter shows
        it but without importing that renderer (3 s, see ``_display_plotly``), so a cell ends with
        the save, not with ``fig``. A matplotlib save without a PNG is never displayed here.

    Returns
    -------
    SavedFiles
        The files written (a list of paths), in the order of ``formats``; a notebook cell ending
        with the save shows the figure, not this list, when the figure was displayed.

    Notes
    -----
    A figure is drawn once per file (twice with the style's tight bounding box), which for a
    grid of a dozen panels is about half a second each on 2 cores; a warm rerun of a notebook
    spends most of its time drawing. Saving the PNG to memory, writing those bytes and displaying
    the same bytes removes the inline backend's own drawing of the figure.

    Raises
    ------
    ValueError
        A bad name, an unknown figure type or a format that this kind of figure cannot be saved as.
    """
    kind = _kind(fig)
    show = _inline_kernel() if show is None else _checks.boolean(show, "show")
    finals = _targets(kind, name, formats, directory)
    folder = finals[0].parent
    if kind == "plotly":
        _write_plotlyjs(folder)
        with contextlib.ExitStack() as stack:  # all files or none: a failure replaces nothing
            for final in finals:
                fig.write_html(str(stack.enter_context(atomic_path(final))), include_plotlyjs=PLOTLYJS,
                               full_html=True)
        if show:
            _display_plotly(fig)
        return SavedFiles(finals, shown=show)
    files = _render(fig, finals)  # each file drawn once, in memory: the PNG is also what a notebook shows
    _write_all({f: files[f.suffix[1:]] for f in finals})
    shown = bool(show and "png" in files)
    if shown:
        _show_png(fig, files["png"])
    return SavedFiles(finals, shown=shown)


def _render(fig, finals: Sequence[Path]) -> dict:
    """Each file's bytes, ``{format: bytes}``, drawn from the matplotlib figure ``fig``."""
    out = {}
    for final in finals:
        buf = io.BytesIO()
        fig.savefig(buf, format=final.suffix[1:], dpi=_SAVE_DPI)
        out[final.suffix[1:]] = buf.getvalue()
    return out


def _targets(kind: str, name, formats, directory) -> list[Path]:
    """The files a figure of ``kind`` is saved as (checked name and formats; the folder created)."""
    name = _check_name(name)
    if formats is None:
        formats = ("png",) if kind == "matplotlib" and quick_mode() else _DEFAULT_FORMATS[kind]
    if isinstance(formats, str):
        formats = [formats]
    formats = [str(f).lower().lstrip(".") for f in formats]
    if not formats:
        raise ValueError("formats is empty; pass e.g. ['png'] or leave it out for the defaults")
    bad = [f for f in formats if f not in _SAVE_FORMATS[kind]]
    if bad:
        raise ValueError(f"a {kind} figure cannot be saved as {bad}; choose from {list(_SAVE_FORMATS[kind])}")
    folder = Path(directory) if directory is not None else figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return [folder / f"{name}.{fmt}" for fmt in dict.fromkeys(formats)]


def _write_all(payloads: dict) -> None:
    """Write ``{path: bytes}`` atomically: all files or none (a failure replaces nothing)."""
    with contextlib.ExitStack() as stack:
        for final, data in payloads.items():
            Path(stack.enter_context(atomic_path(final))).write_bytes(data)


#: The file name of the one copy of plotly.js that interactive figures in a folder share.
PLOTLYJS = "plotly.min.js"


def _write_plotlyjs(folder: Path) -> Path:
    """Put plotly.js beside the HTML figures (once per folder, replaced when plotly changes)."""
    from plotly.offline import get_plotlyjs

    path = folder / PLOTLYJS
    js = get_plotlyjs().encode("utf-8")
    if not path.exists() or path.stat().st_size != len(js) or path.read_bytes() != js:
        with atomic_path(path) as tmp:
            tmp.write_bytes(js)
    return path


# ----------------------------------------------------------------------------- helpers


def _betti_str(b) -> str:
    return "(" + ", ".join(str(int(v)) for v in b) + ")"


def _class_name(label, class_names) -> str:
    if class_names is not None:
        try:
            return str(class_names[label])
        except (KeyError, IndexError, TypeError):
            pass
    return f"class {label}"


def _class_color(label, i: int = 0) -> str:
    try:
        return CLASS_COLORS[int(label)]
    except (KeyError, TypeError, ValueError):
        return RUN_COLORS[i % len(RUN_COLORS)]


def _class_style(label, i: int = 0) -> str:
    styles = ["-", "--", ":", "-."]
    try:
        return CLASS_LINESTYLES[int(label)]
    except (KeyError, TypeError, ValueError):
        return styles[i % len(styles)]


def _activation_color(name, i: int) -> str:
    return ACTIVATION_COLORS.get(str(name).lower(), RUN_COLORS[i % len(RUN_COLORS)])


def _check_columns(df, required: Sequence[str], what: str, hint: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{what} needs a pandas DataFrame, got {type(df).__name__}; {hint}")
    if df.empty:
        raise ValueError(f"{what} got an empty DataFrame; {hint}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {list(required)}; missing {missing} (has {list(df.columns)}); {hint}")
    return df


