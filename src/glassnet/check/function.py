"""Check a learner's own ``cost_and_grad`` function: finite differences of *their* J against *their* gradient.

Most people who write backpropagation by hand never write a glassnet ``Layer``: they have a function like
Andrew Ng's ``nnCostFunction(nn_params, ..., X, y, lambda) -> (J, grad)``.  :func:`check_function` takes it
as it is::

    report = glassnet.check_function(cost_and_grad, params, X, y, lam, l2_arg="lam")
    print(report)            # per-tensor table, worst entries, and what the numbers say is wrong

``params`` is a dict of arrays, a list or tuple of arrays, or one flat 1-D vector; the function returns
``(J, grads)`` with ``grads`` in the same structure.  Every checked entry ``theta_k`` gets the fourth-order
central difference of the learner's J in float64 (as :mod:`glassnet.check.gradcheck` does), compared with
their ``grads`` entry by the relative error; big tensors are sampled.  A non-smooth point (relu at 0) shows
up as a numeric derivative that changes with the step: such an entry is re-measured with ``h/10`` and, if
the two disagree, skipped and counted rather than failed.

What the numbers mean (``report.findings``, one :class:`~glassnet.check.findings.Finding` each):

* a constant ratio numeric/analytic equal to m (the number of samples): J lacks the 1/m that the gradient
  has, or the reverse; -1: a sign flip; 2 or 1/2: a factor 1/2;
* with ``l2_arg`` (the name of lambda's argument) the check also runs at lambda = 0, and the L2 term of J
  and of the gradient are read from the differences: subtracted, missing 1/m or 1/2, biases regularised,
  present in one and not the other;
* when the parameters form an MLP (Ng's ``Theta_l (out, in + 1)``, ``W``/``b`` pairs, or a flat vector of
  either), :mod:`glassnet.check.forensics` rebuilds it and names the known mistake that reproduces the
  numbers, e.g. sigmoid's derivative in a tanh layer.
"""

from __future__ import annotations

import inspect
import linecache
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from glassnet.check.findings import Finding
from glassnet.check.forensics import Forensics, Layout, identify_mistakes
from glassnet.check.gradcheck import GradcheckReport, TensorCheck, _check_tensor, _settings
from glassnet.errors import ConfigError, GlassnetError

__all__ = ["check_function", "FunctionReport", "UserFunctionError"]

_GLASSNET = str(Path(__file__).resolve().parents[1])


class UserFunctionError(GlassnetError, ValueError):
    """The learner's function raised, returned the wrong structure or a non-finite J."""


