"""``glassnet train``: train a classifier and report its test accuracy (with checkpoints, resume and the doctor)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.cli.common import CONFIG_KEYS, config_from_args, findings_json, print_findings
from glassnet.cli.json_output import JSON_OPTION, emit
from glassnet.cli.options import DEBUG, data_options, model_options, positive_int, threads_option, training_options
from glassnet.cli.registry import Command, register
from glassnet.errors import ConfigError, FileFormatError, NonFiniteError
from glassnet.io.schema import Bool, Int, Nullable, Obj, Str


def add_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("--debug", **DEBUG)
    t.add_argument("--config", type=Path, metavar="FILE",
                   help="read the run options from a TOML file (keys as the options: lr = 0.05, hidden = [256, 128]); "
                   "options on the command line override it")
    t.add_argument("--print-config", action="store_true",
                   help="print the resolved configuration as TOML (a file --config accepts) and exit without training")
    data_options(t)
    model_options(t)
    training_options(t)
    t.add_argument("-o", "--output", type=Path, help="save the trained model to this .npz file")
    t.add_argument("--history", type=Path, help="write the per-epoch metrics to this JSON file")
    t.add_argument("--checkpoint-dir", type=Path,
                   help="write a checkpoint (weights, optimizer and RNG state, position, history, and every option "
                   "of the run) into this folder at each epoch end and every --checkpoint-every steps")
    t.add_argument("--checkpoint-every", type=positive_int, metavar="STEPS", help="also checkpoint every STEPS steps")
    t.add_argument("--keep-checkpoints", type=positive_int, metavar="K",
                   help=f"keep the newest K checkpoints (default {KEEP_CHECKPOINTS})")
    t.add_argument("--resume", type=Path, metavar="DIR",
                   help="continue the run checkpointed in DIR exactly where it stopped, with all its options "
                   "(-o, --history, --checkpoint-every, --log-jsonl, ... included; output options given again replace "
                   "them). Options that change the computation cannot change; --epochs can, unless that changes the "
                   "learning-rate schedule (cosine_with_warmup, step_decay): see docs/checkpoints.md")
    t.add_argument("--log-jsonl", type=Path, metavar="FILE",
                   help="write each epoch's metrics to FILE as one JSON object a line (appended on --resume)")
    t.add_argument("--tensorboard", type=Path, metavar="DIR",
                   help="write TensorBoard event files (losses, accuracies, learning rate, gradient norms, weight "
                   'histograms) into DIR (pip install "glassnet[tensorboard]")')
    t.add_argument("--doctor", action="store_true", default=None,
                   help="check the data and the untrained model, watch the run, and report problems with fixes; "
                   "the exit status is 1 when it finds a problem")
    t.add_argument("--threads", type=threads_option, default=None,
                   help="BLAS threads while training: auto measures 1 and all cores at the start of every epoch (and "
                   "again when the steps slow down twofold) and keeps the faster (it follows the machine's load; "
                   "faster on a busy machine, but the same command can then give another model), or a fixed count "
                   "(needs threadpoolctl: glassnet[fast]). By default the BLAS keeps its own count and runs are "
                   "bit-identical")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    t.add_argument("--json", **JSON_OPTION)


KEEP_CHECKPOINTS = 3
#: the options of a run that change no number it computes: stored in every checkpoint, remembered by
#: --resume, and replaced there when given again.  Paths are stored absolute.  (-q and --json are not
#: among them: what this terminal shows is decided by each command line.)
OPTIONS_SCHEMA = Obj({
    "output": Nullable(Str()),
    "history": Nullable(Str()),
    "checkpoint_every": Nullable(Int(1)),
    "keep_checkpoints": Int(1),
    "doctor": Bool(),
    "log_jsonl": Nullable(Str()),
    "tensorboard": Nullable(Str()),
})
_PATHS = ("output", "history", "log_jsonl", "tensorboard")
#: how each remembered option is written on the command line (for the resume message)
_FLAGS = {"output": "-o", "history": "--history", "checkpoint_every": "--checkpoint-every",
          "keep_checkpoints": "--keep-checkpoints", "doctor": "--doctor", "log_jsonl": "--log-jsonl",
          "tensorboard": "--tensorboard"}


def _given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The output options given on this command line (absent ones are None; paths made absolute)."""
    given = {key: getattr(args, key) for key in OPTIONS_SCHEMA.required}
    return {key: (os.path.abspath(value) if key in _PATHS and value is not None else value)
            for key, value in given.items()}


