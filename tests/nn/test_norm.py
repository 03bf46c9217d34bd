"""BatchNorm and LayerNorm: hand-worked values, PyTorch's running-statistics convention, state vs parameters,
the gradient checker in training and eval mode, and mistakes the checker must catch."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn
from glassnet import BatchNorm, Dense, LayerNorm, Sequential, mlp
from glassnet.check.gradcheck import check_layer, gradcheck
from glassnet.errors import ConfigError, ShapeError
from glassnet.nn.layers import LAYERS, Layer, register_layer
from glassnet.nn.norm import NORMS, complete_batch_grad
from paths import REPO


def _bn(n_features=2, **kwargs) -> BatchNorm:
    layer = BatchNorm(n_features, **kwargs)
    layer.initialize(np.random.default_rng(0), np.float64)
    return layer


# ---------------------------------------------------------------- forward, by hand
def test_batchnorm_training_forward_and_running_update_by_hand():
    X = np.array([[1.0, 2.0], [3.0, 6.0]])  # column means 2, 4; biased variances 1, 4
    layer = _bn(momentum=0.1)
    Y, _ = layer.forward(X, training=True)
    np.testing.assert_allclose(Y, [[-1.0, -1.0], [1.0, 1.0]], rtol=1e-5)
    # PyTorch: new = 0.9 old + 0.1 batch; the variance enters unbiased (n/(n-1) = 2): 2 and 8
    np.testing.assert_allclose(layer.state["running_mean"], [0.2, 0.4], rtol=1e-15)
    np.testing.assert_allclose(layer.state["running_var"], [0.9 + 0.2, 0.9 + 0.8], rtol=1e-15)


def test_batchnorm_eval_uses_the_running_statistics_and_gamma_beta():
    layer = _bn()
    layer.state["running_mean"][...] = [1.0, -2.0]
    layer.state["running_var"][...] = [4.0, 0.25]
    layer.params["gamma"][...] = [2.0, 3.0]
    layer.params["beta"][...] = [0.5, -0.5]
    X = np.array([[3.0, -1.0]])  # one sample is fine in eval mode
    Y, backprop = layer.forward(X, training=False)
    eps = layer.eps
    expected = [2.0 * 2.0 / np.sqrt(4.0 + eps) + 0.5, 3.0 * 1.0 / np.sqrt(0.25 + eps) - 0.5]
    np.testing.assert_allclose(Y[0], expected, rtol=1e-14)
    before = {k: v.copy() for k, v in layer.state.items()}
    grad = backprop(np.array([[1.0, 1.0]]))
    np.testing.assert_allclose(grad[0], [2.0 / np.sqrt(4.0 + eps), 3.0 / np.sqrt(0.25 + eps)], rtol=1e-14)
    for k in before:  # eval mode never moves the running statistics
        np.testing.assert_array_equal(layer.state[k], before[k])


def test_layernorm_normalises_each_row_and_ignores_the_mode():
    layer = LayerNorm(3)
    layer.initialize(np.random.default_rng(0), np.float64)
    X = np.array([[1.0, 2.0, 3.0], [10.0, 10.0, 40.0]])
    Y_train, _ = layer.forward(X, training=True)
    Y_eval, _ = layer.forward(X, training=False)
    np.testing.assert_array_equal(Y_train, Y_eval)
    # row 0: mean 2, biased variance 2/3 -> (-1, 0, 1) * sqrt(3/2)
    np.testing.assert_allclose(Y_train[0], np.array([-1.0, 0.0, 1.0]) * np.sqrt(1.5), rtol=1e-5)
    np.testing.assert_allclose(Y_train.mean(axis=1), 0.0, atol=1e-12)
    assert layer.state == {}
    single, _ = layer.forward(X[:1], training=True)  # one sample is fine: it normalises over features
    np.testing.assert_array_equal(single, Y_train[:1])


def test_batchnorm_refuses_one_sample_in_training_mode():
    with pytest.raises(ConfigError, match=r"BatchNorm\(2\) in training mode needs at least 2 samples per batch, got 1"):
        _bn().forward(np.ones((1, 2)), training=True)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_features": 0}, "n_features must be a positive integer"),
    ({"n_features": 3, "eps": 0.0}, "eps must be a positive finite number"),
    ({"n_features": 3, "momentum": 1.5}, r"momentum must be a number in \[0, 1\]"),
    ({"n_features": 3, "affine": "yes"}, "affine must be True or False"),
])
def test_bad_options_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        BatchNorm(**kwargs)


def test_wrong_width_is_a_shape_error_at_construction_and_at_forward():
    with pytest.raises(ShapeError, match=r"layer 1 \(BatchNorm\(5\)\) takes 5 inputs but the layer before it gives 6"):
        Sequential([Dense(4, 6), BatchNorm(5)])
    with pytest.raises(ShapeError, match=r"LayerNorm\(3\) expects input of shape \(n, 3\)"):
        Sequential([LayerNorm(3)]).forward(np.ones((2, 4)))
    assert Sequential([BatchNorm(3), Dense(3, 2)], rng=0).n_inputs == 3


# ---------------------------------------------------------------- state is not a parameter
def test_mlp_norm_places_the_layer_and_splits_params_from_state():
    model = mlp([4, 5, 3], norm="batch", rng=0)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "BatchNorm", "Activation", "Dense"]
    assert list(model.params()) == ["0.W", "0.b", "1.gamma", "1.beta", "3.W", "3.b"]
    assert list(model.state()) == ["1.running_mean", "1.running_var"]
    assert model.weight_names() == ["0.W", "3.W"]  # L2 regularises neither gamma nor the state
    assert model.n_params() == 4 * 5 + 5 + 5 + 5 + 5 * 3 + 3
    assert all(a.dtype == np.float32 for a in model.state().values())
    layered = mlp([4, 5, 3], norm="layer", rng=0, dtype=np.float64)
    assert type(layered.layers[1]) is LayerNorm and layered.state() == {}
    assert mlp([4, 5, 3], norm="none", rng=0).describe() == mlp([4, 5, 3], rng=0).describe()
    with pytest.raises(ConfigError, match="norm must be one of none, batch, layer, got 'group'"):
        mlp([4, 5, 3], norm="group")
    assert set(NORMS) == {"batch", "layer"}


def test_optimizer_and_l2_never_touch_the_running_statistics():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    model = mlp([4, 5, 3], norm="batch", rng=0, dtype=np.float64)
    loss = gn.SoftmaxCrossEntropy()
    model.set_state({"1.running_mean": np.full(5, 100.0), "1.running_var": np.full(5, 1e4)})
    penalty = gn.l2_penalty(model, 0.5, 8)
    model.set_state({"1.running_mean": np.zeros(5), "1.running_var": np.ones(5)})
    assert gn.l2_penalty(model, 0.5, 8) == penalty
    opt = gn.SGD(lr=0.1, momentum=0.9)
    opt_state = opt.init(model.params())
    Z = X @ model.params()["0.W"] + model.params()["0.b"]  # what the BatchNorm sees
    gn.value_and_grad(model, loss, X, y, l2=0.5, training=True)
    after_forward = {k: v.copy() for k, v in model.state().items()}
    np.testing.assert_allclose(after_forward["1.running_mean"], 0.1 * Z.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(after_forward["1.running_var"], 0.9 + 0.1 * Z.var(axis=0, ddof=1), rtol=1e-12)
    updates, opt_state = opt.update(model.grads(), opt_state, model.params())
    assert set(updates) == set(model.params()) and not set(updates) & set(model.state())
    gn.apply_updates(model.params(), updates)
    for k, v in model.state().items():
        np.testing.assert_array_equal(v, after_forward[k])


def test_astype_and_copy_carry_the_state():
    model = mlp([4, 5, 3], norm="batch", rng=0)
    model.set_state({"1.running_mean": np.arange(5.0), "1.running_var": np.arange(1.0, 6.0)})
    clone = model.astype(np.float64)
    assert clone.state()["1.running_var"].dtype == np.float64
    np.testing.assert_array_equal(clone.state()["1.running_mean"], np.arange(5.0))
    clone.state()["1.running_mean"][0] = 99
    assert model.state()["1.running_mean"][0] == 0  # a copy, not a view


# ---------------------------------------------------------------- the gradient checker
def test_model_gradcheck_in_training_mode_treats_the_batch_as_one_function():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((7, 4)), rng.integers(0, 3, 7)
    for norm in NORMS:
        model = mlp([4, 6, 5, 3], "tanh", norm=norm, rng=1)
        before = {k: v.copy() for k, v in model.state().items()}
        for training in (False, True):
            report = gradcheck(model, gn.SoftmaxCrossEntropy(), X, y, l2=0.3, training=training)
            assert report.passed and report.max_rel_error < 1e-6, str(report)
            assert report.training is training
            assert ("training mode" in str(report)) is training
        for k, v in model.state().items():  # the model checked is a copy
            np.testing.assert_array_equal(v, before[k])


class _Incomplete(BatchNorm):
    """The classic mistake: the training backward treats the batch mean and variance as constants."""

    def forward(self, X, *, training=False, rng=None):
        Y, backprop = super().forward(X, training=training, rng=rng)
        if not training:
            return Y, backprop
        scale = self.params["gamma"] / np.sqrt(X.var(axis=0) + self.eps)

        def wrong(grad_Y, need_input_grad=True):
            backprop(grad_Y, need_input_grad=False)  # gamma and beta gradients stay right
            return grad_Y * scale

        return Y, wrong


def test_checker_rejects_the_incomplete_backward_in_training_mode_only():
    layer = _Incomplete(4)
    layer.initialize(np.random.default_rng(0), np.float64)
    layer.params["gamma"][...] = [1.5, -0.7, 2.0, 0.9]
    bad = check_layer(layer, (6, 4), training=True)
    assert not bad.passed
    assert [t.name for t in bad.failing()] == ["input"]
    assert bad["input"].max_rel_error > 0.1
    # the numeric gradient sums to 0 down each column (shift invariance); the wrong one does not
    numeric, analytic = bad["input"].numeric, bad["input"].analytic
    np.testing.assert_allclose(numeric.sum(axis=0), 0.0, atol=1e-8)
    assert np.abs(analytic.sum(axis=0)).max() > 0.1
    # adding back the mean and variance paths turns the wrong gradient into the numeric one
    X = np.random.default_rng(0).standard_normal((6, 4))
    np.testing.assert_allclose(complete_batch_grad(analytic, X, layer.eps), numeric, rtol=1e-6, atol=1e-9)
    assert check_layer(layer, (6, 4), training=False).passed  # in eval mode the formula is right


class _UsesItsRunningMean(Layer):
    """A training forward that reads and then moves its own state: y = x - s, then s <- s + mean(x).

    Without the checker restoring the state, each of the four evaluations of
    the stencil would see a different s and the finite difference would be
    off by the drift, not by a derivative.
    """

    def __init__(self):
        super().__init__()
        self.state = {"s": np.zeros(3)}

    def forward(self, X, *, training=False, rng=None):
        Y = X - self.state["s"]
        if training:
            self.state["s"] += X.mean(axis=0)
        return Y, lambda grad_Y, need_input_grad=True: grad_Y


def test_checker_restores_state_between_evaluations():
    report = check_layer(_UsesItsRunningMean(), (4, 3), training=True)
    assert report.passed, str(report)
    assert report.max_rel_error < 1e-9


# ---------------------------------------------------------------- the registry (issue 11)
def test_layer_registry_refuses_a_second_class_with_the_same_name():
    class BatchNorm(Layer):  # noqa: F811 - deliberately the same name as glassnet's
        pass

    with pytest.raises(ValueError, match="layer type 'BatchNorm' registered twice"):
        register_layer(BatchNorm)
    assert LAYERS["BatchNorm"] is gn.BatchNorm


# ---------------------------------------------------------------- training, saving, early stopping
def _blobs(n=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)) * 3 + 1
    return X, (X[:, 0] > 1).astype(int) + (X[:, 1] > 2).astype(int)


def test_fit_refuses_batch_size_one_with_batchnorm_but_not_with_layernorm():
    X, y = _blobs()
    with pytest.raises(ConfigError, match=r"batch size 1 cannot train a model with BatchNorm\(6\).*variance 0"):
        gn.fit(mlp([4, 6, 3], norm="batch", rng=0), X, y, optimizer=gn.SGD(lr=0.1), epochs=1, batch_size=1)
    history = gn.fit(mlp([4, 6, 3], norm="layer", rng=0), X, y, optimizer=gn.SGD(lr=0.1), epochs=1, batch_size=1)
    assert history.records[0].steps == 50


def test_a_last_batch_of_one_sample_joins_the_one_before():
    X, y = _blobs(n=41)
    sizes = []

    class Sizes:
        def on_batch_end(self, step):
            sizes.append(step.batch_size)

    model = mlp([4, 6, 3], norm="batch", rng=0)
    history = gn.fit(model, X, y, optimizer=gn.SGD(lr=0.1), epochs=2, batch_size=8, callbacks=[Sizes()])
    assert sizes == [8, 8, 8, 8, 9] * 2  # 41 = 4 * 8 + 9, never a batch of 1
    assert [r.steps for r in history.records] == [5, 5]
    sizes.clear()
    gn.fit(mlp([4, 6, 3], rng=0), X, y, optimizer=gn.SGD(lr=0.1), epochs=1, batch_size=8, callbacks=[Sizes()])
    assert sizes == [8, 8, 8, 8, 8, 1]  # without batch statistics nothing changes


def test_model_file_saves_and_restores_the_running_statistics(tmp_path):
    X, y = _blobs()
    model = mlp([4, 6, 3], norm="batch", rng=0)
    gn.fit(model, X, y, optimizer=gn.SGD(lr=0.1, momentum=0.9), epochs=3, batch_size=10, rng=0)
    gn.save_model(tmp_path / "m.npz", model)
    loaded = gn.load_model(tmp_path / "m.npz")
    assert list(loaded.state()) == ["1.running_mean", "1.running_var"]
    for name, value in model.state().items():
        np.testing.assert_array_equal(loaded.state()[name], value)
        assert np.any(value != (1.0 if name.endswith("var") else 0.0))
    assert loaded.layers[1].config() == model.layers[1].config()
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_early_stopping_restores_the_running_statistics_of_the_best_epoch():
    X, y = _blobs(n=80)
    seen = {}

    class Remember:
        def on_epoch_end(self, record, state):
            seen[record.epoch] = {k: v.copy() for k, v in model.state().items()}

    model = mlp([4, 16, 3], norm="batch", rng=0)
    history = gn.fit(model, X, y, optimizer=gn.SGD(lr=0.5, momentum=0.9), epochs=12, batch_size=8,
                     validation_split=0.25, early_stopping=gn.EarlyStopping(patience=1), rng=0,
                     callbacks=[Remember()])
    best = history.best_epoch
    assert best is not None and best < len(history)  # stopped or ended after the best epoch
    for name, value in model.state().items():
        np.testing.assert_array_equal(value, seen[best][name])
    assert any(np.any(seen[len(history)][k] != seen[best][k]) for k in seen[best])


# ---------------------------------------------------------------- exports keep the running statistics
def _trained_norm_model(norm: str, dtype=np.float32):
    X, y = _blobs(n=60)
    model = mlp([4, 6, 3], norm=norm, rng=0, dtype=dtype)
    gn.fit(model, X, y, optimizer=gn.SGD(lr=0.1, momentum=0.9), epochs=2, batch_size=10, rng=0)
    return model, X.astype(dtype)


@pytest.mark.parametrize("norm", sorted(NORMS))
def test_safetensors_keeps_the_running_statistics(tmp_path, norm):
    from glassnet.io.safetensors import save_model_safetensors

    model, X = _trained_norm_model(norm)
    save_model_safetensors(tmp_path / "m.safetensors", model)
    loaded = gn.load_model(tmp_path / "m.safetensors")
    assert loaded.describe() == model.describe()
    for name, value in {**model.params(), **model.state()}.items():
        np.testing.assert_array_equal({**loaded.params(), **loaded.state()}[name], value)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("norm", sorted(NORMS))
def test_onnx_runtime_computes_the_eval_mode_output(norm):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from glassnet.export.onnx import to_onnx

    model, X = _trained_norm_model(norm)
    session = ort.InferenceSession(to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    probs, labels = session.run(None, {"features": X})
    np.testing.assert_allclose(probs, model.predict_proba(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, model.predict(X))


def test_torch_state_dict_export_carries_the_running_statistics(tmp_path):
    torch = pytest.importorskip("torch")
    from glassnet.export.torch import export_torch

    model, _ = _trained_norm_model("batch")
    export_torch(model, tmp_path / "m.pt")
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    np.testing.assert_array_equal(state["1.running_mean"].numpy(), model.state()["1.running_mean"])
    np.testing.assert_array_equal(state["1.running_var"].numpy(), model.state()["1.running_var"])
    np.testing.assert_array_equal(state["1.weight"].numpy(), model.params()["1.gamma"])


# ---------------------------------------------------------------- the diagnosis names the classic mistake
def test_diagnosis_names_the_ignored_mean_and_variance_for_a_layer():
    from glassnet.check.diagnosis import diagnose

    layer = _Incomplete(4)
    layer.initialize(np.random.default_rng(0), np.float64)
    X = np.random.default_rng(1).standard_normal((6, 4)) * 2 + 1
    report = check_layer(layer, X.shape, X=X, training=True)
    found = diagnose(report, layer=layer, X=X)
    assert [d.code for d in found] == ["batch-statistics"]
    assert "treats the batch mean and variance as constants" in found[0].title
    assert "the true ones to 0" in found[0].evidence
    assert "n dy - sum(dy) - x_hat sum(dy x_hat)" in found[0].fix


def test_diagnosis_names_it_inside_a_model_checked_in_training_mode():
    from glassnet.check.diagnosis import diagnose

    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((8, 3)), rng.integers(0, 3, 8)
    model = Sequential([Dense(3, 5), _Incomplete(5), gn.Activation("tanh"), Dense(5, 3)], rng=0, dtype=np.float64)
    loss = gn.SoftmaxCrossEntropy()
    report = gradcheck(model, loss, X, y, training=True)
    assert not report.passed and report["3.W"].passed  # above the BatchNorm everything is right
    codes = [d.code for d in diagnose(report, model, loss, X, y)]
    assert codes[:2] == ["batch-statistics", "layer"]
    assert gradcheck(model, loss, X, y, training=False).passed


class _ForgetsGamma(BatchNorm):
    """A different mistake: the complete formula, without gamma."""

    def forward(self, X, *, training=False, rng=None):
        Y, backprop = super().forward(X, training=training, rng=rng)

        def wrong(grad_Y, need_input_grad=True):
            grad = backprop(grad_Y, need_input_grad)
            return None if grad is None else grad / self.params["gamma"]

        return Y, wrong


def test_a_different_batchnorm_mistake_is_not_called_the_classic_one():
    from glassnet.check.diagnosis import batch_statistics_ignored, diagnose

    layer = _ForgetsGamma(4)
    layer.initialize(np.random.default_rng(0), np.float64)
    layer.params["gamma"][...] = [1.5, -0.7, 2.0, 0.9]
    X = np.random.default_rng(1).standard_normal((6, 4))
    report = check_layer(layer, X.shape, X=X, training=True)
    assert not report.passed
    assert batch_statistics_ignored(layer, X) is None
    assert [d.code for d in diagnose(report, layer=layer, X=X)] == ["formula"]
    assert batch_statistics_ignored(_bn(4), X) is None  # a correct BatchNorm passes: nothing to explain


def test_gradcheck_module_on_the_broken_batchnorm_example(capsys):
    from pathlib import Path

    from glassnet.cli.main import main

    example = REPO / "examples" / "broken_batchnorm.py"
    capsys.readouterr()
    assert main(["gradcheck", "--module", str(example), "--batch", "8"]) == 1
    out = capsys.readouterr().out
    eval_part, train_part = out.split("gradcheck MyBatchNorm(6): float64, training mode")
    assert "PASSED: 60 entries checked" in eval_part  # eval mode: gamma dy / sigma is right
    assert "FAILED (input)" in train_part
    assert "the backward of MyBatchNorm(6) treats the batch mean and variance as constants" in train_part


# ---------------------------------------------------------------- glassnet explain batchnorm
def test_explain_batchnorm_fits_80_columns_and_ends_with_the_live_check(capsys):
    from glassnet.check.explain import TOPICS, explain
    from glassnet.cli.main import main

    assert "batchnorm" in TOPICS
    text = explain("batchnorm")
    assert max(len(line) for line in text.splitlines()) <= 80
    for formula in ["dL/dx = (gamma / (n sigma)) (n G - sum_i G_i - x^ sum_i G_i x^_i)",
                    "dx^_i/dx_k", "J = (1/sigma) (I - 11^T/n - x^ x^^T / n)", "dL/dx = gamma G / sigma",
                    "running_var  <- (1 - m) running_var  + m var n / (n - 1)"]:
        assert formula in text, formula
    assert text.index("7. The classic mistake") < text.index("9. Live check")
    capsys.readouterr()
    assert main(["explain", "batchnorm", "--seed", "3"]) == 0
    assert capsys.readouterr().out.strip() == explain("batchnorm", seed=3).strip()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_explain_batchnorm_numbers_are_checked_and_printed(seed):
    from glassnet.check.explain import explain
    from glassnet.check.explain_batchnorm import batchnorm_check

    check = batchnorm_check(seed)
    assert check.max_diff < 1e-9  # step 6, the layer, the Jacobian and finite differences agree
    assert check.incomplete_error > 0.05  # the classic mistake is visibly wrong
    np.testing.assert_allclose(check.layer.sum(axis=0), 0.0, atol=1e-12)
    # an independent computation: autograd-free, straight from the definition through the Jacobian of x^
    X, G, gamma = check.X, check.G, check.gamma
    n = X.shape[0]
    for j in range(X.shape[1]):
        x = X[:, j]
        sigma = np.sqrt(x.var() + 1e-5)
        dmu = np.full(n, 1.0 / n)
        dsigma = (x - x.mean()) / (n * sigma)
        dxhat = (np.eye(n) - dmu[None, :]) / sigma - np.outer(x - x.mean(), dsigma) / sigma**2  # [i, k]
        np.testing.assert_allclose(dxhat.T @ (gamma[j] * G[:, j]), check.layer[:, j], rtol=1e-10, atol=1e-12)
    text = explain("batchnorm", seed=seed)
    first = f"  0  0  {X[0, 0]:+.3f}  {check.compact[0, 0]:+.8f}"
    assert first in text
    assert f"{check.incomplete[0, 0]:+.5f}" in text
    assert f"max |difference| between the four correct methods: {check.max_diff:.2e}" in text


# ---------------------------------------------------------------- the doctor
def _doctor_case():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 6)) * 4 + 3
    y = (X[:, 0] + X[:, 1] > 6).astype(int) + (X[:, 2] > 3).astype(int)
    model = mlp([6, 16, 3], norm="batch", rng=0)
    gn.fit(model, X, y, optimizer=gn.SGD(lr=0.05, momentum=0.9), epochs=15, batch_size=20, rng=0)
    return model, X, y


def test_doctor_finds_running_statistics_that_do_not_fit():
    from glassnet.check.doctor import examine_model, running_statistics_gap

    model, X, y = _doctor_case()
    assert running_statistics_gap(model, X, y) == []  # trained normally: eval mode is as good
    assert "running-statistics" not in [f.code for f in examine_model(model, X, y)]
    model.set_state({"1.running_mean": np.zeros(16), "1.running_var": np.ones(16)})  # never updated
    found = running_statistics_gap(model, X, y)
    assert [f.code for f in found] == ["running-statistics"]
    f = found[0]
    assert f.where == "layer 1 (BatchNorm(16))"
    assert "with the running statistics (eval mode, what predict uses)" in f.evidence
    eval_acc, batch_acc = (float(v) / 100 for v in
                           __import__("re").findall(r"accuracy ([\d.]+)%.* but ([\d.]+)%", f.evidence)[0])
    assert batch_acc - eval_acc > 0.05
    assert abs(eval_acc - float(np.mean(model.predict(X) == y))) < 1e-3
    assert "running-statistics" in [f.code for f in examine_model(model, X, y)]
    assert running_statistics_gap(mlp([6, 16, 3], rng=0), X, y) == []  # no BatchNorm, nothing to say
