"""The ``glassnet`` command: train, gradcheck, doctor, overfit-batch, evaluate, predict, info, report, explain.

Every option's choices come from the registries (activations, losses,
optimizers, schedules, presets), so a new entry appears here by itself.
An input or usage error prints one line ``glassnet: error: ...`` and exits
with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from glassnet import __version__
from glassnet.core.activations import ACTIVATIONS
from glassnet.errors import ConfigError, DataError, GlassnetError, NonFiniteError, ShapeError
from glassnet.nn.losses import LOSSES

__all__ = ["main", "build_parser"]


def _positive_int_list(text: str) -> tuple[int, ...]:
    """Hidden layer sizes ``256,128`` -> ``(256, 128)``; ``""`` or ``none`` means no hidden layer."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes such as 256,128 (or 'none' for no hidden layer), got {text!r}"
        ) from None
    for i, size in enumerate(sizes):
        if size < 1:
            raise argparse.ArgumentTypeError(
                f"every hidden layer needs at least 1 unit, got {size} for hidden layer {i + 1} in {text!r} "
                "(use 'none' for no hidden layer)"
            )
    return sizes


def _number(kind: type, *, low: float, low_inclusive: bool, high: float | None = None, what: str):
    """An argparse type: ``kind`` (int or float) parsed from text and checked against a range."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        ok = (value >= low if low_inclusive else value > low) and (high is None or value < high)
        if not (ok and np.isfinite(value)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_float = _number(float, low=0.0, low_inclusive=False, what="a positive finite number")
_nonneg_float = _number(float, low=0.0, low_inclusive=True, what="a finite number >= 0")
_positive_int = _number(int, low=1, low_inclusive=True, what="an integer >= 1")
_nonneg_int = _number(int, low=0, low_inclusive=True, what="an integer >= 0")
#: a rate or fraction where 1 would leave nothing
_fraction = _number(float, low=0.0, low_inclusive=True, high=1.0, what="a number in [0, 1)")


def _existing_dir(text: str) -> str:
    if not Path(text).expanduser().is_dir():
        raise argparse.ArgumentTypeError(f"no such folder: {text!r}")
    return text


def _batch_size(text: str) -> int:
    """A positive batch size, or 0 for "full" (the whole training set in one step)."""
    if text in ("full", "all"):
        return 0
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'full', got {text!r}") from None


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # sub-command parsers too: the line starts "glassnet: error:", like every other error
        self.exit(2, f"glassnet: error: {message}\n")


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from glassnet.train.experiment import PRESETS, TrainConfig
    from glassnet.optim.optimizers import OPTIMIZERS
    from glassnet.optim.schedules import SCHEDULES

    defaults = TrainConfig()
    parser = _Parser(
        prog="glassnet",
        description="Train and inspect neural-network classifiers with hand-written, verified backpropagation.",
    )
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    # accepted before or after the command; SUPPRESS keeps a sub-command from resetting it
    debug: dict[str, Any] = {"action": "store_true", "default": argparse.SUPPRESS, "help": "show a traceback on errors"}

    preset_help = "; ".join(f"{k}: {v[0]}" for k, v in PRESETS.items())

    def data_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--preset", choices=sorted(PRESETS), help=f"a named configuration ({preset_help})")
        p.add_argument("--dataset", help=f"digits, mnist, fashion-mnist, kmnist, or a folder of IDX files "
                       f"(default {defaults.dataset})")
        p.add_argument("--data-dir", type=_existing_dir, help="folder holding the dataset's files (checked first)")
        p.add_argument("--no-download", dest="download", action="store_false", default=None,
                       help="never download; fail if the dataset is not on disk")
        p.add_argument("--scaling", choices=["auto", "pixel", "standard", "none"],
                       help="input scaling: pixel = /255, standard = zero mean unit variance (default auto)")
        p.add_argument("--seed", type=_nonneg_int, help=f"random seed: same seed, same result (default {defaults.seed})")

    def model_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--hidden", type=_positive_int_list,
                       help=f"hidden layer sizes, e.g. 256,128, or 'none' for no hidden layer "
                       f"(default {','.join(map(str, defaults.hidden))})")
        p.add_argument("--activation", choices=sorted(ACTIVATIONS), help=f"hidden activation (default {defaults.activation})")
        p.add_argument("--loss", choices=sorted(LOSSES), help=f"loss (default {defaults.loss})")
        p.add_argument("--label-smoothing", type=_fraction, help="label smoothing for cross-entropy, in [0, 1) (default 0)")
        p.add_argument("--l2", type=_nonneg_float, help="L2 strength lambda in lambda/(2m) * sum W^2 (default 0)")
        p.add_argument("--dropout", type=_fraction, help="dropout rate after each hidden layer, in [0, 1) (default 0)")
        p.add_argument("--dtype", choices=["float32", "float64"], help="floating-point type (default float32)")

    def training_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help=f"optimizer (default {defaults.optimizer})")
        p.add_argument("--lr", type=_positive_float, help=f"learning rate (default {defaults.lr})")
        p.add_argument("--momentum", type=_nonneg_float, help=f"momentum for sgd/nesterov (default {defaults.momentum})")
        p.add_argument("--weight-decay", type=_nonneg_float, help="optimizer weight decay (decoupled for adamw)")
        p.add_argument("--schedule", choices=sorted(SCHEDULES), help=f"learning-rate schedule (default {defaults.schedule})")
        p.add_argument("--warmup-epochs", type=_nonneg_float, help="warm-up epochs for cosine_with_warmup")
        p.add_argument("--epochs", type=_positive_int, help=f"epochs (default {defaults.epochs})")
        p.add_argument("--batch-size", type=_batch_size,
                       help=f"samples per step; 1 = online, 'full' = full batch (default {defaults.batch_size})")
        p.add_argument("--val-split", type=_fraction,
                       help=f"fraction of the training data held out for validation, stratified (default {defaults.val_split})")
        p.add_argument("--early-stopping", type=_positive_int, metavar="PATIENCE",
                       help="stop after PATIENCE epochs without a better validation loss and keep the best weights")
        p.add_argument("--clip-norm", type=_positive_float, help="clip gradients to this global norm")

    # train ----------------------------------------------------------------
    t = sub.add_parser(
        "train",
        help="train a classifier and report its test accuracy",
        description="Train an MLP classifier and print its test accuracy. With no options it trains on the "
        "offline 8x8 digits set in a few seconds. Explicit options override the preset's values.",
    )
    t.add_argument("--debug", **debug)
    data_options(t)
    model_options(t)
    training_options(t)
    t.add_argument("-o", "--output", type=Path, help="save the trained model to this .npz file")
    t.add_argument("--history", type=Path, help="write the per-epoch metrics to this JSON file")
    t.add_argument("--checkpoint-dir", type=Path,
                   help="write a checkpoint (weights, optimizer and RNG state, position, history) into this folder "
                   "at each epoch end and every --checkpoint-every steps")
    t.add_argument("--checkpoint-every", type=_positive_int, metavar="STEPS", help="also checkpoint every STEPS steps")
    t.add_argument("--keep-checkpoints", type=_positive_int, default=3, metavar="K",
                   help="keep the newest K checkpoints (default 3)")
    t.add_argument("--resume", type=Path, metavar="DIR",
                   help="continue the run checkpointed in DIR exactly where it stopped (its options are used; "
                   "only --epochs may be raised)")
    t.add_argument("--doctor", action="store_true",
                   help="check the data and the untrained model, watch the run, and report problems with fixes")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    t.set_defaults(func=cmd_train)

    # gradcheck --------------------------------------------------------------
    g = sub.add_parser(
        "gradcheck",
        help="check backpropagation against finite differences and explain any mismatch",
        description="Build the network from the same options as train (or load --model, or check the layers "
        "and losses a --module defines), run the gradient checker on a batch of real data in float64, print a "
        "table per tensor and, when something fails, what the pattern means. Exit status 0 when every tensor "
        "passes, 1 when any fails.",
    )
    g.add_argument("--debug", **debug)
    data_options(g)
    model_options(g)
    g.add_argument("--model", type=Path, help="check a saved model instead of building one")
    g.add_argument("--module", type=Path,
                   help="a Python file defining `layer` (a Layer), `loss` (a Loss) and/or `model` (a Sequential) to check")
    g.add_argument("--batch", type=_positive_int, default=16, help="samples in the checked batch (default 16)")
    g.add_argument("--check-dtype", choices=["float64", "float32"], default="float64",
                   help="precision of the check (default float64)")
    g.add_argument("--max-entries", type=_positive_int, default=200,
                   help="entries sampled per tensor (default 200)")
    g.set_defaults(func=cmd_gradcheck)

    # doctor ---------------------------------------------------------------
    d = sub.add_parser("doctor", help="examine a saved model and its training history for known problems",
                       description="Look for collapse, dead or saturated units, a loss that stopped falling and "
                       "overfitting in a model saved by glassnet train -o. Exit status 1 when problems are found.")
    d.add_argument("--debug", **debug)
    d.add_argument("model", type=Path, help="a model file written by glassnet train -o")
    d.add_argument("--dataset", help="dataset name or IDX folder (default: the one the model was trained on)")
    d.add_argument("--data-dir", type=_existing_dir, help="folder holding the dataset's files")
    d.set_defaults(func=cmd_doctor)

    # overfit-batch ----------------------------------------------------------
    o = sub.add_parser("overfit-batch", help="can the network drive the loss on one small batch to near zero?",
                       description="Train the network from the same options as train on a single small batch. "
                       "A sound network and backward reach near-zero loss; exit status 1 if it cannot.")
    o.add_argument("--debug", **debug)
    data_options(o)
    model_options(o)
    o.add_argument("--n-samples", type=_positive_int, default=32, help="size of the batch (default 32)")
    o.add_argument("--steps", type=_positive_int, default=300, help="full-batch Adam steps at most (default 300)")
    o.add_argument("--lr", type=_positive_float, default=1e-2, help="Adam learning rate (default 0.01)")
    o.set_defaults(func=cmd_overfit_batch)

    # evaluate --------------------------------------------------------------
    e = sub.add_parser("evaluate", help="accuracy, per-class precision/recall/F1 and confusion matrix of a saved model",
                       description="Evaluate a saved model on the test split of the dataset it was trained on "
                       "(or --dataset).")
    e.add_argument("--debug", **debug)
    e.add_argument("model", type=Path, help="a model file written by glassnet train -o")
    e.add_argument("--dataset", help="dataset name or IDX folder (default: the one the model was trained on)")
    e.add_argument("--data-dir", type=_existing_dir, help="folder holding the dataset's files")
    e.set_defaults(func=cmd_evaluate)

    # predict ---------------------------------------------------------------
    p = sub.add_parser("predict", help="predict classes for inputs in an IDX, .npy or PNG file",
                       description="Print one line per input: index, predicted class and its probability. "
                       "INPUT is an IDX file (gz or raw), a .npy array, or PNG images (needs pillow).")
    p.add_argument("--debug", **debug)
    p.add_argument("model", type=Path, help="a model file written by glassnet train -o")
    p.add_argument("inputs", type=Path, nargs="+", metavar="INPUT", help="IDX, .npy or .png file(s)")
    p.add_argument("--top", type=_positive_int, default=1, help="show the top K classes (default 1)")
    p.set_defaults(func=cmd_predict)

    # info ------------------------------------------------------------------
    i = sub.add_parser("info", help="architecture, parameter counts and metadata of a saved model")
    i.add_argument("--debug", **debug)
    i.add_argument("model", type=Path, help="a model file written by glassnet train -o")
    i.add_argument("--json", action="store_true", help="print the metadata as JSON")
    i.set_defaults(func=cmd_info)

    # report ----------------------------------------------------------------
    r = sub.add_parser("report", help="write a self-contained HTML report of a trained model (needs matplotlib)",
                       description="Write one HTML page with PNG figures: loss and accuracy curves, the confusion "
                       "matrix, the worst-misclassified test images, the first layer's weights as images, gradient "
                       "norms by layer over training, the gradient-check table and the doctor's findings. Needs "
                       'matplotlib (pip install "glassnet[report]").')
    r.add_argument("--debug", **debug)
    r.add_argument("model", type=Path, help="a model file written by glassnet train -o")
    r.add_argument("-o", "--output", type=Path, help="the HTML file to write (default: MODEL with .html)")
    r.add_argument("--dataset", help="dataset name or IDX folder (default: the one the model was trained on)")
    r.add_argument("--data-dir", type=_existing_dir, help="folder holding the dataset's files")
    r.add_argument("--batch", type=_positive_int, default=16,
                   help="test samples in the gradient check (default 16)")
    r.set_defaults(func=cmd_report)

    # explain ---------------------------------------------------------------
    x = sub.add_parser("explain", help="step-by-step derivations, each ending with a live numeric check",
                       description="Print a derivation (softmax-cross-entropy, l2, gradcheck, or any activation name).")
    x.add_argument("--debug", **debug)
    x.add_argument("topic", nargs="?", help="topic; omit to list the topics")
    x.add_argument("--seed", type=int, default=0, help="seed of the random numbers in the live check")
    x.set_defaults(func=cmd_explain)
    return parser


# ----------------------------------------------------------------------------- commands
_CONFIG_KEYS = (
    "preset", "dataset", "data_dir", "download", "hidden", "activation", "loss", "label_smoothing", "optimizer", "lr",
    "momentum", "weight_decay", "schedule", "warmup_epochs", "l2", "dropout", "epochs", "val_split",
    "early_stopping", "clip_norm", "scaling", "dtype", "seed", "batch_size",
)


def _config(args: argparse.Namespace, *keys_not_config: str):
    """A TrainConfig from the preset and the options this sub-command has."""
    from glassnet.train.experiment import preset_config

    overrides = {k: getattr(args, k) for k in _CONFIG_KEYS if k in vars(args) and k not in ("preset", *keys_not_config)}
    config = preset_config(getattr(args, "preset", None), **overrides)
    if config.batch_size == 0:  # --batch-size full
        config.batch_size = None
    return config


def _resume_config(args: argparse.Namespace, meta: dict[str, Any]):
    from glassnet.train.experiment import TrainConfig

    given = [k for k in _CONFIG_KEYS if k not in ("epochs",) and getattr(args, k, None) is not None]
    if given:
        raise ConfigError(f"--resume continues the checkpointed run; these options cannot change: {', '.join(given)}")
    config = TrainConfig.from_dict(meta["config"])
    if args.epochs is not None:
        config.epochs = args.epochs
    return config


def cmd_train(args: argparse.Namespace) -> int:
    from glassnet.train.checkpoint import Checkpointer, latest_checkpoint, restore_state
    from glassnet.train.experiment import prepare, train
    from glassnet.train.callbacks.grad_norms import GradientNorms
    from glassnet.train.callbacks.progress import EpochLogger, ProgressBar

    state = None
    checkpoint_dir = args.checkpoint_dir
    if args.resume is not None:
        path, arrays, meta = latest_checkpoint(args.resume)
        config = _resume_config(args, meta)
        checkpoint_dir = checkpoint_dir or args.resume
    else:
        config = _config(args)
    # GradientNorms first: it writes the norms into each epoch's record before a checkpoint saves it
    callbacks: list[Any] = [GradientNorms(every=10)] + ([] if args.quiet else [ProgressBar(), EpochLogger()])
    started = time.perf_counter()
    prep = prepare(config, progress=not args.quiet)
    if args.resume is not None:
        state = restore_state(prep.model, prep.optimizer, arrays, meta)
        if not args.quiet:
            print(f"resuming from {path} (epoch {state.epoch}, step {state.step})", file=sys.stderr)
    checkpointer = None
    if checkpoint_dir is not None:
        checkpointer = Checkpointer(checkpoint_dir, prep.optimizer, every_steps=args.checkpoint_every,
                                    keep=args.keep_checkpoints, config=config.to_dict())
        callbacks.append(checkpointer)
    doctor = None
    if args.doctor:
        doctor = _doctor_before_training(prep)
        callbacks.append(doctor)
    try:
        result = train(prep, callbacks=callbacks, state=state)
    except NonFiniteError as exc:
        error = exc
        if checkpointer is not None:  # non-finite states are never checkpointed: say which one survives
            kept = checkpointer.last_path or (path if args.resume is not None else None)
            error = NonFiniteError(f"{exc} The last good checkpoint, {kept}, is intact." if kept else
                                   f"{exc} No checkpoint was written before it.")
        if doctor is None:
            if error is exc:
                raise
            raise error from exc
        _print_findings(doctor.report() + [_nonfinite_finding(error)])
        return 1
    wall = time.perf_counter() - started
    ds = result.dataset
    print(f"dataset: {ds.name} ({ds.X_train.shape[0]} train, {ds.X_test.shape[0]} test; {ds.source})")
    print(f"model: {result.model.describe()} ({result.model.n_params():,} parameters, {result.model.dtype.name})")
    hist = result.history
    extra = f", best epoch {hist.best_epoch}" if hist.best_epoch is not None else ""
    print(f"trained {len(hist)} epochs in {result.train_seconds:.1f} s{extra} (wall time {wall:.1f} s)")
    print(f"test accuracy: {result.test_accuracy:.4f}")
    if args.output is not None:
        from glassnet.io.serialize import save_model

        save_model(args.output, result.model)
        print(f"model saved to {args.output}")
    if args.history is not None:
        from glassnet.io.serialize import atomic_write_text

        atomic_write_text(args.history, json.dumps(hist.to_dict(), indent=2))
    if doctor is not None:
        from glassnet.check.doctor import examine_model

        findings = doctor.report()
        codes = {f.code for f in findings}
        findings += [f for f in examine_model(result.model, prep.X_test, prep.y_test) if f.code not in codes]
        _print_findings(findings)
    return 0


def _doctor_before_training(prep):
    """Data and initial-loss checks, printed now; returns the live Doctor callback."""
    from glassnet.check.doctor import Doctor, check_data, check_initial_loss

    n_classes = len(prep.dataset.class_names)
    before = check_data(prep.X_train, prep.y_train, n_classes, val_split=prep.config.val_split)
    before += check_initial_loss(prep.model, prep.loss, prep.X_train[:512], prep.y_train[:512])
    if before:
        print("doctor, before training:")
        _print_findings(before)
    probe = np.random.default_rng(prep.config.seed).choice(prep.X_train.shape[0], size=min(256, prep.X_train.shape[0]), replace=False)
    return Doctor(prep.X_train[probe], prep.y_train[probe])


def _nonfinite_finding(exc: Exception):
    from glassnet.check.doctor import Finding

    return Finding("non-finite", "the loss became NaN or infinite", str(exc),
                   "a smaller learning rate, gradient clipping (--clip-norm), or scaled inputs")


def _print_findings(findings) -> None:
    if not findings:
        print("doctor: no problems found")
        return
    print(f"doctor: {len(findings)} problem(s) found")
    for f in findings:
        print(f"- {f}")


def _load(path: Path):
    from glassnet.io.serialize import load_model

    return load_model(path)


def _scaled(model, X: np.ndarray) -> np.ndarray:
    from glassnet.data.preprocess import scaler_from_dict

    X = X.reshape(X.shape[0], -1)
    prep = model.meta.get("preprocessing")
    return scaler_from_dict(prep).transform(X) if prep else X.astype(model.dtype)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from glassnet.train.metrics import accuracy, classification_report, confusion_matrix, format_confusion_matrix

    model = _load(args.model)
    ds = _saved_dataset(model, args)
    X = _scaled(model, ds.X_test)
    y_pred = model.predict(X)
    names = list(model.meta.get("class_names") or ds.class_names)
    print(f"{args.model}: {model.describe()} on {ds.name} test set ({X.shape[0]} samples)")
    print(f"accuracy: {accuracy(ds.y_test, y_pred):.4f}\n")
    print(classification_report(ds.y_test, y_pred, names))
    print("confusion matrix (rows: true class, columns: predicted)")
    print(format_confusion_matrix(confusion_matrix(ds.y_test, y_pred, len(names)), names))
    return 0


def _read_inputs(path: Path) -> np.ndarray:
    suffix = "".join(path.suffixes[-2:]).lower()
    if not path.exists():
        raise ConfigError(f"input file {path} does not exist")
    if path.suffix.lower() == ".npy":
        return np.load(path, allow_pickle=False)
    if path.suffix.lower() == ".png":
        try:
            from PIL import Image
        except ImportError:
            raise ConfigError('reading PNG needs pillow: pip install "glassnet[images]"') from None
        with Image.open(path) as img:
            return np.asarray(img.convert("L"), dtype=np.float64)[None]
    if "idx" in path.name or suffix.endswith(".gz") or "ubyte" in path.name:
        from glassnet.data.idx import read_idx

        return read_idx(path)
    raise ConfigError(f"{path}: unknown input type; use an IDX file, a .npy array or a .png image")


def cmd_predict(args: argparse.Namespace) -> int:
    model = _load(args.model)
    names = model.meta.get("class_names") or [str(i) for i in range(model.n_outputs or 0)]
    arrays = [_read_inputs(p) for p in args.inputs]
    expected = model.meta.get("input_shape")
    n_features = model.n_inputs
    wanted = f"{n_features} features per sample"
    if expected and len(expected) > 1:
        wanted += f" (images of {'x'.join(map(str, expected))})"
    batch = []
    for path, arr in zip(args.inputs, arrays):
        if arr.dtype.kind not in "biuf":
            raise DataError(f"{path}: inputs must be numbers, got an array of dtype {arr.dtype}")
        if arr.ndim == 0:
            raise DataError(f"{path}: a single number is not an input; the model takes {wanted}")
        if arr.ndim == 1 or (expected and list(arr.shape) == list(expected)) or arr.size == n_features:
            arr = arr[None]  # one sample
        if n_features is not None and arr.size != arr.shape[0] * n_features:
            raise ShapeError(f"{path}: the model takes {wanted}, got an array of shape {arr.shape}")
        batch.append(arr.reshape(arr.shape[0], -1))
    X = np.concatenate(batch)
    probs = model.predict_proba(_scaled(model, X))
    top = min(args.top, probs.shape[1])
    order = np.argsort(-probs, axis=1)[:, :top]
    for i, row in enumerate(order):
        print(f"{i}\t" + "\t".join(f"{names[c]}\t{probs[i, c]:.4f}" for c in row))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    model = _load(args.model)
    if args.json:
        print(json.dumps({"architecture": model.describe(), "n_params": model.n_params(),
                          "dtype": model.dtype.name, "meta": model.meta}, indent=2, default=str))
        return 0
    print(f"{args.model}")
    print(f"  architecture: {model.describe()}")
    print(f"  parameters:   {model.n_params():,} ({model.dtype.name})")
    for name, p in model.params().items():
        print(f"    {name:<6} {str(p.shape):<12} norm {float(np.linalg.norm(p)):.4g}")
    for key in ("dataset", "class_names", "test_accuracy", "epochs_trained", "train_seconds", "glassnet_version"):
        if key in model.meta:
            print(f"  {key}: {model.meta[key]}")
    if "train_config" in model.meta:
        cfg = model.meta["train_config"]
        print("  trained with: " + " ".join(f"{k}={v}" for k, v in cfg.items() if v not in (None, False)))
    return 0


def _print_diagnosis(report, *args, **kwargs) -> None:
    from glassnet.check.diagnosis import diagnose

    print(report)
    for finding in diagnose(report, *args, **kwargs):
        print(f"\n{finding}")


def _check_module(path: Path, args: argparse.Namespace) -> int:
    """Check the ``layer``, ``loss`` and ``model`` a user's Python file defines."""
    import importlib.util

    from glassnet.check.gradcheck import check_layer, check_loss
    from glassnet.nn.layers import Layer
    from glassnet.nn.losses import Loss
    from glassnet.nn.model import Sequential

    if not path.is_file():
        raise ConfigError(f"module file {path} does not exist")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path} is not a Python file that can be imported (expected a .py file)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: report it in one line (--debug shows the traceback)
        raise ConfigError(f"{path}: running it raised {type(exc).__name__}: {exc}") from exc
    rng = np.random.default_rng(args.seed or 0)
    checked, failed = 0, 0
    layer = getattr(module, "layer", None)
    if isinstance(layer, Layer):
        n_in = getattr(layer, "n_in", None) or getattr(module, "input_width", 8)
        report = check_layer(layer, (args.batch, n_in), seed=args.seed or 0, max_entries=args.max_entries)
        _print_diagnosis(report)
        checked, failed = checked + 1, failed + (not report.passed)
    loss = getattr(module, "loss", None)
    if isinstance(loss, Loss):
        k = getattr(module, "n_classes", 4)
        outputs = rng.standard_normal((args.batch, k))
        if loss.expects == "probs":
            from glassnet.core.numerics import softmax

            outputs = softmax(outputs)
        report = check_loss(loss, outputs, rng.integers(0, k, args.batch), max_entries=args.max_entries)
        _print_diagnosis(report)
        checked, failed = checked + 1, failed + (not report.passed)
    model = getattr(module, "model", None)
    if isinstance(model, Sequential):
        from glassnet.check.gradcheck import gradcheck
        from glassnet.nn.losses import SoftmaxCrossEntropy

        X = rng.standard_normal((args.batch, model.n_inputs or 8))
        y = rng.integers(0, model.n_outputs or 2, args.batch)
        report = gradcheck(model, loss if isinstance(loss, Loss) else SoftmaxCrossEntropy(), X, y,
                           max_entries=args.max_entries)
        _print_diagnosis(report, model, loss if isinstance(loss, Loss) else SoftmaxCrossEntropy(), X, y)
        checked, failed = checked + 1, failed + (not report.passed)
    if not checked:
        raise ConfigError(f"{path} defines no `layer` (Layer), `loss` (Loss) or `model` (Sequential) to check")
    return 1 if failed else 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from glassnet.train.experiment import prepare
    from glassnet.check.gradcheck import gradcheck

    if args.module is not None:
        return _check_module(args.module, args)
    config = _config(args)
    prep = prepare(config)
    model = prep.model
    if args.model is not None:
        model = _load(args.model)
        if model.n_inputs != prep.X_train.shape[1]:
            raise ConfigError(f"{args.model} takes {model.n_inputs} features but {config.dataset} has {prep.X_train.shape[1]}")
    pick = prep.rng.choice(prep.X_train.shape[0], size=min(args.batch, prep.X_train.shape[0]), replace=False)
    X, y = prep.X_train[pick].astype(np.float64), prep.y_train[pick]
    report = gradcheck(model, prep.loss, X, y, l2=config.l2, dtype=np.dtype(args.check_dtype),
                       max_entries=args.max_entries, seed=config.seed)
    _print_diagnosis(report, model, prep.loss, X, y, l2=config.l2)
    loss_ok = _cross_checks(model, prep.loss, X, y)
    return 0 if report.passed and loss_ok else 1


