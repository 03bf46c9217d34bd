"""Hypothesis strategies and small shared helpers for glassnet's property tests.

After ``thinc/tests/strategies.py``: strategies return shapes, logits, label
vectors and probability rows, always including a batch of one sample.  Every
strategy draws float arrays of an explicit dtype; there is no global RNG.

Helpers (not strategies):

* :func:`strict_fp` -- a context in which any floating-point overflow, division
  by zero or invalid operation, and any Python warning, is an error.
  Underflow is allowed: ``exp(-1e4) == 0`` is the correctly rounded answer, and
  numpy itself ignores underflow by default.
* :func:`central_difference` -- ``(f(z + h) - f(z - h)) / 2h`` element-wise.
* :data:`PROPERTY_SETTINGS` -- the hypothesis settings used by every property
  test (modest ``max_examples``, no deadline so a slow CI machine cannot flake).
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable, Iterator

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

__all__ = [
    "FLOAT_DTYPES",
    "PROPERTY_SETTINGS",
    "strict_fp",
    "central_difference",
    "float_dtypes",
    "lengths",
    "shapes_2d",
    "arrays_of_shape",
    "float_arrays",
    "logits",
    "logits_and_labels",
    "logits_and_soft_targets",
    "probability_rows",
]

FLOAT_DTYPES = (np.float32, np.float64)

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@contextlib.contextmanager
def strict_fp() -> Iterator[None]:
    """Turn overflow / divide / invalid floating-point events and all warnings into errors."""
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield


def central_difference(f: Callable[[np.ndarray], np.ndarray], z: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Element-wise ``(f(z + h) - f(z - h)) / (2 h)`` for an element-wise ``f`` (float64)."""
    z = np.asarray(z, dtype=np.float64)
    return (f(z + h) - f(z - h)) / (2.0 * h)


# ---------------------------------------------------------------------- strategies
def float_dtypes() -> st.SearchStrategy[type]:
    return st.sampled_from(FLOAT_DTYPES)


def lengths(lo: int = 1, hi: int = 8) -> st.SearchStrategy[int]:
    return st.integers(min_value=lo, max_value=hi)


def shapes_2d(min_rows: int = 1, max_rows: int = 8, min_cols: int = 1, max_cols: int = 8) -> st.SearchStrategy[tuple[int, int]]:
    """``(n_samples, width)``; ``n_samples = 1`` is always possible (and shrunk towards)."""
    return st.tuples(lengths(min_rows, max_rows), lengths(min_cols, max_cols))


def arrays_of_shape(shape, lo: float = -10.0, hi: float = 10.0, dtype=np.float64) -> st.SearchStrategy[np.ndarray]:
    """Finite values in ``[lo, hi]`` exactly representable in ``dtype``."""
    width = 32 if np.dtype(dtype) == np.float32 else 64
    elements = st.floats(
        min_value=lo, max_value=hi, width=width, allow_nan=False, allow_infinity=False, allow_subnormal=False
    )
    return arrays(np.dtype(dtype), shape, elements=elements)


def float_arrays(
    lo: float = -10.0, hi: float = 10.0, dtype=np.float64, **shape_kwargs
) -> st.SearchStrategy[np.ndarray]:
    """A 2-D array of any shape from :func:`shapes_2d` with values in ``[lo, hi]``."""
    return shapes_2d(**shape_kwargs).flatmap(lambda shape: arrays_of_shape(shape, lo, hi, dtype))


def logits(
    magnitude: float = 30.0, dtype=np.float64, min_classes: int = 2, max_classes: int = 8, max_rows: int = 8
) -> st.SearchStrategy[np.ndarray]:
    """Logits ``(n_samples, n_classes)`` with ``|z| <= magnitude``."""
    return float_arrays(-magnitude, magnitude, dtype, min_cols=min_classes, max_cols=max_classes, max_rows=max_rows)


def logits_and_labels(
    magnitude: float = 30.0, dtype=np.float64, min_classes: int = 2, max_classes: int = 8, max_rows: int = 8
) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """``(logits (m, k), labels (m,) int64 in [0, k))``."""

    def with_labels(z: np.ndarray):
        m, k = z.shape
        labels = arrays(np.int64, (m,), elements=st.integers(0, k - 1))
        return st.tuples(st.just(z), labels)

    return logits(magnitude, dtype, min_classes, max_classes, max_rows).flatmap(with_labels)


def probability_rows(shape, dtype=np.float64, allow_zeros: bool = True) -> st.SearchStrategy[np.ndarray]:
    """Rows of non-negative numbers summing to 1 (soft labels / probabilities), shape ``(m, k)``."""
    lo = 0.0 if allow_zeros else 0.05

    def normalise(raw: np.ndarray) -> np.ndarray:
        raw = raw.astype(np.float64)
        raw[raw.sum(axis=1) == 0, 0] = 1.0  # an all-zero row becomes one-hot
        return (raw / raw.sum(axis=1, keepdims=True)).astype(dtype)

    return arrays_of_shape(shape, lo, 1.0, np.float64).map(normalise)


def logits_and_soft_targets(
    magnitude: float = 30.0, dtype=np.float64, min_classes: int = 2, max_classes: int = 8, max_rows: int = 8
) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """``(logits (m, k), soft targets (m, k))`` with target rows summing to 1."""
    return logits(magnitude, dtype, min_classes, max_classes, max_rows).flatmap(
        lambda z: st.tuples(st.just(z), probability_rows(z.shape, dtype))
    )
