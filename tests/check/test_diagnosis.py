"""Each diagnosis is proven on a planted bug, and a healthy check gets none."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn
from glassnet.check.diagnosis import cross_check_softmax, diagnose
from glassnet.check.gradcheck import gradcheck
from glassnet.nn.layers import Dense
from glassnet.nn.losses import CrossEntropy, SoftmaxCrossEntropy
from glassnet.nn.objective import value_and_grad

from test_gradcheck import ElementwiseSoftmax, FlippedDense, NoMeanCrossEntropy, subtracted_l2


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    return rng.standard_normal((8, 5)), rng.integers(0, 4, 8)


def codes(found):
    return [d.code for d in found]


def test_healthy_check_has_no_diagnosis(data):
    X, y = data
    model, loss = gn.mlp([5, 6, 4], "tanh", rng=0), SoftmaxCrossEntropy()
    assert diagnose(gradcheck(model, loss, X, y), model, loss, X, y) == []


def test_missing_one_over_m(data):
    X, y = data
    model, loss = gn.mlp([5, 6, 4], "tanh", rng=0), NoMeanCrossEntropy()
    found = diagnose(gradcheck(model, loss, X, y), model, loss, X, y)
    assert codes(found)[0] == "scale"
    assert "batch size m = 8" in found[0].title and "1/m" in found[0].title
    assert "loss" in codes(found)  # and the loss alone is shown to disagree with its value


def test_sign_flip_names_sign_and_layer(data):
    X, y = data
    model = gn.Sequential([Dense(5, 6), gn.Activation("tanh"), FlippedDense(6, 4)], rng=0, dtype=np.float64)
    loss = SoftmaxCrossEntropy()
    found = diagnose(gradcheck(model, loss, X, y), model, loss, X, y)
    assert codes(found)[:2] == ["sign", "weights"]
    layer = next(d for d in found if d.code == "layer")
    assert layer.title.startswith("layer 2 (Dense(6->4))")


def test_l2_mismatch_confirmed_by_growing_error(data):
    X, y = data
    model, loss = gn.mlp([5, 6, 4], "softplus", rng=0), SoftmaxCrossEntropy()
    report = gradcheck(model, loss, X, y, l2=0.5, value_and_grad_fn=subtracted_l2)
    found = diagnose(report, model, loss, X, y, l2=0.5, value_and_grad_fn=subtracted_l2)
    assert "l2" in codes(found)
    assert "added, not subtracted" in next(d for d in found if d.code == "l2").fix


def test_elementwise_softmax_is_blamed_on_the_softmax_layer(data):
    X, y = data
    model = gn.Sequential([Dense(5, 4), ElementwiseSoftmax()], rng=0, dtype=np.float64)
    loss = CrossEntropy()
    found = diagnose(gradcheck(model, loss, X, y), model, loss, X, y)
    layer = next(d for d in found if d.code == "layer")
    assert layer.title.startswith("layer 1 (ElementwiseSoftmax)")


def test_kinks_are_reported_as_not_a_bug():
    X = np.array([[0.0, 1e-4, 0.3]])
    report = gn.check_layer(gn.Activation("relu"), X.shape, X=X)
    found = diagnose(report)
    assert codes(found) == ["kinks"] and "not a bug" in found[0].title


def test_float32_only_failure_is_precision(data):
    X, y = data
    model, loss = gn.mlp([5, 6, 4], "tanh", rng=0), SoftmaxCrossEntropy()
    # a float32 check held to float64's tolerance fails; float64 passes: precision
    report = gradcheck(model, loss, X, y, dtype=np.float32, rtol=1e-6)
    assert not report.passed
    found = diagnose(report, model, loss, X, y)
    assert codes(found) == ["precision"]


def test_loss_that_clips_its_value_but_not_its_gradient_is_caught(data):
    X, y = data

    class ClippedCrossEntropy(CrossEntropy):
        def __call__(self, outputs, targets):
            value, grad = super().__call__(np.maximum(outputs, 0.2), targets)  # clips the value only
            return value, super().__call__(outputs, targets)[1]

    model = gn.mlp([5, 6, 4], "tanh", output="softmax", rng=0, dtype=np.float64)
    loss = ClippedCrossEntropy()
    report = gradcheck(model, loss, X, y)
    assert not report.passed
    found = diagnose(report, model, loss, X, y)
    assert "loss" in codes(found)


def test_fused_unfused_and_numeric_agree():
    rng = np.random.default_rng(0)
    diffs = cross_check_softmax(rng.normal(size=(5, 4)), rng.integers(0, 4, 5))
    assert max(diffs.values()) < 1e-10


def test_one_failing_tensor_is_no_scale_unless_every_entry_is_scaled():
    """A ratio of norms exists for any two vectors; "scaled by c" needs a = c n entry by entry."""
    from test_examples import load_example_file

    broken = load_example_file("broken_layer.py")  # tanh backward with 1 - z^2 instead of 1 - a^2
    found = diagnose(gn.check_layer(broken.layer, (16, 6)))
    assert codes(found) == ["formula"]
    assert found[0].title == ("the backward of MyTanh is wrong entry by entry (input): "
                                "not a constant scale, not a sign flip")
    assert "in terms of the input where it needs the output" in found[0].fix

    class Halved(gn.Activation):  # every entry of dL/dZ halved: a true constant scale
        def forward(self, X, *, training=False, rng=None):
            A, backprop = super().forward(X)
            return A, lambda g, need_input_grad=True: 0.5 * backprop(g)

    found = diagnose(gn.check_layer(Halved("tanh"), (16, 6)))
    assert codes(found) == ["scale"] and found[0].title == "gradient scaled by 0.5"


def test_elementwise_softmax_gets_its_own_verdict_alone_and_in_a_model(data):
    """It used to get the generic hint that cites the very mistake ("in terms of the input ... a (1 - a)")."""
    X, y = data
    from glassnet.check.gradcheck import check_layer

    layer = ElementwiseSoftmax()
    found = diagnose(check_layer(layer, X.shape, X=X), layer=layer, X=X)
    assert codes(found) == ["elementwise_softmax"]
    assert "Diag(p) - p p^T" in found[0].fix and "o (1 - o)" in found[0].title
    model = gn.Sequential([Dense(5, 4), ElementwiseSoftmax()], rng=0, dtype=np.float64)
    found = diagnose(gradcheck(model, CrossEntropy(), X, y), model, CrossEntropy(), X, y)
    assert "elementwise_softmax" in codes(found)
    # the right softmax, and a layer that is no softmax, are not given this verdict
    from glassnet.check.diagnosis import elementwise_softmax
    from glassnet.nn.layers import Softmax

    assert elementwise_softmax(Softmax(), X) is None
    assert elementwise_softmax(FlippedDense(5, 4), X) is None


def _l2_variant(kind):
    def fn(model, loss, X, y, *, l2=0.0, training=False, rng=None, need_input_grad=False):
        value, grad_X = value_and_grad(model, loss, X, y, l2=0.0, training=training, rng=rng,
                                       need_input_grad=need_input_grad)
        m = X.shape[0]
        params, grads = model.params(), model.grads()
        for name in params:
            is_weight = name in model.weight_names()
            if is_weight:
                value += l2 / (2 * m) * float(np.sum(params[name] ** 2))
            factor = {"no 1/m": m if is_weight else 0, "subtracted": -1 if is_weight else 0,
                      "doubled": 2 if is_weight else 0, "left out": 0, "biases": 1}[kind]
            grads[name] += factor * l2 / m * params[name]
        return value, grad_X
    return fn


L2_TITLES = {"no 1/m": "the 1/m is missing", "subtracted": "subtracted, not added", "doubled": "2 lambda W / m",
             "left out": "in the loss but not in the gradient", "biases": "regularises the biases"}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("lam", [0.05, 1.0])
def test_l2_without_1_over_m_is_named_for_every_seed_and_lambda(seed, lam):
    """lambda W instead of lambda W / m was missed in 5 of 12 seed/lambda pairs: the maximum relative error
    saturates.  The slope of the error in lambda does not."""
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((8, 5)), rng.integers(0, 4, 8)
    model, loss = gn.mlp([5, 6, 4], "softplus", rng=seed), SoftmaxCrossEntropy()
    fn = _l2_variant("no 1/m")
    found = diagnose(gradcheck(model, loss, X, y, l2=lam, value_and_grad_fn=fn), model, loss, X, y, l2=lam,
                     value_and_grad_fn=fn)
    l2 = [f for f in found if f.code == "l2"]
    assert l2 and L2_TITLES["no 1/m"] in l2[0].title


@pytest.mark.parametrize("kind", sorted(L2_TITLES))
def test_each_l2_mistake_is_named_from_its_slope(data, kind):
    X, y = data
    model, loss = gn.mlp([5, 6, 4], "tanh", rng=1), SoftmaxCrossEntropy()
    for name, value in model.params().items():
        if name.endswith(".b"):
            value[:] = 0.3  # biases start at 0: regularising them would change nothing
    fn = _l2_variant(kind)
    report = gradcheck(model, loss, X, y, l2=0.3, value_and_grad_fn=fn)
    assert not report.passed
    [l2] = [f for f in diagnose(report, model, loss, X, y, l2=0.3, value_and_grad_fn=fn) if f.code == "l2"]
    assert L2_TITLES[kind] in l2.title


def test_cross_check_softmax_is_finite_when_entries_are_sampled():
    """gradcheck --batch 32 printed "fused vs finite differences nan": a max over unsampled (NaN) entries."""
    from glassnet.check.diagnosis import cross_check_softmax

    rng = np.random.default_rng(0)
    diffs = cross_check_softmax(rng.standard_normal((32, 10)), rng.integers(0, 10, 32))
    assert all(np.isfinite(v) and v < 1e-8 for v in diffs.values()), diffs
