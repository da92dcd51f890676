"""On-disk cache of computed results, keyed by their configuration and the code that made them.

Sweeps, trained models, persistence diagrams and filter scores are expensive; a rerun, or a larger
sweep that contains a smaller one, should compute nothing twice. One entry is one result:

- its **kind** is one of the names in :data:`KINDS` (``"sweep-run"``, ``"prune-scores"``,
  ``"claim"`` ...); any other name is refused, so a typo can neither create nor clear a stray
  folder (code outside topokit adds its own kinds with :func:`register_kind`);
- its **key** is a hash of a configuration (a JSON-able mapping) and of the source code of the
  functions or modules that compute it (:func:`make_key`), so a change of either makes a new
  entry instead of returning a stale one;
- it lives in ``<cache dir>/<kind>/<key>/``: the payload plus ``meta.json``, which records the
  kind, the key, the configuration, the payload's format and its sha256. The folder is written
  under a temporary name (``.<key>.*``) and renamed into place, so a reader never sees half an
  entry and an interrupted run leaves at worst a temporary folder that is ignored and cleaned up
  later;
- on reading, an entry is checked against what it is read for: ``meta.json`` must name the same
  kind and key as its folder and (when the caller passes it; :meth:`Cache.memo` always does) the
  same configuration, otherwise it is a miss with a :class:`CacheWarning` (folders moved or
  swapped by hand are recomputed, never returned for another configuration). A missing,
  truncated or altered payload (its checksum does not match) is reported the same way, deleted
  and recomputed, never loaded.

**The cache owns only what it wrote.** A cache folder is marked by ``.topokit-cache.json`` (format
name, version, creation time and a sha256 of those, so a hand-made or damaged marker is detected),
written when topokit creates the cache in a new or empty folder. :class:`Cache` refuses, with a
:class:`NotACacheError` naming the folder, any existing non-empty folder without a valid marker
(the project root, a home folder, a mistyped ``TOPOKIT_CACHE``), for reading, writing,
:meth:`Cache.info` and :meth:`Cache.clear` alike. A folder written by a topokit that predates the
marker is recognised (every item in it is a kind folder of :data:`KINDS` holding only entry
folders whose ``meta.json`` names that kind and key, plus temporary ``.<key>.*`` folders) and
adopted: the marker is written, nothing is deleted. Inside a marked folder topokit never follows
a symbolic link (a linked kind folder or entry is a miss with a warning for :meth:`Cache.get`,
refused by :meth:`Cache.put`, skipped and reported by :meth:`Cache.clear`; the link's target is
never read, written or deleted), and :meth:`Cache.clear` deletes only entries it verifies, its own
stale temporary folders, and kind folders it has emptied; it reports everything else it left.

**Read-only caches** (a shared or archived folder) can be read: ``Cache(folder)`` on a marked
folder that cannot be written warns once (:class:`CacheWarning`) and serves hits; storing an
entry (:meth:`Cache.put`, or :meth:`Cache.memo` on a miss, *before* it computes anything) and
:meth:`Cache.clear` raise ``OSError`` naming the folder. Code that is about to compute many
entries can call :meth:`Cache.require_writable` first. A new folder that cannot be created, or
an empty one that cannot be marked, raises ``OSError`` at once.

Payload formats are chosen from the value, and none runs code when loaded: a pandas DataFrame is
stored as JSON (``orient="table"``, dtypes kept); a numpy array or a dict of arrays as ``.npz``
(``allow_pickle=False``); anything holding torch tensors (a state dict with its architecture,
say) with ``torch.save`` and read back with ``torch.load(weights_only=True)``; other JSON-able
values (dicts, lists, numbers, strings, None) as JSON, tuples coming back as lists.

The default folder is ``$TOPOKIT_CACHE``, else ``data/cache/`` in the project (ignored by git).
"""
from __future__ import annotations

import errno
import hashlib
import inspect
import io
import json
import math
import numbers
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
import warnings
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

import numpy as np

from ._checks import InvalidParameterError, choice
from .fileio import PROJECT_ROOT, atomic_write_text, file_digest

