"""Activation functions by name.

Every activation is an :class:`torch.nn.Module` whose docstring gives its formula. Look one up
with :func:`get_activation`; :data:`ACTIVATIONS` lists the registered names. A later notebook
adds the project's "topological" activation through :func:`register_activation`.
"""
from __future__ import annotations

from typing import Callable, Dict

import torch
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "ClippedReLU",
    "LeakyReLU",
    "available_activations",
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

    Raises
    ------
    ValueError
        If the name is not registered; the message lists the choices.
    """
    if isinstance(name, nn.Module):
        return name
    key = str(name).strip().lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; choose one of: {', '.join(available_activations())}"
        )
    return ACTIVATIONS[key]()
