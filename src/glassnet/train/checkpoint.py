"""Checkpoints: everything a run needs to continue exactly where it stopped, written atomically.

A checkpoint is one ``ckpt-<step>.npz`` file in the run's directory (the
safe format of :mod:`glassnet.io.serialize`: no pickle, a format version and
SHA-256 digests of the arrays and of the metadata) holding

* the model's parameters (``param/<name>``) and, with early stopping, the
  best ones so far (``best/<name>``);
* the optimizer state (``opt/<field>``, see :func:`glassnet.optim.state_to_arrays`);
* the run position: epochs done, optimizer steps, samples of the current
  epoch used, and this epoch's sample order (``train/order``) and the
  validation indices (``train/val_index``);
* the state of the run's one ``np.random.Generator`` (JSON), the history, the
  early-stopping memory, a plateau schedule's state and the run configuration.

Resuming restores all of it, so a run killed at any moment (during a
checkpoint write included: the write goes to a temporary file that is
fsync'ed and renamed, so the previous checkpoint is never damaged) and
resumed ends with the same weights, bit for bit, as a run never interrupted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import ConfigError, FileFormatError
from glassnet.nn.model import Sequential
from glassnet.train.loop import EpochRecord, History, StepInfo, TrainState

__all__ = ["Checkpointer", "save_checkpoint", "load_checkpoint", "latest_checkpoint", "restore_state", "CHECKPOINT_KIND"]

CHECKPOINT_KIND = "glassnet-checkpoint"
_NAME = re.compile(r"^ckpt-(\d{9})\.npz$")


def _checkpoints(directory: Path) -> list[Path]:
    """Checkpoint files in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(directory: Path | str, model: Sequential, optimizer: Any, state: TrainState,
                    config: dict[str, Any] | None = None, *, keep: int = 3) -> Path:
    """Write ``ckpt-<step>.npz`` atomically, then delete all but the newest ``keep`` checkpoints."""
    from glassnet.optim.optimizers import state_to_arrays
    from glassnet.io.serialize import save_arrays

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {f"param/{k}": v for k, v in model.params().items()}
    arrays.update({f"opt/{k}": v for k, v in state_to_arrays(state.opt_state).items()})
    if state.order is not None:
        arrays["train/order"] = state.order
    if state.val_index is not None:
        arrays["train/val_index"] = state.val_index
    if state.best_params is not None:
        arrays.update({f"best/{k}": v for k, v in state.best_params.items()})
    schedule = getattr(optimizer, "lr", None)
    meta = {
        "epoch": state.epoch,
        "step": state.step,
        "position": state.position,
        "rng": state.rng.bit_generator.state if state.rng is not None else None,
        "history": state.history.to_dict(),
        "best_score": state.best_score if np.isfinite(state.best_score) else None,
        "bad_epochs": state.bad_epochs,
        "epoch_sums": [state.epoch_loss_sum, state.epoch_correct, state.epoch_seen, state.epoch_steps, state.epoch_seconds],
        "schedule_state": schedule.state_dict() if hasattr(schedule, "state_dict") else None,
        "config": config or {},
        "architecture": [{"type": type(layer).__name__, "config": layer.config()} for layer in model.layers],
        "dtype": model.dtype.name,
    }
    path = directory / f"ckpt-{state.step:09d}.npz"
    save_arrays(path, arrays, meta, CHECKPOINT_KIND)
    for old in _checkpoints(directory)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path | str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and verify one checkpoint (raises :class:`FileFormatError` if it is damaged)."""
    from glassnet.io.serialize import load_arrays

    return load_arrays(Path(path), CHECKPOINT_KIND)


def latest_checkpoint(directory: Path | str) -> tuple[Path, dict[str, np.ndarray], dict[str, Any]]:
    """The newest checkpoint in ``directory`` that verifies; damaged newer ones are skipped.

    Raises :class:`ConfigError` when the directory holds no usable checkpoint.
    """
    directory = Path(directory)
    errors = []
    for path in reversed(_checkpoints(directory)):
        try:
            arrays, meta = load_checkpoint(path)
            return path, arrays, meta
        except FileFormatError as exc:
            errors.append(str(exc))
    detail = f" ({'; '.join(errors)})" if errors else ""
    raise ConfigError(f"no usable checkpoint in {directory}{detail}")


def restore_state(model: Sequential, optimizer: Any, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TrainState:
    """Load a checkpoint's parameters into ``model`` and rebuild the :class:`TrainState` to resume from."""
    from glassnet.optim.optimizers import state_from_arrays

    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    model.set_params(params)
    opt_arrays = {k[len("opt/"):]: v for k, v in arrays.items() if k.startswith("opt/")}
    best = {k[len("best/"):]: v for k, v in arrays.items() if k.startswith("best/")}
    rng = None
    if meta.get("rng") is not None:
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["rng"]
    loss_sum, correct, seen, steps, seconds = meta["epoch_sums"]
    state = TrainState(
        epoch=int(meta["epoch"]),
        step=int(meta["step"]),
        position=int(meta["position"]),
        order=arrays.get("train/order"),
        opt_state=state_from_arrays(optimizer, model.params(), opt_arrays),
        rng=rng,
        val_index=arrays.get("train/val_index"),
        history=History.from_dict(meta["history"]),
        best_score=float(meta["best_score"]) if meta.get("best_score") is not None else float("inf"),
        best_params=best or None,
        bad_epochs=int(meta["bad_epochs"]),
        epoch_loss_sum=float(loss_sum),
        epoch_correct=int(correct),
        epoch_seen=int(seen),
        epoch_steps=int(steps),
        epoch_seconds=float(seconds),
    )
    schedule = getattr(optimizer, "lr", None)
    if meta.get("schedule_state") is not None and hasattr(schedule, "load_state_dict"):
        schedule.load_state_dict(meta["schedule_state"])
    return state


