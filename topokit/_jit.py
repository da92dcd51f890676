"""numba's ``njit`` with its on-disk cache in topokit's cache folder, never beside the source.

``numba.njit(cache=True)`` writes compiled kernels into the package's own ``__pycache__`` (or,
when that is read-only, into a user-wide folder), whatever ``TOPOKIT_CACHE`` says. :func:`njit`
compiles the same way but keeps the kernels in ``<cache folder>/numba/<package folder>_<hash>/``,
the cache folder being :func:`topokit.cache.default_cache_dir` (``$TOPOKIT_CACHE`` if set) at the
time a kernel is compiled. numba's own configuration (``NUMBA_CACHE_DIR``, ``numba.config``) is
neither read nor changed, so a user's settings for their own functions stay as they are, and it
does not matter whether numba was imported before topokit.

When that folder cannot be created or written, the kernels are compiled in memory for the
session, with no error and nothing written elsewhere.
"""
from __future__ import annotations

import os

import numba
from numba.core import caching

__all__ = ["njit", "numba_cache_dir"]


def numba_cache_dir() -> str:
    """The folder under which compiled kernels are cached now: ``<topokit cache folder>/numba``."""
    from .cache import default_cache_dir

    return os.path.join(os.fspath(default_cache_dir()), "numba")


def _marked_root() -> None:
    """Open (and so mark, when new) the topokit cache folder before numba writes into it.

    Raises the cache's own error (a ``ValueError`` or ``OSError``) for a folder that is not a
    topokit cache or cannot be written; the kernel is then compiled in memory.
    """
    from .cache import Cache

    Cache()


class _Locator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """Kernels of one source file under :func:`numba_cache_dir`, resolved when they are compiled.

    Nothing is created when a module is imported: numba makes the folder only when it saves a
    kernel (``ensure_cache_path``).
    """

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._subpath = self.get_suitable_cache_subpath(py_file)

    def get_cache_path(self) -> str:
        return os.path.join(numba_cache_dir(), self._subpath)

    @classmethod
    def from_function(cls, py_func, py_file):
        return cls(py_func, py_file) if os.path.exists(py_file) else None


class _Impl(caching.CompileResultCacheImpl):
    _locator_classes = [_Locator]


class _KernelCache(caching.FunctionCache):
    """numba's function cache, in the folder :class:`_Locator` names at each load and save.

    An ``OSError`` (a folder that cannot be created or written) turns the cache off for this
    kernel: it is compiled in memory, as without ``cache=True``.
    """

    _impl_class = _Impl

    def _follow(self) -> None:
        path = self._impl.locator.get_cache_path()
        _marked_root()
        if path != self._cache_path:  # TOPOKIT_CACHE changed since the last compile
            self._cache_path = path
            self._cache_file = caching.IndexDataCacheFile(
                cache_path=path, filename_base=self._impl.filename_base,
                source_stamp=self._impl.locator.get_source_stamp())

    def load_overload(self, sig, target_context):
        try:
            self._follow()
            return super().load_overload(sig, target_context)
        except (OSError, ValueError):  # unwritable, or a folder that is not a topokit cache
            return None

    def save_overload(self, sig, data):
        try:
            self._follow()
            super().save_overload(sig, data)
        except (OSError, ValueError):  # unwritable, or a folder that is not a topokit cache
            self.disable()


def njit(fn=None, *, cache: bool = False, **options):
    """``numba.njit``; with ``cache=True`` the compiled code is cached under :func:`numba_cache_dir`.

    Used as ``@njit`` or ``@njit(cache=True, inline="always")``, with numba's other options.
    """

    def decorate(func):
        dispatcher = numba.njit(**options)(func)
        if cache:
            try:
                dispatcher._cache = _KernelCache(dispatcher.py_func)  # what Dispatcher.enable_caching sets
            except (OSError, RuntimeError):
                pass  # no usable source file: compiled in memory only
        return dispatcher

    return decorate(fn) if fn is not None else decorate
