"""On-disk cache of computed results, keyed by their configuration and the code that made them.

Sweeps, trained models, persistence diagrams and filter scores are expensive; a rerun, or a larger
sweep that contains a smaller one, should compute nothing twice. One entry is one result:

- its **key** is a hash of a configuration (a JSON-able mapping) and of the source code of the
  functions or modules that compute it (:func:`make_key`), so a change of either makes a new
  entry instead of returning a stale one;
- it lives in ``<cache dir>/<kind>/<key>/``: the payload plus ``meta.json``, which records the
  configuration, the payload's format and its sha256. The folder is written under a temporary
  name and renamed into place, so a reader never sees half an entry and an interrupted run
  leaves at worst a temporary folder that is ignored and cleaned up later;
- on reading, a missing, truncated or altered payload (its checksum does not match) is reported
  with a :class:`CacheWarning`, deleted and recomputed, never loaded.

Payload formats are chosen from the value, and none runs code when loaded: a pandas DataFrame is
stored as JSON (``orient="table"``, dtypes kept); a numpy array or a dict of arrays as ``.npz``
(``allow_pickle=False``); anything holding torch tensors (a state dict with its architecture,
say) with ``torch.save`` and read back with ``torch.load(weights_only=True)``; other JSON-able
values (dicts, lists, numbers, strings, None) as JSON, tuples coming back as lists.

The default folder is ``$TOPOKIT_CACHE``, else ``data/cache/`` in the project (ignored by git).
"""
from __future__ import annotations

import hashlib
import inspect
import io
import json
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

import numpy as np

from .fileio import PROJECT_ROOT, file_digest

__all__ = ["Cache", "CacheWarning", "MISSING", "code_version", "default_cache_dir", "make_key"]

_KIND = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_PAYLOAD = {"json": "value.json", "frame": "frame.json", "npz": "arrays.npz", "torch": "value.pt"}


class CacheWarning(UserWarning):
    """A cache entry was unreadable (corrupt, truncated or altered) and will be recomputed."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: Returned by :meth:`Cache.get` when there is no valid entry.
MISSING = _Missing()


def default_cache_dir() -> Path:
    """``$TOPOKIT_CACHE`` if set, else ``data/cache`` in the project."""
    env = os.environ.get("TOPOKIT_CACHE", "").strip()
    return Path(env).expanduser() if env else PROJECT_ROOT / "data" / "cache"


def _source(obj) -> str:
    if isinstance(obj, str):
        return obj
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError) as exc:
        raise ValueError(
            f"cannot read the source code of {obj!r} to version the cache; pass modules, functions "
            "or classes defined in files, or a version string"
        ) from exc


def code_version(*objects) -> str:
    """A short hash of the source code of modules, functions or classes (or version strings).

    Any edit to one of them changes the hash, and with it every cache key that includes it.
    """
    h = hashlib.sha256()
    for obj in objects:
        h.update(_source(obj).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def _canonical(value):
    """Plain JSON types for hashing: tuples become lists, numpy scalars Python numbers, paths str."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        return _canonical(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(
        f"cache configurations must hold JSON-like values (dicts, lists, numbers, strings, None); "
        f"got {type(value).__name__}: {value!r}. Describe it by its parameters instead"
    )


