"""Mistake forensics for a learner's own multilayer perceptron: which known mistake reproduces their numbers.

A learner's ``cost_and_grad(params, X, y, lambda) -> (J, grads)`` is a black box, but when its parameters
form an MLP glassnet can rebuild the network with the learner's own weights, compute J and the gradient
the way the formulas say, and compute them again with each known mistake planted.  A mistake (or a
combination of them) is named only when it reproduces the learner's J or gradient to float64 rounding
(relative ``MATCH_RTOL``); when nothing matches, that is said, and nothing is guessed.

The network, in glassnet's canonical form (``X : (m, n_0)``; layer l has ``W_l : (n_{l-1}, n_l)``,
``b_l : (n_l,)``)::

    z_l = a_{l-1} W_l + b_l,   a_l = f(z_l) for hidden layers,   output softmax(z_L) or sigmoid(z_L)
    J   = -(1/m) sum(Y * log p)              (softmax with cross-entropy)
        = -(1/m) sum(Y log h + (1-Y) log(1-h))  (sigmoid outputs with binary cross-entropy, Ng's ex4)
          + lambda/(2m) sum_l sum(W_l^2)        (L2 on the weights, not the biases)
    delta_L = p - Y,   delta_l = (delta_{l+1} W_{l+1}^T) * f'(z_l)
    dJ/dW_l = a_{l-1}^T delta_l / m + lambda W_l / m,   dJ/db_l = sum_rows(delta_l) / m

The layouts recognised (``LAYOUTS``): Andrew Ng's ``Theta_l : (n_l, n_{l-1} + 1)`` with the bias in column 0,
glassnet's ``W (in, out)`` + ``b (out,)`` pairs, and a flat vector of either (row-major, or column-major as
Octave's ``Theta1(:)`` unrolls it).  The catalogue of mistakes is ``MISTAKES``: a new one is one entry.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from glassnet.check.findings import Finding
from glassnet.core.activations import ACTIVATIONS, ActivationFunction
from glassnet.core.numerics import log_sigmoid, log_softmax, sigmoid, softmax

__all__ = ["MATCH_RTOL", "MISTAKES", "LAYOUTS", "Network", "Mistake", "recognise", "identify_mistakes"]

#: a candidate reproduces the learner's numbers when it agrees to this relative precision (float64)
MATCH_RTOL = 1e-8

Canonical = list[tuple[np.ndarray, np.ndarray]]  # [(W (in, out), b (out,)), ...]


# ----------------------------------------------------------------------------- layouts
@dataclass(frozen=True)
class Piece:
    """One parameter tensor inside the learner's structure: which array, which slice of it, its shape."""

    name: str
    array: int  # index into the learner's list of arrays
    start: int
    stop: int
    shape: tuple[int, ...]
    order: str  # "C" or "F": how the slice is reshaped


@dataclass(frozen=True)
class Layout:
    """How the learner's arrays hold the layers: ``kind`` ("ng" or "wb") and one or two pieces per layer."""

    kind: str
    description: str
    pieces: tuple[Piece, ...]
    sizes: tuple[int, ...]  # n_0, n_1, ..., n_L

    def _piece(self, arrays: Sequence[np.ndarray], p: Piece) -> np.ndarray:
        return np.asarray(arrays[p.array], dtype=np.float64).reshape(-1)[p.start:p.stop].reshape(p.shape, order=p.order)

    def canonical(self, arrays: Sequence[np.ndarray]) -> Canonical:
        """The learner's parameters (or gradients: the same structure) as ``[(W (in, out), b (out,))]``."""
        values = [self._piece(arrays, p) for p in self.pieces]
        if self.kind == "ng":
            return [(theta[:, 1:].T, theta[:, 0]) for theta in values]
        return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]

    def tensor_of(self, layer: int, part: str) -> str:
        """The learner's name for layer ``layer``'s ``"W"`` or ``"b"``."""
        if self.kind == "ng":
            return self.pieces[layer].name + (" (bias column)" if part == "b" else "")
        return self.pieces[2 * layer + (part == "b")].name


