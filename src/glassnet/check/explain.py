"""``glassnet explain TOPIC``: derivations in plain terminal text, each ending with a live check.

Every topic renders the math (ASCII, 80 columns, or the width given: the
command line passes the terminal's) and then checks it
on random numbers drawn right now, with the library's own code, so the text
and the code cannot drift apart: if a formula here disagrees with
``numerics``, ``losses``, ``layers``, ``activations`` or ``objective``, the
printed differences show it and the tests fail.

Topics (:data:`TOPICS`):

* ``softmax-cross-entropy`` (alias ``softmax``) - softmax Jacobian,
  cross-entropy, the chain rule summed over all outputs, ``p - t``, the batch
  mean, log-sum-exp;
* ``dense`` - the three gradients of a Dense layer, ``dL/dW = X^T delta``,
  ``dL/db = sum of delta``, ``dL/dX = delta W^T`` (:mod:`glassnet.check.explain_dense`);
* ``mse`` - mean squared error, and why its chain rule has one term per output
  where softmax cross-entropy needs a sum over all outputs
  (:mod:`glassnet.check.explain_mse`);
* one topic per registered activation (``relu``, ``tanh``, ...), generated
  from :data:`glassnet.core.activations.ACTIVATIONS` and the class docstrings;
* ``l2`` - the ``lambda/(2m) sum W^2`` convention and its gradient;
* ``batchnorm`` - batch normalisation's backward in training mode
  (:mod:`glassnet.check.explain_batchnorm`, 80 columns);
* ``gradcheck`` - how to read the gradient-check table.

The numeric checks are plain functions returning dataclasses
(:func:`softmax_ce_check`, :func:`activation_check`, :func:`l2_check`), so the
tests recompute what the text prints.
"""

from __future__ import annotations

import functools
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from string import Template

import numpy as np

from glassnet.core.activations import ACTIVATIONS, ActivationFunction
from glassnet.core.text import DEFAULT_WIDTH, check_width, fit_lines, table
from glassnet.errors import ConfigError
from glassnet.check.diagnosis import softmax_paths
from glassnet.check.gradcheck import GradcheckReport, check_loss, gradcheck
from glassnet.nn.layers import Softmax
from glassnet.nn.losses import CrossEntropy, Loss, SoftmaxCrossEntropy, as_target_matrix
from glassnet.nn.model import Sequential, mlp
from glassnet.core.numerics import softmax, softmax_jacobian
from glassnet.nn.objective import l2_penalty, value_and_grad

__all__ = [
    "TOPICS",
    "explain",
    "topics",
    "SoftmaxCECheck",
    "softmax_ce_check",
    "ActivationCheck",
    "activation_check",
    "L2Check",
    "l2_check",
    "MAX_WIDTH",
    "ALIASES",
]

#: no rendered line is wider than this unless a wider width is asked for (``explain(..., width=)``).
MAX_WIDTH = DEFAULT_WIDTH

#: other names learners type for a topic.
ALIASES = {"softmax": "softmax-cross-entropy", "mean-squared-error": "mse", "linear": "dense"}


def _text(block: str) -> str:
    """A template block without its common indentation and surrounding blank lines."""
    return textwrap.dedent(block).strip("\n")


def _title(title: str) -> str:
    return f"{title}\n{'=' * len(title)}"


def _page(title: str, derivation: str, live_check: str) -> str:
    """A topic: the underlined title, the derivation, then the live check, separated by blank lines."""
    return "\n\n".join([_title(title), derivation, live_check])


def _table(headers: list[str], rows: list[list[str]], indent: str = "  ", width: int = MAX_WIDTH,
           keep: int = 1) -> list[str]:
    """Right-aligned columns, split into blocks that fit ``width`` (:func:`glassnet.core.text.table`)."""
    return table(headers, rows, width=width, indent=indent, keep=keep)


def _gradcheck_table(report: GradcheckReport, indent: str = "  ", width: int = MAX_WIDTH) -> list[str]:
    """The gradient-check table fitted to ``width`` (the layer column becomes a legend when narrow)."""
    return [indent + line for line in report.table(width - len(indent)).split("\n")]


