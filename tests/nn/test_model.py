"""glassnet.nn.model: the mlp builder, parameter naming, initialisation, dtypes, prediction, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet import Activation, ConfigError, DataError, Dense, Dropout, ShapeError, Softmax, mlp
from glassnet.nn.model import Sequential, as_generator


def _types(model: Sequential) -> list[str]:
    return [layer.describe() for layer in model.layers]


# ---------------------------------------------------------------- structure
def test_mlp_builds_the_expected_layers():
    model = mlp([4, 8, 6, 3], "relu", rng=0)
    assert _types(model) == ["Dense(4->8)", "Activation(relu)", "Dense(8->6)", "Activation(relu)", "Dense(6->3)"]
    assert model.describe() == "Dense(4->8) -> Activation(relu) -> Dense(8->6) -> Activation(relu) -> Dense(6->3)"
    assert model.n_inputs == 4 and model.n_outputs == 3
    assert model.output_kind == "logits"

    with_dropout = mlp([4, 8, 3], "tanh", dropout=0.2, output="softmax", rng=0)
    assert _types(with_dropout) == ["Dense(4->8)", "Activation(tanh)", "Dropout(0.2)", "Dense(8->3)", "Softmax"]
    assert with_dropout.output_kind == "probs"

    linear = mlp([5, 2], rng=0)
    assert _types(linear) == ["Dense(5->2)"]


def test_param_and_grad_names_and_shapes():
    model = mlp([4, 8, 6, 3], rng=0)
    params, grads = model.params(), model.grads()
    assert list(params) == ["0.W", "0.b", "2.W", "2.b", "4.W", "4.b"]
    assert list(grads) == list(params)
    assert {k: v.shape for k, v in params.items()} == {
        "0.W": (4, 8), "0.b": (8,), "2.W": (8, 6), "2.b": (6,), "4.W": (6, 3), "4.b": (3,),
    }  # fmt: skip
    for name in params:
        assert grads[name].shape == params[name].shape
    assert model.weight_names() == ["0.W", "2.W", "4.W"]
    assert model.n_params() == 4 * 8 + 8 + 8 * 6 + 6 + 6 * 3 + 3
    # dropout shifts the indices: Dense, Activation, Dropout, Dense, ...
    assert mlp([4, 8, 6, 3], dropout=0.5, rng=0).weight_names() == ["0.W", "3.W", "6.W"]


def test_params_are_live_arrays():
    model = mlp([3, 2], rng=0)
    model.params()["0.W"][...] = 7.0
    np.testing.assert_array_equal(model.layers[0].params["W"], 7.0)
    np.testing.assert_array_equal(model(np.ones((1, 3))), [[21.0, 21.0]])


def test_backprop_fills_grads_and_returns_input_grad_only_when_asked():
    model = mlp([3, 4, 2], "tanh", rng=0, dtype=np.float64)
    X = np.random.default_rng(0).standard_normal((5, 3))
    out, backprop = model.forward(X)
    assert backprop(np.ones_like(out)) is None
    np.testing.assert_allclose(model.grads()["2.b"], [5.0, 5.0])
    grad_X = backprop(np.ones_like(out), need_input_grad=True)
    assert grad_X.shape == (5, 3)


def test_set_params():
    model = mlp([3, 2], rng=0, dtype=np.float64)
    model.set_params({"0.W": np.arange(6.0).reshape(3, 2), "0.b": np.array([1.0, -1.0])})
    np.testing.assert_array_equal(model(np.array([[1.0, 0.0, 1.0]])), [[5.0, 5.0]])
    with pytest.raises(ShapeError, match=r"0.W has shape \(3, 2\), got \(2, 3\)"):
        model.set_params({"0.W": np.zeros((2, 3)), "0.b": np.zeros(2)})
    with pytest.raises(ShapeError, match="missing"):
        model.set_params({"0.W": np.zeros((3, 2))})


# ---------------------------------------------------------------- initialisation
def test_default_init_is_he_normal_for_relu():
    n_in, n_hidden = 400, 300
    model = mlp([n_in, n_hidden, 10], "relu", rng=0)
    W = model.params()["0.W"].astype(np.float64)
    # he_normal: N(0, 2 / n_in); 120000 draws -> the sample std is within ~0.2% of the truth
    assert W.std() == pytest.approx(np.sqrt(2 / n_in), rel=0.02)
    assert abs(W.mean()) < 0.002
    # normal, not uniform: values beyond the he_uniform bound sqrt(6 / n_in) occur (~8% of draws)
    assert np.abs(W).max() > np.sqrt(6 / n_in)
    # the last Dense is followed by no activation: glorot_uniform, bounded by sqrt(6 / (n_in + n_out))
    W_out = model.params()["2.W"]
    assert np.abs(W_out).max() <= np.sqrt(6 / (n_hidden + 10))
    np.testing.assert_array_equal(model.params()["0.b"], 0)


def test_default_init_is_glorot_uniform_for_tanh():
    n_in, n_hidden = 400, 300
    model = mlp([n_in, n_hidden, 10], "tanh", rng=0)
    W = model.params()["0.W"].astype(np.float64)
    bound = np.sqrt(6 / (n_in + n_hidden))
    # U(-r, r) has std r / sqrt(3) = sqrt(2 / (n_in + n_out))
    assert W.std() == pytest.approx(np.sqrt(2 / (n_in + n_hidden)), rel=0.02)
    assert np.abs(W).max() <= bound
    assert np.abs(W).max() > 0.99 * bound


def test_default_init_is_lecun_normal_for_selu_and_explicit_init_wins():
    W = mlp([400, 300, 10], "selu", rng=0).params()["0.W"].astype(np.float64)
    assert W.std() == pytest.approx(np.sqrt(1 / 400), rel=0.02)
    W = mlp([400, 300, 10], "relu", init="he_uniform", rng=0).params()["0.W"].astype(np.float64)
    assert np.abs(W).max() <= np.sqrt(6 / 400)
    assert W.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)


def test_same_seed_same_weights():
    a, b = mlp([5, 4, 3], rng=1), mlp([5, 4, 3], rng=np.random.default_rng(1))
    c = mlp([5, 4, 3], rng=2)
    for name in a.params():
        np.testing.assert_array_equal(a.params()[name], b.params()[name])
    assert not np.array_equal(a.params()["0.W"], c.params()["0.W"])


# ---------------------------------------------------------------- dtypes
def test_float32_default_and_float64_available():
    X = np.random.default_rng(0).standard_normal((4, 5))
    m32 = mlp([5, 4, 3], rng=0)
    assert m32.dtype == np.float32
    assert all(p.dtype == np.float32 for p in m32.params().values())
    assert all(g.dtype == np.float32 for g in m32.grads().values())
    assert m32(m32.check_input(X)).dtype == np.float32
    m64 = mlp([5, 4, 3], rng=0, dtype=np.float64)
    assert all(p.dtype == np.float64 for p in m64.params().values())
    assert m64(X).dtype == np.float64
    with pytest.raises(ConfigError, match="float32 or float64"):
        mlp([5, 3], dtype=np.float16)


def test_astype_returns_a_copy():
    m32 = mlp([5, 4, 3], rng=0)
    m64 = m32.astype(np.float64)
    assert m64 is not m32
    assert m64.dtype == np.float64 and m32.dtype == np.float32
    for name, p in m32.params().items():
        q = m64.params()[name]
        assert q.dtype == np.float64 and p.dtype == np.float32
        assert q is not p
        np.testing.assert_array_equal(q, p.astype(np.float64))
    m64.params()["0.W"][...] = 0
    assert np.any(m32.params()["0.W"] != 0)
    clone = m32.copy()
    clone.params()["0.b"][...] = 5
    np.testing.assert_array_equal(m32.params()["0.b"], 0)


def test_pre_initialised_layers_are_cast_to_the_model_dtype():
    dense = Dense(3, 2)
    dense.initialize(np.random.default_rng(0), np.float64)
    model = Sequential([dense], dtype=np.float32)
    assert model.params()["0.W"].dtype == np.float32


# ---------------------------------------------------------------- prediction and capture
def test_predict_proba_rows_sum_to_one():
    X = np.random.default_rng(1).standard_normal((10, 5)) * 10
    for model in (mlp([5, 6, 4], rng=0), mlp([5, 6, 4], output="softmax", rng=0, dtype=np.float64)):
        P = model.predict_proba(X)
        assert P.shape == (10, 4)
        np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-6)
        assert np.all(P >= 0)
        np.testing.assert_array_equal(model.predict(X), P.argmax(axis=1))
        # chunking changes nothing
        np.testing.assert_allclose(model.predict_proba(X, batch_size=3), P, rtol=1e-6)


def test_predict_proba_single_output_column_is_sigmoid_pair():
    model = mlp([3, 1], rng=0, dtype=np.float64)
    X = np.random.default_rng(2).standard_normal((4, 3))
    z = model(X)[:, 0]
    P = model.predict_proba(X)
    assert P.shape == (4, 2)
    np.testing.assert_allclose(P[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-14)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-15)


def test_capture_receives_each_layer_output():
    model = mlp([3, 4, 2], "relu", output="softmax", rng=0, dtype=np.float64)
    X = np.random.default_rng(3).standard_normal((5, 3))
    captured: list[np.ndarray] = []
    out, _ = model.forward(X, capture=captured)
    assert len(captured) == len(model.layers) == 4
    expected = X
    for layer, got in zip(model.layers, captured):
        expected = layer(expected)
        np.testing.assert_array_equal(got, expected)
    assert captured[-1] is out
    assert np.all(captured[1] >= 0)  # relu output


def test_training_forward_with_dropout_needs_rng():
    model = mlp([3, 8, 2], dropout=0.5, rng=0)
    X = np.ones((4, 3), dtype=np.float32)
    with pytest.raises(ConfigError, match="rng"):
        model.forward(X, training=True)
    a, _ = model.forward(X, training=True, rng=np.random.default_rng(0))
    b, _ = model.forward(X, training=True, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model(X), model.forward(X, training=False)[0])


# ---------------------------------------------------------------- check_input
def test_check_input_casts_and_accepts_integers():
    model = mlp([3, 2], rng=0)
    X = model.check_input(np.array([[1, 2, 3]]))
    assert X.dtype == np.float32
    np.testing.assert_array_equal(X, [[1, 2, 3]])


def test_check_input_names_nan_rows():
    model = mlp([3, 2], rng=0)
    X = np.ones((6, 3))
    X[1, 2] = np.nan
    X[4, 0] = np.inf
    with pytest.raises(DataError) as info:
        model.check_input(X)
    message = str(info.value)
    assert "2 row(s)" in message and "[1, 4]" in message


def test_check_input_wrong_width_names_layer_0_and_both_shapes():
    model = mlp([4, 8, 3], rng=0)
    with pytest.raises(ShapeError) as info:
        model.check_input(np.ones((5, 3)))
    message = str(info.value)
    assert "layer 0" in message and "Dense(4->8)" in message
    assert "(n, 4)" in message and "(5, 3)" in message
    with pytest.raises(ShapeError, match="2-D"):
        model.check_input(np.ones(4))


def test_check_input_empty_and_non_numeric():
    model = mlp([2, 2], rng=0)
    with pytest.raises(DataError, match="empty"):
        model.check_input(np.zeros((0, 2)))
    with pytest.raises(DataError, match="numeric"):
        model.check_input(np.array([["a", "b"]]))
    with pytest.raises(DataError, match="numeric"):
        model.check_input(np.array([[1, None]], dtype=object))


# ---------------------------------------------------------------- construction errors
def test_construction_errors():
    with pytest.raises(ConfigError, match="at least one layer"):
        Sequential([])
    with pytest.raises(ConfigError, match="not a glassnet Layer"):
        Sequential([Dense(2, 2), "relu"])  # type: ignore[list-item]
    with pytest.raises(ShapeError, match=r"layer 2 \(Dense\(3->2\)\) takes 3 inputs but the layer before it gives 4"):
        Sequential([Dense(2, 4), Activation("relu"), Dense(3, 2)])
    with pytest.raises(ConfigError, match="sizes"):
        mlp([4])
    with pytest.raises(ConfigError, match="positive integers"):
        mlp([4, 0, 2])
    with pytest.raises(ConfigError, match="output"):
        mlp([4, 2], output="sigmoid")
    with pytest.raises(ConfigError, match="unknown activation"):
        mlp([4, 3, 2], activation="nope")
    with pytest.raises(ConfigError, match="rng"):
        mlp([4, 2], rng="seed")  # type: ignore[arg-type]
    assert isinstance(Sequential([Softmax(), Dropout(0.1)]).layers[0], Softmax)


def test_as_generator():
    g = np.random.default_rng(5)
    assert as_generator(g) is g
    assert as_generator(3).random() == np.random.default_rng(3).random()
    assert as_generator(None).random() == np.random.default_rng(0).random()
    with pytest.raises(ConfigError):
        as_generator(True)  # type: ignore[arg-type]