def _cross_checks(model, loss, X: np.ndarray, y: np.ndarray) -> bool:
    """The loss against its own value, and for softmax models the fused, unfused and numeric gradients."""
    from glassnet.check.diagnosis import cross_check_softmax
    from glassnet.check.gradcheck import check_loss

    outputs = model.astype(np.float64)(X)
    loss_report = check_loss(loss, outputs, y)
    verdict = "ok" if loss_report.passed else "FAIL"
    print(f"\nloss value vs its own gradient ({type(loss).__name__}): max rel error "
          f"{loss_report.max_rel_error:.2e}  {verdict}")
    if model.output_kind == "logits" and outputs.shape[1] > 1:
        logits = outputs
    elif model.output_kind == "probs":  # the logits are the input of the final Softmax
        captured: list[np.ndarray] = []
        model.astype(np.float64).forward(X, capture=captured)
        logits = captured[-2] if len(captured) > 1 else X
    else:
        return loss_report.passed
    diffs = cross_check_softmax(logits, y)
    print("softmax + cross-entropy on these logits: fused (p - t)/m vs unfused Softmax -> CrossEntropy "
          f"{diffs['fused_vs_unfused']:.1e}, fused vs finite differences {diffs['fused_vs_numeric']:.1e}, "
          f"unfused vs finite differences {diffs['unfused_vs_numeric']:.1e}")
    return loss_report.passed


