"""``glassnet evaluate``, ``predict`` and ``info``: use and inspect a saved model."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from glassnet.cli.common import load, saved_data_options, saved_dataset, scaled, terminal_width
from glassnet.core.text import fit_lines
from glassnet.cli.options import DEBUG, positive_int
from glassnet.cli.json_output import JSON_OPTION, emit
from glassnet.cli.registry import Command, register
from glassnet.errors import ConfigError, DataError, ShapeError


def add_evaluate_arguments(e: argparse.ArgumentParser) -> None:
    e.add_argument("--debug", **DEBUG)
    e.add_argument("model", type=Path, help="a model file written by glassnet train -o")
    saved_data_options(e)
    e.add_argument("--json", **JSON_OPTION)


def run_evaluate(args: argparse.Namespace) -> int:
    from glassnet.train.metrics import (
        accuracy, classification_report, confusion_matrix, format_confusion_matrix, scores_from_confusion)

    model = load(args.model)
    ds = saved_dataset(model, args)
    X = scaled(model, ds.X_test)
    y_pred = model.predict(X)
    names = list(model.meta.get("class_names") or ds.class_names)
    if args.json:
        cm = confusion_matrix(ds.y_test, y_pred, len(names))
        scores = scores_from_confusion(cm)
        emit("evaluate", {
            "path": str(args.model), "architecture": model.describe(), "dataset": ds.name,
            "n_samples": int(X.shape[0]), "accuracy": accuracy(ds.y_test, y_pred),
            "classes": [{"name": name, "precision": scores["precision"][i], "recall": scores["recall"][i],
                         "f1": scores["f1"][i], "support": scores["support"][i]} for i, name in enumerate(names)],
            "macro": scores["macro"], "weighted": scores["weighted"], "confusion_matrix": cm,
        })
        return 0
    width = terminal_width()
    print(fit_lines(f"{args.model}: {model.describe()} on {ds.name} test set ({X.shape[0]} samples)", width))
    print(f"accuracy: {accuracy(ds.y_test, y_pred):.4f}\n")
    print(classification_report(ds.y_test, y_pred, names))
    print("confusion matrix (rows: true class, columns: predicted)")
    print(format_confusion_matrix(confusion_matrix(ds.y_test, y_pred, len(names)), names, width=width))
    return 0


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", **DEBUG)
    p.add_argument("model", type=Path, help="a model file written by glassnet train -o")
    p.add_argument("inputs", type=Path, nargs="+", metavar="INPUT", help="IDX, .npy or .png file(s)")
    p.add_argument("--top", type=positive_int, default=1, help="show the top K classes (default 1)")


def _read_inputs(path: Path) -> np.ndarray:
    suffix = "".join(path.suffixes[-2:]).lower()
    if not path.exists():
        raise ConfigError(f"input file {path} does not exist")
    if path.suffix.lower() == ".npy":
        from glassnet.io.serialize import load_npy

        return load_npy(path)
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


def run_predict(args: argparse.Namespace) -> int:
    model = load(args.model)
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
    probs = model.predict_proba(scaled(model, X))
    top = min(args.top, probs.shape[1])
    order = np.argsort(-probs, axis=1)[:, :top]
    for i, row in enumerate(order):
        print(f"{i}\t" + "\t".join(f"{names[c]}\t{probs[i, c]:.4f}" for c in row))
    return 0


def add_info_arguments(i: argparse.ArgumentParser) -> None:
    i.add_argument("--debug", **DEBUG)
    i.add_argument("model", type=Path, help="a model file written by glassnet train -o")
    i.add_argument("--json", **JSON_OPTION)
    i.add_argument("--allow-nonfinite", action="store_true",
                   help="show a model whose parameters hold NaN or inf (refused otherwise), to inspect it")


def run_info(args: argparse.Namespace) -> int:
    from glassnet.io.serialize import load_model, nonfinite_summary

    model = load_model(args.model, allow_nonfinite=args.allow_nonfinite)
    if args.json:
        from glassnet.io.serialize import model_header

        emit("info", {
            "path": str(args.model), "architecture": model.describe(), "n_params": model.n_params(),
            "dtype": model.dtype.name, "layers": model_header(model)["layers"],
            "parameters": [{"name": name, "shape": list(p.shape), "norm": float(np.linalg.norm(p))}
                           for name, p in model.params().items()],
            "meta": model.meta,
        })
        return 0
    print(f"{args.model}")
    print(f"  architecture: {model.describe()}")
    print(f"  parameters:   {model.n_params():,} ({model.dtype.name})")
    for name, p in model.params().items():
        problem = nonfinite_summary(name, p)
        shown = f"NOT FINITE: {problem.split(' holds ', 1)[1]}" if problem else f"norm {float(np.linalg.norm(p)):.4g}"
        print(f"    {name:<6} {str(p.shape):<12} {shown}")
    if model.state():
        print("  state (running statistics, not trained):")
        for name, a in model.state().items():
            print(f"    {name:<6} {str(a.shape):<12} mean {float(np.mean(a)):.4g}")
    for key in ("dataset", "class_names", "test_accuracy", "epochs_trained", "train_seconds", "glassnet_version"):
        if key in model.meta:
            print(f"  {key}: {model.meta[key]}")
    if "train_config" in model.meta:
        from glassnet.cli.run_file import config_to_toml

        print("  run configuration (glassnet train --config accepts it):")
        print("".join(f"    {line}\n" for line in config_to_toml(model.meta["train_config"]).splitlines()[1:]), end="")
    return 0


register(Command(
    name="evaluate",
    help="accuracy, per-class precision/recall/F1 and confusion matrix of a saved model",
    description="Evaluate a saved model on the test split of the dataset it was trained on (or --dataset).",
    add_arguments=add_evaluate_arguments,
    run=run_evaluate,
    order=50,
))
register(Command(
    name="predict",
    help="predict classes for inputs in an IDX, .npy or PNG file",
    description="Print one line per input: index, predicted class and its probability. "
    "INPUT is an IDX file (gz or raw), a .npy array, or PNG images (needs pillow).",
    add_arguments=add_predict_arguments,
    run=run_predict,
    order=60,
))
register(Command(
    name="info",
    help="architecture, parameter counts and metadata of a saved model",
    description="Print a saved model's architecture, parameter shapes and norms, and its metadata.",
    add_arguments=add_info_arguments,
    run=run_info,
    order=70,
))
