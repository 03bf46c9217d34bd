"""A scikit-learn classifier on top of glassnet: :class:`GlassnetClassifier`.

scikit-learn is an optional extra (``pip install glassnet[sklearn]``); it is
imported here and nowhere else in glassnet.  The estimator follows
scikit-learn's conventions (the constructor only stores its arguments, fitted
attributes end in ``_``, ``fit`` returns ``self``), so it drops into
``Pipeline``, ``GridSearchCV``, ``cross_val_score`` and ``clone``::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from glassnet.interop.sklearn import GlassnetClassifier

    clf = make_pipeline(StandardScaler(), GlassnetClassifier((64,), learning_rate=1e-2, random_state=0))
    clf.fit(X_train, y_train).score(X_test, y_test)

The work is done by glassnet's own pieces: :func:`glassnet.nn.model.mlp` builds
the network (``model_``), :func:`glassnet.train.fit` runs the epochs,
:func:`glassnet.optim.get_optimizer` makes the optimizer and
:class:`glassnet.nn.losses.SoftmaxCrossEntropy` is the loss (with
:class:`glassnet.nn.losses.SampleWeightedSoftmaxCrossEntropy` when ``fit`` is
given ``sample_weight`` or ``class_weight``).  What this module adds is the scikit-learn side:
input validation, the mapping between class labels and output columns,
random-state handling and the stopping rule of ``MLPClassifier``
(``tol``/``n_iter_no_change``, optionally on a held-out validation score).

Randomness: ``random_state`` becomes one explicit ``np.random.Generator``
(an int seeds it, a ``RandomState`` draws its seed, ``None`` takes fresh
entropy from the OS); it draws the initial weights, the validation split,
every epoch's shuffle and the dropout masks.  numpy's global random state is
never read or advanced.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn keeps it as a method

    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


from glassnet.core.registry import lookup
from glassnet.core.activations import get_activation
from glassnet.data.labels import balanced_class_weights
from glassnet.errors import ConfigError, DataError, ShapeError
from glassnet.core.validate import check_int, check_number
from glassnet.nn.losses import SampleWeightedSoftmaxCrossEntropy, SoftmaxCrossEntropy, as_target_matrix
from glassnet.nn.layers import Activation
from glassnet.nn.model import Sequential, mlp
from glassnet.nn.objective import l2_penalty
from glassnet.core.numerics import log_softmax, softmax
from glassnet.optim.optimizers import OPTIMIZERS, Optimizer, get_optimizer
from glassnet.train.loop import EpochRecord, TrainState, stratified_split
from glassnet.train.loop import fit as train_fit

__all__ = ["GlassnetClassifier", "SampleWeightedSoftmaxCrossEntropy", "weighted_target_rows"]

#: scikit-learn's names for activations that glassnet calls differently.
_ACTIVATION_ALIASES = {"logistic": "sigmoid"}
#: rows per forward pass at prediction time.
_PREDICT_CHUNK = 4096


# ----------------------------------------------------------------------------- sample weights
def weighted_target_rows(
    labels: np.ndarray, sample_weight: np.ndarray, n_classes: int, dtype: np.dtype | type = np.float64
) -> np.ndarray:
    """Rows ``s_i * onehot(y_i)`` for :class:`SampleWeightedSoftmaxCrossEntropy`.

    labels : (n,) class indices in ``[0, n_classes)``; sample_weight : (n,) >= 0
    -> (n, n_classes).
    """
    rows = np.zeros((labels.shape[0], n_classes), dtype=dtype)
    rows[np.arange(labels.shape[0]), labels] = sample_weight
    return rows


def _check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """``None`` or a float64 ``(n_samples,)`` array of finite, non-negative weights."""
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.ndim == 0:
        weights = np.full(n_samples, float(weights))
    if weights.shape != (n_samples,):
        raise DataError(f"sample_weight must have shape ({n_samples},) like the samples, got shape {weights.shape}")
    if not np.all(np.isfinite(weights)):
        raise DataError("sample_weight contains NaN or inf")
    if np.any(weights < 0):
        raise DataError(f"sample_weight must be non-negative, got minimum {weights.min()}")
    return weights


# ----------------------------------------------------------------------------- random state
def _generator(random_state: Any) -> np.random.Generator:
    """The run's ``np.random.Generator`` from an sklearn-style ``random_state``.

    * an int seeds ``np.random.default_rng(seed)`` (the same int, the same run);
    * a ``np.random.RandomState`` draws the seed, so it advances like any
      sklearn estimator's would and two fits differ;
    * a ``np.random.Generator`` is used as it is;
    * ``None`` takes fresh OS entropy (scikit-learn would draw from numpy's
      global ``RandomState``; glassnet leaves that alone).
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.default_rng(int(random_state))
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    check_random_state(random_state)  # raises scikit-learn's ValueError for anything else
    raise ConfigError(f"random_state must be None, an int, a RandomState or a Generator, got {random_state!r}")