def _run_options(args: argparse.Namespace, remembered: dict[str, Any] | None) -> dict[str, Any]:
    """The run's output options: those given now, else the checkpointed run's (``remembered``), else the defaults.

    They are written back into ``args``, so the rest of the command reads one set of options.
    """
    defaults = {"keep_checkpoints": KEEP_CHECKPOINTS, "doctor": False}
    fallback = remembered if remembered is not None else defaults
    options = {key: (fallback.get(key) if value is None else value) for key, value in _given_options(args).items()}
    for key, value in options.items():
        setattr(args, key, Path(value) if key in _PATHS and value is not None else value)
    return options


def _resume_config(args: argparse.Namespace, meta: dict[str, Any]):
    """The checkpointed run's configuration; refuses changes to it, and applies the --epochs rule.

    ``--epochs N`` on resume: N below the epochs already trained is refused.
    When the schedule built for N epochs is the one the run has (constant,
    exponential_decay, reduce_on_plateau; step_decay when N // 3 is
    unchanged), the run simply continues, exactly as a run started with
    ``--epochs N``.  Otherwise (cosine_with_warmup, step_decay: planned over
    the run's length) it would change the learning rate of the steps still to
    come and, past the planned end, train at the final rate (0 for the
    cosine): refused, naming the schedule.
    """
    from glassnet.train.experiment import TrainConfig, schedule_changes_with_epochs

    given = [k for k in CONFIG_KEYS if k not in ("epochs",) and getattr(args, k, None) is not None]
    if given:
        raise ConfigError(f"--resume continues the checkpointed run; these options cannot change: {', '.join(given)}")
    config = TrainConfig.from_dict(meta["config"])
    if args.epochs is None or args.epochs == config.epochs:
        return config
    if args.epochs < meta["epoch"]:
        raise ConfigError(f"--epochs {args.epochs}: the checkpointed run has already trained {meta['epoch']} epochs")
    if schedule_changes_with_epochs(config, args.epochs):
        raise ConfigError(
            f"--epochs {args.epochs} would change the run's {config.schedule} learning-rate schedule, which is planned "
            f"over its {config.epochs} epochs (past them the rate stays at its end value); resume without --epochs "
            f"to finish the run as planned, or start a new run with --epochs {args.epochs}"
        )
    config.epochs = args.epochs
    return config


@dataclass
class _Plan:
    """What a ``glassnet train`` invocation resolved to before any data is read."""

    config: Any  # TrainConfig
    options: dict[str, Any]  # the run options a checkpoint remembers
    checkpoint_dir: Path | None
    resume: tuple[Path, dict[str, Any], dict[str, Any]] | None = None  # (path, arrays, meta) of the checkpoint
    skipped: list[str] = field(default_factory=list)  # damaged checkpoints passed over


def run(args: argparse.Namespace) -> int:
    """Resolve the configuration, prepare the data and model, train with the callbacks, then save and report."""
    plan = _plan(args)
    if args.print_config:
        from glassnet.cli.run_file import config_to_toml

        print(config_to_toml(plan.config.to_dict()), end="")
        return 0
    from glassnet.train.experiment import prepare, train

    started = time.perf_counter()
    prep = prepare(plan.config, progress=not args.quiet)
    state = _restore(args, plan, prep)
    callbacks, checkpointer, doctor, before = _callbacks(args, plan, prep)
    if not args.quiet and not args.json:  # once the data and any checkpoint are in: errors stay one line
        print(f"configuration: {_config_line(plan.config)}", file=sys.stderr)
    try:
        # --threads defaults to None, the BLAS's own count, not auto: OpenBLAS rounds differently with another count, so
        # auto would make the same command give another model (MNIST preset: 95.90% and 96.00% on two auto runs)
        result = train(prep, callbacks=callbacks, state=state, threads=args.threads)
    except NonFiniteError as exc:
        return _diverged(args, plan, exc, checkpointer, doctor, before)
    wall = time.perf_counter() - started
    _save_outputs(args, result)
    return _report(args, plan, prep, result, wall, doctor, before)


def _plan(args: argparse.Namespace) -> _Plan:
    """The configuration and run options: from --config's run file and the command line, or from the
    checkpoint --resume names (whose remembered options the command line may override)."""
    if args.config is not None:
        from glassnet.cli.options import Parser
        from glassnet.cli.run_file import apply_run_file

        options = Parser(prog="glassnet train")
        add_arguments(options)
        apply_run_file(options, args, args.config)
    if args.resume is None:
        return _Plan(config_from_args(args), _run_options(args, None), args.checkpoint_dir)
    from glassnet.train.checkpoint import latest_checkpoint
    from glassnet.train.experiment import TRAIN_CONFIG_SCHEMA

    skipped: list[str] = []
    path, arrays, meta = latest_checkpoint(args.resume, config=TRAIN_CONFIG_SCHEMA, options=OPTIONS_SCHEMA,
                                           skipped=skipped)
    return _Plan(_resume_config(args, meta), _run_options(args, meta["options"]), args.checkpoint_dir or args.resume,
                 (path, arrays, meta), skipped)


