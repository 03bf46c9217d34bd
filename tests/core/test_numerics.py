"""glassnet.core.numerics: stable log-sum-exp, softmax, log-softmax, sigmoid family, softmax Jacobian/VJP."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from glassnet.core.numerics import (
    log_sigmoid,
    log_softmax,
    logsumexp,
    sigmoid,
    softmax,
    softmax_jacobian,
    softmax_vjp,
    softplus,
)
from strategies import PROPERTY_SETTINGS, arrays_of_shape, float_arrays, float_dtypes, logits, strict_fp

EXTREME = np.array(
    [
        [1e4, -1e4, 0.0, 5e3],
        [-1e4, -1e4, -1e4, -1e4],
        [1e4, 1e4, 1e4, -1e4],
        [-1e4, 1e4, -1e4, 1e4],
    ]
)


def _ulps(dtype) -> float:
    return float(np.finfo(dtype).eps)


# ---------------------------------------------------------------- extreme logits, by hand
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_of_extreme_logits_is_finite_and_exact(dtype):
    z = EXTREME.astype(dtype)
    with strict_fp():
        lse = logsumexp(z)
    assert lse.dtype == dtype
    assert np.all(np.isfinite(lse))
    expected = np.array([1e4, -1e4 + math.log(4), 1e4 + math.log(3), 1e4 + math.log(2)])
    np.testing.assert_allclose(lse, expected, rtol=2 * _ulps(dtype), atol=0)
    # keepdims keeps the class axis
    assert logsumexp(z, keepdims=True).shape == (4, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_of_extreme_logits_rows_sum_to_one(dtype):
    z = EXTREME.astype(dtype)
    with strict_fp():
        p = softmax(z)
    assert p.dtype == dtype
    assert np.all(np.isfinite(p)) and np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=4 * _ulps(dtype))
    # exp(-1e4) underflows to exactly 0; the survivors share the mass exactly.
    np.testing.assert_array_equal(p[0], [1, 0, 0, 0])
    np.testing.assert_allclose(p[1], 0.25, rtol=_ulps(dtype))
    np.testing.assert_allclose(p[2], [1 / 3, 1 / 3, 1 / 3, 0], rtol=2 * _ulps(dtype), atol=0)
    np.testing.assert_allclose(p[3], [0, 0.5, 0, 0.5], rtol=_ulps(dtype), atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_of_extreme_logits_is_never_minus_inf(dtype):
    z = EXTREME.astype(dtype)
    with strict_fp():
        logp = log_softmax(z)
    assert logp.dtype == dtype
    assert np.all(np.isfinite(logp)), "log_softmax must stay finite where softmax underflows to 0"
    assert np.all(logp <= 0)
    # Where softmax underflowed to exactly 0, log_softmax keeps the true value:
    np.testing.assert_array_equal(logp[0], [0.0, -2e4, -1e4, -5e3])
    np.testing.assert_allclose(logp[2], [-math.log(3)] * 3 + [-2e4 - math.log(3)], rtol=2 * _ulps(dtype))
    # log_softmax = z - logsumexp(z), to rounding at the scale of the logits
    np.testing.assert_allclose(logp, z - logsumexp(z, keepdims=True), rtol=0, atol=2 * 1e4 * _ulps(dtype))


# ---------------------------------------------------------------- properties over shapes and values
@PROPERTY_SETTINGS
@given(dtype=float_dtypes(), data=st.data())
def test_softmax_properties_for_any_logits(dtype, data):
    z = data.draw(float_arrays(-1e4, 1e4, dtype, min_cols=1))
    with strict_fp():
        p = softmax(z)
        logp = log_softmax(z)
        lse = logsumexp(z, keepdims=True)
    eps = _ulps(dtype)
    k = z.shape[1]
    assert p.shape == logp.shape == z.shape and lse.shape == (z.shape[0], 1)
    assert p.dtype == logp.dtype == lse.dtype == dtype
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(logp)) and np.all(np.isfinite(lse))
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=(k + 1) * eps)
    assert np.all(logp <= 0)
    # the largest logit has log-probability in [-log k, 0]
    assert np.all(logp.max(axis=1) >= -math.log(k) - 4 * eps)
    # logsumexp bounds: max z <= lse <= max z + log k
    zmax = z.max(axis=1, keepdims=True)
    scale = np.maximum(1.0, np.abs(zmax))
    assert np.all(lse >= zmax - 2 * eps * scale)
    assert np.all(lse <= zmax + math.log(k) + 2 * eps * scale)
    # log_softmax = z - logsumexp(z) to a few ulps of the row's largest |z|
    row_scale = np.maximum(1.0, np.abs(z).max(axis=1, keepdims=True))
    assert np.all(np.abs(logp - (z - lse)) <= 4 * eps * row_scale)
    # softmax = exp(log_softmax)
    np.testing.assert_allclose(p, np.exp(logp), rtol=0, atol=8 * eps * row_scale.max())


@PROPERTY_SETTINGS
@given(z=logits(magnitude=50.0, min_classes=1))
def test_softmax_matches_naive_extended_precision_reference(z):
    """On moderate logits the naive formulas are safe in long double; float64 must agree to ~1e-15."""
    zl = z.astype(np.longdouble)
    e = np.exp(zl)
    p_ref = e / e.sum(axis=1, keepdims=True)
    lse_ref = np.log(e.sum(axis=1))
    np.testing.assert_allclose(softmax(z), p_ref.astype(np.float64), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(logsumexp(z), lse_ref.astype(np.float64), rtol=0, atol=1e-13)
    np.testing.assert_allclose(log_softmax(z), (zl - lse_ref[:, None]).astype(np.float64), rtol=0, atol=1e-13)


@PROPERTY_SETTINGS
@given(z=logits(magnitude=100.0), shift=st.floats(-1e3, 1e3))
def test_softmax_is_shift_invariant(z, shift):
    np.testing.assert_allclose(softmax(z + shift), softmax(z), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(logsumexp(z + shift), logsumexp(z) + shift, rtol=0, atol=1e-9)


def test_single_class_and_single_sample():
    z = np.array([[3.7]])
    assert softmax(z).tolist() == [[1.0]]
    assert log_softmax(z).tolist() == [[0.0]]
    assert logsumexp(z).tolist() == [3.7]


def test_logsumexp_along_other_axis():
    z = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, -5.0]])
    expected = np.log(np.exp(z).sum(axis=0))
    np.testing.assert_allclose(logsumexp(z, axis=0), expected, rtol=1e-15)
    np.testing.assert_allclose(softmax(z, axis=0).sum(axis=0), 1.0, rtol=1e-15)
    np.testing.assert_allclose(log_softmax(z, axis=0), z - expected, rtol=0, atol=4e-15)


def test_logsumexp_of_all_minus_inf_row_is_minus_inf_not_nan():
    z = np.array([[-np.inf, -np.inf], [0.0, 0.0]])
    with np.errstate(divide="ignore"):
        lse = logsumexp(z)
    assert lse[0] == -np.inf
    assert lse[1] == pytest.approx(math.log(2), rel=1e-15)


# ---------------------------------------------------------------- softmax Jacobian and its VJP
def _jacobian_by_hand(p_row: np.ndarray) -> np.ndarray:
    k = p_row.size
    J = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            J[i, j] = p_row[i] * ((1.0 if i == j else 0.0) - p_row[j])
    return J


def _finite_difference_jacobian(z_row: np.ndarray, h: float = 1e-6) -> np.ndarray:
    k = z_row.size
    J = np.empty((k, k))
    for j in range(k):
        dz = np.zeros(k)
        dz[j] = h
        J[:, j] = (softmax(z_row[None] + dz)[0] - softmax(z_row[None] - dz)[0]) / (2 * h)
    return J


def test_softmax_jacobian_worked_example():
    p = softmax(np.array([[1.0, 2.0, 3.0, 4.0]]))[0]
    J = softmax_jacobian(p[None])[0]
    np.testing.assert_allclose(J, np.diag(p) - np.outer(p, p), rtol=0, atol=1e-15)
    np.testing.assert_allclose(J, _jacobian_by_hand(p), rtol=0, atol=1e-15)
    # not diagonal: the element-wise p (1 - p) is only its diagonal
    np.testing.assert_allclose(np.diag(J), p * (1 - p), rtol=1e-15)
    assert abs(J[0, 3]) > 0.02
    # symmetric, and each row sums to 0 (adding a constant to every logit changes nothing)
    np.testing.assert_allclose(J, J.T, rtol=0, atol=1e-17)
    np.testing.assert_allclose(J.sum(axis=1), 0.0, atol=1e-16)


@PROPERTY_SETTINGS
@given(z=logits(magnitude=5.0, max_rows=4, min_classes=1))
def test_softmax_jacobian_equals_hand_built_and_finite_difference(z):
    p = softmax(z)
    J = softmax_jacobian(p)
    assert J.shape == (z.shape[0], z.shape[1], z.shape[1])
    assert J.dtype == np.float64
    for n in range(z.shape[0]):
        np.testing.assert_allclose(J[n], np.diag(p[n]) - np.outer(p[n], p[n]), rtol=0, atol=1e-15)
        np.testing.assert_allclose(J[n], _jacobian_by_hand(p[n]), rtol=0, atol=1e-15)
        np.testing.assert_allclose(J[n], _finite_difference_jacobian(z[n]), rtol=0, atol=1e-8)


def test_softmax_jacobian_keeps_float32():
    p = softmax(np.array([[0.5, -1.0, 2.0]], dtype=np.float32))
    assert softmax_jacobian(p).dtype == np.float32


@PROPERTY_SETTINGS
@given(z=logits(magnitude=20.0, min_classes=1), data=st.data())
def test_softmax_vjp_equals_g_times_jacobian(z, data):
    g = data.draw(arrays_of_shape(z.shape, -5.0, 5.0))
    p = softmax(z)
    expected = np.einsum("ni,nij->nj", g, softmax_jacobian(p))
    got = softmax_vjp(p, g)
    assert got.shape == z.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    # each row of a softmax VJP sums to zero
    np.testing.assert_allclose(got.sum(axis=1), 0.0, atol=1e-12)


# ---------------------------------------------------------------- sigmoid, softplus, log_sigmoid
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_family_at_extremes(dtype):
    z = np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=dtype)
    with strict_fp():
        s, sp, ls = sigmoid(z), softplus(z), log_sigmoid(z)
    for out in (s, sp, ls):
        assert out.dtype == dtype
        assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(s[[0, 2, 4]], [0.0, 0.5, 1.0])
    tiny = float(np.finfo(dtype).tiny)  # exp(-100) is subnormal in float32: compare absolutely there
    tol = dict(rtol=2 * _ulps(dtype), atol=tiny)
    np.testing.assert_allclose(s[1], math.exp(-100.0), **tol)
    np.testing.assert_allclose(s[3], 1.0, rtol=0, atol=_ulps(dtype))
    np.testing.assert_allclose(sp, [0.0, math.exp(-100.0), math.log(2), 100.0, 1e4], **tol)
    np.testing.assert_allclose(ls, [-1e4, -100.0, -math.log(2), -math.exp(-100.0), 0.0], **tol)


def test_sigmoid_family_equals_naive_formulas_where_safe():
    z = np.linspace(-30.0, 30.0, 2001)
    np.testing.assert_allclose(sigmoid(z), 1.0 / (1.0 + np.exp(-z)), rtol=4e-16, atol=0)
    np.testing.assert_allclose(softplus(z), np.log1p(np.exp(z)), rtol=4e-16, atol=0)
    np.testing.assert_allclose(log_sigmoid(z), -np.log1p(np.exp(-z)), rtol=4e-16, atol=0)
    # the plain log(1 + exp(z)) is also safe (absolutely) for moderate z
    np.testing.assert_allclose(softplus(z), np.log(1.0 + np.exp(z)), rtol=4e-16, atol=1e-15)


@PROPERTY_SETTINGS
@given(z=float_arrays(-1e4, 1e4, np.float64))
def test_sigmoid_family_identities(z):
    with strict_fp():
        s, s_neg = sigmoid(z), sigmoid(-z)
        sp, sp_neg = softplus(z), softplus(-z)
        ls = log_sigmoid(z)
    np.testing.assert_allclose(s + s_neg, 1.0, rtol=0, atol=4.5e-16)
    assert np.all(np.abs((sp - sp_neg) - z) <= 8.9e-16 * np.maximum(1.0, np.abs(z)))
    np.testing.assert_array_equal(ls, -sp_neg)
    assert np.all(sp >= 0) and np.all(sp >= z)
    assert np.all((s >= 0) & (s <= 1))


@PROPERTY_SETTINGS
@given(z=float_arrays(-1e4, 1e4, np.float32))
def test_sigmoid_family_keeps_float32(z):
    with strict_fp():
        for f in (sigmoid, softplus, log_sigmoid):
            out = f(z)
            assert out.dtype == np.float32
            assert np.all(np.isfinite(out))
