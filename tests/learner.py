"""Learner-style cost functions, right and with planted mistakes, for the tests of ``check_function``.

``make(...)`` returns ``(fn, params, args)``: ``fn(params, *args) -> (J, grads)`` written the way a learner
writes it (bias columns or W/b pairs, an unrolled vector or a dict or a list), computing the MLP of
glassnet.check.forensics with the given hidden activation and output, and the mistakes asked for.
"""

from __future__ import annotations

import numpy as np

from glassnet.core.activations import ACTIVATIONS
from glassnet.core.numerics import log_sigmoid, log_softmax, sigmoid, softmax

LAYOUTS = ("ng_flat", "ng_list", "wb_dict", "wb_flat", "ng_flat_octave")

#: every mistake ``make`` can plant, with the finding code glassnet must give it
PLANTED = {
    "j_missing_1/m": "j_missing_1/m",
    "grad_missing_1/m": "grad_missing_1/m",
    "l2_j_subtracted": "l2_j_subtracted",
    "l2_j_missing_1/m": "l2_j_missing_1/m",
    "l2_j_missing_1/2": "l2_j_missing_1/2",
    "l2_j_biases": "l2_j_biases",
    "l2_j_absent": "l2_j_absent",
    "l2_grad_subtracted": "l2_grad_subtracted",
    "l2_grad_missing_1/m": "l2_grad_missing_1/m",
    "l2_grad_doubled": "l2_grad_doubled",
    "l2_grad_biases": "l2_grad_biases",
    "l2_grad_absent": "l2_grad_absent",
    "elementwise_softmax": "elementwise_softmax",
    "sigmoid_derivative": "other_derivative",
    "relu_derivative": "other_derivative",
    "input_form": "input_form",
    "derivative_left_out": "derivative_left_out",
}


def _sizes_to_params(layers, layout):
    """Canonical [(W (in, out), b (out,))] -> the learner's structure."""
    thetas = [np.hstack([b[:, None], W.T]) for W, b in layers]
    if layout == "ng_flat":
        return np.concatenate([t.ravel() for t in thetas])
    if layout == "ng_flat_octave":
        return np.concatenate([t.ravel(order="F") for t in thetas])
    if layout == "ng_list":
        return thetas
    if layout == "wb_dict":
        return {f"{k}{l}": v for l, (W, b) in enumerate(layers, start=1) for k, v in (("W", W), ("b", b))}
    return np.concatenate([v.ravel() for W, b in layers for v in (W, b)])


def _params_to_layers(params, layout, sizes):
    pairs = list(zip(sizes[:-1], sizes[1:]))
    if layout in ("ng_flat", "ng_flat_octave"):
        order = "F" if layout == "ng_flat_octave" else "C"
        thetas, start = [], 0
        for a, b in pairs:
            thetas.append(params[start:start + b * (a + 1)].reshape(b, a + 1, order=order))
            start += b * (a + 1)
    elif layout == "ng_list":
        thetas = list(params)
    elif layout == "wb_dict":
        return [(params[f"W{l}"], params[f"b{l}"]) for l in range(1, len(pairs) + 1)]
    else:
        layers, start = [], 0
        for a, b in pairs:
            layers.append((params[start:start + a * b].reshape(a, b), params[start + a * b:start + a * b + b]))
            start += a * b + b
        return layers
    return [(t[:, 1:].T, t[:, 0]) for t in thetas]


def make(layout="ng_flat", hidden="tanh", output="softmax", mistakes=(), *, sizes=(6, 5, 4), m=20, lam=0.7,
         labels_from=1, seed=0):
    """``(fn, params, args)`` with ``args = (X, y, lam)``; labels are ``labels_from .. labels_from + k - 1``."""
    mistakes = set(mistakes)
    unknown = mistakes - set(PLANTED)
    assert not unknown, unknown
    rng = np.random.default_rng(seed)
    k = sizes[-1]
    X = rng.standard_normal((m, sizes[0]))
    y = rng.integers(0, k, m) + labels_from
    layers = [(rng.uniform(-0.8, 0.8, (a, b)), rng.uniform(-0.3, 0.3, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    f = ACTIVATIONS[hidden]()

    def derivative(z, a):
        if "sigmoid_derivative" in mistakes:
            return ACTIVATIONS["sigmoid"]().derivative(z)
        if "relu_derivative" in mistakes:
            return (z > 0).astype(float)
        if "input_form" in mistakes:
            return {"tanh": 1 - z * z, "sigmoid": z * (1 - z), "softsign": (1 - np.abs(z)) ** 2}[hidden]
        if "derivative_left_out" in mistakes:
            return np.ones_like(z)
        return f.derivative(z)

    def cost(params, X, y, lam):
        Ls = _params_to_layers(params, layout, sizes)
        n = X.shape[0]
        Y = np.eye(k)[y - labels_from]
        acts, zs = [X], []
        for W, b in Ls[:-1]:
            zs.append(acts[-1] @ W + b)
            acts.append(f.forward(zs[-1]))
        logits = acts[-1] @ Ls[-1][0] + Ls[-1][1]
        if output == "softmax":
            p, data = softmax(logits), -np.sum(Y * log_softmax(logits))
        else:
            p, data = sigmoid(logits), -np.sum(Y * log_sigmoid(logits) + (1 - Y) * log_sigmoid(-logits))
        sw = sum(np.sum(W * W) for W, _ in Ls)
        sb = sum(np.sum(b * b) for _, b in Ls)
        reg = lam * (sw + (sb if "l2_j_biases" in mistakes else 0)) / (2 * n)
        if "l2_j_missing_1/m" in mistakes:
            reg *= n
        if "l2_j_missing_1/2" in mistakes:
            reg *= 2
        if "l2_j_subtracted" in mistakes:
            reg = -reg
        if "l2_j_absent" in mistakes:
            reg = 0.0
        J = (data if "j_missing_1/m" in mistakes else data / n) + reg

        delta = -Y * (1 - p) if "elementwise_softmax" in mistakes else p - Y
        grads = []
        for l in range(len(Ls) - 1, -1, -1):
            gW, gb = acts[l].T @ delta, delta.sum(axis=0)
            if l:
                delta = (delta @ Ls[l][0].T) * derivative(zs[l - 1], acts[l])
            grads.append([gW, gb])
        grads = grads[::-1]
        scale = 1.0 if "grad_missing_1/m" in mistakes else 1.0 / n
        c = lam / n
        if "l2_grad_missing_1/m" in mistakes:
            c = lam
        if "l2_grad_doubled" in mistakes:
            c = 2 * lam / n
        if "l2_grad_subtracted" in mistakes:
            c = -c
        if "l2_grad_absent" in mistakes:
            c = 0.0
        out = []
        for (gW, gb), (W, b) in zip(grads, Ls):
            out.append((scale * gW + c * W, scale * gb + (c * b if "l2_grad_biases" in mistakes else 0)))
        return J, _sizes_to_params(out, layout)

    return cost, _sizes_to_params(layers, layout), (X, y, lam)
