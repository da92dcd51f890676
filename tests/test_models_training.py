"""Activations, model builders and training to convergence."""
import numpy as np
import pytest
import torch

from topokit import _checks, activations, data, models, training

ALL = ["relu", "leaky_relu", "tanh", "sigmoid", "gelu", "silu", "clipped_relu"]


def test_registry_has_the_documented_activations():
    assert set(ALL) <= set(activations.available_activations())
    for name in ALL:
        act = activations.get_activation(name)
        assert isinstance(act, torch.nn.Module)
        assert "f(x)" in type(act).__doc__, f"{name} docstring lacks its formula"


def test_activation_formulas():
    x = torch.linspace(-3, 3, 61)
    torch.testing.assert_close(activations.get_activation("relu")(x), x.clamp(min=0))
    torch.testing.assert_close(activations.get_activation("leaky_relu")(x), torch.maximum(x, 0.2 * x))
    torch.testing.assert_close(activations.get_activation("clipped_relu")(x), x.clamp(0, 1))
    torch.testing.assert_close(activations.get_activation("silu")(x), x * torch.sigmoid(x))


def test_unknown_activation_lists_choices():
    with pytest.raises(ValueError, match="unknown activation 'swishy'; choose one of: .*clipped_relu.*tanh"):
        activations.get_activation("swishy")
    with pytest.raises(ValueError, match="unknown activation"):
        models.mlp(2, 15, 9, "swishy")


def test_register_activation():
    name = "test_abs"
    activations.register_activation(name, lambda: torch.nn.Identity(), overwrite=True)
    try:
        assert isinstance(models.mlp(2, 3, 1, name).blocks[0][1], torch.nn.Identity)
        with pytest.raises(ValueError, match="already registered"):
            activations.register_activation(name, torch.nn.Identity)
    finally:
        activations.ACTIVATIONS.pop(name)


@pytest.mark.parametrize("act", ALL)
def test_mlp_shapes_every_activation(act):
    net = models.mlp(2, 15, 9, act)
    assert len(net.blocks) == 10 and net.layer_names[0] == "hidden1" and net.layer_names[-1] == "logits"
    assert net(torch.randn(7, 2)).shape == (7, 2)
    assert models.mlp(3, 25, 4, act)(torch.randn(5, 3)).shape == (5, 2)


@pytest.mark.parametrize("act", ALL)
def test_cnn_shapes_every_activation(act):
    grey = models.cnn(1, activation=act)
    assert grey(torch.randn(3, 1, 28, 28)).shape == (3, 2)
    colour = models.cnn(3, num_classes=2, activation=act, channels=(8, 16))
    assert colour(torch.randn(2, 3, 64, 64)).shape == (2, 2)
    assert grey.layer_names == ["conv1", "conv2", "conv3", "dense", "logits"]


def test_model_seed_reproducible():
    a, b, c = models.mlp(2, 15, 9, seed=1), models.mlp(2, 15, 9, seed=1), models.mlp(2, 15, 9, seed=2)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
    assert not torch.equal(a.blocks[0][0].weight, c.blocks[0][0].weight)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: models.mlp(2, 0, 9), "width must be an integer >= 1, got 0; pass the number of units"),
        (lambda: models.mlp(0, 15, 9), "in_dim must be an integer >= 1"),
        (lambda: models.mlp(2, 15, -1), "depth must be an integer >= 1"),
        (lambda: models.mlp(2, 1.5, 9), "width must be an integer >= 1, got 1.5"),
        (lambda: models.mlp(2, True, 9), "width must be an integer >= 1, got True"),
        (lambda: models.mlp(2, 15, 9, seed=-1), "seed must be an integer in"),
        (lambda: models.mlp(2, 15, 9, activation=3), "activation must be an activation name or an nn.Module"),
        (lambda: models.cnn(0), "in_channels must be an integer >= 1"),
        (lambda: models.cnn(1, channels=()), "at least one conv block"),
        (lambda: models.cnn(1, channels=16), "channels must be a sequence of filter counts"),
        (lambda: models.cnn(1, channels=(16, 0)), r"channels\[1\] must be an integer >= 1"),
        (lambda: models.cnn(1, batch_norm="yes"), "batch_norm must be True or False"),
    ],
)
def test_model_bad_arguments(call, match):
    with pytest.raises(_checks.InvalidParameterError, match=match):
        call()


def test_relu_2_15x9_2_reaches_100_percent_on_d1():
    """Naitzat's D-I set with the 2-15x9-2 ReLU net and fit's defaults: 'well-trained'.

    Measured on CPU: 284-927 epochs over seeds 0-9 (seed 0: 284 epochs, about 4 s).
    """
    d = data.load("D-I")
    result = training.fit(models.mlp(2, 15, 9, "relu", seed=0), d.X, d.y, seed=0, progress=False)
    assert result.converged and result.epochs_to_converge <= 5000
    assert result.final_train_accuracy == 1.0
    assert list(result.history.columns[:5]) == ["epoch", "loss", "lr", "train_accuracy", "test_accuracy"]
    assert len(result.history) == result.epochs_to_converge
    assert (training.predict(result.model, d.X) == d.y).all()
    test = data.load("D-I", split="test")
    assert training.accuracy(result.model, test.X, test.y) > 0.97


