"""Classification metrics and the text reports built from them (numpy only).

Labels are integer class indices ``y : (n_samples,)`` in ``[0, n_classes)``.
The number of classes is always given (or implied by ``class_names``), never
guessed from the labels, so a class that is absent from a batch or never
predicted still gets its row, its column and its zeros.

Everything agrees with ``sklearn.metrics`` called with
``labels=range(n_classes)`` and ``zero_division=0``:

* confusion matrix ``C[i, j]`` = number of samples of true class ``i``
  predicted as class ``j`` (rows are the truth, columns the prediction);
* per class ``c``, with ``tp = C[c, c]``, ``predicted = sum_i C[i, c]`` and
  ``support = sum_j C[c, j]``::

      precision = tp / predicted      recall = tp / support
      f1 = 2 tp / (support + predicted)   (= 2 P R / (P + R) where defined)

  A ratio with a zero denominator (a class never predicted, a class absent)
  is 0, silently, like ``zero_division=0``;
* macro average: the plain mean over classes (absent classes included);
  weighted average: the mean weighted by support.

:func:`log_loss` is the mean ``-log p_{n, y_n}`` of the probabilities given
to the true classes, with probabilities clipped to ``[eps, 1 - eps]`` as
scikit-learn does; pass ``from_logits=True`` to compute it exactly from
logits via ``log_softmax`` (no clipping needed, finite for any logits).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from glassnet.errors import DataError, ShapeError
from glassnet.core.numerics import log_softmax

__all__ = [
    "accuracy",
    "confusion_matrix",
    "precision_recall_f1",
    "scores_from_confusion",
    "classification_report",
    "format_confusion_matrix",
    "log_loss",
]

#: score names in report order; the keys of each average in :func:`precision_recall_f1`.
SCORES = ("precision", "recall", "f1")


# ----------------------------------------------------------------------------- validation
def _as_labels(labels: np.ndarray, role: str, n_classes: int | None = None) -> np.ndarray:
    """Check a label vector ``(n_samples,)`` and return it as int64.

    Integral floats (``2.0``) are accepted; anything else that is not an
    integer, and labels outside ``[0, n_classes)``, raise :class:`DataError`.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ShapeError(f"{role} must be a 1-D array of class indices (n_samples,), got shape {labels.shape}")
    if labels.dtype.kind == "b" or labels.dtype.kind not in "iuf":
        raise DataError(f"{role} must hold integer class indices, got dtype {labels.dtype}")
    if labels.dtype.kind == "f" and not (np.all(np.isfinite(labels)) and np.all(labels == np.round(labels))):
        raise DataError(f"{role} must hold integer class indices, got non-integer values")
    labels = labels.astype(np.int64)
    if n_classes is not None and labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)]
        raise DataError(f"{role} must be in [0, {n_classes}), got {bad[:5].tolist()}")
    return labels


