"""Run the numbered notebooks headless: ``topokit reproduce``.

:func:`reproduce` executes ``notebooks/NN_*.ipynb`` in order with nbclient, each with its own
folder as working directory, and writes the executed copies to ``build/notebooks/``. It stops at
the first failing cell and names the notebook and the cell.

The mode (:func:`topokit.fileio.run_mode`) reaches a notebook exactly as it reaches a reader's
JupyterLab: through ``TOPOKIT_QUICK`` / ``TOPOKIT_FULL`` in the kernel's environment, which every
notebook's first code cell reads; no code is injected. That cell prints ``topokit mode: <mode>``
first, and the pipeline stops the notebook right after it when the line is missing or names another
mode (:class:`NotebookModeError`). Quick mode (``quick=True`` or ``TOPOKIT_QUICK=1``) runs every
notebook at small sizes; quick figures go to ``figures/quick/`` and never overwrite a full run's
figures. Full mode (``full=True`` or ``TOPOKIT_FULL=1``) runs at paper scale, resumable through the
cache.

A reader's run writes only into ignored folders (``build/``, ``figures/``, the cache): the README's
reproduction table and ``docs/gallery/`` are rewritten only when asked (``update_readme=True``,
``topokit reproduce --update-readme``, ``make readme``); otherwise the run ends by saying where its
verdicts differ from the README's table (:func:`readme_differences`).

Before any notebook runs, :func:`preflight` checks every dataset the notebooks declare in their
metadata (downloading missing official files unless ``TOPOKIT_DOWNLOAD=0``). Figures are written
to a staging folder per notebook and swapped in only when the notebook succeeds. Kernels talk
over local IPC sockets (no TCP warning in the log). Each notebook's result is a
:class:`NotebookRun`; timings go to ``runs.json`` beside the executed copies.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from . import parallel
from ._checks import InvalidParameterError
from . import _checks
from .fileio import MODE_LINE, PROJECT_ROOT, atomic_write_text, current_mode, parse_mode_line, progress_enabled

__all__ = ["NotebookRun", "NotebookExecutionError", "NotebookModeError", "execute_notebook", "find_notebooks", "run_order", "REPORT_NOTEBOOK",
           "notebook_info", "preflight", "readme_differences", "reproduce", "strip_outputs"]

NOTEBOOK_PATTERN = re.compile(r"^\d\d_.+\.ipynb$")
#: The notebook that gathers every other notebook's claims into the report: it runs last whatever
#: its number, so that a run of every notebook reports the claims of those numbered after it.
REPORT_NOTEBOOK = "05_reproduction_report.ipynb"


def run_order(books: Sequence[Path]) -> list[Path]:
    """``books`` in the order they run: by number, with :data:`REPORT_NOTEBOOK` moved last."""
    books = list(books)
    return [p for p in books if p.name != REPORT_NOTEBOOK] + [p for p in books if p.name == REPORT_NOTEBOOK]


@dataclass
class NotebookRun:
    """One executed notebook: where it came from, where its executed copy is, how long it took."""

    notebook: Path
    executed: Path
    seconds: float
    quick: bool
    ok: bool = True
    mode: str = ""


class NotebookExecutionError(RuntimeError):
    """A cell failed while executing a notebook; names the notebook and the cell."""

    def __init__(self, notebook: Path, cell_index: Optional[int], source: str, error: str, executed: Path):
        self.notebook, self.cell_index, self.source, self.error, self.executed = (
            notebook, cell_index, source, error, executed)
        where = f"cell {cell_index}" if cell_index is not None else "an unknown cell"
        excerpt = "\n    ".join(source.strip().splitlines()[:8])
        super().__init__(
            f"{notebook.name} failed at {where} (code cells counted from 1):\n    {excerpt}\n"
            f"{error}\nThe partly executed copy is {executed}"
        )


class NotebookModeError(NotebookExecutionError):
    """A notebook ran in another mode than the one asked for, or did not say which.

    Raised right after the notebook's first code cell, which must print ``topokit mode: <mode>``
    (see :func:`topokit.fileio.run_mode`), before the rest of the notebook runs.
    """

    def __init__(self, notebook: Path, expected: str, found: Optional[str], source: str, executed: Path):
        self.notebook, self.expected, self.found, self.executed = notebook, expected, found, executed
        self.cell_index, self.source, self.error = 1, source, ""
        excerpt = "\n    ".join(source.strip().splitlines()[:8])
        if found is None:
            what = (f"its first code cell did not print '{MODE_LINE.format('<mode>')}' as its first line of output, so "
                    f"the {expected!r} mode asked for cannot be checked; start the notebook with\n"
                    f"    MODE = fileio.run_mode()\n    print(fileio.MODE_LINE.format(MODE))")
        else:
            what = (f"it runs in {found!r} mode but {expected!r} was asked for: its first code cell must follow "
                    f"TOPOKIT_QUICK / TOPOKIT_FULL through fileio.run_mode() (a literal override such as "
                    f"run_mode({found!r}) is for a reader's own session, not for a committed notebook)")
        self.error = what
        RuntimeError.__init__(self, f"{notebook.name}: {what}\nIts first code cell:\n    {excerpt}\n"
                                    f"The partly executed copy is {executed}")


def _requested_mode(quick: Optional[bool], full: Optional[bool]) -> str:
    """The mode a run asks for: the ``quick`` / ``full`` arguments, else the mode in force.

    The environment is checked even when an argument is given (``TOPOKIT_QUICK=maybe`` or both
    variables on are refused), and quick together with full is refused, naming where each came from.
    """
    quick = None if quick is None else _checks.boolean(quick, "quick")
    full = None if full is None else _checks.boolean(full, "full")
    if quick and full:
        raise _checks.InvalidParameterError("quick and full mode exclude each other; pick one (--quick or --full)")
    current = current_mode()  # refuses a bad TOPOKIT_QUICK / TOPOKIT_FULL before anything runs
    q = quick if quick is not None else current == "quick"
    f = full if full is not None else current == "full"
    if q and f:
        raise _checks.InvalidParameterError(
            "quick and full mode exclude each other: "
            + ("--quick (quick=True) was given while TOPOKIT_FULL is on" if quick else
               "--full (full=True) was given while TOPOKIT_QUICK is on")
            + "; pick one (unset TOPOKIT_QUICK or TOPOKIT_FULL)")
    return "quick" if q else "full" if f else "default"


def _check_only(only) -> Optional[list[str]]:
    """``only`` as a list of non-blank prefixes, or None; refuses what would select every notebook."""
    if only is None:
        return None
    if isinstance(only, str):
        only = [only]
    try:
        prefixes = list(only)
    except TypeError:
        raise InvalidParameterError(f"only must be a list of notebook prefixes such as ['01', '03'], got "
                                    f"{type(only).__name__}") from None
    if not prefixes:
        raise InvalidParameterError("only is an empty list, which selects no notebook; name at least one "
                                    "prefix (e.g. --only 01) or pass None to run every notebook")
    for p in prefixes:
        if not isinstance(p, str) or not p.strip():
            raise InvalidParameterError(
                f"only holds {p!r}, which is not a notebook prefix (an empty or blank prefix would select every "
                "notebook); name prefixes such as 01 or 03_compare, or leave --only out to run every notebook")
    return prefixes


def find_notebooks(directory: Path | str | None = None, only: Optional[Sequence[str]] = None) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``) in ``directory``, in the order they run: by
    number, with the report notebook (:data:`REPORT_NOTEBOOK`) last (:func:`run_order`).

    ``only`` keeps those whose name starts with one of the given prefixes (``["01", "02"]``; a
    single string is one prefix); ``None`` keeps all. An empty list or an empty or blank prefix
    (which would match every notebook) raises :class:`~topokit._checks.InvalidParameterError`, and
    a prefix that matches nothing raises ``ValueError`` listing the notebooks there, both before
    anything runs.
    """
    only = _check_only(only)
    directory = Path(directory) if directory is not None else PROJECT_ROOT / "notebooks"
    if not directory.is_dir():
        raise FileNotFoundError(f"notebook folder {directory} does not exist")
    books = sorted(p for p in directory.iterdir() if NOTEBOOK_PATTERN.match(p.name))
    if only is None:
        _check_numbering(directory, books)
    if only is not None:
        missing = [o for o in only if not any(p.name.startswith(o) for p in books)]
        if missing:
            raise ValueError(
                f"no notebook matches {missing}; available: {', '.join(p.name for p in books)}"
            )
        books = [p for p in books if any(p.name.startswith(o) for o in only)]
    return run_order(books)


