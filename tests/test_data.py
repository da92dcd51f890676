"""Datasets: shapes, balance, determinism, ground truth, empty margins, loaders and their errors."""
import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from topokit import data
from topokit.data import load

has_shared = pytest.mark.skipif(
    not any((d / "fashion-mnist").is_dir() for d in data.data_dirs()),
    reason="image datasets not found: set TOPOKIT_DATA to the folder holding them (see README)",
)


@pytest.mark.parametrize(
    "name, dim, sizes",
    [("D-I", 2, (7800, 2600)), ("D-II", 3, (45000, 11250)), ("D-III", 3, (37800, 9450))],
)
def test_naitzat_sets_default_sizes_and_types(name, dim, sizes):
    train, hom, test = (load(name, split=s) for s in ("train", "homology", "test"))
    assert train.X.shape == (sizes[0], dim) and hom.X.shape == (sizes[1], dim) and test.X.shape == (sizes[1], dim)
    for d in (train, hom, test):
        assert d.X.dtype == np.float32 and d.y.dtype == np.int64
        assert set(np.unique(d.y)) == {0, 1}
        assert np.all(np.isfinite(d.X))
    # splits are different point sets
    assert not np.array_equal(train.X[: len(hom)], hom.X)


def test_ground_truth_betti_metadata():
    assert load("D-I", n=500).betti == {0: (9, 0), 1: (1, 9)}
    assert load("D-II", n=500).betti == {0: (9, 9, 0), 1: (9, 9, 0)}
    assert load("D-III", n=500).betti == {0: (9, 0, 9), 1: (18, 0, 9)}
    assert load("D-I-grid", g=13, n=2000).betti == {0: (169, 0), 1: (1, 169)}
    assert load("checkerboard", c=18, n=3000).betti == {0: (162, 0), 1: (162, 0)}
    assert load("checkerboard", c=5, n=500).betti == {0: (13, 0), 1: (12, 0)}


def test_large_betti_families_exceed_150():
    for d in (load("D-I-grid", n=2000), load("checkerboard", n=3000)):
        assert max(sum(b) for b in d.betti.values()) > 150


