"""``glassnet explain batchnorm``: batch normalisation's backward, step by step, then a live check.

The text fits 80 columns.  The check draws a small batch, runs glassnet's
:class:`~glassnet.nn.norm.BatchNorm` in training mode, and computes ``dL/dx``
five ways: the compact formula of step 6 (written here from the text), the
layer's own backward, the full per-column Jacobian of step 5, central
differences of ``L = sum(Y * G)``, and the incomplete formula ``gamma G /
sigma`` (the classic mistake).  :func:`batchnorm_check` returns them all, so
the tests recompute what the text prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glassnet.check.explain import _table, _text, _title
from glassnet.nn.norm import BatchNorm

__all__ = ["BATCHNORM_DERIVATION", "BatchNormCheck", "batchnorm_check", "explain_batchnorm", "WIDTH"]

#: no line of this topic is wider than this.
WIDTH = 80

BATCHNORM_DERIVATION = _text(
    r"""
    Notation: a batch X : (n, d), n samples, d features.  Every feature (column)
    is normalised on its own, so drop the column index; x_i is sample i's value.
    G = dL/dY : (n, d) is the gradient arriving from the layers above.

    1. Forward in training mode (this batch's statistics)
           mu    = (1/n) sum_i x_i                  (d,)
           var   = (1/n) sum_i (x_i - mu)^2         (d,)  biased: divides by n
           sigma = sqrt(var + eps)                  (d,)
           x^_i  = (x_i - mu) / sigma               (n, d)
           y_i   = gamma x^_i + beta                (n, d)  gamma, beta : (d,)

    2. The parameters: y_i depends on gamma and beta directly
           dL/dbeta  = sum_i G_i                    (d,)
           dL/dgamma = sum_i G_i x^_i               (d,)
           g_i = dL/dx^_i = gamma G_i               (n, d)

    3. Every x_k reaches L three ways: through x^_k itself, through mu and
       through var, and mu and var reach EVERY x^_i of the column.
           dmu/dx_k  = 1/n
           dvar/dx_k = (2/n)(x_k - mu) - (2/n) sum_i (x_i - mu)/n
                     = (2/n)(x_k - mu)             (sum_i (x_i - mu) = 0)
           dsigma/dx_k = dvar/dx_k / (2 sigma) = x^_k / n

    4. The quotient rule on x^_i = (x_i - mu) / sigma
           dx^_i/dx_k = (delta_ik - 1/n) / sigma
                        - (x_i - mu) / sigma^2 * x^_k / n
                      = (1/sigma) (delta_ik - 1/n - x^_i x^_k / n)

    5. The n x n Jacobian of one column, and the chain rule summed over i
           J = (1/sigma) (I - 11^T/n - x^ x^^T / n)        (n, n)
           dL/dx_k = sum_i g_i dx^_i/dx_k
                   = (1/sigma) (g_k - mean(g) - x^_k mean(g x^))

    6. gamma is constant down a column, so with g = gamma G the compact form
           dL/dx = (gamma / (n sigma)) (n G - sum_i G_i - x^ sum_i G_i x^_i)
                 = (gamma / (n sigma)) (n G - dL/dbeta - x^ dL/dgamma)
       Shapes: gamma, sigma, dL/dbeta, dL/dgamma : (d,); G, x^, dL/dx : (n, d).
       Two checks of any implementation: each column of dL/dx sums to 0
       (shifting a column by a constant changes no output), and dL/dbeta,
       dL/dgamma come for free from step 2.

    7. The classic mistake: dL/dx = gamma G / sigma
       That is the delta_ik term alone: mu and sigma treated as constants.  It
       is exactly right in eval mode, where x^ uses the running statistics
       (constants), and wrong in training mode.  A gradient check in eval mode
       cannot see it; glassnet's checker runs training mode with the whole
       batch as one function and names this mistake when it finds it.

    8. Running statistics (PyTorch's convention), updated by each training
       forward, used by eval mode; state, not parameters:
           running_mean <- (1 - m) running_mean + m mu
           running_var  <- (1 - m) running_var  + m var n / (n - 1)
       m = momentum = 0.1 is the weight of the NEW batch (Keras's 0.99 is the
       weight of the old value); the running variance is unbiased.
    """
)


@dataclass
class BatchNormCheck:
    """dL/dX of a BatchNorm in training mode, five ways; arrays are (n, d)."""

    seed: int
    X: np.ndarray
    gamma: np.ndarray  # (d,)
    beta: np.ndarray  # (d,)
    G: np.ndarray  # dL/dY, the upstream gradient
    xhat: np.ndarray
    #: (1) step 6 written out here
    compact: np.ndarray
    #: (2) glassnet.nn.norm.BatchNorm's backward
    layer: np.ndarray
    #: (3) step 5: the full n x n Jacobian of each column, times g
    jacobian: np.ndarray
    #: (4) 5-point central differences of L = sum(Y * G)
    finite_diff: np.ndarray
    #: (5) the mistake of step 7
    incomplete: np.ndarray
    running_mean: np.ndarray  # (d,) after the forward
    running_var: np.ndarray

    def correct_methods(self) -> dict[str, np.ndarray]:
        return {"compact": self.compact, "layer": self.layer, "jacobian": self.jacobian,
                "finite_diff": self.finite_diff}

    @property
    def max_diff(self) -> float:
        """Largest |difference| between any two of the four correct methods."""
        stacked = np.stack(list(self.correct_methods().values()))
        return float(np.max(stacked.max(axis=0) - stacked.min(axis=0)))

    @property
    def incomplete_error(self) -> float:
        return float(np.max(np.abs(self.incomplete - self.layer)))


def batchnorm_check(seed: int = 0, n_samples: int = 4, n_features: int = 3, step: float = 1e-4) -> BatchNormCheck:
    """Compute dL/dX of ``BatchNorm(n_features)`` in training mode five ways, float64.

    Draws, in this order, from ``np.random.default_rng(seed)``:
    ``X = rng.normal(1, 2, (n, d))``, ``gamma = rng.uniform(0.5, 2, d)``,
    ``beta = rng.normal(0, 1, d)``, ``G = rng.normal(0, 1, (n, d))``.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(1.0, 2.0, size=(n_samples, n_features))
    gamma = rng.uniform(0.5, 2.0, size=n_features)
    beta = rng.normal(0.0, 1.0, size=n_features)
    G = rng.normal(0.0, 1.0, size=(n_samples, n_features))
    layer = BatchNorm(n_features)
    layer.initialize(rng, np.float64)  # draws nothing: gamma = 1, beta = 0, running (0, 1)
    layer.params["gamma"][...] = gamma
    layer.params["beta"][...] = beta
    frozen = {k: v.copy() for k, v in layer.state.items()}

    _, backprop = layer.forward(X, training=True)
    from_layer = backprop(G)
    running_mean, running_var = layer.state["running_mean"].copy(), layer.state["running_var"].copy()

    n = n_samples
    mu = X.mean(axis=0)
    sigma = np.sqrt(X.var(axis=0) + layer.eps)
    xhat = (X - mu) / sigma
    dbeta, dgamma = G.sum(axis=0), (G * xhat).sum(axis=0)
    compact = gamma / (n * sigma) * (n * G - dbeta - xhat * dgamma)  # step 6

    jacobian = np.empty_like(X)  # step 5, column by column
    for j in range(n_features):
        J = (np.eye(n) - np.ones((n, n)) / n - np.outer(xhat[:, j], xhat[:, j]) / n) / sigma[j]
        jacobian[:, j] = J.T @ (gamma[j] * G[:, j])

    def loss(Xp: np.ndarray) -> float:
        for k, v in frozen.items():
            layer.state[k][...] = v
        return float(np.sum(layer.forward(Xp, training=True)[0] * G))

    finite_diff = np.empty_like(X)
    for idx in np.ndindex(*X.shape):
        total = 0.0
        for offset, weight in ((2.0, -1.0), (1.0, 8.0), (-1.0, -8.0), (-2.0, 1.0)):
            Xp = X.copy()
            Xp[idx] += offset * step
            total += weight * loss(Xp)
        finite_diff[idx] = total / (12.0 * step)

    return BatchNormCheck(
        seed=seed, X=X, gamma=gamma, beta=beta, G=G, xhat=xhat, compact=compact, layer=from_layer,
        jacobian=jacobian, finite_diff=finite_diff, incomplete=gamma * G / sigma,
        running_mean=running_mean, running_var=running_var,
    )


def _render(check: BatchNormCheck, width: int = WIDTH) -> str:
    n, d = check.X.shape
    lines = [
        f"9. Live check: seed={check.seed}, n={n} samples, d={d} features, float64,",
        "   np.random.default_rng(seed); L = sum(Y * G) for a random G.",
        "",
    ]
    lines += _table(
        ["j", "gamma_j", "beta_j", "mu_j", "sigma_j", "running_mean", "running_var"],
        [[str(j), f"{check.gamma[j]:.4f}", f"{check.beta[j]:+.4f}", f"{check.X[:, j].mean():+.4f}",
          f"{np.sqrt(check.X[:, j].var() + BatchNorm(1).eps):.4f}", f"{check.running_mean[j]:+.4f}", f"{check.running_var[j]:.4f}"]
         for j in range(d)],
        width=width,
    )
    lines += [
        "",
        "  dL/dx_ij by (1) step 6 written out, (2) glassnet's BatchNorm backward,",
        "  (3) the Jacobian of step 5, (4) finite differences, (5) the WRONG",
        "  gamma G / sigma of step 7:",
        "",
    ]
    columns = [check.compact, check.layer, check.jacobian, check.finite_diff]
    rows = [
        [str(i), str(j), f"{check.X[i, j]:+.3f}"] + [f"{c[i, j]:+.8f}" for c in columns]
        + [f"{check.incomplete[i, j]:+.5f}"]
        for i in range(n) for j in range(d)
    ]
    lines += _table(["i", "j", "x_ij", "(1) step 6", "(2) layer", "(3) Jacobian", "(4) finite", "(5) wrong"], rows,
                    width=width, keep=2)
    sums = np.abs(check.layer.sum(axis=0)).max()
    wrong_sums = np.abs(check.incomplete.sum(axis=0)).max()
    lines += [
        "",
        f"  max |difference| between the four correct methods: {check.max_diff:.2e}",
        f"  max |(5) - (2)| = {check.incomplete_error:.2e}   <- the paths through mu and sigma",
        f"  largest |column sum|: (2) {sums:.1e}, (5) {wrong_sums:.2f}   <- the right one sums to 0",
    ]
    return "\n".join(lines)


def explain_batchnorm(*, seed: int = 0, width: int = WIDTH) -> str:
    """The derivation and the live check as plain text, at most :data:`WIDTH` columns (tables split to a
    narrower ``width``)."""
    title = _title("Batch normalisation: the backward, step by step")
    return "\n\n".join([title, BATCHNORM_DERIVATION, _render(batchnorm_check(seed), width)])
