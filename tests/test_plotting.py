"""topokit.plotting: every function on small real inputs, atomic saving, input validation."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from topokit import data, models, plotting, topology, training  # noqa: E402
from topokit.fileio import PROJECT_ROOT  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def ripser_diagrams():
    """Real diagrams (ripser) of a circle, two circles and a blob: one per 'layer'."""
    from ripser import ripser

    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * np.pi, 80)
    circle = np.c_[np.cos(t), np.sin(t)] + rng.normal(scale=0.03, size=(80, 2))
    two = np.vstack([circle[:40], circle[40:] * 0.5 + 3])
    blob = rng.normal(scale=0.3, size=(60, 2))
    out = []
    for cloud in (circle, two, blob):
        dgms = ripser(cloud, maxdim=1)["dgms"]
        out.append(np.vstack([np.c_[d, np.full(len(d), q)] for q, d in enumerate(dgms)]))
    return out


@pytest.fixture(scope="module")
def tiny_nets():
    hom = data.load("D-I", split="homology", n=600, seed=0)
    nets = {act: models.mlp(2, 15, 2, act, seed=0) for act in ("relu", "tanh")}
    return hom, nets


@pytest.fixture(scope="module")
def betti_frame(tiny_nets):
    """A real layer_betti table over two activations and two 'seeds' (two subsamples)."""
    hom, nets = tiny_nets
    frames = []
    for act, net in nets.items():
        for seed in (0, 1):
            df = topology.layer_betti(net, hom.X, hom.y, k=8, n_jobs=1, max_points=60, seed=seed)
            frames.append(df.assign(activation=act, seed=seed))
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- files


def test_figures_dir_env_quick_and_default(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOKIT_FIGURES", str(tmp_path / "figs"))
    monkeypatch.delenv("TOPOKIT_QUICK", raising=False)
    assert plotting.figures_dir() == tmp_path / "figs" and (tmp_path / "figs").is_dir()
    assert plotting.figures_dir(quick=True) == tmp_path / "figs" / "quick"
    monkeypatch.setenv("TOPOKIT_QUICK", "1")
    assert plotting.figures_dir() == tmp_path / "figs" / "quick"
    assert plotting.figures_dir(quick=False) == tmp_path / "figs"
    monkeypatch.delenv("TOPOKIT_FIGURES")
    monkeypatch.setattr(plotting._base, "PROJECT_FIGURES", tmp_path / "project" / "figures")
    assert plotting.figures_dir() == tmp_path / "project" / "figures" / "quick"
    monkeypatch.setenv("TOPOKIT_QUICK", "0")
    assert plotting.figures_dir() == tmp_path / "project" / "figures"


def test_default_figures_folder_is_the_projects():
    assert plotting.PROJECT_FIGURES == PROJECT_ROOT / "figures"


def test_save_matplotlib_png_and_pdf(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOKIT_QUICK", "0")
    monkeypatch.setenv("TOPOKIT_FULL", "0")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    paths = plotting.save_figure(fig, "line", directory=tmp_path)
    assert paths == [tmp_path / "line.png", tmp_path / "line.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.pdf", "line.png"]  # no temp files
    assert plotting.save_figure(fig, "line", formats="svg", directory=tmp_path) == [tmp_path / "line.svg"]
    monkeypatch.setenv("TOPOKIT_QUICK", "1")  # quick mode: PNG only
    assert plotting.save_figure(fig, "quick", directory=tmp_path) == [tmp_path / "quick.png"]


def test_save_uses_figures_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOKIT_FIGURES", str(tmp_path))
    monkeypatch.setenv("TOPOKIT_QUICK", "1")
    fig, _ = plt.subplots()
    assert plotting.save_figure(fig, "q", formats=["png"]) == [tmp_path / "quick" / "q.png"]


def test_save_plotly_html_shares_one_local_plotlyjs(tmp_path):
    from plotly.offline import get_plotlyjs

    (a,) = plotting.save_figure(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])), "scatter", directory=tmp_path)
    (b,) = plotting.save_figure(go.Figure(go.Bar(x=[0, 1], y=[1, 2])), "bars", directory=tmp_path)
    for path in (a, b):
        html = path.read_text()
        assert "<html" in html and len(html) < 100_000  # plotly.js is not embedded in each page
        assert re.findall(r'<script[^>]+src="([^"]+)"', html) == ["plotly.min.js"]  # relative: works offline
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.html", "plotly.min.js", "scatter.html"]
    assert (tmp_path / "plotly.min.js").read_text() == get_plotlyjs()


def test_failed_save_leaves_earlier_files_intact(tmp_path, monkeypatch):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    plotting.save_figure(fig, "fig", directory=tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    ax.plot([0, 1], [1, 0], color="red")  # a different figure now
    real = fig.savefig

    def failing(fname, *args, **kwargs):
        if kwargs.get("format") == "pdf":
            raise OSError("disk full")
        return real(fname, *args, **kwargs)

    monkeypatch.setattr(fig, "savefig", failing)
    with pytest.raises(OSError, match="disk full"):
        plotting.save_figure(fig, "fig", directory=tmp_path)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # PNG not replaced either, and no temp file left


def test_failed_plotly_save_removes_temp(tmp_path, monkeypatch):
    fig = go.Figure(go.Scatter(x=[0], y=[0]))
    plotting.save_figure(fig, "p", directory=tmp_path)
    before = (tmp_path / "p.html").read_bytes()
    monkeypatch.setattr(go.Figure, "write_html", lambda self, *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        plotting.save_figure(go.Figure(), "p", directory=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.html", "plotly.min.js"]
    assert (tmp_path / "p.html").read_bytes() == before


@pytest.mark.parametrize("name", ["", "   ", "a/b", "..", "fig.png", None, "a\\b"])
def test_save_rejects_bad_names(tmp_path, name):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="name"):
        plotting.save_figure(fig, name, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_bad_formats_and_objects(tmp_path):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="cannot be saved as"):
        plotting.save_figure(fig, "x", formats=["html"], directory=tmp_path)
    with pytest.raises(ValueError, match="cannot be saved as"):
        plotting.save_figure(go.Figure(), "x", formats=["png"], directory=tmp_path)
    with pytest.raises(ValueError, match="ax.figure"):
        plotting.save_figure(ax, "x", directory=tmp_path)
    with pytest.raises(ValueError, match="formats is empty"):
        plotting.save_figure(fig, "x", formats=[], directory=tmp_path)


def test_set_style_applies_rc():
    matplotlib.rcParams["savefig.dpi"] = 72
    plotting.set_style()
    assert matplotlib.rcParams["savefig.dpi"] == 150
    assert set(plotting.CLASS_COLORS) == {0, 1}
    assert {"relu", "tanh", "leaky_relu"} <= set(plotting.ACTIVATION_COLORS)


# ----------------------------------------------------------------------------- datasets, training


def test_plot_dataset_2d_3d_and_images():
    d1 = data.load("D-I", split="homology", n=500)
    fig = plotting.plot_dataset(d1)
    (ax,) = fig.axes
    assert len([c for c in ax.collections if isinstance(c, PathCollection)]) == 2
    assert "(9, 0)" in ax.get_title() and "(1, 9)" in ax.get_title()

    d3 = data.load("D-III", split="homology", n=900)
    fig = plotting.plot_dataset(d3)
    assert fig.axes[0].name == "3d" and "(18, 0, 9)" in fig.axes[0].get_title()

    digits = data.load("digits", classes=(3, 8))
    fig = plotting.plot_dataset(digits, per_class=5)
    assert len(fig.axes[0].images) == 1
    assert fig.axes[0].images[0].get_array().shape[1] == 5 * (8 + 1)  # five 8-px images and gaps


def test_plot_dataset_draws_into_given_axes_and_checks_it():
    d2 = data.load("D-II", split="homology", n=900)
    fig = plt.figure()
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    assert plotting.plot_dataset(d2, ax=ax) is fig
    with pytest.raises(ValueError, match="projection"):
        plotting.plot_dataset(d2, ax=fig.add_subplot(1, 2, 2))
    with pytest.raises(ValueError, match="Dataset"):
        plotting.plot_dataset(np.zeros((3, 2)))


def test_plot_datasets_lays_out_2d_and_3d_panels_and_checks_its_sizes():
    sets = {"D-I": data.load("D-I", split="homology", n=300), "D-III": data.load("D-III", split="homology", n=600),
            "D-II": data.load("D-II", split="homology", n=600)}
    fig = plotting.plot_datasets(sets, ncols=2, panel_size=(3.0, 2.5), legend=False)
    assert [ax.name for ax in fig.axes] == ["rectilinear", "3d", "3d"]
    assert tuple(fig.get_size_inches()) == pytest.approx((6.0, 5.0))  # 2 columns x 2 rows of 3 x 2.5 in
    assert all(ax.get_legend() is None for ax in fig.axes) and "D-III" in fig.axes[1].get_title()
    assert len(plotting.plot_datasets(list(sets.values())[:1]).axes[0].get_legend().get_texts()) == 2
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_datasets({})
    with pytest.raises(ValueError, match="panel_size"):
        plotting.plot_datasets(sets, panel_size=(3.0,))
    with pytest.raises(ValueError, match="ncols"):
        plotting.plot_datasets(sets, ncols=0)
    plt.close("all")


def test_plot_training_curves_marks_convergence(tiny_nets):
    hom, _ = tiny_nets
    result = training.fit(models.mlp(2, 8, 2, "relu", seed=0), hom.X, hom.y, X_test=hom.X, y_test=hom.y,
                          max_epochs=5, progress=False)
    fake = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.7, 0.3, 0.1], "train_accuracy": [0.8, 1.0, 1.0]})
    fig = plotting.plot_training_curves([result, fake], labels=["real", "fake"])
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax_loss, ax_acc = fig.axes
    vlines = [ln for ln in ax_acc.lines if list(ln.get_xdata()) == [2, 2]]
    assert len(vlines) == 1  # the fake run converged at epoch 2
    assert len(ax_loss.lines) >= 2
    fig = plotting.plot_training_curves(result.history)  # a single history is fine
    assert len(fig.axes) == 2


def test_plot_training_curves_validates():
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_training_curves([])
    with pytest.raises(ValueError, match="labels"):
        plotting.plot_training_curves([pd.DataFrame({"epoch": [1], "loss": [1.0], "train_accuracy": [1.0]})],
                                      labels=["a", "b"])
    with pytest.raises(ValueError, match="missing"):
        plotting.plot_training_curves([pd.DataFrame({"epoch": [1], "loss": [1.0]})])


# ----------------------------------------------------------------------------- diagrams


def test_interactive_diagrams_frames_and_traces(ripser_diagrams):
    names = ["circle", "two circles", "blob"]
    fig = plotting.plot_diagrams_interactive(ripser_diagrams, names, title="Toy")
    assert isinstance(fig, go.Figure)
    assert len(fig.frames) == 3 and [f.name for f in fig.frames] == ["0", "1", "2"]
    assert len(fig.data) == 2 + 2  # diagonal, inf line, H0, H1
    assert [s.label for s in fig.layout.sliders[0].steps] == names
    assert all(len(f.data) == 4 for f in fig.frames)
    # the infinite H0 bar sits on the inf line, above every finite death
    inf_level = fig.data[1].y[0]
    h0 = fig.frames[0].data[2]
    finite_max = max(np.nanmax(np.where(np.isinf(d[:, 1]), np.nan, d[:, 1])) for d in ripser_diagrams)
    assert inf_level > finite_max and inf_level in list(h0.y)
    # the circle has one long H1 bar, the blob none that lives long
    h1_circle = fig.frames[0].data[3]
    assert max(np.asarray(h1_circle.y) - np.asarray(h1_circle.x)) > 0.5
    assert "Toy: circle" in fig.layout.title.text


def test_interactive_diagrams_aggregate_duplicates():
    d = np.array([[0, 1, 0]] * 50 + [[0, np.inf, 0], [1, 3, 1], [1, 3, 1]], dtype=float)
    fig = plotting.plot_diagrams_interactive([d, d[:10]])
    h0 = fig.frames[0].data[2]
    assert len(h0.x) == 2  # (0, 1) x 50 drawn once, and (0, inf)
    assert sorted(np.asarray(h0.customdata)[:, 1].tolist()) == [1, 50]
    assert len(fig.frames[1].data[3].x) == 0  # no H1 in the second layer: empty trace, same trace count


def test_grid_diagrams_axes_and_common_range(ripser_diagrams):
    diagrams = ripser_diagrams + ripser_diagrams[:2]
    fig = plotting.plot_diagrams_grid(diagrams, [f"L{i}" for i in range(5)], ncols=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 5
    limits = {(ax.get_xlim(), ax.get_ylim()) for ax in fig.axes}
    assert len(limits) == 1
    assert [ax.get_title() for ax in fig.axes] == ["L0", "L1", "L2", "L3", "L4"]
    assert all(len(ax.collections) == 2 for ax in fig.axes)  # H0 and H1 per panel


def test_grid_diagrams_from_topology(tiny_nets):
    hom, nets = tiny_nets
    outs = topology.layer_outputs(nets["tanh"], hom.X[hom.y == 1][:120])
    diagrams = [topology.persistence_diagram(o, metric="knn-geodesic", k=8, max_edge_length=4) for o in outs]
    fig = plotting.plot_diagrams_grid(diagrams, topology.layer_names(nets["tanh"]), ncols=4)
    assert len(fig.axes) == len(outs) == 4
    assert any(t.get_text().startswith("\u00d7") for t in fig.axes[0].texts)  # counts of identical points


@pytest.mark.parametrize("bad, match", [
    ([], "empty"),
    (np.zeros((3, 3)), "list of"),
    ([np.zeros((3, 2))], "shape"),
    ([np.array([[0, np.nan, 0]])], "NaN"),
    ([np.array([[np.inf, np.inf, 0]])], "infinite birth"),
    ([np.array([[0, 1, -1]])], "non-negative integers"),
    ([np.array([[0, 1, 0.5]])], "non-negative integers"),
    ([np.array([[2, 1, 0]])], "death < birth"),
])
def test_diagram_plots_reject_bad_input(bad, match):
    for fn in (plotting.plot_diagrams_interactive, plotting.plot_diagrams_grid):
        with pytest.raises(ValueError, match=match):
            fn(bad)


def test_diagram_plots_check_names_and_ncols(ripser_diagrams):
    with pytest.raises(ValueError, match="layer_names"):
        plotting.plot_diagrams_interactive(ripser_diagrams, ["a"])
    with pytest.raises(ValueError, match="ncols"):
        plotting.plot_diagrams_grid(ripser_diagrams, ncols=0)


# ----------------------------------------------------------------------------- Betti numbers


def test_betti_by_layer_real_frame(betti_frame):
    fig = plotting.plot_betti_by_layer(betti_frame, omega=True, class_names=("disks", "holed square"))
    assert isinstance(fig, Figure) and len(fig.axes) == 3  # b0, b1, omega
    for ax in fig.axes:
        data_lines = [ln for ln in ax.lines if ln.get_marker() == "o"]
        assert len(data_lines) == 4  # 2 activations x 2 classes
        assert any(isinstance(c, PolyCollection) for c in ax.collections)  # band over the two seeds
    colors = {ln.get_color() for ln in fig.axes[0].lines if ln.get_marker() == "o"}
    assert colors == {plotting.ACTIVATION_COLORS["relu"], plotting.ACTIVATION_COLORS["tanh"]}
    fig = plotting.plot_betti_by_layer(betti_frame[betti_frame.activation == "relu"], dims=[1], log=True)
    assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "symlog"


def test_betti_by_layer_means_over_seeds():
    rows = []
    for seed, b in ((0, 2), (1, 4)):
        for layer in (0, 1):
            rows += [{"layer": layer, "label": 0, "dim": 0, "betti": b, "seed": seed},
                     {"layer": layer, "label": 0, "dim": 1, "betti": 1, "seed": seed}]
    df = pd.DataFrame(rows)
    fig = plotting.plot_betti_by_layer(df, omega=True, band="std")
    b0_line = next(ln for ln in fig.axes[0].lines if ln.get_marker() == "o")
    assert list(b0_line.get_ydata()) == [3.0, 3.0]
    omega_line = next(ln for ln in fig.axes[2].lines if ln.get_marker() == "o")
    assert list(omega_line.get_ydata()) == [4.0, 4.0]  # (2 + 1 + 4 + 1) / 2
    assert b0_line.get_color() == plotting.CLASS_COLORS[0]  # no activation column: class colour


def test_betti_by_layer_validates(betti_frame):
    with pytest.raises(ValueError, match="missing"):
        plotting.plot_betti_by_layer(betti_frame.drop(columns="betti"))
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_betti_by_layer(betti_frame.iloc[:0])
    with pytest.raises(ValueError, match="DataFrame"):
        plotting.plot_betti_by_layer([1, 2])
    with pytest.raises(ValueError, match="dims"):
        plotting.plot_betti_by_layer(betti_frame, dims=[2])
    with pytest.raises(ValueError, match="epochs"):
        plotting.plot_betti_by_layer(pd.concat([betti_frame.assign(epoch=1), betti_frame.assign(epoch=2)]))
    with pytest.raises(ValueError, match="band"):
        plotting.plot_betti_by_layer(betti_frame, band="iqr")


def test_betti_by_epoch_from_recorder(tiny_nets):
    hom, _ = tiny_nets
    net = models.mlp(2, 15, 2, "tanh", seed=1)
    rec = topology.TopologyRecorder(hom.X, hom.y, every=2, k=8, n_jobs=1, max_points=60)
    training.fit(net, hom.X, hom.y, max_epochs=4, stop_at_target=False, callback=rec, progress=False)
    frame = rec.frame
    assert sorted(frame.epoch.unique()) == [1, 2, 4]
    fig = plotting.plot_betti_by_epoch(frame, class_names=hom.classes)
    grid = [ax for ax in fig.axes if ax.get_label() != "colorbar"]
    assert len(grid) == 2 * 2 and len(fig.axes) == 5  # 2 classes x 2 dims, plus the colour bar
    assert all(len([ln for ln in ax.lines if ln.get_marker() == "o"]) == 4 for ax in grid)  # 4 layers
    assert list(grid[0].lines[0].get_xdata()) == [1, 2, 4]
    fig = plotting.plot_betti_by_epoch(frame, dims=[0], layers=[0, 3])
    assert all(len([ln for ln in ax.lines if ln.get_marker() == "o"]) == 2 for ax in fig.axes[:2])
    with pytest.raises(ValueError, match="epoch"):
        plotting.plot_betti_by_epoch(frame.drop(columns="epoch"))
    with pytest.raises(ValueError, match="layers"):
        plotting.plot_betti_by_epoch(frame, layers=[7])


# ----------------------------------------------------------------------------- point clouds


def test_point_clouds_3d_and_2d(tiny_nets):
    hom, nets = tiny_nets
    outs = topology.layer_outputs(nets["relu"], hom.X)
    names = topology.layer_names(nets["relu"])
    fig = plotting.plot_point_clouds(outs, hom.y, layer_names=names, max_points=300, class_names=hom.classes)
    assert isinstance(fig, go.Figure) and len(fig.frames) == len(outs) == 4
    assert len(fig.data) == 2 and all(isinstance(t, go.Scatter3d) for t in fig.data)
    assert sum(len(t.x) for t in fig.frames[1].data) == 300
    assert "PCA 3 of 15 dims" in fig.frames[1].layout.title.text
    assert np.allclose(fig.frames[0].data[0].z, 0)  # 2-D input padded
    assert [t.name for t in fig.data] == list(hom.classes)
    fig = plotting.plot_point_clouds(outs, hom.y, layers=[0, 3], n_components=2)
    assert len(fig.frames) == 2 and all(isinstance(t, go.Scatter) for t in fig.data)
    assert [s.label for s in fig.layout.sliders[0].steps] == ["layer 0", "layer 3"]


def test_exact_pca_matches_scikit_learn_and_the_wide_path_still_projects():
    """The hand-written exact PCA gives scikit-learn's full-solver projection, signs and variance share."""
    from sklearn.decomposition import PCA

    from topokit.plotting.datasets import _exact_pca

    rng = np.random.default_rng(3)
    a = rng.normal(size=(400, 15)) @ rng.normal(size=(15, 15)) + 5.0
    ref = PCA(3, svd_solver="full")
    expected = ref.fit_transform(a)
    got, kept = _exact_pca(a, 3)
    assert np.allclose(got, expected, atol=1e-8)
    assert kept == pytest.approx(float(ref.explained_variance_ratio_.sum()))
    assert _exact_pca(np.ones((10, 4)), 3)[1] == 1.0  # a constant layer keeps "all" of no variance
    wide = [rng.normal(size=(300, 600)), rng.normal(size=(300, 2))]  # above _EXACT_PCA_DIMS: randomized PCA
    fig = plotting.plot_point_clouds(wide, rng.integers(0, 2, 300))
    assert "PCA 3 of 600 dims" in fig.frames[0].layout.title.text and len(fig.frames[0].data[0].x) > 0


