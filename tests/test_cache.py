"""The on-disk cache: round trips per format, keys, corruption detection, atomicity, housekeeping,
and that it owns only what it wrote (marker, legacy adoption, verified clear, symlinks, read-only)."""
import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from topokit import cache as cache_mod
from topokit._checks import InvalidParameterError
from topokit.cache import KINDS, MISSING, Cache, CacheWarning, ClearResult, NotACacheError, make_key, register_kind
from topokit.fileio import PROJECT_ROOT, atomic_path, atomic_write_text

TEST_KINDS = ("things", "sweep", "k", "arrays", "a", "b")


@pytest.fixture(autouse=True)
def test_kinds(monkeypatch):
    """The kinds these tests use, registered for the test only (the real registry is restored)."""
    monkeypatch.setattr(cache_mod, "KINDS", dict(cache_mod.KINDS))
    monkeypatch.setattr(cache_mod, "_WARNED_READ_ONLY", set())
    for kind in TEST_KINDS:
        register_kind(kind, "a test kind")


@pytest.fixture
def c(tmp_path):
    return Cache(tmp_path / "cache")


def _frame():
    return pd.DataFrame({"activation": ["relu", "tanh"], "seed": [0, 1],
                         "epochs_to_converge": [12.0, np.nan], "converged": [True, False]})


@pytest.mark.parametrize("value", [
    {"a": 1, "b": [1.5, None, "x"]},
    np.arange(6.0).reshape(2, 3),
    {"x": np.arange(3), "y": np.ones((2, 2), dtype=np.float32)},
    {"arch": {"channels": [4, 8]}, "state": {"w": torch.randn(3, 2)}},
])
def test_round_trip_each_format(c, value):
    key = make_key({"v": 1})
    c.put("things", key, value)
    got = c.get("things", key)
    if isinstance(value, np.ndarray):
        np.testing.assert_array_equal(got, value)
    elif isinstance(value, dict) and "x" in value:
        assert set(got) == {"x", "y"} and got["y"].dtype == np.float32
        np.testing.assert_array_equal(got["x"], value["x"])
    elif isinstance(value, dict) and "state" in value:
        assert got["arch"] == value["arch"] and torch.equal(got["state"]["w"], value["state"]["w"])
    else:
        assert got == value


def test_frame_round_trip_keeps_dtypes_and_nan(c):
    key = make_key({"f": 1})
    c.put("sweep", key, _frame())
    got = c.get("sweep", key)
    pd.testing.assert_frame_equal(got, _frame())


def test_key_depends_on_config_and_code():
    assert make_key({"a": 1, "b": 2}) == make_key({"b": 2, "a": 1})
    assert make_key({"a": (1, 2)}) == make_key({"a": [1, 2]})
    assert make_key({"a": 1}) != make_key({"a": 2})
    assert make_key({"a": 1}, code=["v1"]) != make_key({"a": 1}, code=["v2"])
    assert make_key({"a": 1}, code=[cache_mod]) == make_key({"a": 1}, code=[cache_mod])
    with pytest.raises(ValueError, match="JSON-like"):
        make_key({"model": object()})


def test_memo_computes_once(c):
    calls = []

    def compute():
        calls.append(1)
        return {"n": len(calls)}

    assert c.memo("k", {"x": 1}, compute) == {"n": 1}
    assert c.memo("k", {"x": 1}, compute) == {"n": 1}
    assert c.memo("k", {"x": 2}, compute) == {"n": 2}
    assert len(calls) == 2 and c.stats.hits == 1 and c.stats.misses == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_payload", "bad_meta"])