def make_key(config: Mapping, code: Iterable = ()) -> str:
    """Hash of a configuration and of the code that computes it (see :func:`code_version`)."""
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a mapping of parameters, got {type(config).__name__}")
    blob = json.dumps({"config": _canonical(config), "code": code_version(*code)}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def _has_tensor(value) -> bool:
    import torch

    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, Mapping):
        return any(_has_tensor(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_tensor(v) for v in value)
    return False


def _format_of(value) -> str:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return "frame"
    if isinstance(value, np.ndarray) or (
            isinstance(value, Mapping) and value and all(isinstance(v, np.ndarray) for v in value.values())):
        return "npz"
    if _has_tensor(value):
        return "torch"
    return "json"


def _write_payload(path: Path, fmt: str, value) -> None:
    if fmt == "frame":
        path.write_text(value.to_json(orient="table", index=False, double_precision=15), encoding="utf-8")
    elif fmt == "npz":
        arrays = {"__array__": value} if isinstance(value, np.ndarray) else {str(k): v for k, v in value.items()}
        if any(a.dtype == object for a in arrays.values()):
            raise ValueError("cannot cache numpy arrays of dtype object (they would need pickle)")
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    elif fmt == "torch":
        import torch

        torch.save(value, path)
    else:
        try:
            text = json.dumps(value)
        except TypeError as exc:
            raise ValueError(
                f"cannot cache a {type(value).__name__}: store a DataFrame, numpy arrays, a dict holding "
                "torch tensors, or JSON-like values (dicts, lists, numbers, strings, None)"
            ) from exc
        path.write_text(text, encoding="utf-8")


def _read_payload(path: Path, fmt: str):
    if fmt == "frame":
        import pandas as pd

        return pd.read_json(io.StringIO(path.read_text(encoding="utf-8")), orient="table")
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        return arrays["__array__"] if list(arrays) == ["__array__"] else arrays
    if fmt == "torch":
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class _Stats:
    hits: int = 0
    misses: int = 0
    recomputed_corrupt: int = 0


class Cache:
    """A folder of cached results.

    Parameters
    ----------
    directory : path, optional
        Where entries live; default :func:`default_cache_dir`. Created if needed; a folder that
        cannot be written raises ``OSError`` naming it, before any work.

    Attributes
    ----------
    stats : counters ``hits``, ``misses`` and ``recomputed_corrupt`` since this object was made.

    Examples
    --------
    >>> from topokit.cache import Cache
    >>> c = Cache("/tmp/topokit-cache-example")
    >>> c.memo("example", {"n": 3}, lambda: {"squares": [0, 1, 4]})
    {'squares': [0, 1, 4]}
    """

    def __init__(self, directory: Path | str | None = None):
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()
        self.stats = _Stats()
        self._check_writable()

    def __repr__(self) -> str:
        return f"Cache({str(self.directory)!r})"

    def _check_writable(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.directory, prefix=".probe.")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise OSError(
                f"the cache folder {self.directory} cannot be written ({exc.strerror or exc}); pass a "
                "writable folder (cache_dir=...) or set TOPOKIT_CACHE to one"
            ) from exc

    # ------------------------------------------------------------------ entries
    def entry_path(self, kind: str, key: str) -> Path:
        """The folder of one entry."""
        if not isinstance(kind, str) or not _KIND.match(kind):
            raise ValueError(f"cache kind must be lower-case letters, digits, '-' or '_', got {kind!r}")
        if not isinstance(key, str) or not re.fullmatch(r"[0-9a-f]{8,64}", key):
            raise ValueError(f"cache key must be a hex digest from make_key, got {key!r}")
        return self.directory / kind / key

    def get(self, kind: str, key: str):
        """The cached value, or :data:`MISSING` when absent or unreadable (then it is deleted)."""
        folder = self.entry_path(kind, key)
        meta_path = folder / "meta.json"
        if not meta_path.exists():
            return MISSING
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            payload = folder / _PAYLOAD[meta["format"]]
            if file_digest(payload) != meta["sha256"]:
                raise ValueError("checksum mismatch")
            return _read_payload(payload, meta["format"])
        except Exception as exc:  # noqa: BLE001 - any unreadable entry is recomputed, never trusted
            warnings.warn(f"cache entry {kind}/{key} is unreadable ({exc}); it is deleted and will be "
                          "recomputed", CacheWarning, stacklevel=2)
            self.stats.recomputed_corrupt += 1
            shutil.rmtree(folder, ignore_errors=True)
            return MISSING

    def put(self, kind: str, key: str, value, config: Optional[Mapping] = None):
        """Store ``value`` atomically under (kind, key) and return it."""
        folder = self.entry_path(kind, key)
        fmt = _format_of(value)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{key}."))
        try:
            payload = tmp / _PAYLOAD[fmt]
            _write_payload(payload, fmt, value)
            meta = {"kind": kind, "key": key, "format": fmt, "sha256": file_digest(payload),
                    "bytes": payload.stat().st_size, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "config": _canonical(config) if config is not None else None}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
            os.chmod(tmp, 0o755)
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return value

    def memo(self, kind: str, config: Mapping, compute: Callable[[], Any], code: Iterable = ()):
        """``compute()`` once per (kind, config, code); later calls load the stored result."""
        key = make_key(config, code)
        value = self.get(kind, key)
        if value is not MISSING:
            self.stats.hits += 1
            return value
        self.stats.misses += 1
        return self.put(kind, key, compute(), config=config)

    # ------------------------------------------------------------------ housekeeping
    def info(self):
        """A DataFrame with one row per kind: ``kind, entries, bytes``."""
        import pandas as pd

        rows = []
        if self.directory.exists():
            for sub in sorted(p for p in self.directory.iterdir() if p.is_dir() and _KIND.match(p.name)):
                entries = [e for e in sub.iterdir() if e.is_dir() and not e.name.startswith(".")]
                size = sum(f.stat().st_size for e in entries for f in e.iterdir() if f.is_file())
                rows.append({"kind": sub.name, "entries": len(entries), "bytes": size})
        return pd.DataFrame(rows, columns=["kind", "entries", "bytes"])

    def clear(self, kind: Optional[str] = None) -> int:
        """Delete every entry (or those of one kind); returns how many were removed."""
        if kind is not None and not _KIND.match(str(kind)):
            raise ValueError(f"unknown cache kind {kind!r}")
        if not self.directory.exists():
            return 0
        kinds = [self.directory / kind] if kind else [p for p in self.directory.iterdir() if p.is_dir()]
        removed = 0
        for sub in kinds:
            if sub.is_dir():
                removed += sum(1 for e in sub.iterdir() if e.is_dir() and not e.name.startswith("."))
                shutil.rmtree(sub)
        return removed
