"""Activation functions by name.

Every activation is an :class:`torch.nn.Module` whose docstring gives its formula. Look one up
with :func:`get_activation`; :data:`ACTIVATIONS` lists the registered names. A later notebook
adds the project's "topological" activation through :func:`register_activation`.
"""
from __future__ import annotations

import re
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "ClippedReLU",
    "Collapse",
    "LeakyReLU",
    "TOPO_PARAMS",
    "TopoActivation",
    "available_activations",
    "collapse",
    "is_injective",
    "member_name",
    "parse_member",
    "get_activation",
    "register_activation",
]


class ReLU(nn.ReLU):
    """Rectified linear unit, ``f(x) = max(x, 0)``."""


class LeakyReLU(nn.LeakyReLU):
    """Leaky ReLU, ``f(x) = max(x, a * x)`` with slope ``a = 0.2`` (Naitzat et al., 2020)."""

    def __init__(self, negative_slope: float = 0.2):
        super().__init__(negative_slope=negative_slope)


class Tanh(nn.Tanh):
    """Hyperbolic tangent, ``f(x) = (e^x - e^-x) / (e^x + e^-x)``: a homeomorphism onto (-1, 1)."""


class Sigmoid(nn.Sigmoid):
    """Logistic sigmoid, ``f(x) = 1 / (1 + e^-x)``."""


class GELU(nn.GELU):
    """Gaussian error linear unit, ``f(x) = x * Phi(x)`` with Phi the standard normal CDF."""


class SiLU(nn.SiLU):
    """Sigmoid linear unit (swish), ``f(x) = x * sigmoid(x)``."""


class ClippedReLU(nn.Module):
    """Clipped ReLU, ``f(x) = min(max(x, 0), 1)``.

    Collapses both half-lines ``x <= 0`` and ``x >= 1`` to single points, so it can merge
    components and kill holes faster than ReLU.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.clamp(x, 0.0, 1.0)


ACTIVATIONS: Dict[str, Callable[[], nn.Module]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "gelu": GELU,
    "silu": SiLU,
    "clipped_relu": ClippedReLU,
}


def available_activations() -> list[str]:
    """Names accepted by :func:`get_activation`, sorted."""
    return sorted(ACTIVATIONS)


def register_activation(name: str, factory: Callable[[], nn.Module], *, overwrite: bool = False) -> None:
    """Add an activation to the registry.

    Parameters
    ----------
    name : str
        Lower-case name used by :func:`get_activation` and the model builders.
    factory : callable
        Called with no argument, returns a fresh ``nn.Module``.
    overwrite : bool, default False
        Replace an existing entry of the same name instead of raising.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"activation name must be a non-empty string, got {name!r}")
    if name in ACTIVATIONS and not overwrite:
        raise ValueError(f"activation {name!r} is already registered; pass overwrite=True to replace it")
    if not callable(factory):
        raise ValueError(f"factory for activation {name!r} must be callable, got {type(factory).__name__}")
    ACTIVATIONS[name] = factory


def get_activation(name: str | nn.Module) -> nn.Module:
    """Return a fresh activation module.

    Parameters
    ----------
    name : str or nn.Module
        A registered name (see :func:`available_activations`), or a module, returned as is.

    Notes
    -----
    Besides the registered names, every member of the topology-collapsing family has a name,
    ``member_name(w, s)`` (e.g. ``"collapse_w0.1_sm0.5"`` for ``w = 0.1, s = -0.5``), so that
    sweeps can run any member in any worker process without registering it first.

    Raises
    ------
    ValueError
        If the name is not registered; the message lists the choices.
    """
    if isinstance(name, nn.Module):
        return name
    key = str(name).strip().lower().replace("-", "_")
    if key not in ACTIVATIONS:
        member = parse_member(key)
        if member is not None:
            return Collapse(*member)
        raise ValueError(
            f"unknown activation {name!r}; choose one of: {', '.join(available_activations())}, "
            "or a member of the collapse family named like 'collapse_w0.1_sm0.5' (see member_name)"
        )
    return ACTIVATIONS[key]()


# ----------------------------------------------------------------------------- topological family
#
# Design (issue 7). A map that is injective and continuous on a compact set is a homeomorphism
# onto its image, so it cannot change Betti numbers: tanh, sigmoid and leaky ReLU layers (with an
# invertible weight matrix) carry each class's topology through unchanged, and only the
# non-injective places of an activation can merge components or fill holes. ReLU is
# non-injective on one half-line, which it folds onto the point 0 (a half-space onto a face of
# the orthant). The family below puts the non-injective part under two parameters: a dead zone
# [-w, w] collapsed to 0 and the slope s of the negative piece (s = 0 flattens the half-line,
# s < 0 folds it back over the positive one, s > 0 keeps it injective there).