# ----------------------------------------------------------------------------- the learner's structure
@dataclass
class _Params:
    """The learner's parameters as float64 arrays the checker perturbs in place, and how to hand them back."""

    kind: str  # "dict", "list", "tuple" or "flat"
    names: list[str]
    arrays: list[np.ndarray]
    keys: list[Any] = field(default_factory=list)

    @classmethod
    def of(cls, params: Any) -> "_Params":
        if isinstance(params, Mapping):
            keys = list(params)
            return cls("dict", [str(k) for k in keys], [_float64(params[k], f"params[{k!r}]") for k in keys], keys)
        if isinstance(params, (list, tuple)):
            if not params:
                raise ConfigError("params is empty: give a dict, a list or a flat vector of parameters")
            return cls(type(params).__name__, [f"params[{i}]" for i in range(len(params))],
                       [_float64(a, f"params[{i}]") for i, a in enumerate(params)])
        array = _float64(params, "params")
        if array.ndim != 1:
            raise ConfigError(f"params must be a dict of arrays, a list or tuple of arrays, or one flat 1-D vector; "
                              f"got an array of shape {array.shape}")
        return cls("flat", ["params"], [array])

    def build(self) -> Any:
        """The structure handed to the learner's function (the live arrays: perturbations show through)."""
        if self.kind == "dict":
            return dict(zip(self.keys, self.arrays))
        if self.kind == "flat":
            return self.arrays[0]
        return list(self.arrays) if self.kind == "list" else tuple(self.arrays)

    def gradients(self, grads: Any) -> list[np.ndarray]:
        """The learner's ``grads`` as a list parallel to ``arrays``, or a one-line error naming the mismatch."""
        if self.kind == "dict":
            if not isinstance(grads, Mapping):
                raise UserFunctionError(f"params is a dict, but grads is {type(grads).__name__}: return a dict with "
                                        f"the same keys ({', '.join(map(repr, self.keys))})")
            missing = [k for k in self.keys if k not in grads]
            if missing or len(grads) != len(self.keys):
                extra = [k for k in grads if k not in self.keys]
                raise UserFunctionError(f"grads has keys {list(grads)}, params has {self.keys}"
                                        + (f": missing {missing}" if missing else "") + (f", extra {extra}" if extra else ""))
            values = [grads[k] for k in self.keys]
        elif self.kind == "flat":
            if isinstance(grads, (list, tuple, Mapping)):
                raise UserFunctionError(f"params is one flat vector, but grads is a {type(grads).__name__} of "
                                        f"{len(grads)}: unroll the gradients the same way (np.concatenate of .ravel())")
            values = [grads]
        else:
            if isinstance(grads, Mapping) or not isinstance(grads, (list, tuple)):
                raise UserFunctionError(f"params is a {self.kind} of {len(self.arrays)} arrays, but grads is "
                                        f"{type(grads).__name__}")
            if len(grads) != len(self.arrays):
                raise UserFunctionError(f"grads has {len(grads)} arrays, params has {len(self.arrays)}")
            values = list(grads)
        out = []
        for name, array, g in zip(self.names, self.arrays, values):
            g = np.asarray(g)
            if g.dtype.kind not in "fiu":
                raise UserFunctionError(f"the gradient for {name} is not numeric (dtype {g.dtype})")
            if g.shape != array.shape:
                raise UserFunctionError(f"the gradient for {name} has shape {g.shape}, the parameter has {array.shape}"
                                        + _shape_hint(array.shape, g.shape))
            out.append(g.astype(np.float64))
        return out


def _shape_hint(want: tuple[int, ...], got: tuple[int, ...]) -> str:
    if len(want) == 2 and got == want[::-1]:
        return (": the transpose. A weight gradient is a^T delta (inputs x outputs) for W (in, out), "
                "delta^T a for Theta (out, in + 1): a transposed weight gradient")
    if len(want) == 1 and len(got) == 2 and got[1] == want[0]:
        return (f": one row per sample. A bias gradient is summed over the batch: sum(delta, axis=0), "
                f"not the {got[0]} per-sample deltas")
    if len(want) == 1 and got == ():
        return ": a scalar. A bias gradient has one entry per unit: sum(delta, axis=0), not sum(delta) or mean(delta)"
    return ""


def _float64(a: Any, name: str) -> np.ndarray:
    try:
        array = np.array(a, dtype=np.float64, order="C")  # C order: reshape(-1) is a view the checker perturbs
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name} is not a numeric array ({type(a).__name__}): {err}") from None
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"{name} holds NaN or inf: the gradient check needs finite parameters")
    return array


def _where_in_user_code(tb) -> str:
    """``file:line: source`` of the deepest frame outside glassnet (the learner's own line)."""
    frames = [f for f in traceback.extract_tb(tb) if not f.filename.startswith(_GLASSNET)]
    if not frames:
        return ""
    f = frames[-1]
    line = (f.line or linecache.getline(f.filename, f.lineno)).strip()
    return f" (at {f.filename}:{f.lineno}: {line})"


