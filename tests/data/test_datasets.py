"""Loading datasets: real MNIST / Fashion-MNIST files, digits, splits, the look-up order, folders."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from glassnet.data.datasets import (
    DATASET_NAMES,
    DATASETS,
    Dataset,
    load_dataset,
    train_test_split_stratified,
)
from glassnet.errors import ConfigError, DataError, DatasetNotFoundError, FileFormatError
from glassnet.data.idx import read_idx, write_idx
from paths import SHARED_MNIST

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def shared_mnist() -> Path:
    for folder in SHARED_MNIST:
        if (folder / "t10k-images-idx3-ubyte.gz").is_file() and (folder / "t10k-labels-idx1-ubyte.gz").is_file():
            return folder
    pytest.skip("the MNIST test files of shared/data/mnist are not on this machine")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No GLASSNET_* variables and a cache inside tmp_path, whatever the machine has."""
    for name in ("GLASSNET_DATA", "GLASSNET_MIRROR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return tmp_path


def _make_idx_set(
    folder: Path, *, n_train=30, n_test=20, n_classes=3, offset=0, compress=True, parts=("train", "test")
):
    """Four (or two) small synthetic IDX files; pixel values carry ``offset`` so sets can be told apart."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    arrays = {}
    for part, n, prefix in (("train", n_train, "train"), ("test", n_test, "t10k")):
        if part not in parts:
            continue
        labels = (np.arange(n) % n_classes).astype(np.uint8)
        images = ((np.arange(n * 16).reshape(n, 4, 4) + offset) % 256).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, gzip=compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gzip=compress)
        arrays[part] = (images, labels)
    return arrays


# --------------------------------------------------------------------------- real MNIST test files


def test_shared_mnist_files_are_the_official_ones(shared_mnist):
    images_gz = (shared_mnist / "t10k-images-idx3-ubyte.gz").read_bytes()
    labels_gz = (shared_mnist / "t10k-labels-idx1-ubyte.gz").read_bytes()
    assert hashlib.md5(images_gz).hexdigest() == "9fb629c4189551a2d022fa330f9573f3"
    assert hashlib.md5(labels_gz).hexdigest() == "ec29112dd5afa0611ce80d1b7f02629c"
    # The decompressed md5s recorded in the registry, recomputed here.
    spec = DATASETS["mnist"]
    assert hashlib.md5(gzip.decompress(images_gz)).hexdigest() in spec.file("test_images").digests
    assert hashlib.md5(gzip.decompress(labels_gz)).hexdigest() in spec.file("test_labels").digests


def test_mnist_test_folder_is_split_8000_2000_stratified_and_deterministic(shared_mnist):
    ds = load_dataset(shared_mnist)
    assert ds.name == "mnist"  # recognised by its checksums
    assert ds.class_names == [str(d) for d in range(10)]
    assert ds.X_train.shape == (8000, 784) and ds.X_test.shape == (2000, 784)
    assert ds.X_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert ds.image_shape == (28, 28) and ds.pixel_max == 255.0
    assert "only the test files" in ds.source and "8000 train / 2000 held out (seed 0)" in ds.source

    full_labels = read_idx(shared_mnist / "t10k-labels-idx1-ubyte.gz")
    full_images = read_idx(shared_mnist / "t10k-images-idx3-ubyte.gz")
    per_class = np.bincount(full_labels)
    held_out = np.bincount(ds.y_test, minlength=10)
    assert held_out.sum() == 2000
    assert np.all(np.abs(held_out - per_class * 0.2) < 1)  # proportional to within rounding
    np.testing.assert_array_equal(np.bincount(ds.y_train, minlength=10) + held_out, per_class)
    # Nothing lost, nothing duplicated: the two parts add up to the whole file.
    assert int(ds.X_train.sum(dtype=np.int64) + ds.X_test.sum(dtype=np.int64)) == int(full_images.sum(dtype=np.int64))

    again = load_dataset(str(shared_mnist))
    np.testing.assert_array_equal(again.X_train, ds.X_train)
    np.testing.assert_array_equal(again.y_test, ds.y_test)
    other_seed = load_dataset(shared_mnist, split_seed=1)
    assert not np.array_equal(other_seed.X_test, ds.X_test)
    smaller = load_dataset(shared_mnist, split_test=1000)
    assert smaller.X_test.shape == (1000, 784)


def test_named_mnist_with_a_data_dir_of_test_files_splits_them(shared_mnist, clean_env):
    by_name = load_dataset("MNIST", data_dir=shared_mnist, download=False)
    by_path = load_dataset(shared_mnist)
    np.testing.assert_array_equal(by_name.X_train, by_path.X_train)
    np.testing.assert_array_equal(by_name.y_test, by_path.y_test)
    assert "checksum of the decompressed content verified" in by_name.source
    first = read_idx(shared_mnist / "t10k-images-idx3-ubyte.gz")[0].reshape(-1)
    # The split keeps file order, so sample 0 (a 7) is the first row of whichever part holds it.
    assert any(np.array_equal(part[0], first) for part in (by_name.X_train, by_name.X_test))


# --------------------------------------------------------------------------- Fashion-MNIST from Debian


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="needs Debian's dataset-fashion-mnist package")
def test_fashion_mnist_from_the_system_location(clean_env):
    ds = load_dataset("fashion-mnist", cache_dir=clean_env / "cache", download=False)
    assert ds.X_train.shape == (60000, 784) and ds.X_test.shape == (10000, 784)
    assert ds.class_names == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                              "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.y_train[:4].tolist() == [9, 0, 0, 3]  # ankle boot, T-shirt, T-shirt, dress
    assert str(DEBIAN_FASHION) in ds.source and "verified" in ds.source


# --------------------------------------------------------------------------- digits


def test_digits_shapes_and_a_split_that_never_changes():
    pytest.importorskip("sklearn")
    first = load_dataset("digits")
    second = load_dataset("digits")
    assert first.X_train.shape == (1437, 64) and first.X_test.shape == (360, 64)
    assert first.image_shape == (8, 8) and first.pixel_max == 16.0
    assert first.X_train.max() == 16 and first.X_train.min() == 0
    np.testing.assert_array_equal(first.X_train, second.X_train)
    np.testing.assert_array_equal(first.y_test, second.y_test)
    counts = np.bincount(first.y_test, minlength=10)
    assert counts.sum() == 360 and counts.min() >= 35 and counts.max() <= 37  # about 20% of ~180 per class
    reseeded = load_dataset("digits", split_seed=7)
    assert not np.array_equal(reseeded.X_test, first.X_test)


def test_digits_without_scikit_learn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(DatasetNotFoundError, match=r'pip install "glassnet\[digits\]"'):
        load_dataset("digits")


# --------------------------------------------------------------------------- the stratified split


def test_stratified_split_by_hand():
    y = np.array([0] * 50 + [1] * 30 + [2] * 20)
    X = np.arange(100).reshape(100, 1)
    X_train, y_train, X_test, y_test = train_test_split_stratified(X, y, 10, np.random.default_rng(0))
    assert np.bincount(y_test).tolist() == [5, 3, 2]
    assert np.bincount(y_train).tolist() == [45, 27, 18]
    assert sorted(X_train[:, 0].tolist() + X_test[:, 0].tolist()) == list(range(100))
    assert np.all(np.diff(X_test[:, 0]) > 0) and np.all(np.diff(X_train[:, 0]) > 0)  # original order kept
    np.testing.assert_array_equal(y_test, y[X_test[:, 0]])


def test_stratified_split_largest_remainder_adds_up():
    y = np.array([0] * 7 + [1] * 7 + [2] * 7)  # 21 samples, 10 test: quotas 3.33 each
    _, _, _, y_test = train_test_split_stratified(np.zeros((21, 2)), y, 10, np.random.default_rng(3))
    assert sorted(np.bincount(y_test).tolist()) == [3, 3, 4]


@pytest.mark.parametrize("n_test", [0, 10, -1, 2.5, True])
def test_stratified_split_rejects_bad_sizes(n_test):
    with pytest.raises(ConfigError, match="n_test must be an integer in"):
        train_test_split_stratified(np.zeros((10, 1)), np.zeros(10, dtype=int), n_test, np.random.default_rng(0))


def test_stratified_split_needs_a_generator():
    with pytest.raises(ConfigError, match="numpy.random.Generator"):
        train_test_split_stratified(np.zeros((10, 1)), np.zeros(10, dtype=int), 2, 0)


# --------------------------------------------------------------------------- the look-up order


def test_lookup_order_data_dir_then_env_then_cache(clean_env, monkeypatch):
    root = clean_env
    _make_idx_set(root / "explicit" / "kmnist", offset=1)
    _make_idx_set(root / "env" / "kmnist", offset=2)
    _make_idx_set(root / "cache" / "kmnist", offset=3)
    monkeypatch.setenv("GLASSNET_DATA", str(root / "env"))

    def first_pixel(**kwargs) -> int:
        ds = load_dataset("kmnist", cache_dir=root / "cache", download=False, verify=False, **kwargs)
        assert ds.class_names == ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
        return int(ds.X_train[0, 0])

    assert first_pixel(data_dir=root / "explicit") == 1
    assert first_pixel() == 2  # $GLASSNET_DATA/kmnist
    monkeypatch.delenv("GLASSNET_DATA")
    assert first_pixel() == 3  # the cache
    # data_dir may also be the folder that holds the files directly.
    assert first_pixel(data_dir=root / "explicit" / "kmnist") == 1


def test_default_cache_is_under_xdg_cache_home(clean_env):
    _make_idx_set(clean_env / "xdg-cache" / "glassnet" / "kmnist", offset=5, compress=False)
    ds = load_dataset("kmnist", download=False, verify=False)
    assert int(ds.X_train[0, 0]) == 5 and int(ds.X_test[0, 1]) == 6  # the offset-5 set written above
    assert str(clean_env / "xdg-cache" / "glassnet" / "kmnist") in ds.source


def test_named_files_must_match_their_checksums(clean_env):
    _make_idx_set(clean_env / "data" / "mnist")
    with pytest.raises(FileFormatError, match=r"train-images-idx3-ubyte.gz: checksum mismatch: .*expected one of"):
        load_dataset("mnist", data_dir=clean_env / "data", download=False)


def test_checksums_override_accepts_synthetic_files(clean_env):
    folder = clean_env / "data" / "mnist"
    _make_idx_set(folder)
    digests = {
        path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in folder.iterdir()
    }
    ds = load_dataset("mnist", data_dir=clean_env / "data", download=False, checksums=digests)
    assert ds.X_train.shape == (30, 16) and "checksum of the file verified" in ds.source
    with pytest.raises(ConfigError, match="'nope.gz' is not a file of mnist"):
        load_dataset("mnist", data_dir=clean_env / "data", download=False, checksums={"nope.gz": "0" * 32})


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(clean_env, monkeypatch):
    spec = DATASETS["fashion-mnist"]
    elsewhere = clean_env / "no-system-copy"
    monkeypatch.setitem(DATASETS, "fashion-mnist", dataclasses.replace(spec, system_dirs=(str(elsewhere),)))
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset("fashion-mnist", cache_dir=clean_env / "cache", download=False)
    message = str(caught.value)
    assert "downloading is off" in message
    assert f"{clean_env / 'cache' / 'fashion-mnist'} (user cache): no such folder" in message
    assert f"{elsewhere} (system location): no such folder" in message
    assert "$GLASSNET_DATA: not set" in message
    assert "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz" in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_partial_cache_is_reported_file_by_file(clean_env):
    _make_idx_set(clean_env / "cache" / "kmnist", parts=("test",))
    with pytest.raises(DatasetNotFoundError, match="missing train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz"):
        load_dataset("kmnist", cache_dir=clean_env / "cache", download=False)


# --------------------------------------------------------------------------- arbitrary folders


def test_unknown_folder_gets_numbered_classes(tmp_path):
    arrays = _make_idx_set(tmp_path / "my-set", compress=False)
    ds = load_dataset(tmp_path / "my-set")
    assert ds.name == "my-set" and ds.class_names == ["0", "1", "2"]
    np.testing.assert_array_equal(ds.X_train, arrays["train"][0].reshape(30, 16))
    np.testing.assert_array_equal(ds.y_test, arrays["test"][1])
    assert "not a known dataset's checksums" in ds.source


def test_folder_with_train_files_only_is_split(tmp_path):
    _make_idx_set(tmp_path / "t", n_train=40, parts=("train",))
    ds = load_dataset(tmp_path / "t", split_test=10)
    assert ds.X_train.shape == (30, 16) and ds.X_test.shape == (10, 16)
    assert "only the training files" in ds.source


def test_folder_test_images_naming_and_float_images(tmp_path):
    folder = tmp_path / "floats"
    folder.mkdir()
    write_idx(folder / "train-images.idx", np.ones((4, 3), dtype=np.float32))
    write_idx(folder / "train-labels.idx", np.array([0, 1, 0, 1], dtype=np.uint8))
    write_idx(folder / "test-images.idx", np.zeros((2, 3), dtype=np.float32))
    write_idx(folder / "test-labels.idx", np.array([1, 0], dtype=np.uint8))
    ds = load_dataset(folder)
    assert ds.X_train.dtype == np.float32 and ds.pixel_max is None and ds.image_shape == (3,)
    assert ds.y_test.tolist() == [1, 0]


@pytest.mark.parametrize(
    "setup, error, message",
    [
        (lambda f: write_idx(f / "train-labels-idx1-ubyte", np.zeros(3, np.uint8)), DatasetNotFoundError,
         r"no complete pair of IDX image and label files \(found: train-labels-idx1-ubyte\)"),
        (lambda f: (_make_idx_set(f), _make_idx_set(f, compress=False)), ConfigError,
         "more than one file could be the train images: train-images-idx3-ubyte, train-images-idx3-ubyte.gz"),
        (lambda f: (write_idx(f / "t10k-images-idx3-ubyte", np.zeros((3, 2, 2), np.uint8)),
                    write_idx(f / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))), FileFormatError,
         "has 3 images but .* has 4 labels"),
        (lambda f: (write_idx(f / "t10k-images-idx3-ubyte", np.zeros((3, 2, 2), np.uint8)),
                    write_idx(f / "t10k-labels-idx1-ubyte", np.zeros(3, np.float32))), FileFormatError,
         "labels must be integers, got dtype float32"),
    ],
)  # fmt: skip
def test_broken_folders(tmp_path, setup, error, message):
    folder = tmp_path / "broken"
    folder.mkdir()
    setup(folder)
    with pytest.raises(error, match=message):
        load_dataset(folder)


def test_unknown_name_or_missing_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="neither a known dataset .*digits, mnist, fashion-mnist, kmnist"):
        load_dataset("cifar10")
    with pytest.raises(DatasetNotFoundError, match="nor a folder"):
        load_dataset(tmp_path / "absent")
    with pytest.raises(ConfigError, match="data_dir is used only with a dataset name"):
        load_dataset(tmp_path, data_dir=tmp_path)
    assert DATASET_NAMES == tuple(DATASETS) and DATASETS["digits"].load is not None
    assert all((spec.load is None) == bool(spec.files) for spec in DATASETS.values())


def test_dataset_validates_its_arrays():
    X, y = np.zeros((3, 2)), np.array([0, 1, 2])
    with pytest.raises(DataError, match=r"labels must lie in \[0, 2\), got min 0 and max 2"):
        Dataset(X, y, X, y, class_names=["a", "b"], name="t", source="test")
    with pytest.raises(DataError, match=r"y_train must be \(3,\)"):
        Dataset(X, y[:2], X, y, class_names=["a", "b", "c"], name="t", source="test")
    with pytest.raises(DataError, match="different feature counts, 2 and 3"):
        Dataset(X, y, np.zeros((3, 3)), y, class_names=["a", "b", "c"], name="t", source="test")