def _chain(shapes: Sequence[tuple[int, ...]], kind: str) -> tuple[int, ...] | None:
    """The layer sizes when the shapes form an MLP in layout ``kind``, else None."""
    if kind == "ng":
        if not shapes or any(len(s) != 2 or s[1] < 2 for s in shapes):
            return None
        sizes = [shapes[0][1] - 1] + [s[0] for s in shapes]
        return tuple(sizes) if all(s[1] - 1 == sizes[i] for i, s in enumerate(shapes)) else None
    if len(shapes) < 2 or len(shapes) % 2:
        return None
    sizes = [shapes[0][0]] if len(shapes[0]) == 2 else []
    for i in range(0, len(shapes), 2):
        w, b = shapes[i], shapes[i + 1]
        if len(w) != 2 or b != (w[1],) or w[0] != sizes[-1]:
            return None
        sizes.append(w[1])
    return tuple(sizes)


def _layouts_of_arrays(names: Sequence[str], shapes: Sequence[tuple[int, ...]]) -> Iterator[Layout]:
    for kind, desc in (("ng", "Theta_l of shape (out, in + 1), bias in column 0"), ("wb", "W (in, out) and b (out,) pairs")):
        sizes = _chain(shapes, kind)
        if sizes:
            pieces = tuple(Piece(n, i, 0, int(np.prod(s)), tuple(s), "C") for i, (n, s) in enumerate(zip(names, shapes)))
            yield Layout(kind, desc, pieces, sizes)


def _layouts_of_flat(length: int, sizes: tuple[int, ...]) -> Iterator[Layout]:
    """The readings of one flat vector as the layers of ``sizes``: Ng's Thetas (row- or column-major) or W, b pairs."""
    total = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    if total != length:
        return
    for order, unrolled in (("C", "row-major"), ("F", "column-major, as Octave's Theta(:)")):
        pieces, start = [], 0
        for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            pieces.append(Piece(f"Theta{l}", 0, start, start + b * (a + 1), (b, a + 1), order))
            start += b * (a + 1)
        yield Layout("ng", f"one flat vector of Theta_l (out, in + 1), {unrolled}", tuple(pieces), sizes)
    pieces, start = [], 0
    for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        pieces.append(Piece(f"W{l}", 0, start, start + a * b, (a, b), "C"))
        pieces.append(Piece(f"b{l}", 0, start + a * b, start + a * b + b, (b,), "C"))
        start += a * b + b
    yield Layout("wb", "one flat vector of W_l (in, out) then b_l (out,), row-major", tuple(pieces), sizes)


def recognise(names: Sequence[str], arrays: Sequence[np.ndarray], *, n_features: int | None,
              n_classes: Sequence[int], hints: Sequence[int] = (), shapes: Sequence[tuple[int, ...]] | None = None
              ) -> list[Layout]:
    """Every MLP layout the learner's arrays can be read as (several for one flat vector; J decides).

    ``n_features`` is X's width; ``n_classes`` the candidate output sizes (from the labels); ``hints`` other
    integers the function takes (Ng passes ``input_layer_size, hidden_layer_size, num_labels``); ``shapes``
    the learner's own statement of the pieces of a flat vector.
    """
    if len(arrays) == 1 and np.ndim(arrays[0]) == 1:
        length = int(np.size(arrays[0]))
        if shapes:
            out = []
            for kind in ("ng", "wb"):
                sizes = _chain([tuple(s) for s in shapes], kind)
                if sizes:
                    out += [lay for lay in _layouts_of_flat(length, sizes) if lay.kind == kind]
            return out
        if n_features is None:
            return []
        candidates: list[tuple[int, ...]] = []
        for k in n_classes:
            h, rest = divmod(length - k, n_features + 1 + k)  # one hidden layer: h (n + 1) + k (h + 1) = length
            if rest == 0 and h > 0:
                candidates.append((n_features, h, k))
            for h in hints:  # e.g. Ng's hidden_layer_size, for any number of layers given as hints is not tried
                if h > 0 and (n_features, h, k) not in candidates:
                    candidates.append((n_features, h, k))
        return [lay for sizes in candidates for lay in _layouts_of_flat(length, sizes)]
    layouts = list(_layouts_of_arrays(names, [tuple(np.shape(a)) for a in arrays]))
    return [lay for lay in layouts if n_features is None or lay.sizes[0] == n_features]


