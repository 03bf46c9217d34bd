"""glassnet.nn.objective: the loss plus L2, its value and gradient, worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from glassnet import ConfigError, Dense, MSELoss, SoftmaxCrossEntropy, l2_penalty, mlp, value_and_grad
from glassnet.nn.model import Sequential
from strategies import PROPERTY_SETTINGS

LAMBDA = 0.4


def _linear_model() -> Sequential:
    """Dense(2 -> 1) with W = [[1], [2]], b = [0.5], in float64."""
    model = Sequential([Dense(2, 1)], rng=0, dtype=np.float64)
    model.set_params({"0.W": np.array([[1.0], [2.0]]), "0.b": np.array([0.5])})
    return model


X_LIN = np.array([[1.0, 1.0], [2.0, 0.0]])
Y_LIN = np.array([[3.0], [1.0]])


def test_linear_mse_by_hand_without_l2():
    model = _linear_model()
    # outputs [3.5, 2.5]; diff [0.5, 1.5]; J = (0.25 + 2.25) / 2 = 1.25; dJ/dO = 2 diff / m = diff
    value, grad_X = value_and_grad(model, MSELoss(), X_LIN, Y_LIN)
    assert value == pytest.approx(1.25, rel=1e-15)
    assert grad_X is None
    np.testing.assert_allclose(model.grads()["0.W"], [[3.5], [0.5]], rtol=1e-15)  # X^T dO
    np.testing.assert_allclose(model.grads()["0.b"], [2.0], rtol=1e-15)


def test_linear_mse_by_hand_with_l2_mean():
    model = _linear_model()
    value, _ = value_and_grad(model, MSELoss(), X_LIN, Y_LIN, l2=LAMBDA)
    # penalty lambda / (2 m) * sum W^2 = 0.4 / 4 * (1 + 4) = 0.5
    assert value == pytest.approx(1.25 + 0.5, rel=1e-15)
    # dJ/dW += lambda / m * W = 0.2 * [[1], [2]]; the bias is not regularised
    np.testing.assert_allclose(model.grads()["0.W"], [[3.7], [0.9]], rtol=1e-15)
    np.testing.assert_allclose(model.grads()["0.b"], [2.0], rtol=1e-15)
    assert l2_penalty(model, LAMBDA, 2) == pytest.approx(0.5, rel=1e-15)


def test_linear_mse_by_hand_with_l2_sum():
    model = _linear_model()
    value, _ = value_and_grad(model, MSELoss(reduction="sum"), X_LIN, Y_LIN, l2=LAMBDA)
    # loss 2.5 (no 1/m); penalty lambda / 2 * sum W^2 = 0.2 * 5 = 1
    assert value == pytest.approx(2.5 + 1.0, rel=1e-15)
    # dJ/dO = 2 diff = [1, 3]; dW = X^T dO + lambda W = [[7], [1]] + [[0.4], [0.8]]
    np.testing.assert_allclose(model.grads()["0.W"], [[7.4], [1.8]], rtol=1e-15)
    np.testing.assert_allclose(model.grads()["0.b"], [4.0], rtol=1e-15)
    assert l2_penalty(model, LAMBDA, 2, reduction="sum") == pytest.approx(1.0, rel=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_l2_on_an_mlp_adds_exactly_the_penalty_and_its_gradient(reduction):
    rng = np.random.default_rng(0)
    model = mlp([4, 5, 3], "tanh", rng=0, dtype=np.float64)
    for p in model.params().values():  # non-zero biases, so leaving them out is visible
        p[...] = rng.standard_normal(p.shape)
    X = rng.standard_normal((6, 4))
    y = rng.integers(0, 3, 6)
    loss = SoftmaxCrossEntropy(reduction=reduction)
    v0, _ = value_and_grad(model, loss, X, y)
    g0 = {k: v.copy() for k, v in model.grads().items()}
    v1, _ = value_and_grad(model, loss, X, y, l2=LAMBDA)
    g1 = model.grads()
    params = model.params()
    m = 6 if reduction == "mean" else 1
    sum_sq = float(np.sum(params["0.W"] ** 2) + np.sum(params["2.W"] ** 2))
    assert v1 - v0 == pytest.approx(LAMBDA / (2 * m) * sum_sq, rel=1e-12)
    for name in ("0.W", "2.W"):
        np.testing.assert_allclose(g1[name] - g0[name], LAMBDA / m * params[name], rtol=1e-12, atol=1e-15)
    for name in ("0.b", "2.b"):
        np.testing.assert_array_equal(g1[name], g0[name])


def test_l2_penalty_zero_and_bad_values():
    model = _linear_model()
    assert l2_penalty(model, 0.0, 2) == 0.0
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="l2"):
            value_and_grad(model, MSELoss(), X_LIN, Y_LIN, l2=bad)


def test_input_gradient_when_asked():
    model = _linear_model()
    _, grad_X = value_and_grad(model, MSELoss(), X_LIN, Y_LIN, need_input_grad=True)
    # dJ/dX = dJ/dO W^T = [[0.5], [1.5]] [[1, 2]]
    np.testing.assert_allclose(grad_X, [[0.5, 1.0], [1.5, 3.0]], rtol=1e-15)


def test_training_passes_the_rng_to_dropout():
    model = mlp([3, 16, 2], dropout=0.5, rng=0, dtype=np.float64)
    X = np.random.default_rng(1).standard_normal((8, 3))
    y = np.arange(8) % 2
    with pytest.raises(ConfigError, match="rng"):
        value_and_grad(model, SoftmaxCrossEntropy(), X, y, training=True)
    a, _ = value_and_grad(model, SoftmaxCrossEntropy(), X, y, training=True, rng=np.random.default_rng(5))
    b, _ = value_and_grad(model, SoftmaxCrossEntropy(), X, y, training=True, rng=np.random.default_rng(5))
    c, _ = value_and_grad(model, SoftmaxCrossEntropy(), X, y, training=False)
    assert a == b
    assert a != c


@PROPERTY_SETTINGS
@given(l2=st.floats(0.0, 10.0), m=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_directional_derivative_matches_finite_difference(l2, m, seed):
    """``<grad J, D>`` equals ``(J(theta + hD) - J(theta - hD)) / 2h`` for a random direction D."""
    rng = np.random.default_rng(seed)
    model = mlp([3, 4, 3], "tanh", rng=seed, dtype=np.float64)
    X = rng.standard_normal((m, 3))
    y = rng.integers(0, 3, m)
    loss = SoftmaxCrossEntropy()
    value_and_grad(model, loss, X, y, l2=l2)
    grads = {k: v.copy() for k, v in model.grads().items()}
    params = model.params()
    base = {k: v.copy() for k, v in params.items()}
    direction = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    h = 1e-5

    def J(t: float) -> float:
        model.set_params({k: base[k] + t * direction[k] for k in base})
        return value_and_grad(model, loss, X, y, l2=l2)[0]

    numeric = (J(h) - J(-h)) / (2 * h)
    analytic = sum(float(np.sum(grads[k] * direction[k])) for k in grads)
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-8)