def test_point_clouds_validate(tiny_nets):
    hom, nets = tiny_nets
    outs = topology.layer_outputs(nets["relu"], hom.X)
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_point_clouds([], hom.y)
    with pytest.raises(ValueError, match="labels"):
        plotting.plot_point_clouds(outs, hom.y[:-1])
    with pytest.raises(ValueError, match="layers"):
        plotting.plot_point_clouds(outs, hom.y, layers=[9])
    with pytest.raises(ValueError, match="n_components"):
        plotting.plot_point_clouds(outs, hom.y, n_components=4)
    with pytest.raises(ValueError, match="NaN"):
        plotting.plot_point_clouds([np.full((len(hom.y), 2), np.nan)], hom.y)


# ----------------------------------------------------------------------------- curves and grids


def test_betti_curves_read_at_scale(ripser_diagrams):
    fig = plotting.plot_betti_curves(ripser_diagrams, ["circle", "two", "blob"], scale=0.5,
                                     truth=[(1, 1), (2, 2), (1, 0)], ncols=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert all(len(ax.lines) == 3 for ax in fig.axes)  # H0, H1 and the scale line
    expected = topology.betti_from_diagram(ripser_diagrams[0], 0.5, 1)
    assert f"at 0.5: ({expected[0]}, {expected[1]})" in fig.axes[0].get_title()
    assert "true \u03b2 = (1, 1)" in fig.axes[0].get_title()
    h0 = fig.axes[0].lines[0]
    assert h0.get_ydata()[-1] == 1  # one infinite H0 bar left at the largest scale
    with pytest.raises(ValueError, match="truth"):
        plotting.plot_betti_curves(ripser_diagrams, truth=[(1, 1)])
    with pytest.raises(ValueError, match="scale"):
        plotting.plot_betti_curves(ripser_diagrams, scale=float("nan"))


def test_betti_grid_marks_right_answers():
    hom = data.load("D-I", split="homology", n=600)
    rows = [{"label": lab, "k": k, "scale": s, "betti": topology.betti_numbers(hom.X[hom.y == lab], k=k, hops=s)}
            for lab in (0, 1) for k in (4, 8, 14) for s in (1, 2)]
    df = pd.DataFrame(rows)
    fig = plotting.plot_betti_grid(df, truth=hom.betti, class_names=hom.classes)
    assert len(fig.axes) == 2
    for ax, lab in zip(fig.axes, (0, 1)):
        hit = ax.images[0].get_array()
        assert hit.shape == (3, 2)
        right = df[(df.label == lab)].apply(lambda r: tuple(r.betti) == hom.betti[lab], axis=1).sum()
        assert hit.sum() == right
        assert len(ax.texts) == 6
    fig = plotting.plot_betti_grid(df[df.label == 1], by=None, truth=(1, 9))
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="missing"):
        plotting.plot_betti_grid(df.drop(columns="betti"))
    with pytest.raises(ValueError, match="map each value"):
        plotting.plot_betti_grid(df, truth=(1, 9))


