"""Run the numbered notebooks headless: ``topokit reproduce``.

:func:`reproduce` executes ``notebooks/NN_*.ipynb`` in order with nbclient, each with its own
folder as working directory, and writes the executed copies to ``build/notebooks/``. It stops at
the first failing cell and names the notebook and the cell. Quick mode (``quick=True`` or
``TOPOKIT_QUICK=1``) injects ``QUICK = True`` after each notebook's ``parameters`` cell (as
papermill does) and sets ``TOPOKIT_QUICK=1`` in the kernel, so every notebook runs at small
sizes; quick figures go to ``figures/quick/`` and never overwrite a full run's figures. Full
mode (``full=True`` or ``TOPOKIT_FULL=1``) runs at paper scale, resumable through the cache.

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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from . import parallel
from ._checks import InvalidParameterError
from .fileio import PROJECT_ROOT, atomic_write_text, full_mode, progress_enabled, quick_mode

__all__ = ["NotebookRun", "NotebookExecutionError", "execute_notebook", "find_notebooks", "notebook_info",
           "preflight", "reproduce", "strip_outputs"]

NOTEBOOK_PATTERN = re.compile(r"^\d\d_.+\.ipynb$")


@dataclass
class NotebookRun:
    """One executed notebook: where it came from, where its executed copy is, how long it took."""

    notebook: Path
    executed: Path
    seconds: float
    quick: bool
    ok: bool = True


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
    """The numbered notebooks (``NN_name.ipynb``) in ``directory``, in order.

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
    if only is not None:
        missing = [o for o in only if not any(p.name.startswith(o) for p in books)]
        if missing:
            raise ValueError(
                f"no notebook matches {missing}; available: {', '.join(p.name for p in books)}"
            )
        books = [p for p in books if any(p.name.startswith(o) for o in only)]
    return books


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


def execute_notebook(path: Path, executed: Path, *, quick: bool, timeout: int = 3600,
                     kernel_name: str = "python3", parameters: Optional[dict] = None,
                     full: bool = False, progress: Optional[bool] = False,
                     env: Optional[dict] = None) -> NotebookRun:
    """Execute one notebook with its folder as working directory; write the executed copy.

    ``env`` adds environment variables for the kernel (e.g. ``TOPOKIT_FIGURES``); ``progress``
    shows which cell of how many is running (see :func:`reproduce`).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    params = dict(parameters or {})
    if quick:
        params.setdefault("QUICK", True)
    _inject_parameters(nb, params)
    kernel_env = {"TOPOKIT_QUICK": "1" if quick else "0", "TOPOKIT_FULL": "1" if full else "0",
                  "MPLBACKEND": "Agg", "TOPOKIT_PROGRESS": os.environ.get("TOPOKIT_PROGRESS", "0")}
    for var in ("TOPOKIT_DATA", "TOPOKIT_FIGURES", "TOPOKIT_CACHE"):
        if os.environ.get(var):
            kernel_env[var] = _absolute_paths(os.environ[var])
    kernel_env.update(env or {})
    # the kernel must import this very package, wherever the notebook runs from
    kernel_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    bar = _Progress(path.name, n_code, progress_enabled(progress))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="topokit-kernel-") as sockets, _environ(**kernel_env):
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                                kernel_manager_class=_kernel_manager_class(sockets),
                                resources={"metadata": {"path": str(path.parent)}},
                                on_cell_start=bar.start, on_cell_executed=bar.executed)
        try:
            client.execute()
        except CellExecutionError as exc:
            failed = executed.with_name(executed.stem + ".failed.ipynb")
            atomic_write_text(failed, nbformat.writes(nb))
            index, source = _failed_cell(nb)
            error = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[-1]  # no terminal colours
            raise NotebookExecutionError(path, index, source, error, failed) from None
        finally:
            bar.close()
    atomic_write_text(executed, nbformat.writes(nb))
    return NotebookRun(path, executed, time.perf_counter() - t0, quick)


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
              scheduler: Optional[str] = None) -> list[NotebookRun]:
    """Execute the numbered notebooks in order; stop at the first failure.

    Before anything runs, every dataset the chosen notebooks declare is checked, and missing
    official files are downloaded (checksum verified) unless ``download=False`` or
    ``TOPOKIT_DOWNLOAD=0``. Each notebook writes its figures into a staging folder that replaces
    the earlier figures only when the notebook succeeds: a failure leaves the last good figures
    intact.

    Parameters
    ----------
    quick : bool, optional
        Small sizes for a fast check (CI); default from ``TOPOKIT_QUICK``.
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
    quick, full = quick_mode(quick), full_mode(full)
    if quick and full:
        raise ValueError("quick and full mode exclude each other; pick one (unset TOPOKIT_QUICK or TOPOKIT_FULL)")
    if download is None:
        download = os.environ.get("TOPOKIT_DOWNLOAD", "1").strip().lower() not in ("0", "false", "no")
    books = find_notebooks(notebooks_dir, only)
    if not books:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {notebooks_dir or 'notebooks/'}")
    preflight(books, download=download)
    extra_env = {}
    address = parallel.scheduler_address(scheduler)
    if address is not None:
        parallel.connect(address).close()  # fails fast, naming the address and the fix
        extra_env["TOPOKIT_SCHEDULER"] = address
    build = Path(build_dir) if build_dir is not None else PROJECT_ROOT / "build" / (
        "notebooks-quick" if quick else "notebooks")
    root = _figures_root()
    mode = "quick" if quick else "full" if full else "default"
    runs = []
    for i, path in enumerate(books, 1):
        if progress:
            print(f"[{i}/{len(books)}] {path.name} ({mode}) ...", flush=True)
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=f".staging-{path.stem}-"))
        try:
            run = execute_notebook(path, build / path.name, quick=quick, full=full, timeout=timeout,
                                   kernel_name=kernel_name, progress=None if progress else False,
                                   env={"TOPOKIT_FIGURES": str(staging), "TOPOKIT_FIGURES_FINAL": str(root),
                                        **extra_env})
            _swap_in(staging, root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if progress:
            print(f"      done in {run.seconds:.1f} s -> {run.executed}", flush=True)
        runs.append(run)
    _record_runs(build / "runs.json", runs, mode)
    return runs


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