def cmd_doctor(args: argparse.Namespace) -> int:
    from glassnet.check.doctor import examine_model

    model, ds, history = _saved_run(args)
    findings = examine_model(model, _scaled(model, ds.X_test), ds.y_test, history)
    print(f"{args.model}: {model.describe()}, examined on the {ds.name} test set ({ds.X_test.shape[0]} samples)"
          + ("" if history else "; no training history recorded"))
    _print_findings(findings)
    return 1 if findings else 0


def _saved_run(args: argparse.Namespace):
    """The model in ``args.model``, its dataset, and its history (or None)."""
    from glassnet.train.loop import History

    model = _load(args.model)
    return model, _saved_dataset(model, args), (
        History.from_dict(model.meta["history"]) if "history" in model.meta else None)


def _saved_dataset(model, args: argparse.Namespace):
    """The dataset a saved model was trained on (its recorded location), or the one --dataset names."""
    from glassnet.data.datasets import load_dataset

    where = model.meta.get("data_location") or {}
    if args.dataset:
        return load_dataset(args.dataset, data_dir=args.data_dir)
    name = where.get("dataset") or model.meta.get("dataset")
    if not name:
        raise ConfigError("the model does not record its dataset; pass --dataset")
    return load_dataset(name, data_dir=args.data_dir or where.get("data_dir"))