# ----------------------------------------------------------------------------- the network, right and wrong
@dataclass
class Network:
    """The learner's MLP in canonical form, with the data, ready to compute J and gradients with mistakes."""

    layers: Canonical
    X: np.ndarray
    Y: np.ndarray  # (m, k) one-hot targets
    hidden: ActivationFunction
    output: str  # "softmax" or "sigmoid"

    @property
    def m(self) -> int:
        return self.X.shape[0]

    def forward(self) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """Pre-activations z_l, activations a_l (a_0 = X) and the output logits."""
        a, zs = [self.X], []
        for W, b in self.layers[:-1]:
            zs.append(a[-1] @ W + b)
            a.append(self.hidden.forward(zs[-1]))
        W, b = self.layers[-1]
        return zs, a, a[-1] @ W + b

    def data_cost_sum(self, logits: np.ndarray) -> float:
        """``-sum(Y log p)`` or ``-sum(Y log h + (1 - Y) log(1 - h))``, summed over the m samples (no 1/m)."""
        if self.output == "softmax":
            return float(-np.sum(self.Y * log_softmax(logits)))
        return float(-np.sum(self.Y * log_sigmoid(logits) + (1 - self.Y) * log_sigmoid(-logits)))

    def backward(self, zs, a, logits, *, output_delta: str, derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]
                 ) -> Canonical:
        """Sums over the batch (no 1/m) of ``dJ_data/dW_l``, ``dJ_data/db_l`` with the given choices."""
        p = softmax(logits) if self.output == "softmax" else sigmoid(logits)
        delta = p - self.Y if output_delta == "p - y" else -self.Y * (1 - p)  # element-wise: (-Y/p) * p (1 - p)
        grads: Canonical = []
        for l in range(len(self.layers) - 1, -1, -1):
            grads.append((a[l].T @ delta, delta.sum(axis=0)))
            if l:
                delta = (delta @ self.layers[l][0].T) * derivative(zs[l - 1], a[l])
        return grads[::-1]


# ----------------------------------------------------------------------------- the catalogue
@dataclass(frozen=True)
class Mistake:
    """A known mistake: ``code``, what it is in words, and what to change."""

    code: str
    title: str
    fix: str


#: derivatives written in terms of the output a = f(z); applied to z instead, they are a classic mistake
OUTPUT_FORM: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "sigmoid": ("a (1 - a)", lambda a: a * (1 - a)),
    "tanh": ("1 - a^2", lambda a: 1 - a * a),
    "softsign": ("(1 - |a|)^2", lambda a: (1 - np.abs(a)) ** 2),
}

MISTAKES: dict[str, Mistake] = {m.code: m for m in [
    Mistake("j_missing_1/m", "J lacks the 1/m: the data term is summed over the m samples, not averaged",
            "divide the data term of J by m: J = -(1/m) sum(Y .* log(h)) + ..."),
    Mistake("grad_missing_1/m", "the gradient lacks the 1/m that J has",
            "divide every gradient by m (Delta_l / m), as J divides its sum by m"),
    Mistake("l2_j_subtracted", "the L2 term is subtracted from J", "add it: J += lambda/(2m) sum(W^2)"),
    Mistake("l2_j_missing_1/m", "the L2 term of J lacks the 1/m", "J += lambda/(2m) sum(W^2), with m the number of samples"),
    Mistake("l2_j_missing_1/2", "the L2 term of J lacks the 1/2", "J += lambda/(2m) sum(W^2): the 1/2 makes its gradient lambda W / m"),
    Mistake("l2_j_biases", "the L2 term of J regularises the biases", "leave the bias column (Theta(:, 1), or b) out of sum(W^2)"),
    Mistake("l2_j_absent", "J has no L2 term although the gradient has one", "add lambda/(2m) sum(W^2) to J"),
    Mistake("l2_grad_subtracted", "the L2 term is subtracted from the gradient", "add lambda W / m to the weight gradients"),
    Mistake("l2_grad_missing_1/m", "the L2 term of the gradient lacks the 1/m", "add lambda W / m, not lambda W"),
    Mistake("l2_grad_doubled", "the L2 term of the gradient is 2 lambda W / m (the derivative of J without its 1/2)",
            "with J += lambda/(2m) sum(W^2) the gradient term is lambda W / m"),
    Mistake("l2_grad_biases", "the L2 term of the gradient includes the biases",
            "set the bias column (or b) of the regularisation term to 0"),
    Mistake("l2_grad_absent", "the gradient has no L2 term although J has one", "add lambda W / m to the weight gradients"),
    Mistake("elementwise_softmax", "softmax's derivative is taken element-wise, o (1 - o), instead of the Jacobian",
            "softmax's derivative is the full Jacobian Diag(p) - p p^T; with cross-entropy the output delta is "
            "simply p - y (glassnet explain softmax-cross-entropy)"),
    Mistake("other_derivative", "the hidden delta uses another activation's derivative", "use the hidden activation's own derivative"),
    Mistake("input_form", "the derivative is written in terms of the input z where it needs the output a",
            "apply the formula to a = f(z), not to z"),
    Mistake("derivative_left_out", "the activation's derivative is left out of the hidden delta",
            "multiply the back-propagated delta by f'(z) element-wise"),
]}

