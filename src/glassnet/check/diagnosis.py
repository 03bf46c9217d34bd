"""What a failing gradient check means: patterns in a :class:`~glassnet.check.gradcheck.GradcheckReport`.

:func:`diagnose` reads the per-tensor results and, where it can, runs a few
extra checks (the same model in float32, a stronger L2, each layer on its own
input, the loss against its own value) to tell the classic mistakes apart:

==========================  =====================================================
pattern                     diagnosis
==========================  =====================================================
ratio ~ c on every tensor   gradient scaled by c: a missing or extra ``1/m``, or a
                            loss reported at another scale than the one derived
ratio ~ -1                  sign error
weights fail, biases pass,  the L2 term in the loss and in the gradient disagree
error grows with lambda     (subtracted, or ``/m`` in one place only)
failing layers              the bug is in the backward of the *last* failing
                            layer counted from the input (the first from the
                            output): layers above it pass
entries next to a kink      not a bug: the finite difference straddles a corner
fails in float32 only       precision, not a bug
BatchNorm's input fails in  the backward treats the batch mean and variance as
training mode, and adding   constants (the eval-mode formula ``gamma G / sigma``
back the mean and variance  used in training mode)
paths fixes it
none of these (a layer or   the derivative formula itself is wrong (e.g. in terms
a loss checked alone)       of the input where it needs the output)
==========================  =====================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Callable

import numpy as np

from glassnet.check.gradcheck import GradcheckReport, check_layer, check_layers, check_loss, gradcheck
from glassnet.nn.losses import CrossEntropy, Loss, SoftmaxCrossEntropy
from glassnet.nn.layers import Layer, Softmax
from glassnet.nn.model import Sequential
from glassnet.check.findings import Finding
from glassnet.nn.norm import BatchNorm, complete_batch_grad
from glassnet.nn.objective import value_and_grad

__all__ = ["diagnose", "batch_statistics_ignored", "elementwise_softmax", "l2_mistake", "cross_check_softmax", "softmax_paths", "SoftmaxPaths"]


def _checked(t) -> tuple[np.ndarray, np.ndarray]:
    """The analytic and numeric values of the entries a tensor check compared (unchecked entries are NaN)."""
    checked = np.isfinite(t.numeric) & np.isfinite(t.analytic)
    return t.analytic[checked], t.numeric[checked]


def _proportional(t, c: float, tol: float) -> bool:
    """Entry by entry, ``analytic ~ c * numeric``: ``||a - c n|| <= tol ||a||`` over the checked entries.

    The ratio alone is a projection ``<a, n> / <n, n>``: it exists for any two
    vectors, so one failing tensor always "shares" it.  Only a small residual
    makes it a scale.
    """
    a, n = _checked(t)
    return bool(np.linalg.norm(a - c * n) <= tol * np.linalg.norm(a))


def _common_ratio(report: GradcheckReport, tol: float = 0.02) -> float | None:
    """The ratio ``c`` shared by every failing tensor (within ``tol`` relative, entry by entry), or None."""
    ratios = [t.ratio for t in report.failing() if np.isfinite(t.ratio) and t.numeric_norm > 0]
    if not ratios or len(ratios) != len(report.failing()):
        return None
    if not all(_proportional(t, t.ratio, tol) for t in report.failing()):
        return None
    c = float(np.median(ratios))
    if c == 0 or any(abs(r - c) > tol * abs(c) for r in ratios):
        return None
    return c


def batch_statistics_ignored(layer: Layer, X: np.ndarray) -> Finding | None:
    """The classic BatchNorm mistake, proven: the training backward ignores how mu and sigma depend on x.

    Re-checks ``layer`` in training mode on ``X : (n, d)`` (every entry) and
    applies to its analytic input gradient ``a`` the map that adds the paths
    through the batch mean and variance, ``a - mean(a) - x_hat mean(a x_hat)``
    per feature (:func:`glassnet.nn.norm.complete_batch_grad`).  When that
    turns the wrong gradient into the finite differences, the backward is the
    eval-mode formula ``gamma G / sigma`` used in training mode.  None when
    ``layer`` is no BatchNorm, passes, or fails in some other way.
    """
    if not isinstance(layer, BatchNorm) or np.shape(X)[0] < 2:
        return None
    X = np.asarray(X, dtype=np.float64)
    t = check_layer(layer, X.shape, X=X, training=True, max_entries=None)["input"]
    if t.passed:
        return None
    completed = complete_batch_grad(t.analytic, X, layer.eps)
    residual = float(np.linalg.norm(completed - t.numeric) / max(np.linalg.norm(t.numeric), 1e-300))
    if residual > 1e-4:
        return None
    column_sums = float(np.max(np.abs(t.analytic.sum(axis=0))))
    return Finding(
        "batch-statistics",
        f"the backward of {layer.describe()} treats the batch mean and variance as constants",
        f"in training mode its input gradient fails (max rel error {t.max_rel_error:.2g}); adding the paths "
        f"through the mean and the variance, a - mean(a) - x_hat mean(a x_hat) per feature, gives the finite "
        f"differences to {residual:.1e}; its columns sum to up to {column_sums:.2g}, the true ones to 0",
        "every x_k moves mu and sigma and so every output of its column: dx = (gamma / (n sigma)) "
        "(n dy - sum(dy) - x_hat sum(dy x_hat)), not gamma dy / sigma (glassnet explain batchnorm)",
    )


def elementwise_softmax(layer: Layer, X: np.ndarray) -> Finding | None:
    """A softmax whose backward is the element-wise ``o (1 - o)``: the diagonal of the Jacobian only.

    Recognised when the layer's outputs are probabilities (rows of ``Y = layer(X)`` in (0, 1) summing to 1)
    and its backward of a random upstream gradient ``g`` equals ``g * Y * (1 - Y)`` to float64 rounding,
    while the true vector-Jacobian product ``Y * (g - sum(g * Y))`` differs.
    """
    X = np.asarray(X, dtype=np.float64)
    try:
        Y, backprop = layer.forward(X)
    except Exception:  # a layer that cannot run alone on X says nothing here
        return None
    if Y.ndim != 2 or Y.shape[1] < 2 or np.any(Y <= 0) or np.any(Y >= 1) or not np.allclose(Y.sum(axis=1), 1, atol=1e-9):
        return None
    g = np.random.default_rng(0).standard_normal(Y.shape)
    got = np.asarray(backprop(g), dtype=np.float64)
    diagonal = g * Y * (1 - Y)
    full = Y * (g - np.sum(g * Y, axis=1, keepdims=True))
    if got.shape != Y.shape or np.max(np.abs(got - diagonal)) > 1e-10 * np.max(np.abs(diagonal)):
        return None
    if np.max(np.abs(full - diagonal)) <= 1e-10 * np.max(np.abs(full)):
        return None
    return Finding(
        "elementwise_softmax",
        f"the backward of {layer.describe()} is softmax's derivative taken element-wise, o (1 - o)",
        f"its input gradient equals g * o (1 - o) to 1e-10, the diagonal of the Jacobian alone; the true one "
        f"differs by up to {np.max(np.abs(full - diagonal)):.2g}",
        "softmax's derivative is the full Jacobian Diag(p) - p p^T: dX = p * (g - sum(g * p)) per row; with "
        "cross-entropy, fuse the two and the gradient of the logits is p - t (glassnet explain softmax)",
    )


def l2_mistake(model: Sequential, loss: Loss, X: np.ndarray, y: np.ndarray, l2: float,
               value_and_grad_fn: Callable) -> Finding | None:
    """Name the L2 mistake from how the gradient's error depends on lambda.

    With the objective's gradient ``G(lam)`` and the right one ``G*(lam)`` (glassnet's ``value_and_grad``), an
    L2 mistake makes ``D(lam) = G(lam) - G*(lam)`` zero at lambda = 0 and linear in lambda, ``D = lam S``,
    with a slope ``S`` known for each mistake: ``-2 W / m`` (subtracted), ``(1 - 1/m) W`` (lambda W, no 1/m),
    ``W / m`` (2 lambda W / m: the 1/2 of J forgotten when differentiating), ``-W / m`` (left out), and
    ``b / m`` on the biases (biases regularised).  A maximum relative error saturates; the slope does not.
    """
    X = np.asarray(X, dtype=np.float64)
    net = model.astype(np.float64)
    m = X.shape[0]

    def error(lam: float) -> dict[str, np.ndarray]:
        value_and_grad_fn(net, loss, X, y, l2=lam)
        got = {k: v.copy() for k, v in net.grads().items()}
        value_and_grad(net, loss, X, y, l2=lam)
        return {k: got[k] - v for k, v in net.grads().items()}

    d0, d1, d2 = error(0.0), error(l2), error(2 * l2)
    scale = max(float(np.max(np.abs(v))) for v in d1.values())
    if scale == 0 or max(float(np.max(np.abs(v))) for v in d0.values()) > 1e-9 * scale:
        return None  # no error, or an error that is there without L2: not an L2 mistake
    if max(float(np.max(np.abs(d2[k] - 2 * d1[k]))) for k in d1) > 1e-6 * scale:
        return None  # not linear in lambda
    params = net.params()
    weights = set(net.weight_names())
    slopes = {
        "subtracted": ("the L2 gradient is subtracted, not added", -2.0 / m, 0.0),
        "no 1/m": ("the L2 gradient is lambda W: the 1/m is missing", 1.0 - 1.0 / m, 0.0),
        "doubled": ("the L2 gradient is 2 lambda W / m: the 1/2 of lambda/(2m) sum W^2 was not applied", 1.0 / m, 0.0),
        "left out": ("the L2 term is in the loss but not in the gradient", -1.0 / m, 0.0),
        "biases": ("the L2 gradient regularises the biases too", 0.0, 1.0 / m),
    }
    for key, (title, w_factor, b_factor) in slopes.items():
        predicted = {k: l2 * (w_factor if k in weights else b_factor) * params[k] for k in d1}
        if max(float(np.max(np.abs(d1[k] - predicted[k]))) for k in d1) <= 1e-6 * scale:
            return Finding(
                "l2", title,
                f"the gradient's error is 0 at lambda = 0 and grows linearly with lambda, with the slope of this "
                f"mistake to 1e-6 (m = {m}, lambda = {l2:g} and {2 * l2:g})",
                "J = loss + lambda/(2m) sum W^2 needs dJ/dW = dloss/dW + (lambda/m) W on the weights only: "
                "added, not subtracted, and divided by the same m in both",
            )
    return None


def diagnose(
    report: GradcheckReport,
    model: Sequential | None = None,
    loss: Loss | None = None,
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
    *,
    l2: float = 0.0,
    value_and_grad_fn: Callable = value_and_grad,
    layer: Layer | None = None,
) -> list[Finding]:
    """Explain ``report``.  With the model, loss and data, run the extra checks that confirm a pattern.

    For a report of :func:`~glassnet.check.gradcheck.check_layer`, pass the
    ``layer`` and the input ``X`` it was checked on.  Returns an empty list for
    a passing report without kink skips.  The steps, in order: kinks skipped;
    float32-only failures (precision); a common ratio (sign, scale, 1/m); the
    L2 term or the weights alone; then the failing layer or the loss (with a
    model), or the layer's own verdicts and the formula (alone).
    """
    found = _kinks(report)
    if report.passed:
        return found
    have_data = model is not None and loss is not None and X is not None and y is not None
    if np.dtype(report.dtype) == np.float32 and have_data:
        precision = _precision(report, model, loss, X, y, l2, value_and_grad_fn)
        if precision is not None:
            return found + [precision]
    found += _ratio(report, X)
    found += _l2_or_weights(report, model, loss, X, y, l2, value_and_grad_fn, have_data)
    if have_data:
        return found + _localise(report, model, loss, X, y, found)
    return found + _alone(report, layer, X, found)


def _failing_names(report: GradcheckReport) -> str:
    """The failing tensors' names, as the findings quote them: "0.W, 2.W"."""
    return ", ".join(t.name for t in report.failing())