# ============================================================================ softmax + cross-entropy
SOFTMAX_CE_DERIVATION = _text(
    r"""
    Notation, one sample with k classes: z = logits (the last Dense layer's
    output), p = softmax(z) = the probabilities, t = the target row (one-hot,
    or any distribution: sum_i t_i = 1).  Write S = sum_k e^{z_k}.

    1. Softmax
           p_i = e^{z_i} / sum_k e^{z_k} = e^{z_i} / S

    2. Its derivative dp_i/dz_j, case by case
       Case i = j: z_j is in the numerator and in S (quotient rule):
           dp_j/dz_j = (e^{z_j} S - e^{z_j} e^{z_j}) / S^2
                     = p_j - p_j^2 = p_j (1 - p_j)
       Case i != j: z_j is only in S:
           dp_i/dz_j = -e^{z_i} e^{z_j} / S^2 = -p_i p_j
       Both at once, dp_i/dz_j = p_i (delta_ij - p_j): the k x k Jacobian
           J = Diag(p) - p p^T
       J is symmetric and its rows sum to 0 (the p's always sum to 1).  It is
       NOT diagonal: moving one logit moves every probability.

    3. Cross-entropy, differentiated with respect to the probabilities
           E = -sum_i t_i log p_i             dE/dp_i = -t_i / p_i
       Call the softmax output o (a Softmax layer's "output") and this is the
       familiar
           dE/do_j = -t_j/o_j
       and it is right: it is the derivative with respect to the softmax
       OUTPUT, exactly what glassnet.nn.losses.CrossEntropy returns.  It is
       not the gradient with respect to the logits, so it need not look like
       p - t; it still has to go back through the softmax (step 4).

    4. The chain rule, summed over ALL outputs
       z_j reaches E through every p_i (step 2: dp_i/dz_j != 0 for all i), so
           dE/dz_j = sum_i dE/dp_i * dp_i/dz_j = sum_i (-t_i/p_i) dp_i/dz_j
       Split off the i = j term and use both cases of step 2:
                   = (-t_j/p_j) p_j (1 - p_j)  +  sum_{i!=j} (-t_i/p_i) (-p_i p_j)
                   = -t_j (1 - p_j)            +  sum_{i!=j} t_i p_j
                   = -t_j + p_j t_j + p_j sum_{i!=j} t_i
                   = p_j sum_i t_i - t_j
                   = p_j - t_j                    (because sum_i t_i = 1)
       In vector form: dE/dz = J^T dE/dp = (Diag(p) - p p^T)(-t/p)
                             = -t + p (sum_i t_i) = p - t.
       With one-hot t and true class y: dE/dz = (p_1, ..., p_y - 1, ..., p_k).

    5. The classic mistake: chaining the element-wise p (1 - p)
       Treating softmax like a sigmoid keeps only the diagonal of J:
           dE/dz_j  =?  (-t_j/p_j) p_j (1 - p_j) = -t_j (1 - p_j)
       That is the i = j term alone; the i != j terms, sum_{i!=j} t_i p_j,
       are dropped.  For a one-hot t it is 0 for every wrong class, so wrong
       logits are never pushed down; only the true class's entry p_y - 1
       survives.  The last column of the check below shows it.

    6. A batch of m samples
       J = (1/m) sum_n E_n, and sample n's logits only reach its own E_n, so
           dJ/dZ = (P - T) / m                  Z, P, T : (m, k)
       which is what glassnet.nn.losses.SoftmaxCrossEntropy returns
       (reduction="sum": P - T).

    7. The value: the log-sum-exp trick
           log p_i = z_i - logsumexp(z)
           logsumexp(z) = c + log sum_k e^{z_k - c},   c = max_k z_k
       so E = logsumexp(z) - sum_i t_i z_i.  Subtracting c makes the largest
       exponent e^0 = 1: nothing overflows (z = 1e4 is fine) and the log
       never sees 0, whereas log(softmax(z)) is -inf once a probability
       underflows.  It is also the shortest derivation: d logsumexp(z)/dz_j
       = p_j, so dE/dz_j = p_j - t_j again.  That is why glassnet fuses the
       two: SoftmaxCrossEntropy takes logits, never divides by p, never
       builds the k x k J.
    """
)