# ----------------------------------------------------------------------------- stopping rule
class _SklearnStopping:
    """Callback for :func:`glassnet.train.fit`: ``MLPClassifier``'s stopping rule.

    After each epoch it appends the epoch's training loss (the mean batch
    loss including the L2 term, as ``MLPClassifier.loss_curve_``) to the
    estimator and then, like ``MLPClassifier._update_no_improvement_count``:

    * without early stopping: an epoch counts as no improvement when
      ``loss > best_loss - tol``; ``best_loss`` is the lowest loss so far;
    * with early stopping: the validation score (accuracy on the held-out
      samples, weighted by their sample weights) is recorded; an epoch counts
      as no improvement when ``score < best_score + tol``; every epoch with a
      strictly better score saves a copy of the weights.

    Training stops once more than ``n_iter_no_change`` epochs in a row were
    no improvement.  The memory (best values, count, best weights) lives on
    the estimator, so a warm-started ``fit`` or ``partial_fit`` carries it on.
    """

    def __init__(self, estimator: GlassnetClassifier, model: Sequential, validation=None) -> None:
        self.est = estimator
        self.model = model
        self.validation = validation  # (X_val, y_val indices, weights or None) or None
        self.epochs = 0
        self.converged = False

    def _validation_score(self) -> float:
        X_val, y_val, w_val = self.validation
        hits = np.argmax(self.model(X_val), axis=1) == y_val
        if w_val is not None and w_val.sum() > 0:
            return float(np.average(hits, weights=w_val))
        return float(np.mean(hits))

    def _validation_loss(self) -> float:
        """The held-out samples' loss as ``loss_curve_`` measures the training one: cross-entropy (weighted
        mean with sample weights) plus ``alpha/(2 n_val) sum W^2``."""
        X_val, y_val, w_val = self.validation
        log_p = log_softmax(self.model(X_val).astype(np.float64))
        per_sample = -log_p[np.arange(y_val.size), y_val]
        data = float(np.average(per_sample, weights=w_val)) if w_val is not None and w_val.sum() > 0 else float(np.mean(per_sample))
        return data + l2_penalty(self.model, float(self.est.alpha), y_val.size, "mean")

    def on_epoch_end(self, record: EpochRecord, state: TrainState) -> bool:
        est = self.est
        self.epochs += 1
        est.loss_curve_.append(float(record.train_loss))
        if est.verbose:
            print(f"Iteration {len(est.loss_curve_)}, loss = {record.train_loss:.8f}")
        if self.validation is not None:
            score = self._validation_score()
            est.validation_scores_.append(score)
            est.validation_loss_curve_.append(self._validation_loss())
            if est.verbose:
                print(f"Validation score: {score:f}")
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_params = {k: v.copy() for k, v in self.model.params().items()}
        else:
            loss = record.train_loss
            if loss > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if loss < est.best_loss_:
                est.best_loss_ = float(loss)
        if est._no_improvement_count > est.n_iter_no_change:
            self.converged = True
            if est.verbose:
                what = "Validation score" if self.validation is not None else "Training loss"
                print(
                    f"{what} did not improve more than tol={est.tol:f} for "
                    f"{est.n_iter_no_change} consecutive epochs. Stopping."
                )
            return True
        return False