@pytest.mark.parametrize("name", ["D-I", "D-II", "D-III", "D-I-grid", "checkerboard"])
def test_deterministic_under_seed(name):
    a, b, c = load(name, n=600, seed=3), load(name, n=600, seed=3), load(name, n=600, seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


def test_size_scales_counts():
    assert len(load("D-I", size=0.5)) == 3900
    assert len(load("D-II", split="homology", size=0.1)) == 1125


def test_class_balance():
    # D-II and D-III are balanced by construction; D-I's proportions follow the areas
    for name in ("D-II", "D-III", "checkerboard"):
        counts = load(name, n=1800).class_counts
        assert abs(counts[0] - counts[1]) <= 0.02 * counts.sum(), (name, counts)
    d = load("D-I")
    area_disks = 9 * np.pi * 1.3 ** 2
    area_square = 400 - 9 * np.pi * 1.8 ** 2
    expected = area_disks / (area_disks + area_square)
    assert abs(d.class_counts[0] / len(d) - expected) < 0.01


def _dist_to_centres(X):
    angles = np.arange(8) * 2 * np.pi / 8
    centres = np.vstack([[0, 0], 7 * np.c_[np.cos(angles), np.sin(angles)]])
    return np.min(np.linalg.norm(X[:, None] - centres[None], axis=-1), axis=1)


def test_d1_margin_empty_and_classes_where_they_belong():
    for split in ("train", "homology", "test"):
        d = load("D-I", split=split)
        dist = _dist_to_centres(d.X.astype(np.float64))
        assert not np.any((dist > 1.3 + 1e-5) & (dist <= 1.8 - 1e-5)), "points inside the empty margin"
        assert np.all(dist[d.y == 0] <= 1.3 + 1e-5)
        assert np.all(dist[d.y == 1] > 1.8 - 1e-5)
        assert np.all(np.abs(d.X) <= 10)


def test_d1_margin_parameter_respected():
    d = load("D-I", margin=1.0, n=3000)
    dist = _dist_to_centres(d.X.astype(np.float64))
    assert dist[d.y == 1].min() > 2.3 - 1e-5


def test_checkerboard_cells_separated_by_margin():
    d = load("checkerboard", c=6, n=4000, margin=0.6)
    X = d.X.astype(np.float64) + 6  # back to [0, 12]
    frac = np.mod(X, 2.0)
    assert np.all(np.minimum(frac, 2 - frac) > 0.3 - 1e-5)
    cells = np.floor(X / 2).astype(int)
    np.testing.assert_array_equal((cells[:, 0] + cells[:, 1]) % 2, d.y)


def test_d2_tori_do_not_touch_across_classes():
    from scipy.spatial import cKDTree

    d = load("D-II", split="homology")
    gap = cKDTree(d.X[d.y == 0]).query(d.X[d.y == 1])[0].min()
    assert gap > 0.01


def test_d3_shells_nested_per_unit():
    from scipy.spatial import cKDTree

    d = load("D-III", n=2700, seed=1)
    X = d.X.astype(np.float64)
    assert cKDTree(X[d.y == 0]).query(X[d.y == 1])[0].min() > 0.05  # the classes never touch
    # in the unit at the origin (scaled coordinates), class 0 sits between the ball and the outer shell
    r = np.linalg.norm(X, axis=1)
    unit = r < 0.6
    inner, outer = r[unit & (d.y == 0)], r[unit & (d.y == 1)]
    assert inner.min() > outer[outer < inner.min()].max()
    assert inner.max() < outer[outer > inner.max()].min()
    assert outer.min() < inner.min() < inner.max() < outer.max()


def test_noise_jitters_points():
    a, b = load("D-I", n=500), load("D-I", n=500, noise=0.05)
    assert 0 < np.abs(a.X - b.X).mean() < 0.1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="D-IV"), "unknown dataset 'D-IV'; choose one of"),
        (dict(name="D-I", split="validation"), "split of 'D-I' must be one of 'train', 'test', 'homology', got 'validation'"),
        (dict(name="D-I", size=0), r"size must be a finite number > 0, got 0"),
        (dict(name="D-I", radius=5.0), "too large"),
        (dict(name="D-I", bogus=1), r"unknown parameter\(s\) \['bogus'\]"),
        (dict(name="D-I", seed=-1), "seed must be an integer >= 0, got -1"),
        (dict(name="digits", split="homology"), "split of 'digits' must be one of 'train', 'test', got 'homology'"),
        (dict(name="digits", classes=(3, 11)), "unknown class 11"),
        (dict(name="digits", classes=(3, 3)), "two different classes"),
        (dict(name="digits", image_size=0), r"image_size must be an integer in \[1, 1024\] or None, got 0"),
        (dict(name="D-I", n=10**9), "more than the cap"),
        (dict(name="D-I", n=10**8, max_points=10**10), "would need about"),
        (dict(name="D-I-grid", g=10**5), "more than the cap"),
        (dict(name="D-I", noise=float("nan")), "noise must be a finite number >= 0"),
        (dict(name="D-I", noise=-1.0), "noise must be"),
        (dict(name="D-I", n=2.5), "n \\(number of points\\) must be an integer"),
        (dict(name="D-I", size=float("inf")), "size must be a finite number"),
        (dict(name=["D-I"]), "dataset name must be a string"),
        (dict(name="cifar10", image_size=10**6), "image_size must be an integer in"),
        (dict(name="checkerboard", c=1), r"c \(cells per side\) must be an integer >= 2, got 1"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load(**kwargs)


def test_digits_pair_always_available():
    tr, te = load("digits", classes=(3, 8)), load("digits", split="test", classes=(3, 8))
    assert tr.X.shape[1:] == (1, 8, 8) and tr.X.dtype == np.float32 and tr.y.dtype == np.int64
    assert len(tr) + len(te) == 183 + 174
    assert 0.0 <= tr.X.min() and tr.X.max() <= 1.0
    np.testing.assert_array_equal(load("digits").X, load("digits").X)


def test_validate_xy_errors():
    X = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="NaN or inf"):
        data.validate_xy(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="different lengths"):
        data.validate_xy(X, np.zeros(3))
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        data.validate_xy(X, np.array([0, 1, 2, 1]))
    with pytest.raises(ValueError, match="non-empty"):
        data.validate_xy(np.zeros((0, 2)))


