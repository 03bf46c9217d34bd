"""glassnet.check.explain: every topic renders, fits 100 columns, states the key formulas, and its
live numbers are recomputed here independently (plain numpy, no glassnet)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from glassnet.core.activations import ACTIVATIONS, ActivationFunction
from glassnet.errors import ConfigError
from glassnet.check.explain import (
    MAX_WIDTH,
    TOPICS,
    activation_check,
    explain,
    l2_check,
    softmax_ce_check,
    topics,
)


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return {topic: explain(topic) for topic in TOPICS}


def _number_after(label: str, text: str) -> float:
    match = re.search(re.escape(label) + r"\s*([-+0-9.e]+)", text)
    assert match, f"{label!r} not in the text"
    return float(match.group(1))


# ---------------------------------------------------------------- every topic
def test_topics_cover_the_fixed_ones_and_every_activation():
    assert {"softmax-cross-entropy", "l2", "gradcheck"} <= set(TOPICS)
    assert set(ACTIVATIONS) <= set(TOPICS)
    assert topics() == list(TOPICS)


@pytest.mark.parametrize("topic", list(TOPICS))
def test_topic_renders_plain_text_within_100_columns(rendered, topic):
    text = rendered[topic]
    assert text.endswith("\n") and len(text.splitlines()) > 10
    too_wide = [line for line in text.splitlines() if len(line) > MAX_WIDTH]
    assert not too_wide, too_wide
    assert "\t" not in text
    text.encode("ascii")  # prints on any terminal


def test_same_seed_same_text_other_seed_other_numbers():
    assert explain("softmax-cross-entropy", seed=3) == explain("softmax-cross-entropy", seed=3)
    assert explain("softmax-cross-entropy", seed=3) != explain("softmax-cross-entropy", seed=4)


def test_unknown_topic_raises_config_error_listing_the_topics():
    with pytest.raises(ConfigError) as info:
        explain("backprop-magic")
    message = str(info.value)
    assert "'backprop-magic'" in message
    for topic in ("softmax-cross-entropy", "l2", "gradcheck", "relu", "tanh"):
        assert topic in message


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed_raises_config_error(seed):
    with pytest.raises(ConfigError, match="seed"):
        explain("relu", seed=seed)


# ---------------------------------------------------------------- softmax + cross-entropy
@pytest.mark.parametrize(
    "formula",
    [
        "p_i = e^{z_i} / sum_k e^{z_k}",
        "p_j (1 - p_j)",
        "-p_i p_j",
        "Diag(p) - p p^T",
        "dE/dp_i = -t_i / p_i",
        "-t_j/o_j",
        "sum_i (-t_i/p_i) dp_i/dz_j",
        "-t_j (1 - p_j)            +  sum_{i!=j} t_i p_j",
        "p_j sum_i t_i - t_j",
        "p_j - t_j",
        "p - t",
        "(P - T) / m",
        "logsumexp(z) = c + log sum_k e^{z_k - c}",
    ],
)
def test_softmax_ce_text_states_the_key_formulas(rendered, formula):
    assert formula in rendered["softmax-cross-entropy"]


def test_softmax_ce_text_ends_with_the_live_check(rendered):
    text = rendered["softmax-cross-entropy"]
    derivation_end = text.index("7. The value")
    check_start = text.index("8. Live check")
    assert derivation_end < check_start
    assert text.rstrip().splitlines()[-1].lstrip().startswith("max |(5) - (2)|")


def _independent_softmax_ce(seed: int, m: int = 3, k: int = 4):
    """The same draws as softmax_ce_check, then p - t and a central difference in plain numpy."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(0.0, 2.0, size=(m, k))
    y = rng.integers(0, k, size=m)

    def mean_ce(Z):
        shifted = Z - Z.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -log_p[np.arange(m), y].mean()

    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    T = np.eye(k)[y]
    numeric = np.zeros_like(Z)
    h = 1e-5
    for idx in np.ndindex(*Z.shape):
        E = np.zeros_like(Z)
        E[idx] = h
        numeric[idx] = (mean_ce(Z + E) - mean_ce(Z - E)) / (2 * h)
    return Z, y, P, (P - T) / m, numeric, mean_ce(Z)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_softmax_ce_live_check_agrees_with_an_independent_computation(seed):
    check = softmax_ce_check(seed)
    Z, y, P, expected, numeric, value = _independent_softmax_ce(seed)
    np.testing.assert_array_equal(check.logits, Z)
    np.testing.assert_array_equal(check.labels, y)
    for name, grad in check.correct_methods().items():
        np.testing.assert_allclose(grad, expected, rtol=0, atol=1e-10, err_msg=name)
    np.testing.assert_allclose(numeric, expected, rtol=0, atol=1e-8)  # our 2-point difference is cruder
    assert check.value_fused == pytest.approx(value, rel=1e-14)
    assert check.value_unfused == pytest.approx(value, rel=1e-14)
    # the reported max difference is the max spread of the four columns, and tiny
    stacked = np.stack([check.jacobian_chain, check.fused, check.unfused, check.finite_diff])
    assert check.max_diff == np.max(np.ptp(stacked, axis=0))
    assert check.max_diff < 1e-10
    # the wrong diagonal-only chain misses exactly the i != j terms: p_j / m on the wrong classes
    wrong_classes = np.eye(4)[y] == 0
    np.testing.assert_allclose((check.fused - check.diagonal_only)[wrong_classes], P[wrong_classes] / 3, atol=1e-15)


