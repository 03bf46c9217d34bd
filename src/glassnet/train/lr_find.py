"""The learning-rate range test: one pass with an exponentially increasing rate, loss against rate.

Leslie Smith's test, as fastai's ``lr_find`` and pytorch-lightning's tuner run it: over ``steps`` training
steps the rate grows from ``lr_min`` to ``lr_max``::

    lr_i = lr_min * (lr_max / lr_min) ** (i / (steps - 1))

and the loss of each step is recorded, smoothed by an exponential moving average with bias correction
(``beta = 1 - 1 / span`` with ``span = max(3, steps / 20)``: fastai's 0.98 for 1,000 steps).  The test stops early once the smoothed loss exceeds 4 times its best (divergence).
The suggested rate is where the smoothed loss falls fastest against ``log lr`` (the steepest descent), a
rate still well below the divergence; ``min_loss_lr / 10`` is given as well.  The model is copied: the
caller's weights are not touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glassnet.core.registry import lookup
from glassnet.errors import ConfigError, NonFiniteError
from glassnet.nn.model import Sequential

__all__ = ["LRFind", "lr_find"]


@dataclass
class LRFind:
    """The rates tried, the loss of each step, the smoothed loss and the suggestions."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    suggestion: float = math.nan  # the steepest descent of the smoothed loss
    min_loss_lr: float = math.nan  # a tenth of the rate of the lowest smoothed loss (fastai's min_lr / 10)
    diverged_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"lrs": self.lrs, "losses": self.losses, "smoothed": self.smoothed, "suggestion": self.suggestion,
                "min_loss_lr": self.min_loss_lr, "diverged_at": self.diverged_at}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LRFind":
        try:
            return cls(**{k: d[k] for k in ("lrs", "losses", "smoothed", "suggestion", "min_loss_lr", "diverged_at")})
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"not an lr-find result: {exc}") from None


class _Record:
    def __init__(self, result: LRFind, schedule, beta: float) -> None:
        self.result, self.schedule, self.beta = result, schedule, beta
        self.average, self.best = 0.0, math.inf

    def on_batch_end(self, step) -> None:
        r = self.result
        loss = float(step.loss)
        r.lrs.append(float(self.schedule(step.step - 1)))
        r.losses.append(loss)
        if not math.isfinite(loss):
            r.diverged_at = r.lrs[-1]
            step.state.stop = True
            return
        self.average = self.beta * self.average + (1 - self.beta) * loss
        smoothed = self.average / (1 - self.beta ** len(r.losses))
        r.smoothed.append(smoothed)
        self.best = min(self.best, smoothed)
        if len(r.smoothed) > 10 and smoothed > 4 * self.best:
            r.diverged_at = r.lrs[-1]
            step.state.stop = True


def lr_find(model: Sequential, X: np.ndarray, y: np.ndarray, *, loss: Any = "softmax_cross_entropy",
            optimizer: str = "sgd", momentum: float = 0.9, batch_size: int = 32, lr_min: float = 1e-6,
            lr_max: float = 10.0, steps: int | None = None, rng: np.random.Generator | int | None = None) -> LRFind:
    """Run the range test on a copy of ``model`` over ``X : (n, d)``, ``y : (n,)``; one pass by default.

    ``steps`` defaults to one epoch's worth of batches, and at least 100 (a small dataset is passed
    over more than once).
    """
    from glassnet.optim.optimizers import OPTIMIZERS, get_optimizer
    from glassnet.train.loop import fit

    if not (0 < lr_min < lr_max and math.isfinite(lr_max)):
        raise ConfigError(f"lr-find needs 0 < lr_min < lr_max, got {lr_min} and {lr_max}")
    n = X.shape[0]
    steps = steps or max(100, -(-n // batch_size))
    ratio = lr_max / lr_min

    def schedule(step: int) -> float:
        return lr_min * ratio ** (min(step, steps - 1) / (steps - 1))

    kwargs: dict[str, Any] = {"lr": schedule}
    if lookup(OPTIMIZERS, "optimizer", optimizer).takes_run_momentum:
        kwargs["momentum"] = momentum
    result = LRFind()
    record = _Record(result, schedule, beta=1 - 1 / max(3.0, steps / 20))
    epochs = -(-steps * batch_size // n)
    net = model.copy()
    with np.errstate(all="ignore"):
        try:
            fit(net, X, y, optimizer=get_optimizer(optimizer, **kwargs), loss=loss, epochs=epochs,
                batch_size=batch_size, rng=rng, callbacks=[_StopAfter(steps), record])
        except NonFiniteError:  # divergence: the curve up to it is the result
            if not result.losses:
                raise
            result.diverged_at = result.diverged_at or result.lrs[-1]
    _suggest(result)
    return result


class _StopAfter:
    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_batch_end(self, step) -> None:
        if step.step >= self.steps:
            step.state.stop = True


def _suggest(result: LRFind) -> None:
    s = np.asarray(result.smoothed)
    if s.size < 5:
        return
    lrs = np.log10(np.asarray(result.lrs[: s.size]))
    best = int(np.argmin(s))
    result.min_loss_lr = float(10 ** lrs[best]) / 10
    skip = max(2, s.size // 10)  # the first steps' average is still settling
    if best <= skip + 1:  # no descent to measure before the lowest loss
        result.suggestion = result.min_loss_lr
        return
    slope = np.gradient(s[skip : best + 1], lrs[skip : best + 1])
    result.suggestion = float(10 ** lrs[skip + int(np.argmin(slope))])