# ---------------------------------------------------------------------------------------------
# Loaders of files
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """Point the loaders at empty folders only."""
    monkeypatch.setenv("TOPOKIT_DATA", str(tmp_path / "here"))
    monkeypatch.setattr(data, "PROJECT_DATA_DIR", tmp_path / "project-data")
    monkeypatch.delenv("TOPOKIT_DOWNLOAD", raising=False)
    return tmp_path


def test_missing_files_error_names_every_path_tried(no_data):
    with pytest.raises(FileNotFoundError) as info:
        load("fashion-mnist")
    msg = str(info.value)
    assert str(no_data / "here" / "fashion-mnist" / "train-images-idx3-ubyte.gz") in msg
    assert str(no_data / "project-data" / "fashion-mnist" / "train-images-idx3-ubyte.gz") in msg
    assert "TOPOKIT_DATA" in msg and "download=True" in msg
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz.*cifar-10-images.zip"):
        load("cifar10")
    with pytest.raises(FileNotFoundError, match="cats_and_dogs_filtered.zip"):
        load("cats-vs-dogs")


def test_checksum_mismatch_is_reported(no_data):
    folder = no_data / "here" / "fashion-mnist"
    folder.mkdir(parents=True)
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"not the real file")
    with pytest.warns(UserWarning, match="skipping"), \
            pytest.raises(FileNotFoundError, match="checksum mismatch.*train-images-idx3-ubyte.gz.*delete it"):
        load("fashion-mnist")


def test_corrupt_copy_early_on_the_path_does_not_hide_a_good_one(no_data, monkeypatch):
    """A damaged file in the first data folder is skipped (with a warning) for a good copy later."""
    import os

    shared = os.environ.get("TOPOKIT_DATA_REAL") or str(Path(__file__).resolve().parents[2] / "shared" / "data")
    if not (Path(shared) / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"no Fashion-MNIST copy at {shared}")
    folder = no_data / "here" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(b"truncated")
    monkeypatch.setenv("TOPOKIT_DATA", os.pathsep.join([str(no_data / "here"), shared]))
    data._verified.clear()
    with pytest.warns(UserWarning, match="skipping .*here.*checksum mismatch"):
        d = load("fashion-mnist", split="test", max_per_class=5)
    assert d.X.shape == (10, 1, 28, 28)
    assert (folder / "t10k-images-idx3-ubyte.gz").read_bytes() == b"truncated"  # the user's file is untouched


def _pet_tree(root, per_class, size, suffix="jpg"):
    """A cats_and_dogs_filtered/train tree under ``root`` with ``per_class`` images of ``size`` per class."""
    from PIL import Image

    for i, cls in enumerate(("cats", "dogs")):
        (root / cls).mkdir(parents=True)
        for j in range(per_class):
            Image.new("RGB", size, (40 * j, 100 * i, 7)).save(root / cls / f"{cls}.{j}.{suffix}")


def test_stray_files_in_an_image_folder(no_data, monkeypatch):
    """Non-image files are not images; a damaged image is named in the error."""
    root = no_data / "here" / "cats_and_dogs_filtered" / "train"
    _pet_tree(root, 3, (20, 16))
    (root / "cats" / "README.txt").write_text("not an image")
    (root / "cats" / ".DS_Store").write_bytes(b"\0\1")
    d = load("cats-vs-dogs", image_size=8)
    assert d.X.shape == (6, 3, 8, 8)
    (root / "dogs" / "broken.jpg").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="broken.jpg is not a readable image.*remove or replace"):
        load("cats-vs-dogs", image_size=8)


