"""Learning-rate schedules: small objects mapping the optimizer step to a learning rate.

::

    sched = cosine_with_warmup(0.1, total_steps=10_000, warmup_steps=500)
    opt = SGD(lr=sched, momentum=0.9)          # the optimizer calls sched(state.step)
    sched(0), sched(499), sched(500), sched(10_000)   # 0.0002, 0.1, 0.1, 0.0

**Steps, not epochs.**  Every schedule here is a function of the *optimizer
step* ``t = 0, 1, 2, ...`` (``t = 0`` is the first update), the counter kept
in the optimizer state.  Arguments that count time (``step_size``,
``decay_steps``, ``total_steps``, ``warmup_steps``) are therefore in steps;
each class lists them in ``step_args``.  To state them in epochs, build the
schedule with :func:`schedule_in_epochs`, which multiplies exactly those
arguments by ``steps_per_epoch``::

    schedule_in_epochs("step_decay", steps_per_epoch=469, lr=0.1, step_size=10, gamma=0.5)
    # == StepDecay(0.1, step_size=4690, gamma=0.5): halve every 10 epochs

:class:`ReduceLROnPlateau` is the exception: it is driven by a metric the
trainer reports once per epoch (:meth:`ReduceLROnPlateau.report`), and its
value does not depend on the step at all.

Every schedule has ``config()`` (its JSON-serialisable constructor
arguments) and a registry name, so ``schedule_from_config(schedule_to_config(s))``
rebuilds it; ``ReduceLROnPlateau``'s running state is an explicit
:class:`PlateauState` (owned by the run's ``TrainState`` in ``fit``).  To add a schedule, write a
class here with ``__call__(step) -> float`` and ``config()`` and decorate it
with ``@register``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple


from glassnet.core.registry import adder, build
from glassnet.errors import ConfigError, FileFormatError
from glassnet.core.validate import check_int, check_number

__all__ = [
    "Schedule",
    "SCHEDULES",
    "register",
    "get_schedule",
    "schedule_in_epochs",
    "schedule_to_config",
    "schedule_from_config",
    "Constant",
    "StepDecay",
    "ExponentialDecay",
    "CosineWithWarmup",
    "ReduceLROnPlateau",
    "PlateauState",
    "plateau_state_from_dict",
    "constant",
    "step_decay",
    "exponential_decay",
    "cosine_with_warmup",
]

#: registry name -> schedule class; filled by ``@register``.
SCHEDULES: dict[str, type[Schedule]] = {}


register = adder(SCHEDULES, "schedule")


# ---------------------------------------------------------------------------- base class


class Schedule:
    """Base class: ``schedule(step) -> lr`` for ``step = 0, 1, ...`` (the optimizer's update count)."""

    name: ClassVar[str] = ""
    #: constructor arguments measured in optimizer steps (scaled by :func:`schedule_in_epochs`).
    step_args: ClassVar[tuple[str, ...]] = ()

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments: ``type(s)(**s.config())`` rebuilds ``s``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


@register
class Constant(Schedule):
    """``lr_t = lr`` for every step."""

    name = "constant"

    def __init__(self, lr: float) -> None:
        self.lr = check_number("lr", lr, low=0.0, low_open=True)

    def __call__(self, step: int) -> float:
        return self.lr

    def config(self) -> dict[str, Any]:
        return {"lr": self.lr}


@register
class StepDecay(Schedule):
    """``lr_t = lr * gamma ** floor(t / step_size)``: multiply by ``gamma`` every ``step_size`` steps.

    PyTorch's ``StepLR`` counted in optimizer steps.  ``step_size=3, gamma=0.5``
    gives ``lr, lr, lr, lr/2, lr/2, lr/2, lr/4, ...`` for ``t = 0, 1, 2, ...``.
    """

    name = "step_decay"
    step_args = ("step_size",)

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.lr = check_number("lr", lr, low=0.0, low_open=True)
        self.step_size = check_int("step_size", step_size, low=1)
        self.gamma = check_number("gamma", gamma, low=0.0, high=1.0, low_open=True)

    def __call__(self, step: int) -> float:
        return self.lr * self.gamma ** (step // self.step_size)

    def config(self) -> dict[str, Any]:
        return {"lr": self.lr, "step_size": self.step_size, "gamma": self.gamma}


@register
class ExponentialDecay(Schedule):
    """``lr_t = lr * gamma ** (t / decay_steps)``: a smooth decay by ``gamma`` per ``decay_steps`` steps.

    With the default ``decay_steps=1`` this is PyTorch's ``ExponentialLR``
    applied every step (so ``gamma`` should be close to 1, e.g. 0.9999);
    ``decay_steps=steps_per_epoch`` makes ``gamma`` a per-epoch factor that is
    still applied smoothly within each epoch.
    """

    name = "exponential_decay"
    step_args = ("decay_steps",)

    def __init__(self, lr: float, gamma: float, decay_steps: int = 1) -> None:
        self.lr = check_number("lr", lr, low=0.0, low_open=True)
        self.gamma = check_number("gamma", gamma, low=0.0, high=1.0, low_open=True)
        self.decay_steps = check_int("decay_steps", decay_steps, low=1)

    def __call__(self, step: int) -> float:
        return self.lr * self.gamma ** (step / self.decay_steps)

    def config(self) -> dict[str, Any]:
        return {"lr": self.lr, "gamma": self.gamma, "decay_steps": self.decay_steps}


@register
class CosineWithWarmup(Schedule):
    """Linear warm-up to ``lr``, then a half cosine from ``lr`` down to ``min_lr``.

    With ``W = warmup_steps`` and ``T = total_steps``::

        t <  W:       lr_t = lr * (t + 1) / W
        W <= t < T:   lr_t = min_lr + (lr - min_lr) * (1 + cos(pi * (t - W) / (T - W))) / 2
        t >= T:       lr_t = min_lr

    The warm-up uses ``t + 1`` so that the very first update already moves
    (``lr / W``, not 0) and the last warm-up step reaches ``lr``; the cosine
    then starts at ``lr`` (``t = W``) and would reach ``min_lr`` at ``t = T``,
    the step after the last one of a run of ``T`` updates.
    """

    name = "cosine_with_warmup"
    step_args = ("total_steps", "warmup_steps")

    def __init__(self, lr: float, total_steps: int, warmup_steps: int = 0, min_lr: float = 0.0) -> None:
        self.lr = check_number("lr", lr, low=0.0, low_open=True)
        self.total_steps = check_int("total_steps", total_steps, low=1)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, low=0)
        if self.warmup_steps >= self.total_steps:
            raise ConfigError(
                f"warmup_steps must be smaller than total_steps, got warmup_steps={self.warmup_steps} "
                f"and total_steps={self.total_steps}"
            )
        self.min_lr = check_number("min_lr", min_lr, low=0.0, high=self.lr)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if step >= self.total_steps:
            return self.min_lr
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def config(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "min_lr": self.min_lr,
        }


class PlateauState(NamedTuple):
    """The running state of :class:`ReduceLROnPlateau`: part of a run's ``TrainState`` and of its checkpoints."""

    lr: float  #: the current learning rate
    best: float | None  #: the best metric so far (None before the first non-NaN report)
    num_bad_epochs: int  #: reports in a row without an improvement


@register
class ReduceLROnPlateau(Schedule):
    """Cut the learning rate by ``factor`` when a reported metric stops improving.

    The trainer reports the validation loss (``mode="min"``) or accuracy
    (``mode="max"``) once per epoch; ``self(step)`` returns the current rate
    whatever the step.

    * A metric *improves* on the best so far when, for ``mode="min"``,
      ``metric < best - threshold * |best|`` (``mode="max"``:
      ``metric > best + threshold * |best|``).  For a positive ``best`` this is
      PyTorch's relative threshold ``best * (1 - threshold)``; the ``|best|``
      keeps it meaningful for negative metrics too.  NaN never improves.
    * After an improvement the count of bad epochs goes back to 0; otherwise
      it grows by one, and when it *exceeds* ``patience`` (PyTorch's rule:
      ``patience=2`` cuts on the 3rd bad epoch in a row) the rate becomes
      ``max(lr * factor, min_lr)`` and the count restarts at 0.

    **Where the running state lives.**  The state (current rate, best metric,
    bad-epoch count) is a :class:`PlateauState`, and :meth:`update` is a pure
    function ``(state, metric) -> (state, reduced)``.  In ``fit`` the run's
    :class:`~glassnet.train.loop.TrainState` owns it (``state.plateau``, saved
    in checkpoints with the rest of the run) and the trainer :meth:`bind`-s it
    here after each update, so that the optimizer's ``lr(step)`` sees it.
    Used on its own, :meth:`report` updates the bound state in place.
    """

    name = "reduce_on_plateau"

    def __init__(
        self,
        lr: float,
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        min_lr: float = 0.0,
        mode: str = "min",
    ) -> None:
        self.initial_lr = check_number("lr", lr, low=0.0, low_open=True)
        self.factor = check_number("factor", factor, low=0.0, high=1.0, low_open=True, high_open=True)
        self.patience = check_int("patience", patience, low=0)
        self.threshold = check_number("threshold", threshold, low=0.0)
        self.min_lr = check_number("min_lr", min_lr, low=0.0, high=self.initial_lr)
        if mode not in ("min", "max"):
            raise ConfigError(f"mode must be 'min' or 'max', got {mode!r}")
        self.mode = mode
        #: the state ``self(step)`` reads; set by :meth:`bind` (the trainer) or :meth:`report`
        self.current = self.init_state()

    def init_state(self) -> PlateauState:
        """The state before the first report: the initial rate, no best metric, no bad epochs."""
        return PlateauState(self.initial_lr, None, 0)

    def bind(self, state: PlateauState) -> None:
        """Make ``state`` the one ``self(step)`` reads (the trainer calls this with its TrainState's)."""
        self.current = state

    def __call__(self, step: int) -> float:
        return self.current.lr

    @property
    def lr(self) -> float:
        return self.current.lr

    @property
    def best(self) -> float | None:
        return self.current.best

    @property
    def num_bad_epochs(self) -> int:
        return self.current.num_bad_epochs

    def improves(self, metric: float, best: float | None = None) -> bool:
        """Whether ``metric`` beats ``best`` (default: the bound state's) by more than the threshold."""
        best = self.current.best if best is None else best
        if math.isnan(metric):
            return False
        if best is None:
            return True
        margin = self.threshold * abs(best)
        if self.mode == "min":
            return metric < best - margin
        return metric > best + margin

    def update(self, state: PlateauState, metric: float) -> tuple[PlateauState, bool]:
        """One epoch's report, as a pure function: ``(new state, whether the rate was cut)``."""
        metric = float(metric)
        if self.improves(metric, state.best):
            return PlateauState(state.lr, metric, 0), False
        bad = state.num_bad_epochs + 1
        if bad <= self.patience:
            return PlateauState(state.lr, state.best, bad), False
        new_lr = max(state.lr * self.factor, self.min_lr)
        return PlateauState(new_lr, state.best, 0), new_lr < state.lr

    def report(self, metric: float) -> bool:
        """Record one epoch's metric in the bound state; return True when this call lowered the rate."""
        self.current, reduced = self.update(self.current, metric)
        return reduced

    def config(self) -> dict[str, Any]:
        return {
            "lr": self.initial_lr,
            "factor": self.factor,
            "patience": self.patience,
            "threshold": self.threshold,
            "min_lr": self.min_lr,
            "mode": self.mode,
        }

    def state_dict(self) -> dict[str, Any]:
        """The bound state as JSON-safe values (``best`` is ``None`` before the first finite report)."""
        return self.current._asdict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Bind what :meth:`state_dict` returned; :class:`FileFormatError` if it is malformed."""
        self.current = plateau_state_from_dict(state)


def plateau_state_from_dict(state: Any) -> PlateauState:
    """A :class:`PlateauState` from ``{"lr", "best", "num_bad_epochs"}``; :class:`FileFormatError` if malformed."""
    if not isinstance(state, dict) or set(state) != set(PlateauState._fields):
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise FileFormatError(f"ReduceLROnPlateau state must have keys ['best', 'lr', 'num_bad_epochs'], got {got}")
    try:
        lr = check_number("lr", state["lr"], low=0.0)
        best = None if state["best"] is None else check_number("best", state["best"])
        num_bad = check_int("num_bad_epochs", state["num_bad_epochs"], low=0)
    except ConfigError as exc:
        raise FileFormatError(f"bad ReduceLROnPlateau state: {exc}") from None
    return PlateauState(lr, best, num_bad)


# Lower-case names read like the functions they stand for: ``cosine_with_warmup(0.1, 1000)``.
constant = Constant
step_decay = StepDecay
exponential_decay = ExponentialDecay
cosine_with_warmup = CosineWithWarmup


# ---------------------------------------------------------------------------- lookup and (de)serialisation


def get_schedule(spec: str | Schedule, **kwargs: Any) -> Schedule:
    """A schedule from its registry name and constructor arguments (a Schedule passes through)."""
    return build(SCHEDULES, "schedule", spec, Schedule, kwargs)


def schedule_in_epochs(name: str, steps_per_epoch: int, **kwargs: Any) -> Schedule:
    """Build schedule ``name`` with its time arguments (``step_args``) given in epochs.

    Each of those arguments is multiplied by ``steps_per_epoch`` and rounded
    to the nearest step (so ``warmup_steps=0.5`` means half an epoch); every
    other argument is passed unchanged.
    """
    steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, low=1)
    if name not in SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r}; known schedules: {', '.join(sorted(SCHEDULES))}")
    for arg in SCHEDULES[name].step_args:
        if arg in kwargs:
            epochs = check_number(arg, kwargs[arg], low=0.0)
            kwargs[arg] = int(round(epochs * steps_per_epoch))
    return get_schedule(name, **kwargs)


def schedule_to_config(schedule: Any) -> dict[str, Any]:
    """``{"name": <registry name>, **schedule.config()}``; a plain callable becomes ``{"name": "custom", ...}``.

    A custom callable cannot be rebuilt from its config (:func:`schedule_from_config`
    says so); the entry only records what was used.
    """
    if isinstance(schedule, Schedule):
        return {"name": schedule.name, **schedule.config()}
    return {"name": "custom", "repr": repr(schedule)}


def schedule_from_config(config: dict[str, Any]) -> Schedule:
    """Inverse of :func:`schedule_to_config` (running state, if any, is restored separately)."""
    config = dict(config)
    name = config.pop("name", None)
    if name == "custom":
        raise ConfigError(
            f"a custom learning-rate schedule ({config.get('repr', '?')}) cannot be rebuilt from a config; "
            "pass the callable again"
        )
    if name is None:
        raise ConfigError(f"a schedule config needs a 'name' entry, got keys {sorted(config)}")
    return get_schedule(name, **config)
