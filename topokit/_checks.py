"""The one vocabulary of parameter checks used at every public boundary of topokit.

Every public function validates what a user passes with these helpers before any heavy work, so
that the same bad value is refused the same way everywhere: with an
:class:`InvalidParameterError` (a ``ValueError`` *and* a ``TypeError``, as scikit-learn's error of
the same name) whose message names the parameter, the value received, the valid range and how to
fix it.

- :func:`integer`, :func:`real`, :func:`boolean`, :func:`choice`: scalars;
- :func:`finite_array`: array-likes (no NaN/inf, not empty, the expected dimensions);
- :func:`memory`: an estimate of the bytes an allocation needs against the machine's available
  memory (or a cap the caller raises with a keyword), checked *before* allocating.
"""
from __future__ import annotations

import difflib
import numbers
import os
from typing import Iterable, Optional

import numpy as np

__all__ = ["InvalidParameterError", "integer", "real", "string", "boolean", "choice", "finite_array", "labels",
           "available_memory", "memory", "GIB"]

GIB = float(1 << 30)


class InvalidParameterError(ValueError, TypeError):
    """A parameter has the wrong type or a value outside its valid range."""


def _fail(name: str, value, expected: str, fix: str = "") -> InvalidParameterError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InvalidParameterError(f"{name} must be {expected}, got {shown}" + (f"; {fix}" if fix else ""))


def _range_text(minimum, maximum, include_min=True, include_max=True) -> str:
    if minimum is not None and maximum is not None:
        return f" in {'[' if include_min else '('}{minimum}, {maximum}{']' if include_max else ')'}"
    if minimum is not None:
        return f" {'>=' if include_min else '>'} {minimum}"
    if maximum is not None:
        return f" {'<=' if include_max else '<'} {maximum}"
    return ""


