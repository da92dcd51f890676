"""The reproduce pipeline: data preflight and downloads, figure staging, progress, the CLI."""
import hashlib
import http.server
import threading
from functools import partial
from pathlib import Path

import nbformat
import pytest

from topokit import data, pipeline
from topokit.__main__ import main


MODE_CELL = ("from topokit import fileio\nMODE = fileio.run_mode()\nprint(fileio.MODE_LINE.format(MODE))\n"
             "QUICK = MODE == 'quick'")


def _notebook(folder, name, cells, datasets=(), first=MODE_CELL):
    """A small notebook whose first code cell (tagged parameters) is ``first``: by default it
    follows the mode and prints it, as every project notebook does."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name[:2]} Tiny"),
                nbformat.v4.new_code_cell(first, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["topokit"] = {"datasets": list(datasets)}
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """No data anywhere: an empty TOPOKIT_DATA and an empty project data folder."""
    empty = tmp_path / "empty-data"
    empty.mkdir()
    monkeypatch.setenv("TOPOKIT_DATA", str(empty))
    monkeypatch.setattr(data, "PROJECT_DATA_DIR", tmp_path / "project-data")
    data._verified.clear()
    return empty


def test_preflight_lists_every_missing_file_before_anything_runs(tmp_path, no_data):
    books = tmp_path / "nbs"
    _notebook(books, "01_a.ipynb", ["open('ran', 'w').write('x')"], datasets=["fashion-mnist"])
    _notebook(books, "02_b.ipynb", ["print(1)"], datasets=["cats-vs-dogs", "D-I"])
    with pytest.raises(data.DataUnavailableError) as info:
        pipeline.reproduce(notebooks_dir=books, build_dir=tmp_path / "build", download=False, progress=False)
    msg = str(info.value)
    assert msg.startswith("5 data file(s) missing; nothing has run yet.")
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "cats_and_dogs_filtered.zip"):
        assert name in msg
    assert str(no_data) in msg and "TOPOKIT_DATA" in msg and "TOPOKIT_DOWNLOAD=1" in msg
    assert not (tmp_path / "build").exists() and not (books / "ran").exists()


def test_unknown_dataset_in_metadata_is_named(tmp_path):
    books = tmp_path / "nbs"
    _notebook(books, "01_a.ipynb", ["print(1)"], datasets=["mnist-typo"])
    with pytest.raises(ValueError, match="unknown dataset 'mnist-typo'"):
        pipeline.reproduce(notebooks_dir=books, build_dir=tmp_path / "build", progress=False)


@pytest.fixture
def http_server(tmp_path):
    """A file server on 127.0.0.1 (a free port), serving tmp_path/served."""
    root = tmp_path / "served"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _serve(monkeypatch, http_server, payload: bytes, digest=None):
    root, url = http_server
    (root / "cats.zip").write_bytes(payload)
    remote = data._Remote("cats_and_dogs_filtered.zip", digest or hashlib.sha256(payload).hexdigest(),
                          url + "cats.zip")
    monkeypatch.setitem(data.FILES, "cats-vs-dogs", remote)
    return remote


def test_download_from_local_server_is_verified_and_atomic(no_data, monkeypatch, http_server):
    payload = b"zip bytes " * 10_000
    _serve(monkeypatch, http_server, payload)
    found = data.ensure_available(["cats-vs-dogs", "D-I"], download=True)
    target = no_data / "cats_and_dogs_filtered.zip"
    assert found == {"cats-vs-dogs": [target], "D-I": []}
    assert target.read_bytes() == payload and [p.name for p in no_data.iterdir()] == [target.name]


def test_download_with_wrong_checksum_leaves_nothing(no_data, monkeypatch, http_server):
    _serve(monkeypatch, http_server, b"tampered", digest="0" * 64)
    with pytest.raises(data.DataUnavailableError, match="sha256 is .*expected 0000"):
        data.ensure_available(["cats-vs-dogs"], download=True)
    assert list(no_data.iterdir()) == []  # no half-written file, no .part left behind


def test_failed_download_into_a_subfolder_leaves_no_empty_folder(no_data, monkeypatch, http_server):
    remote = _serve(monkeypatch, http_server, b"tampered", digest="0" * 64)
    monkeypatch.setitem(data.FILES, "cats-vs-dogs", data._Remote("sub/dir/cats.zip", remote.digest, remote.url))
    with pytest.raises(data.DataUnavailableError):
        data.ensure_available(["cats-vs-dogs"], download=True)
    assert list(no_data.iterdir()) == []  # neither sub/ nor sub/dir/ stays behind


def test_half_downloaded_file_is_reported_or_replaced(no_data, monkeypatch, http_server):
    payload = b"complete file " * 1000
    _serve(monkeypatch, http_server, payload)
    target = no_data / "cats_and_dogs_filtered.zip"
    target.write_bytes(payload[:500])  # cut off mid-download
    with pytest.raises(data.DataUnavailableError, match="checksum mismatch .*delete it"):
        data.ensure_available(["cats-vs-dogs"], download=False)
    assert target.read_bytes() == payload[:500]  # reported, not silently touched
    data.ensure_available(["cats-vs-dogs"], download=True)
    assert target.read_bytes() == payload


def _figure_cells(value):
    return [
        "import os\nfrom topokit import plotting\nimport matplotlib.pyplot as plt",
        f"fig, ax = plt.subplots(); ax.plot([0, {value}]); plotting.save_figure(fig, 'tiny', formats=['png'])",
        "if os.environ.get('FAIL_NOW') == '1':\n    raise RuntimeError('cell broke')",
    ]


def test_failed_notebook_keeps_the_last_good_figures(tmp_path, monkeypatch, capfd):
    figures = tmp_path / "figures"
    monkeypatch.setenv("TOPOKIT_FIGURES", str(figures))
    books = tmp_path / "nbs"
    _notebook(books, "01_fig.ipynb", _figure_cells(1))
    pipeline.reproduce(notebooks_dir=books, build_dir=tmp_path / "build", progress=True)
    good = (figures / "tiny.png").read_bytes()
    assert "without encryption" not in capfd.readouterr().err  # kernels talk over IPC: no TCP warning

    _notebook(books, "01_fig.ipynb", _figure_cells(5))  # a different figure, then a failing cell
    monkeypatch.setenv("FAIL_NOW", "1")
    with pytest.raises(pipeline.NotebookExecutionError, match="cell broke"):
        pipeline.reproduce(notebooks_dir=books, build_dir=tmp_path / "build", progress=False)
    assert (figures / "tiny.png").read_bytes() == good
    assert [p.name for p in figures.iterdir()] == ["tiny.png"]  # no staging folder left
    runs = (tmp_path / "build" / "runs.json").read_text()
    assert '"01_fig.ipynb"' in runs and '"mode": "default"' in runs


def test_each_kernel_starts_ahead_with_its_own_notebook_environment_and_none_is_left(tmp_path, monkeypatch):
    """The next notebook's kernel boots while the current one runs, with that notebook's own staging
    folder, working directory and mode; after the run, and after a failure, no kernel is left alive."""
    monkeypatch.setenv("TOPOKIT_FIGURES", str(tmp_path / "figures"))
    books = tmp_path / "nbs"
    report = ("import os, time\nprint(os.environ['TOPOKIT_FIGURES'], os.getcwd(), os.getpid(), "
              "os.environ['TOPOKIT_QUICK'], sep='|')")
    for name in ("01_a.ipynb", "02_b.ipynb", "03_c.ipynb"):
        _notebook(books, name, [report])
    started = []
    real = pipeline._Kernel.__init__

    def spy(self, path, kernel_env, kernel_name="python3"):
        real(self, path, kernel_env, kernel_name)
        started.append((path.name, self))

    monkeypatch.setattr(pipeline._Kernel, "__init__", spy)
    runs = pipeline.reproduce(quick=True, notebooks_dir=books, build_dir=tmp_path / "build", progress=False)
    assert [name for name, _ in started] == ["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"]
    seen = []
    for run in runs:
        staging, cwd, pid, quick = nbformat.read(run.executed, as_version=4).cells[2].outputs[0]["text"].strip().split("|")
        assert f".staging-{run.notebook.stem}-" in staging and Path(cwd) == books.resolve() and quick == "1"
        seen.append(int(pid))
    assert len(set(seen)) == 3  # one kernel per notebook
    assert all(not k.km.has_kernel or not k.km.is_alive() for _, k in started)  # all shut down on return
    assert not list((tmp_path / "figures").glob(".staging-*"))

    started.clear()  # a failure in the first notebook: the kernel started for the second is stopped too
    _notebook(books, "01_a.ipynb", ["raise RuntimeError('first breaks')"])
    with pytest.raises(pipeline.NotebookExecutionError, match="first breaks"):
        pipeline.reproduce(quick=True, notebooks_dir=books, build_dir=tmp_path / "build", progress=False)
    assert [name for name, _ in started] == ["01_a.ipynb", "02_b.ipynb"]
    assert all(not k.km.has_kernel or not k.km.is_alive() for _, k in started)
    assert not list((tmp_path / "figures").glob(".staging-*"))


def test_quick_and_full_exclude_each_other(tmp_path):
    with pytest.raises(ValueError, match="exclude each other"):
        pipeline.reproduce(quick=True, full=True, notebooks_dir=tmp_path)


# ----------------------------------------------------------------------------- the mode line


def test_notebook_that_ignores_its_mode_stops_after_its_first_cell(tmp_path, monkeypatch):
    """A notebook hard-wired to the default mode, run in quick mode: the run stops right after the
    first cell, naming both modes, and nothing after that cell ran."""
    monkeypatch.setenv("TOPOKIT_FIGURES", str(tmp_path / "figures"))
    books = tmp_path / "nbs"
    marker = tmp_path / "ran"
    _notebook(books, "01_stubborn.ipynb", [f"open({str(marker)!r}, 'w').write('x')"],
              first="QUICK = False\nprint('topokit mode: default')")
    with pytest.raises(pipeline.NotebookModeError) as info:
        pipeline.reproduce(quick=True, notebooks_dir=books, build_dir=tmp_path / "build", progress=False)
    msg = str(info.value)
    assert "01_stubborn.ipynb: it runs in 'default' mode but 'quick' was asked for" in msg
    assert "fileio.run_mode()" in msg and info.value.found == "default" and info.value.expected == "quick"
    assert not marker.exists()  # stopped before the second cell
    assert (tmp_path / "build" / "01_stubborn.failed.ipynb").exists()
    assert not (tmp_path / "build" / "01_stubborn.ipynb").exists()


def test_notebook_that_prints_no_mode_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOKIT_FIGURES", str(tmp_path / "figures"))
    books = tmp_path / "nbs"
    _notebook(books, "01_silent.ipynb", ["print('hello')"], first="QUICK = False")
    with pytest.raises(pipeline.NotebookModeError, match="did not print 'topokit mode: <mode>'") as info:
        pipeline.reproduce(notebooks_dir=books, build_dir=tmp_path / "build", progress=False)
    assert info.value.found is None and info.value.expected == "default"


def test_the_mode_reaches_the_kernel_through_the_environment_only(tmp_path, monkeypatch):
    """No code is injected: the first cell reads TOPOKIT_QUICK / TOPOKIT_FULL, in each mode."""
    monkeypatch.setenv("TOPOKIT_FIGURES", str(tmp_path / "figures"))
    monkeypatch.delenv("TOPOKIT_QUICK", raising=False)
    monkeypatch.delenv("TOPOKIT_FULL", raising=False)
    books = tmp_path / "nbs"
    _notebook(books, "01_follow.ipynb", ["print(QUICK)", "import os\nprint(os.environ['TOPOKIT_UPDATE_README'])"])
    for kwargs, mode in (({"quick": True}, "quick"), ({"full": True}, "full"), ({"update_readme": True}, "default")):
        runs = pipeline.reproduce(notebooks_dir=books, build_dir=tmp_path / mode, progress=False, **kwargs)
        assert runs[0].mode == mode
        nb = nbformat.read(runs[0].executed, as_version=4)
        assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
        assert nb.cells[1].outputs[0]["text"] == f"topokit mode: {mode}\n"
        assert nb.cells[2].outputs[0]["text"].strip() == str(mode == "quick")
        assert nb.cells[3].outputs[0]["text"].strip() == ("1" if "update_readme" in kwargs else "0")


@pytest.mark.slow
def test_a_readers_run_of_the_report_changes_no_tracked_file(tmp_path, monkeypatch, capsys):
    """Notebook 05 in the default mode, as `make reproduce` runs it: README.md and docs/gallery/
    stay as they are, and the run says where its verdicts differ from the README's table."""
    from topokit.fileio import PROJECT_ROOT, file_digest

    monkeypatch.setenv("TOPOKIT_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("TOPOKIT_CACHE", str(tmp_path / "cache"))  # no claim recorded: all differ
    tracked = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs" / "gallery").glob("*.png"))]
    before = {p: file_digest(p) for p in tracked}
    runs = pipeline.reproduce(only=["05"], build_dir=tmp_path / "build", progress=True)
    assert [p for p in tracked if file_digest(p) != before[p]] == []
    out = capsys.readouterr().out
    assert "Verdicts that differ from the README's table" in out and "this run not testable here" in out
    assert "make readme" in out
    assert (tmp_path / "figures" / "REPORT.md").is_file()  # the report goes to the (ignored) figures folder
    nb = nbformat.read(runs[0].executed, as_version=4)
    assert any("README and gallery left as they are" in o.get("text", "") for c in nb.cells if c.cell_type == "code"
               for o in c.outputs)


@pytest.mark.parametrize("env, match", [
    ({"TOPOKIT_QUICK": "maybe"},
     "TOPOKIT_QUICK='maybe' is not understood; set it to 1/0, true/false, yes/no or on/off"),
    ({"TOPOKIT_QUICK": "1", "TOPOKIT_FULL": "yes"}, "TOPOKIT_QUICK='1' and TOPOKIT_FULL='yes' are both on"),
])
def test_bad_mode_environment_is_refused_before_anything_runs(tmp_path, monkeypatch, capsys, env, match):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    books = tmp_path / "nbs"
    _notebook(books, "01_a.ipynb", [f"open({str(tmp_path / 'ran')!r}, 'w').write('x')"])
    with pytest.raises(ValueError, match=match):
        pipeline.reproduce(notebooks_dir=books, build_dir=tmp_path / "build", progress=False)
    assert main(["reproduce", "--only", "01"]) == 2
    assert match.split(";")[0] in capsys.readouterr().err
    assert not (tmp_path / "build").exists() and not (tmp_path / "ran").exists()


def test_update_readme_is_refused_in_quick_mode(tmp_path):
    with pytest.raises(ValueError, match="update_readme .* needs the default or full mode"):
        pipeline.reproduce(quick=True, update_readme=True, notebooks_dir=tmp_path)


def test_a_gap_in_the_numbering_is_named(tmp_path):
    books = tmp_path / "nbs"
    for name in ("00_a.ipynb", "01_b.ipynb", "03_d.ipynb"):
        _notebook(books, name, [])
    (books / "02-renamed.ipynb").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no notebook numbered 02 .*renamed or removed.*02-renamed.ipynb"):
        pipeline.find_notebooks(books)
    assert [p.name for p in pipeline.find_notebooks(books, only=["01", "03"])] == ["01_b.ipynb", "03_d.ipynb"]


def test_readme_differences_name_the_claims_whose_verdicts_changed(tmp_path):
    from topokit import report

    claims = report.load_claims("default", cache_dir=tmp_path / "empty-cache")  # every claim: not testable here
    readme = tmp_path / "README.md"
    table = report.readme_table(claims)
    readme.write_text(f"intro\n{report.README_START}\n{table}\n{report.README_END}\n")
    assert pipeline.readme_differences(claims, readme) == []
    first = claims.claim.iloc[0]
    changed = claims.assign(verdict=["reproduced"] + list(claims.verdict.iloc[1:]))
    diffs = pipeline.readme_differences(changed, readme)
    assert len(diffs) == 1 and diffs[0]["readme"] == "not testable here" and diffs[0]["this_run"] == "reproduced"
    assert diffs[0]["claim"].startswith(first[:20]) and diffs[0]["readme_mode"] == "default"


def test_cli_list_and_cache(tmp_path, capsys):
    assert main(["reproduce", "--list", "--only", "01"]) == 0
    out = capsys.readouterr().out
    assert "01_train_binary_classifiers.ipynb" in out and "fashion-mnist" in out
    from topokit.cache import Cache

    c = Cache(tmp_path / "c")
    c.memo("sweep-run", {"a": 1}, lambda: {"x": 1})
    c.memo("prune-scores", {"a": 1}, lambda: [1, 2])
    assert main(["cache", "info", "--dir", str(c.directory)]) == 0
    out = capsys.readouterr().out
    assert "sweep-run" in out and "prune-scores" in out and "total" in out
    assert main(["cache", "clear", "--kind", "prune-scores", "--dir", str(c.directory)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("removed 1 entry (") and "MB) of kind prune-scores from" in out
    assert list(c.info()["kind"]) == ["sweep-run"]
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["cache", "info", "--dir", str(blocker / "sub")]) == 2
    assert "cannot be written" in capsys.readouterr().err


def test_interrupted_run_then_rerun_reuses_what_was_computed(tmp_path, monkeypatch):
    """A run that dies after computing something: the rerun takes it from the cache."""
    monkeypatch.setenv("TOPOKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TOPOKIT_FIGURES", str(tmp_path / "figures"))
    calls = tmp_path / "calls.txt"
    books = tmp_path / "nbs"
    cells = [
        "import os\nfrom topokit.cache import Cache, register_kind",
        f"def compute():\n    with open({str(calls)!r}, 'a') as f:\n        f.write('x')\n    return {{'answer': 42}}",
        "register_kind('expensive')\nvalue = Cache().memo('expensive', {'n': 1}, compute)",
        "if os.environ.get('FAIL_NOW') == '1':\n    raise KeyboardInterrupt('power cut')",
        "assert value == {'answer': 42}",
    ]
    _notebook(books, "01_resume.ipynb", cells)
    monkeypatch.setenv("FAIL_NOW", "1")
    with pytest.raises(pipeline.NotebookExecutionError, match="power cut"):
        pipeline.reproduce(notebooks_dir=books, build_dir=tmp_path / "build", progress=False)
    monkeypatch.setenv("FAIL_NOW", "0")
    pipeline.reproduce(notebooks_dir=books, build_dir=tmp_path / "build", progress=False)
    assert calls.read_text() == "x"  # computed once, in the interrupted run


# ----------------------------------------------------------------------------- a quiet log

READ_ONLY_FIT = """
import numpy as np
from topokit import models, training
rng = np.random.default_rng(0)
X = rng.normal(size=(64, 2)).astype(np.float32)
y = (X[:, 0] > 0).astype(np.int64)
for a in (X, y):
    a.flags.writeable = False  # as an array read from a memory map or the cache is
net = models.mlp(2, 4, 2, "relu", seed=0)
training.fit(net, X, y, X_test=X, y_test=y, max_epochs=2, seed=0, progress=False)
training.fit_ensemble([models.mlp(2, 4, 2, "relu", seed=s) for s in (0, 1)], X, y, seeds=[0, 1], max_epochs=2,
                      progress=False)
print(training.predict(net, X).shape)
"""


@pytest.mark.slow
def test_training_on_read_only_arrays_warns_nothing():
    """torch warns once per process when it shares a read-only numpy array ("The given NumPy array is
    not writable"), so the check runs in a fresh process with every warning an error."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-W", "error", "-c", READ_ONLY_FIT], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "(64,)", run.stderr[-2000:]
    assert "not writable" not in run.stderr


# ----------------------------------------------------------------------------- warm reruns


@pytest.mark.slow
def test_a_rerun_of_the_primers_diagram_cell_computes_nothing(tmp_path, monkeypatch):
    """Notebook 00's own cells (mode, imports, shapes, diagrams) run twice on one cache: the first
    run computes the five diagrams, the second reads all five (computations counted, not seconds)."""
    from topokit.fileio import PROJECT_ROOT

    monkeypatch.setenv("TOPOKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TOPOKIT_FIGURES", str(tmp_path / "figures"))
    primer = nbformat.read(PROJECT_ROOT / "notebooks" / "00_topology_primer.ipynb", as_version=4)
    code = [c for c in primer.cells if c.cell_type == "code"]
    wanted = ["MODE = fileio.run_mode()", "from topokit.cache import Cache", "def circle(",
              "diagrams[name] = cached(topology.persistence_diagram"]
    cells = [next(c for c in code if text in c.source) for text in wanted]
    nb = nbformat.v4.new_notebook()
    nb.cells = cells + [nbformat.v4.new_code_cell("print('computed', cache.stats.misses, 'read', cache.stats.hits)")]
    nb.metadata["kernelspec"] = primer.metadata["kernelspec"]
    books = tmp_path / "nbs"
    books.mkdir()
    nbformat.write(nb, books / "00_primer_cells.ipynb")
    counts = []
    for run in ("cold", "warm"):
        done = pipeline.reproduce(quick=True, notebooks_dir=books, build_dir=tmp_path / run, progress=False)
        out = nbformat.read(done[0].executed, as_version=4)
        counts.append(out.cells[-1].outputs[0]["text"].strip())
    assert counts == ["computed 5 read 0", "computed 0 read 5"]


def test_report_notebook_runs_last(tmp_path):
    for name in ("00_a.ipynb", "05_reproduction_report.ipynb", "06_b.ipynb", "01_c.ipynb", "02_x.ipynb",
                 "03_y.ipynb", "04_z.ipynb"):
        (tmp_path / name).write_text("{}")
    names = [p.name for p in pipeline.find_notebooks(tmp_path)]
    assert names[-1] == pipeline.REPORT_NOTEBOOK and names[:-1] == sorted(names[:-1])
    assert [p.name for p in pipeline.find_notebooks(tmp_path, only=["05", "06"])] == ["06_b.ipynb",
                                                                                     "05_reproduction_report.ipynb"]
