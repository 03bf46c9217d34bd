"""``glassnet gradcheck``: check backpropagation against finite differences and explain any mismatch."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.cli.common import config_from_args, load, terminal_width
from glassnet.core.text import fit_lines
from glassnet.cli.json_output import JSON_OPTION, emit
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
    g.add_argument("--function", metavar="FILE.py:NAME",
                   help="check your own cost function: FILE defines NAME(params, *args, **kwargs) -> (J, grads), "
                   "`params` (a dict, a list of arrays or one flat vector) and optionally `args` (a tuple) and "
                   "`kwargs` (a dict); see docs/own-code.md")
    g.add_argument("--l2-arg", metavar="NAME",
                   help="with --function: the name of lambda's argument, to check the L2 term at lambda and at 0")
    g.add_argument("--samples", type=positive_int, metavar="M",
                   help="with --function: the number of samples m (default: rows of the first 2-D array argument)")
    g.add_argument("--batch", type=positive_int, default=16, help="samples in the checked batch (default 16)")
    g.add_argument("--check-dtype", choices=["float64", "float32"], default="float64",
                   help="precision of the check (default float64)")
    g.add_argument("--max-entries", type=positive_int, default=200,
                   help="entries sampled per tensor (default 200)")
    g.add_argument("--json", **JSON_OPTION)
    g.add_argument("--training", action="store_true",
                   help="check in training mode: BatchNorm with the batch's own statistics (the whole batch is one "
                   "function), a fixed dropout mask; a --module layer with batch statistics is checked in both modes")


class _Results:
    """What the checks found, printed as it comes (text) or gathered into one JSON object (``--json``)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.width = terminal_width()
        self.document: dict[str, Any] = {"passed": True, "reports": [], "loss_check": None, "softmax_cross_check": None}

    def report(self, report, *args, **kwargs) -> None:
        """A gradcheck report and what its failures mean (:func:`glassnet.check.diagnosis.diagnose`)."""
        from glassnet.check.diagnosis import diagnose

        findings = diagnose(report, *args, **kwargs)
        if not self.as_json:
            self.document["passed"] = self.document["passed"] and report.passed
            print(report.format(self.width))
            for finding in findings:
                print(f"\n{fit_lines(str(finding), self.width)}")
            return
        self.add(report, findings)

    def add(self, report, findings) -> None:
        """One report and its findings into the JSON document."""
        self.document["passed"] = self.document["passed"] and report.passed
        self.document["reports"].append({
            "subject": report.subject, "dtype": np.dtype(report.dtype).name, "training": report.training,
            "step": report.step,
            "rtol": report.rtol, "loss_value": report.loss_value, "passed": report.passed,
            "n_checked": report.n_checked, "n_kink_skipped": report.n_kink_skipped,
            "max_rel_error": report.max_rel_error,
            "tensors": [{
                "name": t.name, "layer": t.layer, "layer_desc": t.layer_desc, "shape": list(t.shape),
                "n_checked": t.n_checked, "n_kink_skipped": t.n_kink_skipped, "analytic_norm": t.analytic_norm,
                "numeric_norm": t.numeric_norm, "ratio": t.ratio, "max_rel_error": t.max_rel_error,
                "passed": t.passed,
                "worst": [{"index": list(e.index), "analytic": e.analytic, "numeric": e.numeric,
                           "rel_error": e.rel_error} for e in t.worst],
            } for t in report.tensors],
            "diagnosis": [{"code": d.code, "verdict": d.title, "evidence": d.evidence, "advice": d.fix}
                          for d in findings],
        })

    def loss_check(self, loss, loss_report) -> None:
        self.document["passed"] = self.document["passed"] and loss_report.passed
        self.document["loss_check"] = {"loss": type(loss).__name__, "max_rel_error": loss_report.max_rel_error,
                                       "passed": loss_report.passed}
        if not self.as_json:
            print(fit_lines(f"\nloss value vs its own gradient ({type(loss).__name__}): max rel error "
                            f"{loss_report.max_rel_error:.2e}  {'ok' if loss_report.passed else 'FAIL'}", self.width))

    def softmax_cross_check(self, diffs: dict[str, float]) -> None:
        self.document["softmax_cross_check"] = diffs
        if not self.as_json:
            print(fit_lines("softmax + cross-entropy on these logits: fused (p - t)/m vs unfused Softmax -> "
                            f"CrossEntropy {diffs['fused_vs_unfused']:.1e}, fused vs finite differences "
                            f"{diffs['fused_vs_numeric']:.1e}, unfused vs finite differences "
                            f"{diffs['unfused_vs_numeric']:.1e}", self.width))

    def finish(self) -> int:
        """Exit status 0 when everything passed, 1 otherwise (after printing the JSON object)."""
        if self.as_json:
            emit("gradcheck", self.document)
        return 0 if self.document["passed"] else 1


