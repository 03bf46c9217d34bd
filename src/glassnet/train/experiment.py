"""One training run from a plain configuration: dataset -> scaling -> model -> optimizer -> fit -> test.

The command line, the presets and the benchmark all describe a run as a
:class:`TrainConfig` and hand it to :func:`run`; nothing here prints (progress
goes through the callbacks the caller passes).

Presets are named sets of configuration values (``PRESETS``); options given
explicitly override them.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Sequence

import numpy as np

from glassnet.errors import ConfigError
from glassnet.core.registry import accepts, lookup
from glassnet.io.schema import check, schema_of
from glassnet.nn.losses import LOSSES, get_loss
from glassnet.train.metrics import accuracy
from glassnet.nn.model import Sequential, mlp
from glassnet.optim.optimizers import OPTIMIZERS, Optimizer, get_optimizer
from glassnet.optim.schedules import SCHEDULES, get_schedule, schedule_in_epochs, schedule_to_config
from glassnet.train.loop import EarlyStopping, History, TrainState, fit

__all__ = ["TrainConfig", "TRAIN_CONFIG_SCHEMA", "schedule_changes_with_epochs", "PRESETS", "Prepared", "RunResult", "prepare", "train", "run", "build_model", "build_schedule", "build_optimizer", "build_loss", "preset_config", "data_location"]


@dataclass
class TrainConfig:
    """Everything that defines a training run (all JSON-serialisable)."""

    dataset: str = "digits"
    data_dir: str | None = None
    hidden: tuple[int, ...] = (128,)
    activation: str = "relu"
    loss: str = "softmax_cross_entropy"
    label_smoothing: float = 0.0
    #: None, "balanced" (n / (k count_c) per class, from the training labels) or a file of one weight per class
    class_weight: str | None = None
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    l2: float = 0.0
    dropout: float = 0.0
    #: "none", "batch" (BatchNorm) or "layer" (LayerNorm) between each hidden Dense and its activation
    norm: str = "none"
    epochs: int = 30
    batch_size: int | None = 32
    seed: int = 0
    val_split: float = 0.1
    early_stopping: int | None = None
    clip_norm: float | None = None
    dtype: str = "float32"
    scaling: str = "auto"
    download: bool = True

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """The inverse of :meth:`to_dict`: missing keys take their defaults; unknown keys and values of the
        wrong type (checked against :data:`TRAIN_CONFIG_SCHEMA`) are a ConfigError."""
        check(values, TRAIN_CONFIG_SCHEMA, "configuration", error=ConfigError)
        values = dict(values)
        if "hidden" in values:
            values["hidden"] = tuple(values["hidden"])
        return cls(**values)


#: TrainConfig as JSON (``to_dict``), derived from its fields: what ``from_dict`` and checkpoints accept.
TRAIN_CONFIG_SCHEMA = schema_of(TrainConfig)


#: name -> (description, overrides of TrainConfig).  Measured figures are in README.md.
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "digits": (
        "the offline default: 8x8 digits, 256 relu units with dropout",
        {"dataset": "digits", "hidden": (256,), "scaling": "standard", "lr": 0.05, "epochs": 50, "dropout": 0.2},
    ),
    "mnist": (
        "MNIST-sized digits (e.g. the 10,000 test digits split 8,000/2,000), 256-128 relu with dropout",
        {"hidden": (256, 128), "epochs": 30, "batch_size": 64, "lr": 0.05, "dropout": 0.2},
    ),
    "fashion-256": (
        "full Fashion-MNIST, one hidden layer of 256 relu units",
        {"dataset": "fashion-mnist", "hidden": (256,), "epochs": 30, "batch_size": 128, "lr": 0.05,
         "schedule": "cosine_with_warmup", "warmup_epochs": 1, "scaling": "standard"},
    ),
    "fashion-fast": (
        "full Fashion-MNIST against the clock: 256 relu units, label smoothing, a cosine schedule, "
        "trained on all 60,000 images (chosen on a validation split of a tenth)",
        {"dataset": "fashion-mnist", "hidden": (256,), "epochs": 20, "batch_size": 128, "lr": 0.05,
         "schedule": "cosine_with_warmup", "warmup_epochs": 1, "scaling": "standard", "label_smoothing": 0.1,
         "val_split": 0.0},
    ),
    "fashion-best": (
        "full Fashion-MNIST, 512-256 relu with dropout 0.2, label smoothing and a cosine schedule, trained on "
        "all 60,000 images (chosen on a validation split of a tenth)",
        {"dataset": "fashion-mnist", "hidden": (512, 256), "epochs": 40, "batch_size": 128, "lr": 0.05,
         "dropout": 0.2, "schedule": "cosine_with_warmup", "warmup_epochs": 1, "scaling": "standard",
         "label_smoothing": 0.1, "val_split": 0.0},
    ),
}


#: the preset used when only a dataset is named
DATASET_PRESETS: dict[str, str] = {"digits": "digits", "mnist": "mnist", "fashion-mnist": "fashion-256"}


def preset_config(name: str | None, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from a preset plus explicit overrides (``None`` values are ignored).

    Without a preset, the dataset's own preset (``DATASET_PRESETS``) supplies
    the defaults; with neither, the dataset is digits.
    """
    values: dict[str, Any] = {}
    if name is None:
        name = DATASET_PRESETS.get(overrides.get("dataset") or "digits")
    if name is not None:
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}")
        values.update(PRESETS[name][1])
    known = {f.name for f in fields(TrainConfig)}
    for key, value in overrides.items():
        if key not in known:
            raise ConfigError(f"unknown configuration key {key!r}")
        if value is not None:
            values[key] = value
    if overrides.get("warmup_epochs") is None and values.get("warmup_epochs", 0) >= values.get("epochs", 1):
        # the preset's warm-up must fit the run the user asked for: a tenth of it (--epochs 1 failed with
        # "warmup_steps must be smaller than total_steps" about a warm-up the user never set)
        values["warmup_epochs"] = values.get("epochs", 1) / 10
    return TrainConfig(**values)


