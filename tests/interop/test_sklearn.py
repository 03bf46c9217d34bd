"""glassnet.interop.sklearn.GlassnetClassifier: scikit-learn's common checks, pipelines and grid search,
labels, probabilities, partial_fit, warm_start, early stopping, randomness and sample weights."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, make_blobs, make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from glassnet.errors import ConfigError, DataError  # noqa: E402
from glassnet.check.gradcheck import check_loss  # noqa: E402
from glassnet.nn.layers import Activation, Dense, Dropout  # noqa: E402
from glassnet.nn.losses import SoftmaxCrossEntropy  # noqa: E402
from glassnet.nn.model import Sequential  # noqa: E402
from glassnet.core.numerics import softmax  # noqa: E402
from glassnet.interop.sklearn import (  # noqa: E402
    GlassnetClassifier,
    SampleWeightedSoftmaxCrossEntropy,
    weighted_target_rows,
)

SKLEARN_VERSION = tuple(int(part) for part in re.match(r"(\d+)\.(\d+)", sklearn.__version__).groups())


# ----------------------------------------------------------------------------- common checks
#: The default estimator, exactly as the issue asks, and one with most options switched on.
CONFIGURED = GlassnetClassifier(
    hidden_layer_sizes=(32, 16),
    activation="tanh",
    optimizer="nesterov",
    learning_rate=0.05,
    batch_size=16,
    max_iter=60,
    n_iter_no_change=5,
    alpha=1e-3,
    dropout=0.1,
    label_smoothing=0.1,
    early_stopping=True,
    dtype="float32",
    random_state=0,
)


def expected_failed_checks(estimator):
    """The checks that cannot pass for a given configuration, with the reason (none for the defaults)."""
    failures = {}
    if estimator.early_stopping:
        reason = "partial_fit refuses early_stopping=True, as MLPClassifier and SGDClassifier do"
        for check in ("check_fit_score_takes_y", "check_n_features_in_after_fitting",
                      "check_estimators_partial_fit_n_features"):
            failures[check] = reason
    if estimator.early_stopping or estimator.dropout or estimator.alpha or estimator.dtype == "float32":
        failures["check_sample_weight_equivalence_on_dense_data"] = (
            "weights equal repetitions only up to rounding and only when nothing depends on the sample "
            "count: the validation split, dropout masks and the L2 term's m (the batch's sample count, "
            "glassnet's convention) do, and float32 rounding exceeds the check's rtol=1e-7"
        )
    if estimator.early_stopping or estimator.dropout:
        failures["check_class_weight_classifiers"] = (
            "on unscaled blobs (std 20) this tanh network with dropout or early stopping stops short of 87% class-0 "
            "predictions under weights 1000:0.0001 (measured: it passes with both off); the default estimator "
            "passes, and test_class_weight_balanced_and_dict_multiply_the_sample_weights shows the weights are "
            "exactly sample weights"
        )
    return failures


_STRICT = {"xfail_strict": True} if SKLEARN_VERSION >= (1, 8) else {}


@parametrize_with_checks([GlassnetClassifier(), CONFIGURED], expected_failed_checks=expected_failed_checks, **_STRICT)
def test_sklearn_common_checks(estimator, check):
    name = getattr(check, "func", check).__name__
    if name == "check_methods_sample_order_invariance" and estimator.dtype == "float32":
        pytest.skip("float32 products round differently when OpenBLAS puts a row in another block (about 1e-7 "
                    "relative, the check's rtol); test_float32_predictions_do_not_depend_on_sample_order checks "
                    "it at float32's precision")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_float32_predictions_do_not_depend_on_sample_order():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    net = clone(CONFIGURED).set_params(max_iter=5).fit(X, y)
    order = np.random.default_rng(0).permutation(len(X))
    proba = net.predict_proba(X)
    np.testing.assert_allclose(net.predict_proba(X[order]), proba[order], rtol=2e-6, atol=1e-7)
    assert not np.array_equal(order, np.arange(len(X)))


def test_the_default_estimator_has_no_expected_failures():
    assert expected_failed_checks(GlassnetClassifier()) == {}


# ----------------------------------------------------------------------------- pipelines
def test_grid_search_in_a_pipeline_on_digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("net", GlassnetClassifier(max_iter=20, batch_size=64, random_state=0))])
    grid = GridSearchCV(
        pipe, {"net__hidden_layer_sizes": [(32,), (64,)], "net__learning_rate": [1e-3, 1e-2]}, cv=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X_train, y_train)
    assert len(grid.cv_results_["mean_test_score"]) == 4
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert grid.best_score_ > 0.9
    assert grid.score(X_test, y_test) > 0.9
    net = grid.best_estimator_.named_steps["net"]
    assert net.get_params()["hidden_layer_sizes"] == grid.best_params_["net__hidden_layer_sizes"]
    assert isinstance(net.model_, Sequential) and net.model_.n_inputs == 64 and net.model_.n_outputs == 10


# ----------------------------------------------------------------------------- helpers
def blobs(n=150, k=3, seed=0, std=1.0):
    X, y = make_blobs(n_samples=n, centers=k, cluster_std=std, random_state=seed)
    return StandardScaler().fit_transform(X), y


def fitted(X, y, sample_weight=None, **kw):
    params = dict(hidden_layer_sizes=(16,), learning_rate=1e-2, max_iter=40, random_state=0)
    params.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GlassnetClassifier(**params).fit(X, y, sample_weight=sample_weight)


def params_of(clf):
    return {k: v.copy() for k, v in clf.model_.params().items()}


def assert_same_params(a, b):
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# ----------------------------------------------------------------------------- labels, probabilities
@pytest.mark.parametrize("as_object", [False, True])
def test_string_labels_round_trip(as_object):
    X, y = blobs(std=0.5)
    names = np.array(["zebra", "ant", "moth"])[y]
    if as_object:
        names = names.astype(object)
    clf = fitted(X, names)
    assert list(clf.classes_) == ["ant", "moth", "zebra"]  # sorted, like np.unique
    pred = clf.predict(X)
    assert set(pred) <= {"ant", "moth", "zebra"}
    assert np.mean(pred == names) == 1.0
    assert clf.model_.meta["class_names"] == ["ant", "moth", "zebra"]


def test_binary_and_integer_labels_keep_their_values():
    X, y = blobs(k=2, std=0.5)
    labels = np.where(y == 1, 7, -3)
    clf = fitted(X, labels)
    np.testing.assert_array_equal(clf.classes_, [-3, 7])
    assert clf.predict_proba(X).shape == (X.shape[0], 2)
    assert clf.model_.n_outputs == 2  # two softmax outputs, also for a binary problem
    assert clf.score(X, labels) == 1.0
    assert clf.predict(X).dtype == labels.dtype


def test_predict_proba_rows_sum_to_one_and_agree_with_predict():
    X, y = blobs(n=200, k=4, std=2.0)
    clf = fitted(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (200, 4) and proba.dtype == np.float64
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(proba, axis=1)])
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-12, atol=1e-12)
    assert 0.5 < clf.score(X, y) < 1.0  # overlapping blobs: learnt, not memorised


def test_predict_log_proba_is_finite_where_the_probability_underflows():
    X, y = blobs(std=0.5)
    clf = fitted(X, y)
    far = X[:10] * 1e4  # logits of order 1e4: exp underflows to exactly 0 for the losing classes
    proba = clf.predict_proba(far)
    assert np.any(proba == 0.0)
    log_proba = clf.predict_log_proba(far)
    assert np.all(np.isfinite(log_proba))
    assert log_proba.min() < -100  # the true (very negative) value, not a clipped one
    np.testing.assert_allclose(np.exp(log_proba), proba, atol=1e-300)


def test_predict_before_fit_and_with_wrong_width_raise():
    clf = GlassnetClassifier()
    with pytest.raises(NotFittedError):
        clf.predict(np.zeros((2, 3)))
    X, y = blobs()
    clf = fitted(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but GlassnetClassifier is expecting 2 features"):
        clf.predict(np.zeros((2, 3)))


def test_feature_names_are_recorded_from_a_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = blobs()
    frame = pd.DataFrame(X, columns=["width", "height"])
    clf = fitted(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, ["width", "height"])
    assert clf.n_features_in_ == 2
    plain = fitted(X, y)
    assert not hasattr(plain, "feature_names_in_")
    np.testing.assert_array_equal(clf.predict_proba(frame), plain.predict_proba(X))  # same training either way


# ----------------------------------------------------------------------------- the network
def test_model_is_a_glassnet_sequential_built_from_the_parameters():
    X, y = blobs(k=3)
    clf = fitted(X, y, hidden_layer_sizes=(8, 5), activation="logistic", dropout=0.2, dtype="float32")
    layers = clf.model_.layers
    assert [type(layer) for layer in layers] == [Dense, Activation, Dropout, Dense, Activation, Dropout, Dense]
    assert [(d.n_in, d.n_out) for d in layers if isinstance(d, Dense)] == [(2, 8), (8, 5), (5, 3)]
    assert layers[1].name == "sigmoid"  # scikit-learn's "logistic"
    assert layers[2].rate == 0.2
    assert all(p.dtype == np.float32 for p in clf.model_.params().values())
    no_hidden = fitted(X, y, hidden_layer_sizes=())
    assert [type(layer) for layer in no_hidden.model_.layers] == [Dense]  # multinomial logistic regression


@pytest.mark.parametrize(
    "params, message",
    [
        ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes must be positive integers"),
        ({"hidden_layer_sizes": "wide"}, "hidden_layer_sizes must be positive integers"),
        ({"activation": "swishy"}, "swishy"),
        ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
        ({"learning_rate": 0.0}, "learning_rate must be a finite number > 0, got 0.0"),
        ({"momentum": 1.0}, "momentum must be a finite number in"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"batch_size": "big"}, "batch_size must be an integer >= 1"),
        ({"max_iter": 0}, "max_iter must be an integer >= 1"),
        ({"tol": -1.0}, "tol must be a finite number"),
        ({"alpha": math.nan}, "alpha must be a finite number"),
        ({"dropout": 1.0}, "dropout must be a finite number in"),
        ({"validation_fraction": 1.0}, "validation_fraction must be a finite number in"),
        ({"dtype": "float16"}, "dtype must be 'float32' or 'float64'"),
        ({"random_state": "seed"}, "cannot be used to seed"),
    ],
)
def test_bad_parameters_are_refused_at_fit_with_a_message(params, message):
    X, y = blobs(n=30)
    clf = GlassnetClassifier(**params)  # the constructor only stores them
    (name, value), = params.items()
    assert clf.get_params()[name] is value
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)


def test_one_class_is_refused_with_a_message_naming_classes():
    X, _ = blobs(n=20)
    with pytest.raises(DataError, match="at least 2 classes, got 1 class"):
        GlassnetClassifier().fit(X, np.zeros(20, dtype=int))


# ----------------------------------------------------------------------------- partial_fit
def test_partial_fit_twice_continues_training():
    X, y = blobs(n=300, k=3, std=1.5)
    clf = GlassnetClassifier(hidden_layer_sizes=(16,), learning_rate=1e-2, random_state=0)
    clf.partial_fit(X, y, classes=np.unique(y))
    model = clf.model_
    first = params_of(clf)
    clf.partial_fit(X, y)
    assert clf.model_ is model  # the same network, trained further
    assert any(not np.array_equal(first[k], v) for k, v in clf.model_.params().items())
    for _ in range(4):
        clf.partial_fit(X, y)
    assert len(clf.loss_curve_) == 6 and clf.n_iter_ == 1
    assert clf.loss_curve_[-1] < clf.loss_curve_[1] < clf.loss_curve_[0]
    assert clf.t_ == 6 * 300


def test_partial_fit_keeps_the_optimizer_state_between_calls():
    """Two partial_fit calls are exactly two epochs of one fit: same generator, same Adam moments and step count."""
    X, y = blobs(n=120, k=3, std=1.5)
    kw = dict(hidden_layer_sizes=(8,), learning_rate=1e-2, random_state=3)
    incremental = GlassnetClassifier(**kw)
    incremental.partial_fit(X, y, classes=[0, 1, 2])
    incremental.partial_fit(X, y)
    with pytest.warns(ConvergenceWarning):
        whole = GlassnetClassifier(max_iter=2, **kw).fit(X, y)
    assert_same_params(params_of(incremental), params_of(whole))
    assert incremental.loss_curve_ == whole.loss_curve_
    # Starting the second epoch with a fresh optimizer (what a warm-started fit does) gives other weights.
    with pytest.warns(ConvergenceWarning):
        restarted = GlassnetClassifier(max_iter=1, warm_start=True, **kw).fit(X, y).fit(X, y)
    assert not np.array_equal(restarted.model_.params()["0.W"], whole.model_.params()["0.W"])


def test_partial_fit_batches_may_miss_classes_but_not_add_them():
    X, y = blobs(n=90, k=3)
    clf = GlassnetClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ConfigError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y != 2], y[y != 2], classes=[0, 1, 2])  # class 2 absent from this batch
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X).shape == (90, 3)
    with pytest.raises(DataError, match="not in classes_"):
        clf.partial_fit(X, y + 1)
    with pytest.raises(DataError, match="differs from the classes of the earlier calls"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ConfigError, match="partial_fit does not support early_stopping"):
        GlassnetClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


# ----------------------------------------------------------------------------- warm_start
def test_warm_start_continues_from_the_fitted_network():
    X, y = blobs(n=150, k=3, std=1.5)
    kw = dict(hidden_layer_sizes=(8,), learning_rate=1e-2, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold = GlassnetClassifier(**kw).fit(X, y)
        cold_params, cold_model = params_of(cold), cold.model_
        cold.fit(X, y)  # warm_start=False: a new network, the same run again
        assert cold.model_ is not cold_model
        assert_same_params(params_of(cold), cold_params)
        assert len(cold.loss_curve_) == 5

        warm = GlassnetClassifier(warm_start=True, **kw).fit(X, y)
        model = warm.model_
        warm.fit(X, y)
    assert warm.model_ is model
    assert len(warm.loss_curve_) == 10 and warm.n_iter_ == 5
    assert warm.loss_curve_[5] < warm.loss_curve_[0]  # the second fit starts where the first ended
    assert not np.array_equal(warm.model_.params()["0.W"], cold_params["0.W"])


def test_warm_start_refuses_new_classes_and_a_new_architecture():
    X, y = blobs(n=90, k=3)
    clf = fitted(X, y, warm_start=True, max_iter=2)
    with pytest.raises(DataError, match="warm_start can only be used where y has the same classes"):
        clf.fit(X, np.where(y == 2, 5, y))
    clf.set_params(hidden_layer_sizes=(4,))
    with pytest.raises(ConfigError, match="set warm_start=False to start afresh"):
        clf.fit(X, y)
    clf.set_params(warm_start=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.model_.layers[0].n_out == 4


# ----------------------------------------------------------------------------- stopping
def test_training_stops_after_n_iter_no_change_epochs_without_tol_improvement():
    X, y = blobs(n=60)
    # tol larger than any possible improvement: epoch 1 sets the best loss, every later epoch counts,
    # and the count exceeds n_iter_no_change=3 at epoch 5.
    clf = fitted(X, y, tol=1e9, n_iter_no_change=3, max_iter=50)
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 5
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    with pytest.warns(ConvergenceWarning, match="maximum iterations \\(3\\)"):
        GlassnetClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)


def test_early_stopping_stops_and_restores_the_best_epoch():
    X, y = make_classification(n_samples=300, n_features=10, n_informative=4, flip_y=0.2, random_state=1)
    X = StandardScaler().fit_transform(X)
    kw = dict(hidden_layer_sizes=(64,), learning_rate=3e-2, early_stopping=True, validation_fraction=0.2,
              n_iter_no_change=4, random_state=0)
    clf = GlassnetClassifier(max_iter=200, **kw).fit(X, y)
    scores = clf.validation_scores_
    assert clf.n_iter_ < 200 and len(scores) == clf.n_iter_ == len(clf.loss_curve_)
    best_epoch = int(np.argmax(scores)) + 1  # the first epoch reaching the best score
    assert clf.best_validation_score_ == max(scores) and clf.best_loss_ is None
    # Accuracies move in steps of 1/60, larger than tol: the run stopped n_iter_no_change + 1 epochs after the best.
    assert clf.n_iter_ == best_epoch + kw["n_iter_no_change"] + 1
    # The same run cut at the best epoch ends with that epoch's weights; the early-stopped run restored them.
    with pytest.warns(ConvergenceWarning):
        cut = GlassnetClassifier(max_iter=best_epoch, **kw).fit(X, y)
    assert cut.validation_scores_ == scores[:best_epoch]
    assert_same_params(params_of(clf), params_of(cut))


def test_verbose_prints_each_epoch(capsys):
    X, y = blobs(n=60)
    clf = fitted(X, y, max_iter=2, verbose=True)
    stopped = fitted(X, y, max_iter=1, verbose=True, early_stopping=True, validation_fraction=0.2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Iteration 1, loss = {clf.loss_curve_[0]:.8f}"
    assert out[1] == f"Iteration 2, loss = {clf.loss_curve_[1]:.8f}"
    assert out[3] == f"Validation score: {stopped.validation_scores_[0]:f}"


# ----------------------------------------------------------------------------- randomness
def test_the_same_random_state_gives_identical_weights_and_predictions():
    X, y = blobs(n=120, std=2.0)
    kw = dict(dropout=0.2, early_stopping=True, max_iter=15)  # every random step: init, split, shuffle, masks
    a, b = fitted(X, y, **kw), fitted(X, y, **kw)
    assert_same_params(params_of(a), params_of(b))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.loss_curve_ == b.loss_curve_
    c = fitted(X, y, random_state=1, **kw)
    assert not np.array_equal(c.model_.params()["0.W"], a.model_.params()["0.W"])
    # A RandomState is advanced by each fit (sklearn semantics): two fits from one instance differ.
    rs = np.random.RandomState(0)
    d, e = fitted(X, y, random_state=rs, **kw), fitted(X, y, random_state=rs, **kw)
    assert not np.array_equal(d.model_.params()["0.W"], e.model_.params()["0.W"])


@pytest.mark.parametrize("random_state", [None, 0])
def test_numpys_global_random_state_is_never_touched(random_state):
    X, y = blobs(n=60)
    before = np.random.get_state()[1].copy()
    position = np.random.get_state()[2]
    fitted(X, y, random_state=random_state, dropout=0.1, max_iter=3)
    after = np.random.get_state()
    assert after[2] == position
    np.testing.assert_array_equal(after[1], before)


# ----------------------------------------------------------------------------- sample weights
def test_weighted_loss_worked_example():
    logits = np.zeros((2, 2))
    rows = weighted_target_rows(np.array([0, 1]), np.array([1.0, 3.0]), 2)
    np.testing.assert_array_equal(rows, [[1, 0], [0, 3]])
    value, grad = SampleWeightedSoftmaxCrossEntropy()(logits, rows)
    assert value == pytest.approx(math.log(2), rel=1e-15)
    np.testing.assert_allclose(grad, [[-0.125, 0.125], [0.375, -0.375]], rtol=1e-15)


def test_weighted_loss_is_the_weighted_mean_of_the_per_sample_losses():
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    weights = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 1.5])
    plain = SoftmaxCrossEntropy(label_smoothing=0.1, reduction="sum")
    per_sample = np.array([plain(logits[i : i + 1], labels[i : i + 1])[0] for i in range(6)])
    loss = SampleWeightedSoftmaxCrossEntropy(label_smoothing=0.1)
    value, _ = loss(logits, weighted_target_rows(labels, weights, 4))
    assert value == pytest.approx(np.sum(weights * per_sample) / weights.sum(), rel=1e-13)
    ones_value, ones_grad = loss(logits, weighted_target_rows(labels, np.ones(6), 4))
    ref_value, ref_grad = SoftmaxCrossEntropy(label_smoothing=0.1)(logits, labels)
    assert ones_value == ref_value
    np.testing.assert_array_equal(ones_grad, ref_grad)
    zero_value, zero_grad = loss(logits, weighted_target_rows(labels, np.zeros(6), 4))
    assert zero_value == 0.0 and not np.any(zero_grad)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_weighted_loss_gradient_passes_the_gradient_check(label_smoothing):
    rng = np.random.default_rng(1)
    logits, labels = rng.standard_normal((8, 5)), rng.integers(0, 5, 8)
    rows = weighted_target_rows(labels, rng.uniform(0, 3, 8), 5)
    report = check_loss(SampleWeightedSoftmaxCrossEntropy(label_smoothing=label_smoothing), logits, rows)
    assert report.passed, str(report)
    assert report.n_checked == 40 and report.max_rel_error < 1e-7


def test_the_gradient_check_rejects_a_weighted_loss_that_divides_its_gradient_by_m():
    class MeanGradient(SampleWeightedSoftmaxCrossEntropy):
        def __call__(self, outputs, targets):
            value, grad = super().__call__(outputs, targets)
            return value, grad * np.sum(targets) / outputs.shape[0]  # D = m instead of the total weight

    rng = np.random.default_rng(2)
    logits, labels = rng.standard_normal((8, 3)), rng.integers(0, 3, 8)
    rows = weighted_target_rows(labels, rng.uniform(0.5, 3, 8), 3)
    assert not check_loss(MeanGradient(), logits, rows).passed


def test_sample_weight_ones_is_exactly_no_weights():
    X, y = blobs(n=100, std=2.0)
    kw = dict(early_stopping=True, label_smoothing=0.1, alpha=1e-3, max_iter=10)
    a = fitted(X, y, **kw)
    b = fitted(X, y, sample_weight=np.ones(100), **kw)
    assert_same_params(params_of(a), params_of(b))
    assert a.validation_scores_ == b.validation_scores_


def test_integer_sample_weights_equal_repeated_samples_in_full_batch_training():
    X, y = blobs(n=40, std=2.0)
    weights = np.random.default_rng(0).integers(0, 4, 40)
    kw = dict(batch_size="auto", max_iter=30)
    weighted = fitted(X, y, sample_weight=weights, **kw)
    repeated = fitted(np.repeat(X, weights, axis=0), np.repeat(y, weights), **kw)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-9)
    # and the weights matter: unweighted training ends elsewhere
    assert not np.allclose(fitted(X, y, **kw).predict_proba(X), repeated.predict_proba(X), rtol=1e-3)


def test_sample_weight_errors():
    X, y = blobs(n=30, k=2)
    clf = GlassnetClassifier(max_iter=2)
    with pytest.raises(DataError, match=r"sample_weight must have shape \(30,\)"):
        clf.fit(X, y, sample_weight=np.ones(29))
    with pytest.raises(DataError, match="non-negative"):
        clf.fit(X, y, sample_weight=-np.ones(30))
    with pytest.raises(DataError, match="NaN or inf"):
        clf.fit(X, y, sample_weight=np.full(30, np.nan))
    with pytest.raises(DataError, match=r"2 classes with positive weight"):
        clf.fit(X, y, sample_weight=(y == 1).astype(float))


# ----------------------------------------------------------------------------- what MLPClassifier never shipped (issue 17)
def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def test_class_weight_balanced_and_dict_multiply_the_sample_weights():
    X, y = _digits()
    X, y = X[:400], y[:400]
    keep = (y != 3) | (np.arange(y.size) % 5 == 0)  # class 3 rare
    X, y = X[keep], y[keep]
    counts = np.bincount(y)
    balanced = y.size / (10 * counts)
    a = GlassnetClassifier((16,), class_weight="balanced", max_iter=3, random_state=0).fit(X, y)
    b = GlassnetClassifier((16,), max_iter=3, random_state=0).fit(X, y, sample_weight=balanced[y])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = GlassnetClassifier((16,), class_weight={3: 5.0}, max_iter=3, random_state=0).fit(X, y)
    d = GlassnetClassifier((16,), max_iter=3, random_state=0).fit(X, y, sample_weight=np.where(y == 3, 5.0, 1.0))
    np.testing.assert_array_equal(c.predict_proba(X), d.predict_proba(X))
    with pytest.raises(ConfigError, match="class_weight names labels that are not classes"):
        GlassnetClassifier(class_weight={42: 1.0}, max_iter=1).fit(X, y)
    with pytest.raises(ConfigError, match="class_weight must be None, 'balanced'"):
        GlassnetClassifier(class_weight="equal", max_iter=1).fit(X, y)


def test_one_activation_per_hidden_layer():
    X, y = _digits()
    clf = GlassnetClassifier((16, 8), activation=("relu", "tanh"), max_iter=2, random_state=0).fit(X, y)
    names = [layer.fn.name for layer in clf.model_.layers if hasattr(layer, "fn")]
    assert names == ["relu", "tanh"]
    with pytest.raises(ConfigError, match="3 names for 2 hidden layers"):
        GlassnetClassifier((16, 8), activation=("relu", "tanh", "relu"), max_iter=1).fit(X, y)
    from glassnet import mlp

    model = mlp([4, 5, 6, 3], ["sigmoid", "softplus"], rng=0)
    assert [layer.fn.name for layer in model.layers if hasattr(layer, "fn")] == ["sigmoid", "softplus"]
    assert [layer.fn.name for layer in mlp([4, 5, 6, 3], "relu,tanh", rng=0).layers if hasattr(layer, "fn")] == [
        "relu", "tanh"]


def test_transform_returns_the_last_hidden_layers_activations():
    X, y = _digits()
    clf = GlassnetClassifier((16, 8), activation="tanh", max_iter=2, random_state=0).fit(X, y)
    H = clf.transform(X[:50])
    assert H.shape == (50, 8) and H.dtype == np.float64 and np.all(np.abs(H) <= 1)
    W, b = clf.model_.layers[-1].params["W"], clf.model_.layers[-1].params["b"]
    np.testing.assert_allclose(softmax(H @ W + b), clf.predict_proba(X[:50]), rtol=1e-10)
    # without a hidden layer there is nothing to transform to: a ConfigError, not max() of an empty sequence
    plain = GlassnetClassifier((), max_iter=2, random_state=0).fit(X, y)
    with pytest.raises(ConfigError, match="transform needs a hidden layer"):
        plain.transform(X[:5])


def test_validation_loss_curve_next_to_loss_curve():
    X, y = _digits()
    clf = GlassnetClassifier((16,), early_stopping=True, max_iter=5, n_iter_no_change=50, random_state=0).fit(X, y)
    assert len(clf.validation_loss_curve_) == len(clf.loss_curve_) == 5
    assert all(np.isfinite(clf.validation_loss_curve_)) and clf.validation_loss_curve_[-1] < clf.validation_loss_curve_[0]
    assert GlassnetClassifier((16,), max_iter=2, random_state=0).fit(X, y).validation_loss_curve_ is None