def test_save_figure_shows_the_saved_png_once_and_closes_the_figure(tmp_path, monkeypatch):
    """In a notebook the figure is displayed from the bytes written to its PNG, not drawn again."""
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))
    fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
    ax.plot([0, 1], [1, 0])
    (png,) = plotting.save_figure(fig, "shown", formats=["png"], directory=tmp_path, show=True)
    assert len(shown) == 1 and shown[0].data == png.read_bytes()
    width = int.from_bytes(png.read_bytes()[16:20], "big")
    assert shown[0].width == round(width * 100 / 150)  # the inline backend's size: figure dpi, not the file's
    assert not plt.fignum_exists(fig.number)  # closed: the cell's end does not draw it a second time

    fig2, ax2 = plt.subplots()
    ax2.plot([0, 1])
    plotting.save_figure(fig2, "kept", formats=["png", "pdf"], directory=tmp_path, show=False)
    plotting.save_figure(fig2, "pdf_only", formats=["pdf"], directory=tmp_path, show=True)  # no PNG: nothing shown
    assert len(shown) == 1 and plt.fignum_exists(fig2.number)
    # outside a Jupyter kernel with the inline backend, the default shows nothing and closes nothing
    plotting.save_figure(fig2, "script", formats=["png"], directory=tmp_path)
    assert len(shown) == 1 and plt.fignum_exists(fig2.number)
    with pytest.raises(ValueError, match="show"):
        plotting.save_figure(fig2, "bad", directory=tmp_path, show="yes")
    plt.close(fig2)