def _import_user_file(path: Path, role: str):
    """Run the user's Python file as a module; its failure is one line (``--debug`` shows the traceback)."""
    import importlib.util

    if not path.is_file():
        raise ConfigError(f"{role} file {path} does not exist")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path} is not a Python file that can be imported (expected a .py file)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: report it in one line (--debug shows the traceback)
        raise ConfigError(f"{path}: running it raised {type(exc).__name__}: {exc}") from exc
    return module


def _check_function(args: argparse.Namespace) -> int:
    """``--function FILE.py:NAME``: the learner's own cost function, checked by :func:`glassnet.check_function`."""
    from glassnet.check.function import check_function

    file, sep, name = args.function.rpartition(":")
    if not sep or not file or not name:
        raise ConfigError(f"--function wants FILE.py:NAME, got {args.function!r}")
    path = Path(file)
    module = _import_user_file(path, "function")
    fn = getattr(module, name, None)
    if not callable(fn):
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == module.__name__)
        raise ConfigError(f"{path} defines no function {name!r}" + (f" (it defines {', '.join(found)})" if found else ""))
    if not hasattr(module, "params"):
        raise ConfigError(f"{path} defines no `params`: the parameters to check at (a dict, a list of arrays or "
                          "one flat vector)")
    call_args = getattr(module, "args", ())
    call_kwargs = getattr(module, "kwargs", {})
    if not isinstance(call_args, tuple):
        raise ConfigError(f"{path}: `args` must be a tuple of the arguments after params, got {type(call_args).__name__}")
    if not isinstance(call_kwargs, dict):
        raise ConfigError(f"{path}: `kwargs` must be a dict, got {type(call_kwargs).__name__}")
    report = check_function(fn, module.params, *call_args, l2_arg=args.l2_arg, n_samples=args.samples,
                            max_entries=args.max_entries, seed=args.seed or 0, **call_kwargs)
    if not args.json:
        print(report)
        return 0 if report.passed else 1
    results = _Results(True)
    results.add(report.gradcheck, report.findings)
    if report.at_zero_l2 is not None:
        results.add(report.at_zero_l2, [])
    results.document["passed"] = report.passed
    results.document["function"] = {
        "name": f"{path}:{name}", "passed": report.passed, "n_samples": report.n_samples,
        "layout": None if report.layout is None else {"description": report.layout.description,
                                                      "sizes": list(report.layout.sizes)},
    }
    return results.finish()


