"""``glassnet report``: a self-contained HTML report of a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from glassnet import __version__
from glassnet.cli.common import saved_data_options, saved_run, scaled
from glassnet.cli.options import DEBUG, positive_int
from glassnet.cli.registry import Command, register
from glassnet.errors import ConfigError


def add_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("--debug", **DEBUG)
    r.add_argument("model", type=Path, help="a model file written by glassnet train -o")
    r.add_argument("-o", "--output", type=Path, help="the HTML file to write (default: MODEL with .html)")
    r.add_argument("--lr-find", type=Path, metavar="FILE.json",
                   help="include a learning-rate range test written by glassnet lr-find -o FILE.json")
    saved_data_options(r)
    r.add_argument("--batch", type=positive_int, default=16,
                   help="test samples in the gradient check (default 16)")


def run(args: argparse.Namespace) -> int:
    from glassnet.check.doctor import examine_model
    from glassnet.train.experiment import TrainConfig, build_loss
    from glassnet.check.gradcheck import gradcheck
    from glassnet.report.html import build_report, render_html
    from glassnet.io.serialize import atomic_write_text

    output = args.output or args.model.with_suffix(".html")
    if output.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"the report is an HTML page: give an output name ending in .html, got {output}")
    model, ds, history = saved_run(args)
    X = scaled(model, ds.X_test)
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
                        title=f"glassnet report: {args.model.name}", summary=summary, lr_find=_lr_find(args))
    atomic_write_text(output, render_html(page))
    print(f"report written to {output} ({page.n_figures} figures, gradient check "
          f"{'passed' if check.passed else 'FAILED'})")
    return 0


register(Command(
    name="report",
    help="write a self-contained HTML report of a trained model (needs matplotlib)",
    description="Write one HTML page with PNG figures: loss and accuracy curves, the confusion "
    "matrix, the worst-misclassified test images, the first layer's weights as images, gradient "
    "norms by layer over training, the gradient-check table and the doctor's findings. Needs "
    'matplotlib (pip install "glassnet[report]").',
    add_arguments=add_arguments,
    run=run,
    order=80,
))


def _lr_find(args: argparse.Namespace):
    """The --lr-find result, read back (bounded: a JSON file of at most 16 MiB)."""
    if args.lr_find is None:
        return None
    import json

    from glassnet.train.lr_find import LRFind

    if not args.lr_find.is_file() or args.lr_find.stat().st_size > 16 * 2**20:
        raise ConfigError(f"--lr-find {args.lr_find}: not a glassnet lr-find result file")
    try:
        return LRFind.from_dict(json.loads(args.lr_find.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise ConfigError(f"--lr-find {args.lr_find}: {exc}") from None