def test_fit_is_reproducible_and_records_history():
    d = data.load("D-I", n=600)
    runs = [training.fit(models.mlp(2, 8, 2, "tanh", seed=3), d.X, d.y, max_epochs=15, seed=3,
                         batch_size=64, progress=False, X_test=d.X[:50], y_test=d.y[:50]) for _ in range(2)]
    np.testing.assert_allclose(runs[0].history["loss"], runs[1].history["loss"])
    assert len(runs[0].history) == 15 and runs[0].history["test_accuracy"].notna().all()
    assert runs[0].history["loss"].iloc[-1] < runs[0].history["loss"].iloc[0]


def test_lr_decay_halves_every_decay_steps():
    d = data.load("D-I", n=200)
    r = training.fit(models.mlp(2, 4, 1), d.X, d.y, lr=0.01, decay_steps=10, max_epochs=20,
                     stop_at_target=False, progress=False)
    assert r.history["lr"].iloc[9] == pytest.approx(0.005)
    assert r.history["lr"].iloc[19] == pytest.approx(0.0025)


def test_callback_sees_every_epoch_and_can_stop():
    d = data.load("D-I", n=200)
    seen = []

    def cb(epoch, model, row):
        seen.append((epoch, row["train_accuracy"]))
        return epoch == 4

    r = training.fit(models.mlp(2, 4, 1), d.X, d.y, max_epochs=50, callback=cb, progress=False)
    assert [e for e, _ in seen] == [1, 2, 3, 4] and len(r.history) == 4


def test_target_not_reached_gives_none():
    d = data.load("D-I", n=300)
    r = training.fit(models.mlp(2, 2, 1), d.X, d.y, max_epochs=3, progress=False)
    assert r.epochs_to_converge is None and not r.converged


def test_cnn_trains_on_digits():
    tr, te = data.load("digits", classes=(0, 1)), data.load("digits", split="test", classes=(0, 1))
    r = training.fit(models.cnn(1, channels=(8, 16), hidden=16, seed=0), tr.X, tr.y, X_test=te.X, y_test=te.y,
                     batch_size=32, max_epochs=30, progress=False)
    assert r.converged and r.final_test_accuracy > 0.95


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(X=np.array([[np.nan, 0.0]] * 4)), "NaN or inf"),
        (dict(y=np.array([0, 1, 1])), "different lengths"),
        (dict(y=np.array([0, 1, 2, 1])), "labels must be 0 or 1"),
        (dict(lr=0), "lr must be a finite number > 0"),
        (dict(max_epochs=0), r"max_epochs \(the epoch cap\) must be an integer in \[1, 1000000\]"),
        (dict(batch_size=0), "batch_size must be an integer >= 1 or None"),
        (dict(device="tpu"), "unknown device"),
        (dict(X_test=np.zeros((2, 2))), "pass both X_test and y_test"),
    ],
)
def test_fit_bad_input(kwargs, match):
    args = dict(X=np.zeros((4, 2), np.float32), y=np.array([0, 1, 0, 1]))
    args.update(kwargs)
    X, y = args.pop("X"), args.pop("y")
    with pytest.raises(ValueError, match=match):
        training.fit(models.mlp(2, 3, 1), X, y, progress=False, **args)


def test_fit_names_the_expected_input_shape():
    """A new user's mistake: 3 features into a net built for 2; caught before training."""
    X, y = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32), np.array([0, 1] * 5)
    with pytest.raises(ValueError, match=r"expects input of shape \[n, 2\] \(its first layer is "
                                         r"Linear\(in_features=2\)\), but X has shape \(10, 3\); .*mlp\(X.shape\[1\]"):
        training.fit(models.mlp(2, 5, 2), X, y, progress=False)
    with pytest.raises(ValueError, match=r"\[n, 1, height, width\].*X has shape \(4, 3, 8, 8\)"):
        training.fit(models.cnn(1), np.zeros((4, 3, 8, 8), np.float32), np.array([0, 1, 0, 1]), progress=False)
    with pytest.raises(ValueError, match=r"but X_test has shape \(10, 3\)"):
        training.fit(models.mlp(2, 5, 2), X[:, :2], y, X_test=X, y_test=y, progress=False)
    with pytest.raises(ValueError, match=r"logits of shape \[n, number of classes >= 2\]"):
        training.fit(models.mlp(2, 5, 2, out_dim=1), X[:, :2], y, progress=False)


def test_seeded_nets_built_in_threads_at_once_are_each_their_own_seed():
    """torch's generator is global: concurrent seeded builds (a threaded sweep) must not draw from each other."""
    from concurrent.futures import ThreadPoolExecutor

    def weights(seed):
        return torch.cat([p.detach().flatten() for p in models.mlp(2, 32, 4, "relu", seed=seed).parameters()])

    expected = {s: weights(s) for s in range(8)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(weights, [s for _ in range(10) for s in range(8)]))
    assert all(torch.equal(w, expected[i % 8]) for i, w in enumerate(got))