def _call(fn: Callable, params: _Params, args: tuple, kwargs: dict) -> tuple[float, Any]:
    """Call the learner's function once; its exceptions and wrong returns become one-line errors."""
    try:
        result = fn(params.build(), *args, **kwargs)
    except GlassnetError:
        raise
    except Exception as err:  # the learner's own code failed: say where, in their file
        raise UserFunctionError(f"your function raised {type(err).__name__}: {err}"
                                f"{_where_in_user_code(sys.exc_info()[2])}") from err
    if not isinstance(result, tuple) or len(result) != 2:
        what = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise UserFunctionError(f"your function must return (J, grads), it returned {what}")
    J, grads = result
    try:
        value = float(np.asarray(J, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        raise UserFunctionError(f"J must be one number, got {type(J).__name__} of shape {np.shape(J)}") from None
    if not np.isfinite(value):
        raise UserFunctionError(
            f"J is {value} at these parameters: a log of 0 (log(softmax) or log(1 - h) underflowing)? Compute "
            "log-probabilities as z - logsumexp(z) (log-softmax) and log(sigmoid(z)) as -softplus(-z); "
            "see glassnet explain softmax-cross-entropy")
    return value, grads


# ----------------------------------------------------------------------------- the report
@dataclass
class FunctionReport:
    """The finite-difference check of a learner's function, with what the numbers say is wrong."""

    gradcheck: GradcheckReport
    findings: list[Finding]
    #: the check at lambda = 0 when ``l2_arg`` was given and lambda was not 0
    at_zero_l2: GradcheckReport | None = None
    layout: Layout | None = None
    n_samples: int | None = None
    #: the network J identified ("784-25-10, tanh hidden, softmax output"), or ""
    network: str = ""

    @property
    def passed(self) -> bool:
        """True when every entry agrees with finite differences and no known mistake was recognised."""
        at_zero = self.at_zero_l2 is None or self.at_zero_l2.passed
        return self.gradcheck.passed and at_zero and not self.findings

    def __str__(self) -> str:
        lines = [str(self.gradcheck)]
        if self.at_zero_l2 is not None:
            lines.append(f"at lambda = 0: {'PASSED' if self.at_zero_l2.passed else 'FAILED'} "
                         f"(max rel error {self.at_zero_l2.max_rel_error:.2e})")
        if self.network:
            lines.append(f"recognised: an MLP {self.network}; {self.layout.description}")
        elif self.layout is not None:
            lines.append(f"recognised: an MLP {'-'.join(map(str, self.layout.sizes))}; {self.layout.description}")
        for f in self.findings:
            lines.append(str(f))
        lines.append("PASSED" if self.passed else
                     f"FAILED: {len(self.findings)} finding(s)" if self.findings else "FAILED")
        return "\n".join(lines)


def _bind_lambda(fn: Callable, l2_arg: str, args: tuple, kwargs: dict) -> tuple[float, Callable[[float], tuple[tuple, dict]]]:
    """lambda's value in this call, and a function giving the call's (args, kwargs) with another lambda."""
    if l2_arg in kwargs:
        def with_lam(lam: float) -> tuple[tuple, dict]:
            return args, {**kwargs, l2_arg: lam}
        return float(kwargs[l2_arg]), with_lam
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        names = []
    if l2_arg not in names[1:]:
        raise ConfigError(f"l2_arg={l2_arg!r} is neither a keyword argument of this call nor a parameter of the "
                          f"function ({', '.join(names) or 'no signature'})")
    position = names.index(l2_arg) - 1  # params comes first
    if position >= len(args):
        raise ConfigError(f"l2_arg={l2_arg!r}: the call gives no value for it (pass it in args or kwargs)")

    def with_lam(lam: float) -> tuple[tuple, dict]:
        return args[:position] + (lam,) + args[position + 1:], kwargs
    return float(args[position]), with_lam


def _data(args: tuple, kwargs: dict) -> tuple[np.ndarray | None, np.ndarray | None, list[int]]:
    """X (the first 2-D float array), y (the first array after it) and the plain integers among the arguments."""
    values = list(args) + list(kwargs.values())
    arrays = [v for v in values if isinstance(v, np.ndarray)]
    X = next((v for v in arrays if v.ndim == 2 and v.dtype.kind == "f"), None)
    y = None
    if X is not None:
        y = next((v for v in arrays if v is not X and v.ndim in (1, 2) and v.shape[0] == X.shape[0]), None)
    ints = [int(v) for v in values if isinstance(v, (int, np.integer)) and not isinstance(v, bool)]
    return X, y, ints


def _pieces(params: _Params, analytic: list[np.ndarray], layout: Layout | None, shapes) -> list[tuple[str, int, slice, tuple, str]]:
    """(name, array index, slice, shape, order) of each tensor to report: the layout's pieces of a flat vector."""
    if params.kind == "flat" and layout is not None:
        return [(p.name, 0, slice(p.start, p.stop), p.shape, p.order) for p in layout.pieces]
    if params.kind == "flat" and shapes:
        out, start = [], 0
        for i, shape in enumerate(shapes, start=1):
            size = int(np.prod(shape))
            out.append((f"params[{start}:{start + size}]", 0, slice(start, start + size), tuple(shape), "C"))
            start += size
        if start != params.arrays[0].size:
            raise ConfigError(f"shapes= adds up to {start} entries, params has {params.arrays[0].size}")
        return out
    return [(name, i, slice(None), a.shape, "C") for i, (name, a) in enumerate(zip(params.names, params.arrays))]


def _numeric_check(fn, params: _Params, args, kwargs, analytic: list[np.ndarray], J: float, layout, shapes, *,
                   step, rtol, tiny_scale, max_entries, seed, n_worst, subject: str) -> GradcheckReport:
    rng = np.random.default_rng(seed)
    tiny = tiny_scale * max(1.0, abs(J))
    rounding = float(np.finfo(np.float64).eps) * max(1.0, abs(J))

    def evaluate() -> tuple[float, list[np.ndarray]]:
        return _call(fn, params, args, kwargs)[0], []

    tensors: list[TensorCheck] = []
    for name, i, where, shape, order in _pieces(params, analytic, layout, shapes):
        flat = params.arrays[i].reshape(-1)[where]  # a view: perturbing it perturbs the learner's array
        grad = analytic[i].reshape(-1)[where]
        t = _check_tensor(name, None, "-", flat, grad, evaluate, [], step=step, rtol=rtol, tiny=tiny,
                          max_entries=max_entries, rng=rng, n_worst=n_worst, rounding=rounding)
        t = _remeasure_kinks(t, flat, grad, evaluate, J, step=step, rtol=rtol, tiny=tiny)
        tensors.append(_reshaped(t, shape, order))
    return GradcheckReport(tensors, np.dtype(np.float64), step, rtol, J, subject=subject)


def _remeasure_kinks(t: TensorCheck, flat: np.ndarray, grad: np.ndarray, evaluate, J: float, *, step, rtol, tiny
                     ) -> TensorCheck:
    """Entries that fail are measured again with h/10: if the two numeric derivatives disagree the function is not
    smooth there (a kink), and the entry is skipped and counted instead of failed."""
    if t.passed:
        return t
    numeric = t.numeric.copy()
    analytic = t.analytic.copy()
    checked = ~np.isnan(numeric)
    denom = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), tiny)
    failing = np.flatnonzero(checked & (np.abs(analytic - numeric) / np.where(checked, denom, 1) > rtol))
    kinks = 0
    for k in failing:
        fine = _check_tensor("", None, "", flat[k:k + 1], grad[k:k + 1], evaluate, [], step=step / 10, rtol=rtol,
                             tiny=tiny, max_entries=None, rng=np.random.default_rng(0), n_worst=0)
        n_fine = float(fine.numeric[0])
        # rounding alone moves the h/10 estimate by about eps |J| / (h/10); truncation by O(h^4): a larger change
        # means the h stencil straddled a point where the function is not smooth
        rounding = 100 * np.finfo(np.float64).eps * max(1.0, abs(J)) / (step / 10)
        if abs(n_fine - numeric[k]) > max(rtol * max(abs(n_fine), abs(numeric[k])), rounding):
            numeric[k] = np.nan
            analytic[k] = np.nan
            kinks += 1
    if not kinks:
        return t
    keep = ~np.isnan(numeric)
    a, n = analytic[keep], numeric[keep]
    rel = np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), tiny)
    max_rel = float(rel.max()) if rel.size else 0.0
    nn = float(n @ n)
    worst = [e for e in t.worst if not np.isnan(numeric[e.index[0]])]
    return TensorCheck(t.name, t.layer, t.layer_desc, t.shape, int(keep.sum()), t.n_kink_skipped + kinks,
                       float(np.sqrt(a @ a)), float(np.sqrt(nn)),
                       float(a @ n) / nn if nn > 0 else 1.0, max_rel, bool(max_rel <= rtol), analytic, numeric, worst)