def _kinks(report: GradcheckReport) -> list[Finding]:
    if not report.n_kink_skipped:
        return []
    return [Finding(
        "kinks",
        f"{report.n_kink_skipped} entries were skipped because their finite difference crossed a kink: not a bug",
        "moving the parameter by a few steps h changed which side of a kink (relu at 0, hard_tanh at +-1) "
        "some pre-activation is on, so the finite difference mixes two slopes",
        "nothing; the analytic one-sided derivative is the convention (as in PyTorch)",
    )]


def _precision(report, model, loss, X, y, l2, value_and_grad_fn) -> Finding | None:
    """float32 only?  Re-run in float64: if that passes, it is precision."""
    r64 = gradcheck(model, loss, X, y, dtype=np.float64, l2=l2, value_and_grad_fn=value_and_grad_fn,
                    training=report.training)
    if not r64.passed:
        return None
    return Finding(
        "precision",
        "fails in float32 but passes in float64: precision, not a bug",
        f"float32 max rel error {report.max_rel_error:.1e}; float64 {r64.max_rel_error:.1e}",
        "check gradients in float64 (the default of glassnet gradcheck)",
    )


def _ratio(report: GradcheckReport, X: np.ndarray | None) -> list[Finding]:
    """A sign flip or a constant scale (named 1/m when it equals the batch size) on every failing tensor."""
    names = _failing_names(report)
    c = _common_ratio(report)
    if c is not None and abs(c + 1) < 0.02:
        return [Finding(
            "sign",
            f"sign error: the analytic gradient is minus the true one ({names})",
            f"ratio analytic/numeric = {c:.4f} on every failing tensor",
            "a subtraction written the wrong way round, e.g. t - p instead of p - t, or w += lr * g",
        )]
    if c is None or abs(c - 1) <= 0.02:
        return []
    m = None if X is None else X.shape[0]
    hint = ""
    if m and abs(c - m) < 0.02 * m:
        hint = f" = the batch size m = {m}: the backward is missing the 1/m that the loss value has"
    elif m and abs(c * m - 1) < 0.02:
        hint = f" = 1/m for m = {m}: the backward divides by m once more than the loss value"
    return [Finding(
        "scale",
        f"gradient scaled by {c:.4g}{hint}",
        f"analytic/numeric ratio is {c:.4g} (within 2%) on every failing tensor: {names}",
        "a missing or extra 1/m, or a loss reported at a different scale than the one differentiated",
    )]


