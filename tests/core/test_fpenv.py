"""flush_denormals: subnormals become 0 inside the block, the old mode comes back after it, and fit uses it."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet import SGD, fit, mlp
from glassnet.core.fpenv import denormal_flushing_supported, flush_denormals

SUBNORMAL32 = np.float32(1e-39)  # below float32's smallest normal, 1.18e-38
SUBNORMAL64 = 1e-310  # below float64's smallest normal, 2.2e-308

needs_support = pytest.mark.skipif(not denormal_flushing_supported(), reason="no FTZ/DAZ control on this platform")


def is_flushing() -> bool:
    """Does arithmetic in this thread flush subnormals right now?"""
    return float((np.array([SUBNORMAL32]) * np.float32(1.0))[0]) == 0.0


def test_outside_a_block_subnormals_are_kept():
    assert not is_flushing()
    assert np.float32(2.0) * SUBNORMAL32 == np.float32(2e-39)


@needs_support
def test_inside_the_block_subnormal_results_and_inputs_are_zero_and_normals_unchanged():
    a = np.array([SUBNORMAL32, 1e-20, 3.0], dtype=np.float32)
    normal64 = (np.array([1e-300]) * 1e-5)[0]  # 1e-305: small, but a normal float64
    with flush_denormals() as active:
        assert active is True
        assert (a * np.float32(1.0)).tolist() == [0.0, pytest.approx(1e-20), 3.0]  # DAZ: the input reads as 0
        tiny = np.array([1e-30], dtype=np.float32)
        assert (tiny * np.float32(1e-10))[0] == 0.0  # FTZ: a result of 1e-40 becomes 0
        assert (np.array([SUBNORMAL64]) * 1.0)[0] == 0.0  # float64 too
        assert (np.array([1e-300]) * 1e-5)[0] == normal64  # a normal float64 result is untouched
    assert not is_flushing()
    assert (a * np.float32(1.0))[0] == SUBNORMAL32


@needs_support
def test_restored_after_an_exception_and_when_nested():
    with pytest.raises(RuntimeError):
        with flush_denormals():
            assert is_flushing()
            raise RuntimeError("boom")
    assert not is_flushing()
    with flush_denormals():
        with flush_denormals(enabled=False) as inner:
            assert inner is False and is_flushing()  # disabled: leaves the outer mode alone
        with flush_denormals():
            assert is_flushing()
        assert is_flushing()  # the inner block restored what the outer one set
    assert not is_flushing()


def test_disabled_block_changes_nothing():
    with flush_denormals(enabled=False) as active:
        assert active is False and not is_flushing()


class SeesMode:
    """A callback recording whether arithmetic flushes subnormals during training."""

    def __init__(self) -> None:
        self.modes: list[bool] = []

    def on_batch_end(self, step) -> None:
        self.modes.append(is_flushing())


@needs_support
def test_fit_trains_with_flushing_and_restores_the_mode():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    seen = SeesMode()
    fit(mlp([3, 4, 2], rng=0), X, y, optimizer=SGD(lr=0.1), epochs=1, batch_size=10, callbacks=[seen], rng=0)
    assert seen.modes == [True] * 4
    assert not is_flushing()
    off = SeesMode()
    fit(mlp([3, 4, 2], rng=0), X, y, optimizer=SGD(lr=0.1), epochs=1, batch_size=10, callbacks=[off], rng=0,
        flush_denormals=False)
    assert off.modes == [False] * 4


def test_flushing_does_not_change_a_run_without_subnormals():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 5)), rng.integers(0, 3, 64)
    weights = []
    for flag in (True, False):
        model = mlp([5, 8, 3], "tanh", rng=2, dtype=np.float64)
        fit(model, X, y, optimizer=SGD(lr=0.05, momentum=0.9), epochs=3, batch_size=16, rng=3, flush_denormals=flag)
        weights.append(model.params())
    for name in weights[0]:
        np.testing.assert_array_equal(weights[0][name], weights[1][name])
