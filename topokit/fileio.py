"""Where topokit writes, in which mode, and how: atomic file writing.

Shared by data downloads, figures, the cache and the pipeline.

**The run mode.** :func:`run_mode` is the one way to choose between ``"quick"`` (small sizes, a
check of the code path), ``"default"`` and ``"full"`` (paper scale): every notebook's first code
cell calls it and prints ``topokit mode: <mode>``. It reads ``TOPOKIT_QUICK`` and
``TOPOKIT_FULL`` (``1``/``0``, ``true``/``false``, ``yes``/``no``, ``on``/``off``; empty means
unset; anything else, or both on, is refused with a message naming the variables), and a reader's
``run_mode("quick")`` in a notebook wins over the environment for the rest of that Python session.
:func:`quick_mode` and :func:`full_mode` answer from the same source.

**Atomic writes.** A reader never sees a half-written file, and a failed write leaves the earlier
file intact: every writer goes through :func:`atomic_path`, which hands out a temporary name beside
the target and renames it over the target only when the block succeeds. This module imports
nothing from the rest of topokit but :mod:`topokit._checks`, so any module may use it.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator, Optional

from ._checks import InvalidParameterError, choice, string

__all__ = ["PROJECT_ROOT", "MODES", "MODE_LINE", "run_mode", "env_mode", "current_mode", "env_flag",
           "parse_mode_line", "quick_mode", "full_mode", "progress_enabled", "atomic_path", "atomic_write_text",
           "atomic_write_bytes", "file_digest", "array_digest"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The run modes, from the smallest to the largest.
MODES = ("quick", "default", "full")
#: What a notebook prints as its first output (``MODE_LINE.format(mode)``); the pipeline and the
#: browser harness read it back and compare it with the mode they asked for.
MODE_LINE = "topokit mode: {}"
_MODE_LINE_RE = re.compile(r"^topokit mode: (\S+)\s*$")
_ENV_TRUE = ("1", "true", "yes", "on")
_ENV_FALSE = ("0", "false", "no", "off", "")
_ENV_VALUES = "1/0, true/false, yes/no or on/off (any case; empty means unset)"

# The mode a reader chose with run_mode(mode) in this Python session; None: the environment decides.
_override: Optional[str] = None


def env_flag(var: str) -> bool:
    """Whether the environment variable ``var`` is on: 1, true, yes, on (any case); 0, false, no,
    off, empty or unset are off; any other value is refused with a message listing these."""
    raw = os.environ.get(string(var, "var", nonempty=True))
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _ENV_TRUE:
        return True
    if value in _ENV_FALSE:
        return False
    raise InvalidParameterError(f"{var}={raw!r} is not understood; set it to {_ENV_VALUES}, or unset it")


def env_mode() -> str:
    """The mode the environment asks for: ``TOPOKIT_QUICK`` / ``TOPOKIT_FULL``, else ``"default"``.

    Raises
    ------
    topokit._checks.InvalidParameterError
        A value other than those :func:`run_mode` lists, or both variables on.
    """
    quick, full = env_flag("TOPOKIT_QUICK"), env_flag("TOPOKIT_FULL")
    if quick and full:
        raise InvalidParameterError(
            f"TOPOKIT_QUICK={os.environ['TOPOKIT_QUICK']!r} and TOPOKIT_FULL={os.environ['TOPOKIT_FULL']!r} are both "
            "on, but quick and full mode exclude each other; unset one of them (or set it to 0)")
    return "quick" if quick else "full" if full else "default"


def run_mode(override: Optional[str] = None) -> str:
    """The mode this run uses: ``"quick"``, ``"default"`` or ``"full"``.

    Every notebook's first code cell calls it and prints the result::

        MODE = fileio.run_mode()  # or fileio.run_mode("quick"): your choice wins over TOPOKIT_QUICK/TOPOKIT_FULL
        print(fileio.MODE_LINE.format(MODE))

    Parameters
    ----------
    override : {"quick", "default", "full"}, optional
        The reader's choice. It wins over the environment and holds for the rest of this Python
        session: every topokit function that reads the mode (:func:`quick_mode`,
        :func:`full_mode`, the figures folder, the pruning study's sizes, the report) follows it,
        until ``run_mode()`` is called again without it, which hands the choice back to the
        environment. The environment is not changed.

    Returns
    -------
    str
        ``override`` when given; else ``"quick"`` when ``TOPOKIT_QUICK`` is on, ``"full"`` when
        ``TOPOKIT_FULL`` is on, ``"default"`` otherwise. Accepted values of the variables: 1/0,
        true/false, yes/no, on/off (any case); empty means unset.

    Raises
    ------
    topokit._checks.InvalidParameterError
        ``override`` is not one of :data:`MODES`; or, without ``override``, a variable holds
        another value (``TOPOKIT_QUICK=maybe``) or both are on. Raised before anything runs.
    """
    global _override
    if override is None:
        _override = None
        return env_mode()
    _override = choice(override, "run_mode(override)", MODES,
                       fix="pass 'quick', 'default' or 'full', or nothing to follow TOPOKIT_QUICK / TOPOKIT_FULL")
    return _override


def current_mode() -> str:
    """The mode in force now: a reader's :func:`run_mode` choice, else :func:`env_mode`."""
    return _override if _override is not None else env_mode()


def parse_mode_line(text: str) -> Optional[str]:
    """The mode named by the first line of ``text`` if it is a :data:`MODE_LINE`, else None."""
    first = text.lstrip("\n").split("\n", 1)[0] if text else ""
    match = _MODE_LINE_RE.match(first.strip())
    return match.group(1) if match else None


def quick_mode(quick: Optional[bool] = None) -> bool:
    """Whether quick mode is on: ``quick`` if given, else the mode in force (see :func:`run_mode`)."""
    if quick is not None:
        return bool(quick)
    return current_mode() == "quick"


def full_mode(full: Optional[bool] = None) -> bool:
    """Whether full (paper-scale) mode is on: ``full`` if given, else the mode in force (see :func:`run_mode`)."""
    if full is not None:
        return bool(full)
    return current_mode() == "full"


def progress_enabled(progress: Optional[bool] = None) -> bool:
    """Whether to show progress bars: ``progress`` if given, else on unless ``TOPOKIT_PROGRESS=0``."""
    if progress is not None:
        return bool(progress)
    return os.environ.get("TOPOKIT_PROGRESS", "1").strip().lower() not in ("0", "false", "no")


@contextlib.contextmanager
def atomic_path(path: Path | str, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    A reader never sees a half-written file, and a failure (any exception in the block)
    removes the temporary file and leaves the earlier ``path`` intact. Nest several (e.g. with
    ``contextlib.ExitStack``) to write a group of files all or nothing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def file_digest(path: Path | str, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file (any ``hashlib`` algorithm, sha256 by default), read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def frame_digest(*tables) -> str:
    """A short hash (16 hex digits) of DataFrames' columns, index and values, in order: a cache key
    for a table derived from them (object columns are hashed as their strings)."""
    import pandas as pd

    h = hashlib.sha256()
    for t in tables:
        if not isinstance(t, pd.DataFrame):
            raise InvalidParameterError(f"frame_digest takes DataFrames, got {type(t).__name__}")
        h.update(repr(list(t.columns)).encode())
        h.update(pd.util.hash_pandas_object(t.astype({c: str for c in t.columns if t[c].dtype == object}),
                                            index=True).to_numpy().tobytes())
    return h.hexdigest()[:16]


def array_digest(*arrays) -> str:
    """sha256 hex digest of arrays' dtypes, shapes and contents: a cache key for computed-on data.

    Two arrays with the same values but another dtype or shape have different digests.
    """
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        if a.dtype == object:
            raise InvalidParameterError("array_digest takes numeric arrays, got one of dtype object")
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()
