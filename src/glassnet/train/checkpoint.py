"""Checkpoints: everything a run needs to continue exactly where it stopped, written atomically.

A checkpoint is one ``ckpt-<step>.npz`` file in the run's directory (the
safe format of :mod:`glassnet.io.serialize`: no pickle, a format version and
SHA-256 digests of the arrays and of the metadata) holding

* arrays: the model's arrays (``param/<name>``, see
  :func:`glassnet.io.serialize.model_arrays`: the parameters and any
  non-parameter state such as running statistics), with early stopping the
  best ones so far (``best/<name>``), the optimizer state (``opt/<field>/<name>``
  and ``opt/step``, see :func:`glassnet.optim.optimizers.state_to_arrays`),
  this epoch's sample order (``train/order``) and the validation indices
  (``train/val_index``);
* metadata (JSON), described field by field by :data:`CHECKPOINT_SCHEMA`:
  the run position (epochs done, optimizer steps, samples of the current
  epoch used, the epoch's running sums), the state of the run's one
  ``np.random.Generator``, the history, the early-stopping memory, the
  plateau schedule's :class:`~glassnet.optim.schedules.PlateauState`, the
  callbacks' running state (gradient-norm sums), the optimizer's name and
  state type, the architecture, and what the caller passes as ``config`` and
  ``options`` (the command line stores the run's configuration and every
  output option there).

Loading checks the whole file before using any of it: the metadata against
:data:`CHECKPOINT_SCHEMA` (keys, types, ranges; the caller may describe
``config`` and ``options`` too), and the arrays' names, dtypes, shapes and
finiteness.  A checkpoint that does not fit, even with valid digests, is a
:class:`~glassnet.errors.FileFormatError` naming the file and the first
place that is wrong, never a ``KeyError`` or a half-restored run.

Resuming restores all of it, so a run killed at any moment (during a
checkpoint write included: the write goes to a temporary file that is
fsync'ed and renamed, so the previous checkpoint is never damaged) and
resumed ends with the same weights and the same history (wall-clock times
aside), bit for bit, as a run never interrupted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import ConfigError, FileFormatError, GlassnetError
from glassnet.io.schema import AnyJSON, Bool, Float, Int, List, Map, Nullable, Obj, Spec, Str, check, schema_of
from glassnet.nn.model import Sequential
from glassnet.optim.schedules import PlateauState
from glassnet.train.loop import EpochRecord, History, StepInfo, TrainState

__all__ = [
    "Checkpointer", "save_checkpoint", "load_checkpoint", "latest_checkpoint", "restore_state",
    "CHECKPOINT_KIND", "CHECKPOINT_VERSION", "CHECKPOINT_SCHEMA",
]

CHECKPOINT_KIND = "glassnet-checkpoint"
#: version of the checkpoint's metadata layout (:data:`CHECKPOINT_SCHEMA`); others are refused by name.
CHECKPOINT_VERSION = 2  # 2: the schema, typed epoch sums, plateau and callback state, optimizer type, options
_NAME = re.compile(r"^ckpt-(\d{9})\.npz$")

#: ``np.random.default_rng``'s generator state (PCG64) as ``bit_generator.state`` gives it
RNG_SCHEMA = Obj({
    "bit_generator": Str(choices=["PCG64"]),
    "state": Obj({"state": Int(0, 2**128 - 1), "inc": Int(0, 2**128 - 1)}),
    "has_uint32": Int(0, 1),
    "uinteger": Int(0, 2**32 - 1),
})
#: an epoch record as History.to_dict writes it (NaN and inf are stored as null)
RECORD_SCHEMA = schema_of(EpochRecord, float_spec=Nullable(Float()))
HISTORY_SCHEMA = schema_of(History, overrides={"records": List(RECORD_SCHEMA)})
EPOCH_SUMS_SCHEMA = Obj({"loss_sum": Float(), "correct": Int(0), "seen": Int(0), "steps": Int(0), "seconds": Float(0)})
#: the whole metadata of a checkpoint; ``config`` and ``options`` are the caller's (see :func:`load_checkpoint`)
CHECKPOINT_SCHEMA = Obj({
    "checkpoint_version": Int(),
    "epoch": Int(0),
    "step": Int(0),
    "position": Int(0),
    "rng": Nullable(RNG_SCHEMA),
    "history": HISTORY_SCHEMA,
    "best_score": Nullable(Float()),
    "bad_epochs": Int(0),
    "epoch_sums": EPOCH_SUMS_SCHEMA,
    "plateau": Nullable(schema_of(PlateauState, overrides={"lr": Float(0), "num_bad_epochs": Int(0)})),
    "callback_state": Map(Map(Float())),
    "optimizer": Obj({"name": Str(), "state": Str()}),
    "architecture": List(Obj({"type": Str(), "config": Map(AnyJSON())})),
    "dtype": Str(choices=["float32", "float64"]),
    "config": Map(AnyJSON()),
    "options": Map(AnyJSON()),
})


def _checkpoints(directory: Path) -> list[Path]:
    """Checkpoint files in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(directory: Path | str, model: Sequential, optimizer: Any, state: TrainState,
                    config: dict[str, Any] | None = None, *, keep: int = 3,
                    options: dict[str, Any] | None = None) -> Path:
    """Write ``ckpt-<step>.npz`` atomically, then delete all but the newest ``keep`` checkpoints.

    ``config`` and ``options`` are the caller's JSON objects (the command line
    stores the run's configuration and its output options), returned by
    :func:`load_checkpoint` as ``meta["config"]`` and ``meta["options"]``.
    """
    from glassnet.io.serialize import model_arrays, save_arrays
    from glassnet.optim.optimizers import state_to_arrays

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {f"param/{k}": v for k, v in model_arrays(model).items()}
    arrays.update({f"opt/{k}": v for k, v in state_to_arrays(state.opt_state).items()})
    if state.order is not None:
        arrays["train/order"] = state.order
    if state.val_index is not None:
        arrays["train/val_index"] = state.val_index
    if state.best_params is not None:  # the best epoch's model arrays: parameters and state, as param/
        arrays.update({f"best/{k}": v for k, v in {**state.best_params, **(state.best_state or {})}.items()})
    meta = {
        "checkpoint_version": CHECKPOINT_VERSION,
        "epoch": state.epoch,
        "step": state.step,
        "position": state.position,
        "rng": state.rng.bit_generator.state if state.rng is not None else None,
        "history": state.history.to_dict(),
        "best_score": state.best_score if np.isfinite(state.best_score) else None,
        "bad_epochs": state.bad_epochs,
        "epoch_sums": {"loss_sum": state.epoch_loss_sum, "correct": state.epoch_correct, "seen": state.epoch_seen,
                       "steps": state.epoch_steps, "seconds": state.epoch_seconds},
        "plateau": state.plateau._asdict() if state.plateau is not None else None,
        "callback_state": state.callback_state,
        "optimizer": {"name": getattr(optimizer, "name", type(optimizer).__name__),
                      "state": type(state.opt_state).__name__},
        "architecture": [{"type": type(layer).__name__, "config": layer.config()} for layer in model.layers],
        "dtype": model.dtype.name,
        "config": config or {},
        "options": options or {},
    }
    path = directory / f"ckpt-{state.step:09d}.npz"
    save_arrays(path, arrays, meta, CHECKPOINT_KIND)
    for old in _checkpoints(directory)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path | str, *, config: Spec | None = None,
                    options: Spec | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and verify one checkpoint: digests, then the metadata and the arrays as a whole.

    ``config`` and ``options`` describe the caller's parts (default: any JSON
    object).  Raises :class:`FileFormatError` naming ``path`` and the first
    thing that is wrong.
    """
    from glassnet.io.serialize import load_arrays

    label = str(path)
    arrays, meta = load_arrays(Path(path), CHECKPOINT_KIND)
    version = meta.get("checkpoint_version")
    if version != CHECKPOINT_VERSION:
        raise FileFormatError(
            f"{label}: checkpoint layout version {version!r}; this glassnet resumes version {CHECKPOINT_VERSION} "
            "(written by another glassnet: finish that run with the glassnet that started it)"
        )
    schema = CHECKPOINT_SCHEMA
    if config is not None or options is not None:
        schema = Obj({**CHECKPOINT_SCHEMA.required, "config": config or Map(AnyJSON()),
                      "options": options or Map(AnyJSON())})
    check(meta, schema, f"{label}: checkpoint")
    _check_arrays(arrays, meta, label)
    return arrays, meta


def _check_arrays(arrays: dict[str, np.ndarray], meta: dict[str, Any], label: str) -> None:
    """Array names, kinds and finiteness; shapes against the model are checked by :func:`restore_state`."""
    from glassnet.io.serialize import nonfinite_summary

    for name, array in arrays.items():
        part = name.split("/", 1)[0]
        if part not in ("param", "best", "opt", "train"):
            raise FileFormatError(f"{label}: unexpected array {name!r} (a checkpoint holds param/, best/, opt/, train/)")
        if (part in ("param", "best") or (part == "opt" and name != "opt/step")) and array.dtype.name != meta["dtype"]:
            raise FileFormatError(f"{label}: array {name!r} is {array.dtype.name}, the model is {meta['dtype']}")
        if part == "train" and (name not in ("train/order", "train/val_index") or array.ndim != 1
                                or array.dtype.kind not in "iu" or (array.size and array.min() < 0)):
            raise FileFormatError(f"{label}: {name!r} must be one of train/order, train/val_index: a 1-D array of "
                                  f"non-negative integers, got {array.dtype.name} of shape {array.shape}")
        problem = nonfinite_summary(name, array)
        if problem is not None:
            raise FileFormatError(f"{label}: array {problem}; a checkpoint holds only finite values")
    order = arrays.get("train/order")
    if order is not None and not np.array_equal(np.sort(order), np.arange(order.size)):
        raise FileFormatError(f"{label}: 'train/order' is not a permutation of 0..{order.size - 1}")
    if order is not None and meta["position"] > order.size:
        raise FileFormatError(f"{label}: position {meta['position']} is past the {order.size} samples of the epoch")


def latest_checkpoint(directory: Path | str, *, config: Spec | None = None, options: Spec | None = None,
                      skipped: list[str] | None = None) -> tuple[Path, dict[str, np.ndarray], dict[str, Any]]:
    """The newest checkpoint in ``directory`` that verifies; damaged newer ones are skipped.

    The reason each skipped file was refused is appended to ``skipped`` when
    given.  Raises :class:`ConfigError` (with every reason) when the
    directory holds no usable checkpoint.
    """
    directory = Path(directory)
    errors = []
    for path in reversed(_checkpoints(directory)):
        try:
            arrays, meta = load_checkpoint(path, config=config, options=options)
            if skipped is not None:
                skipped.extend(errors)
            return path, arrays, meta
        except FileFormatError as exc:
            errors.append(str(exc))
    detail = f" ({'; '.join(errors)})" if errors else ""
    raise ConfigError(f"no usable checkpoint in {directory}{detail}")


def restore_state(model: Sequential, optimizer: Any, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TrainState:
    """Load a checkpoint's arrays into ``model`` and rebuild the :class:`TrainState` to resume from.

    ``arrays`` and ``meta`` are what :func:`load_checkpoint` returned (so
    their types are checked); here they are checked against ``model`` and
    ``optimizer``.  Raises :class:`FileFormatError` when they do not fit.
    """
    from glassnet.io.serialize import model_arrays, set_model_arrays
    from glassnet.optim.optimizers import state_from_arrays

    wanted = {name: (a.shape, a.dtype) for name, a in model_arrays(model).items()}
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    best = {k[len("best/"):]: v for k, v in arrays.items() if k.startswith("best/")}
    for part, found in (("param", params), ("best", best)):
        if part == "best" and not found:
            continue
        got = {name: (a.shape, a.dtype) for name, a in found.items()}
        if got != wanted:
            raise FileFormatError(
                f"the checkpoint's {part}/ arrays {_shapes(got)} do not fit this model, which has {_shapes(wanted)}"
            )
    name = getattr(optimizer, "name", type(optimizer).__name__)
    if meta["optimizer"]["name"] != name:
        raise FileFormatError(f"the checkpoint holds the state of optimizer {meta['optimizer']['name']!r}, "
                              f"this run uses {name!r}")
    set_model_arrays(model, params)
    opt_arrays = {k[len("opt/"):]: v for k, v in arrays.items() if k.startswith("opt/")}
    opt_state = state_from_arrays(optimizer, model.params(), opt_arrays)
    if type(opt_state).__name__ != meta["optimizer"]["state"]:
        raise FileFormatError(f"the checkpoint's optimizer state is a {meta['optimizer']['state']}, "
                              f"{name} keeps a {type(opt_state).__name__}")
    rng = None
    if meta["rng"] is not None:
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = meta["rng"]
        except (TypeError, ValueError) as exc:
            raise FileFormatError(f"the checkpoint's random generator state is unusable: {exc}") from None
    sums = meta["epoch_sums"]
    try:
        history = History.from_dict(meta["history"])
    except (GlassnetError, TypeError, ValueError) as exc:  # the schema has checked the fields; belt and braces
        raise FileFormatError(f"the checkpoint's history is unusable: {exc}") from None
    return TrainState(
        epoch=meta["epoch"],
        step=meta["step"],
        position=meta["position"],
        order=arrays.get("train/order"),
        opt_state=opt_state,
        rng=rng,
        val_index=arrays.get("train/val_index"),
        history=history,
        best_score=float(meta["best_score"]) if meta["best_score"] is not None else float("inf"),
        best_params={k: v for k, v in best.items() if k in model.params()} or None,
        best_state={k: v for k, v in best.items() if k in model.state()} or None,
        bad_epochs=meta["bad_epochs"],
        epoch_loss_sum=float(sums["loss_sum"]),
        epoch_correct=sums["correct"],
        epoch_seen=sums["seen"],
        epoch_steps=sums["steps"],
        epoch_seconds=float(sums["seconds"]),
        plateau=PlateauState(**meta["plateau"]) if meta["plateau"] is not None else None,
        callback_state={k: dict(v) for k, v in meta["callback_state"].items()},
    )


def _shapes(spec: dict[str, tuple[tuple[int, ...], np.dtype]]) -> str:
    text = ", ".join(f"{name} {shape} {dtype}" for name, (shape, dtype) in sorted(spec.items()))
    return "{" + (text if len(text) < 300 else text[:297] + "...") + "}"


class Checkpointer:
    """Training callback: a checkpoint every ``every_steps`` optimizer steps and at the end of each epoch.

    Keeps the newest ``keep`` files.  Temporary files left by a write that was
    killed are removed when the next run starts.  A state whose parameters
    hold NaN or inf is never written (the run is about to stop with a
    :class:`~glassnet.errors.NonFiniteError`), so the newest checkpoint is the
    last good one and older good ones are not rotated away; ``last_path`` names it.
    ``config`` and ``options`` are stored in every checkpoint (see :func:`save_checkpoint`).
    """

    def __init__(self, directory: Path | str, optimizer: Any, *, every_steps: int | None = None, keep: int = 3,
                 config: dict[str, Any] | None = None, options: dict[str, Any] | None = None) -> None:
        if every_steps is not None and every_steps < 1:
            raise ConfigError(f"checkpoint interval must be >= 1 step, got {every_steps}")
        if keep < 1:
            raise ConfigError(f"keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.optimizer, self.every_steps, self.keep = optimizer, every_steps, keep
        self.config, self.options = config, options
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
        arrays = (*self._model.params().values(), *self._model.state().values())
        if not all(np.isfinite(a).all() for a in arrays):
            return  # keep the last good checkpoint as the newest one
        self.last_path = save_checkpoint(self.directory, self._model, self.optimizer, state, self.config,
                                         keep=self.keep, options=self.options)

    def on_batch_end(self, step: StepInfo) -> None:
        if self.every_steps and step.step % self.every_steps == 0 and step.state.position < step.state.order.size:  # type: ignore[union-attr]
            self._save(step.state)

    def on_epoch_end(self, record: EpochRecord, state: TrainState) -> None:
        self._save(state)