@dataclass
class SoftmaxCECheck:
    """dJ/dZ for one random batch, four correct ways and one wrong way; arrays are (m, k)."""

    seed: int
    logits: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    probs: np.ndarray
    #: J = mean cross-entropy, from the fused loss (log-sum-exp) and the unfused one (log p).
    value_fused: float
    value_unfused: float
    #: (1) numerics.softmax_jacobian, chain rule summed over all outputs with dE/dp = -t/(m p)
    jacobian_chain: np.ndarray
    #: (2) losses.SoftmaxCrossEntropy: (P - T) / m
    fused: np.ndarray
    #: (3) layers.Softmax backward (VJP) of losses.CrossEntropy's -t/(m o)
    unfused: np.ndarray
    #: (4) gradcheck.check_loss: 5-point central differences of the fused loss's value
    finite_diff: np.ndarray
    #: the mistake of step 5: only the diagonal p (1 - p) of the Jacobian
    diagonal_only: np.ndarray

    def correct_methods(self) -> dict[str, np.ndarray]:
        return {
            "jacobian_chain": self.jacobian_chain,
            "fused": self.fused,
            "unfused": self.unfused,
            "finite_diff": self.finite_diff,
        }

    @property
    def max_diff(self) -> float:
        """Largest |difference| between any two of the four correct methods, over all entries."""
        stacked = np.stack(list(self.correct_methods().values()))
        return float(np.max(stacked.max(axis=0) - stacked.min(axis=0)))

    @property
    def diagonal_only_error(self) -> float:
        return float(np.max(np.abs(self.diagonal_only - self.fused)))


def softmax_ce_check(seed: int = 0, n_samples: int = 3, n_classes: int = 4) -> SoftmaxCECheck:
    """Compute dJ/dZ of the mean softmax cross-entropy four ways (and the wrong fifth).

    Draws, in this order, from ``rng = np.random.default_rng(seed)``:
    ``logits = rng.normal(0, 2, (n_samples, n_classes))`` then
    ``labels = rng.integers(0, n_classes, n_samples)``; float64 throughout.
    """
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, size=(n_samples, n_classes))
    labels = rng.integers(0, n_classes, size=n_samples)
    targets = as_target_matrix(labels, n_classes)
    m = n_samples

    probs = softmax(logits)
    grad_probs = -targets / (m * probs)  # step 3, with the batch mean's 1/m
    jacobian_chain = np.einsum("ni,nij->nj", grad_probs, softmax_jacobian(probs))  # step 4
    diagonal_only = grad_probs * probs * (1 - probs)  # step 5

    paths = softmax_paths(logits, labels, max_entries=None)  # the same cross-check gradcheck's report shows

    return SoftmaxCECheck(
        seed=seed,
        logits=logits,
        labels=labels,
        targets=targets,
        probs=probs,
        value_fused=paths.value_fused,
        value_unfused=paths.value_unfused,
        jacobian_chain=jacobian_chain,
        fused=paths.fused,
        unfused=paths.unfused,
        finite_diff=paths.numeric,
        diagonal_only=diagonal_only,
    )


def _render_softmax_ce_check(check: SoftmaxCECheck, width: int = MAX_WIDTH) -> str:
    m, k = check.logits.shape
    lines = [
        f"8. Live check: seed={check.seed}, m={m} samples, k={k} classes, float64,",
        "   drawn with np.random.default_rng(seed)",
        "",
    ]
    lines += _table(
        ["n", "label y"] + [f"z_{j}" for j in range(k)] + [f"p_{j}" for j in range(k)],
        [
            [str(n), str(int(check.labels[n]))]
            + [f"{v:+.4f}" for v in check.logits[n]]
            + [f"{v:.4f}" for v in check.probs[n]]
            for n in range(m)
        ],
        width=width, keep=2,
    )
    lines += [
        "",
        f"  J, fused (mean of logsumexp(z) - z_y):      {check.value_fused:.15f}",
        f"  J, unfused (mean of -log p_y after Softmax): {check.value_unfused:.15f}",
        "",
        "  dJ/dz_nj by (1) softmax_jacobian + chain rule sum_i (-t_i/(m p_i)) J_ij,",
        "  (2) SoftmaxCrossEntropy: (p - t)/m, (3) Softmax layer VJP of",
        "  CrossEntropy's -t/(m o), (4) finite differences (gradcheck.check_loss),",
        "  and (5) the WRONG diagonal-only p(1-p) chain:",
        "",
    ]
    columns = [check.jacobian_chain, check.fused, check.unfused, check.finite_diff]
    rows = []
    for n in range(m):
        for j in range(k):
            rows.append(
                [str(n), str(j), str(int(check.targets[n, j]))]
                + [f"{c[n, j]:+.10f}" for c in columns]
                + [f"{check.diagonal_only[n, j] + 0.0:+.6f}"]  # + 0.0 turns -0.0 into 0.0
            )
    headers = ["n", "j", "t", "(1) Jacobian", "(2) fused p-t", "(3) unfused", "(4) finite", "(5) wrong"]
    lines += _table(headers, rows, width=width, keep=3)
    fused = check.fused
    lines += [""] + [
        f"  max |({i}) - (2)| = {np.max(np.abs(column - fused)):.2e}"
        for i, column in ((1, check.jacobian_chain), (3, check.unfused), (4, check.finite_diff))
    ] + [
        f"  max |difference| between the four correct methods: {check.max_diff:.2e}",
        "  the wrong (5) drops the terms sum_{i!=j} t_i p_j / m:",
        f"  max |(5) - (2)| = {check.diagonal_only_error:.2e}",
    ]
    return "\n".join(lines)