@dataclass
class RunResult:
    model: Sequential
    history: History
    test_accuracy: float
    train_seconds: float
    config: TrainConfig
    dataset: Any = field(repr=False)
    y_pred: np.ndarray = field(repr=False)


def build_model(config: TrainConfig, n_features: int, n_classes: int, rng: np.random.Generator) -> Sequential:
    """The MLP the configuration describes (``Softmax`` output when the loss expects probabilities)."""
    loss = get_loss(config.loss)
    output = {"probs": "softmax", "log_probs": "log_softmax"}.get(loss.expects, "logits")
    n_out = 1 if (config.loss == "binary_cross_entropy_with_logits" and n_classes == 2) else n_classes
    return mlp([n_features, *config.hidden, n_out], config.activation, dropout=config.dropout, norm=config.norm,
               output=output, rng=rng, dtype=np.dtype(config.dtype))


def build_schedule(config: TrainConfig, steps_per_epoch: int) -> Any:
    """The learning rate: a float, or a schedule whose times are stated in epochs and counted in steps."""
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "reduce_on_plateau":
        return get_schedule("reduce_on_plateau", lr=config.lr, factor=0.5, patience=2)
    epoch_args = {
        "cosine_with_warmup": {"total_steps": config.epochs, "warmup_steps": config.warmup_epochs},
        "step_decay": {"step_size": max(1, config.epochs // 3), "gamma": 0.1},
        "exponential_decay": {"gamma": 0.9, "decay_steps": 1},
    }
    if config.schedule not in epoch_args:
        raise ConfigError(f"unknown schedule {config.schedule!r}; known schedules: {', '.join(sorted(SCHEDULES))}")
    return schedule_in_epochs(config.schedule, steps_per_epoch, lr=config.lr, **epoch_args[config.schedule])


def schedule_changes_with_epochs(config: TrainConfig, epochs: int) -> bool:
    """Whether the configuration's learning-rate schedule differs when the run lasts ``epochs`` instead.

    True for schedules planned over the whole run when the length changes
    them (``cosine_with_warmup`` decays to its end value at the last epoch,
    ``step_decay`` cuts at each third of the run); always False for
    ``constant``, ``exponential_decay`` and ``reduce_on_plateau``.  Found by
    building both schedules and comparing them, so a new schedule entry
    needs no list here.
    """
    def built(n_epochs: int) -> Any:
        schedule = build_schedule(replace(config, epochs=n_epochs), steps_per_epoch=100)
        return schedule if isinstance(schedule, (int, float)) else schedule_to_config(schedule)

    return built(config.epochs) != built(epochs)


def build_optimizer(config: TrainConfig, steps_per_epoch: int) -> Optimizer:
    """The optimizer with its learning-rate schedule."""
    kwargs: dict[str, Any] = {"lr": build_schedule(config, steps_per_epoch)}
    if lookup(OPTIMIZERS, "optimizer", config.optimizer).takes_run_momentum:
        kwargs["momentum"] = config.momentum
    if config.weight_decay:
        kwargs["weight_decay"] = config.weight_decay
    return get_optimizer(config.optimizer, **kwargs)


def class_weights(config: TrainConfig, y_train: np.ndarray, n_classes: int) -> np.ndarray | None:
    """``config.class_weight`` as one weight per class: "balanced" is ``n / (k count_c)`` (scikit-learn's
    rule) on the training labels; otherwise the path of a text file of ``k`` numbers (commas, spaces or
    newlines between them, or a JSON list)."""
    spec = config.class_weight
    if spec is None:
        return None
    if spec == "balanced":
        from glassnet.data.labels import balanced_class_weights

        return balanced_class_weights(y_train, n_classes)
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"class weights: {spec} is neither 'balanced' nor a file")
    with path.open(encoding="utf-8") as fh:  # bounded: never more than the first 100,000 characters
        text = fh.read(100_000).replace("[", " ").replace("]", " ").replace(",", " ")
    try:
        weights = np.array([float(v) for v in text.split()])
    except ValueError:
        raise ConfigError(f"class weights: {spec} must hold {n_classes} numbers") from None
    if weights.shape != (n_classes,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ConfigError(f"class weights: {spec} holds {weights.size} values; {n_classes} finite numbers >= 0 "
                          "are needed, one per class")
    return weights


def build_loss(config: TrainConfig, weights: np.ndarray | None = None):
    """The loss the configuration names, with its label smoothing (and ``weights``, one per class)."""
    kwargs: dict[str, Any] = {}
    for argument, what, value in (("class_weights", "class weights apply", weights),
                                  ("label_smoothing", "label smoothing applies", config.label_smoothing or None)):
        if value is None:
            continue
        if not accepts(lookup(LOSSES, "loss", config.loss), argument):
            takers = ", ".join(sorted(name for name, cls in LOSSES.items() if accepts(cls, argument)))
            raise ConfigError(f"{what} to the losses {takers}, not {config.loss!r}")
        kwargs[argument] = value
    return get_loss(config.loss, **kwargs)


@dataclass
class Prepared:
    """A run ready to train: the scaled data, the untrained model and the loss."""

    config: TrainConfig
    dataset: Any = field(repr=False)
    scaler: Any
    X_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    X_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    model: Sequential
    loss: Any
    optimizer: Optimizer
    rng: np.random.Generator = field(repr=False)


def prepare(config: TrainConfig, *, progress: bool = False, dataset: Any = None) -> Prepared:
    """Load and scale the data (statistics from the training split only) and build the untrained model."""
    from glassnet.data.datasets import load_dataset
    from glassnet.data.preprocess import make_scaler

    rng = np.random.default_rng(config.seed)
    ds = dataset if dataset is not None else load_dataset(
        config.dataset, data_dir=config.data_dir, download=config.download, progress=progress
    )
    X_train = ds.X_train.reshape(ds.X_train.shape[0], -1)
    X_test = ds.X_test.reshape(ds.X_test.shape[0], -1)
    scaler = make_scaler(config.scaling, ds).fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    model = build_model(config, X_train.shape[1], len(ds.class_names), rng)
    n_fit = X_train.shape[0] - (int(round(config.val_split * X_train.shape[0])) if config.val_split else 0)
    optimizer = build_optimizer(config, max(1, math.ceil(n_fit / (config.batch_size or n_fit))))
    loss = build_loss(config, class_weights(config, ds.y_train, len(ds.class_names)))
    return Prepared(config, ds, scaler, X_train, ds.y_train, X_test, ds.y_test, model, loss, optimizer, rng)


def train(prep: Prepared, *, callbacks: Sequence[Any] = (), state: TrainState | None = None,
          threads: int | str | None = None) -> RunResult:
    """Train the prepared model, measure test accuracy, and record everything in ``model.meta``.

    The meta holds the class names, the scaler's statistics, the configuration,
    the history and the test accuracy, so a saved model can be evaluated,
    examined by the doctor and used for prediction on raw inputs.
    """
    config, model = prep.config, prep.model
    early = EarlyStopping(patience=config.early_stopping) if config.early_stopping is not None else None
    started = time.perf_counter()
    history = fit(
        model, prep.X_train, prep.y_train, optimizer=prep.optimizer, loss=prep.loss, epochs=config.epochs,
        batch_size=config.batch_size, l2=config.l2, validation_split=config.val_split or 0.0,
        early_stopping=early, clip_norm=config.clip_norm, rng=prep.rng, callbacks=callbacks, state=state,
        threads=threads,
    )
    seconds = time.perf_counter() - started
    y_pred = model.predict(prep.X_test)
    test_acc = accuracy(prep.y_test, y_pred)
    ds = prep.dataset
    model.meta.update({
        "class_names": list(ds.class_names),
        "dataset": ds.name,
        # how to load the same data again (evaluate, doctor, report): a folder as an absolute path
        "data_location": data_location(config),
        "input_shape": list(ds.X_train.shape[1:]),
        "preprocessing": prep.scaler.to_dict(),
        "train_config": config.to_dict(),
        "history": history.to_dict(),
        "test_accuracy": test_acc,
        "epochs_trained": len(history),
        "train_seconds": seconds,
    })
    return RunResult(model, history, test_acc, seconds, config, ds, y_pred)


def data_location(config: TrainConfig) -> dict[str, str | None]:
    """``{"dataset": name or absolute folder, "data_dir": absolute folder or None}`` for ``load_dataset``.

    Relative folders are resolved now, so a saved model finds its data from any working directory.
    """
    from pathlib import Path

    from glassnet.data.datasets import DATASET_NAMES

    named = config.dataset.lower() in DATASET_NAMES
    return {
        "dataset": config.dataset if named else str(Path(config.dataset).expanduser().resolve()),
        "data_dir": str(Path(config.data_dir).expanduser().resolve()) if config.data_dir else None,
    }


def run(config: TrainConfig, *, callbacks: Sequence[Any] = (), progress: bool = False, dataset: Any = None) -> RunResult:
    """:func:`prepare` then :func:`train`."""
    return train(prepare(config, progress=progress, dataset=dataset), callbacks=callbacks)