def _l2_or_weights(report, model, loss, X, y, l2, value_and_grad_fn, have_data: bool) -> list[Finding]:
    """The L2 mistake named from its slope in lambda, or else "only the weights fail"."""
    failing = report.failing()
    named_l2 = l2_mistake(model, loss, X, y, l2, value_and_grad_fn) if l2 > 0 and have_data else None
    if named_l2 is not None:
        return [named_l2]
    weights_only = all(t.name.endswith(".W") for t in failing) and any(
        t.name.endswith(".b") and t.passed for t in report.tensors
    )
    if not weights_only:
        return []
    return [Finding(
        "weights",
        f"only weight tensors fail ({_failing_names(report)}), biases pass",
        "the bias gradients agree, so the upstream gradient reaching those layers is right",
        "the weight-gradient line (X^T G) or a regularisation term applied to the weights",
    )]


def _inputs_of_layers(model: Sequential, X: np.ndarray, training: bool) -> list[np.ndarray]:
    """The input each layer receives on ``X`` (float64; training mode draws from a fixed generator)."""
    captured: list[np.ndarray] = []
    X = np.asarray(X, dtype=np.float64)
    model.astype(np.float64).forward(X, training=training, rng=np.random.default_rng(0) if training else None,
                                     capture=captured)
    return [X] + captured