def _check_numbering(directory: Path, books: Sequence[Path]) -> None:
    """Refuse a gap in the numbering (``00, 01, 03``): a notebook renamed or missing would
    otherwise be skipped without a word. Names the missing numbers and the files that look like
    them."""
    numbers = sorted({int(p.name[:2]) for p in books})
    if not numbers:
        return
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    if not missing:
        return
    others = sorted(p.name for p in directory.glob("*.ipynb") if not NOTEBOOK_PATTERN.match(p.name))
    like = [n for n in others if any(n.startswith(f"{m:02d}") for m in missing)]
    raise FileNotFoundError(
        f"no notebook numbered {', '.join(f'{m:02d}' for m in missing)} in {directory} (found "
        f"{', '.join(p.name for p in books)}); was it renamed or removed? The pipeline runs files named "
        "NN_name.ipynb (two digits, an underscore, a name)"
        + (f"; these look like it but do not match: {', '.join(like)}" if like else "")
        + ". Restore it, or name the notebooks to run with --only")


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _absolute_paths(value: str) -> str:
    return os.pathsep.join(str(Path(p).expanduser().resolve()) for p in value.split(os.pathsep) if p)


def _inject_parameters(nb, params: dict) -> None:
    """Insert a cell assigning ``params`` right after the cell tagged ``parameters``."""
    import nbformat

    if not params:
        return
    index = next((i for i, c in enumerate(nb.cells)
                  if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])), None)
    source = "# Injected by topokit reproduce\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(0 if index is None else index + 1, cell)


