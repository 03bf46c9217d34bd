"""glassnet.data.splits: the one stratified split used by the loaders, the trainer and the estimator."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.data.splits import stratified_split
from glassnet.errors import ConfigError, DataError


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("held_out", [1, 7, 33, 0.1, 0.5, 0.9])
def test_counts_add_up_and_follow_the_class_proportions(seed, held_out):
    rng = np.random.default_rng(100 + seed)
    y = rng.integers(0, 5, size=97)
    kept, held = stratified_split(y, held_out, np.random.default_rng(seed))
    n_held = held_out if isinstance(held_out, int) else round(held_out * 97)
    assert held.size == n_held and kept.size == 97 - n_held
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(97))
    quotas = n_held * np.bincount(y, minlength=5) / 97
    # largest-remainder rounding: every class within one sample of its exact quota
    assert np.all(np.abs(np.bincount(y[held], minlength=5) - quotas) < 1)


def test_same_seed_same_split_and_target_rows_split_by_argmax():
    y = np.repeat(np.arange(3), [5, 10, 15])
    a = stratified_split(y, 0.2, np.random.default_rng(4))
    b = stratified_split(np.eye(3)[y], 0.2, np.random.default_rng(4))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    np.testing.assert_array_equal(np.bincount(y[a[1]]), [1, 2, 3])


def test_every_class_is_held_out_and_kept_when_asked():
    y = np.repeat(np.arange(4), [2, 2, 50, 46])  # quotas of the two small classes round to 0
    _, held = stratified_split(y, 0.1, np.random.default_rng(0))
    assert np.bincount(y[held], minlength=4)[:2].tolist() == [0, 0]
    kept, held = stratified_split(y, 0.1, np.random.default_rng(0), every_class=True)
    assert np.bincount(y[held], minlength=4).tolist() == [1, 1, 5, 5]
    assert np.all(np.bincount(y[kept], minlength=4) >= 1)
    kept, held = stratified_split(np.array([0, 0, 1, 1]), 0.7, np.random.default_rng(0), every_class=True)
    assert np.bincount(np.array([0, 0, 1, 1])[kept]).tolist() == [1, 1]


@pytest.mark.parametrize(
    ("held_out", "error", "message"),
    [
        (0.0, ConfigError, r"validation fraction must be in \(0, 1\), got 0.0"),
        (1.5, ConfigError, r"validation fraction must be in \(0, 1\), got 1.5"),
        (0, ConfigError, r"n_test must be an integer in \[1, 9\] for 10 samples, got 0"),
        (10, ConfigError, r"n_test must be an integer in \[1, 9\] for 10 samples, got 10"),
        (True, ConfigError, r"got True"),
        ("3", ConfigError, r"got '3'"),
        (0.01, DataError, r"cannot hold out 1% of 10 samples: one part would be empty"),
    ],
)
def test_bad_sizes_are_refused(held_out, error, message):
    with pytest.raises(error, match=message):
        stratified_split(np.arange(10) % 2, held_out, np.random.default_rng(0))


def test_a_generator_is_required():
    with pytest.raises(ConfigError, match="rng must be a numpy.random.Generator, got int"):
        stratified_split(np.arange(10) % 2, 2, 0)