def _explain_softmax_ce(*, seed: int = 0, width: int = MAX_WIDTH) -> str:
    title = _title("Softmax + cross-entropy: the gradient, step by step")
    return "\n\n".join([title, SOFTMAX_CE_DERIVATION, _render_softmax_ce_check(softmax_ce_check(seed), width)])


# ============================================================================ activations
ACTIVATION_TEMPLATE = Template(
    _text(
        """
        From the docstring of glassnet.core.activations.$cls
        (the one place they are written):

        $formulas

        In the code: forward(z) returns a = f(z); backward(z, a, grad_a) returns
        grad_a * f'(z), where f' may be written in terms of the output a = f(z)
        (as in sigmoid' = a (1 - a)), so the derivative is computed without
        redoing the forward.  derivative(z) is backward with grad_a = 1.
        $details
        """
    )
)


def _activation_formulas(cls: type[ActivationFunction]) -> tuple[str, str]:
    """Split the class docstring into the definition of f and the one of f' (may be empty)."""
    doc = " ".join(inspect.cleandoc(cls.__doc__ or "").replace("``", "").split())
    at = doc.find("f'(")
    cut = doc.rfind(";", 0, at) if at > 0 else -1
    if cut < 0:
        return doc or "(the class has no docstring)", ""
    return doc[:cut].strip(), doc[cut + 1 :].strip()


def _wrap(text: str, label: str, width: int = MAX_WIDTH) -> str:
    return textwrap.fill(
        text, width=width - 4, initial_indent=f"  {label}", subsequent_indent=" " * (2 + len(label))
    )


def _activation_details(fn: ActivationFunction) -> str:
    config = fn.config()
    lines = []
    if config:
        lines.append("Parameters (defaults, used below): " + ", ".join(f"{k} = {v:g}" for k, v in config.items()))
    if fn.kinks:
        points = ", ".join(f"z = {k:g}" for k in fn.kinks)
        lines.append(
            f"Kinks at {points}: f' (or f'') jumps there, so a finite difference\n"
            "that straddles one measures the corner, not the code.  The check below\n"
            "keeps its points away from them, and glassnet's gradcheck skips and\n"
            "counts entries whose stencil crosses one."
        )
    if fn.saturates:
        lines.append("It saturates: for large |z|, f'(z) is (nearly) 0 and the gradient\nthrough it vanishes.")
    lines.append(f"A Dense layer in front of it is initialised with {fn.default_init} by default.")
    return "\n" + "\n".join(lines) if lines else ""


@dataclass
class ActivationCheck:
    """f, f' (from ``derivative()``) and a central difference at a few points; arrays are (n_points,)."""

    name: str
    seed: int
    step: float
    z: np.ndarray
    value: np.ndarray
    derivative: np.ndarray
    finite_diff: np.ndarray

    @property
    def max_diff(self) -> float:
        return float(np.max(np.abs(self.derivative - self.finite_diff)))


def _points_away_from_kinks(
    rng: np.random.Generator, kinks: tuple[float, ...], n_points: int, low: float = -4.0, high: float = 4.0,
    margin: float = 0.05,
) -> np.ndarray:
    """``n_points`` sorted uniform draws in [low, high], redrawing any within ``margin`` of a kink."""
    z = rng.uniform(low, high, size=n_points)
    kinks_arr = np.asarray(kinks, dtype=np.float64).reshape(-1, 1)
    while kinks_arr.size:
        near = np.any(np.abs(z - kinks_arr) < margin, axis=0)
        if not near.any():
            break
        z[near] = rng.uniform(low, high, size=int(near.sum()))
    return np.sort(z)


