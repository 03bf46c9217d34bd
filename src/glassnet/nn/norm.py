"""Normalisation layers: :class:`BatchNorm` (over the batch) and :class:`LayerNorm` (over the features).

Both compute ``x_hat = (x - mean) / sqrt(var + eps)`` and ``y = gamma * x_hat + beta``;
they differ in the axis the mean and the variance run over.  Shapes, for an
input ``X : (n, d)`` (n samples, d features):

===========  ======================================  ==============================
layer        statistics                              ``gamma``, ``beta``
===========  ======================================  ==============================
BatchNorm    per feature, over the n samples: (d,)   (d,)
LayerNorm    per sample, over the d features: (n,1)  (d,)
===========  ======================================  ==============================

BatchNorm's training output for one sample depends on every other sample of
the batch (through the mean and the variance), so its backward has terms a
per-sample layer does not: that is the derivation in :class:`BatchNorm`'s
docstring, and the reason a gradient check must treat the whole batch as one
function (:func:`glassnet.check.gradcheck.check_layer` with ``training=True``).

BatchNorm's running statistics are **state**, not parameters
(``layer.state``, ``model.state()``): a training forward updates them, model
files and checkpoints save them, and optimizers and L2 never see them.

``NORMS`` maps the names ``mlp(..., norm=...)`` and ``glassnet train --norm``
accept to the classes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from glassnet.errors import ConfigError, ShapeError
from glassnet.nn.layers import Layer, register_layer

__all__ = ["BatchNorm", "LayerNorm", "NORMS", "normalized_input_grad", "complete_batch_grad"]


def _check_options(what: str, n_features: Any, eps: Any, momentum: Any = None) -> None:
    if not isinstance(n_features, (int, np.integer)) or isinstance(n_features, bool) or n_features < 1:
        raise ConfigError(f"{what} n_features must be a positive integer, got {n_features!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (math.isfinite(eps) and eps > 0):
        raise ConfigError(f"{what} eps must be a positive finite number, got {eps!r}")
    if momentum is not None and (
        isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum <= 1.0
    ):
        raise ConfigError(f"{what} momentum must be a number in [0, 1], got {momentum!r}")


def normalized_input_grad(grad_xhat: np.ndarray, xhat: np.ndarray, inv_std: np.ndarray, axis: int) -> np.ndarray:
    """``dL/dx`` from ``dL/dx_hat`` when ``x_hat = (x - mean(x)) / sqrt(var(x) + eps)`` along ``axis``.

    With ``k`` entries along ``axis``, ``g = dL/dx_hat`` and ``s = 1/sqrt(var + eps)``::

        dL/dx = s * (g - mean(g) - x_hat * mean(g * x_hat))       (means along ``axis``)

    derived in :class:`BatchNorm`'s docstring (there ``axis = 0``).  Shapes:
    ``grad_xhat, xhat : (n, d)``; ``inv_std`` broadcasts against them
    (``(d,)`` for axis 0, ``(n, 1)`` for axis 1).
    """
    mean_g = np.mean(grad_xhat, axis=axis, keepdims=True)
    mean_gx = np.mean(grad_xhat * xhat, axis=axis, keepdims=True)
    return inv_std * (grad_xhat - mean_g - xhat * mean_gx)


def complete_batch_grad(incomplete: np.ndarray, X: np.ndarray, eps: float) -> np.ndarray:
    """What a BatchNorm backward that treats the batch mean and variance as constants is missing, added back.

    The incomplete formula is ``a = gamma * G / sigma`` (n, d), the eval-mode
    derivative.  Since ``gamma / sigma`` is constant down each column, the
    complete training-mode derivative is the same linear map applied to it:
    ``a - mean(a) - x_hat * mean(a * x_hat)`` (means over the n samples).
    The gradient diagnosis uses this to recognise the classic mistake: the
    numeric gradient equals this map of the analytic one.
    """
    X = np.asarray(X, dtype=np.float64)
    xhat = (X - X.mean(axis=0)) / np.sqrt(X.var(axis=0) + eps)
    return normalized_input_grad(np.asarray(incomplete, dtype=np.float64), xhat, 1.0, axis=0)


class _Normalization(Layer):
    """What BatchNorm and LayerNorm share: ``n_features``, ``eps``, the optional affine ``gamma``/``beta``."""

    def __init__(self, n_features: int, *, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        _check_options(type(self).__name__, n_features, eps)
        if not isinstance(affine, (bool, np.bool_)):
            raise ConfigError(f"{type(self).__name__} affine must be True or False, got {affine!r}")
        self.n_features, self.eps, self.affine = int(n_features), float(eps), bool(affine)
        self.dtype = np.dtype(np.float32)

    def _create(self, dtype: np.dtype) -> None:
        """gamma = 1, beta = 0 (PyTorch's initialisation): the layer starts as a plain normalisation."""
        self.dtype = np.dtype(dtype)
        if self.affine:
            self.params = {"gamma": np.ones(self.n_features, dtype), "beta": np.zeros(self.n_features, dtype)}
            self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def initialize(self, rng, dtype=np.float32, next_activation=None):
        self._create(np.dtype(dtype))

    @property
    def initialized(self) -> bool:
        return "gamma" in self.params or not self.affine

    def input_width(self):
        return self.n_features

    def describe(self):
        return f"{type(self).__name__}({self.n_features})"

    def _check(self, X: np.ndarray) -> None:
        if not self.initialized:
            raise ConfigError(f"{self.describe()} is not initialised yet: call initialize(rng) or put it in a Sequential")
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ShapeError(f"{self.describe()} expects input of shape (n, {self.n_features}), got {X.shape}")

    def _affine(self, xhat: np.ndarray) -> np.ndarray:
        return xhat * self.params["gamma"] + self.params["beta"] if self.affine else xhat

    def _param_grads(self, grad_Y: np.ndarray, xhat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``dL/dbeta = sum_i G_i`` and ``dL/dgamma = sum_i G_i * x_hat_i``, both (d,); stored when affine."""
        dbeta = np.sum(grad_Y, axis=0)
        dgamma = np.sum(grad_Y * xhat, axis=0)
        if self.affine:
            self.grads["beta"][...] = dbeta
            self.grads["gamma"][...] = dgamma
        return dbeta, dgamma


@register_layer
class BatchNorm(_Normalization):
    """Batch normalisation over the features of ``X : (n, d)`` (PyTorch's ``nn.BatchNorm1d``).

    Forward in training mode (the statistics of this batch), per feature column::

        mu    = (1/n) sum_i x_i                      (d,)
        var   = (1/n) sum_i (x_i - mu)^2             (d,)   biased: divides by n
        sigma = sqrt(var + eps)                      (d,)
        x_hat = (x - mu) / sigma                     (n, d)
        y     = gamma * x_hat + beta                 (n, d)   gamma, beta : (d,)

    Running statistics, PyTorch's convention (``momentum`` is the weight of
    the *new* batch, 0.1 by default; Keras's ``momentum=0.99`` is the weight
    of the old value, i.e. PyTorch's 0.01)::

        running_mean <- (1 - momentum) running_mean + momentum mu
        running_var  <- (1 - momentum) running_var  + momentum var * n / (n - 1)   (unbiased)

    starting from 0 and 1.  Eval mode (``training=False``) normalises with
    them instead, ``x_hat = (x - running_mean) / sqrt(running_var + eps)``, a
    fixed affine map of each sample on its own.

    Backward in eval mode: ``dL/dx = gamma G / sqrt(running_var + eps)``,
    with ``G = dL/dy : (n, d)``.  In training mode every ``x_k`` also moves
    ``mu`` and ``var`` and so every ``x_hat_i`` of its column.  Per column
    (drop the feature index; ``g_i = dL/dx_hat_i = gamma G_i``)::

        dL/dbeta  = sum_i G_i                        dL/dgamma = sum_i G_i x_hat_i
        dmu/dx_k  = 1/n
        dvar/dx_k = (2/n) (x_k - mu)                 (the sum of (x_i - mu) is 0)
        dsigma/dx_k = dvar/dx_k / (2 sigma) = x_hat_k / n
        dx_hat_i/dx_k = (delta_ik - dmu/dx_k) / sigma - (x_i - mu) / sigma^2 * dsigma/dx_k
                      = (1/sigma) (delta_ik - 1/n - x_hat_i x_hat_k / n)
        dL/dx_k = sum_i g_i dx_hat_i/dx_k
                = (1/sigma) (g_k - (1/n) sum_i g_i - x_hat_k (1/n) sum_i g_i x_hat_i)

    and with ``g = gamma G`` (gamma is constant down a column) the compact form::

        dL/dx = (gamma / (n sigma)) (n G - sum_i G_i - x_hat sum_i G_i x_hat_i)
              = (gamma / (n sigma)) (n G - dL/dbeta - x_hat dL/dgamma)        (n, d)

    The classic incomplete backward keeps only ``gamma G / sigma`` (the
    ``delta_ik`` term): it treats ``mu`` and ``sigma`` as constants, which is
    right in eval mode and wrong in training mode.  The correct one sums to 0
    down every column (shifting a column by a constant changes nothing).

    A training batch needs at least 2 samples: one sample has variance 0, so
    every output would be ``beta`` whatever the input (PyTorch refuses it too).
    """

    batch_statistics = True

    def __init__(self, n_features: int, *, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True) -> None:
        super().__init__(n_features, eps=eps, affine=affine)
        _check_options("BatchNorm", n_features, eps, momentum)
        self.momentum = float(momentum)

    def _create(self, dtype):
        super()._create(dtype)
        self.state = {"running_mean": np.zeros(self.n_features, dtype), "running_var": np.ones(self.n_features, dtype)}

    @property
    def initialized(self) -> bool:
        return "running_mean" in self.state and super().initialized

    def config(self):
        return {"n_features": self.n_features, "eps": self.eps, "momentum": self.momentum, "affine": self.affine}

    def forward(self, X, *, training=False, rng=None):
        self._check(X)
        if not training:
            return self._forward_frozen(X)
        n = X.shape[0]
        if n < 2:
            raise ConfigError(
                f"{self.describe()} in training mode needs at least 2 samples per batch, got {n}: the variance "
                "of one sample is 0, so every output would be beta whatever the input (use a batch size >= 2, "
                "or LayerNorm)"
            )
        mu = X.mean(axis=0)
        centered = X - mu
        var = np.mean(centered * centered, axis=0)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        xhat = centered * inv_std
        self._update_running(mu, var, n)
        gamma = self.params["gamma"] if self.affine else 1.0

        def backprop(grad_Y, need_input_grad=True):
            dbeta, dgamma = self._param_grads(grad_Y, xhat)
            if not need_input_grad:
                return None
            return (gamma * inv_std / n) * (n * grad_Y - dbeta - xhat * dgamma)

        return self._affine(xhat), backprop

    def _update_running(self, mu: np.ndarray, var: np.ndarray, n: int) -> None:
        m = self.momentum
        running_mean, running_var = self.state["running_mean"], self.state["running_var"]
        running_mean[...] = (1.0 - m) * running_mean + m * mu
        running_var[...] = (1.0 - m) * running_var + m * (var * (n / (n - 1)))

    def _forward_frozen(self, X):
        """Eval mode: the running statistics are constants, so each sample is mapped on its own."""
        inv_std = 1.0 / np.sqrt(self.state["running_var"] + self.eps)
        xhat = (X - self.state["running_mean"]) * inv_std
        scale = self.params["gamma"] * inv_std if self.affine else inv_std

        def backprop(grad_Y, need_input_grad=True):
            self._param_grads(grad_Y, xhat)
            return grad_Y * scale if need_input_grad else None

        return self._affine(xhat), backprop


@register_layer
class LayerNorm(_Normalization):
    """Layer normalisation: each sample over its own ``d`` features (PyTorch's ``nn.LayerNorm(d)``).

    Per row ``i`` of ``X : (n, d)``::

        mu_i    = (1/d) sum_j x_ij                   (n, 1)
        var_i   = (1/d) sum_j (x_ij - mu_i)^2        (n, 1)   biased
        x_hat   = (x - mu) / sqrt(var + eps)         (n, d)
        y       = gamma * x_hat + beta               (n, d)   gamma, beta : (d,)

    The same in training and eval mode (no running statistics, any batch
    size, one sample included).  The backward is BatchNorm's algebra along
    the feature axis: with ``g = dL/dx_hat = gamma G`` (n, d) and
    ``s_i = 1/sqrt(var_i + eps)``::

        dL/dx = s * (g - mean_j(g) - x_hat * mean_j(g * x_hat))      (n, d)
        dL/dgamma = sum_i G_i x_hat_i,   dL/dbeta = sum_i G_i          (d,)

    Here gamma varies along the normalised axis, so it stays inside the means
    (in BatchNorm it factors out).
    """

    def config(self):
        return {"n_features": self.n_features, "eps": self.eps, "affine": self.affine}

    def forward(self, X, *, training=False, rng=None):
        self._check(X)
        mu = X.mean(axis=1, keepdims=True)
        centered = X - mu
        var = np.mean(centered * centered, axis=1, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        xhat = centered * inv_std

        def backprop(grad_Y, need_input_grad=True):
            self._param_grads(grad_Y, xhat)
            if not need_input_grad:
                return None
            grad_xhat = grad_Y * self.params["gamma"] if self.affine else grad_Y
            return normalized_input_grad(grad_xhat, xhat, inv_std, axis=1)

        return self._affine(xhat), backprop


#: ``norm=`` name -> layer class (``mlp(..., norm="batch")``, ``glassnet train --norm batch``).
NORMS: dict[str, type[_Normalization]] = {"batch": BatchNorm, "layer": LayerNorm}
