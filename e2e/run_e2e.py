#!/usr/bin/env python
"""``make e2e``: run every notebook in JupyterLab, in a headless Chromium, and check what a reader sees.

nbclient (``topokit reproduce``, ``tests/test_notebooks.py``) proves that the notebooks' code
runs; this harness proves that they *display*: it starts JupyterLab on 127.0.0.1, opens each
notebook in Debian's ``chromium`` driven by Playwright, runs all cells in quick mode (``--mode``)
from the Run menu, and checks

* the notebook runs in the mode asked for: its first code cell's first line of output is
  ``topokit mode: <mode>`` (``topokit.fileio.run_mode``); a missing or different line fails the
  notebook right after that cell, before the rest runs;
* no cell has an error output (the notebook, the cell and the error are named);
* no cell took longer than ``--cell-limit`` seconds (quick mode only; default 300);
* every figure the notebook saves exists and is not blank: each file it writes into the figures
  folder (PNGs checked like the plotly screenshots, other formats not empty), and every
  ``save_figure(fig, "name")`` at the top level of a cell produced a file of that name;
* every plotly figure renders (its ``.js-plotly-plot`` node holds an SVG with traces, or a WebGL
  canvas) and a screenshot of it is not blank;
* every ipywidgets slider and dropdown responds: changing it changes an output or a figure;
* the notebook file on disk is left as it was (autosave is off; nothing is saved).

Screenshots (the whole notebook and each figure) go to ``build/e2e/<notebook>/``, and
``build/e2e/results.json`` records each notebook's time, a reader's time (``reader_seconds``: opening it,
kernel start included, to the end of Run All Cells; ``run_all_seconds``: the part from JupyterLab
showing the notebook, so without loading JupyterLab's page), its cells' times and its failures. One
summary line is printed per notebook; the exit status is 0 only when every notebook passes.

Isolation: JupyterLab runs with a temporary Jupyter config, data and runtime folder, a temporary
IPython folder and temporary user settings, on a free port with a random token; the kernels get
the mode as ``TOPOKIT_QUICK`` / ``TOPOKIT_FULL`` (``1`` or ``0``) and a temporary
``TOPOKIT_FIGURES`` (the user's figures are untouched), while
``TOPOKIT_DATA`` and ``TOPOKIT_CACHE`` pass through. The server and its kernels are stopped at the
end, also on failure or Ctrl-C.

The browser is the system's: Debian's ``chromium`` package (``apt-get install chromium``), or
``--chromium PATH`` / ``$TOPOKIT_CHROMIUM``. Playwright's own browser download (``playwright
install``) is never used, and this script never installs system packages.

Usage::

    python e2e/run_e2e.py                      # every notebooks/NN_*.ipynb
    python e2e/run_e2e.py --only 00 --only 02  # prefix filter
    python e2e/run_e2e.py path/to/a.ipynb --timeout 300 --out build/e2e
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional, Sequence

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: The Debian package that provides the browser (``apt-get install chromium``).
CHROMIUM_PACKAGE = "chromium"
#: Where the browser is looked for, in order, after ``--chromium`` and ``$TOPOKIT_CHROMIUM``.
#: Debian's ``/usr/bin/chromium`` is a shell wrapper around ``/usr/lib/chromium/chromium``.
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser",
                       "google-chrome-stable", "google-chrome")
NOTEBOOK_PATTERN = re.compile(r"^\d\d_.*\.ipynb$")
VIEWPORT = {"width": 1400, "height": 1000}
#: A screenshot is blank when its grey levels hardly vary or almost every pixel is the background.
BLANK_MIN_STD = 2.0
BLANK_MIN_FRACTION = 0.005
#: Chromium cannot capture a page taller than its texture limit; the full-notebook shot stops here.
MAX_SHOT_HEIGHT = 16000
#: At most this many sliders and dropdowns are changed per notebook.
MAX_WIDGETS = 10
#: The modes a notebook can be run in (``topokit.fileio.MODES``) and the line it prints first.
MODES = ("quick", "default", "full")
MODE_LINE = re.compile(r"^topokit mode: (\S+)\s*$")
#: Seconds one cell may take in quick mode (``--cell-limit``): quick runs are small, so a cell over
#: this limit runs at the wrong size (or the cache is cold on a slow machine: raise the limit).
CELL_LIMIT = 300.0
#: A ``save_figure(fig, "name")`` / ``save_figure(fig, f"name_{x}")`` call at the start of a line.
#: A top-level ``save_figure(fig, "name")`` or ``draw("name", plot, ...)`` call: the figure it promises.
SAVE_CALL = re.compile(r"^(?:\w+\s*=\s*)?(?:[\w.]+\.)?(?:save_figure\([^,]+,|draw\()\s*(f?)([\"'])(.+?)\2",
                       re.MULTILINE)

# JupyterLab user settings written into the temporary settings folder: never autosave (the
# notebook under test is never written), JupyterLab's default windowing spelled out
# ("contentVisibility": every cell and figure is in the DOM, as the checks need, and the browser
# skips painting the ones off screen, as in a reader's JupyterLab; "none" paints every output as it
# arrives and, on 2 cores, slowed the kernel beside it by up to 5 s a notebook), record each cell's
# execution times in its metadata (the per-cell limit), and no news or update toasts over the
# screenshots.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "contentVisibility", "recordTiming": True},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


class E2EError(RuntimeError):
    """The harness could not run (no browser, no playwright, the server did not start...)."""


# ----------------------------------------------------------------------------- the browser


def find_chromium(explicit: Optional[str] = None) -> Optional[str]:
    """The Chromium executable: ``explicit``, else ``$TOPOKIT_CHROMIUM``, else the first found of
    :data:`CHROMIUM_CANDIDATES`; None when there is none."""
    for cand in [explicit, os.environ.get("TOPOKIT_CHROMIUM")]:
        if cand:
            found = shutil.which(cand) or (cand if os.access(cand, os.X_OK) and os.path.isfile(cand) else None)
            if not found:
                raise E2EError(f"the Chromium executable {cand!r} (from --chromium or $TOPOKIT_CHROMIUM) "
                               "does not exist or is not executable; give the path of a Chromium or "
                               f"Chrome binary, or install Debian's package: apt-get install {CHROMIUM_PACKAGE}")
            return found
    for cand in CHROMIUM_CANDIDATES:
        found = shutil.which(cand)
        if found:
            return found
    return None


def no_chromium_message() -> str:
    return (f"No Chromium found (looked for {', '.join(CHROMIUM_CANDIDATES)}). make e2e drives the "
            f"system browser and never downloads one: install Debian's package as root with\n"
            f"    apt-get update && apt-get install -y {CHROMIUM_PACKAGE}\n"
            "or point --chromium / $TOPOKIT_CHROMIUM at a Chromium or Chrome executable.")


def is_blank(png: Path, min_std: float = BLANK_MIN_STD, min_fraction: float = BLANK_MIN_FRACTION) -> bool:
    """Whether a screenshot shows nothing: its grey levels have a standard deviation under
    ``min_std``, or fewer than ``min_fraction`` of its pixels differ (by more than 16 grey levels)
    from the most common one (the background)."""
    from PIL import Image, ImageStat

    with Image.open(png) as im:
        grey = im.convert("L")
        std = ImageStat.Stat(grey).stddev[0]
        hist = grey.histogram()
    total = sum(hist)
    background = max(range(256), key=hist.__getitem__)
    near = sum(hist[max(0, background - 16):background + 17])
    return total == 0 or std < min_std or (total - near) / total < min_fraction


# ----------------------------------------------------------------------------- JupyterLab


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            ppid = int(text.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@contextlib.contextmanager
def _signals_held():
    """Ignore SIGINT and SIGTERM for the duration (the main thread only), then restore them."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


