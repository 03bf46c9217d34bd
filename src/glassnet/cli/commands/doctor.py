"""``glassnet doctor`` and ``glassnet overfit-batch``: find what is wrong with a run or a network."""

from __future__ import annotations

import argparse
from pathlib import Path

from glassnet.cli.common import config_from_args, findings_json, print_findings, saved_data_options, saved_run, scaled
from glassnet.cli.json_output import JSON_OPTION, emit
from glassnet.cli.options import DEBUG, data_options, model_options, positive_float, positive_int
from glassnet.cli.registry import Command, register


def add_doctor_arguments(d: argparse.ArgumentParser) -> None:
    d.add_argument("--debug", **DEBUG)
    d.add_argument("model", type=Path, help="a model file written by glassnet train -o")
    saved_data_options(d)
    d.add_argument("--json", **JSON_OPTION)


def run_doctor(args: argparse.Namespace) -> int:
    from glassnet.check.doctor import examine_model

    model, ds, history = saved_run(args)
    findings = examine_model(model, scaled(model, ds.X_test), ds.y_test, history,
                             config=model.meta.get("train_config"))
    if args.json:
        emit("doctor", {"path": str(args.model), "architecture": model.describe(), "dataset": ds.name,
                        "n_samples": int(ds.X_test.shape[0]), "has_history": history is not None,
                        "findings": findings_json(findings)})
        return 1 if findings else 0
    print(f"{args.model}: {model.describe()}, examined on the {ds.name} test set ({ds.X_test.shape[0]} samples)"
          + ("" if history else "; no training history recorded"))
    print_findings(findings)
    return 1 if findings else 0


def add_overfit_arguments(o: argparse.ArgumentParser) -> None:
    o.add_argument("--debug", **DEBUG)
    data_options(o)
    model_options(o)
    o.add_argument("--n-samples", type=positive_int, default=32, help="size of the batch (default 32)")
    o.add_argument("--steps", type=positive_int, default=300, help="full-batch Adam steps at most (default 300)")
    o.add_argument("--lr", type=positive_float, default=1e-2, help="Adam learning rate (default 0.01)")


def run_overfit_batch(args: argparse.Namespace) -> int:
    from glassnet.check.doctor import overfit_batch
    from glassnet.train.experiment import prepare
    from glassnet.optim.optimizers import Adam

    config = config_from_args(args)
    prep = prepare(config)
    n = min(args.n_samples, prep.X_train.shape[0])
    pick = prep.rng.choice(prep.X_train.shape[0], size=n, replace=False)
    result = overfit_batch(prep.model, prep.loss, prep.X_train[pick], prep.y_train[pick],
                           optimizer=Adam(lr=args.lr), steps=args.steps, rng=prep.rng)
    print(f"overfit-batch: {prep.model.describe()} on {n} samples of {prep.dataset.name}")
    print(result)
    return 0 if result.can_overfit else 1


register(Command(
    name="doctor",
    help="examine a saved model and its training history for known problems",
    description="Look for collapse, dead or saturated units, a loss that stopped falling and "
    "overfitting in a model saved by glassnet train -o. Exit status 1 when problems are found.",
    add_arguments=add_doctor_arguments,
    run=run_doctor,
    order=30,
))
register(Command(
    name="overfit-batch",
    help="can the network drive the loss on one small batch to near zero?",
    description="Train the network from the same options as train on a single small batch. "
    "A sound network and backward reach near-zero loss; exit status 1 if it cannot.",
    add_arguments=add_overfit_arguments,
    run=run_overfit_batch,
    order=40,
))