__all__ = ["Cache", "CacheWarning", "ClearResult", "KINDS", "MISSING", "NotACacheError", "code_version",
           "default_cache_dir", "make_key", "register_kind"]

_KIND = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_KEY = re.compile(r"^[0-9a-f]{8,64}$")
_TEMP = re.compile(r"^\.[0-9a-f]{8,64}\.")  # put's temporary folders and entries being replaced or deleted
_PAYLOAD = {"json": "value.json", "frame": "frame.json", "npz": "arrays.npz", "torch": "value.pt"}
_MARKER = ".topokit-cache.json"
_MARKER_FORMAT = "topokit-cache"
_MARKER_VERSION = 1
_STALE_SECONDS = 3600  # a temporary folder older than this is left over from an interrupted run

#: Every kind of entry topokit stores, with what it holds. :meth:`Cache.get`, :meth:`Cache.put`,
#: :meth:`Cache.memo` and :meth:`Cache.clear` refuse any other name; add one with
#: :func:`register_kind`.
KINDS: dict[str, str] = {
    "activation-study": "notebook 03's derived tables (comparisons, winner stability) keyed by a digest of their runs",
    "byom-betti": "per-block Betti numbers of notebook 06's ResNet (topokit.studies.byom)",
    "byom-model": "notebook 06's trained ResNet-20, as architecture and state dict",
    "byom-table": "notebook 06's pruning table: every method and fraction, fine-tuned and measured",
    "claim": "a notebook's measured outcome of one claim of the paper (topokit.report)",
    "claim-part": "a part of a claim's report section: its robustness or its Betti ladder (topokit.report)",
    "data-images": "decoded images of a data set (topokit.data), keyed by the source files' path, size and mtime",
    "figure": "the files of a figure drawn by topokit.plotting.draw (PNG, PDF), keyed by the plot function's code, "
              "its arguments' content, the formats and matplotlib's settings",
    "ladder-derived": "the Betti ladder's summary rows (speed-ups with bootstrap intervals) and rung sizes, keyed by "
                      "a digest of its runs (topokit.studies.ladder)",
    "ladder-run": "one evaluation run of a tuned recipe on a rung of the Betti ladder (topokit.studies.ladder)",
    "ladder-trial": "one search trial's run on a rung of the Betti ladder (topokit.studies.ladder)",
    "layer-betti": "per-layer Betti numbers of one trained net (notebook 02)",
    "naitzat-specs": "notebook 02's specification curves: both Naitzat claims' verdicts per k, hops and last layer",
    "notebook-cell": "a notebook's own computation (diagrams and Betti numbers of the primer's clouds, the "
                     "explorer's frames), keyed by a digest of its input points and its parameters",
    "prune-curves": "accuracy after pruning, per method and fraction (topokit.pruning.study)",
    "prune-judge": "which test images a pruned (fine-tuned) CNN and its comparator get right (notebook 04's verdicts)",
    "prune-model": "a CNN trained for the pruning study, as architecture and state dict",
    "prune-scores": "per-filter scores of one pruning method",
    "prune-sizes": "accuracy of the CNN pruned to each size",
    "prune-sweep": "Betti numbers of feature maps over point counts and scale factors (betti_sweep)",
    "prune-table": "the pruning study's summary table",
    "sweep-model": "the trained net of one sweep run",
    "sweep-record": "one run's per-layer topology recorded during training (record_topology)",
    "sweep-run": "one training run of a sweep: its history and metrics",
    "sweep-table": "a sweep's table, keyed by its runs' keys, so that a warm rerun reads one entry (topokit.sweeps)",
    "sweep-topology": "per-layer Betti numbers of one sweep run's net (sweep_topology)",
}