def activation_check(name: str, seed: int = 0, n_points: int = 7, step: float = 1e-5) -> ActivationCheck:
    """Evaluate the registered activation ``name`` (default parameters) in float64.

    Points: ``n_points`` draws from ``np.random.default_rng(seed).uniform(-4, 4)``, those
    within 0.05 of a declared kink redrawn.  The finite difference is the central
    ``(f(z + h) - f(z - h)) / 2h`` with ``h = step`` (error about h^2 f''' + eps f / h, ~1e-10).
    """
    fn = ACTIVATIONS[name]()
    z = _points_away_from_kinks(np.random.default_rng(seed), tuple(fn.kinks), n_points)
    finite_diff = (fn.forward(z + step) - fn.forward(z - step)) / (2 * step)
    return ActivationCheck(name, seed, step, z, fn.forward(z), fn.derivative(z), finite_diff)


def _render_activation_check(check: ActivationCheck, width: int = MAX_WIDTH) -> str:
    rows = [
        [f"{z:+.6f}", f"{v:+.12f}", f"{d:+.12f}", f"{c:+.12f}", f"{abs(d - c):.1e}"]
        for z, v, d, c in zip(check.z, check.value, check.derivative, check.finite_diff)
    ]
    lines = [
        f"Live check: seed={check.seed}, float64; f'(z) from derivative(), against",
        f"the central difference (f(z + h) - f(z - h)) / 2h with h = {check.step:g}:",
        "",
        *_table(["z", "f(z)", "f'(z)", "central diff", "|diff|"], rows, width=width),
        "",
        f"  max |f'(z) - central difference| = {check.max_diff:.2e}",
    ]
    return "\n".join(lines)


def _explain_activation(name: str, *, seed: int = 0, width: int = MAX_WIDTH) -> str:
    cls = ACTIVATIONS[name]
    fn = cls()
    f_text, df_text = _activation_formulas(cls)
    formulas = _wrap(f_text, "", width) + ("\n" + _wrap(df_text, "", width) if df_text else "")
    body = ACTIVATION_TEMPLATE.substitute(cls=cls.__name__, formulas=formulas, details=_activation_details(fn))
    title = _title(f"Activation {name!r}: f and f'")
    return "\n\n".join([title, body, _render_activation_check(activation_check(name, seed), width)])


# ============================================================================ L2
L2_DERIVATION = _text(
    """
    The convention, written once in glassnet.nn.objective (value_and_grad and
    l2_penalty), used by the trainer, the gradient checker and the doctor:

        J(W, b)  = loss + lambda/(2m) * sum_l sum(W_l^2)   (weights, no biases)
        dJ/dW_l  = dloss/dW_l + (lambda/m) * W_l
        dJ/db_l  = dloss/db_l

    m is the number of samples in the batch, the same m the mean loss
    divides by.

    Why lambda/(2m)?
      * The m: read J as (1/m) [ sum_n L_n + (lambda/2) sum W^2 ]: the
        penalty is counted once, and the whole objective is averaged over
        the m samples, like the loss.  A consequence to know: the same
        lambda regularises a minibatch of 32 more strongly than a batch of
        1000.  (reduction="sum" divides neither: lambda/2 sum W^2 and
        lambda W.)
      * The 2: d/dW (W^2) = 2W, and the 1/2 is there to cancel it, so
            d/dW [ lambda/(2m) W^2 ] = (lambda/(2m)) * 2W = (lambda/m) W.
        Without the 1/2 the gradient would be 2 lambda/m W; that is only a
        different lambda, as long as value and gradient agree, which is all
        a gradient check can test.
      * Biases are left out: they do not multiply inputs, so shrinking them
        does not make the function smoother, and a bias may legitimately
        need to be large.

    The classic bugs, and how the gradient check shows them (below, on a
    live model):
      * Subtracting the term (grad -= lambda/m W): the penalty now pushes
        the weights AWAY from 0.  The W tensors fail, their ratio is not 1;
        the biases still pass.
      * Forgetting /m in one place (value lambda/(2m) sum W^2 but gradient
        lambda W): the W gradients are off by (m - 1) lambda/m W; again only
        the W tensors fail.
      * Penalising the biases in the value but not the gradient (or the
        reverse): only b fails.
      * A penalty computed for the value but never added to the gradient:
        every W fails.
    """
)