def _reshaped(t: TensorCheck, shape: tuple[int, ...], order: str) -> TensorCheck:
    """A check made on a 1-D slice, reported in the piece's own shape and indices."""
    for e in t.worst:
        e.index = tuple(int(i) for i in np.unravel_index(e.index[0], shape, order=order))
    t.shape = tuple(shape)
    t.analytic = t.analytic.reshape(shape, order=order)
    t.numeric = t.numeric.reshape(shape, order=order)
    return t


# ----------------------------------------------------------------------------- black-box diagnosis
def _ratio_findings(report: GradcheckReport, m: int | None) -> list[Finding]:
    failing = report.failing()
    if not failing:
        return []
    out: list[Finding] = []
    passing = [t.name for t in report.tensors if t.passed]
    if passing:
        out.append(Finding("which", f"{', '.join(t.name for t in failing)} fail; {', '.join(passing)} pass",
                           "each tensor compared with finite differences of your J",
                           "look at the part of your backward that computes the failing tensors", where="gradient"))
    ratios = []
    for t in failing:
        ok = ~np.isnan(t.numeric) & ~np.isnan(t.analytic)
        a, n = t.analytic[ok], t.numeric[ok]
        if not a.size or not np.any(a):
            return out
        c = float(n @ a) / float(a @ a)  # numeric ~ c * analytic
        if np.max(np.abs(n - c * a)) > 1e-5 * np.max(np.abs(n)):
            return out  # not proportional: a ratio says nothing
        ratios.append(c)
    c = float(np.median(ratios))
    if any(abs(r - c) > 1e-4 * abs(c) for r in ratios):
        return out
    near = lambda x: abs(c - x) <= 1e-4 * abs(x)  # noqa: E731
    evidence = f"numeric / analytic = {c:.6g} in every failing tensor"
    if m and near(m):
        out.append(Finding("j_missing_1/m", f"ratio {c:.6g} = m: your J lacks the 1/m that your gradient has",
                           evidence + f", and m = {m} samples", "divide the data term of J by m", where="J"))
    elif m and near(1 / m):
        out.append(Finding("grad_missing_1/m", f"ratio 1/{m} = 1/m: your gradient lacks the 1/m that your J has",
                           evidence + f", and m = {m} samples", "divide the gradients by m", where="gradient"))
    elif near(-1):
        out.append(Finding("sign", "sign flip: your gradient is minus the derivative of your J", evidence,
                           "check the sign of J and of delta = p - y (not y - p)", where="gradient"))
    elif near(2) or near(0.5):
        out.append(Finding("half", f"a factor {c:g}: a 1/2 present in one of J and the gradient but not the other",
                           evidence, "e.g. J = (1/2m) sum(err^2) has gradient err / m", where="gradient"))
    else:
        out.append(Finding("scale", f"your gradient is the derivative of your J divided by {c:.6g}", evidence,
                           "look for a constant factor in J or in the gradient", where="gradient"))
    return out


