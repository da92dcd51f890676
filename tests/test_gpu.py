"""CPU and GPU agree (run only where CUDA exists; CI has no GPU, so these skip there).

Tolerances: float32 kernels differ between CPU and CUDA (summation order, fused operations), so
results agree to rounding, not bit for bit. Over 50 full-batch Adam epochs the training losses
stay within 1e-3 (relative) and the accuracies within one percentage point; layer outputs of one
network agree to 1e-4 (absolute). Betti numbers are not compared across devices: D-I lies on a
square grid, where many neighbour distances tie exactly, and rounding differences can break those
ties differently in the kNN graph.
"""
import numpy as np
import pytest
import torch

from topokit import data, models, topology, training

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


def _train(device):
    d = data.load("D-I", split="train", size=0.25, seed=0)
    net = models.mlp(2, 15, 9, "relu", seed=0)
    result = training.fit(net, d.X, d.y, max_epochs=50, stop_at_target=False, device=device, progress=False)
    return result.history


def test_training_agrees_between_cpu_and_cuda():
    cpu, gpu = _train("cpu"), _train("cuda")
    np.testing.assert_allclose(gpu["loss"], cpu["loss"], rtol=1e-3)
    assert np.max(np.abs(gpu["train_accuracy"] - cpu["train_accuracy"])) <= 0.01


def test_auto_device_is_cuda_when_present():
    assert training.resolve_device("auto").type == "cuda"


def test_layer_outputs_agree_between_cpu_and_cuda():
    hom = data.load("D-I", split="homology", size=0.5, seed=0)
    net = models.mlp(2, 15, 9, "relu", seed=0)
    cpu = topology.layer_outputs(net, hom.X)
    gpu = topology.layer_outputs(net.to("cuda"), hom.X)
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(b, a, atol=1e-4)