def cmd_report(args: argparse.Namespace) -> int:
    from glassnet.check.doctor import examine_model
    from glassnet.train.experiment import TrainConfig, build_loss
    from glassnet.check.gradcheck import gradcheck
    from glassnet.report.html import build_report, render_html
    from glassnet.io.serialize import atomic_write_text

    output = args.output or args.model.with_suffix(".html")
    if output.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"the report is an HTML page: give an output name ending in .html, got {output}")
    model, ds, history = _saved_run(args)
    X = _scaled(model, ds.X_test)
    saved = dict(model.meta.get("train_config") or {})
    config = TrainConfig.from_dict(saved)
    loss = build_loss(config)
    pick = np.random.default_rng(config.seed).choice(X.shape[0], size=min(args.batch, X.shape[0]), replace=False)
    check = gradcheck(model, loss, X[pick].astype(np.float64), ds.y_test[pick], l2=config.l2, seed=config.seed)
    check.subject = f"{pick.size} {ds.name} test samples, L2 lambda={config.l2:g}"
    images = None
    if ds.image_shape is not None and len(ds.image_shape) == 2:
        images = ds.X_test.reshape(ds.X_test.shape[0], *ds.image_shape)
    summary = [("model file", str(args.model)), ("dataset", f"{ds.name}: {ds.source}"),
               ("model", f"{model.describe()} ({model.n_params():,} parameters, {model.dtype.name})")]
    if history is not None and len(history):
        summary.append(("trained", f"{len(history)} epochs"
                        + (f", best epoch {history.best_epoch}" if history.best_epoch is not None else "")
                        + (f", {model.meta['train_seconds']:.1f} s" if "train_seconds" in model.meta else "")))
    if saved:
        summary.append(("configuration", ", ".join(f"{k}={v}" for k, v in saved.items() if v not in (None, False))))
    summary.append(("report by", f"glassnet {__version__}"))
    page = build_report(model, X_test=X, y_test=ds.y_test, class_names=model.meta.get("class_names") or ds.class_names,
                        history=history, images=images, gradcheck_report=check,
                        findings=examine_model(model, X, ds.y_test, history),
                        title=f"glassnet report: {args.model.name}", summary=summary)
    atomic_write_text(output, render_html(page))
    print(f"report written to {output} ({page.n_figures} figures, gradient check "
          f"{'passed' if check.passed else 'FAILED'})")
    return 0


