"""``glassnet sweep``: activation and hyperparameter sweeps on Optuna (docs/sweep.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from glassnet.cli.common import CONFIG_KEYS
from glassnet.cli.options import DEBUG, data_options, model_options, positive_int, training_options
from glassnet.cli.registry import Command, register
from glassnet.errors import ConfigError


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--debug", **DEBUG)
    s.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="a grid over a training option, e.g. activation=all, lr=0.01,0.1, hidden=256,512x256")
    s.add_argument("--sample", action="append", default=[], metavar="KEY=RANGE",
                   help="a sampled range: lr=log:1e-4:1e-1, dropout=0:0.5, hidden=64..1024")
    s.add_argument("--space", type=Path, metavar="FILE.toml", help="the search space as TOML: [grid], [sample], [fixed]")
    s.add_argument("--study", default=None, help="the study's name (default: sweep)")
    s.add_argument("--storage", default=None,
                   help="an SQLAlchemy URL (default sqlite:///sweeps/STUDY.db); the same command continues the study")
    s.add_argument("--trials", type=positive_int, help="number of trials (default: every grid combination)")
    s.add_argument("--metric", choices=["val_accuracy", "val_loss"], default="val_accuracy",
                   help="what the trials are judged on, on held-out training data (default val_accuracy)")
    s.add_argument("--no-prune", dest="prune", action="store_false",
                   help="do not stop unpromising trials early (default: Optuna's median pruner on val loss)")
    s.add_argument("--workers", type=positive_int, default=1,
                   help="worker processes on this machine, BLAS threads split between them (default 1)")
    s.add_argument("--dask", metavar="ADDRESS", help="run the trials on a Dask cluster; 'local' starts one on 127.0.0.1")
    s.add_argument("--save-models", metavar="DIR", help="save each trial's model in DIR")
    s.add_argument("--show", metavar="STUDY", help="print the ranked table of an existing study and exit")
    s.add_argument("--html", type=Path, metavar="FILE.html",
                   help="also write the study as a page: the table, the metric by parameter, parallel coordinates, "
                   "the top trials' learning curves and the failed trials' errors (needs matplotlib)")
    data_options(s)
    model_options(s)
    training_options(s)


def _settings(args: argparse.Namespace):
    from glassnet.sweep.space import Space, parse_grid, parse_sample, space_from_toml
    from glassnet.sweep.study import SweepSettings, default_storage

    space, fixed = Space(), {}
    if args.space is not None:
        if not args.space.is_file():
            raise ConfigError(f"--space {args.space}: no such file")
        space, fixed = space_from_toml(args.space.read_text(encoding="utf-8"))
    for text in args.grid:
        parse_grid(text, space)
    for text in args.sample:
        parse_sample(text, space)
    if not space.keys():
        raise ConfigError("nothing to sweep: give --grid KEY=V1,V2, --sample KEY=RANGE or --space FILE")
    fixed.update({k: getattr(args, k) for k in CONFIG_KEYS if k in vars(args) and k != "preset"
                  and getattr(args, k) is not None})
    clash = set(fixed) & set(space.keys())
    if clash:
        raise ConfigError(f"{', '.join(sorted(clash))}: both swept and fixed")
    study = args.study or "sweep"
    return SweepSettings(study=study, storage=args.storage or default_storage(study), space=space, fixed=fixed,
                         preset=args.preset, trials=args.trials, metric=args.metric, prune=args.prune,
                         seed=args.seed or 0, save_models=args.save_models,
                         check_gradients="activation" in space.grid)


def run(args: argparse.Namespace) -> int:
    from glassnet.sweep.results import summary, table
    from glassnet.sweep.study import _optuna, default_storage, run_sweep

    if args.show is not None:
        optuna = _optuna()
        storage = args.storage or default_storage(args.show)
        try:
            study = optuna.load_study(study_name=args.show, storage=storage)
        except KeyError:
            raise ConfigError(f"no study {args.show!r} in {storage}") from None
        metric = "val_accuracy" if study.direction.name == "MAXIMIZE" else "val_loss"  # SweepSettings.direction inverted
        print(table(study, metric))
        print(summary(study))
        _write_html(args, study, metric)
        return 0
    settings = _settings(args)
    study = run_sweep(settings, workers=args.workers, dask=args.dask)
    print(table(study, settings.metric))
    print(summary(study))
    _write_html(args, study, settings.metric)
    return 0


def _write_html(args: argparse.Namespace, study, metric: str) -> None:
    if args.html is None:
        return
    if args.html.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--html {args.html}: give a file name ending in .html")
    from glassnet.io.serialize import atomic_write_text
    from glassnet.sweep.page import sweep_page

    atomic_write_text(args.html, sweep_page(study, metric))
    print(f"page written to {args.html}")


register(Command(
    name="sweep",
    help="sweep activations and hyperparameters on Optuna (SQLite study, workers, Dask)",
    description="Train one run per trial with the fixed options plus the trial's parameters, judge it on held-out "
    "training data, and rank the trials; the best trial's test accuracy is reported once, at the end. "
    "The study lives in its storage (default sqlite:///sweeps/STUDY.db): the same command continues it.",
    add_arguments=add_arguments,
    run=run,
    order=35,
))