class Checkpointer:
    """Training callback: a checkpoint every ``every_steps`` optimizer steps and at the end of each epoch.

    Keeps the newest ``keep`` files.  Temporary files left by a write that was
    killed are removed when the next run starts.  A state whose parameters
    hold NaN or inf is never written (the run is about to stop with a
    :class:`~glassnet.errors.NonFiniteError`), so the newest checkpoint is the
    last good one and older good ones are not rotated away; ``last_path`` names it.
    """

    def __init__(self, directory: Path | str, optimizer: Any, *, every_steps: int | None = None, keep: int = 3,
                 config: dict[str, Any] | None = None) -> None:
        if every_steps is not None and every_steps < 1:
            raise ConfigError(f"checkpoint interval must be >= 1 step, got {every_steps}")
        if keep < 1:
            raise ConfigError(f"keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.optimizer, self.every_steps, self.keep, self.config = optimizer, every_steps, keep, config
        self._model: Sequential | None = None
        #: the newest checkpoint this callback wrote (None before the first)
        self.last_path: Path | None = None

    def on_train_begin(self, state: TrainState, info: dict[str, Any]) -> None:
        self._model = info["model"]
        self.directory.mkdir(parents=True, exist_ok=True)
        for leftover in self.directory.glob(".ckpt-*.tmp*"):
            leftover.unlink(missing_ok=True)

    def _save(self, state: TrainState) -> None:
        assert self._model is not None
        if not all(np.isfinite(p).all() for p in self._model.params().values()):
            return  # keep the last good checkpoint as the newest one
        self.last_path = save_checkpoint(self.directory, self._model, self.optimizer, state, self.config, keep=self.keep)

    def on_batch_end(self, step: StepInfo) -> None:
        if self.every_steps and step.step % self.every_steps == 0 and step.state.position < step.state.order.size:  # type: ignore[union-attr]
            self._save(step.state)

    def on_epoch_end(self, record: EpochRecord, state: TrainState) -> None:
        self._save(state)