def _l2_findings(fn, params: _Params, with_lam, lam: float, m: int | None, layout: Layout | None) -> list[Finding]:
    """Read the L2 term of J and of the gradient from the differences between lambda and lambda = 0."""
    args1, kw1 = with_lam(lam)
    args0, kw0 = with_lam(0.0)
    J1, g1 = _call(fn, params, args1, kw1)
    J0, g0 = _call(fn, params, args0, kw0)
    g1, g0 = params.gradients(g1), params.gradients(g0)
    if layout is not None:
        canon = layout.canonical(params.arrays)
        d_canon = [(gw1 - gw0, gb1 - gb0) for (gw1, gb1), (gw0, gb0) in zip(layout.canonical(g1), layout.canonical(g0))]
        s_w = sum(float(np.sum(W * W)) for W, _ in canon)
        s_all = s_w + sum(float(np.sum(b * b)) for _, b in canon)
        W_all = [W for W, _ in canon] + [b for _, b in canon]
        D_all = [d for d, _ in d_canon] + [d for _, d in d_canon]
        is_weight = [np.ones_like(W, dtype=bool) for W, _ in canon] + [np.zeros_like(b, dtype=bool) for _, b in canon]
    else:  # unknown layout: every entry is treated as a weight, biases cannot be told apart
        W_all = list(params.arrays)
        D_all = [a - b for a, b in zip(g1, g0)]
        is_weight = [np.ones_like(a, dtype=bool) for a in W_all]
        s_w = s_all = sum(float(np.sum(a * a)) for a in W_all)
    mm = m or 1
    P = J1 - J0
    found: list[Finding] = []
    # J's L2 term: sign x scale x which entries
    j_forms = {("+", "1/(2m)", "W"): lam * s_w / (2 * mm)}
    j_forms.update({(sg, sc, ent): (1 if sg == "+" else -1) * lam * {"1/(2m)": 1 / (2 * mm), "1/2": 0.5, "1/m": 1 / mm,
                                                                        "1": 1.0}[sc] * (s_w if ent == "W" else s_all)
                    for sg in "+-" for sc in ("1/(2m)", "1/2", "1/m", "1") for ent in ("W", "W and b")})
    j_forms[("none", "", "")] = 0.0
    j_match = [k for k, v in j_forms.items() if abs(P - v) <= 1e-8 * max(abs(P), abs(v), 1e-300)]
    g_forms = {}
    for sg in "+-":
        for sc, factor in (("1/m", 1 / mm), ("1", 1.0), ("2/m", 2 / mm)):
            for ent in ("W", "W and b"):
                g_forms[(sg, sc, ent)] = [(1 if sg == "+" else -1) * lam * factor * a * (w if ent == "W" else 1)
                                          for a, w in zip(W_all, is_weight)]
    g_forms[("none", "", "")] = [np.zeros_like(a) for a in W_all]
    scale = max(float(np.max(np.abs(d))) for d in D_all) if D_all else 0.0
    g_match = [k for k, v in g_forms.items()
               if max(float(np.max(np.abs(d - c))) for d, c in zip(D_all, v)) <= 1e-8 * max(scale, 1e-300)]
    biases = layout is not None
    found += _describe_l2("J", j_match, ("+", "1/(2m)", "W"), biases, lam, P, j_forms)
    found += _describe_l2("gradient", g_match, ("+", "1/m", "W"), biases, lam, None, None)
    return found


