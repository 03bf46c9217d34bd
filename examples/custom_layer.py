"""A layer and a loss written by hand, in the form ``glassnet gradcheck --module`` checks.

Run:  glassnet gradcheck --module examples/custom_layer.py

``layer`` is a learnable element-wise scale-and-shift ``Y = X * gamma + beta``
(the affine part of a normalisation layer); ``loss`` is a squared hinge loss.
Both follow the protocols in docs/custom-layers.md.
"""

from __future__ import annotations

import numpy as np

from glassnet.nn.layers import Layer
from glassnet.nn.losses import Loss, as_target_matrix


class ScaleShift(Layer):
    """``Y = X * gamma + beta``;  X, Y : (n, width), gamma, beta : (width,).

    Backward for G = dL/dY:  dL/dgamma = sum_rows(G * X),  dL/dbeta = sum_rows(G),  dL/dX = G * gamma.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.n_in = width
        self.params = {"gamma": np.ones(width), "beta": np.zeros(width)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def config(self):
        return {"width": self.n_in}

    def forward(self, X, *, training=False, rng=None):
        gamma, beta = self.params["gamma"], self.params["beta"]
        Y = X * gamma + beta

        def backprop(grad_Y, need_input_grad=True):
            self.grads["gamma"][...] = np.sum(grad_Y * X, axis=0)
            self.grads["beta"][...] = np.sum(grad_Y, axis=0)
            return grad_Y * gamma if need_input_grad else None

        return Y, backprop


class SquaredHinge(Loss):
    """Multi-class squared hinge on logits: ``J = 1/m sum_i sum_c max(0, 1 - s_ic z_ic)^2`` with
    ``s = +1`` for the true class and -1 otherwise;  ``dJ/dz = -2 s max(0, 1 - s z) / m``."""

    name = "squared_hinge"
    expects = "logits"

    def __call__(self, outputs, targets):
        self._check(outputs, targets)
        signs = 2 * as_target_matrix(targets, outputs.shape[1], outputs.dtype) - 1
        margin = np.maximum(0.0, 1.0 - signs * outputs)
        m = outputs.shape[0] if self.reduction == "mean" else 1
        return float(np.sum(margin**2)) / m, -2.0 * signs * margin / m


rng = np.random.default_rng(0)
layer = ScaleShift(8)
layer.params["gamma"][...] = rng.uniform(0.5, 1.5, 8)
layer.params["beta"][...] = rng.normal(size=8)
loss = SquaredHinge()
