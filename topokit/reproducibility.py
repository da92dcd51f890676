"""Same seed, same numbers on any x86-64 CPU with AVX2: the math libraries' code paths, pinned.

Floating-point sums differ between the code paths that the math libraries pick for each processor,
and training amplifies a last-bit difference into hundreds of epochs: the D-I net of the
benchmark converged at epochs 284 and 354 (seeds 0, 1) on an AMD EPYC and at 1346 and 444 on an
Intel Xeon with AVX-512, same code, same seeds. topokit therefore fixes, itself, when it is
imported:

- ``MKL_CBWR=AVX2``: MKL's conditional numerical reproducibility, its AVX2 code path for the
  matrix products of linear layers (and of convolutions, below) even on an AVX-512 machine (the
  Xeon's 1346/444 came from MKL's AVX-512 path); on a CPU without AVX2, ``COMPATIBLE``;
- ``ATEN_CPU_CAPABILITY=avx2``: PyTorch's own vectorised kernels (element-wise ops, reductions)
  use their AVX2 versions even on an AVX-512 machine (avx2 and avx512 gave the same numbers when
  measured, the scalar fallback did not); only set where the CPU has AVX2;
- with ``TOPOKIT_STRICT_CONV=1``, oneDNN off while topokit trains (:func:`deterministic`): its
  convolution kernels differ by instruction set whatever MKL is told; without it convolutions
  fall back to MKL products, which ``MKL_CBWR`` pins. Off by default, because it made CNN
  training 4-6x slower here (see :func:`strict_convolutions`): CNN runs are then reproducible on
  one machine and may differ in the last bits on another.

The two variables are read when the libraries start, so they only take effect when topokit is
imported before torch runs its first product. :func:`settings` reports what is in force (it is
recorded with every cached training run and benchmark figure, so runs made under other settings
are never mixed), and a :class:`ReproducibilityWarning` says so once when the pins could not be
applied. A variable the user set to another value is respected (and recorded).

What was measured (D-I, 2-15x9-2 ReLU, seeds 0 and 1, one thread): on this project's AMD EPYC
(AVX2, no AVX-512) MKL gives the same epochs under ``MKL_CBWR`` AUTO, AVX2, AVX and SSE4_2 and
under any ``MKL_ENABLE_INSTRUCTIONS``; only ``COMPATIBLE`` differs, and it made MLP training
1.5-2.9x slower. PyTorch's own kernels matter more: ``ATEN_CPU_CAPABILITY=default`` moved seed 0
from 365 to 1,086 epochs. An Intel Xeon with AVX-512 (shared notes) gave 218/426 under
``COMPATIBLE`` where this EPYC gives 241/392: equality across these two machines is **not**
established by the pins, and its remaining cause is not known. So the pins are the cheap ones
(AVX2 paths everywhere), the settings are recorded with every run, and a verdict is judged with
machine noise counted like seed noise.

Not covered: other architectures (Arm), CPUs without AVX2, GPUs (CUDA kernels are not bitwise
reproducible across GPU models), other library versions. Those runs record their machine and
settings; their numbers are compared as seed noise, not bit for bit.
"""
from __future__ import annotations

import contextlib
import os
import platform
import sys
import warnings

__all__ = ["PINS", "ReproducibilityWarning", "pin", "settings", "deterministic", "pinned", "strict_convolutions"]

#: The environment topokit sets before torch starts (see the module docstring).
PINS = {"MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}

_STATE = {"pinned": None, "overridden": {}}


class ReproducibilityWarning(UserWarning):
    """The math libraries' code paths could not be pinned: numbers may differ on another CPU."""


def _has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return " avx2" in line
    except OSError:
        pass
    return platform.machine().lower() in ("x86_64", "amd64")  # assume a recent x86-64 elsewhere


def pin() -> bool:
    """Set :data:`PINS` in the environment if torch has not started yet; True when in force.

    Called once when topokit is imported. A variable already set by the user to another value is
    left alone and recorded in :func:`settings` as overridden.
    """
    if _STATE["pinned"] is not None:
        return _STATE["pinned"]
    wanted = dict(PINS)
    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        _STATE["pinned"] = False
        return False
    if not _has_avx2():
        wanted.pop("ATEN_CPU_CAPABILITY")
        wanted["MKL_CBWR"] = "COMPATIBLE"
    started = "torch" in sys.modules
    ok = True
    for name, value in wanted.items():
        current = os.environ.get(name)
        if current is None:
            if started:
                ok = False  # too late: the library may already have chosen its code path
            else:
                os.environ[name] = value
        elif current.strip().lower() != value.lower():
            _STATE["overridden"][name] = current
            ok = False
    _STATE["pinned"] = ok
    if not ok:
        why = ("torch was imported before topokit, so the math libraries may already run their own code "
               "paths" if started else f"the environment sets {_STATE['overridden']}")
        warnings.warn(
            f"numbers may differ on another CPU: {why}. For bitwise-reproducible runs import topokit before "
            "torch, or set " + " ".join(f"{k}={v}" for k, v in wanted.items()) + " in the environment",
            ReproducibilityWarning, stacklevel=3)
    return ok


def pinned() -> bool:
    """Whether :data:`PINS` are in force in this process."""
    return bool(_STATE["pinned"])


def settings() -> dict:
    """What decides the numbers of a CPU run here: recorded with cached runs and benchmark figures."""
    import torch

    return {
        "pinned": pinned(),
        "MKL_CBWR": os.environ.get("MKL_CBWR"),
        "ATEN_CPU_CAPABILITY": os.environ.get("ATEN_CPU_CAPABILITY"),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_in_training": not strict_convolutions(),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }


def strict_convolutions() -> bool:
    """Whether :func:`deterministic` turns oneDNN off (``TOPOKIT_STRICT_CONV=1``; off by default).

    Convolutions through MKL instead of oneDNN obey ``MKL_CBWR`` and so give the same numbers on
    any x86 CPU, but training a CIFAR ResNet-20 was 4-6x slower that way (measured here), far
    from "costs little": by default CNN training keeps oneDNN, and its numbers may differ in the
    last bits between CPUs of different instruction sets (MLP training is pinned either way).
    """
    value = os.environ.get("TOPOKIT_STRICT_CONV", "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    from . import _checks

    raise _checks.InvalidParameterError(
        f"TOPOKIT_STRICT_CONV must be 1/0, true/false, yes/no or on/off, got {value!r}")


@contextlib.contextmanager
def deterministic():
    """With :func:`strict_convolutions`, oneDNN off inside the block (convolutions through MKL,
    pinned by ``MKL_CBWR``), restored after; otherwise nothing changes."""
    import torch

    if not strict_convolutions():
        yield
        return
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # only this flag: flags() also touches TF32 and warns
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before
