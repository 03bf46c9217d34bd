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

from typing import Callable

import numpy as np

from glassnet.check.gradcheck import GradcheckReport, check_layer, check_layers, check_loss, gradcheck
from glassnet.nn.losses import CrossEntropy, Loss, SoftmaxCrossEntropy
from glassnet.nn.layers import Layer, Softmax
from glassnet.nn.model import Sequential
from glassnet.check.findings import Finding
from glassnet.nn.norm import BatchNorm, complete_batch_grad
from glassnet.nn.objective import value_and_grad

__all__ = ["diagnose", "batch_statistics_ignored", "cross_check_softmax"]


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
    a passing report without kink skips.
    """
    found: list[Finding] = []
    if report.n_kink_skipped:
        found.append(Finding(
            "kinks",
            f"{report.n_kink_skipped} entries were skipped because their finite difference crossed a kink: not a bug",
            "moving the parameter by a few steps h changed which side of a kink (relu at 0, hard_tanh at +-1) "
            "some pre-activation is on, so the finite difference mixes two slopes",
            "nothing; the analytic one-sided derivative is the convention (as in PyTorch)",
        ))
    if report.passed:
        return found
    failing = report.failing()
    names = ", ".join(t.name for t in failing)
    extra = dict(l2=l2, value_and_grad_fn=value_and_grad_fn, training=report.training)
    have_data = model is not None and loss is not None and X is not None and y is not None

    # float32 only?  Re-run in float64: if that passes, it is precision.
    if np.dtype(report.dtype) == np.float32 and have_data:
        r64 = gradcheck(model, loss, X, y, dtype=np.float64, **extra)
        if r64.passed:
            found.append(Finding(
                "precision",
                "fails in float32 but passes in float64: precision, not a bug",
                f"float32 max rel error {report.max_rel_error:.1e}; float64 {r64.max_rel_error:.1e}",
                "check gradients in float64 (the default of glassnet gradcheck)",
            ))
            return found

    c = _common_ratio(report)
    if c is not None and abs(c + 1) < 0.02:
        found.append(Finding(
            "sign",
            f"sign error: the analytic gradient is minus the true one ({names})",
            f"ratio analytic/numeric = {c:.4f} on every failing tensor",
            "a subtraction written the wrong way round, e.g. t - p instead of p - t, or w += lr * g",
        ))
    elif c is not None and abs(c - 1) > 0.02:
        m = None if X is None else X.shape[0]
        hint = ""
        if m and abs(c - m) < 0.02 * m:
            hint = f" = the batch size m = {m}: the backward is missing the 1/m that the loss value has"
        elif m and abs(c * m - 1) < 0.02:
            hint = f" = 1/m for m = {m}: the backward divides by m once more than the loss value"
        found.append(Finding(
            "scale",
            f"gradient scaled by {c:.4g}{hint}",
            f"analytic/numeric ratio is {c:.4g} (within 2%) on every failing tensor: {names}",
            "a missing or extra 1/m, or a loss reported at a different scale than the one differentiated",
        ))

    weights_only = all(t.name.endswith(".W") for t in failing) and any(
        t.name.endswith(".b") and t.passed for t in report.tensors
    )
    if weights_only and l2 > 0 and have_data:
        again = dict(dtype=report.dtype, value_and_grad_fn=value_and_grad_fn, training=report.training)
        stronger = gradcheck(model, loss, X, y, l2=4 * l2, **again)
        none = gradcheck(model, loss, X, y, l2=0.0, **again)
        if none.passed and stronger.max_rel_error > report.max_rel_error:
            found.append(Finding(
                "l2",
                "the L2 term in the loss and in the gradient disagree",
                f"only weights fail ({names}), biases pass; max rel error {none.max_rel_error:.1e} at lambda=0, "
                f"{report.max_rel_error:.1e} at lambda={l2:g}, {stronger.max_rel_error:.1e} at lambda={4 * l2:g}",
                "J = loss + lambda/(2m) sum W^2 needs dJ/dW = dloss/dW + (lambda/m) W: added, not subtracted, "
                "and divided by the same m in both",
            ))
    elif weights_only:
        found.append(Finding(
            "weights",
            f"only weight tensors fail ({names}), biases pass",
            "the bias gradients agree, so the upstream gradient reaching those layers is right",
            "the weight-gradient line (X^T G) or a regularisation term applied to the weights",
        ))

    if have_data:
        per_layer = check_layers(model, X, training=report.training)
        bad = [i for i, r in per_layer if not r.passed]
        if bad:
            i = bad[-1]
            if report.training and isinstance(model.layers[i], BatchNorm):
                captured: list[np.ndarray] = []
                model.astype(np.float64).forward(np.asarray(X, dtype=np.float64), training=True,
                                                 rng=np.random.default_rng(0), capture=captured)
                specific = batch_statistics_ignored(model.layers[i], ([np.asarray(X)] + captured)[i])
                found += [specific] if specific else []
            found.append(Finding(
                "layer",
                f"layer {i} ({model.layers[i].describe()}) has a wrong backward",
                "checked alone on the input it really receives, layer "
                + ", ".join(f"{j} {'fails' if not r.passed else 'passes'}" for j, r in per_layer),
                f"the backward of layer {i}; every layer after it passes its own check",
            ))
        else:
            loss_report = check_loss(loss, model(np.asarray(X, dtype=model.dtype)).astype(np.float64), y)
            if not loss_report.passed:
                found.append(Finding(
                    "loss",
                    f"the loss's gradient disagrees with its own value ({type(loss).__name__})",
                    f"check_loss max rel error {loss_report.max_rel_error:.1e}, ratio {loss_report.tensors[0].ratio:.4g}",
                    "a value that is clipped, scaled or smoothed differently from the gradient",
                ))
            elif not found:
                found.append(Finding(
                    "objective",
                    "every layer and the loss pass alone, yet the whole objective fails",
                    f"failing tensors: {names}",
                    "the glue: how the loss gradient, regularisation and layer gradients are combined",
                ))
    elif layer is not None and X is not None and report.training and (specific := batch_statistics_ignored(layer, X)):
        found.append(specific)
    elif not found:
        # a layer or a loss checked on its own, and the error is no constant scale or sign
        opposite = sum(int(np.sum(np.sign(a) * np.sign(n) < 0)) for a, n in map(_checked, failing))
        checked = sum(t.n_checked for t in failing)
        subject = report.subject or "this"
        found.append(Finding(
            "formula",
            f"the backward of {subject} is wrong entry by entry ({names}): not a constant scale, not a sign flip",
            f"{opposite} of {checked} checked entries have the opposite sign to the finite difference; "
            f"max rel error {report.max_rel_error:.2g}",
            "the derivative formula itself: e.g. written in terms of the input where it needs the output "
            "(tanh: 1 - a^2, sigmoid: a (1 - a)), a chain-rule factor left out, or a transposed product",
        ))
    return found


def cross_check_softmax(logits: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Compare the fused ``(p - t)/m``, the unfused Softmax + CrossEntropy path and finite differences.

    Returns the max absolute differences between each pair (float64), all
    around 1e-12 when the three agree.
    """
    logits = np.asarray(logits, dtype=np.float64)
    _, fused = SoftmaxCrossEntropy()(logits, targets)
    probs, backprop = Softmax().forward(logits)
    _, grad_probs = CrossEntropy()(probs, targets)
    unfused = backprop(grad_probs)
    numeric = check_loss(SoftmaxCrossEntropy(), logits, targets).tensors[0].numeric
    return {
        "fused_vs_unfused": float(np.max(np.abs(fused - unfused))),
        "fused_vs_numeric": float(np.max(np.abs(fused - numeric))),
        "unfused_vs_numeric": float(np.max(np.abs(unfused - numeric))),
    }
