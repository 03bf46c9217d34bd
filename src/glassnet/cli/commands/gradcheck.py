"""``glassnet gradcheck``: check backpropagation against finite differences and explain any mismatch."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from glassnet.cli.common import config_from_args, load
from glassnet.cli.options import DEBUG, data_options, model_options, positive_int
from glassnet.cli.registry import Command, register
from glassnet.errors import ConfigError


def add_arguments(g: argparse.ArgumentParser) -> None:
    g.add_argument("--debug", **DEBUG)
    data_options(g)
    model_options(g)
    g.add_argument("--model", type=Path, help="check a saved model instead of building one")
    g.add_argument("--module", type=Path,
                   help="a Python file defining `layer` (a Layer), `loss` (a Loss) and/or `model` (a Sequential) to check")
    g.add_argument("--batch", type=positive_int, default=16, help="samples in the checked batch (default 16)")
    g.add_argument("--check-dtype", choices=["float64", "float32"], default="float64",
                   help="precision of the check (default float64)")
    g.add_argument("--max-entries", type=positive_int, default=200,
                   help="entries sampled per tensor (default 200)")


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


def run(args: argparse.Namespace) -> int:
    from glassnet.train.experiment import prepare
    from glassnet.check.gradcheck import gradcheck

    if args.module is not None:
        return _check_module(args.module, args)
    config = config_from_args(args)
    prep = prepare(config)
    model = prep.model
    if args.model is not None:
        model = load(args.model)
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


register(Command(
    name="gradcheck",
    help="check backpropagation against finite differences and explain any mismatch",
    description="Build the network from the same options as train (or load --model, or check the layers "
    "and losses a --module defines), run the gradient checker on a batch of real data in float64, print a "
    "table per tensor and, when something fails, what the pattern means. Exit status 0 when every tensor "
    "passes, 1 when any fails.",
    add_arguments=add_arguments,
    run=run,
    order=20,
))