#: L2 term of J: code -> (sign, scale in units of lambda/m, include biases); None: absent
_L2_J = {None: (1, 0.5, False), "l2_j_subtracted": (-1, 0.5, False), "l2_j_missing_1/m": (1, None, False),
         "l2_j_missing_1/2": (1, 1.0, False), "l2_j_biases": (1, 0.5, True), "l2_j_absent": (0, 0.5, False)}
_L2_GRAD = {None: (1, 1.0, False), "l2_grad_subtracted": (-1, 1.0, False), "l2_grad_missing_1/m": (1, None, False),
            "l2_grad_doubled": (1, 2.0, False), "l2_grad_biases": (1, 1.0, True), "l2_grad_absent": (0, 1.0, False)}


def _l2_j(layers: Canonical, code, lam: float, m: int) -> float:
    sign, scale, biases = _L2_J[code]
    s = sum(float(np.sum(W * W)) + (float(np.sum(b * b)) if biases else 0.0) for W, b in layers)
    return sign * lam * (0.5 if scale is None else scale / m) * s


def _l2_grad(layers: Canonical, code, lam: float, m: int) -> Canonical:
    sign, scale, biases = _L2_GRAD[code]
    c = sign * lam * (1.0 if scale is None else scale / m)
    return [(c * W, c * b if biases else np.zeros_like(b)) for W, b in layers]


def _derivatives(hidden: ActivationFunction) -> Iterator[tuple[str | None, str, Callable]]:
    """(mistake code, words, derivative(z, a)) for the hidden layers: the right one first."""
    yield None, "", lambda z, a: hidden.derivative(z)
    if hidden.name in OUTPUT_FORM:
        formula, f = OUTPUT_FORM[hidden.name]
        yield "input_form", f"{hidden.name}'s derivative {formula} evaluated at z instead of a", lambda z, a, f=f: f(z)
    yield "derivative_left_out", "no derivative factor", lambda z, a: np.ones_like(z)
    for name in sorted(ACTIVATIONS):
        if name != hidden.name:
            other = ACTIVATIONS[name]()
            yield "other_derivative", f"{name}'s derivative in a {hidden.name} hidden layer", \
                lambda z, a, other=other: other.derivative(z)


def _distinct(derivs, zs, a) -> list:
    """The derivative variants that differ on these pre-activations, the first of equal ones kept: identity's
    derivative is "left out", and an activation equal to the right one (swish with beta 1 and silu) is no mistake."""
    kept, seen = [], []
    for d in derivs:
        with np.errstate(all="ignore"):
            values = np.concatenate([d[2](z, a[l + 1]).ravel() for l, z in enumerate(zs)])
        if not any(np.allclose(values, v, rtol=1e-12, atol=1e-300) for v in seen):
            seen.append(values)
            kept.append(d)
    return kept


def _close(candidate: float | np.ndarray, actual: float | np.ndarray) -> float:
    """Relative distance ``max|c - a| / max|a|`` (0 when both are 0)."""
    c, a = np.asarray(candidate, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    diff = float(np.max(np.abs(c - a))) if a.size else 0.0
    return diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))


def _grad_distance(candidate: Canonical, actual: Canonical) -> float:
    return max(max(_close(cw, aw), _close(cb, ab)) for (cw, cb), (aw, ab) in zip(candidate, actual))


# ----------------------------------------------------------------------------- identification
@dataclass
class Match:
    """The combination of mistakes that reproduces the learner's J (``part="J"``) or gradient."""

    part: str
    layout: Layout
    net: Network
    codes: tuple[str, ...]
    words: str  # the derivative actually used, in words
    precision: float