def _restore(args: argparse.Namespace, plan: _Plan, prep):
    """The resumed TrainState (None for a new run), announced on stderr with the options it remembers."""
    if plan.resume is None:
        return None
    from glassnet.train.checkpoint import restore_state

    path, arrays, meta = plan.resume
    try:
        state = restore_state(prep.model, prep.optimizer, arrays, meta)
    except FileFormatError as exc:
        raise FileFormatError(f"{path}: {exc}") from None
    if not args.quiet:
        for reason in plan.skipped:
            print(f"skipped a damaged checkpoint: {reason}", file=sys.stderr)
        remembered = ", ".join(
            _FLAGS[k] if v is True else f"{_FLAGS[k]} {v}" for k, v in plan.options.items() if v not in (None, False)
        )
        print(f"resuming from {path} (epoch {state.epoch}, step {state.step}) to epoch {plan.config.epochs}; "
              f"with {remembered}", file=sys.stderr)
    return state


def _callbacks(args: argparse.Namespace, plan: _Plan, prep) -> tuple[list[Any], Any, Any, list]:
    """The run's callbacks, and the checkpointer, the doctor and its before-training findings among them."""
    from glassnet.train.callbacks.grad_norms import GradientNorms
    from glassnet.train.callbacks.progress import EpochLogger, ProgressBar
    from glassnet.train.checkpoint import Checkpointer

    # GradientNorms first: it writes the norms into each epoch's record before a checkpoint saves it
    callbacks: list[Any] = [GradientNorms(every=10)] + _loggers(args) + (
        [] if args.quiet else [ProgressBar(), EpochLogger()])
    checkpointer = None
    if plan.checkpoint_dir is not None:
        checkpointer = Checkpointer(plan.checkpoint_dir, prep.optimizer, every_steps=args.checkpoint_every,
                                    keep=args.keep_checkpoints, config=plan.config.to_dict(), options=plan.options)
        callbacks.append(checkpointer)
    doctor, before = None, []
    if args.doctor:
        doctor, before = _doctor_before_training(prep, show=not args.json)
        callbacks.append(doctor)
    return callbacks, checkpointer, doctor, before


def _diverged(args: argparse.Namespace, plan: _Plan, exc: NonFiniteError, checkpointer, doctor, before: list) -> int:
    """A run that became non-finite: the error names the checkpoint that survives; with --doctor the
    findings are printed and the exit status is 1, without it the error propagates (one line, exit 2)."""
    error = exc
    if checkpointer is not None:  # non-finite states are never checkpointed: say which one survives
        kept = checkpointer.last_path or (plan.resume[0] if plan.resume is not None else None)
        error = NonFiniteError(f"{exc} The last good checkpoint, {kept}, is intact." if kept else
                               f"{exc} No checkpoint was written before it.")
    if doctor is None:
        if error is exc:
            raise exc
        raise error from exc
    findings = doctor.report() + [_nonfinite_finding(error)]
    if args.json:
        emit("train", {"status": "diverged", "error": str(error), "config": plan.config.to_dict(),
                       "doctor": {"before_training": findings_json(before), "after_training": findings_json(findings)}})
    else:
        print_findings(findings)
    return 1


def _save_outputs(args: argparse.Namespace, result) -> None:
    """-o MODEL and --history FILE (both written atomically)."""
    if args.output is not None:
        from glassnet.io.serialize import save_model

        save_model(args.output, result.model)
    if args.history is not None:
        from glassnet.io.serialize import atomic_write_text

        atomic_write_text(args.history, json.dumps(result.history.to_dict(), indent=2))


def _report(args: argparse.Namespace, plan: _Plan, prep, result, wall: float, doctor, before: list) -> int:
    """The summary (text or JSON), the doctor's findings or the at-chance warning; the exit status."""
    findings = None
    if doctor is not None:
        from glassnet.check.doctor import examine_model

        findings = doctor.report()
        codes = {f.code for f in findings}
        findings += [f for f in examine_model(result.model, prep.X_test, prep.y_test, config=plan.config.to_dict())
                     if f.code not in codes]
    # --doctor: exit status 1 when it found a problem, before or after training (documented in --help)
    status = 1 if findings or before else 0
    if args.json:
        emit("train", _summary_json(args, result, wall, before, findings))
        return status
    _print_summary(args, result, wall)
    if findings is not None:
        print_findings(findings)
    elif _at_chance(result):
        n = len(result.dataset.class_names)
        print(f"warning: test accuracy {result.test_accuracy:.4f} is at chance for {n} classes (1/C = {1 / n:.4f}): "
              "the network learned nothing; run again with --doctor to find out why", file=sys.stderr)
    return status