# ----------------------------------------------------------------------------- the estimator
class GlassnetClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """A multilayer-perceptron classifier trained by glassnet, with scikit-learn's interface.

    The network is ``Dense -> activation [-> Dropout]`` per hidden layer and a
    final ``Dense`` with one output per class; the loss is the softmax
    cross-entropy on its logits (two outputs for a binary problem, so
    ``predict_proba`` is always ``(n_samples, n_classes)``).

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Width of each hidden layer; ``()`` is multinomial logistic regression.
    activation : str or sequence of str, default="relu"
        Any name in ``glassnet.core.activations.ACTIVATIONS``; scikit-learn's
        ``"logistic"`` means ``"sigmoid"``.  A sequence gives one per hidden
        layer (``("relu", "tanh")``; scikit-learn PR #10097).
    optimizer : str, default="adam"
        Any name in ``glassnet.optim.OPTIMIZERS`` ("sgd", "nesterov", "adam",
        "adamw", "rmsprop", "adagrad"), with its default hyperparameters apart
        from the learning rate (and momentum).
    learning_rate : float, default=1e-3
        The optimizer's constant learning rate.
    momentum : float, default=0.9
        Momentum for "sgd" and "nesterov"; ignored by the other optimizers.
    batch_size : int or "auto", default=32
        Samples per optimizer step, capped at the number of training samples;
        "auto" is ``min(200, n_samples)``.
    max_iter : int, default=200
        Maximum number of epochs (passes over the data) per ``fit``.
    tol : float, default=1e-4
        Minimum improvement of the training loss (or, with early stopping, of
        the validation score) that resets the patience count.
    n_iter_no_change : int, default=10
        Training stops after more than this many epochs in a row without an
        improvement of at least ``tol``.
    alpha : float, default=0.0
        L2 penalty ``alpha / (2 m) * sum ||W||^2`` on the weight matrices
        (``m`` the batch size; biases are not penalised), glassnet's ``l2``.
    dropout : float, default=0.0
        Dropout rate after each hidden activation (training only).
    label_smoothing : float, default=0.0
        Target ``(1 - eps) * one_hot + eps / n_classes``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified),
        stop on the validation accuracy instead of the training loss and end
        with the weights of the best validation epoch.
    validation_fraction : float, default=0.1
        Fraction held out when ``early_stopping`` is on.
    warm_start : bool, default=False
        ``fit`` continues from the current network instead of a new one
        (same classes and architecture required).
    random_state : None, int, RandomState or Generator, default=None
        Seeds the initial weights, the split, the shuffles and dropout.
    dtype : {"float32", "float64"}, default="float64"
        Precision of the network and of training.  "float32" is about twice
        as fast; "float64" makes results independent of the batch in which a
        sample is predicted, as scikit-learn's common checks require.
    verbose : bool, default=False
        Print the loss (and validation score) after each epoch.
    class_weight : dict, "balanced" or None, default=None
        Weights that multiply the sample weights of each class (scikit-learn's
        convention, #9113): ``"balanced"`` is ``n_samples / (n_classes * count_c)``,
        a dict ``{label: weight}`` sets some (the others 1).  The loss is then the
        weighted mean.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted; output column ``j`` is ``classes_[j]``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names (a DataFrame).
    model_ : glassnet.nn.model.Sequential
        The trained network (its ``meta["class_names"]`` holds the labels as text).
    loss_curve_ : list of float
        Training loss after each epoch (carried on by warm starts and ``partial_fit``).
    loss_ : float
        The last entry of ``loss_curve_``.
    n_iter_ : int
        Epochs run by the last ``fit`` (1 after ``partial_fit``).
    t_ : int
        Training samples seen in total (epochs times samples).
    best_loss_ : float or None
        Lowest training loss (None with early stopping).
    validation_loss_curve_ : list of float or None
        With early stopping: the held-out samples' loss after each epoch, measured
        as ``loss_curve_`` is (cross-entropy plus the L2 term), next to it
        (scikit-learn #18507); None without.
    validation_scores_ : list of float or None
        Validation accuracy after each epoch (None without early stopping).
    best_validation_score_ : float or None
        Best validation accuracy (None without early stopping).
    """

    def __init__(
        self,
        hidden_layer_sizes: int | Sequence[int] = (100,),
        activation: str = "relu",
        *,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        momentum: float = 0.9,
        batch_size: int | str = 32,
        max_iter: int = 200,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        alpha: float = 0.0,
        dropout: float = 0.0,
        label_smoothing: float = 0.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        warm_start: bool = False,
        random_state: Any = None,
        dtype: str = "float64",
        verbose: bool = False,
        class_weight: dict | str | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.alpha = alpha
        self.dropout = dropout
        self.label_smoothing = label_smoothing
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose
        self.class_weight = class_weight

    # ------------------------------------------------------------------ parameters
    def _architecture(self) -> tuple:
        """Checked ``(hidden sizes, activation name, dropout, dtype)``: what a warm start must keep."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        try:
            sizes = tuple(sizes)
        except TypeError:
            raise ConfigError(f"hidden_layer_sizes must be an int or a sequence of ints, got {sizes!r}") from None
        if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in sizes):
            raise ConfigError(f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}")
        names = self.activation if isinstance(self.activation, (list, tuple)) else [self.activation]
        if len(names) not in (1, len(sizes)):
            raise ConfigError(f"activation: {len(names)} names for {len(sizes)} hidden layers; give one, or one per layer")
        activation = tuple(get_activation(_ACTIVATION_ALIASES.get(a, a)).name for a in names)
        activation = activation[0] if len(activation) == 1 else activation
        dropout = check_number("dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype not in (np.float32, np.float64):
            raise ConfigError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        return tuple(int(s) for s in sizes), activation, dropout, dtype.name

    def _check_training_params(self) -> None:
        check_number("learning_rate", self.learning_rate, low=0.0, low_open=True)
        check_number("momentum", self.momentum, low=0.0, high=1.0, high_open=True)
        check_number("tol", self.tol, low=0.0)
        check_number("alpha", self.alpha, low=0.0)
        check_number("label_smoothing", self.label_smoothing, low=0.0, high=1.0, high_open=True)
        check_number("validation_fraction", self.validation_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
        check_int("max_iter", self.max_iter, low=1)
        check_int("n_iter_no_change", self.n_iter_no_change, low=1)
        if self.batch_size != "auto":
            check_int("batch_size", self.batch_size, low=1)
        lookup(OPTIMIZERS, "optimizer", self.optimizer)

    def _make_optimizer(self) -> Optimizer:
        kwargs: dict[str, Any] = {"lr": float(self.learning_rate)}
        if OPTIMIZERS[self.optimizer].takes_run_momentum:
            kwargs["momentum"] = float(self.momentum)
        return get_optimizer(self.optimizer, **kwargs)

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y, sample_weight=None) -> GlassnetClassifier:
        """Train for up to ``max_iter`` epochs (from scratch unless ``warm_start``).

        X : (n_samples, n_features); y : (n_samples,) class labels of any
        sortable type; sample_weight : (n_samples,) non-negative, optional
        (the loss becomes the weighted mean, see
        :class:`SampleWeightedSoftmaxCrossEntropy`).  Returns ``self``.
        """
        return self._fit(X, y, sample_weight=sample_weight, classes=None, incremental=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None) -> GlassnetClassifier:
        """One epoch over ``(X, y)``, continuing the network *and* the optimizer state.

        ``classes`` (every label that will ever occur) is required on the
        first call; later batches may hold any subset of them.
        """
        return self._fit(X, y, sample_weight=sample_weight, classes=classes, incremental=True)

    def _fit(self, X, y, *, sample_weight, classes, incremental: bool) -> GlassnetClassifier:
        """The steps of ``fit`` and ``partial_fit``: check the call, settle the classes, build (or keep) the
        network, the targets and loss, the validation split, then train and keep the bookkeeping."""
        arch = self._architecture()
        first_pass = self._check_call(classes, incremental)
        X, y = _validate_data(self, X, y, dtype=(np.float64, np.float32), reset=first_pass)
        check_classification_targets(y)
        sample_weight = _check_sample_weight(sample_weight, X.shape[0])
        class_labels = self._classes(y, classes, arch, first_pass, incremental)
        labels = _encode(y, class_labels)
        sample_weight = self._with_class_weight(labels, class_labels, sample_weight)
        if sample_weight is not None and not incremental:
            positive = np.unique(labels[sample_weight > 0])
            if positive.size < 2:
                raise DataError(
                    "sample_weight is zero for every sample of all classes but "
                    f"{positive.size} class(es): a classifier needs 2 classes with positive weight"
                )
        gen = self._network(X, class_labels, arch, first_pass, incremental)
        targets, loss = self._targets_and_loss(labels, sample_weight, class_labels.size)
        X, targets, validation = self._validation(X, labels, targets, sample_weight, gen)
        return self._train(X, targets, loss, validation, gen, incremental)

    def _check_call(self, classes, incremental: bool) -> bool:
        """Whether this call builds a new network; errors for the calls scikit-learn's conventions forbid."""
        self._check_training_params()
        if incremental and self.early_stopping:
            raise ConfigError("partial_fit does not support early_stopping=True")
        fitted = hasattr(self, "model_")
        if incremental and not fitted and classes is None:
            raise ConfigError("classes must be passed on the first call to partial_fit (e.g. classes=np.unique(y_all))")
        return not fitted or (not self.warm_start and not incremental)

    def _classes(self, y, classes, arch: tuple, first_pass: bool, incremental: bool) -> np.ndarray:
        """The class labels: new ones on a first pass; otherwise those of the earlier calls, checked."""
        if first_pass:
            class_labels = np.unique(y if classes is None else np.asarray(classes))
            if class_labels.size < 2:
                raise DataError(
                    f"a classifier needs samples of at least 2 classes, got 1 class ({class_labels[0]!r})"
                )
            return class_labels
        class_labels = self.classes_
        if classes is not None and not np.array_equal(np.unique(np.asarray(classes)), class_labels):
            raise DataError(f"classes={np.unique(classes)!r} differs from the classes of the earlier calls, {class_labels!r}")
        if self.warm_start and not incremental and not np.array_equal(np.unique(y), class_labels):
            raise DataError(
                "warm_start can only be used where y has the same classes as in the previous call "
                f"to fit: previously {class_labels!r}, y has {np.unique(y)!r}"
            )
        if arch != self._arch:
            raise ConfigError(
                f"the network was built as {self._arch} (hidden sizes, activation, dropout, dtype) but the "
                f"parameters now ask for {arch}; set warm_start=False to start afresh"
            )
        return class_labels

    def _network(self, X, class_labels: np.ndarray, arch: tuple, first_pass: bool, incremental: bool):
        """Build the network on a first pass (and reset the bookkeeping); return the run's generator."""
        if first_pass:
            self.classes_ = class_labels
            sizes, activation, dropout, dtype = arch
            gen = _generator(self.random_state)
            self.model_ = mlp(
                [X.shape[1], *sizes, class_labels.size], activation, dropout=dropout, rng=gen, dtype=dtype
            )
            self.model_.meta["class_names"] = [str(c) for c in class_labels]
            self._arch = arch
            self.loss_curve_ = []
            self.t_ = 0
            self._opt_state = None
            self._opt_type = None
            self._reset_stopping_memory()
        elif incremental:
            gen = self._rng  # partial_fit continues the run's generator
        else:
            gen = _generator(self.random_state)
        if self.early_stopping and self.validation_scores_ is None or not self.early_stopping and self.best_loss_ is None:
            self._reset_stopping_memory()  # early_stopping was switched between warm-started fits
        self._rng = gen
        return gen

    def _targets_and_loss(self, labels: np.ndarray, sample_weight, n_classes: int):
        """Class indices for the plain loss; weighted one-hot rows with sample (and class) weights."""
        if sample_weight is None:
            return labels, SoftmaxCrossEntropy(label_smoothing=float(self.label_smoothing))
        rows = weighted_target_rows(labels, sample_weight, n_classes, self.model_.dtype)
        return rows, SampleWeightedSoftmaxCrossEntropy(label_smoothing=float(self.label_smoothing))

    def _validation(self, X, labels, targets, sample_weight, gen):
        """With early stopping: hold out ``validation_fraction`` (stratified, every class in it)."""
        if not self.early_stopping:
            return X, targets, None
        train_idx, val_idx = stratified_split(labels, float(self.validation_fraction), gen, every_class=True)
        if val_idx.size < 2:
            raise DataError(
                f"the validation set is too small ({val_idx.size} sample): increase validation_fraction "
                "or the number of samples"
            )
        validation = (
            self.model_.check_input(X[val_idx]),
            labels[val_idx],
            None if sample_weight is None else sample_weight[val_idx],
        )
        return X[train_idx], targets[train_idx], validation

    def _train(self, X, targets, loss, validation, gen, incremental: bool) -> GlassnetClassifier:
        """Run ``glassnet.train.fit`` with scikit-learn's stopping rule; keep the optimizer state for partial_fit."""
        model = self.model_
        n_train = X.shape[0]
        batch_size = min(200, n_train) if self.batch_size == "auto" else min(int(self.batch_size), n_train)
        optimizer = self._make_optimizer()
        state = TrainState(rng=gen)
        if incremental and self._opt_type is type(optimizer):
            state.opt_state = self._opt_state  # the moments and step count of the previous calls
        stopping = _SklearnStopping(self, model, validation)
        train_fit(model, X, targets, optimizer=optimizer, loss=loss, epochs=1 if incremental else int(self.max_iter),
                  batch_size=batch_size, l2=float(self.alpha), rng=gen, callbacks=[stopping], state=state)
        self._opt_state, self._opt_type = state.opt_state, type(optimizer)
        self.n_iter_ = stopping.epochs
        self.t_ += stopping.epochs * n_train
        self.loss_ = self.loss_curve_[-1]
        if self.early_stopping and self._best_params is not None:
            model.set_params(self._best_params)
        if not incremental and not stopping.converged and stopping.epochs == self.max_iter:
            warnings.warn(
                f"GlassnetClassifier: maximum iterations ({self.max_iter}) reached and the optimization "
                "hasn't converged yet.",
                ConvergenceWarning,
            )
        return self

    def _with_class_weight(self, labels: np.ndarray, class_labels: np.ndarray,
                           sample_weight: np.ndarray | None) -> np.ndarray | None:
        """``class_weight`` multiplies the sample weights, scikit-learn's convention: ``"balanced"`` gives class c
        the weight ``n_samples / (n_classes * count_c)``, a dict ``{label: weight}`` its own (others 1)."""
        cw = self.class_weight
        if cw is None:
            return sample_weight
        k = class_labels.size
        if isinstance(cw, str):
            if cw != "balanced":
                raise ConfigError(f"class_weight must be None, 'balanced' or a dict {{label: weight}}, got {cw!r}")
            per_class = balanced_class_weights(labels, k)
        elif isinstance(cw, dict):
            unknown = [c for c in cw if c not in set(class_labels.tolist())]
            if unknown:
                raise ConfigError(f"class_weight names labels that are not classes: {unknown!r}")
            per_class = np.array([float(cw.get(c, 1.0)) for c in class_labels.tolist()])
            if not np.all(np.isfinite(per_class)) or np.any(per_class < 0):
                raise ConfigError("class_weight values must be finite and >= 0")
        else:
            raise ConfigError(f"class_weight must be None, 'balanced' or a dict {{label: weight}}, got {cw!r}")
        weights = per_class[labels]
        return weights if sample_weight is None else sample_weight * weights

    def transform(self, X) -> np.ndarray:
        """The last hidden layer's activations, ``(n_samples, hidden_layer_sizes[-1])`` (float64): the features the
        output layer classifies, e.g. for a pipeline or a plot (scikit-learn #8291)."""
        check_is_fitted(self)
        X = self.model_.check_input(_validate_data(self, X, dtype=(np.float64, np.float32), reset=False))
        hidden = [i for i, layer in enumerate(self.model_.layers) if isinstance(layer, Activation)]
        if not hidden:
            raise ConfigError("transform needs a hidden layer; this classifier has hidden_layer_sizes=() "
                              "(logistic regression), whose only features are the inputs")
        last = hidden[-1]
        chunks = []
        for start in range(0, X.shape[0], _PREDICT_CHUNK):
            captured: list[np.ndarray] = []
            self.model_.forward(X[start : start + _PREDICT_CHUNK], capture=captured)
            chunks.append(captured[last])
        return np.concatenate(chunks).astype(np.float64, copy=False)

    def _reset_stopping_memory(self) -> None:
        self._no_improvement_count = 0
        self._best_params = None
        if self.early_stopping:
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
            self.best_validation_score_ = -math.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.validation_loss_curve_ = None
            self.best_validation_score_ = None
            self.best_loss_ = math.inf

    # ------------------------------------------------------------------ prediction
    def _logits(self, X) -> np.ndarray:
        """Logits ``(n_samples, n_classes)`` in float64 (computed in the network's dtype)."""
        check_is_fitted(self)
        X = _validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        X = self.model_.check_input(X)
        chunks = [self.model_(X[start : start + _PREDICT_CHUNK]) for start in range(0, X.shape[0], _PREDICT_CHUNK)]
        return np.concatenate(chunks).astype(np.float64, copy=False)

    def predict(self, X) -> np.ndarray:
        """The most probable class label of each sample, ``(n_samples,)``, from ``classes_``."""
        logits = self._logits(X)  # first: it raises NotFittedError before classes_ is looked up
        return self.classes_[np.argmax(logits, axis=1)]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``softmax(logits)``, ``(n_samples, n_classes)``, columns in ``classes_`` order."""
        return softmax(self._logits(X))

    def predict_log_proba(self, X) -> np.ndarray:
        """``log predict_proba`` computed as ``z - logsumexp(z)``: finite even where a probability underflows to 0."""
        return log_softmax(self._logits(X))

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")


# ----------------------------------------------------------------------------- small helpers
def _encode(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Class labels -> indices into the sorted ``classes`` (a LabelEncoder), refusing unknown labels."""
    index = np.searchsorted(classes, y)
    index = np.clip(index, 0, classes.size - 1)
    unknown = classes[index] != y
    if np.any(unknown):
        raise DataError(f"y has labels not in classes_ {classes!r}: {np.unique(y[unknown])[:5]!r}")
    return index.astype(np.int64)