@pytest.mark.parametrize("seed", [0, 5])
def test_softmax_ce_printed_numbers_are_the_checked_numbers(seed):
    text = explain("softmax-cross-entropy", seed=seed)
    check = softmax_ce_check(seed)
    _, y, _, expected, _, value = _independent_softmax_ce(seed)
    reported = _number_after("max |difference| between the four correct methods:", text)
    assert reported < 1e-10
    assert reported == pytest.approx(check.max_diff, rel=1e-2)  # printed with 3 significant digits
    assert _number_after("J, fused (mean of logsumexp(z) - z_y):", text) == pytest.approx(value, abs=1e-14)
    # the gradient table: n, j, t, then the four correct methods and the wrong one
    rows = re.findall(r"^\s+(\d)\s+(\d)\s+([01])\s+([-+.\d]+)\s+([-+.\d]+)\s+([-+.\d]+)\s+([-+.\d]+)\s+([-+.\d]+)$",
                      text, flags=re.MULTILINE)
    assert len(rows) == expected.size
    for n, j, t, *columns in rows:
        n, j = int(n), int(j)
        assert int(t) == (y[n] == j)
        for printed in columns[:4]:
            assert float(printed) == pytest.approx(expected[n, j], abs=1e-10)  # 10 decimals printed
    assert _number_after("max |(5) - (2)| =", text) > 0.01


