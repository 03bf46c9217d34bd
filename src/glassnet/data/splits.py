"""Stratified splits: hold out part of every class, in proportion, reproducibly.

One rule serves the dataset loaders (a test set carved from a dataset that
ships without one) and the trainer (a validation set carved from the training
data).  For ``n`` samples of which class ``c`` has ``n_c``, holding out ``h``
samples gives class ``c`` the quota ``h n_c / n``; quotas are floored and the
leftover ``h - sum(floor)`` samples go to the classes with the largest
remainders (ties by class order), so the counts add up to ``h`` exactly.
Which samples of a class are held out is drawn by ``rng.permutation``.

A validation set should see every class: with ``every_class=True`` a class
of at least two samples keeps at least one and gives at least one, even when
its quota rounds to 0 (or to all of it); the total may then differ from
``h`` by the number of such classes.
"""

from __future__ import annotations

import numpy as np

from glassnet.errors import ConfigError, DataError

__all__ = ["stratified_split", "train_test_split_stratified"]


def stratified_split(
    y: np.ndarray, held_out: int | float, rng: np.random.Generator, *, every_class: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted index arrays ``(kept, held)`` with the class proportions of ``y`` in both.

    y        : (n,) integer labels, or (n, k) target rows (the class of a row is its argmax)
    held_out : a count ``1 <= h < n``, or a fraction ``0 < f < 1`` (``h = round(f n)``)
    rng      : the generator that draws the held-out samples
    every_class : hold out and keep at least one sample of every class that has two or more
    """
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    y = np.asarray(y)
    labels = y if y.ndim == 1 else np.argmax(y, axis=1)
    n = labels.shape[0]
    n_held = _held_count(held_out, n)
    classes, counts = np.unique(labels, return_counts=True)
    quotas = n_held * counts / n
    take = np.floor(quotas).astype(np.int64)
    order = np.argsort(-(quotas - take), kind="stable")  # largest remainders first, ties by class
    take[order[: n_held - int(take.sum())]] += 1
    if every_class:
        take = np.where(counts >= 2, np.clip(take, 1, counts - 1), take)
    held = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take, strict=True)])
    is_held = np.zeros(n, dtype=bool)
    is_held[held] = True
    return np.flatnonzero(~is_held), np.flatnonzero(is_held)


def _held_count(held_out: int | float, n: int) -> int:
    """The number of samples to hold out, checked to leave both parts non-empty."""
    if isinstance(held_out, (float, np.floating)):
        if not 0.0 < held_out < 1.0:
            raise ConfigError(f"validation fraction must be in (0, 1), got {held_out}")
        count = int(round(held_out * n))
        if not 0 < count < n:
            raise DataError(f"cannot hold out {held_out:.0%} of {n} samples: one part would be empty")
        return count
    if isinstance(held_out, (bool, np.bool_)) or not isinstance(held_out, (int, np.integer)) or not 0 < held_out < n:
        raise ConfigError(f"n_test must be an integer in [1, {n - 1}] for {n} samples, got {held_out!r}")
    return int(held_out)


def train_test_split_stratified(
    X: np.ndarray, y: np.ndarray, n_test: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test, y_test)`` with exactly ``n_test`` test samples, stratified.

    X : (n, ...), y : (n,).  Both parts keep the original order, so the same
    ``rng`` seed gives the same split every run.
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(X) != y.shape[0]:
        raise DataError(f"X and y must have the same number of samples, got {len(X)} and shape {y.shape}")
    if isinstance(n_test, (float, np.floating)):
        raise ConfigError(f"n_test must be an integer in [1, {y.shape[0] - 1}] for {y.shape[0]} samples, got {n_test!r}")
    train, test = stratified_split(y, n_test, rng)
    return X[train], y[train], X[test], y[test]