def _failed_cell(nb) -> tuple[Optional[int], str]:
    code_index = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        code_index += 1
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return code_index, cell.source
    return None, ""


class _Progress:
    """Cell progress of one notebook: a tqdm bar on a terminal, else a line per slow cell."""

    def __init__(self, name: str, total: int, enabled: bool, slow: float = 10.0):
        import sys

        self.name, self.total, self.slow = name, total, slow
        self.t0 = self.t_cell = time.perf_counter()
        self.done = 0
        self.bar = None
        self.lines = enabled and not sys.stderr.isatty()
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=f"      {name}", unit="cell", leave=False)

    def start(self, cell=None, cell_index=None, **_) -> None:  # nbclient hook signature
        self.t_cell = time.perf_counter()

    def executed(self, cell=None, cell_index=None, **_) -> None:  # nbclient hook signature
        if cell is None or cell.get("cell_type") != "code":
            return
        self.done += 1
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(elapsed=f"{now - self.t0:.0f}s")
        elif self.lines and now - self.t_cell >= self.slow:
            print(f"      cell {self.done}/{self.total} took {now - self.t_cell:.0f} s "
                  f"(elapsed {now - self.t0:.0f} s)", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _kernel_manager_class(socket_dir: str):
    """A KernelManager talking to its kernel over local IPC sockets in ``socket_dir``.

    The default TCP transport makes ipykernel warn, in every notebook's log, that traffic is
    unencrypted; IPC sockets are local files, so there is nothing to warn about.
    """
    from jupyter_client.manager import KernelManager

    class IPCKernelManager(KernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", os.path.join(socket_dir, "kernel"))
            super().__init__(**kwargs)

    return IPCKernelManager


class _ModeCheck:
    """An nbclient hook: after the first code cell ran, its first line of output must be the
    mode line naming ``expected``; otherwise the notebook stops there (:class:`NotebookModeError`)."""

    def __init__(self, path: Path, executed: Path, expected: str, enabled: bool = True):
        self.path, self.executed, self.expected = path, executed, expected
        self.done = not enabled
        self.found: Optional[str] = None

    def __call__(self, cell=None, cell_index=None, execute_reply=None, **_) -> None:
        if self.done or cell is None or cell.get("cell_type") != "code" or not cell.source.strip():
            return
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            return  # execute_notebook(parameters=...) put it there; the notebook's own first cell comes next
        self.done = True
        if (execute_reply or {}).get("content", {}).get("status") == "error":
            return  # the cell's own error is what to report; nbclient raises it next
        text = next((o.get("text", "") for o in cell.get("outputs", [])
                     if o.get("output_type") == "stream" and o.get("name") == "stdout"), "")
        self.found = parse_mode_line(text)
        if self.found != self.expected:
            raise NotebookModeError(self.path, self.expected, self.found, cell.source, self.executed)


def _kernel_env(quick: bool, full: bool, env: Optional[dict]) -> dict:
    """The environment variables a notebook's kernel gets on top of this process's."""
    kernel_env = {"TOPOKIT_QUICK": "1" if quick else "0", "TOPOKIT_FULL": "1" if full else "0",
                  "MPLBACKEND": "Agg", "TOPOKIT_PROGRESS": os.environ.get("TOPOKIT_PROGRESS", "0")}
    for var in ("TOPOKIT_DATA", "TOPOKIT_FIGURES", "TOPOKIT_CACHE"):
        if os.environ.get(var):
            kernel_env[var] = _absolute_paths(os.environ[var])
    kernel_env.update(env or {})
    # the kernel must import this very package, wherever the notebook runs from
    kernel_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    return kernel_env


class _Kernel:
    """A notebook's kernel, started ahead of its turn so that it boots while the notebook before
    it runs (about 2 s a notebook of a reproduce run, on 2 cores), and shut down in the background
    after it (the graceful shutdown takes another half second).

    It gets exactly the environment and working directory that :func:`execute_notebook` would
    give a kernel it started itself; :meth:`close` is safe to call more than once.
    """

    def __init__(self, path: Path, kernel_env: dict, kernel_name: str = "python3"):
        self.sockets = tempfile.mkdtemp(prefix="topokit-kernel-")
        self.km = _kernel_manager_class(self.sockets)(kernel_name=kernel_name)
        self.closer: Optional[threading.Thread] = None
        try:
            # as nbclient starts its own: the IPython history in memory, not in a shared sqlite file
            self.km.start_kernel(cwd=str(path.parent), env={**os.environ, **kernel_env},
                                 extra_arguments=["--HistoryManager.hist_file=:memory:"])
        except BaseException:
            shutil.rmtree(self.sockets, ignore_errors=True)
            raise

    def usable(self) -> bool:
        return self.closer is None and self.km.is_alive()

    def _shutdown(self) -> None:
        try:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=False)
        except Exception:  # noqa: BLE001 - already dead or gone: nothing left to stop
            with contextlib.suppress(Exception):
                self.km.shutdown_kernel(now=True)
        finally:
            with contextlib.suppress(Exception):
                self.km.cleanup_resources()
            shutil.rmtree(self.sockets, ignore_errors=True)

    def close(self, wait: bool = True) -> None:
        """Shut the kernel down (in a background thread unless ``wait``) and remove its sockets."""
        if self.closer is None:
            self.closer = threading.Thread(target=self._shutdown, name="topokit-kernel-shutdown", daemon=True)
            self.closer.start()
        if wait:
            self.closer.join()


def execute_notebook(path: Path, executed: Path, *, quick: bool, timeout: int = 3600,
                     kernel_name: str = "python3", parameters: Optional[dict] = None,
                     full: bool = False, progress: Optional[bool] = False,
                     env: Optional[dict] = None, check_mode: bool = True,
                     kernel: Optional[_Kernel] = None) -> NotebookRun:
    """Execute one notebook with its folder as working directory; write the executed copy.

    The mode reaches the kernel as ``TOPOKIT_QUICK`` / ``TOPOKIT_FULL`` (``"1"`` or ``"0"``),
    which the notebook's first code cell reads with :func:`topokit.fileio.run_mode`; nothing is
    injected into the notebook for it. With ``check_mode`` (the default) the first code cell's
    first line of output must be ``topokit mode: <mode>`` naming that mode, or the run stops right
    after that cell with :class:`NotebookModeError`. ``parameters`` (a dict) still inserts a cell
    assigning them after the cell tagged ``parameters``, as papermill does. ``env`` adds environment
    variables for the kernel (e.g. ``TOPOKIT_FIGURES``); ``progress`` shows which cell of how many
    is running (see :func:`reproduce`). ``kernel`` (internal to :func:`reproduce`) is a kernel
    already started for this notebook with the same environment; it is used when it is still
    alive, and shut down in the background afterwards.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    quick, full = _checks.boolean(quick, "quick"), _checks.boolean(full, "full")
    check_mode = _checks.boolean(check_mode, "check_mode")
    if quick and full:
        raise _checks.InvalidParameterError("quick and full mode exclude each other; pick one")
    mode = "quick" if quick else "full" if full else "default"
    nb = nbformat.read(path, as_version=4)
    _inject_parameters(nb, dict(parameters or {}))
    kernel_env = _kernel_env(quick, full, env)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    bar = _Progress(path.name, n_code, progress_enabled(progress))
    failed = executed.with_name(executed.stem + ".failed.ipynb")
    checker = _ModeCheck(path, failed, mode, enabled=check_mode)

    def on_executed(**kwargs):
        bar.executed(**kwargs)
        checker(**kwargs)

    t0 = time.perf_counter()
    if kernel is not None and not kernel.usable():  # it died while waiting: start one as usual
        kernel.close(wait=False)
        kernel = None
    with tempfile.TemporaryDirectory(prefix="topokit-kernel-") as sockets, _environ(**kernel_env):
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                                kernel_manager_class=_kernel_manager_class(sockets),
                                km=None if kernel is None else kernel.km,
                                resources={"metadata": {"path": str(path.parent)}},
                                on_cell_start=bar.start, on_cell_executed=on_executed)
        try:
            client.execute()
        except NotebookModeError:
            atomic_write_text(failed, nbformat.writes(nb))
            raise
        except CellExecutionError as exc:
            atomic_write_text(failed, nbformat.writes(nb))
            index, source = _failed_cell(nb)
            error = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[-1]  # no terminal colours
            raise NotebookExecutionError(path, index, source, error, failed) from None
        finally:
            bar.close()
            if kernel is not None:  # not nbclient's to stop: its channels here, the kernel in the background
                with contextlib.suppress(Exception):
                    if client.kc is not None:
                        client.kc.stop_channels()
                kernel.close(wait=False)
    atomic_write_text(executed, nbformat.writes(nb))
    return NotebookRun(path, executed, time.perf_counter() - t0, quick, mode=mode)


def notebook_info(path: Path | str) -> dict:
    """A notebook's number, title (its first H1) and the datasets it declares it needs.

    The datasets come from the notebook's metadata, ``{"topokit": {"datasets": [...]}}``; the
    pipeline checks them all before running anything (see :func:`preflight`).
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    title = next((line[2:].strip() for c in nb.cells if c.cell_type == "markdown"
                  for line in c.source.splitlines() if line.startswith("# ")), path.stem)
    datasets = list(nb.metadata.get("topokit", {}).get("datasets", []))
    return {"number": path.name[:2], "name": path.name, "title": title, "datasets": datasets}


def preflight(books: Sequence[Path], download: Optional[bool] = None) -> dict:
    """Check (and by default download) every dataset the notebooks need, before running any.

    Raises :class:`topokit.data.DataUnavailableError` listing every missing file, where it
    was looked for and what to put where.
    """
    from . import data

    needed = list(dict.fromkeys(d for b in books for d in notebook_info(b)["datasets"]))
    return data.ensure_available(needed, download=download)


def _figures_root() -> Path:
    env = os.environ.get("TOPOKIT_FIGURES", "").strip()
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "figures"


def _swap_in(staging: Path, root: Path) -> list[Path]:
    """Move every file of ``staging`` to the same place under ``root`` (one rename each)."""
    moved = []
    for src in sorted(p for p in staging.rglob("*") if p.is_file()):
        dest = root / src.relative_to(staging)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
        moved.append(dest)
    return moved


def reproduce(quick: Optional[bool] = None, only: Optional[Sequence[str]] = None,
              notebooks_dir: Path | str | None = None, build_dir: Path | str | None = None,
              timeout: int = 3600, kernel_name: str = "python3", progress: bool = True,
              full: Optional[bool] = None, download: Optional[bool] = None,
              scheduler: Optional[str] = None, update_readme: bool = False) -> list[NotebookRun]:
    """Execute the numbered notebooks in order; stop at the first failure.

    Before anything runs, every dataset the chosen notebooks declare is checked, and missing
    official files are downloaded (checksum verified) unless ``download=False`` or
    ``TOPOKIT_DOWNLOAD=0``. Each notebook writes its figures into a staging folder that replaces
    the earlier figures only when the notebook succeeds: a failure leaves the last good figures
    intact. Each notebook must print the mode it runs in first (see :func:`execute_notebook`).
    Each notebook gets a fresh kernel, started while the notebook before it runs and shut down
    in the background after it (a kernel takes about 2 s to start and half a second to stop on
    2 cores: 10-20 s of a run of all eight notebooks); none is left running when this returns.

    A reader's run writes only into ignored folders (``build/``, the figures folder, the cache)
    and ends by printing where its verdicts differ from the README's table; only
    ``update_readme=True`` (a maintainer's act) lets notebook 05 rewrite README.md's table and
    ``docs/gallery/``.

    Parameters
    ----------
    quick : bool, optional
        Small sizes for a fast check (CI); default from ``TOPOKIT_QUICK`` (see
        :func:`topokit.fileio.run_mode`).
    only : list of str, optional
        Run only notebooks whose names start with these prefixes, e.g. ``["01"]``; an empty list or
        an empty or blank prefix is refused (``InvalidParameterError``) before anything runs.
    notebooks_dir, build_dir : path, optional
        Defaults ``notebooks/`` and ``build/notebooks/`` (``build/notebooks-quick/`` in quick mode).
    timeout : int, default 3600
        Seconds allowed per cell.
    progress : bool, default True
        Print each notebook, and which cell of how many runs (a bar on a terminal; in a log,
        a line for each cell that takes 10 s or more).
    full : bool, optional
        Paper-scale mode (``TOPOKIT_FULL=1`` in the kernels); default from ``TOPOKIT_FULL``.
    download : bool, optional
        Allow downloads of missing official data files; default on unless ``TOPOKIT_DOWNLOAD=0``.
    scheduler : str, optional
        A Dask scheduler address (``tcp://host:8786``; default ``TOPOKIT_SCHEDULER``): sweeps and
        filter scoring in the notebooks run on that cluster (see :mod:`topokit.parallel`). It is
        checked, with its workers, before any notebook runs.
    update_readme : bool, default False
        Let the report notebook rewrite the README's reproduction table and ``docs/gallery/`` from
        this run (``TOPOKIT_UPDATE_README=1`` in its kernel); refused in quick mode, whose numbers
        check the code path only.

    Returns
    -------
    list of NotebookRun

    Raises
    ------
    topokit.parallel.SchedulerError
        Before anything ran, when the scheduler does not answer or its workers lack topokit.
    topokit.data.DataUnavailableError
        Before anything ran, listing every missing data file and what to put where.
    NotebookExecutionError
        Naming the notebook and the failing cell; notebooks before it keep their executed copies
        and figures.
    """
    only = _check_only(only)  # an empty or blank prefix would select every notebook
    mode = _requested_mode(quick, full)
    quick, full = mode == "quick", mode == "full"
    update_readme = _checks.boolean(update_readme, "update_readme")
    if update_readme and quick:
        raise _checks.InvalidParameterError(
            "update_readme (--update-readme) needs the default or full mode: quick mode's numbers check the code "
            "path, not the claims, and must not replace the README's table; drop --quick (or unset TOPOKIT_QUICK)")
    if download is None:
        download = os.environ.get("TOPOKIT_DOWNLOAD", "1").strip().lower() not in ("0", "false", "no")
    books = find_notebooks(notebooks_dir, only)
    if not books:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {notebooks_dir or 'notebooks/'}")
    preflight(books, download=download)
    extra_env = {"TOPOKIT_UPDATE_README": "1" if update_readme else "0"}
    address = parallel.scheduler_address(scheduler)
    if address is not None:
        parallel.connect(address).close()  # fails fast, naming the address and the fix
        extra_env["TOPOKIT_SCHEDULER"] = address
    build = Path(build_dir) if build_dir is not None else PROJECT_ROOT / "build" / (
        "notebooks-quick" if quick else "notebooks")
    root = _figures_root()
    root.mkdir(parents=True, exist_ok=True)
    runs, ahead, kernels = [], {}, []

    def prepare(path: Path) -> None:
        """The notebook's staging folder and environment, and its kernel started now."""
        staging = Path(tempfile.mkdtemp(dir=root, prefix=f".staging-{path.stem}-"))
        env = {"TOPOKIT_FIGURES": str(staging), "TOPOKIT_FIGURES_FINAL": str(root), **extra_env}
        ahead[path] = (staging, env)
        kernels.append(_Kernel(path, _kernel_env(quick, full, env), kernel_name))
        ahead[path] += (kernels[-1],)

    try:
        prepare(books[0])
        for i, path in enumerate(books, 1):
            if progress:
                print(f"[{i}/{len(books)}] {path.name} ({mode}) ...", flush=True)
            staging, env, kernel = ahead.pop(path)
            try:
                if i < len(books):
                    prepare(books[i])  # the next notebook's kernel boots while this one runs
                root.mkdir(parents=True, exist_ok=True)
                run = execute_notebook(path, build / path.name, quick=quick, full=full, timeout=timeout,
                                       kernel_name=kernel_name, progress=None if progress else False,
                                       env=env, kernel=kernel)
                _swap_in(staging, root)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            if progress:
                print(f"      done in {run.seconds:.1f} s -> {run.executed}", flush=True)
            runs.append(run)
    finally:  # a failure or an interrupt: the kernel started ahead, its staging folder, every shutdown
        for staging, *_ in ahead.values():
            shutil.rmtree(staging, ignore_errors=True)
        for k in kernels:
            k.close(wait=True)
    _record_runs(build / "runs.json", runs, mode)
    if progress and not update_readme and notebooks_dir is None:  # the project's notebooks: a reader's run
        _print_readme_differences(mode)
    return runs


_TABLE_SPLIT = re.compile(r"(?<!\\)\|")


def _table_verdicts(markdown: str) -> dict[str, str]:
    """{claim cell: verdict} from a reproduction table as :func:`topokit.report.readme_table` writes it."""
    verdicts = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in _TABLE_SPLIT.split(line.strip())]
        if len(cells) < 6 or not line.lstrip().startswith("|") or set(cells[1]) <= set("-: ") or cells[1] == "claim":
            continue
        verdicts[cells[1]] = cells[4].strip("*").strip()  # claim, source, measured, verdict[, robustness]
    return verdicts


