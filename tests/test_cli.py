"""The command line: `topokit cache` touches only a cache topokit made; `reproduce --only` refuses blanks."""
import os
import re
from pathlib import Path

import pytest

from topokit import cache as cache_mod
from topokit import pipeline
from topokit.__main__ import main
from topokit.cache import Cache, make_key


def _tree(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = p.read_bytes() if p.is_file() and not p.is_symlink() else "dir/link"
    return out


@pytest.fixture
def project(tmp_path) -> Path:
    """A folder that is not a cache: .git, a hidden folder, files, folders named like kinds."""
    folder = tmp_path / "project"
    (folder / ".git").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / ".config").mkdir()
    (folder / "tests").mkdir()
    (folder / "tests" / "test_x.py").write_text("def test(): pass\n")
    (folder / "claim").mkdir()
    (folder / "claim" / "draft.md").write_text("my notes\n")
    (folder / "sweep-run" / ("ab" * 16)).mkdir(parents=True)
    (folder / "setup.cfg").write_text("[x]\n")
    return folder


@pytest.mark.parametrize("argv", [["cache", "clear"], ["cache", "clear", "--kind", "claim"],
                                  ["cache", "clear", "--kind", "sweep-run"], ["cache", "info"]])
def test_cache_commands_refuse_a_folder_that_is_not_a_cache(project, capsys, argv):
    before = _tree(project)
    assert main(argv + ["--dir", str(project)]) == 2
    err = capsys.readouterr().err
    assert f"{project} is not a topokit cache" in err and "TOPOKIT_CACHE" in err and "--dir" in err
    assert _tree(project) == before


def test_cache_clear_refuses_topokit_cache_pointing_at_a_non_cache(project, capsys, monkeypatch):
    before = _tree(project)
    monkeypatch.setenv("TOPOKIT_CACHE", str(project))
    assert main(["cache", "clear"]) == 2
    assert "is not a topokit cache" in capsys.readouterr().err
    assert _tree(project) == before


def test_cache_clear_prints_what_it_removed_and_what_it_left(tmp_path, capsys):
    c = Cache(tmp_path / "c")
    c.memo("claim", {"i": 1}, lambda: {"verdict": "supported"})
    c.memo("sweep-run", {"i": 1}, lambda: [1, 2, 3])
    (c.directory / "notes.txt").write_text("keep")
    (c.directory / "sweep-run" / ("ef" * 16)).mkdir()
    size = sum(f.stat().st_size for f in c.entry_path("claim", make_key({"i": 1})).iterdir())
    assert main(["cache", "clear", "--kind", "claim", "--dir", str(c.directory)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"removed 1 entry ({size / 1e6:.2f} MB) of kind claim from {c.directory}"
    assert main(["cache", "info", "--dir", str(c.directory)]) == 0
    assert re.search(r"sweep-run\s+1 entries", capsys.readouterr().out)
    assert main(["cache", "clear", "--dir", str(c.directory)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("removed 1 entry (") and "left 2 item(s) untouched" in out
    assert "notes.txt: is not a cache kind" in out and f"sweep-run/{'ef' * 16}: has no readable meta.json" in out
    assert (c.directory / "notes.txt").read_text() == "keep" and (c.directory / "sweep-run" / ("ef" * 16)).is_dir()


def test_cache_clear_refuses_an_unknown_kind(tmp_path, capsys):
    c = Cache(tmp_path / "c")
    c.memo("claim", {"i": 1}, lambda: [1])
    before = _tree(c.directory)
    assert main(["cache", "clear", "--kind", "claims", "--dir", str(c.directory)]) == 2
    err = capsys.readouterr().err
    assert "cache kind must be one of" in err and "'sweep-run'" in err and "did you mean 'claim'" in err
    assert _tree(c.directory) == before


def test_cache_clear_on_a_read_only_cache_is_refused(tmp_path, capsys, monkeypatch):
    c = Cache(tmp_path / "c")
    c.memo("claim", {"i": 1}, lambda: [1])
    before = _tree(c.directory)
    monkeypatch.setattr(cache_mod, "_write_problem", lambda d: "Read-only file system")
    monkeypatch.setattr(cache_mod, "_WARNED_READ_ONLY", set())
    with pytest.warns(cache_mod.CacheWarning, match="read-only"):
        assert main(["cache", "info", "--dir", str(c.directory)]) == 0
    assert "(read-only)" in capsys.readouterr().out
    assert main(["cache", "clear", "--dir", str(c.directory)]) == 2  # warned once per folder, above
    assert f"{c.directory} is read-only" in capsys.readouterr().err and _tree(c.directory) == before


@pytest.mark.parametrize("argv", [["reproduce", "--only", ""], ["reproduce", "--only", "01", "  "],
                                  ["reproduce", "--list", "--only", ""], ["reproduce", "--quick", "--only", "\t"]])
def test_reproduce_refuses_a_blank_only_prefix_before_running_anything(argv, capsys, monkeypatch):
    def ran(*args, **kwargs):
        raise AssertionError("something ran")

    monkeypatch.setattr(pipeline, "preflight", ran)
    monkeypatch.setattr(pipeline, "execute_notebook", ran)
    monkeypatch.setattr(pipeline, "notebook_info", ran)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "empty or blank prefix would select every notebook" in err


def test_find_notebooks_refuses_an_empty_selection(tmp_path):
    with pytest.raises(ValueError, match="empty list"):
        pipeline.find_notebooks(tmp_path, only=[])
    with pytest.raises(ValueError, match="blank prefix"):
        pipeline.reproduce(only=[""], notebooks_dir=tmp_path)
