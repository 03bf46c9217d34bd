"""``glassnet explain dense``: the three gradients of a Dense layer, step by step, then a live check.

``Y = X W + b`` gives ``dL/dW = X^T delta``, ``dL/db = sum of delta over the
batch`` and ``dL/dX = delta W^T``, with ``delta = dL/dY``.  The check draws a
small batch, runs glassnet's :class:`~glassnet.nn.layers.Dense` and computes
each gradient three ways: the formulas as the text writes them, the layer's
own backward, and central differences of ``L = sum(Y * G)`` (so that
``delta = G``).  :func:`dense_check` returns them all, so the tests
recompute what the text prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glassnet.check.explain import MAX_WIDTH, _page, _table, _text
from glassnet.nn.layers import Dense

__all__ = ["DENSE_DERIVATION", "DenseCheck", "dense_check", "explain_dense"]

DENSE_DERIVATION = _text(
    r"""
    Notation: a batch X : (m, n_in) of m samples, one per row; the layer's
    weights W : (n_in, n_out) and bias b : (n_out,);
        Y = X W + b                                   Y : (m, n_out)
    (b is added to every row).  delta = dL/dY : (m, n_out) is the gradient
    arriving from the layers above; the backward turns it into three.

    1. One entry at a time
           y_ij = sum_k x_ik W_kj + b_j
       so dy_ij/dW_kj = x_ik, dy_ij/db_j = 1, dy_ij/dx_ik = W_kj, and every
       other partial derivative of y_ij is 0.

    2. The weights: dL/dW = X^T delta
       W_kj reaches L through y_ij of EVERY sample i (the same weight is used
       on each row), so the chain rule sums over the batch:
           dL/dW_kj = sum_i dL/dy_ij * dy_ij/dW_kj = sum_i x_ik delta_ij
       which is entry (k, j) of the matrix product
           dL/dW = X^T delta        (n_in, m) @ (m, n_out) = (n_in, n_out)

    3. The bias: dL/db = sum of delta over the batch
       b_j is added to y_ij of every sample, with derivative 1:
           dL/db_j = sum_i delta_ij           dL/db = delta.sum(axis=0)
       A broadcast in the forward (one b for all m rows) is a sum in the
       backward.

    4. The input: dL/dX = delta W^T
       x_ik reaches L through y_ij of every output j of its own row:
           dL/dx_ik = sum_j delta_ij W_kj
           dL/dX = delta W^T        (m, n_out) @ (n_out, n_in) = (m, n_in)
       This is the delta of the layer below (before its activation).

    5. The shapes are a check
       Each gradient has the shape of what it differentiates, and only one
       product of X, delta and W fits each: X^T delta for W, delta W^T for
       X.  W delta^T, X delta or a missing transpose fail on the shapes (or,
       for square matrices, silently: the gradient check catches those).

    6. Where the 1/m lives
       With a mean loss, delta already holds the 1/m (softmax cross-entropy
       gives (P - T)/m).  The sums over i in steps 2 and 3 are sums, not
       means: dividing by m again makes every ratio in a gradient check
       1/m; a mean instead of a sum for the bias makes only b's ratio 1/m.
    """
)


@dataclass
class DenseCheck:
    """The three gradients of one Dense layer, three ways each; arrays have the shapes of X, W and b."""

    seed: int
    X: np.ndarray  # (m, n_in)
    W: np.ndarray  # (n_in, n_out)
    b: np.ndarray  # (n_out,)
    G: np.ndarray  # (m, n_out): delta = dL/dY for L = sum(Y * G)
    #: gradient name ("W", "b", "X") -> (the formula of the text, the layer's backward, finite differences)
    grads: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    #: the bias gradient as a mean instead of a sum (the mistake of step 6)
    bias_as_mean: np.ndarray

    @property
    def max_diff(self) -> float:
        """Largest |difference| between any two of the three methods, over every entry of W, b and X."""
        return max(float(np.max(np.max(np.stack(g), axis=0) - np.min(np.stack(g), axis=0)))
                   for g in self.grads.values())


def dense_check(seed: int = 0, n_samples: int = 4, n_in: int = 3, n_out: int = 2, step: float = 1e-5) -> DenseCheck:
    """Dense(n_in -> n_out) in float64 on a random batch, everything drawn from ``default_rng(seed)``:
    the layer's initial weights, then a bias ``normal(0, 0.5)``, ``X = standard_normal((m, n_in))`` and
    ``G = standard_normal((m, n_out))``.  Finite differences are central, ``(L(+h) - L(-h)) / 2h``; L is
    linear in each entry, so they are exact up to rounding."""
    rng = np.random.default_rng(seed)
    layer = Dense(n_in, n_out)
    layer.initialize(rng, np.float64)
    layer.params["b"][...] = rng.normal(0.0, 0.5, size=n_out)
    X = rng.standard_normal((n_samples, n_in))
    G = rng.standard_normal((n_samples, n_out))
    W, b = layer.params["W"], layer.params["b"]

    Y, backprop = layer.forward(X)
    grad_X = backprop(G)
    from_layer = {"W": layer.grads["W"].copy(), "b": layer.grads["b"].copy(), "X": grad_X}
    formulas = {"W": X.T @ G, "b": G.sum(axis=0), "X": G @ W.T}

    def loss(X_: np.ndarray) -> float:
        return float(np.sum(layer.forward(X_)[0] * G))

    finite = {}
    for name, array in (("W", W), ("b", b), ("X", X)):
        numeric = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            saved = array[idx]
            array[idx] = saved + step
            plus = loss(X)
            array[idx] = saved - step
            minus = loss(X)
            array[idx] = saved
            numeric[idx] = (plus - minus) / (2 * step)
        finite[name] = numeric
    grads = {name: (formulas[name], from_layer[name], finite[name]) for name in ("W", "b", "X")}
    return DenseCheck(seed, X.copy(), W.copy(), b.copy(), G, grads, G.mean(axis=0))


def _render(check: DenseCheck, width: int) -> str:
    m, n_in = check.X.shape
    n_out = check.W.shape[1]
    lines = [
        f"7. Live check: seed={check.seed}, Dense({n_in}->{n_out}), m={m} samples, float64,",
        "   np.random.default_rng(seed); L = sum(Y * G) for a random G, so delta = G.",
        "",
        "  Each gradient by (1) the formula above (X^T G, G.sum(axis=0), G W^T),",
        "  (2) glassnet's Dense backward, (3) central finite differences of L:",
        "",
    ]
    rows = []
    for name, (formula, layer, finite) in check.grads.items():
        for idx in np.ndindex(formula.shape):
            rows.append([f"d{name}{list(idx)}", f"{formula[idx]:+.12f}", f"{layer[idx]:+.12f}", f"{finite[idx]:+.12f}"])
    lines += _table(["entry", "(1) formula", "(2) layer", "(3) finite diff"], rows, width=width)
    lines += [
        "",
        f"  max |difference| between the three methods: {check.max_diff:.2e}",
        f"  dL/db as a MEAN over the batch (wrong): {np.array2string(check.bias_as_mean, precision=6)}",
        f"  = (1/{m}) x the right one, the ratio a gradient check would show.",
    ]
    return "\n".join(lines)


def explain_dense(*, seed: int = 0, width: int = MAX_WIDTH) -> str:
    """The derivation and the live check as plain text (80 columns; tables split to ``width``)."""
    return _page("Dense layer: dL/dW = X^T delta, dL/db = sum of delta, dL/dX = delta W^T", DENSE_DERIVATION,
                 _render(dense_check(seed), width))