def test_download_is_verified_and_atomic(no_data, monkeypatch):
    """The download path: fetched from a (local) URL, checksum checked before the file appears."""
    payload = b"pretend tarball"
    src = no_data / "remote.bin"
    src.write_bytes(payload)
    good = data._Remote("cifar-10-python.tar.gz", hashlib.md5(payload).hexdigest(), src.as_uri(), "md5")
    monkeypatch.setitem(data.FILES, "cifar10-tarball", good)
    key, path = data._find(["cifar10-tarball"], "CIFAR-10", download=True)
    assert key == "cifar10-tarball" and path.read_bytes() == payload
    path.unlink()
    bad = data._Remote("cifar-10-python.tar.gz", "0" * 32, src.as_uri(), "md5")
    monkeypatch.setitem(data.FILES, "cifar10-tarball", bad)
    with pytest.raises(FileNotFoundError, match="download of .* failed.*md5"):
        data._find(["cifar10-tarball"], "CIFAR-10", download=True)
    assert not path.exists() and not list(path.parent.glob("*.part"))


def test_downloads_are_off_unless_asked(no_data, monkeypatch):
    def boom(*a, **k):  # pragma: no cover - must not be reached
        raise AssertionError("tried to download without permission")

    monkeypatch.setattr(data.urllib.request, "urlopen", boom)
    with pytest.raises(FileNotFoundError):
        load("fashion-mnist")


def test_cifar_official_tarball_format(no_data, monkeypatch):
    """A tiny tarball in the official python-pickle layout is read correctly."""
    import io
    import pickle
    import tarfile

    rng = np.random.default_rng(0)
    folder = no_data / "here"
    folder.mkdir(parents=True)
    path = folder / "cifar-10-python.tar.gz"
    arrays = {}
    with tarfile.open(path, "w:gz") as tf:
        for b in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            pixels = rng.integers(0, 256, size=(6, 3072), dtype=np.uint8)
            labels = [3, 5, 1, 3, 5, 0]
            arrays[b] = (pixels, labels)
            blob = pickle.dumps({b"data": pixels, b"labels": labels})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{b}")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    monkeypatch.setitem(data.FILES, "cifar10-tarball", data._Remote("cifar-10-python.tar.gz", md5, None, "md5"))
    d = load("cifar10", split="test", classes=("cat", "dog"))
    assert d.X.shape == (4, 3, 32, 32) and d.classes == ("cat", "dog")
    pixels, labels = arrays["test_batch"]
    cats = pixels[[i for i, l in enumerate(labels) if l == 3]].reshape(-1, 3, 32, 32) / 255.0
    got = np.sort(d.X[d.y == 0].reshape(len(cats), -1), axis=0)
    np.testing.assert_allclose(got, np.sort(cats.reshape(len(cats), -1), axis=0), atol=1e-6)
    assert len(load("cifar10", classes=("cat", "dog"))) == 5 * 4


@has_shared
def test_fashion_mnist_pair():
    d = load("fashion-mnist", classes=("t-shirt", "Trouser"))
    assert d.X.shape == (12000, 1, 28, 28) and d.classes == ("T-shirt/top", "Trouser")
    assert d.class_counts.tolist() == [6000, 6000]
    te = load("fashion-mnist", split="test", classes=(0, 1), max_per_class=50)
    assert te.X.shape == (100, 1, 28, 28) and te.X.dtype == np.float32
    with pytest.raises(ValueError, match="unknown class 'jacket'.*'Coat'"):
        load("fashion-mnist", classes=("jacket", "coat"))


@has_shared
def test_cifar10_pair_from_image_zip():
    d = load("cifar10", split="test", classes=("airplane", "ship"), max_per_class=40)
    assert d.X.shape == (80, 3, 32, 32) and d.class_counts.tolist() == [40, 40]
    assert d.X.dtype == np.float32 and 0 <= d.X.min() and d.X.max() <= 1


@has_shared
def test_cats_vs_dogs_resized():
    d = load("cats-vs-dogs", split="test", image_size=32, max_per_class=20)
    assert d.X.shape == (40, 3, 32, 32) and d.classes == ("cat", "dog")
    with pytest.raises(ValueError, match=r"image_size must be an integer in \[1, 1024\] or None, got 0"):
        load("cats-vs-dogs", image_size=0)


