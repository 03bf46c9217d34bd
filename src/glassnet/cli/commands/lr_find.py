"""``glassnet lr-find``: the learning-rate range test (one pass, exponentially increasing rate)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from glassnet.cli.common import config_from_args
from glassnet.cli.options import DEBUG, data_options, model_options, positive_float, positive_int, training_options
from glassnet.cli.registry import Command, register
from glassnet.errors import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", **DEBUG)
    data_options(p)
    model_options(p)
    training_options(p)
    p.add_argument("--lr-min", type=positive_float, default=1e-6, help="the first rate (default 1e-06)")
    p.add_argument("--lr-max", type=positive_float, default=10.0, help="the last rate (default 10)")
    p.add_argument("--steps", type=positive_int, help="steps of the test (default: one pass over the data, at least 100)")
    p.add_argument("-o", "--output", type=Path, metavar="FILE.json",
                   help="write the curve and the suggestion as JSON (glassnet report --lr-find reads it)")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="draw loss against rate (needs matplotlib)")


def run(args: argparse.Namespace) -> int:
    from glassnet.io.serialize import atomic_write_text
    from glassnet.train.experiment import prepare
    from glassnet.train.lr_find import lr_find

    if args.lr_min >= args.lr_max:
        raise ConfigError(f"--lr-min {args.lr_min} must be below --lr-max {args.lr_max}")
    config = config_from_args(args)
    prep = prepare(config)
    result = lr_find(prep.model, prep.X_train, prep.y_train, loss=prep.loss, optimizer=config.optimizer,
                     momentum=config.momentum, batch_size=config.batch_size or prep.X_train.shape[0],
                     lr_min=args.lr_min, lr_max=args.lr_max, steps=args.steps, rng=config.seed)
    print(f"learning-rate range test: {len(result.losses)} steps from {args.lr_min:g} to {result.lrs[-1]:.3g}"
          + (f", diverged at {result.diverged_at:.3g}" if result.diverged_at else ""))
    print(f"suggested learning rate: {result.suggestion:.3g} (steepest descent of the smoothed loss); "
          f"lowest loss at {10 * result.min_loss_lr:.3g}, a tenth of it {result.min_loss_lr:.3g}")
    if args.output is not None:
        atomic_write_text(args.output, json.dumps(result.to_dict()))
        print(f"curve written to {args.output}")
    if args.plot is not None:
        from glassnet.io.serialize import atomic_write
        from glassnet.report.html import lr_find_figure

        png = lr_find_figure(result)
        atomic_write(args.plot, lambda fh: fh.write(png))
        print(f"plot written to {args.plot}")
    return 0


register(Command(
    name="lr-find",
    help="learning-rate range test: one pass with a growing rate, and a suggested rate",
    description="Train a copy of the network for one pass with the learning rate growing exponentially from "
    "--lr-min to --lr-max, record the loss of each step, and suggest the rate where the smoothed loss falls "
    "fastest. The data, network and optimizer options are glassnet train's.",
    add_arguments=add_arguments,
    run=run,
    order=25,
))