def test_a_plotly_figure_is_shown_as_plotlys_jupyter_renderer_shows_it_without_importing_it(tmp_path):
    """The bundle is plotly's own ``plotly_mimetype`` bundle; nbformat (3 s through jsonschema) is never imported;
    where plotly would pick another renderer (a terminal, PLOTLY_RENDERER), plotly displays the figure itself."""
    code = f"""
import json, os, sys
import IPython, IPython.display
shown = []
IPython.display.display = lambda obj, **kw: shown.append((obj, kw))
class ZMQInteractiveShell:  # what a Jupyter kernel's get_ipython() returns (ipykernel's class name)
    pass
kernel = ZMQInteractiveShell()
IPython.get_ipython = lambda: kernel
import plotly.graph_objects as go
from topokit import plotting
fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[2, 0, 1], name="a"))
saved = plotting.save_figure(fig, "page", directory={str(tmp_path)!r}, show=True)
quiet = plotting.save_figure(fig, "page2", directory={str(tmp_path)!r}, show=False)
lazy = "nbformat" not in sys.modules and "plotly.io._renderers" not in sys.modules
import plotly.io as pio
expected = pio.renderers["plotly_mimetype"].to_mimebundle(fig.to_dict())
IPython.get_ipython = lambda: None  # a terminal or a script: plotly's own display (a browser)
plotting.save_figure(fig, "page3", directory={str(tmp_path)!r}, show=True)
terminal = shown[-1][0] is fig
IPython.get_ipython = lambda: kernel
os.environ["PLOTLY_RENDERER"] = "json"
plotting.save_figure(fig, "page4", directory={str(tmp_path)!r}, show=True)
print(json.dumps({{"lazy": lazy, "same": shown[0] == (expected, {{"raw": True}}), "n": len(shown),
                  "terminal": terminal, "last_is_fig": shown[-1][0] is fig, "shown": [saved.shown, quiet.shown]}}))
"""
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    env.pop("PLOTLY_RENDERER", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "lazy": True, "same": True, "n": 3, "terminal": True, "last_is_fig": True, "shown": [True, False]}