def _localise(report, model, loss, X, y, found: list[Finding]) -> list[Finding]:
    """Check each layer alone on its real input: the last failing one is blamed (with its own verdict when
    one applies); if none fails, the loss against its own value, or else the glue."""
    per_layer = check_layers(model, X, training=report.training)
    bad = [i for i, r in per_layer if not r.passed]
    if bad:
        i = bad[-1]
        batch_norm = report.training and isinstance(model.layers[i], BatchNorm)
        inputs = _inputs_of_layers(model, X, training=batch_norm)
        specific = (batch_statistics_ignored if batch_norm else elementwise_softmax)(model.layers[i], inputs[i])
        return [specific] * (specific is not None) + [Finding(
            "layer",
            f"layer {i} ({model.layers[i].describe()}) has a wrong backward",
            "checked alone on the input it really receives, layer "
            + ", ".join(f"{j} {'fails' if not r.passed else 'passes'}" for j, r in per_layer),
            f"the backward of layer {i}; every layer after it passes its own check",
        )]
    loss_report = check_loss(loss, model(np.asarray(X, dtype=model.dtype)).astype(np.float64), y)
    if not loss_report.passed:
        return [Finding(
            "loss",
            f"the loss's gradient disagrees with its own value ({type(loss).__name__})",
            f"check_loss max rel error {loss_report.max_rel_error:.1e}, ratio {loss_report.tensors[0].ratio:.4g}",
            "a value that is clipped, scaled or smoothed differently from the gradient",
        )]
    if found:
        return []
    return [Finding(
        "objective",
        "every layer and the loss pass alone, yet the whole objective fails",
        f"failing tensors: {_failing_names(report)}",
        "the glue: how the loss gradient, regularisation and layer gradients are combined",
    )]