class JupyterLab:
    """A JupyterLab server for the harness: 127.0.0.1, a free port, a random token, ``root`` as its
    root folder, every Jupyter/IPython folder temporary. Use as a context manager: leaving it
    shuts the kernels down and stops the server (then kills what is left, by process id)."""

    def __init__(self, root: Path, env: dict[str, str], workdir: Path, python: str = sys.executable,
                 start_timeout: float = 120.0):
        self.root = Path(root).resolve()
        self.workdir = Path(workdir)
        self.token = secrets.token_hex(24)
        self.port = free_port()
        self.python = python
        self.start_timeout = start_timeout
        self.env = dict(env)
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = self.workdir / "jupyterlab.log"
        self._pids: set[int] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "") -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def lab_url(self, notebook: str) -> str:
        # ?reset: a fresh workspace, so that the notebooks opened in earlier pages are not reopened
        return self.url(f"lab/tree/{urllib.parse.quote(notebook)}?reset&token={self.token}")

    def _server_env(self) -> dict[str, str]:
        dirs = {name: self.workdir / sub for name, sub in [
            ("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("IPYTHONDIR", "ipython"), ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
            ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces")]}
        for folder in dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
        for plugin, values in LAB_SETTINGS.items():
            path = dirs["JUPYTERLAB_SETTINGS_DIR"] / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(self.env)
        env.update({k: str(v) for k, v in dirs.items()})
        env.pop("JUPYTER_PATH", None)
        env.pop("JUPYTER_CONFIG_PATH", None)
        return env

    def start(self) -> "JupyterLab":
        cmd = [self.python, "-m", "jupyterlab", "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI containers run as root
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = self._server_env()
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        try:
            return self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> "JupyterLab":
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise E2EError(f"JupyterLab exited with status {self.proc.returncode} before it answered; "
                               f"its log ({self.log_path}) ends:\n{self.log_tail()}")
            try:
                self.api("api/status")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise E2EError(f"JupyterLab did not answer on {self.base_url} within {self.start_timeout:.0f} s; "
                               f"its log ends:\n{self.log_tail()}")
            time.sleep(0.25)

    def api(self, path: str, method: str = "GET", timeout: float = 10.0):
        req = urllib.request.Request(self.url(path), method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def kernel_pids(self) -> None:
        """Remember the server's child processes (its kernels) so that :meth:`stop` can end them."""
        if self.proc is not None:
            self._pids.update(_descendants(self.proc.pid))

    def shutdown_kernels(self) -> None:
        with contextlib.suppress(Exception):
            for kernel in self.api("api/kernels"):
                with contextlib.suppress(Exception):
                    self.api(f"api/kernels/{kernel['id']}", method="DELETE", timeout=30)

    def stop(self) -> None:
        """Shut the kernels down, stop the server, kill what is left of them; a second Ctrl-C
        does not cut this short."""
        if self.proc is None:
            return
        with _signals_held():
            self._stop()

    def _stop(self) -> None:
        self.kernel_pids()
        if self.proc.poll() is None:
            self.shutdown_kernels()
            self.kernel_pids()
            self.proc.send_signal(signal.SIGTERM)  # jupyter_server shuts its kernels down on SIGTERM
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for pid in self._pids:  # a kernel that outlived its server (kernels run in their own session)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self._log.close()
        self.proc = None

    def __enter__(self) -> "JupyterLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ----------------------------------------------------------------------------- in the page

# Helpers installed in the page once JupyterLab is up (it is started with expose_app_in_browser,
# so the application is window.jupyterapp). Cells are read from the notebook model: outputs as
# nbformat JSON, execution counts, and the input prompt that shows [*] while a cell is queued or
# running.
PAGE_HELPERS = r"""
() => {
  const app = window.jupyterapp;
  const panel = (path) => Array.from(app.shell.widgets('main')).find(
      w => w.context && w.context.path === path && w.content && w.content.widgets);
  const text = (v) => Array.isArray(v) ? v.join('') : (v || '');
  window.__e2e = {
    panel,
    kernelStatus(path) {
      const p = panel(path);
      const k = p && p.sessionContext.session && p.sessionContext.session.kernel;
      return k ? k.status : null;
    },
    cells(path) {
      const p = panel(path);
      return p.content.widgets.map((cell, index) => {
        const m = cell.model;
        const prompt = cell.node.querySelector('.jp-InputPrompt');
        const out = {index, type: m.type, source: m.sharedModel.getSource(),
                     prompt: prompt ? prompt.textContent : ''};
        if (m.type === 'code') {
          out.executionCount = m.executionCount;
          out.outputs = m.outputs.toJSON();
          out.execution = (m.getMetadata ? m.getMetadata('execution') : null) || null;
        }
        return out;
      });
    },
    died: null,
    watch(path) {  // remember a kernel death (JupyterLab restarts a dead kernel by itself)
      const p = panel(path);
      p.sessionContext.statusChanged.connect((_, status) => {
        if ((status === 'dead' || status === 'autorestarting') && !this.died) {
          const running = p.content.widgets.findIndex(c => c.model.type === 'code' &&
            ((c.node.querySelector('.jp-InputPrompt') || {}).textContent || '').includes('*'));
          this.died = {status, cell: running};
        }
      });
    },
    busy(path) {  // a cell queued or running, or a kernel not idle
      const p = panel(path);
      if (!p) return true;
      if (this.died) return false;
      if (this.kernelStatus(path) !== 'idle') return true;
      return p.content.widgets.some(c => c.model.type === 'code' &&
        ((c.node.querySelector('.jp-InputPrompt') || {}).textContent || '').includes('*'));
    },
    firstDone(path) {  // the first code cell has finished (or the kernel died)
      const p = panel(path);
      if (!p) return false;
      if (this.died) return true;
      const c = p.content.widgets.find(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim());
      return !c || (c.model.executionCount !== null &&
                    !((c.node.querySelector('.jp-InputPrompt') || {}).textContent || '').includes('*'));
    },
    started(path) {  // some code cell has run or is running
      const p = panel(path);
      return !!p && p.content.widgets.some(c => c.model.type === 'code' && (c.model.executionCount !== null ||
        ((c.node.querySelector('.jp-InputPrompt') || {}).textContent || '').includes('*')));
    },
    cellIndexOf(el) {
      const cell = el.closest('.jp-Cell');
      return cell ? Array.from(cell.parentElement.querySelectorAll(':scope > .jp-Cell')).indexOf(cell) : -1;
    },
    signature() {  // what a widget change should alter: outputs, figures, widget HTML and images
      const sel = '.jp-Notebook .widget-output, .jp-Notebook .js-plotly-plot, ' +
                  '.jp-Notebook .widget-html-content, .jp-Notebook .widget-image, ' +
                  '.jp-Notebook .jp-OutputArea-output:not(:has(.jupyter-widgets))';
      return Array.from(document.querySelectorAll(sel)).map(e => e.innerHTML).join('\u0001');
    },
    figureSignature(i) {  // what a figure draws, without its own slider, menus and mode bar
      const copy = document.querySelectorAll('.jp-Notebook .js-plotly-plot')[i].cloneNode(true);
      copy.querySelectorAll('.slider-container, .updatemenu-container, .modebar-container, .hoverlayer')
          .forEach(e => e.remove());
      return copy.innerHTML;
    },
    scroller(path) {
      const p = panel(path);
      return p.content.node.querySelector('.jp-WindowedPanel-outer') || p.content.node;
    },
  };
  return true;
}
"""


@dataclasses.dataclass
class NotebookResult:
    """What the harness found in one notebook."""

    name: str
    seconds: float = 0.0
    #: what a reader waits for: from opening the notebook (kernel start included) to the end of
    #: "Run All Cells", without the harness's own checks and screenshots afterwards (None: not finished)
    reader_seconds: Optional[float] = None
    #: of which "Run All" from the open notebook, kernel start included: from JupyterLab showing the
    #: notebook to the end of the run, without loading JupyterLab's page (what a reader who already
    #: has JupyterLab open waits for)
    run_all_seconds: Optional[float] = None
    mode: str = ""
    cells: int = 0
    figures: int = 0
    figures_ok: int = 0
    widgets: int = 0
    widgets_ok: int = 0
    failures: list = dataclasses.field(default_factory=list)
    screenshots: list = dataclasses.field(default_factory=list)
    cell_seconds: dict = dataclasses.field(default_factory=dict)
    saved: int = 0
    saved_ok: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        slowest = max(self.cell_seconds.items(), key=lambda kv: kv[1], default=None)
        reader = "" if self.reader_seconds is None else (
            f" (open + run all: {self.reader_seconds:.1f} s, of which kernel start + run all {self.run_all_seconds:.1f} s)")
        head = (f"{'PASS' if self.ok else 'FAIL'} {self.name}  {self.seconds:6.1f} s{reader}  {self.cells} code cells"
                + (f" (slowest: cell {slowest[0]}, {slowest[1]:.1f} s)" if slowest else "")
                + f", figures {self.figures_ok}/{self.figures} rendered, widgets {self.widgets_ok}/{self.widgets} "
                f"responded, saved figures {self.saved_ok}/{self.saved} not blank")
        return head + "".join(f"\n    - {f}" for f in self.failures)


def _first_line(source: str) -> str:
    lines = [ln for ln in source.splitlines() if ln.strip()]
    line = lines[0].strip() if lines else ""
    return line if len(line) <= 70 else line[:67] + "..."


def _cell_label(cell: dict) -> str:
    count = cell.get("executionCount")
    return f"cell {cell['index']}" + (f" [{count}]" if count is not None else "") + f" `{_first_line(cell['source'])}`"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def error_outputs(cells: Sequence[dict]) -> list[str]:
    """One line per error output: the cell (index, execution count, first source line) and the error."""
    found = []
    for cell in cells:
        for out in cell.get("outputs") or []:
            if out.get("output_type") == "error":
                tb = _ANSI.sub("", "\n".join(out.get("traceback") or []))
                last = [ln for ln in tb.splitlines() if ln.strip()][-1:] or [""]
                found.append(f"error in {_cell_label(cell)}: {out.get('ename')}: {out.get('evalue')}"
                             + (f"  ({last[0].strip()})" if last[0] and out.get("evalue", "") not in last[0] else ""))
    return found


def _mime_cells(cells: Sequence[dict], mime: str) -> list[int]:
    return [c["index"] for c in cells for o in c.get("outputs") or [] if mime in (o.get("data") or {})]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mode_problem(cells: Sequence[dict], mode: str) -> Optional[str]:
    """Why the first code cell's output does not show that the notebook runs in ``mode`` (None: it does)."""
    first = next((c for c in cells if c.get("type", "code") == "code" and c.get("source", "").strip()), None)
    if first is None:
        return None
    text = next((o.get("text", "") for o in first.get("outputs") or []
                 if o.get("output_type") == "stream" and o.get("name") == "stdout"), "")
    text = "".join(text) if isinstance(text, list) else text
    line = text.lstrip("\n").split("\n", 1)[0].strip()
    found = MODE_LINE.match(line)
    if found is None:
        return (f"{_cell_label(first)} did not print 'topokit mode: <mode>' as its first line of output, so the "
                f"{mode!r} mode asked for cannot be checked; start the notebook with MODE = fileio.run_mode() and "
                "print(fileio.MODE_LINE.format(MODE))")
    if found.group(1) != mode:
        return (f"runs in {found.group(1)!r} mode but {mode!r} was asked for ({_cell_label(first)} printed {line!r}): "
                "its first code cell must follow TOPOKIT_QUICK / TOPOKIT_FULL through fileio.run_mode(); stopped "
                "after that cell")
    return None


def _stamp(text: Optional[str]) -> Optional[float]:
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (AttributeError, ValueError):
        return None


def cell_seconds(cells: Sequence[dict]) -> dict[int, float]:
    """Each executed code cell's run time (from the timing JupyterLab records in its metadata)."""
    out = {}
    for c in cells:
        e = c.get("execution") or {}
        start, end = _stamp(e.get("iopub.execute_input")), _stamp(e.get("shell.execute_reply"))
        if start is not None and end is not None:
            out[c["index"]] = round(end - start, 2)
    return out


FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".html")


def _snapshot(folder: Optional[Path]) -> dict[Path, tuple]:
    if folder is None or not folder.is_dir():
        return {}
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*")
            if p.is_file() and p.suffix in FIGURE_SUFFIXES and not p.name.startswith(".")}


def _promised_names(code: Sequence[dict]) -> list[tuple[dict, str, "re.Pattern"]]:
    """(cell, name, pattern) for each ``save_figure(fig, "name")`` or ``draw("name", ...)`` at the top level of a cell
    (an f-string name matches whatever its fields hold)."""
    out = []
    for cell in code:
        for fstring, _, name in SAVE_CALL.findall(cell.get("source", "")):
            if fstring:
                parts = re.split(r"\{[^{}]*\}", name)
                pattern = re.compile(".+".join(re.escape(p) for p in parts))
            else:
                pattern = re.compile(re.escape(name))
            out.append((cell, name, pattern))
    return out


def check_saved_figures(before: dict, folder: Optional[Path], code: Sequence[dict], result: "NotebookResult") -> None:
    """Every figure file the notebook wrote is not blank, and every top-level save_figure call wrote one."""
    if folder is None:
        return
    written = sorted(p for p, sig in _snapshot(folder).items() if before.get(p) != sig)
    result.saved = len(written)
    for path in written:
        rel = path.relative_to(folder)
        if path.stat().st_size == 0:
            result.failures.append(f"saved figure {rel} is empty")
        elif path.suffix == ".png" and is_blank(path):
            result.failures.append(f"saved figure {rel} is blank")
        else:
            result.saved_ok += 1
    stems = {p.stem for p in written}
    for cell, name, pattern in _promised_names(code):
        if cell.get("executionCount") is not None and not any(pattern.fullmatch(s) for s in stems):
            result.failures.append(f"{_cell_label(cell)} saves figure {name!r} but no such file was written")


def run_notebook(context, lab: JupyterLab, rel: str, out_dir: Path, timeout: float, *, mode: str = "quick",
                 figures: Optional[Path] = None, cell_limit: Optional[float] = CELL_LIMIT) -> NotebookResult:
    """Open ``rel`` (relative to the server root) in a new page, run all cells, check, screenshot.

    ``mode`` is the mode the kernels were given: the notebook must say it runs in it. ``figures``
    is the kernels' figures folder (what the notebook saves there is checked); ``cell_limit`` the
    most seconds one cell may take (None: no limit).
    """
    result = NotebookResult(name=rel, mode=mode)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.png"):
        old.unlink()
    saved_before = _snapshot(figures)
    page = context.new_page()
    t0 = time.monotonic()
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    try:
        page.goto(lab.lab_url(rel), wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=120_000)
        page.evaluate("() => window.jupyterapp.restored")
        page.evaluate(PAGE_HELPERS)
        t_open = time.monotonic()  # JupyterLab's page is loaded and shows the notebook
        # The notebook is open and current, its kernel started and idle; the file browser is
        # folded away so that the screenshots show the notebook.
        _wait_kernel_idle(page, rel)
        page.evaluate("""(p) => { const app = window.jupyterapp; app.shell.collapseLeft();
                                  app.shell.activateById(window.__e2e.panel(p).id); }""", rel)
        page.evaluate("(p) => window.__e2e.watch(p)", rel)
        _run_all_from_menu(page)
        page.wait_for_function("(p) => window.__e2e.started(p)", arg=rel, timeout=60_000)
        try:
            # the mode line first: a notebook in the wrong mode is stopped before the rest runs
            page.wait_for_function("(p) => window.__e2e.firstDone(p)", arg=rel, polling=100, timeout=timeout * 1000)
            wrong = None if page.evaluate("() => window.__e2e.died") else mode_problem(
                page.evaluate("(p) => window.__e2e.cells(p)", rel), mode)
            if wrong:
                result.failures.append(wrong)
                page.evaluate("(p) => window.__e2e.panel(p).sessionContext.session.kernel.interrupt()", rel)
                with contextlib.suppress(_playwright_timeout()):
                    page.wait_for_function("(p) => !window.__e2e.busy(p)", arg=rel, polling=250, timeout=60_000)
                cells = page.evaluate("(p) => window.__e2e.cells(p)", rel)
                result.cells = sum(c["type"] == "code" for c in cells)
                result.cell_seconds = cell_seconds(cells)
                _shoot_page(page, rel, out_dir / "notebook.png", result)
                raise _Abort
            page.wait_for_function("(p) => !window.__e2e.busy(p)", arg=rel, polling=250, timeout=timeout * 1000)
            t_end = time.monotonic()
            result.reader_seconds, result.run_all_seconds = t_end - t0, t_end - t_open
        except _playwright_timeout() as exc:
            cells = page.evaluate("(p) => window.__e2e.cells(p)", rel)
            result.cells = sum(c["type"] == "code" for c in cells)
            running = [_cell_label(c) for c in cells if "*" in c.get("prompt", "")]
            result.failures.append(f"not finished within --timeout {timeout:.0f} s; still running or queued: "
                                   f"{', '.join(running[:3]) or '(none; kernel ' + str(page.evaluate('(p) => window.__e2e.kernelStatus(p)', rel)) + ')'}")
            _shoot_page(page, rel, out_dir / "notebook.png", result)
            raise _Abort from exc
        died = page.evaluate("() => window.__e2e.died")
        cells = page.evaluate("(p) => window.__e2e.cells(p)", rel)
        if died:
            at = next((_cell_label(c) for c in cells if c["index"] == died["cell"]), "a cell")
            result.failures.append(f"the kernel died (status {died['status']!r}: out of memory, or a crash in "
                                   f"native code?); the first unfinished cell was {at}")
        code = [c for c in cells if c["type"] == "code"]
        result.cells = len(code)
        result.failures += error_outputs(code)
        not_run = [c for c in code if c.get("executionCount") is None]
        if not_run and not result.failures:
            result.failures.append(f"{len(not_run)} code cells did not run, the first: {_cell_label(not_run[0])}")
        result.cell_seconds = cell_seconds(code)
        if cell_limit is not None:
            for c in code:
                took = result.cell_seconds.get(c["index"])
                if took is not None and took > cell_limit:
                    result.failures.append(f"{_cell_label(c)} took {took:.1f} s, over the {cell_limit:g} s "
                                           f"allowed to a cell in {mode} mode (--cell-limit)")
        check_saved_figures(saved_before, figures, code, result)
        _check_widget_errors(page, result)
        _check_figures(page, rel, code, out_dir, result)
        _check_widgets(page, rel, code, result)
        _check_plotly_sliders(page, rel, result)
        _shoot_page(page, rel, out_dir / "notebook.png", result)
        if console_errors:
            # A JavaScript exception in the page is reported but is not by itself a failure:
            # JupyterLab logs some harmless ones (e.g. an extension that cannot reach the network).
            print(f"    ({rel}: {len(console_errors)} page errors in the browser console, first: "
                  f"{console_errors[0][:160]})", flush=True)
    except _Abort:
        pass
    except Exception as exc:  # a Playwright timeout or a JupyterLab surprise: say where it happened
        result.failures.append(f"harness error: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        with contextlib.suppress(Exception):
            _shoot_page(page, rel, out_dir / "notebook.png", result)
    finally:
        with contextlib.suppress(Exception):
            page.evaluate("(p) => window.__e2e.panel(p).sessionContext.shutdown()", rel)
        with contextlib.suppress(Exception):
            page.close()
        result.seconds = time.monotonic() - t0
    return result


class _Abort(Exception):
    pass


def _playwright_timeout():
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    return PlaywrightTimeout


def _wait_kernel_idle(page, rel: str, timeout: float = 120.0) -> None:
    """Wait for the notebook's kernel to be idle; a notebook without a kernelspec asks which
    kernel to start: the dialog's default (the environment's Python) is accepted."""
    deadline = time.monotonic() + timeout
    while True:
        left = max(1.0, deadline - time.monotonic()) * 1000
        page.wait_for_function("(p) => window.__e2e.kernelStatus(p) === 'idle' || "
                               "Array.from(document.querySelectorAll('.jp-Dialog .jp-mod-accept')).some(b => b.offsetParent)",
                               arg=rel, timeout=left)
        if page.evaluate("(p) => window.__e2e.kernelStatus(p) === 'idle'", rel):
            return
        with contextlib.suppress(_playwright_timeout()):  # the dialog may close by itself
            page.locator(".jp-Dialog .jp-mod-accept").first.click(timeout=5_000)
        if time.monotonic() > deadline:
            raise _playwright_timeout()(f"the kernel of {rel} was not idle within {timeout:.0f} s")


def _run_all_from_menu(page) -> None:
    """Run > Run All Cells, as a reader would, through JupyterLab's menu bar."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def _check_widget_errors(page, result: NotebookResult) -> None:
    bad = page.evaluate("""() => Array.from(document.querySelectorAll('.jp-Notebook .jp-OutputArea-output'))
        .filter(e => /Error displaying widget|Failed to load model class/.test(e.textContent))
        .map(e => [window.__e2e.cellIndexOf(e), e.textContent.trim().slice(0, 200)])""")
    for index, text in bad:
        result.failures.append(f"widget did not display in cell {index}: {text}")


def _check_figures(page, rel: str, code: Sequence[dict], out_dir: Path, result: NotebookResult) -> None:
    """Every plotly output is a rendered figure (SVG with traces, or WebGL) and not blank."""
    expected = _mime_cells(code, "application/vnd.plotly.v1+json")
    result.figures = len(expected)
    if expected:
        with contextlib.suppress(_playwright_timeout()):
            page.wait_for_function("(n) => document.querySelectorAll('.jp-Notebook .js-plotly-plot').length >= n",
                                   arg=len(expected), timeout=60_000)
    info = page.evaluate("""() => Array.from(document.querySelectorAll('.jp-Notebook .js-plotly-plot')).map(e => ({
        cell: window.__e2e.cellIndexOf(e),
        svg: e.querySelectorAll('svg.main-svg').length,
        traces: e.querySelectorAll('g.trace, g.slice, g.surface, path.point').length,
        gl: e.querySelectorAll('canvas').length,
        width: e.getBoundingClientRect().width, height: e.getBoundingClientRect().height}))""")
    result.figures = max(result.figures, len(info))
    rendered_cells = [f["cell"] for f in info]
    for index in expected:
        if index not in rendered_cells:
            cell = next(c for c in code if c["index"] == index)
            result.failures.append(f"plotly figure in {_cell_label(cell)} did not render (no .js-plotly-plot)")
    figs = page.locator(".jp-Notebook .js-plotly-plot")
    for k, f in enumerate(info):
        where = f"plotly figure {k + 1} (cell {f['cell']})"
        if not f["svg"] or not (f["traces"] or f["gl"]):
            result.failures.append(f"{where} has no drawn traces (svg {f['svg']}, traces {f['traces']}, "
                                   f"canvas {f['gl']})")
            continue
        if f["width"] < 10 or f["height"] < 10:
            result.failures.append(f"{where} has no size ({f['width']:.0f} x {f['height']:.0f} px)")
            continue
        shot = out_dir / f"figure_{k + 1:02d}_cell{f['cell']:03d}.png"
        page.mouse.move(0, 0)  # no hover: plotly's mode bar stays hidden
        figs.nth(k).screenshot(path=str(shot), animations="disabled")
        result.screenshots.append(shot)
        if is_blank(shot):
            result.failures.append(f"{where} is blank in its screenshot {shot}")
        else:
            result.figures_ok += 1


def _check_widgets(page, rel: str, code: Sequence[dict], result: NotebookResult) -> None:
    """Change each slider and dropdown; something in the outputs or figures must change."""
    views = _mime_cells(code, "application/vnd.jupyter.widget-view+json")
    if not views:
        return
    # each widget view is an output whose child is the widget's .jupyter-widgets node once drawn
    try:
        page.wait_for_function("(n) => document.querySelectorAll("
                               "'.jp-Notebook .jp-OutputArea-output > .jupyter-widgets').length >= n",
                               arg=len(views), timeout=30_000)
    except _playwright_timeout():
        drawn = page.evaluate("() => document.querySelectorAll('.jp-Notebook .jp-OutputArea-output > .jupyter-widgets').length")
        result.failures.append(f"{len(views)} widget outputs but only {drawn} drawn within 30 s "
                               f"(cells {sorted(set(views))})")
    controls = page.locator(".jp-Notebook .widget-slider, .jp-Notebook .widget-dropdown")
    n = min(controls.count(), MAX_WIDGETS)
    result.widgets = n
    for k in range(n):
        control = controls.nth(k)
        cell = control.evaluate("e => window.__e2e.cellIndexOf(e)")
        kind = "dropdown" if "widget-dropdown" in (control.get_attribute("class") or "") else "slider"
        where = f"{kind} {k + 1} (cell {cell})"
        before = page.evaluate("() => window.__e2e.signature()")
        try:
            if kind == "dropdown":
                select = control.locator("select")
                options = select.locator("option").count()
                current = select.evaluate("s => s.selectedIndex")
                if options < 2:
                    result.failures.append(f"{where} has fewer than two options")
                    continue
                select.select_option(index=(current + 1) % options)
            else:
                _nudge_slider(control)
            page.wait_for_function("(b) => window.__e2e.signature() !== b", arg=before, polling=200, timeout=30_000)
            page.wait_for_function("(p) => !window.__e2e.busy(p)", arg=rel, polling=200, timeout=120_000)
            result.widgets_ok += 1
        except _playwright_timeout():
            result.failures.append(f"{where} changed but no output or figure changed within 30 s")
        except Exception as exc:
            result.failures.append(f"{where} could not be changed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    cells = page.evaluate("(p) => window.__e2e.cells(p)", rel)
    result.failures += [f"after a widget change: {e}" for e in error_outputs(cells)
                        if e not in "\n".join(result.failures)]


def _check_plotly_sliders(page, rel: str, result: NotebookResult) -> None:
    """Move each plotly slider (a figure's own ``layout.sliders``) one step: what it draws must change."""
    figs = page.locator(".jp-Notebook .js-plotly-plot")
    checked = 0
    for i in range(figs.count()):
        fig = figs.nth(i)
        if checked >= MAX_WIDGETS or not fig.locator("g.slider-container").count():
            continue
        checked += 1
        result.widgets += 1
        cell = fig.evaluate("e => window.__e2e.cellIndexOf(e)")
        where = f"plotly slider in figure {i + 1} (cell {cell})"
        ticks = fig.locator("g.slider-container").first.locator("rect.slider-tick-rect")
        if ticks.count() < 2:
            result.failures.append(f"{where} has fewer than two steps")
            continue
        try:
            before = page.evaluate("(i) => window.__e2e.figureSignature(i)", i)
            fig.locator("g.slider-container").first.scroll_into_view_if_needed()
            active = fig.evaluate("e => (e.layout.sliders && e.layout.sliders[0].active) || 0")
            tick = ticks.nth(1 if active != 1 else 0).bounding_box()
            rail = fig.locator("rect.slider-rail-touch-rect").first.bounding_box()
            page.mouse.click(tick["x"] + tick["width"] / 2, rail["y"] + rail["height"] / 2)
            page.wait_for_function("([i, b]) => window.__e2e.figureSignature(i) !== b", arg=[i, before],
                                   polling=100, timeout=15_000)
            result.widgets_ok += 1
        except _playwright_timeout():
            result.failures.append(f"{where} moved but the figure did not change within 15 s")
        except Exception as exc:
            result.failures.append(f"{where} could not be moved: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")


def _nudge_slider(control) -> None:
    """Move a slider one step with the keyboard (right, or left when it is at its maximum)."""
    handle = control.locator(".noUi-handle").first
    readout = control.locator(".widget-readout").first
    before = readout.inner_text() if readout.count() else None
    handle.focus()
    handle.press("ArrowRight")
    if readout.count() and readout.inner_text() == before:
        handle.press("ArrowLeft")
        handle.press("ArrowLeft")


def _shoot_page(page, rel: str, path: Path, result: NotebookResult) -> None:
    """The whole notebook in one picture: the viewport grows to the notebook's height, then back."""
    size = page.viewport_size or VIEWPORT
    try:
        extra = page.evaluate("""(p) => { const s = window.__e2e.scroller(p);
            return s.scrollHeight - s.clientHeight; }""", rel)
    except Exception:
        extra = 0
    height = int(min(MAX_SHOT_HEIGHT, size["height"] + max(0, extra)))
    try:
        if height > size["height"]:
            page.set_viewport_size({"width": size["width"], "height": height})
            with contextlib.suppress(Exception):
                page.evaluate("(p) => { window.__e2e.scroller(p).scrollTop = 0; }", rel)
            with contextlib.suppress(_playwright_timeout()):
                page.wait_for_function("(h) => window.innerHeight === h", arg=height, timeout=5_000)
        page.screenshot(path=str(path), animations="disabled")
        result.screenshots.append(path)
    finally:
        if height > size["height"]:
            page.set_viewport_size(size)


# ----------------------------------------------------------------------------- main


def find_notebooks(folder: Path, only: Sequence[str] = ()) -> list[Path]:
    books = sorted(p for p in Path(folder).glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
    if only:
        books = [p for p in books if any(p.name.startswith(o) for o in only)]
    from topokit.pipeline import run_order

    return run_order(books)  # the report notebook last, as topokit reproduce runs them


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("notebooks", nargs="*", type=Path,
                   help="notebooks to check (default: every notebooks/NN_*.ipynb); they share one folder")
    p.add_argument("--only", action="extend", nargs="+", default=[], metavar="PREFIX",
                   help="only notebooks whose file names start with these prefixes, e.g. --only 03 04 "
                        "(as in topokit reproduce); repeatable")
    p.add_argument("--timeout", type=float, default=1200.0, metavar="S",
                   help="seconds one notebook may take to run all its cells (default 1200)")
    p.add_argument("--mode", choices=MODES, default="quick",
                   help="the mode the kernels run in (TOPOKIT_QUICK / TOPOKIT_FULL); every notebook must print "
                        "'topokit mode: <mode>' first (default quick)")
    p.add_argument("--cell-limit", type=float, default=None, metavar="S",
                   help=f"seconds one cell may take (default {CELL_LIMIT:g} in quick mode, no limit in the others; "
                        "0: no limit)")
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "build" / "e2e",
                   help="screenshots go to OUT/<notebook>/ (default build/e2e)")
    p.add_argument("--chromium", default=None, metavar="PATH",
                   help=f"the Chromium executable (default $TOPOKIT_CHROMIUM, else {CHROMIUM_CANDIDATES[0]} "
                        "or chromium on PATH)")
    p.add_argument("--figures", type=Path, default=None, metavar="DIR",
                   help="TOPOKIT_FIGURES for the kernels (default: a temporary folder, removed at the end)")
    p.add_argument("--headed", action="store_true", help="show the browser window (needs a display)")
    args = p.parse_args(argv)
    if args.timeout <= 0:
        p.error(f"--timeout must be a positive number of seconds, not {args.timeout}")
    if args.cell_limit is not None and not args.cell_limit >= 0:
        p.error(f"--cell-limit must be a number of seconds (0 for no limit), not {args.cell_limit}")
    if args.cell_limit is None:
        args.cell_limit = CELL_LIMIT if args.mode == "quick" else 0
    args.cell_limit = args.cell_limit or None  # 0: no limit
    return args


def _kernel_env(figures: Path, mode: str = "quick") -> dict[str, str]:
    env = dict(os.environ)
    env["TOPOKIT_QUICK"] = "1" if mode == "quick" else "0"
    env["TOPOKIT_FULL"] = "1" if mode == "full" else "0"
    env["TOPOKIT_UPDATE_README"] = "0"  # the browser run is a reader's: it never rewrites tracked files
    env["TOPOKIT_FIGURES"] = str(figures)
    env.setdefault("TOPOKIT_PROGRESS", "0")
    # the kernels import this checkout's topokit, whatever is installed in the environment
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def write_results(path: Path, results: Sequence[NotebookResult], mode: str, seconds: float) -> None:
    """Each notebook's time, cell times and failures as JSON (``build/e2e/results.json``), atomically."""
    record = {"mode": mode, "seconds": round(seconds, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "notebooks": {r.name: {"ok": r.ok, "seconds": round(r.seconds, 1), "cells": r.cells,
                                     "reader_seconds": None if r.reader_seconds is None else round(r.reader_seconds, 1),
                                     "run_all_seconds": None if r.run_all_seconds is None else round(r.run_all_seconds, 1),
                                     "cell_seconds": {str(k): v for k, v in sorted(r.cell_seconds.items())},
                                     "failures": list(r.failures)} for r in results}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        chromium = find_chromium(args.chromium)
    except E2EError as exc:
        print(f"e2e: {exc}", file=sys.stderr)
        return 2
    if chromium is None:
        print(f"e2e: {no_chromium_message()}", file=sys.stderr)
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("e2e: the Python package playwright is missing: pip install -e '.[e2e]' (the browser itself "
              f"comes from Debian's {CHROMIUM_PACKAGE} package; never run `playwright install`)", file=sys.stderr)
        return 2

    if args.notebooks:
        books = [p.resolve() for p in args.notebooks]
        missing = [str(p) for p in books if not p.is_file()]
        if missing:
            print(f"e2e: no such notebook: {', '.join(missing)}", file=sys.stderr)
            return 2
        if args.only:
            books = [p for p in books if any(p.name.startswith(o) for o in args.only)]
    else:
        books = find_notebooks(PROJECT_ROOT / "notebooks", args.only)
    if not books:
        print(f"e2e: no notebook to check (--only {args.only})" if args.only else "e2e: no notebook found",
              file=sys.stderr)
        return 2
    root = Path(os.path.commonpath([str(p.parent) for p in books]))
    out = args.out.resolve()

    signal.signal(signal.SIGTERM, _on_sigterm)
    results: list[NotebookResult] = []
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="topokit-e2e-") as tmp:
        tmp = Path(tmp)
        figures = args.figures.resolve() if args.figures else tmp / "figures"
        digests = {p: _digest(p) for p in books}
        limit = f", at most {args.cell_limit:g} s a cell" if args.cell_limit else ""
        print(f"e2e: JupyterLab on 127.0.0.1, root {root}; browser {chromium}; {len(books)} notebooks, "
              f"{args.mode} mode{limit}; screenshots in {out}", flush=True)
        try:
            with JupyterLab(root, _kernel_env(figures, args.mode), tmp / "jupyter") as lab, sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, headless=not args.headed,
                                             args=["--disable-gpu-sandbox", "--enable-unsafe-swiftshader",
                                                   "--disable-dev-shm-usage"])
                try:
                    context = browser.new_context(viewport=VIEWPORT)
                    for book in books:
                        rel = book.relative_to(root).as_posix()
                        res = run_notebook(context, lab, rel, out / book.stem, args.timeout, mode=args.mode,
                                           figures=figures, cell_limit=args.cell_limit)
                        lab.kernel_pids()
                        if _digest(book) != digests[book]:
                            res.failures.append(f"{rel} was modified on disk during the run")
                        results.append(res)
                        print(res.summary(), flush=True)
                finally:
                    browser.close()
        except KeyboardInterrupt:
            print("e2e: interrupted; JupyterLab and its kernels were stopped", file=sys.stderr)
            return 130
        except E2EError as exc:
            print(f"e2e: {exc}", file=sys.stderr)
            return 2
    failed = [r for r in results if not r.ok]
    write_results(out / "results.json", results, args.mode, time.monotonic() - t_all)
    print(f"e2e: {len(results) - len(failed)}/{len(results)} notebooks passed in {time.monotonic() - t_all:.0f} s"
          + (f"; failed: {', '.join(r.name for r in failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
