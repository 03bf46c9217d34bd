"""Weight initialisers: ``init(shape, rng, dtype) -> W`` for a weight of shape (n_in, n_out).

| name            | distribution                                   | suits                 |
|-----------------|------------------------------------------------|-----------------------|
| glorot_uniform  | U(-r, r), r = sqrt(6 / (n_in + n_out))          | tanh, sigmoid, linear |
| glorot_normal   | N(0, 2 / (n_in + n_out))                        | tanh, sigmoid, linear |
| he_uniform      | U(-r, r), r = sqrt(6 / n_in)                    | relu family           |
| he_normal       | N(0, 2 / n_in)                                  | relu family           |
| lecun_uniform   | U(-r, r), r = sqrt(3 / n_in)                    | selu                  |
| lecun_normal    | N(0, 1 / n_in)                                  | selu                  |
| zeros           | 0 (only for tests: every unit stays identical)  |                       |

Glorot & Bengio (2010) keep the variance of activations *and* gradients
constant through a linear/tanh layer; He et al. (2015) double the variance
because a relu zeroes half its inputs; LeCun's 1/n_in is what SELU's
self-normalisation assumes.  Every initialiser takes an explicit
``np.random.Generator``; there is no global random state.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from glassnet.core.registry import lookup

__all__ = ["INITIALIZERS", "get_initializer", "Initializer"]

Initializer = Callable[[tuple[int, int], np.random.Generator, np.dtype], np.ndarray]


def _uniform(limit: float, shape, rng, dtype) -> np.ndarray:
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def _normal(std: float, shape, rng, dtype) -> np.ndarray:
    return (rng.standard_normal(size=shape) * std).astype(dtype)


def glorot_uniform(shape, rng, dtype=np.float32):
    return _uniform(math.sqrt(6.0 / (shape[0] + shape[1])), shape, rng, dtype)


def glorot_normal(shape, rng, dtype=np.float32):
    return _normal(math.sqrt(2.0 / (shape[0] + shape[1])), shape, rng, dtype)


def he_uniform(shape, rng, dtype=np.float32):
    return _uniform(math.sqrt(6.0 / shape[0]), shape, rng, dtype)


def he_normal(shape, rng, dtype=np.float32):
    return _normal(math.sqrt(2.0 / shape[0]), shape, rng, dtype)


def lecun_uniform(shape, rng, dtype=np.float32):
    return _uniform(math.sqrt(3.0 / shape[0]), shape, rng, dtype)


def lecun_normal(shape, rng, dtype=np.float32):
    return _normal(math.sqrt(1.0 / shape[0]), shape, rng, dtype)


def zeros(shape, rng, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


#: name -> initialiser; aliases "xavier_*" and "kaiming_*" name the same functions.
INITIALIZERS: dict[str, Initializer] = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_uniform": glorot_uniform,
    "xavier_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "kaiming_uniform": he_uniform,
    "kaiming_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
    "zeros": zeros,
}


def get_initializer(name: str) -> Initializer:
    """Look an initialiser up by name; an unknown name lists the known ones."""
    return lookup(INITIALIZERS, "initializer", name)
