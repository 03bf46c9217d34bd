"""glassnet.Watch on training loops written in plain numpy, and the doctor's rules it shares."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glassnet import ConfigError, DataError, Watch
from glassnet.check.doctor import consistent, loss_trend, update_health
from glassnet.check.findings import Finding

sklearn = pytest.importorskip("sklearn.datasets")


def digits():
    X, y = sklearn.load_digits(return_X_y=True)
    return X / 16.0, y


def online_numpy_loop(lr: float, seed: int, *, every: int = 10):
    """A learner's loop: 64-25-10, sigmoid hidden, softmax output, one sample per step, one epoch.

    Returns the watch and the step at which it first reported anything (None if never)."""
    X, y = digits()
    rng = np.random.default_rng(seed)
    W1, b1 = rng.normal(0, 0.1, (64, 25)), np.zeros(25)
    W2, b2 = rng.normal(0, 0.1, (25, 10)), np.zeros(10)

    def forward(Xb):
        with np.errstate(over="ignore"):
            a1 = 1 / (1 + np.exp(-(Xb @ W1 + b1)))
        z = a1 @ W2 + b2
        p = np.exp(z - z.max(axis=1, keepdims=True))
        return a1, p / p.sum(axis=1, keepdims=True)

    watch = Watch(lambda Xp: forward(Xp)[1], X[:300], y[:300], every=every)
    first = None
    for t, i in enumerate(rng.permutation(len(X)), start=1):
        x, label = X[i:i + 1], y[i:i + 1]
        a1, p = forward(x)
        loss = -math.log(max(p[0, label[0]], 1e-300))
        d2 = p.copy()
        d2[0, label[0]] -= 1
        gW2, gb2 = a1.T @ d2, d2.sum(0)
        d1 = (d2 @ W2.T) * a1 * (1 - a1)
        gW1, gb1 = x.T @ d1, d1.sum(0)
        for param, grad in ((W1, gW1), (b1, gb1), (W2, gW2), (b2, gb2)):
            param -= lr * grad
        if watch.step(loss=loss, labels=label, params=[W1, b1, W2, b2], grads=[gW1, gb1, gW2, gb2]) and first is None:
            first = t
    return watch, first, float(np.mean(forward(X)[1].argmax(1) == y))


@pytest.mark.parametrize("seed", range(6))
def test_the_online_collapse_is_flagged_within_the_first_epoch(seed):
    watch, first, accuracy = online_numpy_loop(5.0, seed)
    codes = [f.code for f in watch.report()]
    assert accuracy < 0.2
    assert "follows-last-label" in codes and first is not None and first <= 200
    assert "tiny-updates" not in codes  # explained by the collapse, not a call for a larger step
    assert "the prediction follows the most recent training label" in str(watch)


@pytest.mark.parametrize("seed", range(6))
def test_a_healthy_run_stays_silent(seed):
    watch, first, accuracy = online_numpy_loop(0.1, seed)
    assert accuracy > 0.85
    assert watch.report() == [] and first is None
    assert str(watch).endswith("nothing wrong found")


def test_a_non_finite_loss_is_flagged_at_once():
    watch = Watch(lambda X: np.zeros(len(X), dtype=int), np.zeros((4, 2)))
    assert watch.step(loss=1.0) == []
    [finding] = watch.step(loss=float("nan"))
    assert finding.code == "non-finite" and "log-softmax" in finding.fix


def test_a_loss_stuck_at_ln_c_is_flagged():
    rng = np.random.default_rng(0)
    watch = Watch(lambda X: np.full((len(X), 10), 0.1), rng.random((20, 3)), rng.integers(0, 10, 20), every=5)
    for t in range(200):
        watch.step(loss=math.log(10) + rng.normal(0, 0.005), labels=[t % 10])
    assert "stuck-at-chance" in [f.code for f in watch.report()]


def test_a_rising_loss_is_flagged_and_a_falling_one_is_not():
    assert [f.code for f in loss_trend(list(np.linspace(1.0, 3.0, 60)), None, window=10)] == ["rising"]
    assert loss_trend(list(np.linspace(3.0, 1.0, 60)), None, window=10) == []
    assert loss_trend([1.0] * 25, None, window=10) == []  # fewer than three windows: no judgement


def test_too_large_updates_are_flagged_from_params_and_grads():
    W = np.ones((3, 3))
    watch = Watch(lambda X: np.arange(len(X)) % 2, np.zeros((4, 3)), every=2)
    for step in range(6):
        W = W * 3.0  # each step triples the weights: ||update|| / ||W|| = 2/3
        watch.step(loss=1.0, params=[W], grads=[np.ones((3, 3))])
    assert "exploding" in [f.code for f in watch.report()]


def test_update_health_and_consistent_do_not_contradict():
    tiny = update_health("0.W", 1e-9, 1e-9, 7)
    assert [f.code for f in tiny] == ["tiny-updates"]
    saturated = Finding("saturated", "saturated sigmoid units", "95% of the outputs are flat", "scale the inputs")
    out = consistent([tiny[0], saturated])
    assert [f.code for f in out] == ["saturated"] and "explains the vanishingly small updates" in out[0].evidence
    assert consistent(tiny) == tiny  # alone, tiny updates do call for a larger step


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ConfigError, match="predict must be your network's forward pass"):
        Watch(None, np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="every must be a positive number of steps"):
        Watch(lambda X: X, np.zeros((2, 2)), every=0)
    watch = Watch(lambda X: np.zeros(len(X)), np.zeros((2, 2)))
    with pytest.raises(DataError, match="loss must be a number"):
        watch.step(loss="high")
