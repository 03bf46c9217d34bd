"""Helpers that several commands share: the run configuration from options, saved models and their data,
and printing the doctor's findings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import ConfigError

__all__ = ["CONFIG_KEYS", "config_from_args", "load", "scaled", "saved_run", "saved_dataset", "print_findings",
           "findings_json", "terminal_width"]

#: the options that are fields of :class:`~glassnet.train.experiment.TrainConfig`
CONFIG_KEYS = (
    "preset", "dataset", "data_dir", "download", "hidden", "activation", "loss", "label_smoothing", "class_weight",
    "optimizer", "lr",
    "momentum", "weight_decay", "schedule", "warmup_epochs", "l2", "dropout", "norm", "epochs", "val_split",
    "early_stopping", "clip_norm", "scaling", "dtype", "seed", "batch_size",
)


def terminal_width() -> int | None:
    """The terminal's width in columns, read once per command and passed down to whatever lays out text
    (:mod:`glassnet.core.text`): ``COLUMNS`` when set, else the width of the terminal stdout is; None when
    stdout is not a terminal (a pipe or a file gets the full-width tables, the same on every machine)."""
    import os
    import sys

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else None
    except (AttributeError, ValueError, OSError):
        return None


def config_from_args(args: argparse.Namespace, *keys_not_config: str):
    """A TrainConfig from the preset and the options this sub-command has."""
    from glassnet.train.experiment import preset_config

    overrides = {k: getattr(args, k) for k in CONFIG_KEYS if k in vars(args) and k not in ("preset", *keys_not_config)}
    config = preset_config(getattr(args, "preset", None), **overrides)
    if config.batch_size == 0:  # --batch-size full
        config.batch_size = None
    return config


def load(path: Path):
    from glassnet.io.serialize import load_model

    return load_model(path)


def scaled(model, X: np.ndarray) -> np.ndarray:
    """``X`` flattened and scaled the way ``model`` was trained (its saved preprocessing)."""
    from glassnet.data.preprocess import scaler_from_dict

    X = X.reshape(X.shape[0], -1)
    prep = model.meta.get("preprocessing")
    return scaler_from_dict(prep).transform(X) if prep else X.astype(model.dtype)


def saved_run(args: argparse.Namespace):
    """The model in ``args.model``, its dataset, and its history (or None)."""
    from glassnet.train.loop import History

    model = load(args.model)
    return model, saved_dataset(model, args), (
        History.from_dict(model.meta["history"]) if "history" in model.meta else None)


def saved_dataset(model, args: argparse.Namespace):
    """The dataset a saved model was trained on (its recorded location), or the one --dataset names."""
    from glassnet.data.datasets import load_dataset

    where = model.meta.get("data_location") or {}
    if args.dataset:
        return load_dataset(args.dataset, data_dir=args.data_dir)
    name = where.get("dataset") or model.meta.get("dataset")
    if not name:
        raise ConfigError("the model does not record its dataset; pass --dataset")
    return load_dataset(name, data_dir=args.data_dir or where.get("data_dir"))


def saved_data_options(p: argparse.ArgumentParser) -> None:
    """--dataset and --data-dir for commands that read a saved model's data."""
    from glassnet.cli.options import existing_dir

    p.add_argument("--dataset", help="dataset name or IDX folder (default: the one the model was trained on)")
    p.add_argument("--data-dir", type=existing_dir, help="folder holding the dataset's files")


def findings_json(findings: list[Any]) -> list[dict[str, str]]:
    """The doctor's findings as ``[{"code", "title", "evidence", "fix", "where"}]`` for ``--json``."""
    return [{"code": f.code, "title": f.title, "evidence": f.evidence, "fix": f.fix, "where": f.where}
            for f in findings]


def print_findings(findings: list[Any]) -> None:
    if not findings:
        print("doctor: no problems found")
        return
    print(f"doctor: {len(findings)} problem(s) found")
    for f in findings:
        print(f"- {f}")