def _check_module(path: Path, args: argparse.Namespace, results: _Results) -> int:
    """Check the ``layer``, ``loss`` and ``model`` a user's Python file defines."""
    from glassnet.check.gradcheck import check_layer, check_loss
    from glassnet.nn.layers import Layer
    from glassnet.nn.losses import Loss
    from glassnet.nn.model import Sequential

    module = _import_user_file(path, "module")
    rng = np.random.default_rng(args.seed or 0)
    checked = 0
    layer = getattr(module, "layer", None)
    if isinstance(layer, Layer):
        n_in = layer.input_width() or getattr(layer, "n_in", None) or getattr(module, "input_width", 8)
        X = np.random.default_rng(args.seed or 0).standard_normal((args.batch, n_in))
        modes = [False, True] if getattr(layer, "batch_statistics", False) else [args.training]
        for training in modes:
            report = check_layer(layer, X.shape, X=X, seed=args.seed or 0, max_entries=args.max_entries,
                                 training=training)
            results.report(report, layer=layer, X=X)
            checked += 1
    loss = getattr(module, "loss", None)
    if isinstance(loss, Loss):
        k = getattr(module, "n_classes", 4)
        outputs = rng.standard_normal((args.batch, k))
        if loss.expects == "probs":
            from glassnet.core.numerics import softmax

            outputs = softmax(outputs)
        report = check_loss(loss, outputs, rng.integers(0, k, args.batch), max_entries=args.max_entries)
        results.report(report)
        checked += 1
    model = getattr(module, "model", None)
    if isinstance(model, Sequential):
        from glassnet.check.gradcheck import gradcheck
        from glassnet.nn.losses import SoftmaxCrossEntropy

        X = rng.standard_normal((args.batch, model.n_inputs or 8))
        y = rng.integers(0, model.n_outputs or 2, args.batch)
        report = gradcheck(model, loss if isinstance(loss, Loss) else SoftmaxCrossEntropy(), X, y,
                           max_entries=args.max_entries, training=args.training)
        results.report(report, model, loss if isinstance(loss, Loss) else SoftmaxCrossEntropy(), X, y)
        checked += 1
    if not checked:
        raise ConfigError(f"{path} defines no `layer` (Layer), `loss` (Loss) or `model` (Sequential) to check")
    return results.finish()


def run(args: argparse.Namespace) -> int:
    from glassnet.train.experiment import prepare
    from glassnet.check.gradcheck import gradcheck

    results = _Results(args.json)
    if (args.l2_arg or args.samples) and args.function is None:
        raise ConfigError("--l2-arg and --samples go with --function")
    if args.l2 is not None and (args.module is not None or args.function is not None):
        raise ConfigError("--l2 applies to the network gradcheck builds; a --module is checked as it is, and a "
                          "--function's lambda is its own argument (name it with --l2-arg)")
    if args.function is not None:
        return _check_function(args)
    if args.module is not None:
        return _check_module(args.module, args, results)
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
                       max_entries=args.max_entries, seed=config.seed, training=args.training)
    results.report(report, model, prep.loss, X, y, l2=config.l2)
    _cross_checks(model, prep.loss, X, y, results)
    return results.finish()


def _cross_checks(model, loss, X: np.ndarray, y: np.ndarray, results: _Results) -> None:
    """The loss against its own value, and for softmax models the fused, unfused and numeric gradients."""
    from glassnet.check.diagnosis import cross_check_softmax
    from glassnet.check.gradcheck import check_loss

    outputs = model.astype(np.float64)(X)
    results.loss_check(loss, check_loss(loss, outputs, y))
    if model.output_kind == "logits" and outputs.shape[1] > 1:
        logits = outputs
    elif model.output_kind == "probs":  # the logits are the input of the final Softmax
        captured: list[np.ndarray] = []
        model.astype(np.float64).forward(X, capture=captured)
        logits = captured[-2] if len(captured) > 1 else X
    else:
        return
    results.softmax_cross_check(cross_check_softmax(logits, y))


register(Command(
    name="gradcheck",
    help="check backpropagation against finite differences and explain any mismatch",
    description="Build the network from the same options as train (or load --model, check the layers "
    "and losses a --module defines, or your own cost function with --function FILE.py:NAME), run the gradient checker on a batch of real data in float64, print a "
    "table per tensor and, when something fails, what the pattern means. Exit status 0 when every tensor "
    "passes, 1 when any fails.",
    add_arguments=add_arguments,
    run=run,
    order=20,
))
