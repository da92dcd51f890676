"""topokit never writes into its own folder: compiled kernels go to the cache, a read-only install runs.

Both checks run topokit in a fresh subprocess (a fresh ``TOPOKIT_CACHE``, numba compiling from
scratch) and compare every file of the package tree (path, size, modification time) before and
after. The tests may run as root, where ``chmod a-w`` stops no write, so the comparison -- not
the permissions -- is what fails when something is written.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import topokit

WORKTREE = Path(topokit.__file__).resolve().parent.parent


def _tree(root: Path) -> dict:
    """Every file and folder under ``root``: relative path -> (size, mtime in ns)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size if name in filenames else -1, st.st_mtime_ns)
    return out


def _changes(before: dict, after: dict) -> list:
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


def _run(script: str, env: dict, cwd: Path, timeout: int = 300) -> dict:
    """Run ``script`` in a fresh interpreter in ``cwd``; it prints one JSON line last, which is returned.

    ``cwd`` must not hold a topokit folder: ``python -c`` puts the current folder first on sys.path.
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TOPOKIT_CACHE", "NUMBA_CACHE_DIR")}
    env.update(TOPOKIT_PROGRESS="0", **extra)
    return env


@pytest.mark.slow  # a fresh interpreter imports torch and compiles three kernels: 11 s measured
def test_compiled_kernels_are_cached_in_the_topokit_cache_never_in_the_package(tmp_path):
    first, second = tmp_path / "cache-1", tmp_path / "cache-2"
    unwritable = tmp_path / "a-file"  # a cache "folder" that is a file: cannot be created, even by root
    unwritable.write_text("not a folder")
    users_numba = tmp_path / "users-numba-cache"
    package = WORKTREE / "topokit"
    before = _tree(package)
    out = _run(f"""
        import json, os
        import numba  # imported before topokit: its configuration is already read
        import numpy as np
        import topokit
        from topokit import filtertopology as ft
        ft._first_rows(np.array([[1, 2], [1, 2], [3, 4]], dtype=np.int64))  # cached under cache-1
        os.environ["TOPOKIT_CACHE"] = {str(unwritable)!r}
        norms = ft._squared_norms(np.ones((3, 2), dtype=np.float32))  # no usable folder: compiled in memory
        os.environ["TOPOKIT_CACHE"] = {str(second)!r}
        ft._kth_buffers(10, 3)  # cached under cache-2
        print(json.dumps({{"file": topokit.__file__, "norms": norms.tolist(),
                          "numba_cache_dir": numba.config.CACHE_DIR}}))
        """, _env(PYTHONPATH=str(WORKTREE), TOPOKIT_CACHE=str(first), NUMBA_CACHE_DIR=str(users_numba),
                  PYTHONDONTWRITEBYTECODE="1"), cwd=tmp_path)
    assert Path(out["file"]).resolve() == package / "__init__.py"
    assert out["norms"] == [2.0, 2.0, 2.0]
    assert out["numba_cache_dir"] == str(users_numba)  # the user's numba setting is left as it was
    assert _changes(before, _tree(package)) == []
    cached_1 = sorted(p.name for p in (first / "numba").rglob("*") if p.is_file())
    cached_2 = sorted(p.name for p in (second / "numba").rglob("*") if p.is_file())
    assert any(n.startswith("filtertopology._first_rows-") and n.endswith(".nbi") for n in cached_1), cached_1
    assert any(n.startswith("filtertopology._first_rows-") and n.endswith(".nbc") for n in cached_1), cached_1
    assert not any("_squared_norms" in n for n in cached_1 + cached_2)
    assert any(n.startswith("filtertopology._kth_buffers-") for n in cached_2) and not any(
        "_kth_buffers" in n for n in cached_1), (cached_1, cached_2)
    assert unwritable.read_text() == "not a folder" and not users_numba.exists()


def _install(tmp_path: Path) -> Path:
    """A non-editable ``pip install --target`` of this worktree's topokit (no dependencies, offline)."""
    source, target = tmp_path / "source", tmp_path / "site"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(WORKTREE / name, source / name)
    shutil.copytree(WORKTREE / "topokit", source / "topokit", ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(source)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (target / "topokit" / "__init__.py").is_file()
    return target


def _set_writable(root: Path, writable: bool) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for p in [Path(dirpath)] + [Path(dirpath) / n for n in filenames]:
            mode = p.stat().st_mode
            p.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.mark.slow  # pip install, a fresh interpreter, numba compiling every kernel, a tiny sweep: 21 s measured
def test_a_read_only_install_scores_filters_and_sweeps_without_writing_into_it(tmp_path):
    site = _install(tmp_path)
    cache = tmp_path / "cache"
    _set_writable(site, False)
    try:
        before = _tree(site)
        out = _run("""
            import json, sys
            import numpy as np
            import topokit
            from topokit import filtertopology, models, pruning, sweeps

            model = models.cnn(1, 2, channels=(4, 4), hidden=8, seed=0)
            rng = np.random.default_rng(0)
            X = rng.random((6, 1, 12, 12)).astype(np.float32)
            y = np.array([0, 1] * 3)
            scores = pruning.filter_scores(model, X, y, method="betti", progress=False)
            table = sweeps.sweep("relu", [("D-I", dict(n=200, width=8, depth=2, max_epochs=3))], [0],
                                 progress=False)
            print(json.dumps({"files": [m.__file__ for m in (topokit, filtertopology, pruning, sweeps)],
                              "path": sys.path,
                              "scores": {k: np.asarray(v).tolist() for k, v in scores.items()},
                              "rows": len(table), "epochs_run": int(table["epochs_run"].iloc[0])}))
            """, _env(PYTHONPATH=str(site), TOPOKIT_CACHE=str(cache)), cwd=tmp_path)
        after = _tree(site)
    finally:
        _set_writable(site, True)
    for f in out["files"]:  # the installed copy ran, not the worktree or the editable install
        assert Path(f).resolve().is_relative_to(site.resolve()), out["files"]
    assert str(WORKTREE) not in out["path"]
    assert [len(v) for v in out["scores"].values()] == [4, 4]
    assert all(all(s == s for s in v) for v in out["scores"].values())  # no NaN
    assert out["rows"] == 1 and 1 <= out["epochs_run"] <= 3
    assert _changes(before, after) == [], "written into the read-only install"
    assert any((cache / "numba").rglob("*.nbc")), "compiled kernels are cached in TOPOKIT_CACHE"