def register_kind(name: str, description: str = "") -> str:
    """Allow a new kind of cache entry (for code outside topokit, and for tests); returns ``name``.

    Parameters
    ----------
    name : str
        Lower-case letters, digits, ``-`` and ``_``, starting with a letter or digit.
    description : str, optional
        What its entries hold (shown nowhere but :data:`KINDS`).

    Examples
    --------
    >>> from topokit.cache import KINDS, register_kind
    >>> register_kind("example", "a doctest's toy result")
    'example'
    >>> "example" in KINDS
    True
    """
    if not isinstance(name, str) or not _KIND.match(name):
        raise InvalidParameterError(
            f"a cache kind must be lower-case letters, digits, '-' or '_' (starting with a letter or digit), "
            f"got {name!r}")
    if not isinstance(description, str):
        raise InvalidParameterError(f"description must be a string, got {type(description).__name__}")
    KINDS.setdefault(name, description)
    return name


def _check_kind(kind) -> str:
    return choice(kind, "cache kind", sorted(KINDS),
                  fix="a new kind must first be added with topokit.cache.register_kind(name)")


class CacheWarning(UserWarning):
    """A cache entry was not used (unreadable, stored for another key or configuration, or a symbolic
    link), or the cache folder is read-only; the result is recomputed (or not stored)."""


class NotACacheError(OSError, ValueError):
    """The folder given as the cache is not one topokit made (no valid ``.topokit-cache.json``)."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: Returned by :meth:`Cache.get` when there is no valid entry.
MISSING = _Missing()


def default_cache_dir() -> Path:
    """``$TOPOKIT_CACHE`` if set; else ``data/cache`` in a source checkout of the project; else
    (an installed copy, where the folder above the package is site-packages) the user's cache
    folder, ``$XDG_CACHE_HOME/topokit`` or ``~/.cache/topokit``."""
    env = os.environ.get("TOPOKIT_CACHE", "").strip()
    if env:
        return Path(env).expanduser()
    if (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "notebooks").is_dir():
        return PROJECT_ROOT / "data" / "cache"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "topokit"


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


# ---------------------------------------------------------------------- the folder's marker
def _marker_digest(fields: Mapping) -> str:
    blob = json.dumps({k: fields[k] for k in ("format", "version", "created")}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _marker_text() -> str:
    fields = {"format": _MARKER_FORMAT, "version": _MARKER_VERSION,
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    return json.dumps({**fields, "sha256": _marker_digest(fields)}, indent=1) + "\n"


def _marker_problem(directory: Path) -> Optional[str]:
    """None when ``directory`` holds a valid marker, ``"absent"`` when none, else what is wrong."""
    path = directory / _MARKER
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "absent"
    if not stat.S_ISREG(st.st_mode):
        return f"{_MARKER} is not a regular file"
    try:
        if st.st_size > 4096:
            raise ValueError("too large")
        fields = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(fields, dict) or fields.get("format") != _MARKER_FORMAT:
            return f"{_MARKER} is not a topokit cache marker"
        version = fields.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version > _MARKER_VERSION:
            return (f"{_MARKER} was written by a newer topokit (cache format {version}, this one reads "
                    f"{_MARKER_VERSION}); upgrade topokit")
        if version != _MARKER_VERSION or fields.get("sha256") != _marker_digest(fields):
            raise ValueError("checksum mismatch")
    except (OSError, ValueError, KeyError, TypeError):
        return f"{_MARKER} is damaged or was not written by topokit (its checksum does not match)"
    return None


def _write_problem(directory: Path) -> Optional[str]:
    """None when a file can be created in ``directory``, else why not."""
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _lstat(path: Path):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _is_real_dir(path: Path) -> bool:
    st = _lstat(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def _read_meta(folder: Path) -> dict:
    """An entry's ``meta.json`` (a regular file, never a link), or ValueError/OSError saying why not."""
    path = folder / "meta.json"
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError("meta.json is not a regular file")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise ValueError("meta.json does not hold a mapping")
    return meta


