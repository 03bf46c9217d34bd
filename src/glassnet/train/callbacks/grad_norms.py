"""A training callback that records per-tensor gradient norms over a run, for reports and the doctor.

Every ``every`` optimizer steps it takes ``||dJ/dp||_2`` of each parameter
tensor (the gradient the optimizer received: the loss's gradient plus the L2
term, after clipping), and at each epoch end writes their mean into the
:class:`~glassnet.train.EpochRecord` as ``record.grad_norms``, so the norms
travel with the history into model files and checkpoints::

    history = fit(model, X, y, optimizer=SGD(lr=0.1), callbacks=[GradientNorms(every=10)])
    history.records[-1].grad_norms   # {"0.W": 0.41, "0.b": 0.05, "2.W": 0.37, "2.b": 0.04}

Place it before any callback that saves the history (a checkpointer), so the
saved record already holds the norms.  The sampled steps are those whose
global step number is a multiple of ``every``; the running sums are part of
the run's ``TrainState``, so after a resume in the middle of an epoch that
epoch's mean is the same as without the interruption.
Cost: one dot product per tensor per sampled step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from glassnet.train.loop import EpochRecord, StepInfo, TrainState

__all__ = ["GradientNorms"]


class GradientNorms:
    """Mean gradient norm per parameter tensor per epoch, into ``EpochRecord.grad_norms``.

    The running sums of the current epoch live in the run's state,
    ``state.callback_state["grad_norms"]`` (tensor name -> sum of norms, and
    ``"#steps"`` -> the number of sampled steps), not in this object: a
    checkpoint taken mid-epoch holds them, and a resumed run reports the
    same means as one never interrupted.
    """

    KEY = "grad_norms"
    _STEPS = "#steps"  # not a tensor name: names never start with "#"

    def __init__(self, every: int = 10) -> None:
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.every = every

    def on_batch_end(self, step: StepInfo) -> None:
        # the first step of a run is always sampled, so even a one-step epoch has a value
        if step.step % self.every and step.step != 1:
            return
        sums = step.state.callback_state.setdefault(self.KEY, {})
        for name, grad in step.grads.items():
            flat = grad.reshape(-1)
            sums[name] = sums.get(name, 0.0) + math.sqrt(float(np.dot(flat, flat)))
        sums[self._STEPS] = sums.get(self._STEPS, 0) + 1

    def on_epoch_end(self, record: EpochRecord, state: TrainState) -> None:
        sums = state.callback_state.pop(self.KEY, {})
        count = sums.pop(self._STEPS, 0)
        if count:
            record.grad_norms = {name: total / count for name, total in sums.items()}
