"""``glassnet explain mse``: mean squared error, and why its chain rule has one term per output.

The question learners ask again and again: why does the MSE gradient through
an element-wise output (identity, sigmoid, tanh) have a single term,
``dE/dz_j = 2 (o_j - t_j) f'(z_j)``, while softmax cross-entropy needs the sum
over all outputs?  Answer: the chain rule always sums over every output; the
terms that survive are the non-zero entries of the output layer's Jacobian,
which is diagonal for an element-wise activation and full for softmax.

The live check computes ``dJ/dZ`` for a sigmoid output (one term, the full
sum, the layers' backward, finite differences: all equal) and for a softmax
output (the one-term shortcut is wrong there; the full sum is right).
:func:`mse_check` returns the arrays, so the tests recompute what is printed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glassnet.check.explain import MAX_WIDTH, _page, _table, _text
from glassnet.core.numerics import sigmoid, softmax, softmax_jacobian
from glassnet.nn.layers import Activation, Softmax
from glassnet.nn.losses import MSELoss, as_target_matrix

__all__ = ["MSE_DERIVATION", "MSECheck", "mse_check", "explain_mse"]

MSE_DERIVATION = _text(
    r"""
    Notation, one sample with k outputs: z = the last Dense layer's output,
    o = f(z) the network's output (f = identity, sigmoid, tanh, softmax...),
    t = the target row.  glassnet's MSELoss sums over the k outputs and
    averages over the batch (PyTorch's MSELoss also divides by k).

    1. The loss and its derivative with respect to the OUTPUT
           E = sum_c (o_c - t_c)^2          dE/do_c = 2 (o_c - t_c)
       Each output appears in exactly one term of the sum.

    2. The chain rule always sums over every output
       z_j can reach E through every o_c, so in general
           dE/dz_j = sum_c dE/do_c * do_c/dz_j
       How many terms survive depends only on the output layer's Jacobian
       do_c/dz_j, not on the loss.

    3. An element-wise output (identity, sigmoid, tanh): ONE term
       o_c = f(z_c) depends on z_c alone, so do_c/dz_j = 0 for c != j: the
       Jacobian is diagonal, Diag(f'(z)).  Every term of the sum but c = j
       is multiplied by 0, and
           dE/dz_j = dE/do_j * f'(z_j) = 2 (o_j - t_j) f'(z_j)
       With an identity output (regression) f' = 1: dE/dz = 2 (o - t).

    4. A softmax output: ALL k terms
       p_c = e^{z_c} / sum_k e^{z_k} depends on every z_j (the shared
       denominator), dp_c/dz_j = p_c (delta_cj - p_j) != 0 for every c: the
       Jacobian Diag(p) - p p^T is full, no term vanishes:
           dE/dz_j = sum_c 2 (p_c - t_c) p_c (delta_cj - p_j)
                   = 2 p_j [ (p_j - t_j) - sum_c (p_c - t_c) p_c ]
       Keeping only c = j, 2 (p_j - t_j) p_j (1 - p_j), is the classic
       mistake; the check below shows it.  With cross-entropy instead of
       MSE the same full sum collapses to p - t (glassnet explain softmax).

    5. A batch of m samples
       J = (1/m) sum_n E_n, sample n's outputs only reach its own E_n:
           dJ/dO = 2 (O - T) / m            O, T : (m, k)
       which is what glassnet.nn.losses.MSELoss returns.

    6. Why classifiers use cross-entropy, not MSE after a sigmoid
       The one term of step 3 carries f'(z_j): a sigmoid unit that is
       confidently wrong (z far from 0) has f' ~ 0, so it barely learns.
       Binary cross-entropy on logits gives sigmoid(z) - t: no f' factor.
    """
)


@dataclass
class MSECheck:
    """dJ/dZ of the mean MSE through a sigmoid and through a softmax output; arrays are (m, k)."""

    seed: int
    logits: np.ndarray
    targets: np.ndarray
    #: sigmoid output: (one term) 2 (o - t) o (1 - o) / m, (full sum) through Diag(f'), layer VJP, finite diff
    sigmoid: dict[str, np.ndarray]
    #: softmax output: the full sum, the layer VJP, finite differences, and the one-term shortcut (wrong)
    softmax: dict[str, np.ndarray]

    @property
    def sigmoid_max_diff(self) -> float:
        """Largest |difference| between the four sigmoid methods (all correct)."""
        stacked = np.stack(list(self.sigmoid.values()))
        return float(np.max(stacked.max(axis=0) - stacked.min(axis=0)))

    @property
    def softmax_max_diff(self) -> float:
        """Largest |difference| between the three correct softmax methods."""
        stacked = np.stack([self.softmax[k] for k in ("full sum", "layer", "finite diff")])
        return float(np.max(stacked.max(axis=0) - stacked.min(axis=0)))

    @property
    def one_term_error(self) -> float:
        """How far the one-term shortcut is from the truth for a softmax output."""
        return float(np.max(np.abs(self.softmax["one term"] - self.softmax["full sum"])))


def _finite_diff(J, Z: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar J(Z) with respect to every entry of Z."""
    numeric = np.zeros_like(Z)
    for idx in np.ndindex(Z.shape):
        plus, minus = Z.copy(), Z.copy()
        plus[idx] += step
        minus[idx] -= step
        numeric[idx] = (J(plus) - J(minus)) / (2 * step)
    return numeric


def mse_check(seed: int = 0, n_samples: int = 2, n_classes: int = 3) -> MSECheck:
    """Draws ``logits = rng.normal(0, 1.5, (m, k))`` then ``labels = rng.integers(0, k, m)`` from
    ``np.random.default_rng(seed)``; targets are their one-hot rows; float64 throughout."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(0.0, 1.5, size=(n_samples, n_classes))
    labels = rng.integers(0, n_classes, size=n_samples)
    T = as_target_matrix(labels, n_classes)
    m = n_samples
    loss = MSELoss()

    O = sigmoid(Z)
    grad_O = 2 * (O - T) / m  # step 5
    diagonal = np.einsum("nc,cj->ncj", O * (1 - O), np.eye(n_classes))  # Diag(f'(z)) per sample
    layer_out, backprop = Activation("sigmoid").forward(Z)
    sig = {
        "one term": grad_O * O * (1 - O),  # step 3
        "full sum": np.einsum("nc,ncj->nj", grad_O, diagonal),  # step 2 with the diagonal Jacobian
        "layer": backprop(loss(layer_out, T)[1]),
        "finite diff": _finite_diff(lambda z: loss(sigmoid(z), T)[0], Z),
    }

    P = softmax(Z)
    grad_P = 2 * (P - T) / m
    layer_out, backprop = Softmax().forward(Z)
    soft = {
        "full sum": np.einsum("nc,ncj->nj", grad_P, softmax_jacobian(P)),  # step 4
        "layer": backprop(loss(layer_out, T)[1]),
        "finite diff": _finite_diff(lambda z: loss(softmax(z), T)[0], Z),
        "one term": grad_P * P * (1 - P),  # the mistake of step 4
    }
    return MSECheck(seed, Z, T, sig, soft)


def _gradient_table(targets: np.ndarray, methods: dict[str, np.ndarray], width: int) -> list[str]:
    """One row per entry (n, j) with its target and each method's dJ/dz_nj (12 decimals)."""
    rows = [[str(n), str(j), str(int(targets[n, j]))] + [f"{v[n, j]:+.12f}" for v in methods.values()]
            for n, j in np.ndindex(targets.shape)]
    return _table(["n", "j", "t", *methods], rows, width=width, keep=3)


def _render(check: MSECheck, width: int) -> str:
    m, k = check.logits.shape
    lines = [
        f"7. Live check: seed={check.seed}, m={m} samples, k={k} outputs, float64,",
        "   np.random.default_rng(seed); dJ/dz_nj of J = mean over samples of",
        "   sum_c (o_c - t_c)^2.",
        "",
        "  a) sigmoid output: the one term 2 (o - t) o (1 - o) / m, the full sum",
        "     through Diag(f'(z)), glassnet's layers, finite differences:",
        "",
    ]
    lines += _gradient_table(check.targets, check.sigmoid, width)
    lines += ["", f"  max |difference| between the four: {check.sigmoid_max_diff:.2e}   <- one term is enough", ""]
    lines += [
        "  b) softmax output: the full sum of step 4, glassnet's layers, finite",
        "     differences, and the WRONG one-term shortcut:",
        "",
    ]
    lines += _gradient_table(check.targets, check.softmax, width)
    lines += [
        "",
        f"  max |difference| between the three correct ones: {check.softmax_max_diff:.2e}",
        f"  max |one term - full sum| = {check.one_term_error:.2e}   <- the dropped c != j terms",
    ]
    return "\n".join(lines)


def explain_mse(*, seed: int = 0, width: int = MAX_WIDTH) -> str:
    """The derivation and the live check as plain text (80 columns; tables split to ``width``)."""
    return _page("Mean squared error: why its chain rule has one term", MSE_DERIVATION,
                 _render(mse_check(seed), width))
