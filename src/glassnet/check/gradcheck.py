"""Finite-difference gradient checking that says *which* tensor is wrong and *how*.

For a scalar objective ``J(theta)`` and every checked entry ``theta_k`` the
numeric derivative is the fourth-order central difference::

    n_k = [-J(theta + 2h e_k) + 8 J(theta + h e_k) - 8 J(theta - h e_k) + J(theta - 2h e_k)] / (12 h)

whose truncation error is O(h^4) (the plain ``[J(+h) - J(-h)] / 2h`` is O(h^2)),
so a step ``h = 1e-3`` in float64 leaves both truncation and rounding errors
near 1e-12.  Each entry is compared with the analytic ``a_k`` by the relative
error::

    rel_k = |a_k - n_k| / max(|a_k|, |n_k|, tiny)

with ``tiny = tiny_scale * max(1, |J|)``: entries whose true derivative is
below what finite differences resolve are compared absolutely instead of
producing a meaningless huge relative error.  A tensor passes when every
checked entry has ``rel_k <= rtol`` (1e-6 in float64).

Kinks are handled honestly.  For every ``Activation`` layer whose function
declares ``kinks`` (relu at 0, hard_tanh at +-1, ...), the checker records on
which side of each kink every pre-activation lies; an entry whose stencil
moves any pre-activation across a kink is not a test of the code (the finite
difference straddles a corner), so it is *skipped and counted* in
``n_kink_skipped`` rather than reported as an error.

Training mode (``training=True``) checks what the trainer differentiates:
Dropout draws the same mask at every evaluation, and a layer with batch
statistics (BatchNorm) makes the whole batch one function, so perturbing
one sample's input moves every output and the numeric input gradient
contains the cross-sample terms.  A training forward also updates running
statistics; the checker snapshots the state before the analytic pass and
restores it after every evaluation, so each finite difference sees the
same statistics.  Eval mode checks against the frozen running statistics.

The step size and tolerance follow the dtype: float64 (the default, the model
is copied to float64) uses ``h = 1e-3``, ``rtol = 1e-6``; float32 uses
``h = 1e-2``, ``rtol = 1e-2``, and a failure only in float32 is precision,
not a bug.

Three entry points:

* :func:`gradcheck` - a whole model, loss and (optionally) L2 on a batch:
  every parameter tensor and the input.
* :func:`check_layer` - one layer (a built-in or your own) on random input,
  through the objective ``J = sum(Y * R)`` for a fixed random ``R``.
* :func:`check_loss` - one loss: its value against its own gradient.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from glassnet.errors import ConfigError, GradcheckError
from glassnet.nn.layers import Activation, Layer, check_protocol, run_forward
from glassnet.nn.losses import Loss
from glassnet.nn.model import Sequential
from glassnet.nn.objective import l2_penalty, value_and_grad

__all__ = ["EntryError", "TensorCheck", "GradcheckReport", "gradcheck", "check_layer", "check_layers", "check_loss", "STEP"]

#: dtype -> (step h, rtol, tiny_scale)
STEP: dict[np.dtype, tuple[float, float, float]] = {
    np.dtype(np.float64): (1e-3, 1e-6, 1e-6),
    np.dtype(np.float32): (1e-2, 1e-2, 1e-3),
}

#: an error below ROUNDING_FACTOR * eps * max(1, |J|) / h is rounding, not a wrong derivative (see _check_tensor)
ROUNDING_FACTOR = 100.0
_STENCIL = ((2.0, -1.0), (1.0, 8.0), (-1.0, -8.0), (-2.0, 1.0))  # (offset in h, weight); divide by 12 h


@dataclass
class EntryError:
    """One checked entry: its index in the tensor, both derivatives and the relative error."""

    index: tuple[int, ...]
    analytic: float
    numeric: float
    rel_error: float


@dataclass
class TensorCheck:
    """The verdict for one tensor (a parameter such as ``"0.W"``, or ``"input"``)."""

    name: str
    layer: int | None
    layer_desc: str
    shape: tuple[int, ...]
    n_checked: int
    n_kink_skipped: int
    analytic_norm: float
    numeric_norm: float
    #: least-squares scale c with analytic ~ c * numeric: 1 when right, -1 for a sign flip.
    ratio: float
    max_rel_error: float
    passed: bool
    analytic: np.ndarray = field(repr=False)
    numeric: np.ndarray = field(repr=False)
    worst: list[EntryError] = field(default_factory=list)


@dataclass
class GradcheckReport:
    """Per-tensor results of a gradient check; ``str(report)`` is a table."""

    tensors: list[TensorCheck]
    dtype: np.dtype
    step: float
    rtol: float
    loss_value: float
    subject: str = ""
    #: True when checked in training mode (batch statistics, a fixed dropout mask)
    training: bool = False

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tensors)

    @property
    def max_rel_error(self) -> float:
        return max((t.max_rel_error for t in self.tensors), default=0.0)

    @property
    def n_kink_skipped(self) -> int:
        return sum(t.n_kink_skipped for t in self.tensors)

    @property
    def n_checked(self) -> int:
        return sum(t.n_checked for t in self.tensors)

    def failing(self) -> list[TensorCheck]:
        return [t for t in self.tensors if not t.passed]

    def __getitem__(self, name: str) -> TensorCheck:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def table(self, width: int | None = None) -> str:
        """One row per tensor.  With ``width`` (the terminal's columns) and a table wider than that, the
        layer column becomes a legend under a table whose columns are as wide as their contents ("max rel
        err" headed "rel err"), split into blocks of columns if it still does not fit
        (:func:`glassnet.core.text.table`): a 784-256-10 network's table takes 78 columns instead of 107."""
        head = (
            f"{'tensor':<8} {'layer':<18} {'shape':<12} {'checked':>7} {'kinks':>5} "
            f"{'|analytic|':>10} {'|numeric|':>10} {'ratio':>9} {'max rel err':>11}  verdict"
        )
        if width is not None and len(head) > width:
            return self._narrow_table(width)
        rows = [head, "-" * len(head)]
        for t in self.tensors:
            rows.append(
                f"{t.name:<8} {t.layer_desc[:18]:<18} {str(t.shape):<12} {t.n_checked:>7} {t.n_kink_skipped:>5} "
                f"{t.analytic_norm:>10.3e} {t.numeric_norm:>10.3e} {t.ratio:>9.5f} {t.max_rel_error:>11.2e}  "
                f"{'ok' if t.passed else 'FAIL'}"
            )
        return "\n".join(rows)

    def _narrow_table(self, width: int) -> str:
        from glassnet.core.text import fit_lines, table

        headers = ["tensor", "shape", "checked", "kinks", "|analytic|", "|numeric|", "ratio", "rel err", "verdict"]
        rows = [[t.name, str(t.shape), str(t.n_checked), str(t.n_kink_skipped), f"{t.analytic_norm:.3e}",
                 f"{t.numeric_norm:.3e}", f"{t.ratio:.5f}", f"{t.max_rel_error:.2e}", "ok" if t.passed else "FAIL"]
                for t in self.tensors]
        layers = dict.fromkeys((t.layer, t.layer_desc) for t in self.tensors if t.layer is not None)
        lines = table(headers, rows, width=width, indent="", gap=1)
        if layers:
            lines.append(fit_lines("layers: " + ", ".join(f"{i} {desc}" for i, desc in layers), width))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def format(self, width: int | None = None) -> str:
        """The report as text: a header, the table, the worst entries of each failing tensor and the verdict.
        ``width`` fits it to that many columns (the command line passes the terminal's); None keeps the
        full-width table."""
        lines = [
            f"gradcheck {self.subject}: {np.dtype(self.dtype).name}, {'training mode, ' if self.training else ''}"
            "5-point central differences, "
            f"h={self.step:g}, rtol={self.rtol:g}, J={self.loss_value:.6g}",
            self.table(width),
        ]
        for t in self.failing():
            lines.append(f"worst entries of {t.name}:")
            for e in t.worst:
                lines.append(
                    f"  {t.name}{list(e.index)}: analytic {e.analytic:+.6e}  numeric {e.numeric:+.6e}  rel err {e.rel_error:.2e}"
                )
        skipped = self.n_kink_skipped
        verdict = "PASSED" if self.passed else f"FAILED ({', '.join(t.name for t in self.failing())})"
        lines.append(
            f"{verdict}: {self.n_checked} entries checked, max rel error {self.max_rel_error:.2e}"
            + (f", {skipped} skipped because the finite difference crossed a kink" if skipped else "")
        )
        text = "\n".join(lines)
        if width is None:
            return text
        from glassnet.core.text import fit_lines

        return fit_lines(text, width)

    def raise_if_failed(self) -> "GradcheckReport":
        if not self.passed:
            raise GradcheckError(str(self), report=self)
        return self


# ----------------------------------------------------------------------------- core loop
def _kink_regions(activations: Sequence[tuple[np.ndarray, tuple[float, ...]]]) -> list[np.ndarray]:
    """For each (pre-activation, kinks) pair: on which side of each kink every entry lies."""
    return [np.searchsorted(np.asarray(kinks), z, side="right") for z, kinks in activations]


def _check_tensor(
    name: str,
    layer: int | None,
    layer_desc: str,
    array: np.ndarray,
    analytic: np.ndarray,
    evaluate: Callable[[], tuple[float, list[np.ndarray]]],
    base_regions: list[np.ndarray],
    *,
    step: float,
    rtol: float,
    tiny: float,
    max_entries: int | None,
    rng: np.random.Generator,
    n_worst: int,
    relative_step: bool = False,
    rounding: float = 0.0,
) -> TensorCheck:
    """Perturb entries of ``array`` in place (restoring each), compare with ``analytic``.

    With ``relative_step`` each entry moves by ``step * |x|`` (for probabilities, whose
    stencil must stay positive: ``log(o - 2h)`` is undefined once ``h > o/2``).

    ``rounding = eps * max(1, |J|)``: evaluating J is exact only to about that, so the stencil's
    sum carries an error of about ``1.5 rounding / h_k`` for entry k whatever the code, an
    error that grows as the step shrinks.  An entry passes when ``|a_k - n_k| <= rtol *
    max(|a_k|, |n_k|, tiny)`` or when ``|a_k - n_k| <= ROUNDING_FACTOR * rounding / h_k`` (it is
    then indistinguishable from rounding: with h = 1e-3 in float64 that is about 2e-11 |J|).
    Without the second bound, a true derivative of 0 with a small relative step (the non-target
    probabilities of a cross-entropy) failed on rounding alone.
    """
    flat_indices = np.arange(array.size)
    if max_entries is not None and array.size > max_entries:
        flat_indices = np.sort(rng.choice(array.size, size=max_entries, replace=False))
    flat = array.reshape(-1)  # a view: perturbing it perturbs the live array
    numeric = np.full(array.shape, np.nan)
    steps = np.full(array.shape, step)
    kink = np.zeros(array.shape, dtype=bool)
    for k in flat_indices:
        original = flat[k]
        h = step * abs(float(original)) if relative_step and original != 0 else step
        total = 0.0
        crossed = False
        for offset, weight in _STENCIL:
            flat[k] = original + offset * h
            value, regions = evaluate()
            total += weight * value
            if not crossed and any(np.any(r != b) for r, b in zip(regions, base_regions)):
                crossed = True
        flat[k] = original
        idx = np.unravel_index(k, array.shape)
        numeric[idx] = total / (12.0 * h)
        steps[idx] = h
        kink[idx] = crossed
    checked = ~np.isnan(numeric) & ~kink
    a, n = analytic[checked].astype(np.float64), numeric[checked]
    # the rounding floor, as a denominator: |a - n| <= rtol * floor_k  <=>  |a - n| <= ROUNDING_FACTOR rounding / h_k
    floor = ROUNDING_FACTOR * rounding / steps[checked] / rtol
    denom = np.maximum(np.maximum(np.maximum(np.abs(a), np.abs(n)), tiny), floor)
    rel = np.abs(a - n) / denom
    nn = float(n @ n)
    ratio = float(a @ n) / nn if nn > 0 else (1.0 if float(a @ a) == 0 else float("inf"))
    worst: list[EntryError] = []
    if rel.size:
        positions = np.argwhere(checked)
        for j in np.argsort(rel)[::-1][:n_worst]:
            worst.append(EntryError(tuple(int(i) for i in positions[j]), float(a[j]), float(n[j]), float(rel[j])))
    max_rel = float(rel.max()) if rel.size else 0.0
    return TensorCheck(
        name=name,
        layer=layer,
        layer_desc=layer_desc,
        shape=tuple(array.shape),
        n_checked=int(checked.sum()),
        n_kink_skipped=int(kink.sum()),
        analytic_norm=float(np.sqrt(a @ a)),
        numeric_norm=float(np.sqrt(nn)),
        ratio=ratio,
        max_rel_error=max_rel,
        passed=bool(max_rel <= rtol and np.all(np.isfinite(a))),
        analytic=np.where(checked, analytic, np.nan),
        numeric=numeric,
        worst=worst,
    )


def _rounding(dtype: np.dtype, J: float) -> float:
    """``eps * max(1, |J|)`` in float64, the scale of J's own rounding error (see ``_check_tensor``).  0 in
    float32, whose looser ``rtol`` already covers it and whose failures the diagnosis calls precision."""
    return float(np.finfo(np.float64).eps) * max(1.0, abs(float(J))) if np.dtype(dtype) == np.float64 else 0.0


def _settings(dtype, step, rtol) -> tuple[np.dtype, float, float, float]:
    dtype = np.dtype(dtype)
    if dtype not in STEP:
        raise ConfigError(f"gradcheck runs in float64 or float32, got {dtype}")
    default_step, default_rtol, tiny_scale = STEP[dtype]
    return dtype, step or default_step, rtol or default_rtol, tiny_scale


# ----------------------------------------------------------------------------- public API
def gradcheck(
    model: Sequential,
    loss: Loss,
    X: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 0.0,
    dtype: np.dtype | type = np.float64,
    step: float | None = None,
    rtol: float | None = None,
    max_entries: int | None = 200,
    seed: int = 0,
    check_input: bool = True,
    training: bool = False,
    n_worst: int = 5,
    raise_on_failure: bool = False,
    value_and_grad_fn: Callable[..., tuple[float, np.ndarray | None]] = value_and_grad,
) -> GradcheckReport:
    """Check ``dJ/dtheta`` for every parameter tensor of ``model`` (and ``dJ/dX``) by finite differences.

    ``J = loss(model(X), y) + l2 / (2m) sum W^2`` exactly as the trainer
    computes it (:func:`glassnet.nn.objective.value_and_grad`).  The model is
    copied and cast to ``dtype`` (float64 by default); the original is not
    touched.  Tensors larger than ``max_entries`` are checked on a random
    sample of entries drawn with ``seed``.  With ``training=True`` stochastic
    layers (Dropout) draw the same mask at every evaluation.

    X : (m, n_in); y : (m,) labels or (m, k) targets.  Returns a
    :class:`GradcheckReport`; ``raise_on_failure=True`` raises
    :class:`~glassnet.errors.GradcheckError` carrying the report instead.
    ``value_and_grad_fn(model, loss, X, y, *, l2, training, rng, need_input_grad) -> (J, dJ/dX)``
    replaces the objective: its gradients (left in ``model.grads()``) are checked against finite
    differences of *its own* J, so a J with a planted bug fails as it should.  A learner's own
    ``cost_and_grad(params, ...)`` is checked by :func:`glassnet.check_function`.
    """
    dtype, step, rtol, tiny_scale = _settings(dtype, step, rtol)
    net = model.astype(dtype)
    X = np.array(X, dtype=dtype)  # a private copy: the input entries get perturbed
    rng = np.random.default_rng(seed)

    def fresh_rng() -> np.random.Generator | None:
        return np.random.default_rng(seed) if training else None

    kinked = [
        (i, layer.fn.kinks) for i, layer in enumerate(net.layers) if isinstance(layer, Activation) and layer.fn.kinks
    ]

    frozen = {name: a.copy() for name, a in net.state().items()}

    def evaluate() -> tuple[float, list[np.ndarray]]:
        captured: list[np.ndarray] = []
        outputs, _ = net.forward(X, training=training, rng=fresh_rng(), capture=captured)
        net.set_state(frozen)  # a training forward moved the running statistics: put them back
        if value_and_grad_fn is value_and_grad:
            value = loss(outputs, y)[0]
            if l2:
                value += l2_penalty(net, l2, X.shape[0], loss.reduction)
        else:  # differentiate the very J whose gradient is checked, never glassnet's own in its place
            value = value_and_grad_fn(net, loss, X, y, l2=l2, training=training, rng=fresh_rng(),
                                      need_input_grad=False)[0]
            net.set_state(frozen)
        pre = [(X if i == 0 else captured[i - 1], kinks) for i, kinks in kinked]
        return value, _kink_regions(pre)

    value, grad_X = value_and_grad_fn(
        net, loss, X, y, l2=l2, training=training, rng=fresh_rng(), need_input_grad=check_input
    )
    net.set_state(frozen)
    analytic = {name: g.copy() for name, g in net.grads().items()}
    base_value, base_regions = evaluate()
    tiny = tiny_scale * max(1.0, abs(base_value))
    common = dict(step=step, rtol=rtol, tiny=tiny, max_entries=max_entries, rng=rng, n_worst=n_worst,
                  rounding=_rounding(dtype, base_value))

    tensors: list[TensorCheck] = []
    for name, array in net.params().items():
        i = int(name.split(".")[0])
        tensors.append(
            _check_tensor(name, i, net.layers[i].describe(), array, analytic[name], evaluate, base_regions, **common)
        )
    if check_input:
        if grad_X is None:
            raise ConfigError("value_and_grad_fn returned no input gradient although check_input=True")
        tensors.append(_check_tensor("input", None, "-", X, grad_X.copy(), evaluate, base_regions, **common))
    report = GradcheckReport(tensors, dtype, step, rtol, float(value), subject=net.describe(), training=training)
    return report.raise_if_failed() if raise_on_failure else report


def check_layer(
    layer: Layer,
    input_shape: tuple[int, int],
    *,
    dtype: np.dtype | type = np.float64,
    step: float | None = None,
    rtol: float | None = None,
    max_entries: int | None = 200,
    seed: int = 0,
    training: bool = False,
    X: np.ndarray | None = None,
    n_worst: int = 5,
    raise_on_failure: bool = False,
) -> GradcheckReport:
    """Check one layer's backward: its input gradient and every parameter gradient.

    The layer (a copy, cast to ``dtype``) is given ``X : input_shape`` drawn
    from N(0, 1) with ``seed`` (or your ``X``), and differentiated through
    ``J = sum(Y * R)`` for a fixed random ``R`` of the output's shape, so
    ``dJ/dY = R`` and the backward is exercised with a generic upstream
    gradient.  A layer without parameters is initialised with ``seed`` first.

    ``training=True`` runs the layer's training forward: for BatchNorm the
    statistics of this very batch, so ``J`` is one function of the whole batch
    and the input gradient must carry the cross-sample terms.  ``training=False``
    checks against the frozen running statistics.  Either way the layer's state
    is restored after every evaluation.

    Works for any object following the :class:`~glassnet.nn.layers.Layer`
    protocol, so use it on the layers you write yourself.
    """
    dtype, step, rtol, tiny_scale = _settings(dtype, step, rtol)
    check_protocol(layer)
    layer = copy.deepcopy(layer)
    rng = np.random.default_rng(seed)
    if not layer.initialized:
        layer.initialize(rng, dtype)
    else:
        layer.astype(dtype)
    X = rng.standard_normal(input_shape).astype(dtype) if X is None else np.array(X, dtype=dtype)
    kinks = layer.fn.kinks if isinstance(layer, Activation) else ()

    def fresh_rng() -> np.random.Generator:
        return np.random.default_rng(seed + 1)

    frozen = {name: a.copy() for name, a in getattr(layer, "state", {}).items()}

    def restore_state() -> None:
        for name, a in frozen.items():
            layer.state[name][...] = a

    Y, backprop = run_forward(layer, X, training=training, rng=fresh_rng())
    restore_state()
    R = np.random.default_rng(seed + 2).standard_normal(Y.shape).astype(dtype)

    def evaluate() -> tuple[float, list[np.ndarray]]:
        out = layer.forward(X, training=training, rng=fresh_rng())[0]
        restore_state()  # every evaluation sees the statistics the analytic pass saw
        return float(np.sum(out * R)), _kink_regions([(X, kinks)] if kinks else [])

    grad_X = backprop(R, need_input_grad=True)
    if grad_X is None or np.shape(grad_X) != X.shape:
        raise GradcheckError(
            f"{layer.describe()}: backprop returned an input gradient of shape {np.shape(grad_X)}, expected {X.shape}"
        )
    analytic = {name: g.copy() for name, g in layer.grads.items()}
    base_value, base_regions = evaluate()
    tiny = tiny_scale * max(1.0, abs(base_value))
    common = dict(step=step, rtol=rtol, tiny=tiny, max_entries=max_entries, rng=rng, n_worst=n_worst,
                  rounding=_rounding(dtype, base_value))
    tensors = [
        _check_tensor(name, 0, layer.describe(), array, analytic[name], evaluate, base_regions, **common)
        for name, array in layer.params.items()
    ]
    tensors.append(_check_tensor("input", 0, layer.describe(), X, np.asarray(grad_X), evaluate, base_regions, **common))
    report = GradcheckReport(tensors, dtype, step, rtol, base_value, subject=layer.describe(), training=training)
    return report.raise_if_failed() if raise_on_failure else report


def check_loss(
    loss: Loss,
    outputs: np.ndarray,
    targets: np.ndarray,
    *,
    dtype: np.dtype | type = np.float64,
    step: float | None = None,
    rtol: float | None = None,
    max_entries: int | None = 200,
    seed: int = 0,
    n_worst: int = 5,
    raise_on_failure: bool = False,
) -> GradcheckReport:
    """Check a loss's gradient against finite differences of its own value.

    outputs : (m, k) (logits, probabilities or log-probabilities as the loss
    expects); targets : (m,) or (m, k).  Probabilities are perturbed by a
    relative step (``h |o|``) so the stencil never leaves (0, 1].  Catches a loss whose reported value
    and gradient disagree, e.g. one that clips ``log(p)`` in the value but not
    in the gradient, or divides one of them by ``m`` and not the other.
    """
    dtype, step, rtol, tiny_scale = _settings(dtype, step, rtol)
    outputs = np.array(outputs, dtype=dtype)
    value, grad = loss(outputs, targets)
    grad = np.array(grad, dtype=np.float64)
    if grad.shape != outputs.shape:
        raise GradcheckError(f"{type(loss).__name__}: gradient shape {grad.shape} differs from outputs {outputs.shape}")

    def evaluate() -> tuple[float, list[np.ndarray]]:
        return float(loss(outputs, targets)[0]), []

    tiny = tiny_scale * max(1.0, abs(value))
    rounding = _rounding(dtype, value)
    check = _check_tensor(
        "outputs", None, type(loss).__name__, outputs, grad, evaluate, [],
        step=step, rtol=rtol, tiny=tiny, max_entries=max_entries, rng=np.random.default_rng(seed), n_worst=n_worst,
        relative_step=loss.expects == "probs", rounding=rounding,
    )
    report = GradcheckReport([check], dtype, step, rtol, float(value), subject=repr(loss))
    return report.raise_if_failed() if raise_on_failure else report


def check_layers(
    model: Sequential,
    X: np.ndarray,
    *,
    dtype: np.dtype | type = np.float64,
    seed: int = 0,
    max_entries: int | None = 200,
    training: bool = False,
) -> list[tuple[int, GradcheckReport]]:
    """Check every layer of ``model`` on the input it really receives from ``X``.

    Where :func:`gradcheck` says which *tensors* disagree, this localises the
    bug: each layer is checked alone (:func:`check_layer`) on its actual
    input, so the one whose backward is wrong fails and the others pass, even
    a parameter-free layer such as a Softmax.  Returns ``[(layer index, report)]``.
    """
    net = model.astype(dtype)
    captured: list[np.ndarray] = []
    net.forward(np.asarray(X, dtype=net.dtype), training=training, rng=np.random.default_rng(seed), capture=captured)
    inputs = [np.asarray(X, dtype=net.dtype)] + captured[:-1]
    return [
        (i, check_layer(layer, inputs[i].shape, X=inputs[i], dtype=dtype, seed=seed, max_entries=max_entries, training=training))
        for i, layer in enumerate(net.layers)
    ]
