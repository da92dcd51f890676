"""Where topokit writes, in which mode, and how: atomic file writing.

Shared by data downloads, figures, the cache and the pipeline.

A reader never sees a half-written file, and a failed write leaves the earlier file intact:
every writer goes through :func:`atomic_path`, which hands out a temporary name beside the target
and renames it over the target only when the block succeeds. This module imports nothing from
the rest of topokit, so any module may use it.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Optional

__all__ = ["PROJECT_ROOT", "quick_mode", "full_mode", "progress_enabled", "atomic_path", "atomic_write_text",
           "atomic_write_bytes", "file_digest"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_TRUE = ("1", "true", "yes")


def quick_mode(quick: Optional[bool] = None) -> bool:
    """Whether quick mode is on: ``quick`` if given, else ``TOPOKIT_QUICK=1`` in the environment."""
    if quick is not None:
        return bool(quick)
    return os.environ.get("TOPOKIT_QUICK", "0").strip().lower() in _TRUE


def full_mode(full: Optional[bool] = None) -> bool:
    """Whether full (paper-scale) mode is on: ``full`` if given, else ``TOPOKIT_FULL=1``."""
    if full is not None:
        return bool(full)
    return os.environ.get("TOPOKIT_FULL", "0").strip().lower() in _TRUE



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
