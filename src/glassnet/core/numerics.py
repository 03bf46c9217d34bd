"""Numerically stable building blocks: log-sum-exp, softmax and friends.

Everything here works over the *class axis* (the last axis by default) of a
batch of logits ``Z : (n_samples, n_classes)`` and is exact to rounding for
logits of any magnitude (1e4 included) in float32 and float64.

Why subtract the maximum?  ``exp(1e4)`` overflows, but
``logsumexp(z) = c + log(sum(exp(z - c)))`` holds for every constant ``c``;
with ``c = max(z)`` the largest exponent is ``exp(0) = 1``, nothing overflows
and the sum is at least 1, so its log is finite.  ``log_softmax(z) = z -
logsumexp(z)`` is then finite too, which ``log(max(softmax(z), eps))`` is not:
that clips a probability that underflowed to 0 and returns a wrong (clipped)
value *and* a zero gradient.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "logsumexp",
    "softmax",
    "log_softmax",
    "sigmoid",
    "log_sigmoid",
    "softplus",
    "softmax_jacobian",
    "softmax_vjp",
]


def logsumexp(logits: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(logits), axis))`` without overflow.

    logits : (..., n_classes) -> returns (...,) or (..., 1) with ``keepdims``.
    """
    shift = np.max(logits, axis=axis, keepdims=True)
    # A row of all -inf would give nan from (-inf) - (-inf); keep it -inf.
    shift = np.where(np.isfinite(shift), shift, 0)
    out = np.log(np.sum(np.exp(logits - shift), axis=axis, keepdims=True)) + shift
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """``p_i = exp(z_i) / sum_j exp(z_j)``, computed as ``exp(z - max z)`` normalised.

    logits : (n_samples, n_classes) -> probs : (n_samples, n_classes), rows sum to 1.
    """
    shifted = logits - np.max(logits, axis=axis, keepdims=True)
    probs = np.exp(shifted)
    probs /= np.sum(probs, axis=axis, keepdims=True)
    return probs


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log p_i = z_i - logsumexp(z)``: finite for finite logits, never ``-inf``.

    logits : (n_samples, n_classes) -> log_probs : (n_samples, n_classes).
    """
    shifted = logits - np.max(logits, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` evaluated without overflow for any ``z``.

    For ``z >= 0`` use ``1 / (1 + exp(-z))``; for ``z < 0`` the equal form
    ``exp(z) / (1 + exp(z))``.  Either way the exponent is ``-|z| <= 0``.
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(e.dtype, copy=False)


def log_sigmoid(z: np.ndarray) -> np.ndarray:
    """``log(sigmoid(z)) = -softplus(-z) = min(z, 0) - log1p(exp(-|z|))``."""
    return np.minimum(z, 0) - np.log1p(np.exp(-np.abs(z)))


def softplus(z: np.ndarray) -> np.ndarray:
    """``log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|))``, finite for any ``z``."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def softmax_jacobian(probs: np.ndarray) -> np.ndarray:
    """The batched softmax Jacobian ``J[n, i, j] = d p_i / d z_j = p_i (delta_ij - p_j)``.

    In matrix form ``J = Diag(p) - p p^T``.  It is *not* diagonal: changing one
    logit moves every probability, which is why chaining the element-wise
    ``p (1 - p)`` (the diagonal alone) gives a wrong gradient.

    probs : (n_samples, n_classes) -> (n_samples, n_classes, n_classes).
    Costs O(n k^2) memory; backpropagation uses :func:`softmax_vjp` instead.
    """
    probs = np.asarray(probs)
    n, k = probs.shape
    diag = np.zeros((n, k, k), dtype=probs.dtype)
    idx = np.arange(k)
    diag[:, idx, idx] = probs
    return diag - probs[:, :, None] * probs[:, None, :]


def softmax_vjp(probs: np.ndarray, grad_probs: np.ndarray) -> np.ndarray:
    """Vector-Jacobian product of softmax: ``g^T J = p * (g - sum_j g_j p_j)``.

    Row by row, ``(g^T J)_j = sum_i g_i p_i (delta_ij - p_j) = p_j g_j - p_j sum_i g_i p_i``.
    The same numbers as ``grad_probs @ softmax_jacobian(probs)`` in O(n k).

    probs, grad_probs : (n_samples, n_classes) -> grad_logits : (n_samples, n_classes).
    """
    inner = np.sum(grad_probs * probs, axis=-1, keepdims=True)
    return probs * (grad_probs - inner)
