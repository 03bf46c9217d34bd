"""The gradient checker itself: it passes correct code and rejects each classic mistake, naming where it is."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn
from glassnet.errors import GradcheckError
from glassnet.check.gradcheck import check_layer, check_layers, check_loss, gradcheck
from glassnet.nn.layers import Dense, Softmax
from glassnet.nn.losses import CrossEntropy, SoftmaxCrossEntropy
from glassnet.nn.objective import value_and_grad


@pytest.fixture
def batch():
    rng = np.random.default_rng(42)
    X = rng.standard_normal((8, 5))
    y = rng.integers(0, 4, size=8)
    return X, y


# ---------------------------------------------------------------- planted bugs
class ElementwiseSoftmax(Softmax):
    """The seed mistake: softmax backward as the element-wise o(1 - o), the Jacobian's diagonal only."""

    def forward(self, X, *, training=False, rng=None):
        P = gn.softmax(X)
        return P, lambda g, need_input_grad=True: g * P * (1 - P)


class FlippedDense(Dense):
    """A Dense layer whose weight gradient has the wrong sign."""

    def forward(self, X, *, training=False, rng=None):
        Y, backprop = super().forward(X, training=training, rng=rng)

        def flipped(grad_Y, need_input_grad=True):
            out = backprop(grad_Y, need_input_grad)
            self.grads["W"] *= -1
            return out

        return Y, flipped


class NoMeanCrossEntropy(SoftmaxCrossEntropy):
    """Value is the batch mean, gradient forgets the 1/m."""

    def __call__(self, outputs, targets):
        value, grad = super().__call__(outputs, targets)
        return value, grad * outputs.shape[0]


def subtracted_l2(model, loss, X, y, *, l2=0.0, training=False, rng=None, need_input_grad=False):
    """value_and_grad with the L2 gradient subtracted instead of added (the value is right)."""
    value, grad_X = value_and_grad(model, loss, X, y, l2=0.0, training=training, rng=rng, need_input_grad=need_input_grad)
    m = X.shape[0]
    params, grads = model.params(), model.grads()
    for name in model.weight_names():
        value += l2 / (2 * m) * float(np.sum(params[name] ** 2))
        grads[name] -= l2 / m * params[name]
    return value, grad_X


def test_correct_model_passes_with_tiny_error(batch):
    X, y = batch
    report = gradcheck(gn.mlp([5, 6, 4], "tanh", rng=0), SoftmaxCrossEntropy(), X, y, l2=0.5)
    assert report.passed
    assert report.max_rel_error < 1e-8
    assert [t.name for t in report.tensors] == ["0.W", "0.b", "2.W", "2.b", "input"]
    for t in report.tensors:
        assert t.ratio == pytest.approx(1.0, abs=1e-8)
        assert t.n_checked == int(np.prod(t.shape))


def test_elementwise_softmax_derivative_is_rejected_and_localised(batch):
    X, y = batch
    layer_report = check_layer(ElementwiseSoftmax(), (6, 4))
    assert not layer_report.passed
    assert layer_report["input"].max_rel_error > 1e-2

    model = gn.Sequential([Dense(5, 4), ElementwiseSoftmax()], rng=0, dtype=np.float64)
    report = gradcheck(model, CrossEntropy(), X, y)
    assert not report.passed
    # every tensor below the Softmax inherits the wrong gradient ...
    assert {t.name for t in report.failing()} == {"0.W", "0.b", "input"}
    # ... and the layer-by-layer check puts the blame on the Softmax alone.
    verdicts = {i: r.passed for i, r in check_layers(model, X)}
    assert verdicts == {0: True, 1: False}


def test_missing_one_over_m_shows_as_constant_ratio(batch):
    X, y = batch
    loss_report = check_loss(NoMeanCrossEntropy(), np.random.default_rng(1).standard_normal((8, 4)), y)
    assert not loss_report.passed
    assert loss_report["outputs"].ratio == pytest.approx(8.0, rel=1e-8)

    report = gradcheck(gn.mlp([5, 6, 4], "sigmoid", rng=0), NoMeanCrossEntropy(), X, y)
    assert not report.passed
    for t in report.tensors:
        assert t.ratio == pytest.approx(8.0, rel=1e-6)


def test_subtracted_l2_fails_on_weights_only(batch):
    X, y = batch
    model = gn.mlp([5, 6, 4], "softplus", rng=0)
    report = gradcheck(model, SoftmaxCrossEntropy(), X, y, l2=1.0, value_and_grad_fn=subtracted_l2)
    assert {t.name for t in report.failing()} == {"0.W", "2.W"}
    assert report["0.b"].passed and report["2.b"].passed
    # and with no regularisation the same code is right
    assert gradcheck(model, SoftmaxCrossEntropy(), X, y, l2=0.0, value_and_grad_fn=subtracted_l2).passed


def test_sign_flip_in_one_dense_layer_is_named(batch):
    X, y = batch
    model = gn.Sequential([Dense(5, 6), gn.Activation("tanh"), FlippedDense(6, 4)], rng=0, dtype=np.float64)
    report = gradcheck(model, SoftmaxCrossEntropy(), X, y)
    assert [t.name for t in report.failing()] == ["2.W"]
    assert report["2.W"].ratio == pytest.approx(-1.0, rel=1e-8)
    assert report["2.W"].layer == 2
    assert "2.W" in str(report) and "FAIL" in str(report)


