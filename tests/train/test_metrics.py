"""glassnet.train.metrics: exact agreement with sklearn.metrics, hand-worked examples, edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from glassnet.errors import DataError, ShapeError
from glassnet.train.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    format_confusion_matrix,
    log_loss,
    precision_recall_f1,
    scores_from_confusion,
)
from glassnet.core.numerics import softmax


@pytest.fixture(autouse=True)
def no_warnings():
    """Every metric must stay silent, zero divisions included."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _random_labels(seed: int, n: int, k: int, skew: bool = False):
    rng = np.random.default_rng(seed)
    if skew:  # rare classes, the last one absent from the truth, the upper half never guessed at random
        weights = 0.5 ** np.arange(k)
        weights[-1] = 0.0 if k > 2 else weights[-1]
        y_true = rng.choice(k, size=n, p=weights / weights.sum())
        y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, max(2, k // 2), size=n))
    else:
        y_true = rng.integers(0, k, size=n)
        y_pred = np.where(rng.random(n) < 0.5, y_true, rng.integers(0, k, size=n))
    return y_true, y_pred


SIZES = [(50, 3), (200, 10), (7, 5), (1, 4), (30, 2)]
CASES = [(seed, n, k, skew) for seed, (n, k) in enumerate(SIZES) for skew in (False, True)]


# ---------------------------------------------------------------- agreement with scikit-learn
@pytest.mark.parametrize("seed, n, k, skew", CASES)
def test_scores_equal_sklearn_exactly(seed, n, k, skew):
    y_true, y_pred = _random_labels(seed, n, k, skew)
    labels = list(range(k))
    r = precision_recall_f1(y_true, y_pred, k)
    p, rec, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    np.testing.assert_array_equal(r["precision"], p)
    np.testing.assert_array_equal(r["recall"], rec)
    np.testing.assert_array_equal(r["f1"], f1)
    np.testing.assert_array_equal(r["support"], support)
    for average in ("macro", "weighted"):
        sp, sr, sf, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        assert (r[average]["precision"], r[average]["recall"], r[average]["f1"]) == (sp, sr, sf)
    assert r["accuracy"] == accuracy(y_true, y_pred) == skm.accuracy_score(y_true, y_pred)
    assert r["n_samples"] == n


@pytest.mark.parametrize("seed, n, k, skew", CASES)
def test_confusion_matrix_equals_sklearn(seed, n, k, skew):
    y_true, y_pred = _random_labels(seed, n, k, skew)
    cm = confusion_matrix(y_true, y_pred, k)
    assert cm.shape == (k, k) and cm.dtype == np.int64
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y_true, y_pred, labels=list(range(k))))


@pytest.mark.parametrize("seed, n, k, skew", CASES)
@pytest.mark.parametrize("digits", [2, 4])
def test_classification_report_is_sklearns_text(seed, n, k, skew, digits):
    y_true, y_pred = _random_labels(seed, n, k, skew)
    names = [f"class_{c}" if c % 3 else f"c{c}" for c in range(k)]
    expected = skm.classification_report(
        y_true, y_pred, labels=list(range(k)), target_names=names, zero_division=0, digits=digits
    )
    assert classification_report(y_true, y_pred, names, digits=digits) == expected


@pytest.mark.parametrize("seed", range(4))
def test_log_loss_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    logits = rng.normal(scale=3.0, size=(40, k))
    y = rng.integers(0, k, size=40)
    probs = softmax(logits)
    expected = skm.log_loss(y, probs, labels=list(range(k)))
    assert log_loss(y, probs) == pytest.approx(expected, rel=1e-14, abs=0)
    assert log_loss(y, logits, from_logits=True) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- by hand
