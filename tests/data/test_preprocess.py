"""Input scaling: values by hand, constant features, saving the statistics as JSON, modes."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from glassnet.data.datasets import load_dataset
from glassnet.errors import ConfigError, DataError, FileFormatError, ShapeError
from glassnet.data.preprocess import SCALINGS, Scaler, make_scaler, scaler_from_dict
from paths import SHARED_MNIST

X_BY_HAND = np.array([[0, 10, 5], [255, 30, 5]], dtype=np.uint8)  # feature 2 is constant


def test_pixel_scaling_by_hand():
    out = Scaler(pixel_max=255).fit(X_BY_HAND).transform(X_BY_HAND)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0, 10 / 255, 5 / 255], [1, 30 / 255, 5 / 255]], rtol=1e-6)


def test_standardize_by_hand_with_a_constant_feature():
    scaler = Scaler(standardize=True).fit(X_BY_HAND)
    np.testing.assert_allclose(scaler.mean_, [127.5, 20, 5])
    np.testing.assert_allclose(scaler.std_, [127.5, 10, 1])  # population std; constant feature -> 1
    out = scaler.transform(X_BY_HAND)
    np.testing.assert_allclose(out, [[-1, -1, 0], [1, 1, 0]], atol=1e-6)
    assert np.all(np.isfinite(out))


def test_pixel_then_standardize_statistics_are_in_unit_range():
    scaler = Scaler(pixel_max=255, standardize=True).fit(X_BY_HAND)
    np.testing.assert_allclose(scaler.mean_, [0.5, 20 / 255, 5 / 255])
    np.testing.assert_allclose(scaler.std_, [0.5, 10 / 255, 1])
    np.testing.assert_allclose(scaler.transform(X_BY_HAND), [[-1, -1, 0], [1, 1, 0]], atol=1e-6)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X_BY_HAND)), X_BY_HAND, atol=1e-4)


def test_statistics_come_from_the_fitted_data_only():
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, size=(500, 4))
    scaler = Scaler(standardize=True, dtype="float64").fit(train)
    z = scaler.transform(train)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-12)
    test = np.full((2, 4), 3.0)
    expected = (3.0 - train.mean(axis=0)) / train.std(axis=0)
    np.testing.assert_allclose(scaler.transform(test), np.broadcast_to(expected, (2, 4)), rtol=1e-12)


def test_json_round_trip_reproduces_the_transform():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(50, 6)).astype(np.uint8)
    X[:, 2] = 9
    scaler = make_scaler("standard", SimpleNamespace(pixel_max=255.0)).fit(X)
    text = json.dumps(scaler.to_dict())
    back = scaler_from_dict(json.loads(text))
    assert back.pixel_max == 255.0 and back.standardize and back.n_features == 6
    np.testing.assert_array_equal(back.transform(X), scaler.transform(X))
    unfitted_dict = Scaler(pixel_max=16).to_dict()
    assert Scaler.from_dict(json.loads(json.dumps(unfitted_dict))).to_dict() == unfitted_dict


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(kind="something"), "not a saved Scaler"),
        (lambda d: d.update(version=2), "version 2"),
        (lambda d: d.pop("std"), "must have keys"),
        (lambda d: d.update(mean=[0.0]), "mean must hold 3 numbers"),
        (lambda d: d.update(std=[1.0, 0.0, 1.0]), "every std must be positive"),
        (lambda d: d.update(std=[1.0, float("nan"), 1.0]), "std contains NaN"),
        (lambda d: d.update(dtype="int8"), "invalid settings"),
        (lambda d: d.update(n_features="3"), "n_features must be a non-negative integer"),
    ],
)
def test_from_dict_refuses_damaged_statistics(mutate, message):
    data = Scaler(standardize=True).fit(X_BY_HAND).to_dict()
    mutate(data)
    with pytest.raises(FileFormatError, match=message):
        Scaler.from_dict(data)
    with pytest.raises(FileFormatError, match="not a saved Scaler"):
        Scaler.from_dict([1, 2])


def test_make_scaler_modes():
    image_data = SimpleNamespace(pixel_max=255.0)
    table_data = SimpleNamespace(pixel_max=None)
    assert SCALINGS == ("auto", "pixel", "standard", "none")
    auto_images = make_scaler("auto", image_data)
    assert auto_images.pixel_max == 255.0 and not auto_images.standardize
    auto_table = make_scaler("auto", table_data)
    assert auto_table.pixel_max is None and auto_table.standardize
    standard = make_scaler("standard", image_data)
    assert standard.pixel_max == 255.0 and standard.standardize
    none = make_scaler("none", image_data, dtype="float64").fit(X_BY_HAND)
    out = none.transform(X_BY_HAND)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, X_BY_HAND)
    with pytest.raises(ConfigError, match="pixel scaling needs the pixel range"):
        make_scaler("pixel", table_data)
    with pytest.raises(ConfigError, match="unknown scaling 'minmax'"):
        make_scaler("minmax", image_data)


def test_misuse_is_reported():
    with pytest.raises(ConfigError, match="not fitted yet"):
        Scaler().transform(X_BY_HAND)
    scaler = Scaler().fit(X_BY_HAND)
    with pytest.raises(ShapeError, match=r"fitted on 3 features, got X of shape \(2, 4\)"):
        scaler.transform(np.zeros((2, 4)))
    with pytest.raises(ShapeError, match=r"\(n_samples, n_features\), got shape \(2, 2, 2\)"):
        scaler.fit(np.zeros((2, 2, 2)))
    with pytest.raises(DataError, match=r"NaN or inf in 1 row\(s\), first rows: \[1\]"):
        scaler.transform(np.array([[0.0, 1.0, 2.0], [np.nan, 1.0, 2.0]]))
    with pytest.raises(ConfigError, match="pixel_max must be a positive number"):
        Scaler(pixel_max=0)
    with pytest.raises(ConfigError, match="dtype must be one of float32, float64"):
        Scaler(dtype="int32")


def test_real_mnist_pixels_standardised():
    folders = SHARED_MNIST
    folder = next((f for f in folders if (f / "t10k-images-idx3-ubyte.gz").is_file()), None)
    if folder is None:
        pytest.skip("the MNIST test files of shared/data/mnist are not on this machine")
    ds = load_dataset(folder)
    scaler = make_scaler("standard", ds).fit(ds.X_train)
    z = scaler.transform(ds.X_train)
    assert z.dtype == np.float32 and z.shape == (8000, 784)
    assert np.all(np.isfinite(z))
    always_black = np.all(ds.X_train == 0, axis=0)
    assert always_black.sum() > 0  # MNIST's border pixels
    np.testing.assert_array_equal(scaler.std_[always_black], 1.0)
    np.testing.assert_array_equal(z[:, always_black], 0.0)


@pytest.mark.parametrize("n, block", [(1, 4), (7, 3), (4096, 4096), (5000, 4096), (300, 7)])
def test_column_mean_std_agrees_with_numpy_on_a_float64_copy(n, block):
    """The blocked, merged statistics equal numpy's two-pass ones on the whole float64 copy (uint8 pixels,
    floats with a large common offset, a constant column), whatever the block size."""
    from glassnet.data.preprocess import column_mean_std

    rng = np.random.default_rng(n)
    pixels = rng.integers(0, 256, size=(n, 5), dtype=np.uint8)
    offset = 1e6 + rng.standard_normal((n, 4))  # E[x^2] - E[x]^2 would lose every digit here
    constant = np.full((n, 1), 3.25)
    for X, divisor in ((pixels, 255.0), (offset, 1.0), (constant, 1.0), (offset.astype(np.float32), 2.0)):
        mean, std = column_mean_std(X, divisor, block_rows=block)
        reference = X.astype(np.float64) / divisor
        np.testing.assert_allclose(mean, reference.mean(axis=0), rtol=1e-14, atol=0)
        np.testing.assert_allclose(std, reference.std(axis=0), rtol=1e-9, atol=1e-12)
    assert column_mean_std(constant)[1].tolist() == [0.0]