def _verify_entry(kind_dir: Path, name: str) -> tuple[int, Optional[str]]:
    """(bytes, None) for a verified entry folder ``kind_dir/name``, else (0, why it is not one)."""
    folder = kind_dir / name
    st = _lstat(folder)
    if st is None:
        return 0, "vanished"
    if stat.S_ISLNK(st.st_mode):
        return 0, "is a symbolic link (not followed)"
    if not stat.S_ISDIR(st.st_mode):
        return 0, "is not a folder"
    if not _KEY.match(name):
        return 0, "is not named like a cache key"
    try:
        meta = _read_meta(folder)
    except (OSError, ValueError) as exc:
        return 0, f"has no readable meta.json ({exc.__class__.__name__})"
    if meta.get("kind") != kind_dir.name or meta.get("key") != name:
        return 0, f"its meta.json names {meta.get('kind')!s}/{meta.get('key')!s}"
    payload = _PAYLOAD.get(meta.get("format"))
    if payload is None:
        return 0, f"its meta.json names an unknown format {meta.get('format')!r}"
    try:
        names = set(os.listdir(folder))
    except OSError as exc:
        return 0, f"cannot be listed ({exc.strerror or exc})"
    if payload not in names:
        return 0, f"its payload {payload} is missing"
    extra = sorted(names - {"meta.json", payload})
    if extra:
        return 0, f"holds files topokit did not write: {', '.join(extra[:3])}"
    sizes = [_lstat(folder / n) for n in ("meta.json", payload)]
    if any(s is None or not stat.S_ISREG(s.st_mode) for s in sizes):
        return 0, f"its payload {payload} is not a regular file"
    return sum(s.st_size for s in sizes), None


#: The sub-folder where topokit._jit keeps numba's compiled kernels (not a kind of entry).
_NUMBA_DIR = "numba"


def _legacy_problem(directory: Path, names: list[str]) -> Optional[str]:
    """None when an unmarked folder is a cache of a topokit that predates the marker, else why not."""
    foreign = []
    for name in sorted(names):
        path = directory / name
        if name.startswith(".probe.") and (st := _lstat(path)) is not None and stat.S_ISREG(st.st_mode):
            continue  # an interrupted writability probe
        if name == _NUMBA_DIR and _is_real_dir(path):
            continue  # compiled kernels (topokit._jit) may have been saved before the marker existed
        if name not in KINDS or not _is_real_dir(path):
            foreign.append(name)
            continue
        try:
            children = sorted(os.listdir(path))
        except OSError:
            foreign.append(name)
            continue
        for child in children:
            if _TEMP.match(child) and _is_real_dir(path / child):
                continue
            if not (_KEY.match(child) and _is_real_dir(path / child)):
                foreign.append(f"{name}/{child}")
                break
            try:
                meta = _read_meta(path / child)
            except (OSError, ValueError):
                foreign.append(f"{name}/{child}")
                break
            if meta.get("kind") != name or meta.get("key") != child:
                foreign.append(f"{name}/{child}")
                break
    if not foreign:
        return None
    shown = ", ".join(repr(n) for n in foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
    return f"it holds {shown}, which topokit did not write"


def _discard(path: Path) -> None:
    """Remove a link, file or folder that topokit moved aside (a link is unlinked, never followed)."""
    st = _lstat(path)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)  # rmtree unlinks links inside, never follows them
    else:
        try:
            os.unlink(path)
        except OSError:
            pass


def _aside(folder: Path, what: str) -> Path:
    """A fresh temporary name beside an entry folder (matched by ``_TEMP``, so clear tidies it)."""
    return folder.parent / f".{folder.name}.{what}-{secrets.token_hex(4)}"


@dataclass
class _Stats:
    hits: int = 0
    misses: int = 0
    recomputed_corrupt: int = 0
    mismatched: int = 0