def _describe_l2(part: str, matches, right, biases: bool, lam: float, P, forms) -> list[Finding]:
    right_text = "lambda/(2m) sum(W^2)" if part == "J" else "lambda W / m"
    if not matches:
        return [Finding(f"l2_{part.lower()}_unknown", f"the L2 term of your {part} matches no known form",
                        f"changing lambda from 0 to {lam:g} changed {part} in a way no sign, 1/m, 1/2 or bias "
                        "variant of the L2 term explains", f"the L2 term is {right_text}", where=part)]
    if right in matches or (not biases and (right[0], right[1], "W and b") in matches):
        return []
    sign, scale, entries = min(matches, key=lambda k: (k[2] != "W", k[1] != right[1], k[0] != "+"))
    code = f"l2_{'j' if part == 'J' else 'grad'}"
    if sign == "none":
        other = "your gradient" if part == "J" else "J"
        return [Finding(f"{code}_absent", f"the L2 term is missing from your {part}",
                        f"{part} does not change with lambda (0 -> {lam:g})",
                        f"add {right_text} to {part}, as {other} has it", where=part)]
    out = []
    if sign == "-":
        out.append(Finding(f"{code}_subtracted", f"the L2 term is subtracted from your {part}",
                           f"{part}(lambda) - {part}(0) = -(expected)", f"add {right_text}; do not subtract it", where=part))
    if scale != right[1]:
        what = {("J", "1/2"): "lacks the 1/m", ("J", "1/m"): "lacks the 1/2", ("J", "1"): "lacks both 1/m and 1/2",
                ("gradient", "1"): "lacks the 1/m", ("gradient", "2/m"): "is doubled (the derivative of a J without its 1/2)"}
        out.append(Finding(f"{code}_scale", f"the L2 term of your {part} {what.get((part, scale), 'has scale ' + scale)}",
                           f"it is {scale} lambda sum(W^2)" if part == "J" else f"it is {scale} lambda W",
                           f"the L2 term is {right_text}", where=part))
    if entries != "W" and biases:
        out.append(Finding(f"{code}_biases", f"the L2 term of your {part} regularises the biases",
                           "the bias column (or b) changes with lambda", "leave the biases out of the L2 term", where=part))
    return out


