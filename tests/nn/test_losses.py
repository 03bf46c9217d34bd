"""glassnet.nn.losses: hand-worked values and gradients, fused vs unfused, target forms, errors, PyTorch parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from glassnet import (
    LOSSES,
    BinaryCrossEntropyWithLogits,
    ConfigError,
    CrossEntropy,
    DataError,
    MSELoss,
    NLLLoss,
    ShapeError,
    Softmax,
    SoftmaxCrossEntropy,
    get_loss,
)
from glassnet.core.numerics import log_softmax, sigmoid, softmax
from strategies import PROPERTY_SETTINGS, logits_and_labels, logits_and_soft_targets, strict_fp

Z4 = np.array([[1.0, 2.0, 3.0, 4.0]])
TRUE4 = 2  # "true class 3" in 1-based counting


def _softmax_by_hand(z) -> np.ndarray:
    e = [math.exp(v) for v in z]
    s = sum(e)
    return np.array([v / s for v in e])


def _onehot(labels, k) -> np.ndarray:
    return np.eye(k)[np.asarray(labels)]


def _unfused(loss: CrossEntropy, logits: np.ndarray, targets) -> tuple[float, np.ndarray]:
    """Softmax layer, then cross-entropy on probabilities, then the Softmax layer's backward."""
    probs, backprop = Softmax().forward(logits)
    value, grad_probs = loss(probs, targets)
    return value, backprop(grad_probs)


# ---------------------------------------------------------------- the hand-worked 4-class example
def test_worked_example_single_sample():
    p = _softmax_by_hand([1.0, 2.0, 3.0, 4.0])
    value, grad = SoftmaxCrossEntropy()(Z4, np.array([TRUE4]))
    assert value == pytest.approx(-math.log(p[2]), rel=1e-14)
    assert value == pytest.approx(1.4401896985611953, rel=1e-14)
    np.testing.assert_allclose(grad, [[p[0], p[1], p[2] - 1, p[3]]], rtol=0, atol=1e-12)
    # the numbers quoted in the docstring
    np.testing.assert_allclose(p, [0.0321, 0.0871, 0.2369, 0.6439], atol=5e-5)
    assert grad.dtype == np.float64


def test_worked_example_batch_divides_by_m():
    Z = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [0.0, -1.0, 2.0, 0.5]])
    y = np.array([2, 0, 3])
    value, grad = SoftmaxCrossEntropy()(Z, y)
    P = np.array([_softmax_by_hand(row) for row in Z])
    T = _onehot(y, 4)
    assert value == pytest.approx(-np.mean(np.log(P[[0, 1, 2], y])), rel=1e-14)
    np.testing.assert_allclose(grad, (P - T) / 3, rtol=0, atol=1e-12)
    np.testing.assert_allclose(grad[0], [P[0, 0] / 3, P[0, 1] / 3, (P[0, 2] - 1) / 3, P[0, 3] / 3], atol=1e-12)


def test_cross_entropy_gradient_is_minus_t_over_o():
    p = _softmax_by_hand([1.0, 2.0, 3.0, 4.0])
    value, grad = CrossEntropy()(p[None], np.array([TRUE4]))
    assert value == pytest.approx(-math.log(p[2]), rel=1e-14)
    np.testing.assert_allclose(grad, [[0.0, 0.0, -1.0 / p[2], 0.0]], rtol=1e-15)
    # batch: -t_j / (m o_j)
    O = np.array([p, p[::-1], np.full(4, 0.25)])
    y = np.array([2, 0, 1])
    value, grad = CrossEntropy()(O, y)
    expected = -_onehot(y, 4) / (3 * O)
    np.testing.assert_allclose(grad, expected, rtol=1e-15)
    assert value == pytest.approx(-np.mean(np.log(O[[0, 1, 2], y])), rel=1e-14)
    # soft targets: -t_j / (m o_j) wherever t_j != 0
    T = np.array([[0.5, 0.5, 0, 0], [0, 0, 0.25, 0.75], [1, 0, 0, 0]])
    _, grad = CrossEntropy()(O, T)
    np.testing.assert_allclose(grad, -T / (3 * O), rtol=1e-15)