@dataclass(eq=False)
class ClearResult:
    """What :meth:`Cache.clear` removed, and what it left alone and why.

    Compares equal to an int by its number of entries (``cache.clear() == 3``), and converts with
    ``int(...)``, for code written when ``clear`` returned a count.

    Attributes
    ----------
    directory : Path
        The cache folder.
    kind : str or None
        The kind cleared, or None for all.
    entries, bytes : int
        Verified entries removed and the bytes their files held.
    temporary : int
        Stale temporary folders (``.<key>.*``, left by interrupted runs) removed.
    skipped : list of (str, str)
        Items (paths relative to the folder) left untouched, with the reason.
    """

    directory: Path
    kind: Optional[str] = None
    entries: int = 0
    bytes: int = 0
    temporary: int = 0
    skipped: list = field(default_factory=list)

    def __int__(self) -> int:
        return self.entries

    __index__ = __int__

    def __eq__(self, other) -> bool:
        if isinstance(other, numbers.Integral) and not isinstance(other, bool):
            return self.entries == int(other)
        if isinstance(other, ClearResult):
            return astuple(self) == astuple(other)
        return NotImplemented

    __hash__ = None  # mutable

    def summary(self) -> str:
        """``removed N entries (X MB) of kind K from DIR``."""
        return (f"removed {self.entries} entr{'y' if self.entries == 1 else 'ies'} ({self.bytes / 1e6:.2f} MB)"
                + (f" of kind {self.kind}" if self.kind else "") + f" from {self.directory}")


_WARNED_READ_ONLY: set = set()


