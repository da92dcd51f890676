"""Run the numbered notebooks headless: ``topokit reproduce``.

:func:`reproduce` executes ``notebooks/NN_*.ipynb`` in order with nbclient, each with its own
folder as working directory, and writes the executed copies to ``build/notebooks/``. It stops at
the first failing cell and names the notebook and the cell. Quick mode (``quick=True`` or
``TOPOKIT_QUICK=1``) injects ``QUICK = True`` after each notebook's ``parameters`` cell (as
papermill does) and sets ``TOPOKIT_QUICK=1`` in the kernel, so every notebook runs at small
sizes; quick figures go to ``figures/quick/`` and never overwrite a full run's figures.

Each notebook's result is a :class:`NotebookRun`; later stages (caching, the reproduction
report) consume that list.
"""
from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from .fileio import PROJECT_ROOT, atomic_write_text, quick_mode

__all__ = ["NotebookRun", "NotebookExecutionError", "find_notebooks", "reproduce", "strip_outputs"]

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


def find_notebooks(directory: Path | str | None = None, only: Optional[Sequence[str]] = None) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``) in ``directory``, in order.

    ``only`` keeps those whose name starts with one of the given prefixes (``["01", "02"]``);
    a prefix that matches nothing raises ``ValueError`` listing the notebooks there.
    """
    directory = Path(directory) if directory is not None else PROJECT_ROOT / "notebooks"
    if not directory.is_dir():
        raise FileNotFoundError(f"notebook folder {directory} does not exist")
    books = sorted(p for p in directory.iterdir() if NOTEBOOK_PATTERN.match(p.name))
    if only:
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


def execute_notebook(path: Path, executed: Path, *, quick: bool, timeout: int = 3600,
                     kernel_name: str = "python3", parameters: Optional[dict] = None) -> NotebookRun:
    """Execute one notebook with its folder as working directory; write the executed copy."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    params = dict(parameters or {})
    if quick:
        params.setdefault("QUICK", True)
    _inject_parameters(nb, params)
    env = {"TOPOKIT_QUICK": "1" if quick else "0", "MPLBACKEND": "Agg",
           "TOPOKIT_PROGRESS": os.environ.get("TOPOKIT_PROGRESS", "0")}
    for var in ("TOPOKIT_DATA", "TOPOKIT_FIGURES"):
        if os.environ.get(var):
            env[var] = _absolute_paths(os.environ[var])
    # the kernel must import this very package, wherever the notebook runs from
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    with _environ(**env):
        try:
            client.execute()
        except CellExecutionError as exc:
            failed = executed.with_name(executed.stem + ".failed.ipynb")
            atomic_write_text(failed, nbformat.writes(nb))
            index, source = _failed_cell(nb)
            error = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[-1]  # no terminal colours
            raise NotebookExecutionError(path, index, source, error, failed) from None
    atomic_write_text(executed, nbformat.writes(nb))
    return NotebookRun(path, executed, time.perf_counter() - t0, quick)


def reproduce(quick: Optional[bool] = None, only: Optional[Sequence[str]] = None,
              notebooks_dir: Path | str | None = None, build_dir: Path | str | None = None,
              timeout: int = 3600, kernel_name: str = "python3", progress: bool = True) -> list[NotebookRun]:
    """Execute the numbered notebooks in order; stop at the first failure.

    Parameters
    ----------
    quick : bool, optional
        Small sizes for a fast check (CI); default from ``TOPOKIT_QUICK``.
    only : list of str, optional
        Run only notebooks whose names start with these prefixes, e.g. ``["01"]``.
    notebooks_dir, build_dir : path, optional
        Defaults ``notebooks/`` and ``build/notebooks/`` (``build/notebooks-quick/`` in quick mode).
    timeout : int, default 3600
        Seconds allowed per cell.

    Returns
    -------
    list of NotebookRun

    Raises
    ------
    NotebookExecutionError
        Naming the notebook and the failing cell; notebooks before it keep their executed copies.
    """
    quick = quick_mode(quick)
    books = find_notebooks(notebooks_dir, only)
    if not books:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {notebooks_dir or 'notebooks/'}")
    build = Path(build_dir) if build_dir is not None else PROJECT_ROOT / "build" / (
        "notebooks-quick" if quick else "notebooks")
    runs = []
    for i, path in enumerate(books, 1):
        if progress:
            print(f"[{i}/{len(books)}] {path.name} ({'quick' if quick else 'full'}) ...", flush=True)
        run = execute_notebook(path, build / path.name, quick=quick, timeout=timeout, kernel_name=kernel_name)
        if progress:
            print(f"      done in {run.seconds:.1f} s -> {run.executed}", flush=True)
        runs.append(run)
    return runs


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
