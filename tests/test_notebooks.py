"""Notebooks: committed clean, and each executes headless in quick mode; the pipeline's errors."""
import json
from pathlib import Path

import nbformat
import pytest

from topokit import pipeline

NOTEBOOKS = pipeline.find_notebooks()


def test_there_are_numbered_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert "01_train_binary_classifiers.ipynb" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_clean_with_parameters_cell(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
        f"{path.name} has outputs: run `make strip`"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one code cell tagged 'parameters'"
    source = "".join(tagged[0]["source"])
    assert "fileio.run_mode(" in source and "MODE_LINE" in source, \
        f"{path.name}'s first code cell must choose its mode with fileio.run_mode() and print fileio.MODE_LINE"
    first = "".join(nb["cells"][0]["source"]) + "".join(nb["cells"][1]["source"])
    assert "# " in first, f"{path.name} should open with an H1 title"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_in_quick_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOKIT_FIGURES", str(tmp_path / "figures"))
    run = pipeline.execute_notebook(path, tmp_path / "build" / path.name, quick=True, timeout=600)
    executed = nbformat.read(run.executed, as_version=4)
    assert not [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]  # env, no code
    first = next(c for c in executed.cells if c.cell_type == "code")
    assert first.outputs[0]["text"].splitlines()[0] == "topokit mode: quick"
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    written = list((tmp_path / "figures").rglob("*.png"))
    assert written, f"{path.name} wrote no figure"


def _tiny_notebook(folder: Path, name: str, failing: bool) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Tiny"),
        nbformat.v4.new_code_cell("from topokit import fileio\nMODE = fileio.run_mode()\n"
                                  "print(fileio.MODE_LINE.format(MODE))\nQUICK = MODE == 'quick'",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1 if QUICK else 2"),
        nbformat.v4.new_code_cell("raise RuntimeError('boom ' + str(x))" if failing else "print(x)"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / name
    nbformat.write(nb, path)
    return path


def test_reproduce_stops_at_failing_cell_and_names_it(tmp_path):
    books = tmp_path / "nbs"
    books.mkdir()
    _tiny_notebook(books, "01_ok.ipynb", failing=False)
    _tiny_notebook(books, "02_bad.ipynb", failing=True)
    _tiny_notebook(books, "03_never.ipynb", failing=False)
    with pytest.raises(pipeline.NotebookExecutionError) as info:
        pipeline.reproduce(quick=True, notebooks_dir=books, build_dir=tmp_path / "build", progress=False)
    msg = str(info.value)
    assert "02_bad.ipynb failed at cell 3" in msg and "boom 1" in msg  # nothing injected: the third code cell
    assert "RuntimeError: boom 1" in msg and "\x1b[" not in msg
    assert (tmp_path / "build" / "01_ok.ipynb").exists()
    assert (tmp_path / "build" / "02_bad.failed.ipynb").exists()
    assert not (tmp_path / "build" / "03_never.ipynb").exists()


def test_reproduce_only_and_unknown_prefix(tmp_path):
    books = tmp_path / "nbs"
    books.mkdir()
    _tiny_notebook(books, "01_ok.ipynb", failing=False)
    runs = pipeline.reproduce(quick=False, only=["01"], notebooks_dir=books, build_dir=tmp_path / "b",
                              progress=False)
    assert [r.notebook.name for r in runs] == ["01_ok.ipynb"] and not runs[0].quick
    out = nbformat.read(runs[0].executed, as_version=4)
    assert out.cells[3].outputs[0]["text"].strip() == "2"  # not quick: x = 2
    with pytest.raises(ValueError, match="no notebook matches \\['07'\\]; available: 01_ok.ipynb"):
        pipeline.reproduce(only=["07"], notebooks_dir=books)


def test_strip_outputs(tmp_path):
    books = tmp_path / "nbs"
    books.mkdir()
    path = _tiny_notebook(books, "01_ok.ipynb", failing=False)
    runs = pipeline.reproduce(notebooks_dir=books, build_dir=tmp_path / "b", progress=False)
    executed = runs[0].executed
    assert pipeline.strip_outputs([executed]) == [executed]
    nb = nbformat.read(executed, as_version=4)
    assert all(not c.outputs and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    assert pipeline.strip_outputs([path]) == []  # already clean


def test_cli_reports_failure(tmp_path, monkeypatch, capsys):
    from topokit.__main__ import main

    monkeypatch.setattr(pipeline, "find_notebooks", lambda d=None, only=None: [])
    assert main(["reproduce", "--quick"]) == 2
    assert "no numbered notebooks" in capsys.readouterr().err


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_declares_the_downloaded_data_it_uses(path):
    """The pipeline checks declared datasets before running anything: none may be left out."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    declared = set(pipeline.notebook_info(path)["datasets"])
    used = {name for name in ("fashion-mnist", "cifar10", "cats-vs-dogs") if f'"{name}"' in code or f"'{name}'" in code}
    assert used <= declared, f"{path.name} uses {sorted(used - declared)} without declaring it in metadata.topokit.datasets"