# ----------------------------------------------------------------------------- public entry point
def check_function(fn: Callable[..., tuple[Any, Any]], params: Any, *args: Any, l2_arg: str | None = None,
                   n_samples: int | None = None, shapes: Sequence[tuple[int, ...]] | None = None,
                   max_entries: int | None = 200, seed: int = 0, step: float | None = None, rtol: float | None = None,
                   n_worst: int = 5, **kwargs: Any) -> FunctionReport:
    """Check ``fn(params, *args, **kwargs) -> (J, grads)`` by finite differences of its own J, in float64.

    params : dict of arrays, list/tuple of arrays, or one flat 1-D vector; ``grads`` in the same structure.
    l2_arg : the name of lambda's argument (in ``kwargs`` or the function's signature): the check also runs at
        lambda = 0 and names the L2 mistake from the values.
    n_samples : m, for the ratio diagnosis (default: the leading dimension of the first 2-D array argument).
    shapes : the shapes of the pieces of a flat vector, to report them separately (else the layout is
        recognised when it is an MLP's).
    max_entries : entries checked per tensor (a random sample drawn with ``seed`` beyond that).

    The learner's arrays are copied to float64 and never modified.  Returns a :class:`FunctionReport`:
    ``passed``, the per-tensor ``gradcheck`` table and the ``findings``.  Raises :class:`UserFunctionError`
    (one line) when the function raises, returns the wrong structure or a non-finite J.
    """
    dtype, step, rtol, tiny_scale = _settings(np.float64, step, rtol)
    p = _Params.of(params)
    J, grads = _call(fn, p, args, kwargs)
    analytic = p.gradients(grads)
    X, y, ints = _data(args, kwargs)
    m = n_samples or (X.shape[0] if X is not None else None)
    lam, with_lam = (_bind_lambda(fn, l2_arg, args, kwargs) if l2_arg else (0.0, None))
    forensics: Forensics = identify_mistakes(p.names, p.arrays, analytic, J, X, y, lam=lam, hints=ints, shapes=shapes)
    common = dict(step=step, rtol=rtol, tiny_scale=tiny_scale, max_entries=max_entries, seed=seed, n_worst=n_worst)
    subject = getattr(fn, "__name__", "your function")
    report = _numeric_check(fn, p, args, kwargs, analytic, J, forensics.layout, shapes, subject=subject, **common)
    findings: list[Finding] = []
    at_zero = None
    if with_lam is not None and lam != 0:
        args0, kw0 = with_lam(0.0)
        J0, g0 = _call(fn, p, args0, kw0)
        at_zero = _numeric_check(fn, p, args0, kw0, p.gradients(g0), J0, forensics.layout, shapes,
                                 subject=subject + " at lambda = 0", **common)
        findings += _ratio_findings(at_zero, m)
        if at_zero.passed:  # the data part is right: whatever fails at lambda is the L2 term
            findings += [f for f in _ratio_findings(report, m) if f.code == "which"]
        findings += _l2_findings(fn, p, with_lam, lam, m, forensics.layout)
    else:
        findings += _ratio_findings(report, m)
    findings = _merge(findings, forensics.findings, report.passed and (at_zero is None or at_zero.passed))
    return FunctionReport(report, findings, at_zero, forensics.layout, m, forensics.network)


def _merge(black_box: list[Finding], named: list[Finding], numerically_passed: bool) -> list[Finding]:
    """The black-box findings, then the catalogue's named mistakes (a finding of both kinds for the same
    mistake is kept once, the named one); "nothing matches" only matters when the check failed."""
    named = [f for f in named if not (f.code == "no_match" and numerically_passed)]
    codes = {f.code for f in named}
    same = {"j_missing_1/m": "j_missing_1/m", "grad_missing_1/m": "grad_missing_1/m",
            "l2_j_subtracted": "l2_j_subtracted", "l2_grad_subtracted": "l2_grad_subtracted",
            "l2_j_absent": "l2_j_absent", "l2_grad_absent": "l2_grad_absent", "l2_j_biases": "l2_j_biases",
            "l2_grad_biases": "l2_grad_biases"}
    kept = [f for f in black_box if same.get(f.code) not in codes]
    if any(f.code not in ("no_match", "ambiguous") for f in named):
        kept = [f for f in kept if f.code != "l2_j_scale" or not codes & {"l2_j_missing_1/m", "l2_j_missing_1/2"}]
        kept = [f for f in kept if f.code != "l2_grad_scale" or not codes & {"l2_grad_missing_1/m", "l2_grad_doubled"}]
    return kept + named