class Cache:
    """A folder of cached results.

    Parameters
    ----------
    directory : path, optional
        Where entries live; default :func:`default_cache_dir`. A folder that does not exist, or an
        empty one, becomes a cache (it is created and marked); one that cannot be created or
        marked raises ``OSError`` naming it. An existing non-empty folder must be a cache topokit
        made (or one of an older topokit, which is adopted), else :class:`NotACacheError`. A
        marked folder that cannot be written is opened read-only, with a :class:`CacheWarning`.

    Attributes
    ----------
    stats : counters ``hits``, ``misses``, ``recomputed_corrupt`` and ``mismatched`` since this
        object was made.
    writable : bool
        Whether entries can be stored (see :meth:`require_writable`).

    Raises
    ------
    NotACacheError
        The folder holds things topokit did not write, or a damaged marker (also a ``ValueError``).
    OSError
        A new or empty folder cannot be created or marked.

    Examples
    --------
    >>> from topokit.cache import Cache, register_kind
    >>> register_kind("example", "a doctest's toy result")
    'example'
    >>> c = Cache("/tmp/topokit-cache-example")
    >>> c.memo("example", {"n": 3}, lambda: {"squares": [0, 1, 4]})
    {'squares': [0, 1, 4]}
    """

    def __init__(self, directory: Path | str | None = None):
        if directory is not None and not isinstance(directory, (str, os.PathLike)):
            raise InvalidParameterError(f"the cache folder must be a path, got {type(directory).__name__}")
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()
        self.stats = _Stats()
        self.writable = True
        self._read_only_reason = ""
        self._open()

    def __repr__(self) -> str:
        return f"Cache({str(self.directory)!r})"

    # ------------------------------------------------------------------ the folder
    def _unwritable(self, reason: str) -> OSError:
        return OSError(
            f"the cache folder {self.directory} cannot be written ({reason}); pass a writable folder "
            "(cache_dir=... or --dir) or set TOPOKIT_CACHE to one")

    def _not_a_cache(self, why: str) -> NotACacheError:
        return NotACacheError(
            f"{self.directory} is not a topokit cache: {why}. topokit reads, writes and deletes only in "
            f"folders it made (marked by {_MARKER}); point TOPOKIT_CACHE, --dir or cache_dir= at the "
            "cache folder (default data/cache in the project) or at a new or empty folder")

    def _open(self) -> None:
        d = self.directory
        package = PROJECT_ROOT / "topokit"
        resolved = d.resolve()
        if resolved == package or package in resolved.parents:
            raise self._not_a_cache("it is inside the topokit package, which the cache never writes into")
        try:
            st = d.stat()  # the root itself may be a link (data/cache -> a bigger disk)
        except FileNotFoundError:
            st = None
        except OSError as exc:  # e.g. a path through a regular file
            raise self._unwritable(exc.strerror or str(exc)) from exc
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise self._not_a_cache("it is a file, not a folder")
        if st is None:
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise self._unwritable(exc.strerror or str(exc)) from exc
        problem = _marker_problem(d)
        if problem is None:
            self._check_write_access()
            return
        if problem != "absent":
            raise self._not_a_cache(problem)
        try:
            names = [n for n in os.listdir(d) if not n.startswith(_MARKER + ".")]  # another process's marker
        except OSError as exc:
            raise self._unwritable(exc.strerror or str(exc)) from exc
        legacy = bool(names)
        if legacy:
            why = _legacy_problem(d, names)
            if why is not None:
                raise self._not_a_cache(f"it is not empty and has no {_MARKER} ({why})")
        try:
            atomic_write_text(d / _MARKER, _marker_text())
        except OSError as exc:
            if not legacy:
                raise self._unwritable(exc.strerror or str(exc)) from exc
            self._check_write_access()  # an old cache on a read-only disk: read it as it is

    def _check_write_access(self) -> None:
        reason = _write_problem(self.directory)
        if reason is None:
            return
        self.writable, self._read_only_reason = False, reason
        if str(self.directory) not in _WARNED_READ_ONLY:
            _WARNED_READ_ONLY.add(str(self.directory))
            warnings.warn(
                f"the cache folder {self.directory} is read-only ({reason}): cached results are read from "
                "it, but new ones cannot be stored; set TOPOKIT_CACHE (or pass cache_dir=/--dir) to a "
                "writable folder to store them", CacheWarning, stacklevel=3)

    def require_writable(self, kind: Optional[str] = None) -> None:
        """Raise ``OSError`` naming the folder unless entries (of ``kind``) can be stored there.

        Call it before computing many entries, so that a read-only cache fails before the work.
        """
        if not self.writable:
            raise OSError(
                f"the cache folder {self.directory} is read-only ({self._read_only_reason}); its entries can "
                "be read but nothing can be stored or removed there: set TOPOKIT_CACHE (or pass "
                "cache_dir=/--dir) to a writable folder")
        if kind is not None:
            kind_dir = self.directory / _check_kind(kind)
            st = _lstat(kind_dir)
            if st is not None and not stat.S_ISDIR(st.st_mode):
                raise OSError(
                    f"{kind_dir} is {'a symbolic link' if stat.S_ISLNK(st.st_mode) else 'not a folder'}; topokit "
                    "never writes through links or over files in its cache: remove it (the cache recreates "
                    "the folder) or point TOPOKIT_CACHE at another folder")

    # ------------------------------------------------------------------ entries
    def entry_path(self, kind: str, key: str) -> Path:
        """The folder of one entry (``kind`` must be in :data:`KINDS`, ``key`` from :func:`make_key`)."""
        kind = _check_kind(kind)
        if not isinstance(key, str) or not _KEY.match(key):
            raise InvalidParameterError(f"cache key must be a hex digest from make_key, got {key!r}")
        return self.directory / kind / key

    def _miss(self, kind: str, key: str, why: str) -> _Missing:
        warnings.warn(f"cache entry {kind}/{key} {why}; it is not used and will be recomputed",
                      CacheWarning, stacklevel=3)
        self.stats.mismatched += 1
        return MISSING

    def get(self, kind: str, key: str, config: Optional[Mapping] = None):
        """The cached value, or :data:`MISSING` when there is no valid entry for it.

        Parameters
        ----------
        kind, key : str
            What to read (see :meth:`entry_path`).
        config : mapping, optional
            The configuration the value is read for; when given, an entry stored for another one
            is a miss (:meth:`memo` always passes it).

        Notes
        -----
        An entry whose ``meta.json`` names another kind, key or configuration, or that is a
        symbolic link (or inside a linked kind folder), is a miss with a :class:`CacheWarning`
        and is left where it is (:meth:`put` replaces it). An unreadable one (truncated, altered,
        unparsable) is a miss with a warning and is deleted.
        """
        folder = self.entry_path(kind, key)
        expected = json.loads(json.dumps(_canonical(config))) if config is not None else None
        kind_st = _lstat(folder.parent)
        if kind_st is None:
            return MISSING
        if stat.S_ISLNK(kind_st.st_mode) or not stat.S_ISDIR(kind_st.st_mode):
            return self._miss(kind, key, f"is inside {folder.parent}, which is "
                              + ("a symbolic link (not followed)" if stat.S_ISLNK(kind_st.st_mode) else "not a folder"))
        st = _lstat(folder)
        if st is None:
            return MISSING
        if not stat.S_ISDIR(st.st_mode):
            return self._miss(kind, key, "is a symbolic link (not followed)" if stat.S_ISLNK(st.st_mode)
                              else "is not a folder")
        if _lstat(folder / "meta.json") is None:
            return MISSING
        try:
            meta = _read_meta(folder)
            if meta.get("kind") != kind or meta.get("key") != key:
                return self._miss(kind, key, f"holds the entry {meta.get('kind')}/{meta.get('key')} (moved or "
                                  "copied by hand?)")
            if expected is not None and meta.get("config") != expected:
                return self._miss(kind, key, "was stored for another configuration")
            payload = folder / _PAYLOAD[meta["format"]]
            pst = os.lstat(payload)
            if not stat.S_ISREG(pst.st_mode):
                raise ValueError(f"{payload.name} is not a regular file")
            if file_digest(payload) != meta["sha256"]:
                raise ValueError("checksum mismatch")
            return _read_payload(payload, meta["format"])
        except Exception as exc:  # noqa: BLE001 - any unreadable entry is recomputed, never trusted
            self.stats.recomputed_corrupt += 1
            if self.writable:
                warnings.warn(f"cache entry {kind}/{key} is unreadable ({exc}); it is deleted and will be "
                              "recomputed", CacheWarning, stacklevel=2)
                trash = _aside(folder, "del")
                try:
                    os.rename(folder, trash)
                except OSError:
                    pass
                _discard(trash)
            else:
                warnings.warn(f"cache entry {kind}/{key} is unreadable ({exc}); it is not used (the cache "
                              "folder is read-only)", CacheWarning, stacklevel=2)
            return MISSING

    def put(self, kind: str, key: str, value, config: Optional[Mapping] = None):
        """Store ``value`` under (kind, key) and return it.

        The entry is written under a temporary name and renamed into place, so a reader sees the
        old entry, no entry, or the new one, never half of one. An existing entry, or a symbolic
        link in its place, is moved aside and removed (a link is unlinked, its target untouched).
        Raises ``OSError`` naming the folder when the cache is read-only or the kind folder is a
        symbolic link.
        """
        folder = self.entry_path(kind, key)
        self.require_writable(kind)
        fmt = _format_of(value)
        stored_config = _canonical(config) if config is not None else None
        try:
            folder.parent.mkdir(exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{key}."))
        except OSError as exc:
            raise self._unwritable(exc.strerror or str(exc)) from exc
        try:
            payload = tmp / _PAYLOAD[fmt]
            _write_payload(payload, fmt, value)
            meta = {"kind": kind, "key": key, "format": fmt, "sha256": file_digest(payload),
                    "bytes": payload.stat().st_size, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "config": stored_config}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
            os.chmod(tmp, 0o755)
            self._install(tmp, folder)
        finally:
            if _lstat(tmp) is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        return value

    @staticmethod
    def _install(tmp: Path, folder: Path) -> None:
        try:
            os.rename(tmp, folder)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise
        trash = _aside(folder, "old")
        try:
            os.rename(folder, trash)  # renames a link itself, never its target
        except FileNotFoundError:
            pass
        try:
            os.rename(tmp, folder)
        except OSError as exc:  # another process stored the same key meanwhile: its value is as good
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        finally:
            _discard(trash)

    def memo(self, kind: str, config: Mapping, compute: Callable[[], Any], code: Iterable = (), *,
             required: bool = True):
        """``compute()`` once per (kind, config, code); later calls load the stored result.

        On a miss in a read-only cache, ``OSError`` is raised before ``compute`` runs. With
        ``required=False`` the store is an optimisation only: such a miss computes and returns the
        value unstored, and a store that fails (a full disk, a vanished folder) returns it too.
        """
        key = make_key(config, code)
        value = self.get(kind, key, config=config)
        if value is not MISSING:
            self.stats.hits += 1
            return value
        self.stats.misses += 1
        if required:
            self.require_writable(kind)
            return self.put(kind, key, compute(), config=config)
        value = compute()
        try:
            return self.put(kind, key, value, config=config)
        except OSError:
            return value

    # ------------------------------------------------------------------ housekeeping
    def _kind_dirs(self, kind: Optional[str], skipped: Optional[list] = None) -> list[Path]:
        """The real kind folders present (one kind, or all); others are added to ``skipped``."""
        if not self.directory.is_dir():
            return []
        found = []
        for name in sorted(os.listdir(self.directory)):
            if kind is not None and name != kind:
                continue
            path = self.directory / name
            if name == _MARKER or name.startswith((_MARKER + ".", ".probe.")):
                continue  # the marker, and files this class writes and removes itself
            st = _lstat(path)
            if st is None:
                continue
            if name not in KINDS:
                why = "is not a cache kind"
            elif stat.S_ISLNK(st.st_mode):
                why = "is a symbolic link (not followed)"
            elif not stat.S_ISDIR(st.st_mode):
                why = "is not a folder"
            else:
                found.append(path)
                continue
            if skipped is not None:
                skipped.append((name, why))
        return found

    def info(self):
        """A DataFrame with one row per kind folder: ``kind, entries, bytes`` of verified entries.

        Items that are not verified entries (see :meth:`clear`) are not counted.
        """
        import pandas as pd

        rows = []
        for kind_dir in self._kind_dirs(None):
            sizes = [_verify_entry(kind_dir, n) for n in sorted(os.listdir(kind_dir)) if not _TEMP.match(n)]
            ok = [size for size, why in sizes if why is None]
            rows.append({"kind": kind_dir.name, "entries": len(ok), "bytes": int(sum(ok))})
        return pd.DataFrame(rows, columns=["kind", "entries", "bytes"])

    def clear(self, kind: Optional[str] = None) -> ClearResult:
        """Delete the verified entries (of one kind, or all); report what was removed and skipped.

        An entry is deleted only when it is a real folder (not a link) named like a key, inside a
        real kind folder of :data:`KINDS`, holding just ``meta.json`` (naming that kind and key)
        and its payload. Temporary ``.<key>.*`` folders older than an hour (left by interrupted
        runs) are removed too, and a kind folder left empty. Anything else (stray files, unknown
        or hidden folders, links, entries that do not verify) is left untouched and listed in
        :attr:`ClearResult.skipped`.

        Returns
        -------
        ClearResult
            Equal to the number of entries removed when compared with an int.

        Raises
        ------
        InvalidParameterError
            ``kind`` is not in :data:`KINDS`.
        OSError
            The cache folder is read-only.
        """
        if kind is not None:
            kind = _check_kind(kind)
        self.require_writable()
        result = ClearResult(self.directory, kind)
        now = time.time()
        for kind_dir in self._kind_dirs(kind, result.skipped):
            for name in sorted(os.listdir(kind_dir)):
                path = kind_dir / name
                if _TEMP.match(name):
                    st = _lstat(path)
                    if st is not None and stat.S_ISDIR(st.st_mode):
                        if now - st.st_mtime > _STALE_SECONDS:
                            _discard(path)
                            result.temporary += 1
                        continue  # a write in progress elsewhere
                size, why = _verify_entry(kind_dir, name)
                if why is not None:
                    result.skipped.append((f"{kind_dir.name}/{name}", why))
                    continue
                trash = _aside(path, "del")
                try:
                    os.rename(path, trash)  # readers see the whole entry or none
                except OSError as exc:
                    result.skipped.append((f"{kind_dir.name}/{name}", f"cannot be removed ({exc.strerror or exc})"))
                    continue
                _discard(trash)
                result.entries += 1
                result.bytes += size
            try:
                os.rmdir(kind_dir)  # only if empty
            except OSError:
                pass
        return result