def _config_line(config) -> str:
    """The resolved configuration in one line (``--print-config`` gives all of it as TOML)."""
    shown = ("preset", "dataset", "hidden", "activation", "norm", "loss", "optimizer", "lr", "momentum", "schedule",
             "warmup_epochs", "epochs", "batch_size", "dropout", "l2", "label_smoothing", "scaling", "seed")
    values = config.to_dict()
    parts = []
    for key in shown:
        value = values.get(key)
        if value is None or (key in ("warmup_epochs", "l2", "label_smoothing") and not value):
            continue
        value = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        parts.append(f"{key.replace('_', '-')} {value}")
    return ", ".join(parts)


def _at_chance(result) -> bool:
    """Test accuracy at or near 1/C (within half of 1/C above it)."""
    n = len(result.dataset.class_names)
    return n > 1 and result.test_accuracy <= 1.5 / n


def _print_summary(args: argparse.Namespace, result, wall: float) -> None:
    ds, hist = result.dataset, result.history
    print(f"dataset: {ds.name} ({ds.X_train.shape[0]} train, {ds.X_test.shape[0]} test; {ds.source})")
    print(f"model: {result.model.describe()} ({result.model.n_params():,} parameters, {result.model.dtype.name})")
    extra = f", best epoch {hist.best_epoch}" if hist.best_epoch is not None else ""
    print(f"trained {len(hist)} epochs in {result.train_seconds:.1f} s{extra} (wall time {wall:.1f} s)")
    print(f"test accuracy: {result.test_accuracy:.4f}")
    if args.output is not None:
        print(f"model saved to {args.output}")


def _summary_json(args: argparse.Namespace, result, wall: float, before: list, findings: list | None) -> dict[str, Any]:
    """The ``glassnet.train/1`` object of docs/json.md."""
    ds, hist, model = result.dataset, result.history, result.model
    return {
        "status": "trained",
        "dataset": {"name": ds.name, "n_train": int(ds.X_train.shape[0]), "n_test": int(ds.X_test.shape[0]),
                    "source": ds.source},
        "model": {"architecture": model.describe(), "n_params": model.n_params(), "dtype": model.dtype.name},
        "config": result.config.to_dict(),
        "epochs_trained": len(hist),
        "best_epoch": hist.best_epoch,
        "stopped_early": hist.stopped_early,
        "train_seconds": result.train_seconds,
        "wall_seconds": wall,
        "test_accuracy": result.test_accuracy,
        "last_epoch": hist.records[-1].to_dict() if hist.records else None,
        "output": None if args.output is None else str(args.output),
        "history": None if args.history is None else str(args.history),
        "doctor": None if findings is None else {"before_training": findings_json(before),
                                                 "after_training": findings_json(findings)},
    }


def _loggers(args: argparse.Namespace) -> list[Any]:
    """The --log-jsonl and --tensorboard callbacks (after GradientNorms, so they see the norms)."""
    loggers: list[Any] = []
    if args.log_jsonl is not None:
        from glassnet.train.callbacks.jsonl import JsonlLogger

        loggers.append(JsonlLogger(args.log_jsonl))
    if args.tensorboard is not None:
        from glassnet.train.callbacks.tensorboard import TensorBoardLogger

        loggers.append(TensorBoardLogger(args.tensorboard))
    return loggers


def _doctor_before_training(prep, *, show: bool):
    """Data and initial-loss checks (printed now when ``show``); returns the live Doctor callback and them."""
    from glassnet.check.doctor import Doctor, check_data, check_initial_loss

    n_classes = len(prep.dataset.class_names)
    before = check_data(prep.X_train, prep.y_train, n_classes, val_split=prep.config.val_split)
    before += check_initial_loss(prep.model, prep.loss, prep.X_train[:512], prep.y_train[:512])
    if before and show:
        print("doctor, before training:")
        print_findings(before)
    probe = np.random.default_rng(prep.config.seed).choice(prep.X_train.shape[0], size=min(256, prep.X_train.shape[0]), replace=False)
    return Doctor(prep.X_train[probe], prep.y_train[probe]), before


def _nonfinite_finding(exc: Exception):
    from glassnet.check.doctor import Finding

    return Finding("non-finite", "the loss became NaN or infinite", str(exc),
                   "a smaller learning rate, gradient clipping (--clip-norm), or scaled inputs")


register(Command(
    name="train",
    help="train a classifier and report its test accuracy",
    description="Train an MLP classifier and print its test accuracy. With no options it trains on the "
    "offline 8x8 digits set in a few seconds. Explicit options override the preset's values.",
    add_arguments=add_arguments,
    run=run,
    order=10,
))
