"""A training callback that writes TensorBoard event files (needs ``tensorboardX``: ``glassnet[tensorboard]``).

::

    fit(model, X, y, optimizer=SGD(lr=0.1), callbacks=[GradientNorms(), TensorBoardLogger("runs/a")])
    # glassnet train --tensorboard runs/a ; then: tensorboard --logdir runs

At each epoch end, with the epoch number (1, 2, ...) as the step:

==========================  ======================================================
tag                         value
==========================  ======================================================
``loss/train``              training loss (with the L2 term)
``loss/val``                validation loss, when there is validation data
``accuracy/train``          training accuracy
``accuracy/val``            validation accuracy, when there is validation data
``lr``                      the learning rate, when there is a single one
``grad_norm/<tensor>``      mean ``||dJ/dp||`` of each parameter tensor, when a
                            :class:`~glassnet.train.callbacks.grad_norms.GradientNorms`
                            callback comes before this one
``weights/<tensor>``        a histogram of each parameter tensor's values
==========================  ======================================================

Non-finite values are skipped, not written.  The writer is flushed each
epoch and closed when training ends.
"""

from __future__ import annotations

import math
import os
from typing import Any

from glassnet.errors import ConfigError
from glassnet.train.loop import EpochRecord, History, TrainState

__all__ = ["TensorBoardLogger"]


class TensorBoardLogger:
    """Per-epoch scalars and weight histograms into TensorBoard event files under ``logdir``."""

    def __init__(self, logdir: str | os.PathLike, *, histograms: bool = True) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ConfigError('--tensorboard needs tensorboardX: pip install "glassnet[tensorboard]"') from None
        self._writer_class = SummaryWriter
        self.logdir = os.fspath(logdir)
        self.histograms = histograms
        self._writer: Any = None
        self._model: Any = None

    def on_train_begin(self, state: TrainState, info: dict[str, Any]) -> None:
        self._writer = self._writer_class(logdir=self.logdir)
        self._model = info.get("model")

    def on_epoch_end(self, record: EpochRecord, state: TrainState) -> None:
        w, step = self._writer, record.epoch
        scalars = {"loss/train": record.train_loss, "loss/val": record.val_loss,
                   "accuracy/train": record.train_accuracy, "accuracy/val": record.val_accuracy, "lr": record.lr}
        scalars.update({f"grad_norm/{name}": value for name, value in record.grad_norms.items()})
        for tag, value in scalars.items():
            if value is not None and math.isfinite(value):
                w.add_scalar(tag, float(value), step)
        if self.histograms and self._model is not None:
            for name, param in self._model.params().items():
                w.add_histogram(f"weights/{name}", param, step)
        w.flush()

    def on_train_end(self, history: History) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