def test_corrupt_entry_is_detected_deleted_and_recomputed(c, damage):
    value = {"x": np.arange(1000.0)}
    c.memo("arrays", {"n": 1000}, lambda: value)
    folder = c.entry_path("arrays", make_key({"n": 1000}))
    payload = folder / "arrays.npz"
    if damage == "truncate":
        payload.write_bytes(payload.read_bytes()[:100])
    elif damage == "flip":
        raw = bytearray(payload.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        payload.write_bytes(bytes(raw))
    elif damage == "delete_payload":
        payload.unlink()
    else:
        (folder / "meta.json").write_text("{not json")
    with pytest.warns(CacheWarning, match="unreadable"):
        assert c.get("arrays", make_key({"n": 1000})) is MISSING
    assert not folder.exists()
    got = c.memo("arrays", {"n": 1000}, lambda: {"x": np.arange(1000.0)})
    np.testing.assert_array_equal(got["x"], value["x"])
    assert c.stats.recomputed_corrupt == 1


def test_failed_compute_or_write_leaves_nothing_behind(c):
    def boom():
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        c.memo("k", {"x": 1}, boom)
    with pytest.raises(ValueError, match="cannot cache"):
        c.put("k", make_key({"x": 2}), {"obj": object()})
    kind_dir = c.directory / "k"
    assert not kind_dir.exists() or list(kind_dir.iterdir()) == []
    assert c.info()["entries"].sum() == 0


def test_info_and_clear(c):
    c.memo("a", {"i": 1}, lambda: [1])
    c.memo("a", {"i": 2}, lambda: [2])
    c.memo("b", {"i": 1}, lambda: np.zeros(3))
    info = c.info().set_index("kind")
    assert info.loc["a", "entries"] == 2 and info.loc["b", "entries"] == 1 and info["bytes"].min() > 0
    assert c.clear("a") == 2 and list(c.info()["kind"]) == ["b"]
    assert c.clear() == 1 and c.info().empty


def test_unwritable_folder_is_a_clear_oserror(tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("x")
        target = blocker / "cache"  # a folder inside a regular file cannot exist, even for root
    else:
        target = tmp_path / "ro"
        target.mkdir(mode=0o500)
    with pytest.raises(OSError, match="cannot be written.*TOPOKIT_CACHE"):
        Cache(target)


def test_bad_kind_and_key(c):
    with pytest.raises(ValueError, match="kind"):
        c.get("Bad Kind", make_key({}))
    with pytest.raises(ValueError, match="hex digest"):
        c.get("k", "../../etc")


def test_default_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOKIT_CACHE", str(tmp_path / "env-cache"))
    assert Cache().directory == tmp_path / "env-cache"


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = atomic_write_text(tmp_path / "f.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    assert json.loads(atomic_write_text(tmp_path / "g.json", "[1]").read_text()) == [1]


# --------------------------------------------------------------------------- the cache owns only what it wrote
def _tree(root: Path) -> dict:
    """Every path under ``root`` (links not followed) with its file contents, for before/after checks."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link->" + os.readlink(p)
            elif p.is_file():
                out[rel] = p.read_bytes()
            else:
                out[rel] = "dir"
    return out


def _not_a_cache(tmp_path) -> Path:
    """A project-like folder: .git, hidden folders, files, folders named like a kind and an entry."""
    folder = tmp_path / "project"
    (folder / ".git" / "objects").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / ".venv").mkdir()
    (folder / "topokit").mkdir()
    (folder / "topokit" / "__init__.py").write_text("# code\n")
    (folder / "README.md").write_text("# readme\n")
    (folder / "sweep-run").mkdir()
    (folder / "sweep-run" / "notes.txt").write_text("mine\n")
    (folder / "claim" / ("ab" * 16)).mkdir(parents=True)
    (folder / "claim" / ("ab" * 16) / "data.csv").write_text("1,2\n")
    return folder


def test_a_folder_that_is_not_a_cache_is_refused_and_untouched(tmp_path):
    folder = _not_a_cache(tmp_path)
    before = _tree(folder)
    with pytest.raises(NotACacheError, match=re.escape(str(folder)) + ".*not a topokit cache.*TOPOKIT_CACHE"):
        Cache(folder)
    with pytest.raises(OSError):  # also an OSError (and a ValueError) for callers catching those
        Cache(folder)
    assert _tree(folder) == before and not (folder / ".topokit-cache.json").exists()


def test_environment_pointing_at_a_non_cache_is_refused(tmp_path, monkeypatch):
    folder = _not_a_cache(tmp_path)
    before = _tree(folder)
    monkeypatch.setenv("TOPOKIT_CACHE", str(folder))
    with pytest.raises(NotACacheError, match="not a topokit cache"):
        Cache()
    assert _tree(folder) == before


@pytest.mark.parametrize("damage", ["edited", "garbage", "newer", "link"])
def test_a_damaged_or_hand_made_marker_is_refused(tmp_path, c, damage):
    c.memo("a", {"i": 1}, lambda: [1])
    marker = c.directory / ".topokit-cache.json"
    fields = json.loads(marker.read_text())
    if damage == "edited":
        marker.write_text(json.dumps({**fields, "created": "2000-01-01T00:00:00"}))
    elif damage == "garbage":
        marker.write_text("{")
    elif damage == "newer":
        marker.write_text(json.dumps({**fields, "version": 99}))
    else:
        real = tmp_path / "elsewhere.json"
        real.write_text(marker.read_text())
        marker.unlink()
        marker.symlink_to(real)
    before = _tree(c.directory)
    expected = {"edited": "damaged", "garbage": "damaged", "newer": "newer topokit", "link": "not a regular file"}
    with pytest.raises(NotACacheError, match=expected[damage]):
        Cache(c.directory)
    assert _tree(c.directory) == before


def test_new_or_empty_folder_is_marked_and_files_or_the_package_are_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    Cache(empty)
    Cache(tmp_path / "new" / "deeper")
    for folder in (empty, tmp_path / "new" / "deeper"):
        assert [p.name for p in folder.iterdir()] == [".topokit-cache.json"]
        assert json.loads((folder / ".topokit-cache.json").read_text())["format"] == "topokit-cache"
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotACacheError, match="is a file"):
        Cache(tmp_path / "file")
    with pytest.raises(NotACacheError, match="inside the topokit package"):
        Cache(PROJECT_ROOT / "topokit" / "no-such-cache")
    assert not (PROJECT_ROOT / "topokit" / "no-such-cache").exists()


def _legacy(tmp_path) -> Path:
    """A cache as an older topokit wrote it: entries and a temporary folder, no marker."""
    c = Cache(tmp_path / "legacy")
    c.memo("a", {"i": 1}, lambda: [1])
    c.memo("b", {"i": 2}, lambda: np.arange(3.0))
    key = make_key({"i": 1})
    (c.directory / "a" / f".{key}.tmp123").mkdir()
    (c.directory / ".topokit-cache.json").unlink()
    return c.directory


def test_a_legacy_cache_is_adopted_without_deleting_anything(tmp_path):
    folder = _legacy(tmp_path)
    before = _tree(folder)
    c = Cache(folder)
    after = _tree(folder)
    assert set(after) - set(before) == {".topokit-cache.json"} and all(after[k] == v for k, v in before.items())
    assert c.memo("a", {"i": 1}, lambda: pytest.fail("recomputed")) == [1] and c.stats.hits == 1
    assert list(c.info()["entries"]) == [1, 1]


@pytest.mark.parametrize("stray", ["file", "unknown-kind", "entry-without-meta", "meta-of-another-kind"])
def test_an_unmarked_folder_that_is_not_all_legacy_entries_is_refused(tmp_path, stray):
    folder = _legacy(tmp_path)
    key = make_key({"i": 1})
    if stray == "file":
        (folder / "notes.txt").write_text("mine")
    elif stray == "unknown-kind":
        (folder / "photos").mkdir()
    elif stray == "entry-without-meta":
        (folder / "a" / ("cd" * 16)).mkdir()
    else:
        meta = folder / "a" / key / "meta.json"
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "kind": "b"}))
    before = _tree(folder)
    with pytest.raises(NotACacheError, match="did not write"):
        Cache(folder)
    assert _tree(folder) == before


def test_clear_refuses_a_non_cache_through_the_api(tmp_path):
    folder = _not_a_cache(tmp_path)
    before = _tree(folder)
    for kind in (None, "sweep-run", "claim"):
        with pytest.raises(NotACacheError):
            Cache(folder).clear(kind)
    assert _tree(folder) == before


def test_clear_removes_only_verified_entries_and_reports_them_exactly(c, tmp_path):
    c.memo("a", {"i": 1}, lambda: [1])
    c.memo("a", {"i": 2}, lambda: {"x": "y" * 1000})
    c.memo("b", {"i": 1}, lambda: np.zeros(300))
    expected = sum(f.stat().st_size for kind in ("a", "b") for e in (c.directory / kind).iterdir()
                   for f in e.iterdir())
    d = c.directory
    (d / "notes.txt").write_text("keep me")
    (d / ".hidden").mkdir()
    (d / ".hidden" / "x").write_text("keep")
    (d / "photos").mkdir()
    (d / "b" / ("ef" * 16)).mkdir()                       # named like an entry, no meta.json
    (d / "b" / "readme.txt").write_text("keep")
    extra = d / "a" / make_key({"i": 1})
    c.memo("a", {"i": 3}, lambda: [3])                    # an entry holding a file topokit did not write: kept
    (d / "a" / make_key({"i": 3}) / "mine.txt").write_text("keep")
    stale = d / "a" / f".{make_key({'i': 1})}.abc"
    stale.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = d / "a" / f".{make_key({'i': 2})}.def"       # a write in progress elsewhere
    fresh.mkdir()
    removed = tuple(f"{kind}/{make_key({'i': i})}" for kind, i in (("a", 1), ("a", 2), ("b", 1))) + (
        f"a/.{make_key({'i': 1})}.abc",)
    keep = {k: v for k, v in _tree(d).items() if not k.startswith(removed)}
    result = c.clear()
    assert isinstance(result, ClearResult) and result == 3 and int(result) == 3
    assert (result.entries, result.bytes, result.temporary) == (3, expected, 1)
    assert extra.parent.exists() and not extra.exists()
    skipped = dict(result.skipped)
    assert set(skipped) == {"notes.txt", ".hidden", "photos", f"b/{'ef' * 16}", "b/readme.txt",
                            f"a/{make_key({'i': 3})}"}
    assert "not a cache kind" in skipped["photos"] and "did not write: mine.txt" in skipped[f"a/{make_key({'i': 3})}"]
    assert _tree(d) == keep and fresh.exists() and ".hidden/x" in keep and "notes.txt" in keep
    assert result.summary() == f"removed 3 entries ({expected / 1e6:.2f} MB) from {d}"


def test_clear_one_kind_removes_its_empty_folder_and_nothing_else(c):
    c.memo("a", {"i": 1}, lambda: [1])
    c.memo("b", {"i": 1}, lambda: [2])
    size = sum(f.stat().st_size for f in (c.directory / "a" / make_key({"i": 1})).iterdir())
    result = c.clear("a")
    assert (result.entries, result.bytes, result.kind, result.skipped) == (1, size, "a", [])
    assert not (c.directory / "a").exists() and c.memo("b", {"i": 1}, lambda: pytest.fail("gone")) == [2]
    assert "of kind a" in result.summary()


def test_unknown_kinds_are_refused_everywhere(c):
    for call in (lambda: c.clear("bogus"), lambda: c.get("sweep-runs", make_key({})),
                 lambda: c.put("bogus", make_key({}), [1]), lambda: c.memo("bogus", {}, lambda: [1])):
        with pytest.raises(InvalidParameterError, match="cache kind must be one of.*'sweep-run'"):
            call()
    with pytest.raises(InvalidParameterError, match="did you mean 'sweep-run'"):
        c.clear("sweep-runs")
    with pytest.raises(InvalidParameterError, match="lower-case"):
        register_kind("Bad Kind")
    assert not any(p.name != ".topokit-cache.json" for p in c.directory.iterdir())


def _kinds_in_source() -> dict:
    """Every literal kind passed to a cache's get/put/memo in the package and the notebooks."""
    call = re.compile(r"(?:\b\w*cache\w*|Cache\([^()]*\))\s*\.\s*(?:get|put|memo)\(\s*[\"']([a-z0-9][a-z0-9_-]*)[\"']",
                      re.IGNORECASE)
    found = {}
    for path in sorted((PROJECT_ROOT / "topokit").rglob("*.py")):
        for kind in call.findall(path.read_text(encoding="utf-8")):
            found.setdefault(kind, path.name)
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        for kind in call.findall(text):
            found.setdefault(kind, path.name)
    return found


def test_every_kind_the_package_and_notebooks_use_is_registered():
    found = _kinds_in_source()
    found.pop("example", None)  # cache.py's own doctest registers it
    assert {"claim", "sweep-run", "sweep-model", "prune-scores", "layer-betti"} <= set(found)  # the scan works
    missing = {k: where for k, where in found.items() if k not in cache_mod.KINDS}
    assert not missing, f"add these kinds to topokit.cache.KINDS: {missing}"


def test_swapped_entries_are_misses_and_recomputed(c):
    calls = []

    def compute(i):
        calls.append(i)
        return {"i": i}

    c.memo("a", {"i": 1}, lambda: compute(1))
    c.memo("a", {"i": 2}, lambda: compute(2))
    one, two = (c.entry_path("a", make_key({"i": i})) for i in (1, 2))
    one.rename(one.with_name("swap"))
    two.rename(one)
    one.with_name("swap").rename(two)
    with pytest.warns(CacheWarning, match="holds the entry a/"):
        assert c.get("a", make_key({"i": 1})) is MISSING
    with pytest.warns(CacheWarning, match="not used and will be recomputed"):
        assert c.memo("a", {"i": 1}, lambda: compute(1)) == {"i": 1}
    with pytest.warns(CacheWarning):
        assert c.memo("a", {"i": 2}, lambda: compute(2)) == {"i": 2}
    assert calls == [1, 2, 1, 2] and c.stats.hits == 0
    assert [c.memo("a", {"i": i}, lambda: compute(9)) for i in (1, 2)] == [{"i": 1}, {"i": 2}]  # hits now


def test_an_entry_stored_for_another_configuration_is_a_miss(c):
    key = make_key({"i": 1})
    c.put("a", key, [1], config={"i": 2})
    with pytest.warns(CacheWarning, match="another configuration"):
        assert c.get("a", key, config={"i": 1}) is MISSING
    assert c.get("a", key) == [1] and c.get("a", key, config={"i": 2}) == [1]
    assert c.entry_path("a", key).exists()  # left for put to replace, not deleted


def test_a_symlinked_entry_is_never_followed(c, tmp_path):
    other = Cache(tmp_path / "other")
    key = make_key({"i": 1})
    other.put("a", key, [42], config={"i": 1})
    target = other.entry_path("a", key)
    before = _tree(other.directory)
    c.memo("a", {"i": 0}, lambda: [0])
    link = c.directory / "a" / key
    link.symlink_to(target, target_is_directory=True)
    with pytest.warns(CacheWarning, match="symbolic link"):
        assert c.get("a", key) is MISSING
    result = c.clear("a")
    assert result == 1 and dict(result.skipped) == {f"a/{key}": "is a symbolic link (not followed)"}
    assert link.is_symlink() and _tree(other.directory) == before
    with pytest.warns(CacheWarning, match="symbolic link"):
        assert c.memo("a", {"i": 1}, lambda: [1]) == [1]  # recomputed; put replaces the link itself
    assert not link.is_symlink() and link.is_dir() and _tree(other.directory) == before
    assert c.get("a", key, config={"i": 1}) == [1]


def test_a_symlinked_kind_folder_is_never_followed(c, tmp_path):
    other = Cache(tmp_path / "other")
    other.memo("a", {"i": 1}, lambda: [42])
    before = _tree(other.directory)
    (c.directory / "a").symlink_to(other.directory / "a", target_is_directory=True)
    with pytest.warns(CacheWarning, match="symbolic link"):
        assert c.get("a", make_key({"i": 1})) is MISSING
    with pytest.raises(OSError, match="symbolic link"):
        c.put("a", make_key({"i": 1}), [1])
    with pytest.warns(CacheWarning), pytest.raises(OSError, match="symbolic link"):
        c.memo("a", {"i": 1}, lambda: pytest.fail("computed although it cannot be stored"))
    result = c.clear()
    assert result == 0 and dict(result.skipped) == {"a": "is a symbolic link (not followed)"}
    assert c.info().empty and (c.directory / "a").is_symlink() and _tree(other.directory) == before


def _chmod_stops_writes(folder: Path) -> bool:
    probe = folder / "probe"
    probe.mkdir(mode=0o555)
    try:
        (probe / "x").write_text("x")
        return False
    except PermissionError:
        return True
    finally:
        os.chmod(probe, 0o755)
        shutil.rmtree(probe)


def _read_only(c, monkeypatch, real: bool):
    if real:
        os.chmod(c.directory, 0o555)
    else:  # root writes through chmod: simulate what the probe would see
        monkeypatch.setattr(cache_mod, "_write_problem", lambda d: "Permission denied")


@pytest.mark.parametrize("real", [True, False])
def test_a_read_only_cache_is_read_but_not_written(c, monkeypatch, real, tmp_path):
    if real and not _chmod_stops_writes(tmp_path):
        pytest.skip("this process (root) writes into read-only folders; the simulated case checks the same")
    c.memo("a", {"i": 1}, lambda: [1])
    before = _tree(c.directory)
    _read_only(c, monkeypatch, real)
    try:
        with pytest.warns(CacheWarning, match="read-only"):
            ro = Cache(c.directory)
        assert not ro.writable
        assert ro.memo("a", {"i": 1}, lambda: pytest.fail("recomputed")) == [1]
        with pytest.raises(OSError, match=re.escape(str(c.directory)) + ".*read-only.*TOPOKIT_CACHE"):
            ro.memo("a", {"i": 2}, lambda: pytest.fail("computed although it cannot be stored"))
        assert ro.memo("a", {"i": 2}, lambda: [2], required=False) == [2]  # an optional store: computed, unstored
        with pytest.raises(OSError, match="read-only"):
            ro.put("a", make_key({"i": 2}), [2])
        with pytest.raises(OSError, match="read-only"):
            ro.clear()
        assert list(ro.info()["entries"]) == [1] and _tree(c.directory) == before
    finally:
        os.chmod(c.directory, 0o755)


def test_a_read_only_empty_folder_cannot_become_a_cache(tmp_path, monkeypatch):
    def refuse(*args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache_mod, "atomic_write_text", refuse)
    (tmp_path / "ro").mkdir()
    with pytest.raises(OSError, match="cannot be written.*Permission denied.*TOPOKIT_CACHE"):
        Cache(tmp_path / "ro")


def test_default_folder_of_an_installed_copy_is_the_users_cache(tmp_path, monkeypatch):
    """In a checkout the default is data/cache; installed (no project around the package), never site-packages."""
    from topokit import cache as cache_module

    monkeypatch.delenv("TOPOKIT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_module.default_cache_dir() == cache_module.PROJECT_ROOT / "data" / "cache"
    monkeypatch.setattr(cache_module, "PROJECT_ROOT", tmp_path / "site-packages")
    assert cache_module.default_cache_dir() == tmp_path / "xdg" / "topokit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_module.default_cache_dir() == tmp_path / "home" / ".cache" / "topokit"
