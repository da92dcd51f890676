"""models.save / models.load: bounded, verified loading (issue 13) and argument checks."""
import json
import resource
import time

import pytest
import torch

from topokit import _checks, activations, models
from topokit.models import InvalidParameterError, UnverifiedModelWarning


def _mlp(act="relu", seed=0):
    return models.mlp(2, 6, 3, act, seed=seed)


def _cnn(act="relu", seed=0, batch_norm=True):
    net = models.cnn(1, channels=(3, 4), hidden=5, activation=act, batch_norm=batch_norm, seed=seed)
    with torch.no_grad():  # non-trivial running statistics, so they matter in eval mode
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    return net.eval()


def _read(path):
    return torch.load(path, weights_only=True)


def _edit(path, out, **arch_changes):
    """Copy of a saved file with fields of its architecture JSON changed (a hand edit)."""
    state = _read(path)
    arch = json.loads(state["architecture"])
    arch.update(arch_changes)
    state["architecture"] = json.dumps(arch)
    torch.save(state, out)
    return out


def _old_format(net, path):
    """What topokit.models.save wrote before digests: format version 1, exactly these four keys."""
    arch = models.architecture(net)
    torch.save({"format": "topokit-model", "version": 1, "architecture": json.dumps(arch),
                "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()}}, path)
    return path


def _logits(net, x):
    with torch.no_grad():
        return net.eval()(x)


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("make, x", [
    (lambda: _mlp("tanh"), torch.randn(9, 2)),
    (lambda: _mlp(activations.member_name(0.1, -0.5)), torch.randn(9, 2)),
    (lambda: _cnn("topo"), torch.randn(3, 1, 12, 12)),
    (lambda: _cnn("leaky_relu", batch_norm=False), torch.randn(3, 1, 12, 12)),
])
def test_round_trip_keeps_logits_and_records_a_digest(tmp_path, make, x):
    net = make()
    path = models.save(net, str(tmp_path / "m.pt"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    state = _read(path)
    assert state["version"] == 2 and state["digest"].startswith("sha256:") and len(state["digest"]) == 7 + 64
    back = models.load(path)
    assert not back.training
    assert torch.equal(_logits(back, x), _logits(net, x))
    assert models.architecture(back) == models.architecture(net)


def test_parametric_activation_settings_are_stored_and_digested(tmp_path):
    path = models.save(_cnn("topo"), tmp_path / "m.pt")
    assert json.loads(_read(path)["activation_parameters"]) == {"s": -0.5, "w": 0.1}
    # another family member under the same JSON fields: the digest catches the edited name
    net = _mlp(activations.member_name(0.1, -0.5))
    p = models.save(net, tmp_path / "member.pt")
    with pytest.raises(ValueError, match="fails its integrity check"):
        models.load(_edit(p, tmp_path / "edited.pt", activation=activations.member_name(0.2, -0.5)))
    # ... and so do the stored settings
    state = _read(p)
    state["activation_parameters"] = json.dumps({"s": -0.5, "w": 0.2})
    torch.save(state, tmp_path / "edited2.pt")
    with pytest.raises(ValueError, match="fails its integrity check"):
        models.load(tmp_path / "edited2.pt")


def test_registry_drift_of_a_parametric_activation_is_refused(tmp_path, monkeypatch):
    path = models.save(_mlp("topo"), tmp_path / "m.pt")
    monkeypatch.setitem(activations.ACTIVATIONS, "topo", lambda: activations.Collapse(0.3, -0.5))
    with pytest.raises(ValueError, match=r"saved with activation 'topo' set to \{'s': -0.5, 'w': 0.1\}.*"
                                         r"\{'s': -0.5, 'w': 0.3\}"):
        models.load(path)


def test_save_refuses_activation_modules_that_differ_from_the_name(tmp_path):
    net = _mlp("topo")
    net.blocks[1][1].w = 0.4  # the net is named 'topo' but one layer no longer computes topo
    with pytest.raises(ValueError, match=r"hidden2's activation holds TopoActivation\(w=0.4, s=-0.5\), not the activation 'topo'"):
        models.save(net, tmp_path / "m.pt")
    net = models.mlp(2, 3, 2, "gelu")
    net.blocks[0][1] = torch.nn.GELU(approximate="tanh")
    with pytest.raises(ValueError, match="not the activation 'gelu'"):
        models.save(net, tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []
    # torch's own ReLU module passed by instance is the same activation: saved and reloaded
    plain = models.mlp(2, 3, 2, torch.nn.ReLU(), seed=0)
    x = torch.randn(4, 2)
    assert torch.equal(_logits(models.load(models.save(plain, tmp_path / "p.pt")), x), _logits(plain, x))


def test_old_file_without_digest_loads_with_a_warning(tmp_path):
    for net, x in [(_mlp("tanh"), torch.randn(5, 2)), (_cnn("topo"), torch.randn(2, 1, 8, 8))]:
        path = _old_format(net, tmp_path / "old.pt")
        with pytest.warns(UnverifiedModelWarning, match="old.pt was written before topokit recorded digests.*re-save"):
            back = models.load(path)
        assert torch.equal(_logits(back, x), _logits(net, x))
        # re-saving adds the digest: no warning any more
        again = models.save(back, tmp_path / "new.pt")
        with _no_warning():
            models.load(again)


class _no_warning:
    def __enter__(self):
        import warnings
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error", UnverifiedModelWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


# ----------------------------------------------------------------------------- tampering


def test_json_activation_edited_to_tanh_on_relu_weights_is_refused(tmp_path):
    path = models.save(_mlp("relu"), tmp_path / "m.pt")
    edited = _edit(path, tmp_path / "tanh.pt", activation="tanh")
    with pytest.raises(InvalidParameterError, match=r"tanh\.pt fails its integrity check.*activation 'tanh'.*"
                                                    r"not written by topokit.models.save or was edited"):
        models.load(edited)
    # the same edit on a CNN
    path = models.save(_cnn("relu"), tmp_path / "c.pt")
    with pytest.raises(ValueError, match="fails its integrity check"):
        models.load(_edit(path, tmp_path / "c_tanh.pt", activation="tanh"))


def test_edited_weights_or_dtypes_are_refused(tmp_path):
    path = models.save(_mlp(), tmp_path / "m.pt")
    state = _read(path)
    state["state_dict"]["blocks.1.0.weight"][0, 0] += 1e-3
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(ValueError, match="fails its integrity check"):
        models.load(tmp_path / "w.pt")
    state = _read(path)
    state["state_dict"] = {k: v.double() for k, v in state["state_dict"].items()}
    torch.save(state, tmp_path / "d.pt")
    with pytest.raises(ValueError, match="fails its integrity check"):
        models.load(tmp_path / "d.pt")
    state = _read(path)
    del state["digest"]
    torch.save(state, tmp_path / "nodigest.pt")
    with pytest.raises(ValueError, match="format version 2 but no valid digest"):
        models.load(tmp_path / "nodigest.pt")


@pytest.mark.parametrize("old", [False, True])
def test_shape_mismatch_names_declared_and_held(tmp_path, old):
    net = _mlp()
    path = _old_format(net, tmp_path / "m.pt") if old else models.save(net, tmp_path / "m.pt")
    edited = _edit(path, tmp_path / "e.pt", widths=[6, 7, 6])
    with pytest.raises(ValueError, match=r"e\.pt does not match its architecture: the file declares a "
                                         r"mlp 2-\[6, 7, 6\]-2.*blocks\.1\.0\.weight: architecture \(7, 6\) vs weights "
                                         r"\(6, 6\).*not written by topokit.models.save or was edited"):
        models.load(edited)
    edited = _edit(path, tmp_path / "e2.pt", widths=[6, 6])
    with pytest.raises(ValueError, match=r"missing blocks\.2\.weight, blocks\.2\.bias; unexpected blocks\.2\.0\.bias, "
                                         r"blocks\.2\.0\.weight, blocks\.3\.bias, blocks\.3\.weight"):
        models.load(edited)


@pytest.mark.parametrize("changes, match", [
    (dict(widths=[6, 6.0, 6]), r"widths\[1\] must be an integer >= 1, got 6.0"),
    (dict(widths=[6, -6, 6]), r"widths\[1\] must be an integer >= 1, got -6"),
    (dict(widths=[]), "'widths' must be a non-empty list"),
    (dict(widths="666"), "'widths' must be a non-empty list"),
    (dict(in_dim=True), "in_dim must be an integer >= 1, got True"),
    (dict(activation="swishy"), "'activation' must be one of .*relu.*, got 'swishy'"),
    (dict(activation=["relu"]), "'activation' must be one of"),
    (dict(kind="rnn"), "'kind' must be 'cnn' or 'mlp', got 'rnn'"),
    (dict(dropout=0.5), r"a mlp description has the fields .*; unexpected \['dropout'\]"),
    (dict(widths=[6] * 50), "50 hidden layers need at least 102 tensors but the weights hold 8"),
])
def test_invalid_descriptions_are_refused_field_by_field(tmp_path, changes, match):
    path = models.save(_mlp(), tmp_path / "m.pt")
    with pytest.raises(InvalidParameterError, match="e.pt declares an invalid architecture: " + match):
        models.load(_edit(path, tmp_path / "e.pt", **changes))


def test_invalid_cnn_description_fields(tmp_path):
    path = models.save(_cnn(), tmp_path / "c.pt")
    with pytest.raises(ValueError, match="batch_norm must be True or False, got 1"):
        models.load(_edit(path, tmp_path / "e.pt", batch_norm=1))
    state = _read(path)
    arch = json.loads(state["architecture"])
    del arch["hidden"]
    state["architecture"] = json.dumps(arch)
    torch.save(state, tmp_path / "e.pt")
    with pytest.raises(ValueError, match=r"missing \['hidden'\]"):
        models.load(tmp_path / "e.pt")


@pytest.mark.parametrize("old", [False, True])
def test_small_file_declaring_huge_layers_fails_fast_without_allocating(tmp_path, old):
    net = models.mlp(2, 3, 3, seed=0)
    path = _old_format(net, tmp_path / "m.pt") if old else models.save(net, tmp_path / "m.pt")
    huge = _edit(path, tmp_path / "huge.pt", widths=[100_000] * 3)  # 2e10 parameters, about 80 GB
    wide = _edit(path, tmp_path / "wide.pt", widths=[100_000, 3, 3])  # under the limit, wrong shapes
    assert huge.stat().st_size < 4096 and wide.stat().st_size < 4096
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"huge\.pt declares a mlp 2-\[100000, 100000, 100000\]-2.* with "
                                         r"20,000,700,002 parameters, more than max_parameters=100,000,000.*"
                                         r"pass max_parameters=20000700002"):
        models.load(huge)
    with pytest.raises(ValueError, match=r"does not match its architecture.*blocks\.0\.0\.weight: architecture "
                                         r"\(100000, 2\) vs weights \(3, 2\)"):
        models.load(wide)
    with pytest.raises(ValueError, match="does not match its architecture"):  # raising the limit still builds nothing
        models.load(huge, max_parameters=10**11)
    elapsed = time.perf_counter() - t0
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024  # ru_maxrss is in KiB on Linux
    assert elapsed < 1.0, elapsed
    assert grown_mib < 200, grown_mib


def test_max_parameters_limits_legitimate_files_too(tmp_path):
    net = _cnn()
    n = sum(v.numel() for v in net.state_dict().values())
    path = models.save(net, tmp_path / "c.pt")
    with pytest.raises(ValueError, match=f"with {n:,} parameters, more than max_parameters=100.*"
                                         f"pass max_parameters={n}"):
        models.load(path, max_parameters=100)
    models.load(path, max_parameters=n)
    with pytest.raises(InvalidParameterError, match="max_parameters must be an integer >= 1"):
        models.load(path, max_parameters=0)


def test_file_larger_than_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big.pt"
    path.write_bytes(b"\0" * (64 << 20) + b"\0" * 1000)  # sparse-ish: 64 MiB + 1000 bytes

    def no_read(*a, **k):
        raise AssertionError("torch.load called")

    monkeypatch.setattr(models.torch, "load", no_read)
    with pytest.raises(ValueError, match=r"big\.pt is 64\.0 MiB, more than a model of at most max_parameters=100 "
                                         r"values can take"):
        models.load(path, max_parameters=100)


def test_from_state_checks_in_memory_states():
    net = _mlp()
    state = models.to_state(net)
    assert torch.equal(_logits(models.from_state(state), torch.ones(1, 2)), _logits(net, torch.ones(1, 2)))
    arch = json.loads(state["architecture"])
    arch["activation"] = "sigmoid"
    with pytest.raises(ValueError, match="the model state fails its integrity check"):
        models.from_state(dict(state, architecture=json.dumps(arch)))
    with pytest.raises(ValueError, match="format version 9, newer than this topokit reads"):
        models.from_state(dict(state, version=9))
    with pytest.raises(ValueError, match="not a dict of names to dense tensors"):
        models.from_state(dict(state, state_dict={"blocks.0.0.weight": [1.0]}))
    with pytest.raises(ValueError, match="not a topokit model"):
        models.from_state({"state_dict": {}})


# ----------------------------------------------------------------------------- paths and files


def test_save_to_a_missing_folder_or_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cannot save the model to .*nowhere/m\.pt: the folder .*nowhere "
                                                r"does not exist; create it first"):
        models.save(_mlp(), tmp_path / "nowhere" / "m.pt")
    assert list(tmp_path.iterdir()) == []  # nothing created
    with pytest.raises(InvalidParameterError, match="is a folder; pass a file name inside it"):
        models.save(_mlp(), tmp_path)
    with pytest.raises(InvalidParameterError, match="path must be a file path .*got int"):
        models.save(_mlp(), 3)
    # issue 14: any nn.Module is saved now (as Torch-Pruning's pruned state); a non-module is still refused
    with pytest.raises(InvalidParameterError, match="model must be a torch nn.Module, got str"):
        models.save("net", tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    net = _mlp(seed=1)
    path = models.save(net, tmp_path / "m.pt")
    before = path.read_bytes()

    def half_then_fail(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(models.torch, "save", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        models.save(_mlp(seed=2), path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    assert path.read_bytes() == before
    monkeypatch.undo()
    x = torch.randn(3, 2)
    assert torch.equal(_logits(models.load(path), x), _logits(net, x))


def test_load_names_missing_foreign_and_truncated_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no model file at .*absent\.pt"):
        models.load(tmp_path / "absent.pt")
    with pytest.raises(ValueError, match="is not a file"):
        models.load(tmp_path)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.pt is empty: truncated or not a model file"):
        models.load(tmp_path / "empty.pt")
    (tmp_path / "notes.txt").write_text("hello world")
    with pytest.raises(ValueError, match=r"notes\.txt is truncated or not a model file written by "
                                         "topokit.models.save"):
        models.load(tmp_path / "notes.txt")
    blob = models.save(_cnn(), tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(blob[: len(blob) // 3])
    with pytest.raises(ValueError, match=r"cut\.pt is truncated or not a model file"):
        models.load(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match=r"foreign\.pt is not a topokit model"):
        models.load(tmp_path / "foreign.pt")
    with pytest.raises(InvalidParameterError, match="path must be a file path"):
        models.load(None)


# ----------------------------------------------------------------------------- huge nets


@pytest.mark.parametrize("build, match", [
    (lambda: models.mlp(2, 10**6, 10**3), r"mlp\(2, 1000000, 1000, out_dim=2\) with 999,001,004,000,002 parameters "
                                          r"would need about [\d,.]+ GiB"),
    (lambda: models.mlp(2, 1, 10**8), r"with 200,000,005 parameters would need about [\d,.]+ GiB"),
    (lambda: models.cnn(3, channels=(10**5, 10**5)), r"cnn\(3, channels=\[100000, 100000\], hidden=64\) with "
                                                     r"90,010,100,196 parameters would need about 335\.\d\d GiB"),
])
def test_huge_nets_are_refused_fast_with_what_they_need(build, match):
    t0 = time.perf_counter()
    with pytest.raises(InvalidParameterError, match=match + ".*max_memory_bytes="):
        build()
    assert time.perf_counter() - t0 < 1.0


def test_max_memory_bytes_budget_for_builders():
    with pytest.raises(InvalidParameterError, match=r"mlp\(2, 15, 9, out_dim=2\) with 1,997 parameters"):
        models.mlp(2, 15, 9, max_memory_bytes=1000)
    assert models.mlp(2, 15, 9, max_memory_bytes=10**9)(torch.zeros(1, 2)).shape == (1, 2)
    with pytest.raises(InvalidParameterError, match=r"cnn\(1, channels=\[16, 32, 64\], hidden=64\)"):
        models.cnn(1, max_memory_bytes=1000)
    n = sum(p.numel() for p in models.cnn(1).state_dict().values())
    assert f"with {n:,} parameters" in str(pytest.raises(_checks.InvalidParameterError, models.cnn, 1,
                                                         max_memory_bytes=1000).value)


# ----------------------------------------------------------------------------- issue 14: the ResNet and any model


def _resnet(seed=0):
    net = models.resnet(8, width=3, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
    return net.eval()


def test_resnet_round_trip_and_its_description_is_checked(tmp_path):
    net = _resnet()
    path = models.save(net, tmp_path / "r.pt")
    state = _read(path)
    assert state["version"] == 3 and json.loads(state["architecture"]) == {
        "kind": "resnet", "depth": 8, "in_channels": 3, "num_classes": 2, "widths": [3, 6, 12],
        "inner": [[3], [6], [12]]}
    back = models.load(path)
    x = torch.randn(2, 3, 16, 16)
    assert isinstance(back, models.ResNet) and not back.training and torch.equal(_logits(back, x), _logits(net, x))
    with pytest.raises(ValueError, match=r"does not match its architecture.*layer1\.0\.conv1\.weight: architecture "
                                         r"\(4, 3, 3, 3\) vs weights \(3, 3, 3, 3\)"):
        models.load(_edit(path, tmp_path / "w.pt", inner=[[4], [6], [12]]))
    with pytest.raises(ValueError, match=r"depth must be 6n \+ 2"):
        models.load(_edit(path, tmp_path / "d.pt", depth=9))
    with pytest.raises(ValueError, match="'inner' must be 3 lists of 1 filter counts"):
        models.load(_edit(path, tmp_path / "i.pt", inner=[[3, 3], [6], [12]]))
    state["version"] = 2  # a version-2 reader knows no resnet: neither does a file that claims to be one
    torch.save(state, tmp_path / "v2.pt")
    with pytest.raises(ValueError, match=r"'kind' must be 'cnn' or 'mlp', got 'resnet' \(a version 2 file\)"):
        models.load(tmp_path / "v2.pt")
    state = _read(path)
    state["state_dict"]["fc.bias"] += 1
    torch.save(state, tmp_path / "b.pt")
    with pytest.raises(ValueError, match="fails its integrity check"):
        models.load(tmp_path / "b.pt")
    net.layer1[0].downsample = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.BatchNorm2d(3))
    with pytest.raises(ValueError, match="cannot describe this model's architecture: layer1.0's layers do not fit"):
        models.save(net, tmp_path / "edited.pt")


class _Tied(torch.nn.Module):
    """Two layers sharing one weight, a non-persistent buffer and a plain attribute."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 2, 1)
        self.again = torch.nn.Conv2d(2, 2, 1)
        self.again.weight = self.conv.weight
        self.register_buffer("offset", torch.full((1, 2, 1, 1), 0.5), persistent=False)
        self.gain = 2.0

    def forward(self, x):
        return self.gain * self.again(self.conv(x)) + self.offset


def test_any_model_is_saved_without_pickle_and_ties_buffers_and_attributes_come_back(tmp_path):
    import torch_pruning as tp

    raw = tmp_path / "raw.pt"  # Torch-Pruning's own format holds modules and hooks: weights_only refuses it
    torch.save(tp.state_dict(_Tied()), raw)
    with pytest.raises(Exception, match="(?i)weights only"):
        torch.load(raw, weights_only=True)
    net = _Tied()
    with torch.no_grad():
        net.offset.fill_(-1.5)
    net.gain = 3.0
    path = models.save(net, tmp_path / "tied.pt")
    state = _read(path)  # plain strings and tensors
    assert sorted(state["state_dict"]) == ["again.bias", "conv.bias", "conv.weight", "offset"]
    back = models.load(path, model=_Tied())
    assert back.again.weight is back.conv.weight and back.gain == 3.0 and float(back.offset[0, 0]) == -1.5
    x = torch.randn(2, 2, 3, 3)
    assert torch.equal(_logits(back, x), _logits(net, x))
    state["state_dict"]["offset"] += 1  # an edited tensor
    torch.save(state, tmp_path / "edited.pt")
    with pytest.raises(ValueError, match="fails its integrity check"):
        models.load(tmp_path / "edited.pt", model=_Tied())
    state = _read(path)
    arch = json.loads(state["architecture"])
    arch["modules"][1]["attributes"]["out_channels"] = 3
    state["architecture"] = json.dumps(arch)
    torch.save(state, tmp_path / "attr.pt")
    with pytest.raises(ValueError, match="fails its integrity check"):
        models.load(tmp_path / "attr.pt", model=_Tied())


def test_a_state_without_an_unpruned_record_needs_a_model_at_least_as_large(tmp_path):
    small = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Conv2d(2, 2, 3))
    path = models.save(small, tmp_path / "s.pt")
    assert json.loads(_read(path)["architecture"])["unpruned"] is None  # topokit did not prune it
    wide = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 3))
    back = models.load(path, model=wide)  # what Torch-Pruning could have pruned it to
    x = torch.randn(1, 1, 6, 6)
    assert torch.equal(_logits(back, x), _logits(small, x)) and wide[0].out_channels == 4
    narrow = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3), torch.nn.ReLU(), torch.nn.Conv2d(1, 2, 3))
    with pytest.raises(ValueError, match=r"0\.weight has shape \(1, 1, 3, 3\) in model=, smaller than the saved "
                                         r"\(2, 1, 3, 3\)"):
        models.load(path, model=narrow)
    with pytest.raises(ValueError, match="model must be an nn.Module"):
        models.load(path, model="Sequential")
    with pytest.raises(ValueError, match="model= is only for models topokit did not build"):
        models.load(models.save(_mlp(), tmp_path / "m.pt"), model=small)
