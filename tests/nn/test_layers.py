"""glassnet.nn.layers: Dense by hand, the backprop protocol, Activation, Softmax and Dropout."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from glassnet import LAYERS, Activation, ConfigError, Dense, Dropout, ShapeError, Softmax
from glassnet.nn.layers import Layer, layer_from_config
from glassnet.core.numerics import softmax_jacobian
from strategies import PROPERTY_SETTINGS, arrays_of_shape, lengths


def _dense_2x3() -> tuple[Dense, np.ndarray]:
    """Dense(3 -> 2) with hand-picked weights, and a batch of two samples X : (2, 3)."""
    layer = Dense(3, 2)
    layer.initialize(np.random.default_rng(0), np.float64)
    layer.params["W"][...] = [[1.0, -1.0], [0.0, 2.0], [0.5, 1.0]]
    layer.params["b"][...] = [0.1, -0.2]
    X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    return layer, X


G = np.array([[1.0, 0.0], [-1.0, 2.0]])  # an upstream gradient dL/dY : (2, 2)


# ---------------------------------------------------------------- Dense, by hand
def test_dense_forward_by_hand():
    layer, X = _dense_2x3()
    Y, _ = layer.forward(X)
    # row 0: [1*1 + 2*0 + 3*0.5, 1*-1 + 2*2 + 3*1] + b = [2.5, 6] + [0.1, -0.2]
    # row 1: [4 + 0 + 3, -4 + 10 + 6] + b           = [7, 12] + [0.1, -0.2]
    np.testing.assert_allclose(Y, [[2.6, 5.8], [7.1, 11.8]], rtol=1e-15)
    assert Y.shape == (2, 2) and Y.dtype == np.float64
    np.testing.assert_array_equal(layer(X), Y)


def test_dense_backward_by_hand():
    layer, X = _dense_2x3()
    _, backprop = layer.forward(X)
    grad_X = backprop(G)
    # dW = X^T G, db = column sums of G, dX = G W^T
    np.testing.assert_allclose(layer.grads["W"], [[-3.0, 8.0], [-3.0, 10.0], [-3.0, 12.0]], rtol=1e-15)
    np.testing.assert_allclose(layer.grads["b"], [0.0, 2.0], rtol=1e-15)
    np.testing.assert_allclose(grad_X, [[1.0, 0.0, 0.5], [-3.0, 4.0, 1.5]], rtol=1e-15)
    assert layer.grads["W"].shape == (3, 2) and layer.grads["b"].shape == (2,) and grad_X.shape == (2, 3)


def test_dense_need_input_grad_false_returns_none_but_fills_grads():
    layer, X = _dense_2x3()
    _, backprop = layer.forward(X)
    assert backprop(G, need_input_grad=False) is None
    np.testing.assert_allclose(layer.grads["W"], [[-3.0, 8.0], [-3.0, 10.0], [-3.0, 12.0]], rtol=1e-15)
    np.testing.assert_allclose(layer.grads["b"], [0.0, 2.0], rtol=1e-15)


def test_dense_backprop_overwrites_gradients_in_the_same_arrays():
    layer, X = _dense_2x3()
    grad_W, grad_b = layer.grads["W"], layer.grads["b"]
    _, backprop = layer.forward(X)
    backprop(G)
    backprop(G)  # twice: must not accumulate to 2 X^T G
    np.testing.assert_allclose(layer.grads["W"], X.T @ G, rtol=1e-15)
    np.testing.assert_allclose(layer.grads["b"], G.sum(axis=0), rtol=1e-15)
    backprop(-3 * G)  # a different upstream gradient replaces the old one
    np.testing.assert_allclose(layer.grads["W"], -3 * X.T @ G, rtol=1e-15)
    # the live arrays are the same objects (optimizers hold references to them)
    assert layer.grads["W"] is grad_W and layer.grads["b"] is grad_b


def test_dense_two_forwards_in_flight_do_not_clobber_each_other():
    layer, X1 = _dense_2x3()
    X2 = -2.0 * X1[::-1]
    _, backprop1 = layer.forward(X1)
    _, backprop2 = layer.forward(X2)
    backprop1(G)
    np.testing.assert_allclose(layer.grads["W"], X1.T @ G, rtol=1e-15)
    backprop2(G)
    np.testing.assert_allclose(layer.grads["W"], X2.T @ G, rtol=1e-15)


def test_dense_wrong_input_width_names_layer_and_both_shapes():
    layer, _ = _dense_2x3()
    with pytest.raises(ShapeError) as info:
        layer.forward(np.ones((5, 4)))
    message = str(info.value)
    assert "Dense(3->2)" in message
    assert "(n, 3)" in message and "(5, 4)" in message
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        layer.forward(np.ones(3))


def test_dense_errors():
    with pytest.raises(ConfigError, match="no weights"):
        Dense(3, 2).forward(np.ones((1, 3)))
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(ConfigError, match="positive integer"):
            Dense(bad, 2)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown initializer"):
        Dense(3, 2, init="nope")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_initialize_dtype_and_zero_bias(dtype):
    layer = Dense(5, 4, init="he_normal")
    assert not layer.initialized
    layer.initialize(np.random.default_rng(0), dtype)
    assert layer.initialized
    assert layer.params["W"].dtype == layer.params["b"].dtype == dtype
    assert layer.params["W"].shape == (5, 4)
    np.testing.assert_array_equal(layer.params["b"], 0)
    np.testing.assert_array_equal(layer.grads["W"], 0)
    assert layer.output_width(5) == 4
    Y, backprop = layer.forward(np.ones((2, 5), dtype=dtype))
    assert Y.dtype == dtype
    assert backprop(np.ones((2, 4), dtype=dtype)).dtype == dtype


def test_astype_casts_params_and_resets_grads():
    layer, X = _dense_2x3()
    layer.forward(X)[1](G)
    W = layer.params["W"].copy()
    layer.astype(np.float32)
    assert layer.params["W"].dtype == np.float32 and layer.grads["W"].dtype == np.float32
    np.testing.assert_array_equal(layer.params["W"], W.astype(np.float32))
    np.testing.assert_array_equal(layer.grads["W"], 0)


@PROPERTY_SETTINGS
@given(n=lengths(1, 6), n_in=lengths(1, 6), n_out=lengths(1, 6), data=st.data())
def test_dense_matches_matrix_formulas_for_any_shape(n, n_in, n_out, data):
    layer = Dense(n_in, n_out)
    layer.initialize(np.random.default_rng(0), np.float64)
    layer.params["W"][...] = data.draw(arrays_of_shape((n_in, n_out)))
    layer.params["b"][...] = data.draw(arrays_of_shape((n_out,)))
    X = data.draw(arrays_of_shape((n, n_in)))
    grad_Y = data.draw(arrays_of_shape((n, n_out)))
    W, b = layer.params["W"], layer.params["b"]
    Y, backprop = layer.forward(X)
    np.testing.assert_allclose(Y, X @ W + b, rtol=1e-12, atol=1e-12)
    grad_X = backprop(grad_Y)
    np.testing.assert_allclose(grad_X, grad_Y @ W.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], X.T @ grad_Y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], grad_Y.sum(axis=0), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- Activation layer
def test_activation_layer_applies_function_and_derivative():
    layer = Activation("leaky_relu", slope=0.1)
    X = np.array([[-2.0, 0.5], [3.0, -0.1]])
    Y, backprop = layer.forward(X)
    np.testing.assert_allclose(Y, [[-0.2, 0.5], [3.0, -0.01]], rtol=1e-15)
    grad_X = backprop(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(grad_X, [[0.1, 2.0], [3.0, 0.4]], rtol=1e-15)
    assert layer.name == "leaky_relu"
    assert layer.config() == {"fn": "leaky_relu", "slope": 0.1}
    assert layer.describe() == "Activation(leaky_relu)"
    assert layer.params == {} and layer.grads == {}


def test_activation_layer_backward_uses_the_forward_it_came_from():
    layer = Activation("tanh")
    X1, X2 = np.array([[0.3, -1.2]]), np.array([[2.0, 0.1]])
    _, bp1 = layer.forward(X1)
    layer.forward(X2)
    np.testing.assert_allclose(bp1(np.ones((1, 2))), 1 - np.tanh(X1) ** 2, rtol=1e-15)


# ---------------------------------------------------------------- Softmax layer
def test_softmax_layer_uses_full_jacobian_not_elementwise():
    rng = np.random.default_rng(4)
    Z = rng.standard_normal((3, 5))
    g = rng.standard_normal((3, 5))
    P, backprop = Softmax().forward(Z)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-15)
    grad_Z = backprop(g)
    np.testing.assert_allclose(grad_Z, np.einsum("ni,nij->nj", g, softmax_jacobian(P)), rtol=0, atol=1e-14)
    # the element-wise p (1 - p) "derivative" gives a different (wrong) answer
    assert np.abs(grad_Z - g * P * (1 - P)).max() > 1e-2


# ---------------------------------------------------------------- Dropout
def test_dropout_inference_is_identity():
    X = np.random.default_rng(5).standard_normal((4, 6))
    layer = Dropout(0.5)
    Y, backprop = layer.forward(X)
    np.testing.assert_array_equal(Y, X)
    g = np.arange(24.0).reshape(4, 6)
    np.testing.assert_array_equal(backprop(g), g)
    # training with rate 0 is the identity too (and needs no rng)
    Y0, _ = Dropout(0.0).forward(X, training=True)
    np.testing.assert_array_equal(Y0, X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_training_mask_comes_from_the_rng(dtype):
    X = np.random.default_rng(6).uniform(1.0, 2.0, (50, 40)).astype(dtype)
    layer = Dropout(0.3)
    Y, backprop = layer.forward(X, training=True, rng=np.random.default_rng(42))
    assert Y.dtype == dtype
    kept = Y != 0
    # every entry is either dropped or scaled by 1 / (1 - rate)
    np.testing.assert_allclose(Y[kept], X[kept] / 0.7, rtol=2 * np.finfo(dtype).eps)
    assert 0.6 < kept.mean() < 0.8
    # the backward uses the same mask and scale
    g = np.ones_like(X)
    np.testing.assert_allclose(backprop(g), kept / np.asarray(0.7, dtype), rtol=2 * np.finfo(dtype).eps)
    # same seed -> same mask; another seed -> another mask
    Y_same, _ = layer.forward(X, training=True, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(Y_same, Y)
    Y_other, _ = layer.forward(X, training=True, rng=np.random.default_rng(43))
    assert np.any((Y_other != 0) != kept)
    # one generator advances: two consecutive draws differ
    rng = np.random.default_rng(42)
    first, _ = layer.forward(X, training=True, rng=rng)
    second, _ = layer.forward(X, training=True, rng=rng)
    assert np.any((first != 0) != (second != 0))


def test_dropout_preserves_expectation():
    X = np.ones((2000, 50))
    Y, _ = Dropout(0.3).forward(X, training=True, rng=np.random.default_rng(7))
    # each entry is 0 or 1/0.7; std of the mean over 1e5 entries is sqrt(0.3/0.7/1e5) ~ 0.0021
    assert abs(Y.mean() - 1.0) < 0.01
    assert abs((Y != 0).mean() - 0.7) < 0.007


def test_dropout_training_without_rng_raises():
    with pytest.raises(ConfigError, match="rng"):
        Dropout(0.5).forward(np.ones((2, 2)), training=True)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.5", None])
def test_dropout_bad_rate(rate):
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        Dropout(rate)  # type: ignore[arg-type]


# ---------------------------------------------------------------- registry and configs
def test_layer_registry_and_config_round_trip():
    assert {"Dense", "Activation", "Softmax", "Dropout"} <= set(LAYERS)
    examples = [Dense(4, 3, init="he_uniform"), Activation("elu", alpha=0.5), Softmax(), Dropout(0.25)]
    for layer in examples:
        assert LAYERS[type(layer).__name__] is type(layer)
        assert issubclass(type(layer), Layer)
        rebuilt = layer_from_config(type(layer).__name__, layer.config())
        assert type(rebuilt) is type(layer)
        assert rebuilt.config() == layer.config()
    with pytest.raises(ConfigError, match="unknown layer type 'Conv2D'"):
        layer_from_config("Conv2D", {})


def test_a_custom_layer_that_breaks_the_protocol_gets_one_line():
    """A layer that forgot super().__init__() gave a raw AttributeError; one whose forward returns only Y gave
    "too many values to unpack"."""
    from glassnet import ConfigError, Sequential
    from glassnet.check.gradcheck import check_layer
    from glassnet.nn.layers import Layer

    class NoSuper(Layer):
        def __init__(self):
            self.scale = 2.0

        def forward(self, X, *, training=False, rng=None):
            return X * self.scale, lambda g, need_input_grad=True: g * self.scale

    class OnlyY(Layer):
        def forward(self, X, *, training=False, rng=None):
            return X * 2

    with pytest.raises(ConfigError, match=r"^layer 0 \(NoSuper\): NoSuper has no params, grads, state: its __init__ "
                                          r"must call super\(\).__init__\(\)"):
        Sequential([NoSuper()])
    with pytest.raises(ConfigError, match=r"NoSuper has no params"):
        check_layer(NoSuper(), (3, 2))
    model = Sequential([OnlyY()], dtype=np.float64)
    with pytest.raises(ConfigError, match=r"^layer 0: OnlyY.forward must return \(Y, backprop\).*it returned a "
                                          r"ndarray of shape \(3, 2\)"):
        model(np.ones((3, 2)))
    with pytest.raises(ConfigError, match=r"^OnlyY.forward must return \(Y, backprop\)"):
        check_layer(OnlyY(), (3, 2))