def _l2_subtracted(model, loss, X, y, *, l2=0.0, training=False, rng=None, need_input_grad=False):
    """Planted bug: the right value, but the penalty's gradient subtracted instead of added."""
    value, grad_X = value_and_grad(model, loss, X, y, training=training, rng=rng, need_input_grad=need_input_grad)
    value += l2_penalty(model, l2, X.shape[0], loss.reduction)
    params, grads = model.params(), model.grads()
    for name in model.weight_names():
        grads[name] -= (l2 / X.shape[0]) * params[name]
    return value, grad_X


def _l2_without_m(model, loss, X, y, *, l2=0.0, training=False, rng=None, need_input_grad=False):
    """Planted bug: value lambda/(2m) sum W^2, gradient lambda W (the /m forgotten)."""
    value, grad_X = value_and_grad(model, loss, X, y, training=training, rng=rng, need_input_grad=need_input_grad)
    value += l2_penalty(model, l2, X.shape[0], loss.reduction)
    params, grads = model.params(), model.grads()
    for name in model.weight_names():
        grads[name] += l2 * params[name]
    return value, grad_X


@dataclass
class L2Check:
    """value_and_grad with L2 on a tiny model, split into its parts, plus gradient checks."""

    seed: int
    l2: float
    m: int
    loss_value: float
    penalty: float
    sum_sq_weights: float
    value: float
    #: name -> (dloss/dtheta, penalty gradient, dJ/dtheta from value_and_grad, finite difference)
    parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    report: GradcheckReport
    bug_reports: dict[str, GradcheckReport]

    @property
    def max_diff(self) -> float:
        """max |dJ/dtheta - finite difference| over every parameter entry."""
        return max(float(np.max(np.abs(p[2] - p[3]))) for p in self.parts.values())