def test_raise_on_failure_carries_the_report(batch):
    X, y = batch
    with pytest.raises(GradcheckError) as info:
        gradcheck(gn.mlp([5, 3, 4], "tanh", rng=0), NoMeanCrossEntropy(), X, y, raise_on_failure=True)
    assert info.value.report is not None and not info.value.report.passed
    assert "FAILED" in str(info.value)


def test_relu_kinks_are_skipped_and_counted_not_failed():
    # Inputs placed right at relu's kink: the finite difference straddles it.
    X = np.array([[0.0, 1e-4, -1e-4, 0.5, -0.7]])
    report = check_layer(gn.Activation("relu"), X.shape, X=X)
    assert report.passed
    assert report.n_kink_skipped == 3
    assert report["input"].n_checked == 2


def test_sampling_large_tensors_is_seeded():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4, 30)), rng.integers(0, 3, 4)
    model = gn.mlp([30, 20, 3], "tanh", rng=0)
    a = gradcheck(model, SoftmaxCrossEntropy(), X, y, max_entries=50, seed=7)
    b = gradcheck(model, SoftmaxCrossEntropy(), X, y, max_entries=50, seed=7)
    assert a.passed and a["0.W"].n_checked == 50
    np.testing.assert_array_equal(np.isnan(a["0.W"].numeric), np.isnan(b["0.W"].numeric))


def test_float32_model_is_checked_in_float64_and_left_untouched(batch):
    X, y = batch
    model = gn.mlp([5, 6, 4], "tanh", rng=0)
    before = {k: v.copy() for k, v in model.params().items()}
    report = gradcheck(model, SoftmaxCrossEntropy(), X.astype(np.float32), y)
    assert report.passed and report.dtype == np.float64
    for k, v in model.params().items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, before[k])


def test_dropout_in_training_mode_uses_one_mask():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    model = gn.mlp([5, 8, 3], "tanh", dropout=0.4, rng=0)
    assert gradcheck(model, SoftmaxCrossEntropy(), X, y, training=True).passed


def test_the_value_and_grad_hook_differentiates_its_own_j():
    """A hook whose J lacks the 1/m while its gradient is right must FAIL: the finite differences are taken
    of the hook's J (they were taken of glassnet's own objective, so this case printed PASSED)."""
    from glassnet.nn.objective import value_and_grad as right

    def j_without_mean(model, loss, X, y, **kw):
        value, grad_X = right(model, loss, X, y, **kw)
        return value * X.shape[0], grad_X

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    model = gn.mlp([4, 5, 3], "tanh", rng=0)
    report = gradcheck(model, SoftmaxCrossEntropy(), X, y, value_and_grad_fn=j_without_mean)
    assert not report.passed
    assert all(abs(t.ratio - 1 / 6) < 1e-6 for t in report.tensors)
    assert gradcheck(model, SoftmaxCrossEntropy(), X, y, value_and_grad_fn=right).passed


# ----------------------------------------------------------------------------- no false failure on correct code
def _grid():
    from glassnet.nn.losses import LOSSES

    for name in sorted(LOSSES):
        for k in (2, 10, 1000):
            for m in (1, 64, 512):
                yield pytest.param(name, k, m, id=f"{name}-k{k}-m{m}")


@pytest.mark.parametrize("name, k, m", list(_grid()))
def test_correct_losses_never_fail_whatever_the_classes_and_batch(name, k, m):
    """CrossEntropy on probabilities with 10 classes failed (8.8e-6): a true derivative of 0 with the relative
    step h = 1e-3 o is below the rounding of the stencil.  The rounding floor makes the scheme sound."""
    from glassnet.core.numerics import log_softmax, softmax
    from glassnet.nn.losses import LOSSES

    rng = np.random.default_rng(k * 1000 + m)
    logits = 2 * rng.standard_normal((m, k))
    cls = LOSSES[name]
    outputs = {"probs": softmax(logits), "log_probs": log_softmax(logits)}.get(cls.expects, logits)
    report = check_loss(cls(), outputs, rng.integers(0, k, m), max_entries=60, seed=m)
    assert report.passed, report


@pytest.mark.parametrize("k, m", [(4, 3), (10, 16), (100, 64), (1000, 8)])
def test_the_rounding_floor_still_rejects_a_wrong_gradient(k, m):
    """A cross-entropy whose gradient is off by 1e-3 / m on the entries whose true derivative is 0."""
    from glassnet.core.numerics import softmax

    class Off(CrossEntropy):
        def __call__(self, outputs, targets):
            value, grad = super().__call__(outputs, targets)
            return value, grad + 1e-3 / outputs.shape[0] * (grad == 0)

    rng = np.random.default_rng(k + m)
    outputs = softmax(2 * rng.standard_normal((m, k)))
    assert not check_loss(Off(), outputs, rng.integers(0, k, m), max_entries=None).passed


@pytest.mark.parametrize("k", [2, 10, 100])
@pytest.mark.parametrize("m", [1, 32, 256])
def test_correct_models_never_fail(k, m):
    rng = np.random.default_rng(k + m)
    X, y = rng.standard_normal((m, 6)), rng.integers(0, k, m)
    for output, loss in (("logits", SoftmaxCrossEntropy()), ("softmax", CrossEntropy())):
        model = gn.mlp([6, 5, k], "tanh", output=output, rng=0)
        report = gradcheck(model, loss, X, y, max_entries=40)
        assert report.passed, report