# ---------------------------------------------------------------------------------------------
# Decoded images cached (a warm rerun neither lists a zip nor decodes its images)
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def counted_reads(no_data, monkeypatch):
    """A fresh cache, and a counter of the images actually decoded from their files."""
    monkeypatch.setenv("TOPOKIT_CACHE", str(no_data / "cache"))
    calls = []
    real = data._folder_images

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(data, "_folder_images", counting)
    return calls


def _pet_zip(path, shade):
    """A tiny cats_and_dogs_filtered.zip (3 images per class); ``shade`` sets their colour."""
    import io
    import zipfile

    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for i, cls in enumerate(("cats", "dogs")):
            for j in range(3):
                buf = io.BytesIO()
                Image.new("RGB", (12, 10), (shade, 60 * i, 20 * j)).save(buf, format="PNG")
                zf.writestr(f"cats_and_dogs_filtered/train/{cls}/{cls}.{j}.png", buf.getvalue())
    return path


def test_images_are_decoded_once_then_read_from_the_cache(counted_reads, no_data, monkeypatch):
    path = _pet_zip(no_data / "here" / "cats_and_dogs_filtered.zip", shade=10)
    monkeypatch.setitem(data.FILES, "cats-vs-dogs", data._Remote(path.name, data.file_digest(path)))
    first = load("cats-vs-dogs", image_size=8, seed=3)
    second = load("cats-vs-dogs", image_size=8, seed=3)
    assert len(counted_reads) == 1, "the second load decoded the images again"
    np.testing.assert_array_equal(first.X, second.X)
    np.testing.assert_array_equal(first.y, second.y)
    assert second.X.dtype == np.float32 and second.y.dtype == np.int64
    load("cats-vs-dogs", image_size=8, seed=4)  # another seed draws other images: read afresh
    load("cats-vs-dogs", image_size=6, seed=3)  # another size too
    assert len(counted_reads) == 3


def test_a_changed_source_file_is_read_afresh(counted_reads, no_data, monkeypatch):
    import os

    path = _pet_zip(no_data / "here" / "cats_and_dogs_filtered.zip", shade=10)
    monkeypatch.setitem(data.FILES, "cats-vs-dogs", data._Remote(path.name, data.file_digest(path)))
    before = load("cats-vs-dogs", image_size=8)
    stamp = path.stat().st_mtime_ns
    _pet_zip(path, shade=250)  # same name, other pixels
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))
    monkeypatch.setitem(data.FILES, "cats-vs-dogs", data._Remote(path.name, data.file_digest(path)))
    after = load("cats-vs-dogs", image_size=8)
    assert len(counted_reads) == 2, "a rewritten zip was served from the cache"
    assert not np.array_equal(before.X, after.X)
    np.testing.assert_allclose(after.X[:, 0], 250 / 255, atol=1e-6)  # the red channel of the new images


def test_an_image_added_to_a_folder_tree_is_seen(counted_reads, no_data):
    from PIL import Image

    root = no_data / "here" / "cats_and_dogs_filtered" / "train"
    _pet_tree(root, 2, (9, 9), "png")
    assert len(load("cats-vs-dogs", image_size=4)) == 4
    assert len(load("cats-vs-dogs", image_size=4)) == 4
    assert len(counted_reads) == 1
    Image.new("RGB", (9, 9), (1, 2, 3)).save(root / "dogs" / "dogs.9.png")
    assert len(load("cats-vs-dogs", image_size=4)) == 5
    assert len(counted_reads) == 2


def test_images_load_without_a_usable_cache(no_data, monkeypatch):
    """A cache folder that is not topokit's (or cannot be made) only costs the decoding."""
    stranger = no_data / "not-a-cache"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("someone's folder")
    monkeypatch.setenv("TOPOKIT_CACHE", str(stranger))
    path = _pet_zip(no_data / "here" / "cats_and_dogs_filtered.zip", shade=10)
    monkeypatch.setitem(data.FILES, "cats-vs-dogs", data._Remote(path.name, data.file_digest(path)))
    assert load("cats-vs-dogs", image_size=8).X.shape == (6, 3, 8, 8)
    assert sorted(p.name for p in stranger.iterdir()) == ["notes.txt"]