def test_hand_worked_example_with_a_class_never_predicted():
    # truth [0, 0, 1, 2], prediction [0, 1, 1, 1]; class 2 is never predicted.
    r = precision_recall_f1([0, 0, 1, 2], [0, 1, 1, 1], 3)
    np.testing.assert_array_equal(confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], 3), [[1, 1, 0], [0, 1, 0], [0, 1, 0]])
    np.testing.assert_allclose(r["precision"], [1.0, 1 / 3, 0.0])
    np.testing.assert_allclose(r["recall"], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(r["f1"], [2 / 3, 0.5, 0.0])  # 2*1/(2+1), 2*1/(1+3), 0
    np.testing.assert_array_equal(r["support"], [2, 1, 1])
    assert r["macro"]["f1"] == pytest.approx((2 / 3 + 0.5) / 3)
    assert r["weighted"]["recall"] == pytest.approx((2 * 0.5 + 1 * 1.0) / 4)
    assert r["accuracy"] == 0.5


def test_class_absent_from_truth_and_prediction_gives_zeros_and_counts_in_macro():
    r = precision_recall_f1([0, 1, 0, 1], [0, 1, 1, 1], 3)  # class 2 appears nowhere
    assert (r["precision"][2], r["recall"][2], r["f1"][2], r["support"][2]) == (0.0, 0.0, 0.0, 0)
    assert r["macro"]["recall"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert r["weighted"]["recall"] == pytest.approx(0.75)  # support 0 weighs nothing


def test_class_predicted_but_absent_from_truth_has_zero_precision_and_recall():
    r = precision_recall_f1([0, 0, 0], [0, 2, 2], 3)
    np.testing.assert_allclose(r["precision"], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(r["recall"], [1 / 3, 0.0, 0.0])
    np.testing.assert_array_equal(r["support"], [3, 0, 0])


def test_perfect_and_all_wrong_predictions():
    y = np.array([0, 1, 2, 1])
    perfect = precision_recall_f1(y, y, 3)
    for name in ("precision", "recall", "f1"):
        np.testing.assert_array_equal(perfect[name], [1.0, 1.0, 1.0])
    wrong = precision_recall_f1(y, (y + 1) % 3, 3)
    assert wrong["accuracy"] == 0.0
    assert wrong["macro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_accuracy_by_hand_and_with_integral_floats():
    assert accuracy([0, 1, 2, 2], [0, 2, 2, 2]) == 0.75
    assert accuracy(np.array([1.0, 0.0]), np.array([1, 1])) == 0.5


def test_log_loss_by_hand_and_when_confidently_wrong():
    probs = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    assert log_loss([0, 1], probs) == pytest.approx(-(np.log(0.5) + np.log(0.8)) / 2, rel=1e-15)
    # probability exactly 0 on the truth: clipped to eps, finite, as scikit-learn
    certain = np.array([[1.0, 0.0]])
    assert log_loss([1], certain) == pytest.approx(-np.log(np.finfo(np.float64).eps))
    assert log_loss([1], certain) == pytest.approx(skm.log_loss([1], certain, labels=[0, 1]))
    # from logits there is nothing to clip: exact even 1e4 apart
    assert log_loss([1], np.array([[1e4, 0.0]]), from_logits=True) == pytest.approx(1e4)
    assert log_loss([0], np.array([[1e4, 0.0]]), from_logits=True) == 0.0


def test_log_loss_float32_clips_at_float32_eps():
    certain = np.array([[1.0, 0.0]], dtype=np.float32)
    assert log_loss([1], certain) == pytest.approx(-np.log(np.finfo(np.float32).eps), rel=1e-6)


# ---------------------------------------------------------------- text
def test_format_confusion_matrix_layout():
    cm = confusion_matrix([0, 1, 2, 2, 1, 0, 0], [0, 2, 2, 2, 1, 1, 0], 3)
    text = format_confusion_matrix(cm, ["cat", "dog", "bird"])
    assert text.splitlines() == [
        "true \\ predicted  cat  dog bird | total",
        "cat                 2    1    0 |     3",
        "dog                 0    1    1 |     2",
        "bird                0    0    2 |     2",
    ]


def test_format_confusion_matrix_normalized_and_long_names():
    cm = np.array([[2, 1], [0, 0]])
    text = format_confusion_matrix(cm, ["a_rather_long_class_name", "b"], normalize=True, max_name_width=8)
    lines = text.splitlines()
    assert lines[0].split() == ["true", "\\", "predicted", "a_rathe~", "b", "|", "total"]
    assert lines[1].split() == ["a_rathe~", "0.67", "0.33", "|", "3"]
    assert lines[2].split() == ["b", "0.00", "0.00", "|", "0"]  # an absent class: zeros, no warning


def test_report_of_a_class_never_predicted_shows_zeros():
    text = classification_report([0, 1, 2], [0, 1, 1], ["a", "b", "c"])
    row_c = next(line for line in text.splitlines() if line.strip().startswith("c "))
    assert row_c.split() == ["c", "0.00", "0.00", "0.00", "1"]


# ---------------------------------------------------------------- properties
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6).flatmap(lambda k: st.tuples(
    st.just(k),
    st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=40),
)))
def test_confusion_and_scores_invariants(case):
    k, pairs = case
    y_true, y_pred = (np.array(v) for v in zip(*pairs))
    cm = confusion_matrix(y_true, y_pred, k)
    assert cm.sum() == len(pairs)
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y_true, minlength=k))
    np.testing.assert_array_equal(cm.sum(axis=0), np.bincount(y_pred, minlength=k))
    assert np.trace(cm) == np.sum(y_true == y_pred)
    r = scores_from_confusion(cm)
    for name in ("precision", "recall", "f1"):
        assert np.all((r[name] >= 0) & (r[name] <= 1))
    # weighted recall is accuracy (sum_c support_c * tp_c / support_c / n)
    assert r["weighted"]["recall"] == pytest.approx(r["accuracy"], abs=1e-12)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: confusion_matrix([0, 3], [0, 1], 3), DataError),
        (lambda: confusion_matrix([0, -1], [0, 1], 3), DataError),
        (lambda: confusion_matrix([0, 1], [0, 1, 1], 3), ShapeError),
        (lambda: confusion_matrix([], [], 3), DataError),
        (lambda: confusion_matrix([0.5, 1], [0, 1], 3), DataError),
        (lambda: confusion_matrix([[0, 1]], [[0, 1]], 3), ShapeError),
        (lambda: confusion_matrix([0, 1], [0, 1], 0), DataError),
        (lambda: accuracy(["a"], ["a"]), DataError),
        (lambda: log_loss([0], np.array([[2.0, -1.0]])), DataError),
        (lambda: log_loss([0], np.array([[0.5, 0.2]])), DataError),
        (lambda: log_loss([0, 1], np.array([[0.5, 0.5]])), ShapeError),
        (lambda: log_loss([2], np.array([[0.5, 0.5]])), DataError),
        (lambda: log_loss([0], np.array([[np.nan, 0.5]])), DataError),
        (lambda: classification_report([0, 2], [0, 1], ["a", "b"]), DataError),
        (lambda: format_confusion_matrix(np.eye(2, dtype=int), ["a", "b", "c"]), ShapeError),
        (lambda: scores_from_confusion(np.array([[0.5, 1.0], [0.0, 1.0]])), DataError),
    ],
)
def test_bad_input_raises_a_glassnet_error(call, error):
    with pytest.raises(error):
        call()