def _targets(y: np.ndarray, k: int) -> Iterator[tuple[str, np.ndarray]]:
    """One-hot readings of the labels: 0-based, 1-based (Octave), or already one-hot."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == k:
        yield "one-hot", y.astype(np.float64)
        return
    y = y.reshape(-1)
    if not np.all(np.equal(np.mod(y, 1), 0)):
        return
    labels = y.astype(np.int64)
    for offset, name in ((0, "labels 0..k-1"), (1, "labels 1..k")):
        if labels.min() >= offset and labels.max() - offset < k:
            yield name, np.eye(k)[labels - offset]


def _match_j(layout: Layout, layers: Canonical, X, y, J: float, lam: float) -> list[Match]:
    found = []
    k = layout.sizes[-1]
    for (_, Y), output, name in itertools.product(list(_targets(y, k)), ("softmax", "sigmoid"), sorted(ACTIVATIONS)):
        if len(layers) == 1 and name != sorted(ACTIVATIONS)[0]:
            continue  # no hidden layer: the activation does not matter
        net = Network(layers, X, Y, ACTIVATIONS[name](), output)
        with np.errstate(all="ignore"):
            data = net.data_cost_sum(net.forward()[2])
        for j_code, l2_code in itertools.product((None, "j_missing_1/m"), _L2_J):
            if lam == 0 and l2_code is not None:
                continue
            value = data / (1 if j_code else net.m) + _l2_j(layers, l2_code, lam, net.m)
            precision = _close(value, J)
            if precision <= MATCH_RTOL:
                codes = tuple(c for c in (j_code, l2_code) if c)
                found.append(Match("J", layout, net, codes, "", precision))
    return found


def _match_grad(net: Network, layout: Layout, grads: Canonical, lam: float) -> list[Match]:
    found = []
    zs, a, logits = net.forward()
    deltas = ["p - y"] + (["elementwise"] if net.output == "softmax" else [])
    derivs = _distinct(list(_derivatives(net.hidden)), zs, a) if len(net.layers) > 1 else [(None, "", None)]
    for (d_code, words, derivative), output_delta in itertools.product(derivs, deltas):
        with np.errstate(all="ignore"):
            raw = net.backward(zs, a, logits, output_delta=output_delta, derivative=derivative)
        for g_code, l2_code in itertools.product((None, "grad_missing_1/m"), _L2_GRAD):
            if lam == 0 and l2_code is not None:
                continue
            scale = 1.0 if g_code else 1.0 / net.m
            l2 = _l2_grad(net.layers, l2_code, lam, net.m)
            candidate = [(scale * gw + lw, scale * gb + lb) for (gw, gb), (lw, lb) in zip(raw, l2)]
            precision = _grad_distance(candidate, grads)
            if precision <= MATCH_RTOL:
                codes = tuple(c for c in (g_code, l2_code, d_code, "elementwise_softmax" if output_delta != "p - y" else None) if c)
                found.append(Match("gradient", layout, net, codes, words, precision))
    return found


def _simplest(matches: list[Match]) -> list[Match]:
    """The matches with the fewest mistakes; several when different mistakes explain the numbers equally."""
    if not matches:
        return []
    fewest = min(len(m.codes) for m in matches)
    seen, out = set(), []
    for m in matches:
        key = (m.codes, m.words)
        if len(m.codes) == fewest and key not in seen:
            seen.add(key)
            out.append(m)
    return out


@dataclass
class Forensics:
    """What the catalogue found: the layout and network that J identified, and the findings."""

    layout: Layout | None
    findings: list[Finding]
    j_codes: tuple[str, ...] | None = None
    grad_codes: tuple[str, ...] | None = None
    #: "784-25-10, tanh hidden, softmax output" once J identified the network
    network: str = ""


def _finding(code: str, match: Match, words: str = "") -> Finding:
    mistake = MISTAKES[code]
    title, fix = mistake.title, mistake.fix
    if code == "other_derivative":
        title = f"the hidden delta uses {words}"
        fix = f"use {match.net.hidden.name}'s own derivative" + (
            f": {OUTPUT_FORM[match.net.hidden.name][0]} with a = {match.net.hidden.name}(z)"
            if match.net.hidden.name in OUTPUT_FORM else "")
    if code == "input_form":
        title = f"the hidden delta uses {words}"
    what = "J" if match.part == "J" else "gradient"
    subject = f"your {what}"
    if code in ("other_derivative", "input_form", "derivative_left_out"):  # only the hidden layers' gradients
        hidden = [match.layout.tensor_of(l, "W") for l in range(len(match.layout.sizes) - 2)]
        subject = f"your {', '.join(hidden)} gradient"
    combined = "these mistakes" if len(match.codes) > 1 else "this mistake"
    decade = 10.0 ** math.ceil(math.log10(max(match.precision, 1e-15)))  # a power of 10: stable across BLAS kernels
    evidence = f"{subject} equals, to {decade:.0e}, the one computed with {combined}"
    return Finding(code, title, evidence, fix, where=what)


def identify_mistakes(names: Sequence[str], arrays: Sequence[np.ndarray], grads: Sequence[np.ndarray], J: float,
                      X: np.ndarray | None, y: np.ndarray | None, *, lam: float = 0.0, hints: Sequence[int] = (),
                      shapes: Sequence[tuple[int, ...]] | None = None) -> Forensics:
    """Match the learner's ``J`` and gradients against the catalogue, for every layout the arrays allow.

    ``names``/``arrays``/``grads``: the learner's parameters and gradients as parallel lists (a flat vector is
    one array).  ``X : (m, n_0)`` and ``y`` (labels or one-hot) are the data the function was called with;
    ``lam`` the L2 strength it was called with (0 when unknown or not regularised).  Returns the layout J
    identified (None if none did) and one finding per mistake that reproduces the numbers, or one finding
    saying that nothing in the catalogue does.
    """
    if X is None or y is None or np.ndim(X) != 2:
        return Forensics(None, [])
    X = np.asarray(X, dtype=np.float64)
    y_arr = np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr.reshape(-1)  # a column of labels, as Octave keeps them
    if y_arr.ndim == 2:
        classes = [int(y_arr.shape[1])]
    else:  # 0-based labels give max + 1 classes, Octave's 1-based ones max
        top = int(np.max(y_arr)) if y_arr.size else 0
        classes = sorted({c for c in (top + 1, top) if c >= 2})
    layouts = recognise(names, arrays, n_features=X.shape[1], n_classes=classes, hints=hints, shapes=shapes)
    j_matches: list[Match] = []
    for layout in layouts:
        j_matches += _match_j(layout, layout.canonical(arrays), X, y_arr, J, lam)
    j_best = _simplest(j_matches)
    if not j_best:
        if not layouts:
            return Forensics(None, [])
        return Forensics(layouts[0] if len(layouts) == 1 else None, [Finding(
            "no_match", "no known mistake reproduces your J",
            f"tried {len(layouts)} layout(s) of an MLP, every registered hidden activation, softmax and sigmoid "
            f"outputs, and the J mistakes of the catalogue{'' if lam else ' (pass l2_arg to include the L2 term)'}",
            "check J term by term against J = -(1/m) sum(Y .* log(h)) + lambda/(2m) sum(W^2)", where="J")])
    findings: list[Finding] = []
    layout = j_best[0].layout
    net = j_best[0].net
    network = (f"{'-'.join(map(str, layout.sizes))}, "
               + (f"{net.hidden.name} hidden, " if len(layout.sizes) > 2 else "") + f"{net.output} output")
    if len(j_best) > 1:
        options = "; or ".join(", ".join(m.codes) or "no mistake" for m in j_best)
        findings.append(Finding("ambiguous", "several readings reproduce your J equally", options,
                                "make the check decisive with another batch or lambda", where="J"))
    else:
        findings += [_finding(code, j_best[0]) for code in j_best[0].codes]
    grad_canon = layout.canonical(grads)
    g_matches = _simplest(_match_grad(j_best[0].net, layout, grad_canon, lam))
    if not g_matches:
        findings.append(Finding("no_match", "no known mistake reproduces your gradient",
                                "tried the derivative, output-delta, 1/m and L2 mistakes of the catalogue",
                                "compare your backward with dJ/dW_l = a_{l-1}^T delta_l / m + lambda W_l / m",
                                where="gradient"))
        return Forensics(layout, findings, j_best[0].codes if len(j_best) == 1 else None, None, network)
    if len(g_matches) > 1:
        options = "; or ".join(", ".join(m.codes) + (f" ({m.words})" if m.words else "") or "no mistake" for m in g_matches)
        findings.append(Finding("ambiguous", "several readings reproduce your gradient equally", options,
                                "make the check decisive with another batch or lambda", where="gradient"))
        return Forensics(layout, findings, j_best[0].codes, None, network)
    g = g_matches[0]
    findings += [_finding(code, g, g.words) for code in g.codes]
    return Forensics(layout, findings, j_best[0].codes if len(j_best) == 1 else None, g.codes, network)
