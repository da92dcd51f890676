"""The browser harness (e2e/run_e2e.py, ``make e2e``) on small generated notebooks.

The ``e2e`` tests start JupyterLab and drive Debian's Chromium through Playwright; they are
skipped only when no Chromium executable is found or playwright is not importable.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "e2e" / "run_e2e.py"

_spec = importlib.util.spec_from_file_location("run_e2e", SCRIPT)
run_e2e = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("run_e2e", run_e2e)  # dataclasses look their module up while the class is made
_spec.loader.exec_module(run_e2e)


def _browser_skip_reason():
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError:
        return "playwright is not importable: pip install -e '.[e2e]'"
    try:
        found = run_e2e.find_chromium()
    except run_e2e.E2EError as exc:
        return str(exc)
    if found is None:
        return f"no Chromium executable: apt-get install {run_e2e.CHROMIUM_PACKAGE}"
    return None


_SKIP = _browser_skip_reason()
needs_browser = pytest.mark.skipif(_SKIP is not None, reason=str(_SKIP))

USER_FIGURES_SENTINEL = "E2E_USER_FIGURES"

CELLS = [
    # the kernel runs in quick mode, with the harness's temporary figure folder; the first line says so
    "import os\n"
    "from topokit import fileio\n"
    "MODE = fileio.run_mode()\n"
    "print(fileio.MODE_LINE.format(MODE))\n"
    "assert os.environ['TOPOKIT_QUICK'] == '1' and MODE == 'quick'\n"
    f"assert os.environ['TOPOKIT_FIGURES'] != os.environ['{USER_FIGURES_SENTINEL}']",
    "import plotly.graph_objects as go\n"
    "fig = go.Figure(go.Scatter(x=[0, 1, 2, 3], y=[1, 3, 2, 4], mode='lines+markers'))\n"
    "fig",
    "import ipywidgets as widgets\n"
    "out = widgets.Output()\n"
    "slider = widgets.IntSlider(value=3, min=0, max=10, description='n')\n"
    "def show(change=None):\n"
    "    out.clear_output()\n"
    "    with out:\n"
    "        print('square', slider.value ** 2)\n"
    "slider.observe(show, names='value')\n"
    "show()\n"
    "widgets.VBox([slider, out])",
]


def _notebook(folder: Path, name: str, extra_cells=(), cells=CELLS) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A small notebook for the browser harness")]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in [*cells, *extra_cells]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    nbformat.write(nb, path)
    return path


def _harness(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["TOPOKIT_FIGURES"] = str(tmp_path / "user-figures")
    env[USER_FIGURES_SENTINEL] = env["TOPOKIT_FIGURES"]
    env.pop("TOPOKIT_FULL", None)
    return subprocess.run([sys.executable, str(SCRIPT), *args, "--out", str(tmp_path / "shots"),
                           "--timeout", "120"], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.e2e
@needs_browser
def test_harness_passes_a_notebook_with_a_figure_and_a_widget(tmp_path):
    book = _notebook(tmp_path / "nbs", "01_small.ipynb")
    before = book.read_bytes()
    run = _harness(tmp_path, str(book))
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    assert "PASS 01_small.ipynb" in run.stdout, report
    assert "figures 1/1 rendered, widgets 1/1 responded" in run.stdout, report
    results = json.loads((tmp_path / "shots" / "results.json").read_text())
    timed = results["notebooks"]["01_small.ipynb"]["cell_seconds"]
    assert results["mode"] == "quick" and len(timed) == len(CELLS), results  # every cell's time recorded
    entry = results["notebooks"]["01_small.ipynb"]
    # open + run all, no checks; of which kernel start + run all, without JupyterLab's page load
    assert sum(timed.values()) <= entry["run_all_seconds"] <= entry["reader_seconds"] <= entry["seconds"], entry
    shots = tmp_path / "shots" / "01_small"
    whole, figures = shots / "notebook.png", sorted(shots.glob("figure_*.png"))
    assert whole.is_file() and len(figures) == 1, sorted(shots.iterdir())
    for png in [whole, *figures]:
        assert not run_e2e.is_blank(png), f"{png} is blank"
        with Image.open(png) as im:
            assert im.width > 100 and im.height > 100
    assert book.read_bytes() == before, "the harness must never save the notebook"
    assert not (tmp_path / "user-figures").exists(), "the user's figure folder must stay untouched"


@pytest.mark.e2e
@needs_browser
def test_harness_fails_on_an_error_and_names_the_cell(tmp_path):
    book = _notebook(tmp_path / "nbs", "02_broken.ipynb",
                     extra_cells=["raise ValueError('broken on purpose')", "print('never reached')"])
    run = _harness(tmp_path, str(book))
    report = run.stdout + run.stderr
    assert run.returncode == 1, report
    assert "FAIL 02_broken.ipynb" in run.stdout, report
    # cell 4 (counting the title), its execution count, its first line, the error
    assert "error in cell 4 [4] `raise ValueError('broken on purpose')`: ValueError: broken on purpose" \
        in run.stdout, report
    assert (tmp_path / "shots" / "02_broken" / "notebook.png").is_file()


@pytest.mark.e2e
@needs_browser
def test_harness_stops_a_notebook_that_ignores_its_mode(tmp_path):
    """A notebook hard-wired to the default mode, opened in quick mode: the harness fails it right
    after its first cell, naming both modes, and the rest never runs."""
    marker = tmp_path / "ran-to-the-end"
    book = _notebook(tmp_path / "nbs", "03_stubborn.ipynb", cells=[
        "QUICK = False\nprint('topokit mode: default')",
        "import time\ntime.sleep(30)",
        f"open({str(marker)!r}, 'w').write('x')",
    ])
    run = _harness(tmp_path, str(book))
    report = run.stdout + run.stderr
    assert run.returncode == 1, report
    assert "FAIL 03_stubborn.ipynb" in run.stdout, report
    assert "runs in 'default' mode but 'quick' was asked for" in run.stdout, report
    assert not marker.exists(), "the cells after the mode line must not run"


@pytest.mark.e2e
@needs_browser
def test_harness_fails_a_blank_or_missing_saved_figure_and_a_slow_cell(tmp_path):
    book = _notebook(tmp_path / "nbs", "04_figures.ipynb", cells=[CELLS[0],
        "import matplotlib.pyplot as plt\nfrom topokit import plotting\n"
        "fig, ax = plt.subplots(); ax.plot([0, 1], [1, 0]); plotting.save_figure(fig, 'drawn', formats=['png'])",
        "fig = plt.figure(); ax = fig.add_axes([0, 0, 1, 1]); ax.axis('off')\n"
        "plotting.save_figure(fig, 'empty', formats=['png'])",
        "if False:\n    pass\nplotting.save_figure(plt.figure(), f'never_{1}', formats=['png']) if False else None",
        "import time\ntime.sleep(3)",
    ])
    run = _harness(tmp_path, str(book), "--cell-limit", "2")
    report = run.stdout + run.stderr
    assert run.returncode == 1, report
    assert "saved figure quick/empty.png is blank" in run.stdout, report
    assert "saves figure 'never_{1}' but no such file was written" in run.stdout, report
    assert "`import time` took" in run.stdout and "over the 2 s allowed to a cell in quick mode" in run.stdout, report
    assert "drawn.png" not in run.stdout  # the drawn figure passes
    assert "saved figures 1/2 not blank" in run.stdout, report


# ----------------------------------------------------------------------------- no browser needed


def test_no_chromium_names_the_debian_package(monkeypatch, capsys):
    monkeypatch.delenv("TOPOKIT_CHROMIUM", raising=False)
    monkeypatch.setattr(run_e2e, "CHROMIUM_CANDIDATES", ("/nonexistent/chromium", "no-such-chromium-here"))
    assert run_e2e.main([]) == 2
    err = capsys.readouterr().err
    assert "apt-get install -y chromium" in err and "never downloads" in err


def test_a_chromium_path_that_does_not_exist_is_refused(capsys):
    assert run_e2e.main(["--chromium", "/nonexistent/chromium"]) == 2
    err = capsys.readouterr().err
    assert "/nonexistent/chromium" in err and "apt-get install chromium" in err


def test_bad_arguments_are_refused_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_e2e.parse_args(["--timeout", "0"])
    assert "--timeout must be a positive number" in capsys.readouterr().err
    if _SKIP is None:  # the notebook check comes after the browser check
        assert run_e2e.main([str(tmp_path / "missing.ipynb")]) == 2
        assert "no such notebook" in capsys.readouterr().err
        assert run_e2e.main(["--only", "99"]) == 2
        assert "no notebook to check" in capsys.readouterr().err


def test_mode_line_checks(tmp_path):
    def cells(text):
        return [{"index": 1, "type": "code", "source": "MODE = fileio.run_mode()", "executionCount": 1,
                 "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}]

    assert run_e2e.mode_problem(cells("topokit mode: quick\nfigures go to x\n"), "quick") is None
    assert "runs in 'default' mode but 'quick' was asked for" in run_e2e.mode_problem(cells("topokit mode: default\n"),
                                                                                       "quick")
    assert "did not print 'topokit mode: <mode>'" in run_e2e.mode_problem(cells("hello\n"), "full")
    assert run_e2e.cell_seconds([{"index": 3, "execution": {"iopub.execute_input": "2026-01-01T00:00:00.000Z",
                                                            "shell.execute_reply": "2026-01-01T00:00:02.500Z"}},
                                 {"index": 4, "execution": None}]) == {3: 2.5}
    with pytest.raises(SystemExit):
        run_e2e.parse_args(["--cell-limit", "-1"])
    assert run_e2e.parse_args([]).cell_limit == run_e2e.CELL_LIMIT
    assert run_e2e.parse_args(["--mode", "default"]).cell_limit is None
    assert run_e2e.parse_args(["--cell-limit", "0"]).cell_limit is None


def test_promised_figure_names_are_read_from_top_level_calls():
    code = [{"index": 2,
             "source": 'plotting.save_figure(fig, "02_a")\nfor n in x:\n    plotting.save_figure(f, f"in_{n}")'},
            {"index": 3, "source": 'paths = plotting.save_figure(fig, f"04_{name}_curves", formats=["png"])'},
            {"index": 4, "source": 'plotting.draw("05_verdicts", plotting.plot_verdicts, claims)'}]
    found = [(name, p.pattern) for _, name, p in run_e2e._promised_names(code)]
    assert [n for n, _ in found] == ["02_a", "04_{name}_curves", "05_verdicts"]  # the indented call is left out
    assert run_e2e._promised_names(code)[1][2].fullmatch("04_cifar10_curves")


def test_blank_screenshots_are_told_apart(tmp_path):
    white = tmp_path / "white.png"
    Image.new("RGB", (400, 300), "white").save(white)
    assert run_e2e.is_blank(white)
    drawn = tmp_path / "drawn.png"
    im = Image.new("RGB", (400, 300), "white")
    ImageDraw.Draw(im).line([(20, 280), (200, 40), (380, 200)], fill=(99, 110, 250), width=3)
    ImageDraw.Draw(im).rectangle([(60, 60), (120, 120)], fill=(230, 236, 245))
    im.save(drawn)
    assert not run_e2e.is_blank(drawn)


def test_default_notebooks_and_prefix_filter():
    books = run_e2e.find_notebooks(ROOT / "notebooks")
    assert books and all(p.name[:2].isdigit() for p in books)
    only = run_e2e.find_notebooks(ROOT / "notebooks", ["00"])
    assert [p.name for p in only] == [p.name for p in books if p.name.startswith("00")]
