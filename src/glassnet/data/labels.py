"""Class labels checked once, the same way for the trainer, the losses and the estimator.

Labels are integer class indices ``y : (n,)`` with ``0 <= y_i < k``, or a
target matrix ``T : (n, k)`` of finite rows (one-hot, smoothed or weighted).
Integral floats (``2.0``) and booleans are accepted and converted to int64;
anything else is a :class:`~glassnet.errors.DataError` that names the
offending values and rows.
"""

from __future__ import annotations

import numpy as np

from glassnet.errors import DataError

__all__ = ["check_labels", "balanced_class_weights"]


def check_labels(y: np.ndarray, n_classes: int | None, n_samples: int | None = None) -> np.ndarray:
    """Integer labels ``(n,)`` in ``[0, n_classes)`` as int64, or a checked ``(n, k)`` target matrix.

    y         : (n,) class indices, or (n, k) target rows
    n_classes : k, the number of model outputs (None: the range is not checked)
    n_samples : the number of input rows y must match (None: not checked)
    """
    y = np.asarray(y)
    if y.ndim == 0:
        expected = f" ({n_samples})" if n_samples is not None else ""
        raise DataError(f"labels must be an array with one label per sample{expected}, got a single value {y.item()!r}")
    if n_samples is not None and y.shape[0] != n_samples:
        raise DataError(f"X has {n_samples} samples but y has {y.shape[0]} labels")
    if y.ndim == 2:
        if n_classes is not None and y.shape[1] != n_classes:
            raise DataError(f"target rows have {y.shape[1]} columns, the model has {n_classes} outputs")
        if not np.all(np.isfinite(y)):
            raise DataError("targets contain NaN or inf")
        return y
    if y.ndim != 1:
        raise DataError(f"labels must be a 1-D array of class indices, got shape {y.shape}")
    y = _as_integers(y)
    if n_classes is not None and y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = np.unique(y[(y < 0) | (y >= n_classes)])
        raise DataError(f"labels must be in [0, {n_classes}) for a model with {n_classes} outputs, got {bad[:5].tolist()}")
    return y.astype(np.int64, copy=False)


def _as_integers(y: np.ndarray) -> np.ndarray:
    """``y`` unchanged if integer; integral floats and booleans converted; a DataError otherwise."""
    if y.dtype.kind in "iu":
        return y
    if y.dtype.kind == "b":
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if bad.size == 0:
            return y.astype(np.int64)
        raise DataError(
            f"labels must be integers 0..k-1, got {bad.size} non-integer label(s) such as "
            f"{y[bad[:3]].tolist()} (at rows {bad[:5].tolist()})"
        )
    raise DataError(f"labels must be integers 0..k-1, got an array of dtype {y.dtype}")


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's "balanced" class weights ``n / (k count_c)`` for integer labels ``(n,)`` in ``[0, k)``:
    ``(k,)`` float64, 0 for a class with no sample (the glassnet CLI's ``--class-weight balanced`` and
    ``GlassnetClassifier(class_weight="balanced")``)."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return np.where(counts > 0, labels.size / (n_classes * np.maximum(counts, 1)), 0.0)