def _alone(report, layer: Layer | None, X: np.ndarray | None, found: list[Finding]) -> list[Finding]:
    """A layer or a loss checked on its own: a specific verdict when one applies, else the formula."""
    if layer is not None and X is not None:
        specific = batch_statistics_ignored(layer, X) if report.training else None
        specific = specific or elementwise_softmax(layer, X)
        if specific is not None:
            return [specific]
    if found:
        return []
    failing = report.failing()
    opposite = sum(int(np.sum(np.sign(a) * np.sign(n) < 0)) for a, n in map(_checked, failing))
    checked = sum(t.n_checked for t in failing)
    return [Finding(
        "formula",
        f"the backward of {report.subject or 'this'} is wrong entry by entry "
        f"({_failing_names(report)}): not a constant scale, not a sign flip",
        f"{opposite} of {checked} checked entries have the opposite sign to the finite difference; "
        f"max rel error {report.max_rel_error:.2g}",
        "the derivative formula itself: e.g. written in terms of the input where it needs the output "
        "(tanh: 1 - a^2, sigmoid: a (1 - a)), a chain-rule factor left out, or a transposed product",
    )]


@dataclass
class SoftmaxPaths:
    """The three ways to the gradient of softmax + cross-entropy with respect to the logits ``(m, k)``."""

    value_fused: float
    fused: np.ndarray  # SoftmaxCrossEntropy: (p - t) / m
    value_unfused: float
    unfused: np.ndarray  # a Softmax layer, then CrossEntropy on probabilities: the full Jacobian's product
    numeric: np.ndarray  # check_loss's central differences of the fused value (NaN where not sampled)


def softmax_paths(logits: np.ndarray, targets: np.ndarray, *, max_entries: int | None = 200) -> SoftmaxPaths:
    """Compute the fused, unfused and finite-difference gradients (and both values) in float64: the one
    cross-check the gradient checker's report and ``glassnet explain softmax-cross-entropy`` both show."""
    logits = np.asarray(logits, dtype=np.float64)
    value_fused, fused = SoftmaxCrossEntropy()(logits, targets)
    probs, backprop = Softmax().forward(logits)
    value_unfused, grad_probs = CrossEntropy()(probs, targets)
    unfused = backprop(grad_probs)
    numeric = check_loss(SoftmaxCrossEntropy(), logits, targets, max_entries=max_entries).tensors[0].numeric
    return SoftmaxPaths(float(value_fused), np.asarray(fused), float(value_unfused), np.asarray(unfused), numeric)


def cross_check_softmax(logits: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Compare the fused ``(p - t)/m``, the unfused Softmax + CrossEntropy path and finite differences.

    Returns the max absolute differences between each pair (float64), all
    around 1e-12 when the three agree.
    """
    paths = softmax_paths(logits, targets)
    return {
        "fused_vs_unfused": float(np.max(np.abs(paths.fused - paths.unfused))),
        # finite differences are sampled for big batches: NaN where an entry was not checked
        "fused_vs_numeric": float(np.nanmax(np.abs(paths.fused - paths.numeric))),
        "unfused_vs_numeric": float(np.nanmax(np.abs(paths.unfused - paths.numeric))),
    }