def cmd_overfit_batch(args: argparse.Namespace) -> int:
    from glassnet.check.doctor import overfit_batch
    from glassnet.train.experiment import prepare
    from glassnet.optim.optimizers import Adam

    config = _config(args)
    prep = prepare(config)
    n = min(args.n_samples, prep.X_train.shape[0])
    pick = prep.rng.choice(prep.X_train.shape[0], size=n, replace=False)
    result = overfit_batch(prep.model, prep.loss, prep.X_train[pick], prep.y_train[pick],
                           optimizer=Adam(lr=args.lr), steps=args.steps, rng=prep.rng)
    print(f"overfit-batch: {prep.model.describe()} on {n} samples of {prep.dataset.name}")
    print(result)
    return 0 if result.can_overfit else 1


def cmd_explain(args: argparse.Namespace) -> int:
    from glassnet.check.explain import TOPICS, explain

    if args.topic is None:
        print("topics: " + ", ".join(TOPICS))
        return 0
    print(explain(args.topic, seed=args.seed))
    return 0


# ----------------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("glassnet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (glassnet evaluate m.npz | head): nothing to report
        try:  # keep the interpreter's final flush of stdout from failing again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 141
    except (GlassnetError, OSError, ValueError) as exc:
        if args.debug:
            raise
        print(f"glassnet: error: {_error_text(exc)}", file=sys.stderr)
        return 2


def _error_text(exc: BaseException) -> str:
    """The message of an error, for one line after "glassnet: error:".

    The first line of the message only, with one exception: a missing dataset's
    message goes on to list where glassnet looked and how to get the files,
    and that list is the answer, so it is kept.  An OSError from the system
    reads "PATH: reason" rather than "[Errno 2] reason: 'PATH'".
    """
    from glassnet.errors import DatasetNotFoundError

    if isinstance(exc, OSError) and not isinstance(exc, GlassnetError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    return text if isinstance(exc, DatasetNotFoundError) else text.splitlines()[0]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