def test_error_message_says_what_was_expected_and_given():
    with pytest.raises(DataError, match=r"y_pred must be in \[0, 3\), got \[5\]"):
        confusion_matrix([0, 1], [0, 5], 3)
    with pytest.raises(DataError, match="from_logits=True"):
        log_loss([0], np.array([[3.0, -1.0]]))


def test_confusion_matrix_fits_the_width_it_is_given():
    """evaluate's confusion matrix of Fashion-MNIST was 178 columns wide."""
    from glassnet.train.metrics import format_confusion_matrix

    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    cm = np.random.default_rng(0).integers(0, 1000, (10, 10))
    full = format_confusion_matrix(cm, names)
    assert max(map(len, full.split("\n"))) > 80
    assert format_confusion_matrix(cm, names, width=200) == full
    fitted = format_confusion_matrix(cm, names, width=80).split("\n")
    assert max(map(len, fitted)) <= 80
    assert fitted[0].split()[-12:] == [str(i) for i in range(10)] + ["|", "total"]
    for i, (name, line) in enumerate(zip(names, fitted[1:])):
        assert line.startswith(f"{i} {name}") and line.split()[-1] == str(cm[i].sum())
        assert [int(v) for v in line.split("|")[0].split()[-10:]] == cm[i].tolist()
