"""A training callback that appends each epoch's record to a JSON Lines file (no dependency).

::

    fit(model, X, y, optimizer=SGD(lr=0.1), callbacks=[GradientNorms(), JsonlLogger("run.jsonl")])
    # glassnet train --log-jsonl run.jsonl

One JSON object a line, one line an epoch, written and flushed as the epoch
ends, so ``tail -f run.jsonl`` follows a run and a crash loses nothing
already written.  Each object is :meth:`glassnet.train.loop.EpochRecord.to_dict`::

    {"epoch": 3, "train_loss": 0.21, "train_accuracy": 0.94, "val_loss": 0.25, "val_accuracy": 0.93,
     "lr": 0.05, "seconds": 0.4, "samples_per_second": 3600.0, "steps": 45,
     "grad_norms": {"0.W": 0.41, "0.b": 0.05, "2.W": 0.37, "2.b": 0.04}}

``val_*`` and ``lr`` are ``null`` when there is no validation data or no
single learning rate; ``grad_norms`` is ``{}`` unless a
:class:`~glassnet.train.callbacks.grad_norms.GradientNorms` callback comes
before this one.  A new run replaces the file; a resumed run (its state has
epochs done) appends to it.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

from glassnet.train.loop import EpochRecord, History, TrainState

__all__ = ["JsonlLogger"]


class JsonlLogger:
    """Write every epoch's record as one JSON line to ``path``."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._file: IO[str] | None = None

    def on_train_begin(self, state: TrainState, info: dict[str, Any]) -> None:
        self._file = open(self.path, "a" if state.epoch else "w", encoding="utf-8")

    def on_epoch_end(self, record: EpochRecord, state: TrainState) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record.to_dict(), allow_nan=False) + "\n")
            self._file.flush()

    def on_train_end(self, history: History) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
