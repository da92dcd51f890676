"""The topology-collapsing family, the frozen `topo` activation and its selection."""
import math

import pytest
import torch

from topokit import activations, models

X = torch.linspace(-3, 3, 121, dtype=torch.float64)


@pytest.mark.parametrize(
    "w, s, reference",
    [
        (0.0, 0.0, lambda x: x.clamp(min=0)),                            # ReLU
        (0.0, 0.2, lambda x: torch.maximum(x, 0.2 * x)),                 # leaky ReLU (registry slope)
        (0.0, -1.0, torch.abs),                                          # fold |x|
        (0.5, 1.0, lambda x: torch.nn.functional.softshrink(x, 0.5)),    # soft-shrink
        (0.5, 0.0, lambda x: (x - 0.5).clamp(min=0)),                    # shifted ReLU
    ],
)
def test_family_special_cases(w, s, reference):
    torch.testing.assert_close(activations.Collapse(w, s)(X), reference(X))


def test_family_matches_registry_relu_and_leaky():
    torch.testing.assert_close(activations.Collapse(0, 0)(X), activations.get_activation("relu")(X))
    torch.testing.assert_close(activations.Collapse(0, 0.2)(X), activations.get_activation("leaky_relu")(X))


def test_injectivity_rule():
    assert activations.is_injective(0, 0.2)
    assert not activations.is_injective(0, 0) and not activations.is_injective(0.1, 0.5)
    assert not activations.is_injective(0, -0.5)


@pytest.mark.parametrize("w, s", [(-0.1, 0.0), (float("nan"), 0.0), (0.1, float("inf"))])
def test_family_bad_parameters(w, s):
    with pytest.raises(ValueError, match="w must be >= 0|s must be a finite"):
        activations.Collapse(w, s)


def test_topo_values_and_gradients_at_chosen_points():
    w, s = activations.TOPO_PARAMS["w"], activations.TOPO_PARAMS["s"]
    act = activations.get_activation("topo")
    assert isinstance(act, torch.nn.Module) and act is not activations.get_activation("topo")
    assert "f(x)" in type(act).__doc__ and f"{w:g}" in type(act).__doc__ and f"{s:g}" in type(act).__doc__
    pts = torch.tensor([-2.0, -w - 0.5, -w / 2, 0.0, w / 2, w + 0.5, 2.0], requires_grad=True)
    out = act(pts)
    expect = [s * (-2.0 + w), s * (-0.5), 0.0, 0.0, 0.0, 0.5, 2.0 - w]
    torch.testing.assert_close(out.detach(), torch.tensor(expect))
    out.sum().backward()
    grads = [s, s, 0.0 if w > 0 else None, None, 0.0 if w > 0 else None, 1.0, 1.0]
    for g, e in zip(pts.grad.tolist(), grads):
        if e is not None:
            assert math.isclose(g, e, abs_tol=1e-7)


def test_topo_is_not_an_existing_entry_under_a_new_name():
    topo = activations.get_activation("topo")
    x = torch.linspace(-4, 4, 801)
    for name in activations.available_activations():
        if name == "topo":
            continue
        other = activations.get_activation(name)
        assert not torch.allclose(topo(x), other(x), atol=1e-4), f"topo equals {name}"
        assert activations.ACTIVATIONS[name] is not activations.ACTIVATIONS["topo"]
    assert not activations.is_injective(activations.TOPO_PARAMS["w"], activations.TOPO_PARAMS["s"])


def test_topo_builds_mlp_and_cnn():
    net = models.mlp(2, 15, 9, "topo", seed=0)
    assert net(torch.randn(4, 2)).shape == (4, 2) and net.activation == "topo"
    assert models.cnn(1, activation="topo", channels=(4, 8))(torch.randn(2, 1, 16, 16)).shape == (2, 2)


@pytest.mark.parametrize("w, s", [(0.1, -0.5), (0.0, 0.0), (0.3, 0.2), (0.05, -1.0)])
def test_family_matches_its_piecewise_formula_with_gradients(w, s):
    x = torch.randn(2000, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_()
    ref = torch.clamp(x - w, min=0) + s * torch.clamp(x + w, max=0)
    out = activations.Collapse(w, s)(x)
    torch.testing.assert_close(out, ref)
    g_out, = torch.autograd.grad(out.sum(), x)
    g_ref, = torch.autograd.grad(ref.sum(), x)
    torch.testing.assert_close(g_out, g_ref)