def _as_label_pair(y_true, y_pred, n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Both label vectors, checked, of equal non-zero length."""
    if n_classes is not None and (
        not isinstance(n_classes, (int, np.integer)) or isinstance(n_classes, bool) or n_classes < 1
    ):
        raise DataError(f"n_classes must be a positive integer, got {n_classes!r}")
    y_true = _as_labels(y_true, "y_true", n_classes)
    y_pred = _as_labels(y_pred, "y_pred", n_classes)
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"y_true has {y_true.shape[0]} labels but y_pred has {y_pred.shape[0]}")
    if y_true.size == 0:
        raise DataError("no samples: y_true and y_pred are empty")
    return y_true, y_pred


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` element-wise, 0 where the denominator is 0 (no warning)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


# ----------------------------------------------------------------------------- metrics
def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of samples whose predicted class is the true class.

    y_true, y_pred : (n_samples,) integer labels.  Example:
    ``accuracy([0, 1, 2, 2], [0, 2, 2, 2]) == 0.75``.
    """
    y_true, y_pred = _as_label_pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``C : (n_classes, n_classes)`` int64; ``C[i, j]`` counts true class ``i`` predicted as ``j``.

    Rows are the truth, columns the prediction (scikit-learn's convention);
    ``C.sum() == n_samples`` and ``trace(C)`` is the number of correct
    predictions.  A class absent from both vectors is a row and column of zeros.
    """
    y_true, y_pred = _as_label_pair(y_true, y_pred, n_classes)
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64, copy=False)


def scores_from_confusion(cm: np.ndarray) -> dict:
    """Per-class precision, recall, F1 and support, and their averages, from a confusion matrix.

    cm : (k, k) counts, rows = truth.  Returns::

        {"precision": (k,), "recall": (k,), "f1": (k,), "support": (k,) int64,
         "macro": {"precision": float, "recall": float, "f1": float},
         "weighted": {"precision": float, "recall": float, "f1": float},
         "accuracy": float, "n_samples": int}

    Zero denominators give 0 (scikit-learn's ``zero_division=0``).
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ShapeError(f"a confusion matrix must be square (k, k) with k >= 1, got shape {cm.shape}")
    if cm.dtype.kind not in "iu" or np.any(cm < 0):
        raise DataError("a confusion matrix must hold non-negative integer counts")
    tp = np.diag(cm).astype(np.int64)
    predicted = cm.sum(axis=0).astype(np.int64)
    support = cm.sum(axis=1).astype(np.int64)
    per_class = {
        "precision": _divide(tp, predicted),
        "recall": _divide(tp, support),
        "f1": _divide(2 * tp, support + predicted),
    }
    n_samples = int(support.sum())
    result: dict = dict(per_class, support=support)
    result["macro"] = {name: float(np.mean(values)) for name, values in per_class.items()}
    if n_samples:
        result["weighted"] = {name: float(np.average(values, weights=support)) for name, values in per_class.items()}
    else:
        result["weighted"] = {name: 0.0 for name in per_class}
    result["accuracy"] = float(tp.sum() / n_samples) if n_samples else 0.0
    result["n_samples"] = n_samples
    return result


def precision_recall_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Per-class precision, recall, F1, support, and macro/weighted averages.

    y_true, y_pred : (n_samples,) labels in ``[0, n_classes)``.  The result is
    described in :func:`scores_from_confusion`; e.g. ``r["f1"][2]`` is class
    2's F1 and ``r["macro"]["f1"]`` the macro F1.  A class never predicted has
    precision 0, a class absent from ``y_true`` has recall 0 and support 0;
    neither warns.

    Worked example: truth ``[0, 0, 1, 2]``, prediction ``[0, 1, 1, 1]``,
    3 classes: class 1 has tp 1, predicted 3, support 1, so P = 1/3, R = 1,
    F1 = 2/(1 + 3) = 0.5; class 2 is never predicted: P = R = F1 = 0.
    """
    return scores_from_confusion(confusion_matrix(y_true, y_pred, n_classes))


def log_loss(y_true: np.ndarray, probs: np.ndarray, *, from_logits: bool = False) -> float:
    """Mean negative log-likelihood of the true classes: ``-(1/n) sum_n log p_{n, y_n}``.

    y_true : (n_samples,) labels; probs : (n_samples, n_classes) rows that sum
    to 1 (or logits with ``from_logits=True``).

    Stability: only the true class's probability is logged (no ``0 * log 0``),
    and it is clipped to ``[eps, 1 - eps]`` with ``eps`` the machine epsilon of
    ``probs``' dtype (float64 for integer input), so a confident wrong answer
    costs ``-log(eps)`` (about 36 in float64) instead of ``inf``; this matches
    ``sklearn.metrics.log_loss``.  With logits, ``log p = z - logsumexp(z)``
    is exact and finite for any logits, and nothing is clipped.
    """
    values = np.asarray(probs)
    if values.ndim != 2 or values.shape[1] < 1:
        raise ShapeError(f"probs must be a 2-D array (n_samples, n_classes), got shape {values.shape}")
    if values.dtype.kind not in "iuf" or not np.all(np.isfinite(values)):
        raise DataError("probs must be finite numbers")
    y_true = _as_labels(y_true, "y_true", values.shape[1])
    if y_true.shape[0] != values.shape[0]:
        raise ShapeError(f"y_true has {y_true.shape[0]} labels but probs has {values.shape[0]} rows")
    if y_true.size == 0:
        raise DataError("no samples: y_true and probs are empty")
    rows = np.arange(y_true.shape[0])
    if from_logits:
        log_p = log_softmax(values.astype(np.float64))[rows, y_true]
        return float(-np.mean(log_p))
    dtype = values.dtype if values.dtype.kind == "f" else np.dtype(np.float64)
    eps = np.finfo(dtype).eps
    if values.min() < 0 or values.max() > 1:
        raise DataError(
            f"probs must lie in [0, 1], got values in [{values.min():.4g}, {values.max():.4g}]; "
            "pass from_logits=True for logits"
        )
    sums = values.sum(axis=1, dtype=np.float64)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=float(np.sqrt(eps))):
        worst = int(np.argmax(np.abs(sums - 1.0)))
        raise DataError(f"each row of probs must sum to 1; row {worst} sums to {sums[worst]:.6g}")
    clipped = np.clip(values.astype(dtype, copy=False), eps, 1 - eps)[rows, y_true]
    return float(-np.mean(np.log(clipped.astype(np.float64))))


# ----------------------------------------------------------------------------- reports
def _check_class_names(class_names: Sequence[str]) -> list[str]:
    names = [str(name) for name in class_names]
    if not names:
        raise DataError("class_names is empty; give one name per class")
    return names


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], *, digits: int = 2
) -> str:
    """A text table of per-class precision, recall, F1 and support, then accuracy and averages.

    The same text as ``sklearn.metrics.classification_report(y_true, y_pred,
    labels=range(k), target_names=class_names, zero_division=0, digits=digits)``
    with ``k = len(class_names)``::

                      precision    recall  f1-score   support

                 cat       1.00      0.67      0.80         3
                 ...
            accuracy                           0.71         7
           macro avg       0.72      0.72      0.70         7
        weighted avg       0.76      0.71      0.71         7
    """
    names = _check_class_names(class_names)
    scores = precision_recall_f1(y_true, y_pred, len(names))
    width = max(max(len(name) for name in names), len("weighted avg"), digits)
    headers = ("precision", "recall", "f1-score", "support")

    def row(label: str, p, r, f, support) -> str:
        cells = [f"{v:>9.{digits}f}" if isinstance(v, float) else f"{v:>9}" for v in (p, r, f)]
        return f"{label:>{width}}  " + " ".join(cells) + f" {support:>9}"

    lines = [f"{'':>{width}} " + "".join(f" {h:>9}" for h in headers), ""]
    for c, name in enumerate(names):
        lines.append(
            row(name, float(scores["precision"][c]), float(scores["recall"][c]), float(scores["f1"][c]),
                int(scores["support"][c]))
        )
    lines.append("")
    n = scores["n_samples"]
    lines.append(row("accuracy", "", "", scores["accuracy"], n))
    for average in ("macro", "weighted"):
        avg = scores[average]
        lines.append(row(f"{average} avg", avg["precision"], avg["recall"], avg["f1"], n))
    return "\n".join(lines) + "\n"


def format_confusion_matrix(
    cm: np.ndarray, class_names: Sequence[str], *, normalize: bool = False, max_name_width: int = 12,
    width: int | None = None,
) -> str:
    """The confusion matrix as a text table: one row per true class, one column per prediction.

    cm : (k, k) counts (rows = truth), ``len(class_names) == k``.  Each row
    ends with its total (the class's support); with ``normalize=True`` the
    cells are row fractions (each row's recall spread over the predictions).
    Names longer than ``max_name_width`` are shortened with ``~``::

        true \\ predicted  cat  dog bird | total
        cat                 2    1    0 |     3
        dog                 0    1    1 |     2
        bird                0    0    2 |     2

    With ``width`` (the terminal's columns) and a table wider than that, the
    columns are headed by the class index and each row starts with its index
    and name (``0 T-shirt/top``): 10 Fashion-MNIST classes take 60 columns
    instead of 178.
    """
    cm = np.asarray(cm)
    names = _check_class_names(class_names)
    if cm.ndim != 2 or cm.shape != (len(names), len(names)):
        raise ShapeError(f"confusion matrix of shape {cm.shape} does not fit {len(names)} class names")
    if max_name_width < 2:
        raise DataError(f"max_name_width must be at least 2, got {max_name_width}")
    short = [n if len(n) <= max_name_width else n[: max_name_width - 1] + "~" for n in names]
    totals = cm.sum(axis=1)
    if normalize:
        cells = [[f"{v:.2f}" for v in row] for row in _divide(cm, totals[:, None])]
    else:
        cells = [[str(int(v)) for v in row] for row in cm]
    lines = _matrix_lines("true \\ predicted", short, short, cells, totals)
    if width is None or max(map(len, lines)) <= width:
        return "\n".join(lines)
    index = [str(i) for i in range(len(names))]  # the rows say which class each index is
    return "\n".join(_matrix_lines("true \\ pred", [f"{i} {n}" for i, n in zip(index, short)], index, cells, totals))


def _matrix_lines(corner: str, row_names: list[str], column_names: list[str], cells: list[list[str]],
                  totals: np.ndarray) -> list[str]:
    label_width = max(len(corner), *(len(n) for n in row_names))
    col_width = max(max(len(n) for n in column_names), *(len(c) for row in cells for c in row))
    total_width = max(len("total"), len(str(int(totals.max()))))
    lines = [f"{corner:<{label_width}} " + " ".join(f"{n:>{col_width}}" for n in column_names)
             + f" | {'total':>{total_width}}"]
    for name, row, total in zip(row_names, cells, totals):
        lines.append(
            f"{name:<{label_width}} " + " ".join(f"{c:>{col_width}}" for c in row) + f" | {int(total):>{total_width}}"
        )
    return lines