def integer(value, name: str, *, minimum: Optional[int] = None, maximum: Optional[int] = None,
            fix: str = "", allow_none: bool = False) -> Optional[int]:
    """``value`` as a Python int within [minimum, maximum]; bools and floats are refused."""
    if value is None and allow_none:
        return None
    what = "an integer" + _range_text(minimum, maximum) + (" or None" if allow_none else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise _fail(name, value, what, fix)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _fail(name, value, what, fix)
    return value


def real(value, name: str, *, minimum: Optional[float] = None, maximum: Optional[float] = None,
         include_min: bool = True, include_max: bool = True, finite: bool = True, fix: str = "",
         allow_none: bool = False) -> Optional[float]:
    """``value`` as a float within the stated interval; bools, NaN and (by default) inf refused."""
    if value is None and allow_none:
        return None
    what = ("a finite number" if finite else "a number") + _range_text(minimum, maximum, include_min, include_max)
    what += " or None" if allow_none else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise _fail(name, value, what, fix)
    value = float(value)
    if np.isnan(value) or (finite and not np.isfinite(value)):
        raise _fail(name, value, what, fix)
    if minimum is not None and (value < minimum or (value == minimum and not include_min)):
        raise _fail(name, value, what, fix)
    if maximum is not None and (value > maximum or (value == maximum and not include_max)):
        raise _fail(name, value, what, fix)
    return value


def string(value, name: str, *, fix: str = "", nonempty: bool = False) -> str:
    """``value`` if it is a str (not bytes, not a path); ``nonempty`` refuses blank text."""
    if not isinstance(value, str):
        raise _fail(name, value, "a string", fix)
    if nonempty and not value.strip():
        raise _fail(name, value, "a non-empty string", fix)
    return value


def boolean(value, name: str) -> bool:
    """``value`` if it is True or False (numpy bools included); anything else is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(name, value, "True or False")
    return bool(value)


def choice(value, name: str, options: Iterable[str], *, fix: str = "") -> str:
    """``value`` if it is one of ``options``; the error lists them and the closest matches."""
    options = list(options)
    if isinstance(value, str) and value in options:
        return value
    close = difflib.get_close_matches(str(value), options, n=3) if isinstance(value, str) else []
    hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
    raise _fail(name, value, f"one of {', '.join(map(repr, options))}", hint + fix if (hint or fix) else "")


def finite_array(X, name: str, *, ndim: Optional[Iterable[int] | int] = None, nonempty: bool = True,
                 dtype=np.float64, fix: str = "") -> np.ndarray:
    """``X`` as a numpy array of ``dtype`` with no NaN/inf, refusing the wrong number of dimensions."""
    try:
        import torch

        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    try:
        arr = np.asarray(X, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{name} must be a numeric array, got {type(X).__name__} ({exc})"
                                    + (f"; {fix}" if fix else "")) from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise InvalidParameterError(
                f"{name} must have {' or '.join(map(str, allowed))} dimension(s), got shape {arr.shape}"
                + (f"; {fix}" if fix else ""))
    if nonempty and arr.size == 0:
        raise InvalidParameterError(f"{name} is empty (shape {arr.shape}); pass at least one sample"
                                    + (f"; {fix}" if fix else ""))
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise InvalidParameterError(f"{name} contains NaN or inf values; drop or fix them first"
                                    + (f"; {fix}" if fix else ""))
    return arr


def labels(y, n: int, *, what: str = "samples", fix: str = "pass one class label per sample") -> np.ndarray:
    """Integer class labels, one per each of the ``n`` rows of X, as int64 (any number of classes)."""
    y = finite_array(y, "y", ndim=1, dtype=np.float64, fix=fix)
    if not np.array_equal(y, np.round(y)):
        raise InvalidParameterError("y must hold integer class labels")
    if len(y) != n:
        raise InvalidParameterError(f"X has {n} {what} but y has {len(y)} labels; {fix}")
    return y.astype(np.int64)


def available_memory() -> int:
    """Bytes of memory available to a new allocation now (``MemAvailable``, else psutil)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    try:  # pragma: no cover - not Linux
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover
        return 1 << 62


def memory(needed: float, what: str, *, fix: str, max_memory_bytes: Optional[int] = None) -> None:
    """Refuse an allocation of about ``needed`` bytes that the machine cannot hold.

    The budget is ``max_memory_bytes`` when given (a keyword the caller exposes so a user can
    raise it), else half the memory available now, so that the rest of the process keeps room.
    ``TOPOKIT_MAX_MEMORY`` (bytes, or with a K/M/G suffix) sets the default budget for a session.
    """
    if max_memory_bytes is not None:
        budget = integer(max_memory_bytes, "max_memory_bytes", minimum=1,
                         fix="pass a number of bytes such as 8 * 2**30")
        source = "max_memory_bytes"
    elif os.environ.get("TOPOKIT_MAX_MEMORY", "").strip():
        budget, source = _env_bytes(os.environ["TOPOKIT_MAX_MEMORY"]), "TOPOKIT_MAX_MEMORY"
    else:
        budget, source = available_memory() // 2, "half the available memory"
    if needed > budget:
        raise InvalidParameterError(
            f"{what} would need about {needed / GIB:,.2f} GiB but only {budget / GIB:,.2f} GiB is allowed "
            f"({source}); {fix}, or raise the budget with max_memory_bytes=... if the machine can hold it")


def _env_bytes(text: str) -> int:
    raw = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(raw[-1:], 1)
    digits = raw[:-1] if raw[-1:] in "KMGT" else raw
    try:
        value = float(digits) * scale
    except ValueError:
        raise InvalidParameterError(
            f"TOPOKIT_MAX_MEMORY must be a number of bytes, optionally with K, M, G or T, got {text!r}") from None
    if not value > 0 or not np.isfinite(value):
        raise InvalidParameterError(f"TOPOKIT_MAX_MEMORY must be positive, got {text!r}")
    return int(value)