def _readme_section(readme: Path) -> tuple[str, Optional[str]]:
    """The README's reproduction table and the mode it names (None when it names none)."""
    from . import report

    text = readme.read_text(encoding="utf-8")
    if report.README_START not in text or report.README_END not in text:
        raise ValueError(f"{readme} has no '{report.README_START}' ... '{report.README_END}' markers")
    section = text.split(report.README_START, 1)[1].split(report.README_END, 1)[0]
    found = re.search(r"\((quick|default|full) mode\)", section)
    return section, found.group(1) if found else None


def readme_differences(claims, readme: Path | str | None = None) -> list[dict]:
    """Where this run's verdicts differ from the README's published table.

    Parameters
    ----------
    claims : pandas.DataFrame
        This run's claims, :func:`topokit.report.load_claims`.
    readme : path, optional
        Default the project's README.md.

    Returns
    -------
    list of dict
        One per claim whose verdict differs or that only one side has: ``claim`` (its text as the
        table shows it), ``readme`` and ``this_run`` (the verdicts; None where absent),
        ``readme_mode`` and ``run_mode``. Empty when they agree.
    """
    from . import report

    readme = Path(readme) if readme is not None else PROJECT_ROOT / "README.md"
    section, readme_mode = _readme_section(readme)
    published = _table_verdicts(section)
    ours = _table_verdicts(report.readme_table(claims))
    run_mode = str(claims["mode"].iloc[0]) if len(claims) and "mode" in claims.columns else None
    return [{"claim": claim, "readme": published.get(claim), "this_run": ours.get(claim),
             "readme_mode": readme_mode, "run_mode": run_mode}
            for claim in dict.fromkeys([*published, *ours]) if published.get(claim) != ours.get(claim)]


