"""Optimizers (``init(params) -> state``, ``update(grads, state) -> (updates, state)``) and
learning-rate schedules."""

from glassnet.optim.optimizers import (  # noqa: F401  (the public API of the old glassnet.optim module)
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Nesterov,
    Optimizer,
    RMSprop,
    apply_updates,
    clip_by_global_norm,
    get_optimizer,
    global_norm,
)
from glassnet.optim.schedules import SCHEDULES, get_schedule  # noqa: F401