# ----------------------------------------------------------------------------- figures drawn once


def test_draw_draws_once_and_rewrites_the_same_files_from_the_cache(tmp_path, monkeypatch):
    """A second draw with the same inputs calls no plot function and writes byte-identical files;
    another argument, another format or another rc setting draws again."""
    monkeypatch.setenv("TOPOKIT_CACHE", str(tmp_path / "cache"))
    calls = []

    def lines(table, title="t"):
        calls.append(title)
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot(table["x"], table["y"])
        ax.set_title(title)
        return fig

    table = pd.DataFrame({"x": [0, 1, 2], "y": [1.0, 0.5, 0.25]})
    out = tmp_path / "figs"
    first = plotting.draw("lines", lines, table, title="a", formats=["png", "pdf"], directory=out, show=False)
    assert [p.name for p in first] == ["lines.png", "lines.pdf"] and calls == ["a"]
    png = first[0].read_bytes()
    first[0].unlink()
    again = plotting.draw("lines", lines, table.copy(), title="a", formats=["png", "pdf"], directory=out, show=False)
    assert again == first and calls == ["a"] and first[0].read_bytes() == png  # from the cache, the same bytes
    assert not plt.get_fignums()  # nothing left open
    plotting.draw("lines", lines, table.assign(y=[1.0, 0.5, 0.3]), title="a", formats=["png"], directory=out,
                  show=False)
    plotting.draw("lines", lines, table, title="b", formats=["png"], directory=out, show=False)
    with matplotlib.rc_context({"lines.linewidth": 3.0}):
        plotting.draw("lines", lines, table, title="b", formats=["png"], directory=out, show=False)
    assert calls == ["a", "a", "b", "b"]
    with matplotlib.rc_context({"interactive": not matplotlib.rcParams["interactive"]}):  # not in the files
        plotting.draw("lines", lines, table, title="b", formats=["png"], directory=out, show=False)
    assert calls == ["a", "a", "b", "b"]