# ---------------------------------------------------------------- activations
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_topic_has_its_formulas_and_live_check(rendered, name):
    text = rendered[name]
    cls = ACTIVATIONS[name]
    doc = " ".join(cls.__doc__.replace("``", "").split())
    first_formula = re.search(r"f\(z\) = [^;,]+", doc).group(0)
    assert first_formula in " ".join(text.split())
    assert "f'(z) =" in text
    check = activation_check(name)
    assert check.max_diff < 1e-7
    assert _number_after("max |f'(z) - central difference| =", text) == pytest.approx(check.max_diff, rel=1e-2)
    rows = re.findall(r"^\s+([-+]\d\.\d{6})\s+([-+.\d]+)\s+([-+.\d]+)\s+([-+.\d]+)\s+\S+$", text, flags=re.MULTILINE)
    assert len(rows) == check.z.size
    for (z, f, df, fd), z_true in zip(rows, check.z):
        assert float(z) == pytest.approx(z_true, abs=1e-6)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_check_recomputed_independently(name):
    check = activation_check(name, seed=2)
    fn = ACTIVATIONS[name]()
    kinks = np.asarray(tuple(fn.kinks), dtype=float)
    assert check.z.size == 7 and np.all(np.diff(check.z) > 0)
    assert np.all(np.abs(check.z[:, None] - kinks[None, :]) >= 0.05) if kinks.size else True
    # an independent 5-point difference of the forward, against derivative()
    h = 1e-3
    f = fn.forward
    five_point = (-f(check.z + 2 * h) + 8 * f(check.z + h) - 8 * f(check.z - h) + f(check.z - 2 * h)) / (12 * h)
    np.testing.assert_allclose(check.derivative, five_point, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(check.finite_diff, five_point, rtol=1e-7, atol=1e-9)


def test_activation_check_rejects_a_wrong_derivative():
    """The live check is a real test: an activation with a wrong f' shows a large difference."""

    class BadTanh(ActivationFunction):
        """``f(z) = tanh(z)``;  ``f'(z) = 1 - a`` (wrong on purpose)."""

        name = "bad_tanh_for_test"

        def forward(self, z):
            return np.tanh(z)

        def backward(self, z, a, grad_a):
            return grad_a * (1 - a)

    ACTIVATIONS[BadTanh.name] = BadTanh
    try:
        assert BadTanh.name not in TOPICS and BadTanh.name in topics()  # registered after import
        text = explain(BadTanh.name)
        assert "f'(z) = 1 - a (wrong on purpose)." in text
        assert _number_after("max |f'(z) - central difference| =", text) > 0.1
    finally:
        del ACTIVATIONS[BadTanh.name]


# ---------------------------------------------------------------- l2
@pytest.mark.parametrize(
    "formula",
    ["lambda/(2m) * sum_l sum(W_l^2)", "(lambda/m) * W_l", "dJ/db_l  = dloss/db_l", "2W", "Subtracting", "/m"],
)
def test_l2_text_states_the_convention(rendered, formula):
    assert formula in rendered["l2"]


def test_l2_live_check_numbers():
    check = l2_check(seed=0)
    # the value: loss + lambda/(2m) sum W^2, with sum W^2 over weights only
    assert check.value == pytest.approx(check.loss_value + check.l2 / (2 * check.m) * check.sum_sq_weights, rel=1e-14)
    for name, (g_loss, g_pen, g_total, numeric) in check.parts.items():
        np.testing.assert_allclose(g_total, g_loss + g_pen, rtol=0, atol=1e-15)
        np.testing.assert_allclose(g_total, numeric, rtol=0, atol=1e-9)
        if name.endswith(".b"):
            assert np.all(g_pen == 0)
    assert check.report.passed and check.max_diff < 1e-9
    for label, report in check.bug_reports.items():
        assert [t.name for t in report.failing()] == ["0.W", "2.W"], label
    text = explain("l2", seed=0)
    assert _number_after("J from value_and_grad        =", text) == pytest.approx(check.value, abs=1e-14)
    assert _number_after("parameter entries:", text) == pytest.approx(check.max_diff, rel=1e-2)


# ---------------------------------------------------------------- gradcheck
def test_gradcheck_topic_explains_the_columns_and_shows_a_live_table(rendered):
    text = rendered["gradcheck"]
    for word in ("ratio", "max rel err", "kinks", "check_layers", "1e-6"):
        assert word in text
    row = r"^\s+(?:\d\.[Wb]|input)\s+\([\d, ]+\)\s+\d+\s+\d+\s+\S+\s+\S+\s+([\d.]+)\s"  # tensor .. ratio
    ratios = re.findall(row, text, flags=re.MULTILINE)
    assert ratios[:5] == ["1.00000"] * 5  # the correct model
    assert ratios[5:] == ["5.00000"] * 5  # the forgotten 1/m: every ratio is m = 5
    assert "PASSED: 46 entries" in text and "FAILED: 46 entries" in text


# ---------------------------------------------------------------- width, aliases
@pytest.mark.parametrize("topic", list(TOPICS))
def test_every_topic_fits_80_columns_and_follows_the_width(rendered, topic):
    """explain softmax-cross-entropy had 35 of 94 lines over 80 columns (up to 98)."""
    assert MAX_WIDTH == 80
    assert max(map(len, rendered[topic].splitlines())) <= 80
    narrow = explain(topic, width=60)
    assert max(map(len, narrow.splitlines())) <= 60
    # nothing is lost when narrowing: every word and number is still there (split tables repeat their keys)
    rules = {c * n for c in "-=" for n in range(200)}
    assert set(rendered[topic].split()) - rules <= set(narrow.split())


def test_a_split_table_keeps_every_number():
    wide = explain("softmax-cross-entropy", width=120)
    narrow = explain("softmax-cross-entropy", width=60)
    numbers = lambda text: sorted(re.findall(r"[-+]\d\.\d{6,}", text))  # noqa: E731
    assert numbers(wide) == numbers(narrow) and len(numbers(wide)) > 40


@pytest.mark.parametrize(("alias", "topic"), [("softmax", "softmax-cross-entropy"), ("mean-squared-error", "mse"),
                                              ("linear", "dense")])
def test_aliases_learners_type(alias, topic):
    assert explain(alias, seed=2) == explain(topic, seed=2)


def test_cli_explain_follows_the_terminal_width(capsys, monkeypatch):
    from glassnet.cli.main import main

    for columns in (80, 64):
        monkeypatch.setenv("COLUMNS", str(columns))
        for topic in ("softmax", "dense", "mse", "gradcheck", "l2", "relu"):
            assert main(["explain", topic]) == 0
            out = capsys.readouterr().out
            assert max(map(len, out.splitlines())) <= columns, (topic, columns)
        assert main(["explain"]) == 0
        listing = capsys.readouterr().out
        assert max(map(len, listing.splitlines())) <= columns and "softmax" in listing and "mse" in listing


# ---------------------------------------------------------------- dense
@pytest.mark.parametrize("formula", ["dL/dW = X^T delta", "dL/db = delta.sum(axis=0)", "dL/dX = delta W^T",
                                     "sum_i x_ik delta_ij", "(n_in, m) @ (m, n_out) = (n_in, n_out)"])
def test_dense_text_states_the_three_gradients(rendered, formula):
    assert formula in rendered["dense"]


@pytest.mark.parametrize("seed", [0, 3])
def test_dense_live_check_recomputed_independently(seed):
    from glassnet.check.explain_dense import dense_check

    check = dense_check(seed)
    X, W, G = check.X, check.W, check.G
    expected = {"W": np.einsum("ik,ij->kj", X, G), "b": np.einsum("ij->j", G), "X": np.einsum("ij,kj->ik", G, W)}
    for name, methods in check.grads.items():
        for method in methods:
            np.testing.assert_allclose(method, expected[name], rtol=0, atol=1e-8, err_msg=name)
    assert check.max_diff < 1e-8
    np.testing.assert_allclose(check.bias_as_mean * X.shape[0], expected["b"])
    text = explain("dense", seed=seed)
    assert _number_after("max |difference| between the three methods:", text) == pytest.approx(check.max_diff, rel=1e-2)
    assert text.rstrip().splitlines()[-1].strip().startswith("= (1/4) x the right one")


# ---------------------------------------------------------------- mse
@pytest.mark.parametrize("phrase", ["dE/do_c = 2 (o_c - t_c)", "dE/dz_j = dE/do_j * f'(z_j) = 2 (o_j - t_j) f'(z_j)",
                                    "ONE term", "ALL k terms", "Diag(p) - p p^T", "dJ/dO = 2 (O - T) / m"])
def test_mse_text_answers_why_one_term(rendered, phrase):
    assert phrase in rendered["mse"]


@pytest.mark.parametrize("seed", [0, 1, 9])
def test_mse_live_check_recomputed_independently(seed):
    from glassnet.check.explain_mse import mse_check

    check = mse_check(seed)
    Z, T = check.logits, check.targets
    m = Z.shape[0]
    O = 1 / (1 + np.exp(-Z))
    one_term = 2 * (O - T) * O * (1 - O) / m
    for name, grad in check.sigmoid.items():
        np.testing.assert_allclose(grad, one_term, rtol=0, atol=1e-9, err_msg=name)
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    full = 2 * P * ((P - T) - np.sum((P - T) * P, axis=1, keepdims=True)) / m  # step 4's closed form
    for name in ("full sum", "layer", "finite diff"):
        np.testing.assert_allclose(check.softmax[name], full, rtol=0, atol=1e-9, err_msg=name)
    assert check.one_term_error > 1e-3  # the shortcut is wrong for softmax
    text = explain("mse", seed=seed)
    assert _number_after("max |one term - full sum| =", text) == pytest.approx(check.one_term_error, rel=1e-2)