def _tiny_problem(seed: int) -> tuple[Sequential, Loss, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    model = mlp([3, 4, 3], "tanh", rng=rng, dtype=np.float64)
    X = rng.standard_normal((5, 3))
    y = rng.integers(0, 3, size=5)
    return model, SoftmaxCrossEntropy(), X, y


def l2_check(seed: int = 0, l2: float = 0.5) -> L2Check:
    """The L2 objective on ``mlp([3, 4, 3], "tanh")`` with 5 samples, all drawn from ``default_rng(seed)``."""
    model, loss, X, y = _tiny_problem(seed)
    m = X.shape[0]
    loss_value, _ = value_and_grad(model, loss, X, y)
    grad_loss = {name: g.copy() for name, g in model.grads().items()}
    value, _ = value_and_grad(model, loss, X, y, l2=l2)
    grad_total = {name: g.copy() for name, g in model.grads().items()}
    params = model.params()
    weights = set(model.weight_names())
    report = gradcheck(model, loss, X, y, l2=l2, max_entries=None, check_input=False)
    parts = {
        name: (
            grad_loss[name],
            (l2 / m) * params[name] if name in weights else np.zeros_like(params[name]),
            grad_total[name],
            report[name].numeric,
        )
        for name in params
    }
    bugs = {"subtracted": _l2_subtracted, "gradient without /m": _l2_without_m}
    bug_reports = {
        label: gradcheck(model, loss, X, y, l2=l2, max_entries=None, check_input=False, value_and_grad_fn=fn)
        for label, fn in bugs.items()
    }
    return L2Check(
        seed=seed,
        l2=l2,
        m=m,
        loss_value=float(loss_value),
        penalty=l2_penalty(model, l2, m),
        sum_sq_weights=float(sum(np.sum(params[w] ** 2) for w in weights)),
        value=float(value),
        parts=parts,
        report=report,
        bug_reports=bug_reports,
    )


def _render_l2_check(check: L2Check, width: int = MAX_WIDTH) -> str:
    lam, m = check.l2, check.m
    lines = [
        f"Live check: seed={check.seed}, model Dense(3->4) -> tanh -> Dense(4->3),",
        f"m={m} samples, lambda={lam:g}, float64",
        "",
        f"  loss                         = {check.loss_value:.15f}",
        f"  sum W^2                      = {check.sum_sq_weights:.15f}",
        f"  lambda/(2m) sum W^2          = {lam:g}/{2 * m} * {check.sum_sq_weights:.6f}",
        f"                               = {check.penalty:.15f}",
        f"  J from value_and_grad        = {check.value:.15f}",
        f"  loss + penalty               = {check.loss_value + check.penalty:.15f}",
        "",
        "  A few entries: the loss's gradient, the penalty's (lambda/m) W (0 for a",
        "  bias), their sum as value_and_grad returns it, and a finite difference",
        "  of J (gradcheck):",
        "",
    ]
    rows = []
    for name, (g_loss, g_pen, g_total, numeric) in check.parts.items():
        for flat in range(min(2, g_loss.size)):
            idx = np.unravel_index(flat, g_loss.shape)
            rows.append(
                [f"{name}{[int(i) for i in idx]}", f"{g_loss[idx]:+.12f}", f"{g_pen[idx]:+.12f}",
                 f"{g_total[idx]:+.12f}", f"{numeric[idx]:+.12f}"]
            )
    lines += _table(["entry", "dloss", "(lambda/m) W", "dJ (value_and_grad)", "finite diff"], rows, width=width)
    lines += [
        "",
        f"  max |dJ - finite difference| over all {sum(p[0].size for p in check.parts.values())} "
        "parameter entries:",
        f"  {check.max_diff:.2e}",
        "",
        "  gradcheck of the correct objective:",
        *_gradcheck_table(check.report, "    ", width),
    ]
    for label, report in check.bug_reports.items():
        lines += ["", f"  gradcheck with the planted bug '{label}':", *_gradcheck_table(report, "    ", width)]
    return "\n".join(lines)


def _explain_l2(*, seed: int = 0, width: int = MAX_WIDTH) -> str:
    title = _title("L2 regularisation: J = loss + lambda/(2m) sum W^2")
    return "\n\n".join([title, L2_DERIVATION, _render_l2_check(l2_check(seed), width)])


# ============================================================================ gradcheck
GRADCHECK_GUIDE = _text(
    """
    glassnet.check.gradcheck.gradcheck(model, loss, X, y, l2=...) recomputes
    every parameter gradient (and dJ/dX) by the 5-point central difference,
    error O(h^4), h = 1e-3 in float64:
        n_k = [-J(theta + 2h e_k) + 8 J(theta + h e_k)
               - 8 J(theta - h e_k) + J(theta - 2h e_k)] / 12h
    and prints one row per tensor:

      tensor, layer, shape
          which array: "0.W" = layer 0's weights, "input" = dJ/dX (on a
          narrow terminal the layers are a legend under the table)
      checked
          entries compared (a random sample of max_entries for big tensors)
      kinks
          entries skipped because the +-2h stencil moved a pre-activation
          across a declared kink (relu at 0, ...): there the finite
          difference measures the corner, not your code.  A few are normal;
          many means units sit on the kink (dead ReLUs exactly at 0).
      |analytic| |numeric|
          norms of the two gradients: they should agree to many digits
      ratio
          the least-squares c with analytic ~ c * numeric.  1 = right;
          -1 = sign flipped; m or 1/m = a 1/m (batch mean) missing or
          doubled; 2 or 0.5 = a factor 2 (the 1/2 of L2 or MSE).  Other
          values: a derivative with wrong or missing terms (the element-wise
          softmax p(1-p), say): read the worst entries.
      max rel err (rel err on a narrow terminal)
          max_k |a_k - n_k| / max(|a_k|, |n_k|, tiny), tiny ~ 1e-6 max(1, |J|)
          so a derivative too small to resolve is compared absolutely.
          float64 passes at <= 1e-6 and a correct gradient usually shows
          1e-12 .. 1e-8; float32 passes at <= 1e-2, and a failure only in
          float32 is precision, not a bug.
      verdict
          ok or FAIL for that tensor

    Under the table: the worst entries of each failing tensor (index,
    analytic, numeric, rel err), then PASSED/FAILED with the entries checked
    and skipped.

    Where is the bug?  Gradients flow from the loss back to layer 0, so a
    wrong input gradient in layer i makes the tensors of every layer BEFORE
    i fail (and "input"), while i's own and later tensors pass.  Only W
    tensors failing, biases fine: the L2 term (see: glassnet explain l2).
    Every tensor off by the same ratio: the loss's gradient (scale or sign).
    glassnet.check.gradcheck.check_layers(model, X) checks each layer alone
    and names the wrong one.
    """
)


def _forgot_mean(model, loss, X, y, *, l2=0.0, training=False, rng=None, need_input_grad=False):
    """Planted bug: the value is the batch mean, the gradient is the batch sum (no 1/m)."""
    value, grad_X = value_and_grad(
        model, loss, X, y, l2=l2, training=training, rng=rng, need_input_grad=need_input_grad
    )
    for g in model.grads().values():
        g *= X.shape[0]
    return value, None if grad_X is None else grad_X * X.shape[0]


def _explain_gradcheck(*, seed: int = 0, width: int = MAX_WIDTH) -> str:
    model, loss, X, y = _tiny_problem(seed)
    good = gradcheck(model, loss, X, y, max_entries=None)
    bad = gradcheck(model, loss, X, y, max_entries=None, value_and_grad_fn=_forgot_mean)
    lines = [
        _title("Reading glassnet's gradient-check table"),
        "",
        GRADCHECK_GUIDE,
        "",
        f"Live example: seed={seed}, Dense(3->4) -> tanh -> Dense(4->3), m={X.shape[0]}, float64",
        "",
        "  the library's own gradients:",
        *_gradcheck_table(good, "    ", width),
        f"  {'PASSED' if good.passed else 'FAILED'}: {good.n_checked} entries, max rel error {good.max_rel_error:.2e}",
        "",
        f"  a planted bug, the gradient without the 1/m of the mean (m = {X.shape[0]}):",
        "  every ratio is m",
        *_gradcheck_table(bad, "    ", width),
        f"  {'PASSED' if bad.passed else 'FAILED'}: {bad.n_checked} entries, max rel error {bad.max_rel_error:.2e}",
    ]
    return "\n".join(lines)


# ============================================================================ batch normalisation
def _explain_batchnorm(*, seed: int = 0, width: int = MAX_WIDTH) -> str:
    from glassnet.check.explain_batchnorm import explain_batchnorm  # it uses this module's helpers

    return explain_batchnorm(seed=seed, width=width)


def _explain_dense(*, seed: int = 0, width: int = MAX_WIDTH) -> str:
    from glassnet.check.explain_dense import explain_dense  # it uses this module's helpers

    return explain_dense(seed=seed, width=width)


def _explain_mse(*, seed: int = 0, width: int = MAX_WIDTH) -> str:
    from glassnet.check.explain_mse import explain_mse  # it uses this module's helpers

    return explain_mse(seed=seed, width=width)


# ============================================================================ registry
def _build_topics() -> dict[str, Callable[..., str]]:
    topics: dict[str, Callable[..., str]] = {
        "softmax-cross-entropy": _explain_softmax_ce,
        "l2": _explain_l2,
        "gradcheck": _explain_gradcheck,
        "batchnorm": _explain_batchnorm,
        "dense": _explain_dense,
        "mse": _explain_mse,
    }
    for name in ACTIVATIONS:
        if name in topics:
            raise ValueError(f"activation {name!r} clashes with an explain topic")
        topics[name] = functools.partial(_explain_activation, name)
    return topics


#: topic name -> renderer ``(*, seed) -> str``; one entry per activation in ACTIVATIONS.
TOPICS: dict[str, Callable[..., str]] = _build_topics()


def topics() -> list[str]:
    """Every topic name, including activations registered after this module was imported (aliases are
    in :data:`ALIASES`)."""
    return list(TOPICS) + [name for name in ACTIVATIONS if name not in TOPICS]


def explain(topic: str, *, seed: int = 0, width: int | None = None) -> str:
    """The derivation for ``topic`` as plain text, ending with a live numeric check.

    ``seed`` seeds the ``np.random.default_rng`` the check draws its numbers from.
    ``width`` is the page width in columns (default 80, at least 40): tables split
    into blocks of columns and long lines wrap to fit it.  ``topic`` may be an
    alias (:data:`ALIASES`, e.g. ``softmax``).  An unknown topic raises
    :class:`~glassnet.errors.ConfigError` listing the topics.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    width = check_width(width) or DEFAULT_WIDTH
    topic = ALIASES.get(topic, topic) if isinstance(topic, str) else topic
    if topic in TOPICS:
        renderer = TOPICS[topic]
    elif isinstance(topic, str) and topic in ACTIVATIONS:  # registered after import
        renderer = functools.partial(_explain_activation, topic)
    else:
        aliases = ", ".join(f"{a} = {t}" for a, t in ALIASES.items())
        raise ConfigError(f"unknown explain topic {topic!r}; topics: {', '.join(topics())} (aliases: {aliases})")
    return fit_lines(renderer(seed=int(seed), width=width).rstrip(), width) + "\n"