def test_draw_shows_the_png_on_a_hit_and_refuses_what_it_cannot_key(tmp_path, monkeypatch):
    import IPython.display

    monkeypatch.setenv("TOPOKIT_CACHE", str(tmp_path / "cache"))
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))

    def dot(values):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot(values, "o")
        return fig

    (a,) = plotting.draw("dot", dot, np.arange(3.0), formats=["png"], directory=tmp_path, show=True)
    (b,) = plotting.draw("dot", dot, np.arange(3.0), formats=["png"], directory=tmp_path, show=True)
    assert len(shown) == 2 and shown[0].data == shown[1].data == a.read_bytes()
    with pytest.raises(TypeError, match="argument 0.*object"):
        plotting.draw("dot", dot, [object()], directory=tmp_path, show=False)
    with pytest.raises(ValueError, match="plot must be a function"):
        plotting.draw("dot", "not a function", directory=tmp_path, show=False)
    # a plotly figure is saved as it is, every time (not cached)
    calls = []

    def bars():
        calls.append(1)
        return go.Figure(go.Bar(x=[0, 1], y=[1, 2]))

    for _ in range(2):
        (page,) = plotting.draw("bars", bars, directory=tmp_path, show=False)
    assert page.suffix == ".html" and len(calls) == 2


def test_a_cell_ending_in_a_save_shows_the_figure_not_its_paths(tmp_path, monkeypatch):
    """The returned list displays nothing in IPython once the figure was shown; otherwise it shows the paths."""
    import IPython.display

    monkeypatch.setenv("TOPOKIT_CACHE", str(tmp_path / "cache"))
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))

    def dot():
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], "o")
        return fig

    for saved in (plotting.draw("dot", dot, formats=["png"], directory=tmp_path, show=True),
                  plotting.save_figure(dot(), "dot2", formats=["png"], directory=tmp_path, show=True)):
        assert isinstance(saved, plotting.SavedFiles) and saved.shown and saved == [saved[0]]
        before = len(shown)
        saved._ipython_display_()  # what IPython calls for a cell's last value
        assert len(shown) == before  # the figure is on screen already; no list of paths under it
    quiet = plotting.draw("dot", dot, formats=["png"], directory=tmp_path, show=False)
    assert not quiet.shown
    quiet._ipython_display_()
    assert shown[-1] == [tmp_path / "dot.png"]  # not shown: the paths are displayed as usual


