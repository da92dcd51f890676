"""The on-disk cache: round trips per format, keys, corruption detection, atomicity, housekeeping."""
import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

from topokit import cache as cache_mod
from topokit.cache import MISSING, Cache, CacheWarning, make_key
from topokit.fileio import atomic_path, atomic_write_text


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