def _print_readme_differences(mode: str) -> None:
    """After a reader's run: say whether its verdicts match the README's table, and where not."""
    from . import report

    try:
        claims = report.load_claims(mode)
        if claims.empty:
            return
        diffs = readme_differences(claims)
        _, readme_mode = _readme_section(PROJECT_ROOT / "README.md")
    except (OSError, ValueError) as exc:
        print(f"(not compared with the README's table: {exc})", flush=True)
        return
    note = (f" (the README's table comes from a {readme_mode}-mode run, this one is {mode}: verdicts may differ)"
            if readme_mode and readme_mode != mode else "")
    if not diffs:
        print(f"Verdicts: all {len(claims)} agree with the README's table{note}.", flush=True)
        return
    print(f"Verdicts that differ from the README's table{note}:", flush=True)
    for d in diffs:
        claim = d["claim"] if len(d["claim"]) <= 90 else d["claim"][:87] + "..."
        print(f"  - {claim}: README {d['readme'] or '(absent)'}, this run {d['this_run'] or '(absent)'}",
              flush=True)
    print("The README is left as it is (a maintainer regenerates it with `make readme`).", flush=True)


def _record_runs(path: Path, runs: Sequence[NotebookRun], mode: str) -> None:
    """Add these runs' timings to ``runs.json`` (one entry per notebook, the latest run wins)."""
    import json

    try:
        record = json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        record = {}
    for r in runs:
        record[r.notebook.name] = {"seconds": round(r.seconds, 1), "mode": mode,
                                   "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True))


def strip_outputs(paths: Iterable[Path | str]) -> list[Path]:
    """Remove outputs and execution counts from notebooks in place (what git should hold)."""
    import nbformat

    changed = []
    for p in map(Path, paths):
        nb = nbformat.read(p, as_version=4)
        before = nbformat.writes(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
            cell.get("metadata", {}).pop("execution", None)
        nb.metadata.pop("widgets", None)
        after = nbformat.writes(nb)
        if after != before:
            atomic_write_text(p, after)
            changed.append(p)
    return changed