def test_every_figure_key_covers_the_whole_plotting_package():
    """The key's code is the package's every module, whatever this process imported, in name order."""
    from topokit.plotting import _cached

    folder = Path(plotting.__file__).parent
    expected = ["topokit.plotting"] + sorted(f"topokit.plotting.{p.stem}" for p in folder.glob("*.py")
                                             if p.stem != "__init__")
    assert [m.__name__ for m in _cached._plotting_modules()] == expected


def test_content_digest_follows_content_not_identity():
    d = pd.DataFrame({"a": [1, 2]})
    assert plotting.content_digest(d, {"k": np.arange(2)}) == plotting.content_digest(d.copy(), {"k": np.arange(2)})
    assert plotting.content_digest(d) != plotting.content_digest(d.assign(a=[1, 3]))
    assert plotting.content_digest([1, 2]) != plotting.content_digest((1, 2))
    assert plotting.content_digest(np.arange(2)) != plotting.content_digest(np.arange(2.0))


def test_draw_refuses_a_plot_defined_without_a_source_file(tmp_path, monkeypatch):
    """A plot function whose module has no file (a notebook's __main__) cannot version the cache: say so first."""
    monkeypatch.setenv("TOPOKIT_CACHE", str(tmp_path / "cache"))
    ns = {"__name__": "no_such_file_module"}
    exec("import matplotlib.pyplot as plt\ndef local_plot():\n    return plt.subplots()[0]\n", ns)
    with pytest.raises(ValueError, match="not defined in an importable module.*save_figure"):
        plotting.draw("local", ns["local_plot"], directory=tmp_path, show=False)
    assert not plt.get_fignums()  # refused before drawing
