"""The training objective: the loss plus L2 regularisation, and its gradient.

L2 convention (the one in Andrew Ng's course and most derivations)::

    J(W, b) = loss(model(X), y) + lambda / (2 m) * sum_l sum(W_l ** 2)
    dJ/dW_l = dloss/dW_l + (lambda / m) * W_l
    dJ/db_l = dloss/db_l                       (biases are not regularised)

``m`` is the number of samples in the batch the loss is computed on, the same
``m`` the mean-reduced loss divides by; with ``reduction="sum"`` the loss is
not divided by ``m`` and neither is the penalty (``lambda/2 * sum W^2``).  The
penalty is *added* to the loss and its derivative is *added* to the gradient:
subtracting it, or dividing one but not the other by ``m``, is the classic bug
the gradient checker catches.

This is the one place the convention lives: the trainer, the gradient checker
and the doctor all call :func:`value_and_grad`.
"""

from __future__ import annotations

import numpy as np

from glassnet.errors import ConfigError
from glassnet.nn.losses import Loss
from glassnet.nn.model import Sequential

__all__ = ["l2_penalty", "forward_backward", "value_and_grad"]


def l2_penalty(model: Sequential, l2: float, m: int, reduction: str = "mean") -> float:
    """``lambda / (2 m) * sum_l ||W_l||^2`` over weight matrices only (``m = 1`` for ``reduction="sum"``)."""
    if l2 == 0.0:
        return 0.0
    params = model.params()
    scale = l2 / (2.0 * (m if reduction == "mean" else 1))
    return scale * sum(float(np.sum(params[name].astype(np.float64) ** 2)) for name in model.weight_names())


def forward_backward(
    model: Sequential,
    loss: Loss,
    X: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 0.0,
    training: bool = False,
    rng: np.random.Generator | None = None,
    need_input_grad: bool = False,
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Forward, loss, backward: return ``(J, outputs, dJ/dX or None)``; ``model.grads()`` holds ``dJ/dparams``.

    X : (m, n_in) in the model's dtype; y : (m,) labels or (m, k) target rows;
    outputs : (m, k) what the network produced (the trainer counts hits on it).
    """
    if not (l2 >= 0.0 and np.isfinite(l2)):
        raise ConfigError(f"l2 must be a finite number >= 0, got {l2!r}")
    outputs, backprop = model.forward(X, training=training, rng=rng)
    value, grad_outputs = loss(outputs, y)
    grad_X = backprop(grad_outputs, need_input_grad=need_input_grad)
    if l2:
        m = X.shape[0]
        value += l2_penalty(model, l2, m, loss.reduction)
        coef = l2 / (m if loss.reduction == "mean" else 1)
        params, grads = model.params(), model.grads()
        for name in model.weight_names():
            grads[name] += coef * params[name]
    return value, outputs, grad_X


def value_and_grad(
    model: Sequential,
    loss: Loss,
    X: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 0.0,
    training: bool = False,
    rng: np.random.Generator | None = None,
    need_input_grad: bool = False,
) -> tuple[float, np.ndarray | None]:
    """:func:`forward_backward` without the outputs: ``(J, dJ/dX or None)``."""
    value, _, grad_X = forward_backward(
        model, loss, X, y, l2=l2, training=training, rng=rng, need_input_grad=need_input_grad
    )
    return value, grad_X