class Collapse(nn.Module):
    """Topology-collapsing activation ``f(x) = max(x - w, 0) + s * min(x + w, 0)``.

    Piecewise linear: ``x - w`` for ``x > w``, ``0`` on the dead zone ``[-w, w]``, ``s (x + w)``
    for ``x < -w``. Continuous for every ``w >= 0`` and real ``s``.

    Special cases: ``(w, s) = (0, 0)`` is ReLU, ``(0, 0.2)`` the registry's leaky ReLU,
    ``(0, -1)`` the fold ``|x|``, ``(w, 1)`` soft-shrink, ``(w, 0)`` ReLU shifted to ``x - w``
    (which a bias can absorb). It is injective (a homeomorphism of the line, unable to change
    topology) exactly when ``w = 0`` and ``s > 0``; for ``w > 0`` it collapses the interval
    ``[-w, w]`` to a point whatever ``s``; for ``s <= 0`` it is non-injective on a half-line
    (flattened for ``s = 0``, folded for ``s < 0``).

    Parameters
    ----------
    w : float, default 0
        Half-width of the dead zone, ``w >= 0``.
    s : float, default 0
        Slope of the negative piece.
    """

    def __init__(self, w: float = 0.0, s: float = 0.0):
        super().__init__()
        w, s = float(w), float(s)
        if not w >= 0 or w != w:
            raise ValueError(f"dead-zone half-width w must be >= 0, got {w}; use w=0 for no dead zone")
        if s != s or abs(s) == float("inf"):
            raise ValueError(f"negative slope s must be a finite number, got {s}; e.g. s=0 (ReLU) or s=-0.5 (fold)")
        self.w, self.s = w, s

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        # soft-shrink maps x to x - w, 0, x + w on the three pieces; a leaky ReLU of slope s then
        # scales the negative piece. Two fused native kernels: bitwise equal (values and
        # gradients) to clamp(x - w, min=0) + s * clamp(x + w, max=0), which took 5 kernels and
        # ran 15-25x slower than ReLU on CNN feature maps (1.4-1.7x with this form).
        return F.leaky_relu(F.softshrink(x, self.w), self.s)

    def extra_repr(self) -> str:
        return f"w={self.w:g}, s={self.s:g}"


def collapse(w: float = 0.0, s: float = 0.0) -> Collapse:
    """A member of the topology-collapsing family (see :class:`Collapse`); validates ``w``, ``s``."""
    return Collapse(w, s)


def is_injective(w: float, s: float) -> bool:
    """Whether ``Collapse(w, s)`` is injective, i.e. a homeomorphism of the line that cannot
    change the topology of a point cloud: exactly when ``w == 0`` and ``s > 0``."""
    return float(w) == 0.0 and float(s) > 0.0


_MEMBER = re.compile(r"^collapse_w(\d+(?:\.\d+)?(?:e[+_]?\d+)?)_s(m?\d+(?:\.\d+)?(?:e[+_]?\d+)?)$")


def member_name(w: float, s: float) -> str:
    """Name of the family member ``Collapse(w, s)`` accepted by :func:`get_activation` and sweeps.

    ``"collapse_w<w>_s<s>"`` with a minus sign written ``m`` (names pass through lower-casing
    and ``-`` -> ``_``): ``member_name(0.1, -0.5) == "collapse_w0.1_sm0.5"``.
    """
    Collapse(w, s)  # validates
    return f"collapse_w{float(w):g}_s{float(s):g}".replace("-", "m")


def parse_member(name: str) -> Optional[Tuple[float, float]]:
    """``(w, s)`` of a family member's name (see :func:`member_name`), or None if it is not one."""
    m = _MEMBER.match(str(name).strip().lower().replace("-", "_"))
    if m is None:
        return None
    w, s = (g.replace("_", "-") for g in m.groups())
    s = "-" + s[1:] if s.startswith("m") else s
    return float(w), float(s)


#: Parameters of the frozen topological activation ``topo`` (selected by
#: :func:`topokit.selection.select_topo` on the selection sets in the default mode, 2026-11-24).
TOPO_PARAMS = {"w": 0.1, "s": -0.5}


class TopoActivation(Collapse):
    """The project's topological activation ``topo``: ``f(x) = max(x - 0.1, 0) - 0.5 * min(x + 0.1, 0)``.

    The member ``w = 0.1, s = -0.5`` of the collapse family (:class:`Collapse`,
    ``f(x) = max(x - w, 0) + s * min(x + w, 0)``): ``x - 0.1`` for ``x > 0.1``, ``0`` on the dead
    zone ``[-0.1, 0.1]``, ``-0.5 (x + 0.1)`` for ``x < -0.1``. It collapses the dead zone to a
    point and folds the negative half-line back onto the positive one (slope -0.5), so it is
    non-injective everywhere outside ``(-0.1, 0.1)``: each value ``y > 0`` has two preimages.

    Selected on the selection sets only (a 5x5 checkerboard and a 3x3 grid of disks, see
    :mod:`topokit.selection`) by the rule there: largest speed-up over ReLU (1.61x in Kaplan-Meier
    median epochs, geometric mean over the two sets, each activation at its best learning rate
    of the same grid) among members that are non-injective, new, converge in >= 80% of runs and
    reduce Betti numbers per layer at least as fast as ReLU (omega ratio 0.32 against ReLU's 0.41,
    on all held-aside points).
    """

    def __init__(self):
        super().__init__(**TOPO_PARAMS)


ACTIVATIONS["topo"] = TopoActivation
