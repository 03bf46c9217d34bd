"""The training loop: shuffle, batch, forward, loss, backward, update; hand records to callbacks.

::

    history = fit(model, X, y, optimizer=SGD(lr=0.1, momentum=0.9), epochs=10,
                  batch_size=128, validation_split=0.1, rng=np.random.default_rng(0))

* One explicit ``np.random.Generator`` drives everything random in a run
  (the validation split, the shuffle of every epoch, dropout masks), so the
  same seed and data give the same weights, bit for bit.
* ``batch_size=1`` is online learning, ``batch_size=None`` full-batch,
  anything between mini-batch.  Each epoch visits every sample once in a new
  random order (``shuffle=False`` keeps the data order).
* The loop never prints.  It calls the callbacks: ``on_train_begin(state, info)``
  with the :class:`TrainState` and a dict ``info`` (keys ``epochs``,
  ``steps_per_epoch``, ``n_samples``, ``batch_size``, ``n_val``, ``model``,
  ``loss``), ``on_batch_end(step)`` with a :class:`StepInfo`,
  ``on_epoch_end(record, state)`` with an :class:`EpochRecord` (returning True
  stops training) and ``on_train_end(history)``; a callback defines any of them
  (:class:`Callback`).  The progress bar, the doctor and checkpoints are
  callbacks.
* All of a run's mutable state is one :class:`TrainState`; passing a saved
  one back as ``state=`` resumes the run exactly where it stopped.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np

from glassnet.errors import ConfigError, DataError, NonFiniteError
from glassnet.data.labels import check_labels
from glassnet.data.splits import stratified_split
from glassnet.core.fpenv import flush_denormals as flushing
from glassnet.nn.losses import Loss, get_loss
from glassnet.nn.model import Sequential, as_generator
from glassnet.nn.objective import forward_backward, l2_penalty
from glassnet.optim.optimizers import OptState, apply_updates, clip_by_global_norm
from glassnet.optim.schedules import PlateauState, ReduceLROnPlateau
from glassnet.train.threads import ThreadPolicy

__all__ = [
    "EpochRecord",
    "History",
    "StepInfo",
    "TrainState",
    "Callback",
    "EarlyStopping",
    "fit",
    "evaluate_loss",
    "stratified_split",
    "check_labels",
]


@dataclass
class EpochRecord:
    """Metrics of one epoch.  Losses include the L2 term; ``val_*`` are NaN without validation data."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float = math.nan
    val_accuracy: float = math.nan
    lr: float = math.nan
    seconds: float = 0.0
    samples_per_second: float = 0.0
    steps: int = 0
    #: tensor name -> mean ``||dJ/dp||`` over the epoch's sampled steps; filled by
    #: :class:`glassnet.train.callbacks.grad_norms.GradientNorms` when it is one of the callbacks, else empty.
    grad_norms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN (no validation data, a diverged loss) becomes None, also inside ``grad_norms``."""
        def finite(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {k: ({n: finite(x) for n, x in v.items()} if isinstance(v, dict) else finite(v))
                for k, v in asdict(self).items()}


@dataclass
class History:
    """Every epoch's :class:`EpochRecord`, oldest first."""

    records: list[EpochRecord] = field(default_factory=list)
    #: epoch whose weights the model holds at the end (the best one with early stopping), or None.
    best_epoch: int | None = None
    stopped_early: bool = False

    def __getitem__(self, key: str) -> list[float]:
        """``history["val_loss"]`` -> that metric for every epoch."""
        return [getattr(r, key) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (see :meth:`EpochRecord.to_dict`)."""
        return {
            "records": [r.to_dict() for r in self.records],
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "History":
        def restore(v: Any) -> Any:
            if isinstance(v, dict):
                return {n: (math.nan if x is None else x) for n, x in v.items()}
            return math.nan if v is None else v

        records = [EpochRecord(**{k: restore(v) for k, v in r.items()}) for r in data["records"]]
        return cls(records, data.get("best_epoch"), data.get("stopped_early", False))


@dataclass
class StepInfo:
    """What a callback sees after each optimizer step (arrays are live: copy what you keep)."""

    step: int
    epoch: int
    batch_size: int
    loss: float
    model: Sequential
    X_batch: np.ndarray
    y_batch: np.ndarray
    outputs: np.ndarray
    grads: dict[str, np.ndarray]
    updates: dict[str, np.ndarray]
    state: "TrainState"


@dataclass
class TrainState:
    """Everything a run needs to continue: position, RNG, optimizer state, history, early-stopping memory."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken in total
    position: int = 0  # samples of the current epoch already used
    order: np.ndarray | None = None  # this epoch's sample order
    opt_state: OptState | None = None  # the optimizer's NamedTuple state (None until fit calls optimizer.init)
    #: the run's one generator (split, shuffles, dropout); its state is part of a checkpoint
    rng: np.random.Generator | None = None
    #: indices of the validation samples held out by ``validation_split`` (fixed for the whole run)
    val_index: np.ndarray | None = None
    history: History = field(default_factory=History)
    best_score: float = math.inf
    best_params: dict[str, np.ndarray] | None = None
    #: the model state (BatchNorm's running statistics) that goes with ``best_params``
    best_state: dict[str, np.ndarray] | None = None
    bad_epochs: int = 0
    # running sums of the current epoch (so a resumed epoch reports the same numbers)
    epoch_loss_sum: float = 0.0
    epoch_correct: int = 0
    epoch_seen: int = 0
    epoch_steps: int = 0
    epoch_seconds: float = 0.0
    stop: bool = False
    #: running state of a metric-driven learning-rate schedule (:class:`~glassnet.optim.schedules.ReduceLROnPlateau`)
    plateau: PlateauState | None = None
    #: running state of callbacks whose results go into the history, by callback (JSON-safe numbers only,
    #: so a checkpoint holds it and a resumed history is identical): e.g. GradientNorms' per-epoch sums
    callback_state: dict[str, dict[str, float]] = field(default_factory=dict)

    def begin_epoch(self, order: np.ndarray) -> None:
        """Start an epoch that visits the samples in ``order``: position 0 and zeroed running sums."""
        self.order, self.position = order, 0
        self.epoch_loss_sum, self.epoch_seconds = 0.0, 0.0
        self.epoch_correct = self.epoch_seen = self.epoch_steps = 0


class Callback(Protocol):
    """What ``fit`` calls, each method optional: ``on_train_begin(state, info)`` once before the first step
    (``info``: epochs, steps_per_epoch, n_samples, batch_size, n_val, model, loss), ``on_batch_end(step)``
    after every step, ``on_epoch_end(record, state)`` after every epoch (True stops the run) and
    ``on_train_end(history)`` at the end."""

    def on_train_begin(self, state: TrainState, info: dict[str, Any]) -> None: ...
    def on_batch_end(self, step: StepInfo) -> None: ...
    def on_epoch_end(self, record: EpochRecord, state: TrainState) -> bool | None: ...
    def on_train_end(self, history: History) -> None: ...


def _call(callbacks: Sequence[Any], method: str, *args: Any) -> bool:
    stop = False
    for cb in callbacks:
        fn = getattr(cb, method, None)
        if fn is not None and fn(*args):
            stop = True
    return stop


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` ("val_loss" or "train_loss") has not improved by ``min_delta`` for
    ``patience`` epochs; with ``restore_best`` the model ends with the best epoch's weights."""

    patience: int = 5
    min_delta: float = 0.0
    monitor: str = "val_loss"
    restore_best: bool = True

    def __post_init__(self) -> None:
        if self.monitor not in ("val_loss", "train_loss"):
            raise ConfigError(f"EarlyStopping can monitor 'val_loss' or 'train_loss', got {self.monitor!r}")
        if self.patience < 0:
            raise ConfigError(f"patience must be >= 0, got {self.patience}")


# ----------------------------------------------------------------------------- data helpers
def evaluate_loss(
    model: Sequential, loss: Loss, X: np.ndarray, y: np.ndarray, *, l2: float = 0.0, batch_size: int = 4096
) -> tuple[float, float]:
    """Mean loss (plus the L2 term, with ``m`` the number of samples) and accuracy of ``model`` on ``(X, y)``."""
    n = X.shape[0]
    total, correct = 0.0, 0
    threshold = one_column_threshold(model, loss)
    for start in range(0, n, batch_size):
        xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        out = model(xb)
        value = loss(out, yb)[0]
        total += value * (xb.shape[0] if loss.reduction == "mean" else 1.0)
        correct += _n_correct(out, yb, threshold)
    mean = total / n if loss.reduction == "mean" else total
    return mean + l2_penalty(model, l2, n, loss.reduction), correct / n


def _n_correct(outputs: np.ndarray, y: np.ndarray, threshold: float) -> int:
    """Correct predictions: the argmax of each row, or for one output column ``output > threshold``
    (:func:`one_column_threshold`)."""
    pred = np.argmax(outputs, axis=1) if outputs.shape[1] > 1 else outputs[:, 0] > threshold
    truth = y if y.ndim == 1 else np.argmax(y, axis=1)
    return int(np.count_nonzero(pred == truth))


def one_column_threshold(model: Sequential, loss: Loss) -> float:
    """Where a one-column output switches from class 0 to class 1, from what the model and the loss
    declare (never guessed from the values): 0.5 when the output is a probability (a ``probs`` model) or
    the label itself (a loss that ``expects`` "any", such as MSE on 0/1 targets), 0 for a logit
    (sigmoid(0) = 0.5), log 0.5 for a log-probability."""
    if model.output_kind == "probs" or loss.expects == "any":
        return 0.5
    return math.log(0.5) if model.output_kind == "log_probs" else 0.0


def _first_nonfinite_layer(model: Sequential, X: np.ndarray) -> str:
    captured: list[np.ndarray] = []
    with np.errstate(all="ignore"):
        model.forward(X, capture=captured)
    for i, out in enumerate(captured):
        if not np.all(np.isfinite(out)):
            return f"layer {i} ({model.layers[i].describe()})"
    for name, p in model.params().items():
        if not np.all(np.isfinite(p)):
            return f"parameter {name}"
    return "the loss (every layer output is finite)"


# ----------------------------------------------------------------------------- the loop
def fit(
    model: Sequential,
    X: np.ndarray,
    y: np.ndarray,
    *,
    optimizer: Any,
    loss: Loss | str = "softmax_cross_entropy",
    epochs: int = 10,
    batch_size: int | None = 128,
    l2: float = 0.0,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    validation_split: float = 0.0,
    early_stopping: EarlyStopping | None = None,
    clip_norm: float | None = None,
    shuffle: bool = True,
    rng: np.random.Generator | int | None = None,
    callbacks: Sequence[Any] = (),
    state: TrainState | None = None,
    flush_denormals: bool = True,
    threads: int | str | None = None,
) -> History:
    """Train ``model`` in place on ``X : (n, n_in)``, ``y : (n,)`` labels (or ``(n, k)`` targets).

    ``optimizer`` follows ``glassnet.optim`` (``init``/``update``);
    ``loss`` is a :class:`~glassnet.nn.losses.Loss` or a registered name.
    Returns the :class:`History`; the model holds the final (or, with early
    stopping and ``restore_best``, the best) weights.  ``callbacks`` are
    objects with any of ``on_train_begin(state, info)``, ``on_batch_end(step)``,
    ``on_epoch_end(record, state)`` and ``on_train_end(history)``
    (:class:`Callback`).

    Raises :class:`~glassnet.errors.DataError` / :class:`~glassnet.errors.ShapeError`
    for unusable data (NaN/inf rows, wrong width, labels out of range or not
    integers, X and y of different lengths, empty data, and a new run whose
    labels are all one class) and :class:`~glassnet.errors.ConfigError` for bad
    settings (batch size outside ``[1, n]``, epochs, validation split, clip norm,
    an object that is not an optimizer); see docs/bad-inputs.md.

    A model with BatchNorm needs at least 2 samples per training batch: a
    batch size of 1 is a ConfigError, and a last batch that would hold a single
    sample joins the batch before it.

    ``flush_denormals`` (default True) runs the loop with subnormal floats
    flushed to zero (:mod:`glassnet.core.fpenv`): they change nothing above
    ``1.2e-38`` in float32 but make a CPU's arithmetic tens of times slower,
    and momentum buffers fill with them as training goes on (an epoch of
    784-256-10 at batch 128 slowed from 0.44 s to 0.75 s without it).  The
    previous floating-point mode is restored when ``fit`` returns.

    ``threads``: the BLAS thread count during training (:mod:`glassnet.train.threads`): ``"auto"``
    measures 1 and all cores at the start of every epoch, and again within it when the steps slow down
    twofold, and keeps the faster (``glassnet train --threads auto``), an int pins it, None (the default,
    here and in the CLI) leaves the BLAS as it is.  The count is restored when ``fit`` returns.  OpenBLAS sums some products in a different order with another thread count,
    so bit-for-bit identical runs need the same fixed count (or None), not ``"auto"``.
    """
    loss = get_loss(loss)
    policy = ThreadPolicy(threads)
    _check_settings(optimizer, epochs, validation_split, validation_data)
    given_state = state is not None
    if state is None:
        state = TrainState(rng=as_generator(rng))
    elif state.rng is None:
        state.rng = as_generator(rng)
    X, y, rows, X_val, y_val = _training_data(model, loss, X, y, validation_data, validation_split, state,
                                              given_state)
    if early_stopping is not None and early_stopping.monitor == "val_loss" and X_val is None:
        raise ConfigError("early stopping on val_loss needs validation_data or validation_split")
    n = X.shape[0] if rows is None else rows.size
    batch_size = _checked_batch_size(batch_size, n)
    _check_batch_statistics(model, batch_size)
    # with batch statistics a last batch of one sample joins the batch before it
    merge_last = model.uses_batch_statistics and n % batch_size == 1
    if clip_norm is not None and not (clip_norm > 0 and math.isfinite(clip_norm)):
        raise ConfigError(f"clip_norm must be a positive number, got {clip_norm!r}")
    if state.order is not None and (state.order.shape != (n,) or state.order.min() < 0 or state.order.max() >= n):
        raise DataError(f"the resumed state's sample order does not index these {n} training samples")
    if state.position > n:
        raise DataError(f"the resumed state's position {state.position} is past these {n} training samples")

    if state.opt_state is None:
        state.opt_state = optimizer.init(model.params())
    schedule = getattr(optimizer, "lr", None)
    if isinstance(schedule, ReduceLROnPlateau):  # the run's state owns the schedule's running state
        if state.plateau is None:
            state.plateau = schedule.init_state()
        schedule.bind(state.plateau)
    buffer = np.empty((batch_size + int(merge_last), X.shape[1]), dtype=model.dtype)
    step = _Stepper(model, loss, optimizer, l2, clip_norm, callbacks, buffer)
    _call(callbacks, "on_train_begin", state, {
        "epochs": epochs, "steps_per_epoch": -(-n // batch_size) - int(merge_last), "n_samples": n, "batch_size": batch_size,
        "n_val": 0 if X_val is None else X_val.shape[0], "model": model, "loss": loss,
    })
    # Overflow is reported as a NonFiniteError naming the step and layer, not as numpy warnings.
    policy.begin()
    try:
        with np.errstate(over="ignore", invalid="ignore"), flushing(flush_denormals):
            _epochs(step, policy, model, loss, l2, X, y, rows, X_val, y_val, state, schedule, epochs, batch_size,
                    shuffle, merge_last, early_stopping, callbacks)
    finally:
        policy.end()

    if early_stopping is not None and early_stopping.restore_best and state.best_params is not None:
        model.set_params(state.best_params)
        if state.best_state is not None:
            model.set_state(state.best_state)
    _call(callbacks, "on_train_end", state.history)
    return state.history


def _epochs(step: "_Stepper", policy: ThreadPolicy, model, loss, l2, X, y, rows, X_val, y_val, state: TrainState,
            schedule, epochs: int, batch_size: int, shuffle: bool, merge_last: bool, early_stopping, callbacks) -> None:
    """Run epochs until ``epochs`` or a stop; each ends with its record, early stopping and the callbacks."""
    while state.epoch < epochs and not state.stop:
        if not _run_epoch(step, X, y, batch_size, shuffle, state, merge_last, policy, rows):
            break  # stopped mid-epoch by a callback
        state.epoch += 1
        record = _end_of_epoch(model, loss, l2, X, y, X_val, y_val, state, schedule)
        state.history.records.append(record)
        state.order = None
        if early_stopping is not None:
            _early_stopping(early_stopping, record, model, state)
        if _call(callbacks, "on_epoch_end", record, state):
            state.stop = True


def _check_settings(optimizer: Any, epochs: Any, validation_split: Any, validation_data: Any) -> None:
    """ConfigError for an object that is not an optimizer, bad epochs, validation split or validation data."""
    if not (callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))):
        raise ConfigError(
            f"optimizer must be a glassnet.optim optimizer (with init and update), got {optimizer!r}; "
            "e.g. SGD(lr=0.1) or get_optimizer('adam', lr=1e-3)"
        )
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ConfigError(f"epochs must be a non-negative integer, got {epochs!r}")
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.floating)) or not (
        0.0 <= validation_split < 1.0
    ):
        raise ConfigError(f"validation_split must be a number in [0, 1), got {validation_split!r}")
    if validation_data is not None and not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
        raise ConfigError(f"validation_data must be a pair (X_val, y_val), got {type(validation_data).__name__}")


def _training_data(model, loss, X, y, validation_data, validation_split, state: TrainState, given_state: bool):
    """Checked ``(X, y, rows, X_val, y_val)``: the validation part given, or held out of ``(X, y)`` (stratified,
    remembered in ``state.val_index`` so a resumed run holds out the same samples), or None.

    ``rows`` (sorted int64) are the rows of ``X`` that train when a validation split is held out, None when
    all of them do.  The training rows are not copied out of ``X`` (a copy of 54,000 of Fashion-MNIST's
    60,000 images is 170 MB); batches are gathered from ``X`` through ``rows`` (``_run_epoch``).
    """
    X = model.check_input(X)
    y = check_labels(y, model.n_outputs if loss.expects != "any" or np.ndim(y) == 1 else None, X.shape[0])
    if not given_state and y.ndim == 1 and np.all(y == y[0]):
        # A new run on one class learns only "always say that class".  A run that continues
        # (state=, e.g. an incremental batch that happens to hold one class) is not refused.
        raise DataError(f"every label is {int(y[0])}: a classifier needs samples of at least 2 classes, got 1 class")
    if validation_data is not None:
        X_val = model.check_input(validation_data[0])
        return X, y, None, X_val, check_labels(validation_data[1], model.n_outputs, X_val.shape[0])
    if not validation_split:
        return X, y, None, None, None
    if state.val_index is None:
        state.val_index = stratified_split(y, validation_split, state.rng, every_class=True)[1]
    elif state.val_index.size and (state.val_index.min() < 0 or state.val_index.max() >= X.shape[0]):
        raise DataError(f"the resumed state's validation indices do not index these {X.shape[0]} samples")
    keep = np.ones(X.shape[0], dtype=bool)
    keep[state.val_index] = False
    return X, y, np.flatnonzero(keep), X[state.val_index], y[state.val_index]


def _checked_batch_size(batch_size: Any, n: int) -> int:
    """``batch_size`` (None: the whole set, full-batch training) checked to lie in ``[1, n]``."""
    if batch_size is None:
        return n
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or not 1 <= batch_size <= n:
        raise ConfigError(f"batch_size must be an integer in [1, {n}] (the number of training samples), got {batch_size!r}")
    return int(batch_size)


def _check_batch_statistics(model: Sequential, batch_size: int) -> None:
    """BatchNorm normalises by the batch's statistics: a batch of one sample has none worth the name."""
    if model.uses_batch_statistics and batch_size < 2:
        first = next(layer for layer in model.layers if getattr(layer, "batch_statistics", False))
        raise ConfigError(
            f"batch size 1 cannot train a model with {first.describe()}: in training mode it normalises each "
            "feature by the batch's mean and variance, and one sample has variance 0; use a batch size >= 2 "
            "(or LayerNorm, which normalises each sample on its own)"
        )


@dataclass
class _Stepper:
    """One optimisation step: forward, loss, backward, clipping, update, bookkeeping, callbacks."""

    model: Sequential
    loss: Loss
    optimizer: Any
    l2: float
    clip_norm: float | None
    callbacks: Sequence[Any]
    x_buffer: np.ndarray  # (batch_size, n_in): the batch is gathered here, no new array per step
    params: dict[str, np.ndarray] = field(init=False)  # the live parameter and gradient arrays, fetched once
    grads: dict[str, np.ndarray] = field(init=False)
    threshold: float = field(init=False)  # a one-column output's class boundary (one_column_threshold)

    def __post_init__(self) -> None:
        self.params, self.grads = self.model.params(), self.model.grads()
        self.threshold = one_column_threshold(self.model, self.loss)

    def __call__(self, X: np.ndarray, y: np.ndarray, idx: np.ndarray, state: TrainState) -> None:
        model, params, grads, b = self.model, self.params, self.grads, idx.size
        xb = self.x_buffer[:b]
        # mode="clip" because the default mode="raise" gathers into a temporary and copies it
        # into out; idx are rows of X (the epoch order, mapped through the training rows), never clipped.
        np.take(X, idx, axis=0, out=xb, mode="clip")
        yb = y[idx]
        value, outputs, _ = forward_backward(model, self.loss, xb, yb, l2=self.l2, training=True, rng=state.rng)
        if not math.isfinite(value):
            raise NonFiniteError(
                f"the loss became {value} at step {state.step + 1} (epoch {state.epoch + 1}); "
                f"first non-finite value in {_first_nonfinite_layer(model, xb)}. "
                "Try a smaller learning rate, gradient clipping (--clip-norm) or scaled inputs."
            )
        if self.clip_norm is not None:
            norm = clip_by_global_norm(grads, self.clip_norm)
            if not math.isfinite(norm):
                raise NonFiniteError(f"a gradient became non-finite at step {state.step + 1}")
        updates, state.opt_state = self.optimizer.update(grads, state.opt_state, params)
        apply_updates(params, updates)
        state.step += 1
        state.position += b
        # the batch loss of a mean-reduced loss times b is the batch's summed loss
        state.epoch_loss_sum += value * (b if self.loss.reduction == "mean" else 1.0)
        state.epoch_seen += b
        state.epoch_steps += 1
        state.epoch_correct += _n_correct(outputs, yb, self.threshold)
        if self.callbacks:
            _call(self.callbacks, "on_batch_end",
                  StepInfo(state.step, state.epoch, b, value, model, xb, yb, outputs, grads, updates, state))


def _run_epoch(step: _Stepper, X: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, state: TrainState,
               merge_last: bool = False, policy: ThreadPolicy | None = None, rows: np.ndarray | None = None) -> bool:
    """The steps of one epoch from ``state.position`` on (a resumed run continues mid-epoch).

    A new epoch draws its sample order from ``state.rng``.  Returns False when a callback
    stopped the run before the epoch's end.  With ``merge_last`` a last batch of one sample
    joins the batch before it.  With ``rows`` only those rows of ``X`` train: the order is over
    positions ``0 .. len(rows) - 1`` (as if ``X[rows]`` had been copied, so checkpoints do not
    change) and each batch's positions are mapped to rows of ``X``.
    """
    n = X.shape[0] if rows is None else rows.size
    if state.order is None:
        state.begin_epoch(state.rng.permutation(n) if shuffle else np.arange(n))
    threads = policy is not None and policy.active
    if threads:
        policy.start_epoch()
    started = time.perf_counter()
    while state.position < n and not state.stop:
        end = state.position + batch_size
        if threads:
            policy.before_step()
        batch = state.order[state.position : n if merge_last and end == n - 1 else end]
        step(X, y, batch if rows is None else rows[batch], state)
        if threads:
            policy.after_step()
    state.epoch_seconds += time.perf_counter() - started
    if threads:
        state.callback_state["threads"] = {"count": float(policy.count or 0)}
    return state.position >= n


def _end_of_epoch(model, loss, l2, X, y, X_val, y_val, state: TrainState, schedule) -> EpochRecord:
    """Close the epoch: training means, validation metrics, the learning rate, plateau feedback."""
    divisor = state.epoch_seen if loss.reduction == "mean" else 1
    record = EpochRecord(
        epoch=state.epoch,
        train_loss=state.epoch_loss_sum / divisor,
        train_accuracy=state.epoch_correct / max(state.epoch_seen, 1),
        seconds=state.epoch_seconds,
        samples_per_second=state.epoch_seen / state.epoch_seconds if state.epoch_seconds > 0 else math.inf,
        steps=state.epoch_steps,
    )
    if X_val is not None:
        record.val_loss, record.val_accuracy = evaluate_loss(model, loss, X_val, y_val, l2=l2)
    if callable(schedule):
        record.lr = float(schedule(state.step))
        if isinstance(schedule, ReduceLROnPlateau):
            state.plateau, _ = schedule.update(state.plateau, record.val_loss if X_val is not None else record.train_loss)
            schedule.bind(state.plateau)
    elif isinstance(schedule, (int, float)):
        record.lr = float(schedule)
    return record


def _early_stopping(rule: EarlyStopping, record: EpochRecord, model: Sequential, state: TrainState) -> None:
    score = record.val_loss if rule.monitor == "val_loss" else record.train_loss
    if score < state.best_score - rule.min_delta:
        state.best_score = score
        state.bad_epochs = 0
        state.history.best_epoch = record.epoch
        if rule.restore_best:
            state.best_params = {k: v.copy() for k, v in model.params().items()}
            state.best_state = {k: v.copy() for k, v in model.state().items()}
    else:
        state.bad_epochs += 1
        if state.bad_epochs > rule.patience:
            state.stop = True
            state.history.stopped_early = True
