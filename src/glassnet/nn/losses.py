"""Losses: ``loss(outputs, targets) -> (value, grad_outputs)``.

Conventions shared by every loss here:

* ``outputs : (m, k)`` is what the network produced (logits, probabilities
  or log-probabilities, as each loss says); ``m`` is the batch size.
* ``targets`` is either integer labels ``(m,)`` with values in ``[0, k)``, or
  a matrix ``(m, k)`` of one-hot or probability rows (soft labels).
* ``reduction="mean"`` (default) divides the summed per-sample loss by ``m``
  (the ``1/m`` of the textbook cost ``J = 1/m sum_i L_i``), and the gradient
  by the same ``m``; ``reduction="sum"`` does neither.  The value and the
  gradient always use the same convention: that is the whole point.
* The gradient returned is ``dJ/d outputs``, the same shape as ``outputs``.

To add a loss, write one class here and decorate it with ``@register``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from glassnet.data.labels import check_labels
from glassnet.core.registry import adder, build
from glassnet.errors import ConfigError, DataError, ShapeError
from glassnet.core.numerics import log_softmax, sigmoid, softplus

__all__ = [
    "Loss",
    "LOSSES",
    "register",
    "get_loss",
    "as_target_matrix",
    "SoftmaxCrossEntropy",
    "SampleWeightedSoftmaxCrossEntropy",
    "CrossEntropy",
    "NLLLoss",
    "BinaryCrossEntropyWithLogits",
    "MSELoss",
]

#: name -> loss class; filled by ``@register``.
LOSSES: dict[str, type[Loss]] = {}


register = adder(LOSSES, "loss")


def as_target_matrix(targets: np.ndarray, n_classes: int, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """Integer labels ``(m,)`` -> one-hot ``(m, k)``; a ``(m, k)`` matrix is checked and returned.

    Raises :class:`DataError` for labels out of ``[0, k)``, non-integer labels
    or NaN/inf in target rows (the cross-entropy losses also refuse negative entries).
    """
    targets = np.asarray(targets)
    if targets.ndim == 1:
        targets = check_labels(targets, n_classes)
        onehot = np.zeros((targets.shape[0], n_classes), dtype=dtype)
        onehot[np.arange(targets.shape[0]), targets] = 1
        return onehot
    if targets.ndim == 2:
        if targets.shape[1] != n_classes:
            raise ShapeError(f"target rows have {targets.shape[1]} columns but the outputs have {n_classes}")
        if not np.all(np.isfinite(targets)):
            raise DataError("targets contain NaN or inf")
        return targets.astype(dtype, copy=False)
    raise ShapeError(f"targets must be labels (m,) or rows (m, k), got shape {targets.shape}")


class Loss:
    """Base class.  Subclasses implement :meth:`__call__` returning ``(value, grad)``."""

    name: ClassVar[str] = ""
    #: what the loss expects from the network: "logits", "probs" or "log_probs".
    expects: ClassVar[str] = "logits"

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum"):
            raise ConfigError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def __call__(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def value(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        """The loss alone (same number as ``self(outputs, targets)[0]``)."""
        return self(outputs, targets)[0]

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction}

    def _check(self, outputs: np.ndarray, targets: np.ndarray) -> None:
        if not isinstance(outputs, np.ndarray) or outputs.dtype.kind != "f":
            what = f"an array of dtype {outputs.dtype}" if isinstance(outputs, np.ndarray) else type(outputs).__name__
            raise DataError(f"{self.name} expects outputs as a float numpy array (m, k), got {what}")
        if outputs.ndim != 2:
            raise ShapeError(f"{self.name} expects outputs of shape (m, k), got {outputs.shape}")
        if np.ndim(targets) == 0:
            raise ShapeError(f"{self.name}: targets must be labels (m,) or rows (m, k), got a single number")
        if np.shape(targets)[0] != outputs.shape[0]:
            raise ShapeError(
                f"{self.name}: {outputs.shape[0]} outputs but {np.shape(targets)[0]} targets"
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class _WeightedCrossEntropyBase(Loss):
    """Shared target handling for the cross-entropy family.

    Every variant is ``J = -(1/D) sum_i sum_c A_ic log p_ic`` for a coefficient
    matrix ``A : (m, k)`` and a normaliser ``D``, following PyTorch's
    ``CrossEntropyLoss`` conventions exactly:

    * targets one-hot/soft ``t``: ``A = w_c * t'`` where
      ``t' = (1 - eps) t + eps / k`` (label smoothing ``eps``), ``D = m``;
    * integer labels ``y``: ``A = w_c * t'`` as above with ``t = onehot(y)``,
      but ``D = sum_i w_{y_i}`` (the weighted mean), which is ``m`` without
      class weights.
    * ``reduction="sum"``: ``D = 1``.

    A batch whose labels all have class weight 0 has ``D = 0``: PyTorch returns
    NaN; glassnet raises a :class:`~glassnet.errors.DataError` that says so
    (a NaN loss would read as a divergence and point at the learning rate).
    """

    def __init__(
        self,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
        class_weights: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        super().__init__(reduction)
        if not (0.0 <= float(label_smoothing) < 1.0):
            raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        if class_weights is not None:
            class_weights = np.asarray(class_weights, dtype=np.float64)
            if class_weights.ndim != 1 or not np.all(np.isfinite(class_weights)) or np.any(class_weights < 0):
                raise ConfigError("class_weights must be a 1-D array of finite non-negative numbers")
        self.class_weights = class_weights

    def config(self):
        cfg: dict[str, Any] = {"reduction": self.reduction, "label_smoothing": self.label_smoothing}
        cfg["class_weights"] = None if self.class_weights is None else self.class_weights.tolist()
        return cfg

    def _plain_labels(self, targets: np.ndarray, n_classes: int) -> np.ndarray | None:
        """Checked integer labels when ``A`` is just their one-hot (no smoothing, no class weights, and
        ``_coefficients`` not redefined by a subclass); None when the general ``(A, D)`` path is needed."""
        if (
            self.label_smoothing
            or self.class_weights is not None
            or type(self)._coefficients is not _WeightedCrossEntropyBase._coefficients
        ):
            return None
        labels = np.asarray(targets)
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            return None
        return check_labels(labels, n_classes)

    def _coefficients(self, targets: np.ndarray, n_classes: int, dtype) -> tuple[np.ndarray, float]:
        """Return ``(A, D)`` as described in the class docstring."""
        labels = np.asarray(targets)
        A = as_target_matrix(labels, n_classes, dtype)
        if labels.ndim == 2 and np.any(A < 0):
            raise DataError(f"{self.name}: target rows must be probabilities (no negative entries)")
        eps = self.label_smoothing
        if eps:
            A = (1.0 - eps) * A + eps / n_classes
        w = self.class_weights
        if w is not None:
            if w.shape[0] != n_classes:
                raise ShapeError(f"class_weights has {w.shape[0]} entries for {n_classes} classes")
            A = A * w.astype(dtype)
        m = A.shape[0]
        if self.reduction == "sum":
            D = 1.0
        elif labels.ndim == 1 and w is not None:
            D = float(np.sum(w[labels.astype(np.int64)]))
            if D == 0.0:  # PyTorch returns NaN here; a NaN loss would send the user after the learning rate
                present = sorted(set(labels.astype(np.int64).tolist()))
                raise DataError(
                    f"{self.name}: every label in this batch ({', '.join(map(str, present[:10]))}) has class weight 0, "
                    "so the weighted mean divides by 0; give these classes a positive weight or use reduction='sum'"
                )
        else:
            D = float(m)
        return A, D


@register
class SoftmaxCrossEntropy(_WeightedCrossEntropyBase):
    """Softmax and cross-entropy fused, on **logits** ``Z : (m, k)``.

    Math (no weights, no smoothing): ``p = softmax(z)``,
    ``J = -(1/m) sum_i log p_{i, y_i}``, and

        dJ/dZ = (p - t) / m          t = one-hot(y)

    In general ``J = -(1/D) sum_i sum_c A_ic log p_ic`` and
    ``dJ/dz_i = (p_i * sum_c A_ic - A_i) / D`` (see the base class for ``A``, ``D``).

    Why fused: ``log p`` is computed as ``z - logsumexp(z)``, finite for any
    finite logits (1e4 included), and the gradient ``p - t`` needs neither
    ``1/p`` nor the k x k softmax Jacobian.  Chaining a separate softmax and a
    log gives ``log(0) = -inf`` once a probability underflows.

    Worked example: ``z = (1, 2, 3, 4)``, true class 3 (index 2), ``m = 1``:
    ``p = (0.0321, 0.0871, 0.2369, 0.6439)``, ``J = -log 0.2369 = 1.4402``,
    ``dJ/dz = (0.0321, 0.0871, 0.2369 - 1, 0.6439)``.
    """

    name = "softmax_cross_entropy"
    expects = "logits"

    def __call__(self, outputs, targets):
        self._check(outputs, targets)
        logits = outputs
        labels = self._plain_labels(targets, logits.shape[1])
        if labels is not None:
            return self._from_labels(logits, labels)
        log_probs = log_softmax(logits)
        A, D = self._coefficients(targets, logits.shape[1], logits.dtype)
        # per-sample losses first, then their sum (in float64), as the label path above sums them
        value = -float(np.sum(np.sum(A * log_probs, axis=1, dtype=np.float64))) / D
        probs = np.exp(log_probs)
        grad = probs * np.sum(A, axis=1, keepdims=True) - A
        grad /= D
        return value, grad

    def _from_labels(self, logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        """The common case, integer labels with plain one-hot targets, without building the one-hot.

        ``J = -(1/D) sum_i log p_{i, y_i}`` picks one log-probability per row, and
        ``dJ/dz = (p - onehot(y)) / D`` is ``p`` with 1 taken off each row's label
        entry.  Bit for bit what the general path gives for the same labels.
        """
        rows = np.arange(logits.shape[0])
        log_probs = log_softmax(logits)
        D = float(logits.shape[0]) if self.reduction == "mean" else 1.0
        value = -float(np.sum(log_probs[rows, labels].astype(np.float64))) / D
        grad = np.exp(log_probs, out=log_probs)
        grad[rows, labels] -= 1
        grad /= D
        return value, grad


class SampleWeightedSoftmaxCrossEntropy(SoftmaxCrossEntropy):
    """Softmax cross-entropy with a weight per sample, the weighted mean over the batch.

    Not in ``LOSSES``: its targets are weighted rows, not labels, so it is built in code (the
    scikit-learn estimator uses it for ``sample_weight`` and ``class_weight``).  The targets carry the
    weights: row ``i`` is ``s_i * t_i`` with ``t_i`` the
    one-hot (or probability) row of sample ``i`` and ``s_i >= 0`` its weight,
    so the weight is the row sum and travels with the row through shuffling
    and batching (:func:`weighted_target_rows` builds them).  With label
    smoothing ``eps`` the smoothed row is ``t'_i = (1 - eps) t_i + eps / k``
    and, for logits ``Z : (m, k)``, ``p_i = softmax(z_i)``::

        J     = -(1 / S) sum_i s_i sum_c t'_ic log p_ic        S = sum_i s_i
        dJ/dz_i = s_i (p_i - t'_i) / S

    That is the base class's ``J = -(1/D) sum A log p`` with the coefficient
    rows multiplied by the weights, ``A_i = s_i t'_i``, and ``D = S`` (the
    batch's total weight, as scikit-learn's ``MLPClassifier`` divides by);
    the base class's gradient ``p * sum_c A_ic - A`` is then exactly the line
    above.  All weights 1 gives the plain mean; an integer weight counts the
    sample that many times; scaling every weight by the same factor changes
    nothing.  A batch whose weights are all zero has ``J = 0`` and a zero
    gradient.  ``reduction="sum"`` gives ``D = 1``.

    Worked example: ``z = (0, 0)`` for both samples, classes 0 and 1,
    weights 1 and 3: both per-sample losses are ``log 2``, so ``J = log 2``,
    and ``dJ/dz = ((0.5 - 1, 0.5) / 4, 3 (0.5, 0.5 - 1) / 4)
    = ((-0.125, 0.125), (0.375, -0.375))``.
    """

    name = "sample_weighted_softmax_cross_entropy"

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction=reduction, label_smoothing=label_smoothing)

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "label_smoothing": self.label_smoothing}

    def _coefficients(self, targets: np.ndarray, n_classes: int, dtype) -> tuple[np.ndarray, float]:
        rows = np.asarray(targets)
        if rows.ndim != 2:
            raise ShapeError(
                f"{self.name} expects target rows (m, k) = sample weight * one-hot row, got shape {rows.shape}"
            )
        weighted = as_target_matrix(rows, n_classes, dtype)
        if np.any(weighted < 0):
            raise DataError(f"{self.name}: target rows must be non-negative (weight times a probability row)")
        weights = np.sum(weighted, axis=1, keepdims=True)  # (m, 1): s_i
        eps = self.label_smoothing
        coef = (1.0 - eps) * weighted + (eps / n_classes) * weights if eps else weighted
        if self.reduction == "sum":
            return coef, 1.0
        total = float(np.sum(weights, dtype=np.float64))
        return coef, (total if total > 0.0 else 1.0)


@register
class CrossEntropy(_WeightedCrossEntropyBase):
    """Cross-entropy on **probabilities** ``O : (m, k)`` (after a ``Softmax`` layer).

    ``J = -(1/m) sum_i sum_c t_ic log o_ic`` and, element by element,

        dJ/do_ic = -t_ic / (m o_ic)

    This looks nothing like ``p - t``, yet it is right: chained through the
    softmax Jacobian, ``dJ/dz_j = sum_i dJ/do_i * o_i (delta_ij - o_j)
    = (-t_j + o_j sum_i t_i) / m = (o_j - t_j) / m``, because ``sum_i t_i = 1``.
    The same value and gradient as :class:`SoftmaxCrossEntropy`, but ``log o``
    is ``-inf`` once a probability underflows to 0 (logits far apart), so
    train with the fused loss; this one is for the unfused path and teaching.
    """

    name = "cross_entropy"
    expects = "probs"

    def __call__(self, outputs, targets):
        self._check(outputs, targets)
        probs = outputs
        A, D = self._coefficients(targets, probs.shape[1], probs.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(A != 0, np.log(probs), 0.0)  # 0 * log 0 counts as 0
            value = -float(np.sum(A * logs, dtype=np.float64)) / D
            grad = np.where(A != 0, -A / probs, 0.0).astype(probs.dtype, copy=False) / D
        return value, grad


@register
class NLLLoss(_WeightedCrossEntropyBase):
    """Negative log-likelihood on **log-probabilities** ``L : (m, k)``.

    ``J = -(1/m) sum_i L_{i, y_i}``;  ``dJ/dL = -t / m``.  With a log-softmax
    in front it equals :class:`SoftmaxCrossEntropy`.
    """

    name = "nll"
    expects = "log_probs"

    def __call__(self, outputs, targets):
        self._check(outputs, targets)
        A, D = self._coefficients(targets, outputs.shape[1], outputs.dtype)
        value = -float(np.sum(A * outputs, dtype=np.float64)) / D
        return value, (-A / D).astype(outputs.dtype, copy=False)


def _as_binary_targets(targets: np.ndarray, outputs: np.ndarray, dtype) -> np.ndarray:
    """0/1 labels ``(m,)`` for one output column, labels for one-vs-rest, or a (m, k) matrix."""
    targets = np.asarray(targets)
    k = outputs.shape[1]
    if targets.ndim == 1 and k == 1:
        if not np.all((targets == 0) | (targets == 1)):
            raise DataError("binary targets must be 0 or 1 for a single output column")
        return targets.astype(dtype).reshape(-1, 1)
    return as_target_matrix(targets, k, dtype)


@register
class BinaryCrossEntropyWithLogits(Loss):
    """Sigmoid and binary cross-entropy fused, on **logits** ``Z : (m, k)``.

    Per element ``l = -[t log s(z) + (1 - t) log(1 - s(z))] = softplus(z) - t z``
    (stable for any ``z``); ``J = (1/m) sum_i sum_c l_ic`` (mean over the
    batch, sum over the k outputs); ``dJ/dZ = (sigmoid(Z) - T) / m``.
    Targets: 0/1 labels ``(m,)`` with ``k = 1``, integer labels (one-vs-rest)
    or a ``(m, k)`` matrix of probabilities.
    """

    name = "binary_cross_entropy_with_logits"
    expects = "logits"

    def __call__(self, outputs, targets):
        self._check(outputs, targets)
        T = _as_binary_targets(targets, outputs, outputs.dtype)
        D = float(outputs.shape[0]) if self.reduction == "mean" else 1.0
        value = float(np.sum(softplus(outputs) - T * outputs, dtype=np.float64)) / D
        grad = (sigmoid(outputs) - T) / D
        return value, grad.astype(outputs.dtype, copy=False)


@register
class MSELoss(Loss):
    """Squared error ``J = (1/m) sum_i sum_c (o_ic - t_ic)^2``; ``dJ/dO = 2 (O - T) / m``.

    Mean over the batch, sum over the outputs (PyTorch's ``MSELoss`` also
    divides by k).  Integer labels are turned into one-hot rows.
    """

    name = "mse"
    expects = "any"

    def __call__(self, outputs, targets):
        self._check(outputs, targets)
        T = as_target_matrix(targets, outputs.shape[1], outputs.dtype)
        D = float(outputs.shape[0]) if self.reduction == "mean" else 1.0
        diff = outputs - T
        value = float(np.sum(diff * diff, dtype=np.float64)) / D
        return value, (2.0 / D) * diff


def get_loss(spec: str | Loss, **kwargs: Any) -> Loss:
    """A loss instance from a registered name (with constructor kwargs) or an instance (no kwargs)."""
    return build(LOSSES, "loss", spec, Loss, kwargs)