def test_fused_and_unfused_agree_on_worked_example():
    _, fused = SoftmaxCrossEntropy()(Z4, np.array([TRUE4]))
    value, unfused = _unfused(CrossEntropy(), Z4, np.array([TRUE4]))
    np.testing.assert_allclose(unfused, fused, rtol=0, atol=1e-12)
    assert value == pytest.approx(1.4401896985611953, rel=1e-14)


_CE_VARIANTS = [
    {},
    {"reduction": "sum"},
    {"label_smoothing": 0.1},
    {"class_weights": "random"},
    {"class_weights": "random", "label_smoothing": 0.2, "reduction": "sum"},
]


@pytest.mark.parametrize("kwargs", _CE_VARIANTS, ids=str)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_fused_and_unfused_agree_on_random_batches(kwargs, data):
    z, y = data.draw(logits_and_labels(magnitude=20.0))
    kwargs = dict(kwargs)
    if kwargs.get("class_weights") == "random":
        kwargs["class_weights"] = np.linspace(0.5, 2.0, z.shape[1])
    for targets in (y, _onehot(y, z.shape[1])):
        v_fused, g_fused = SoftmaxCrossEntropy(**kwargs)(z, targets)
        v_unfused, g_unfused = _unfused(CrossEntropy(**kwargs), z, targets)
        assert v_unfused == pytest.approx(v_fused, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(g_unfused, g_fused, rtol=0, atol=1e-12)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_fused_and_unfused_agree_on_soft_targets(data):
    z, t = data.draw(logits_and_soft_targets(magnitude=20.0))
    v_fused, g_fused = SoftmaxCrossEntropy()(z, t)
    v_unfused, g_unfused = _unfused(CrossEntropy(), z, t)
    assert v_unfused == pytest.approx(v_fused, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(g_unfused, g_fused, rtol=0, atol=1e-12)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_fused_gradient_is_p_minus_t_over_m(data):
    z, y = data.draw(logits_and_labels(magnitude=1e3))
    m, k = z.shape
    with strict_fp():
        value, grad = SoftmaxCrossEntropy()(z, y)
    logp = log_softmax(z)
    assert value == pytest.approx(-np.mean(logp[np.arange(m), y]), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, (softmax(z) - _onehot(y, k)) / m, rtol=0, atol=1e-15)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)


# ---------------------------------------------------------------- extreme logits
EXTREME = np.array(
    [
        [1e4, -1e4, 0.0, 5e3],
        [1e4, -1e4, 0.0, 5e3],
        [-1e4, -1e4, -1e4, -1e4],
        [1e4, 1e4, -1e4, -1e4],
    ]
)
EXTREME_LABELS = np.array([0, 1, 3, 2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_extreme_logits(dtype):
    z = EXTREME.astype(dtype)
    eps = float(np.finfo(dtype).eps)
    with strict_fp():
        value_sum, grad_sum = SoftmaxCrossEntropy(reduction="sum")(z, EXTREME_LABELS)
        value_mean, grad_mean = SoftmaxCrossEntropy()(z, EXTREME_LABELS)
    # per-sample losses: 0, 2e4, log 4, 2e4 + log 2
    expected = 0.0 + 2e4 + math.log(4) + 2e4 + math.log(2)
    assert math.isfinite(value_sum) and math.isfinite(value_mean)
    assert value_sum == pytest.approx(expected, rel=4 * eps)
    assert value_mean == pytest.approx(expected / 4, rel=4 * eps)
    assert grad_sum.dtype == grad_mean.dtype == dtype
    p_minus_t = softmax(z) - _onehot(EXTREME_LABELS, 4).astype(dtype)
    np.testing.assert_allclose(grad_sum, p_minus_t, rtol=0, atol=eps)
    np.testing.assert_allclose(grad_mean, p_minus_t / 4, rtol=0, atol=eps / 4)
    np.testing.assert_array_equal(grad_sum[1], [1, -1, 0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_on_probs_with_zeros_counts_zero_log_zero_as_zero(dtype):
    probs = softmax(EXTREME.astype(dtype))  # contains exact zeros
    labels = np.array([0, 0, 3, 1])  # true classes have non-zero probability
    with strict_fp():
        value, grad = CrossEntropy(reduction="sum")(probs, labels)
    assert value == pytest.approx(math.log(4) + math.log(2), rel=4 * float(np.finfo(dtype).eps))
    assert np.all(np.isfinite(grad)) and grad.dtype == dtype


# ---------------------------------------------------------------- label smoothing, class weights, soft labels
def test_label_smoothing_by_hand():
    eps, k = 0.1, 4
    p = _softmax_by_hand([1.0, 2.0, 3.0, 4.0])
    t_smooth = (1 - eps) * _onehot([TRUE4], k)[0] + eps / k  # (0.025, 0.025, 0.925, 0.025)
    np.testing.assert_allclose(t_smooth, [0.025, 0.025, 0.925, 0.025], rtol=1e-15)
    loss = SoftmaxCrossEntropy(label_smoothing=eps)
    value, grad = loss(Z4, np.array([TRUE4]))
    assert value == pytest.approx(-np.sum(t_smooth * np.log(p)), rel=1e-14)
    np.testing.assert_allclose(grad, [p - t_smooth], rtol=0, atol=1e-15)
    # labels and one-hot targets are smoothed the same way
    value_oh, grad_oh = loss(Z4, _onehot([TRUE4], k))
    assert value_oh == value
    np.testing.assert_array_equal(grad_oh, grad)


def test_class_weights_with_labels_use_the_weighted_mean():
    Z = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, -0.5, 0.0, 1.0]])
    y = np.array([2, 0])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    P = np.array([_softmax_by_hand(r) for r in Z])
    value, grad = SoftmaxCrossEntropy(class_weights=w)(Z, y)
    # J = (w_2 * -log p_02 + w_0 * -log p_10) / (w_2 + w_0), like PyTorch
    assert value == pytest.approx((3 * -math.log(P[0, 2]) + 1 * -math.log(P[1, 0])) / 4, rel=1e-14)
    expected = np.array([3 * (P[0] - _onehot([2], 4)[0]), 1 * (P[1] - _onehot([0], 4)[0])]) / 4
    np.testing.assert_allclose(grad, expected, rtol=0, atol=1e-15)
    # with one-hot/soft targets the normaliser is m (PyTorch's convention for probability targets)
    value_oh, grad_oh = SoftmaxCrossEntropy(class_weights=w)(Z, _onehot(y, 4))
    assert value_oh == pytest.approx(value * 4 / 2, rel=1e-14)
    np.testing.assert_allclose(grad_oh, grad * 4 / 2, rtol=1e-14, atol=1e-16)
    # unit weights change nothing
    v1, g1 = SoftmaxCrossEntropy(class_weights=np.ones(4))(Z, y)
    v0, g0 = SoftmaxCrossEntropy()(Z, y)
    assert v1 == pytest.approx(v0, rel=1e-15)
    np.testing.assert_allclose(g1, g0, rtol=1e-15)


def test_soft_labels_by_hand():
    t = np.array([[0.2, 0.3, 0.5, 0.0]])
    p = _softmax_by_hand([1.0, 2.0, 3.0, 4.0])
    for loss, outputs in ((SoftmaxCrossEntropy(), Z4), (CrossEntropy(), p[None]), (NLLLoss(), np.log(p)[None])):
        value, _ = loss(outputs, t)
        assert value == pytest.approx(-np.sum(t * np.log(p)), rel=1e-14), loss
    _, grad = SoftmaxCrossEntropy()(Z4, t)
    np.testing.assert_allclose(grad, [p - t[0]], rtol=0, atol=1e-15)


_CE_FAMILY = [SoftmaxCrossEntropy, CrossEntropy, NLLLoss]


def _outputs_for(loss_cls, z):
    return {"logits": z, "probs": softmax(z), "log_probs": log_softmax(z)}.get(loss_cls.expects, z)


@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("loss_cls", _CE_FAMILY, ids=lambda c: c.name)
def test_integer_labels_and_one_hot_are_identical(loss_cls, reduction, smoothing):
    rng = np.random.default_rng(8)
    z = rng.standard_normal((6, 5))
    y = rng.integers(0, 5, 6)
    out = _outputs_for(loss_cls, z)
    loss = loss_cls(reduction=reduction, label_smoothing=smoothing)
    v_lab, g_lab = loss(out, y)
    v_oh, g_oh = loss(out, _onehot(y, 5))
    assert v_lab == v_oh
    np.testing.assert_array_equal(g_lab, g_oh)
    # integer-valued float labels and bool-free int32 labels are the same labels
    v_f, g_f = loss(out, y.astype(np.float64))
    v_32, g_32 = loss(out, y.astype(np.int32))
    assert v_f == v_lab == v_32
    np.testing.assert_array_equal(g_f, g_lab)


def _sample_inputs(loss_cls, rng):
    z = rng.standard_normal((5, 3))
    y = rng.integers(0, 3, 5)
    if loss_cls is BinaryCrossEntropyWithLogits:
        return z, rng.integers(0, 2, (5, 3)).astype(float)
    return _outputs_for(loss_cls, z), y


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_sum_is_m_times_mean_for_every_loss(name):
    loss_cls = LOSSES[name]
    outputs, targets = _sample_inputs(loss_cls, np.random.default_rng(9))
    v_mean, g_mean = loss_cls(reduction="mean")(outputs, targets)
    v_sum, g_sum = loss_cls(reduction="sum")(outputs, targets)
    m = outputs.shape[0]
    assert v_sum == pytest.approx(m * v_mean, rel=1e-14)
    np.testing.assert_allclose(g_sum, m * g_mean, rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_keeps_the_outputs_dtype_and_shape(name, dtype):
    loss_cls = LOSSES[name]
    outputs, targets = _sample_inputs(loss_cls, np.random.default_rng(10))
    value, grad = loss_cls()(outputs.astype(dtype), targets)
    assert isinstance(value, float) and math.isfinite(value)
    assert grad.shape == outputs.shape and grad.dtype == dtype
    assert loss_cls().value(outputs.astype(dtype), targets) == value


def test_nll_after_log_softmax_equals_fused():
    rng = np.random.default_rng(11)
    z = rng.standard_normal((4, 6))
    y = rng.integers(0, 6, 4)
    v_fused, g_fused = SoftmaxCrossEntropy()(z, y)
    v_nll, g_logp = NLLLoss()(log_softmax(z), y)
    assert v_nll == pytest.approx(v_fused, rel=1e-14)
    np.testing.assert_allclose(g_logp, -_onehot(y, 6) / 4, rtol=1e-15)
    # chain through log_softmax: dJ/dz = g - softmax(z) * sum(g)
    g_z = g_logp - softmax(z) * g_logp.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(g_z, g_fused, rtol=0, atol=1e-15)


# ---------------------------------------------------------------- BCE with logits and MSE
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_stable_at_extremes(dtype):
    z = np.array([[1e4], [-1e4], [1e4], [-1e4], [0.0]], dtype=dtype)
    t = np.array([1, 0, 0, 1, 1])
    with strict_fp():
        value, grad = BinaryCrossEntropyWithLogits(reduction="sum")(z, t)
    # per sample: 0, 0, 1e4, 1e4, log 2
    assert value == pytest.approx(2e4 + math.log(2), rel=4 * float(np.finfo(dtype).eps))
    np.testing.assert_allclose(grad, [[0.0], [0.0], [1.0], [-1.0], [-0.5]], rtol=0, atol=float(np.finfo(dtype).eps))
    assert grad.dtype == dtype


def test_bce_with_logits_matches_naive_formula_on_moderate_logits():
    rng = np.random.default_rng(12)
    z = rng.uniform(-8, 8, (6, 3))
    T = rng.uniform(0, 1, (6, 3))
    s = 1 / (1 + np.exp(-z))
    naive = -(T * np.log(s) + (1 - T) * np.log(1 - s))
    value, grad = BinaryCrossEntropyWithLogits()(z, T)
    assert value == pytest.approx(naive.sum() / 6, rel=1e-12)
    np.testing.assert_allclose(grad, (s - T) / 6, rtol=1e-12, atol=1e-16)
    # integer labels with k > 1 columns mean one-vs-rest one-hot targets
    y = np.array([0, 2, 1, 1, 0, 2])
    v_lab, g_lab = BinaryCrossEntropyWithLogits()(z, y)
    v_oh, g_oh = BinaryCrossEntropyWithLogits()(z, _onehot(y, 3))
    assert v_lab == v_oh
    np.testing.assert_array_equal(g_lab, g_oh)
    np.testing.assert_allclose(g_oh, (sigmoid(z) - _onehot(y, 3)) / 6, rtol=1e-15)


def test_bce_single_column_needs_zero_one_targets():
    with pytest.raises(DataError, match="0 or 1"):
        BinaryCrossEntropyWithLogits()(np.zeros((3, 1)), np.array([0, 1, 2]))


def test_mse_by_hand():
    O = np.array([[1.0, 2.0], [3.0, 4.0]])
    T = np.array([[0.0, 2.0], [5.0, 1.0]])
    value, grad = MSELoss()(O, T)
    # diff = [[1, 0], [-2, 3]]; sum of squares 14; mean over m = 2 samples
    assert value == 7.0
    np.testing.assert_array_equal(grad, [[1.0, 0.0], [-2.0, 3.0]])  # 2 (O - T) / m
    value, grad = MSELoss(reduction="sum")(O, T)
    assert value == 14.0
    np.testing.assert_array_equal(grad, [[2.0, 0.0], [-4.0, 6.0]])
    # integer labels become one-hot rows: targets [[1, 0], [0, 1]]
    value, grad = MSELoss()(O, np.array([0, 1]))
    assert value == pytest.approx((0 + 4 + 9 + 9) / 2)
    np.testing.assert_array_equal(grad, [[0.0, 2.0], [3.0, 3.0]])


# ---------------------------------------------------------------- bad targets and bad configuration
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_bad_labels_raise_useful_errors(name):
    loss = LOSSES[name]()
    outputs = np.full((3, 4), 0.25)
    with pytest.raises(DataError) as info:
        loss(outputs, np.array([0, 4, 1]))
    assert "[0, 4)" in str(info.value) and "4" in str(info.value)
    with pytest.raises(DataError, match=r"\[-1\]"):
        loss(outputs, np.array([0, -1, 1]))
    with pytest.raises(DataError, match=r"labels must be integers 0..k-1, got 1 non-integer label\(s\) such as \[1.5\] \(at rows \[1\]\)"):
        loss(outputs, np.array([0.0, 1.5, 2.0]))
    with pytest.raises(DataError, match=r"such as \[nan\] \(at rows \[1\]\)"):
        loss(outputs, np.array([0.0, np.nan, 2.0]))
    with pytest.raises(DataError, match="labels must be integers 0..k-1, got an array of dtype <U1"):
        loss(outputs, np.array(["a", "b", "c"]))
    with pytest.raises(ShapeError) as info:
        loss(outputs, np.array([0, 1]))
    assert "3 outputs but 2 targets" in str(info.value)
    with pytest.raises(ShapeError, match="5 columns but the outputs have 4"):
        loss(outputs, np.full((3, 5), 0.2))
    with pytest.raises(DataError, match="NaN"):
        loss(outputs, np.full((3, 4), np.nan))
    with pytest.raises(ShapeError, match=r"\(3, 4, 1\)"):
        loss(outputs, np.zeros((3, 4, 1)))
    with pytest.raises(ShapeError, match=r"\(m, k\)"):
        loss(np.full(4, 0.25), np.array([0, 1, 2, 3]))


def test_bad_loss_configuration():
    with pytest.raises(ConfigError, match="reduction"):
        SoftmaxCrossEntropy(reduction="avg")
    with pytest.raises(ConfigError, match="reduction"):
        MSELoss(reduction="none")
    for eps in (-0.1, 1.0):
        with pytest.raises(ConfigError, match="label_smoothing"):
            SoftmaxCrossEntropy(label_smoothing=eps)
    for w in ([1.0, -1.0], [[1.0, 2.0]], [1.0, np.inf]):
        with pytest.raises(ConfigError, match="class_weights"):
            CrossEntropy(class_weights=w)
    with pytest.raises(ShapeError, match="class_weights has 3 entries for 4 classes"):
        SoftmaxCrossEntropy(class_weights=[1.0, 2.0, 3.0])(Z4, np.array([0]))


def test_get_loss():
    for name, cls in LOSSES.items():
        assert type(get_loss(name)) is cls
        assert cls.name == name
    loss = SoftmaxCrossEntropy(label_smoothing=0.1)
    assert get_loss(loss) is loss
    assert get_loss("softmax_cross_entropy", label_smoothing=0.1).config() == loss.config()
    with pytest.raises(ConfigError) as info:
        get_loss("hinge")
    for name in LOSSES:
        assert name in str(info.value)
    with pytest.raises(ConfigError, match="bad arguments"):
        get_loss("mse", label_smoothing=0.1)


# ---------------------------------------------------------------- against PyTorch (when installed)
@pytest.mark.torch
@pytest.mark.parametrize("kwargs", [{}, {"label_smoothing": 0.1}, {"weight": True}, {"weight": True, "label_smoothing": 0.2}], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("target_form", ["labels", "soft"])
def test_cross_entropy_matches_pytorch(kwargs, reduction, target_form):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(13)
    z = rng.normal(0, 2, (7, 5))
    y = rng.integers(0, 5, 7)
    targets = y if target_form == "labels" else rng.dirichlet(np.ones(5), 7)
    weight = np.linspace(0.3, 2.0, 5) if kwargs.get("weight") else None
    smoothing = kwargs.get("label_smoothing", 0.0)
    ours_value, ours_grad = SoftmaxCrossEntropy(reduction=reduction, label_smoothing=smoothing, class_weights=weight)(z, targets)
    zt = torch.tensor(z, requires_grad=True)
    tt = torch.tensor(targets)
    ref = torch.nn.functional.cross_entropy(
        zt, tt, weight=None if weight is None else torch.tensor(weight), reduction=reduction, label_smoothing=smoothing
    )
    ref.backward()
    assert ours_value == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(ours_grad, zt.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.torch
def test_bce_nll_mse_match_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(14)
    z = rng.normal(0, 3, (6, 4))
    T = rng.uniform(0, 1, (6, 4))
    y = rng.integers(0, 4, 6)
    cases = [
        (BinaryCrossEntropyWithLogits(), z, T, lambda o: F.binary_cross_entropy_with_logits(o, torch.tensor(T), reduction="sum") / 6),
        (NLLLoss(), log_softmax(z), y, lambda o: F.nll_loss(o, torch.tensor(y))),
        (MSELoss(), z, T, lambda o: F.mse_loss(o, torch.tensor(T), reduction="sum") / 6),
    ]
    for loss, outputs, targets, reference in cases:
        value, grad = loss(outputs, targets)
        ot = torch.tensor(outputs, requires_grad=True)
        ref = reference(ot)
        ref.backward()
        assert value == pytest.approx(ref.item(), rel=1e-12), loss
        np.testing.assert_allclose(grad, ot.grad.numpy(), rtol=1e-10, atol=1e-15, err_msg=repr(loss))


# ---------------------------------------------------------------- target validation
def test_scalar_target_raises_shape_error():
    with pytest.raises(ShapeError):
        SoftmaxCrossEntropy()(np.zeros((1, 4)), np.array(2))


@pytest.mark.parametrize("loss_cls", _CE_FAMILY, ids=lambda c: c.name)
def test_negative_soft_targets_raise_data_error(loss_cls):
    with pytest.raises(DataError):
        loss_cls()(_outputs_for(loss_cls, np.zeros((1, 4))), np.array([[-0.5, 1.5, 0.0, 0.0]]))


@pytest.mark.parametrize("cls", ["softmax_cross_entropy", "cross_entropy", "nll"])
def test_class_weights_all_zero_in_a_batch_is_a_clear_error_not_zero_division(cls):
    """PyTorch gives NaN; glassnet raised ZeroDivisionError.  Now a DataError naming the cause."""
    from glassnet.errors import DataError
    from glassnet.nn.losses import get_loss

    loss = get_loss(cls, class_weights=[0.0, 1.0, 2.0])
    outputs = np.full((3, 3), 1 / 3) if cls == "cross_entropy" else np.zeros((3, 3))
    if cls == "nll":
        outputs = np.log(np.full((3, 3), 1 / 3))
    with pytest.raises(DataError, match="has class weight 0, so the weighted mean divides by 0"):
        loss(outputs, np.array([0, 0, 0]))
    value, grad = loss(outputs, np.array([0, 1, 0]))  # one weighted label is enough
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    summed = get_loss(cls, class_weights=[0.0, 1.0, 2.0], reduction="sum")(outputs, np.array([0, 0, 0]))
    assert summed[0] == 0.0
